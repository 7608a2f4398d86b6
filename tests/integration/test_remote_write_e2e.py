# SPDX-License-Identifier: Apache-2.0
"""Remote write end to end: real snappy/protobuf bodies POSTed to a running sluiced's
/api/v1/write, read back through the Prometheus HTTP API, across a restart (WAL replay).
Covers staleness markers, backfill, refusals (bad labels, bad snappy, wrong content type,
a sample outside the out-of-order window) and that a refused request leaves nothing."""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402
import promwrite as pw  # noqa: E402

BIN = sys.argv[1]


checks = Checks()
check = checks.check


def api(d, path, params):
    url = f"http://127.0.0.1:{d.http_port}{path}?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def instant(d, q, t):
    st, body = api(d, "/api/v1/query", {"query": q, "time": f"{t:.3f}"})
    assert st == 200 and body["status"] == "success", (st, body)
    return body["data"]["result"]


def matrix(d, q, start, end, step):
    st, body = api(d, "/api/v1/query_range", {"query": q, "start": f"{start:.3f}",
                                              "end": f"{end:.3f}", "step": step})
    assert st == 200 and body["status"] == "success", (st, body)
    return {json.dumps(r["metric"], sort_keys=True): r["values"] for r in body["data"]["result"]}


NOW = int(time.time()) // 60 * 60 * 1000  # ms, minute aligned


def test_samples_round_trip_with_staleness_marker():
    with Sluiced(BIN) as d:
        t0 = NOW - 600_000
        body = pw.encode_request([
            ([("__name__", "rw_requests_total"), ("job", "api"), ("status", "200")],
             [(float(i * 10), t0 + i * 15_000) for i in range(8)]),
            ([("__name__", "rw_temp"), ("room", "b\u00fcro")],
             [(21.5, t0), (22.25, t0 + 15_000), (pw.STALE_NAN, t0 + 30_000)]),
        ])
        st, text = pw.post(d.http_port, body)
        assert st == 204, (st, text)
        m = matrix(d, "rw_requests_total", t0 / 1000, (t0 + 105_000) / 1000, 15)
        assert m == {json.dumps({"__name__": "rw_requests_total", "job": "api", "status": "200"},
                                sort_keys=True):
                     [[t0 / 1000 + i * 15, str(i * 10)] for i in range(8)]}, m
        r = instant(d, "rw_temp", (t0 + 15_000) / 1000)
        assert r[0]["metric"] == {"__name__": "rw_temp", "room": "b\u00fcro"} \
            and r[0]["value"][1] == "22.25", r
        # the staleness marker ends the series at once, not 5 minutes later
        assert instant(d, "rw_temp", (t0 + 31_000) / 1000) == []
        assert instant(d, "rw_temp", (t0 + 29_000) / 1000) != []


def test_backfill_and_restart_keep_everything():
    with Sluiced(BIN) as d:
        st, text = pw.post(d.http_port, pw.encode_request(
            [([("__name__", "rw_now")], [(1.0, NOW)])]))
        assert st == 204, text
        old = NOW - 2 * 86_400_000  # two days back: inside the default 1y window
        st, text = pw.post(d.http_port, pw.encode_request(
            [([("__name__", "rw_old"), ("k", "v")], [(5.0, old), (6.0, old + 60_000)])]))
        assert st == 204, text
        assert instant(d, "rw_old", (old + 60_000) / 1000)[0]["value"][1] == "6"
        assert d.stop() == 0
        d.start()
        assert instant(d, "rw_old", (old + 60_000) / 1000)[0]["value"][1] == "6"
        assert instant(d, "rw_now", NOW / 1000)[0]["value"][1] == "1"


def test_sample_outside_window_refuses_whole_request():
    with Sluiced(BIN, "--out-of-order-window", "1h") as d:
        st, text = pw.post(d.http_port, pw.encode_request(
            [([("__name__", "rw_anchor")], [(1.0, NOW)])]))
        assert st == 204, text
        too_old = NOW - 2 * 3_600_000
        st, text = pw.post(d.http_port, pw.encode_request([
            ([("__name__", "rw_fresh")], [(1.0, NOW - 1000)]),
            ([("__name__", "rw_late"), ("job", "x")], [(2.0, too_old)]),
        ]))
        assert st == 400, (st, text)
        assert f'rw_late{{job="x"}} at timestamp {too_old}' in text, text
        assert instant(d, "rw_fresh", NOW / 1000) == []


def test_malformed_requests_are_refused_and_leave_nothing():
    with Sluiced(BIN) as d:
        good = ([("__name__", "rw_partial")], [(1.0, NOW)])
        cases = [
            ([good, ([("job", "x"), ("__name__", "rw_b")], [(1.0, NOW)])], 400,
             'label 1 "__name__": labels not sorted'),
            ([good, ([("__name__", "rw_b"), ("job", "")], [(1.0, NOW)])], 400,
             'label 1 "job": empty label value'),
            ([good, ([("__name__", "rw_b"), ("bad-label", "v")], [(1.0, NOW)])], 400,
             'invalid label name'),
            ([good, ([("__name__", "rw_b"), ("a", "1"), ("a", "2")], [(1.0, NOW)])], 400,
             'duplicate label name'),
            ([good, ([("env", "x")], [(1.0, NOW)])], 400, "missing __name__"),
        ]
        for series, want_st, want_text in cases:
            st, text = pw.post(d.http_port, pw.encode_request(series))
            assert st == want_st and want_text in text and "series 1 {" in text, (st, text)
        st, text = pw.post(d.http_port, b"\xff\x00garbage", compress=False)
        assert st == 400 and "snappy" in text, (st, text)
        st, text = pw.post(d.http_port, pw.snappy_compress(b"\x0a\x64\x01"), compress=False)
        assert st == 400 and "protobuf" in text, (st, text)
        body = pw.encode_request([good])
        st, text = pw.post(d.http_port, body, headers={"Content-Type": "application/json",
                                                        "Content-Encoding": "snappy"})
        assert st == 415, (st, text)
        st, text = pw.post(d.http_port, body, headers={"Content-Type": "application/x-protobuf",
                                                        "Content-Encoding": "gzip"})
        assert st == 415, (st, text)
        assert instant(d, "rw_partial", NOW / 1000) == []
        m = d.metrics()
        assert m["sluice_remote_write_refused_total"] == len(cases) + 4, m
        assert m["sluice_remote_write_samples_total"] == 0, m
        st, text = pw.post(d.http_port, body)
        assert st == 204, text
        assert instant(d, "rw_partial", NOW / 1000)[0]["value"][1] == "1"
        m = d.metrics()
        assert m["sluice_remote_write_samples_total"] == 1, m
        assert m["sluice_remote_write_requests_total"] == len(cases) + 5, m


def test_large_request_many_series():
    with Sluiced(BIN) as d:
        series = [([("__name__", "rw_many"), ("i", str(i))],
                   [(float(i + k), NOW - 60_000 + k * 10_000) for k in range(6)])
                  for i in range(2000)]
        st, text = pw.post(d.http_port, pw.encode_request(series))
        assert st == 204, text
        r = instant(d, "count(rw_many)", NOW / 1000)
        assert r[0]["value"][1] == "2000", r
        r = instant(d, "sum(rw_many)", NOW / 1000)
        assert r[0]["value"][1] == str(sum(i + 5 for i in range(2000))), r


sys.exit(checks.run_module(globals()))
