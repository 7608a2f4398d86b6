# SPDX-License-Identifier: Apache-2.0
"""End to end through storage and PromQL: StatsD in, Prometheus HTTP API out, across a
restart (WAL replay), a shutdown flush and a series deletion. Requests are the ones
Grafana's Prometheus data source makes."""
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402

BIN = sys.argv[1]


checks = Checks()
check = checks.check


def api(d, path, params=None, method="GET"):
    url = f"http://127.0.0.1:{d.http_port}{path}"
    data = None
    headers = {}
    if params is not None and method == "GET":
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    elif params is not None:
        data = urllib.parse.urlencode(params, doseq=True).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def instant(d, q):
    st, body = api(d, "/api/v1/query", {"query": q})
    assert st == 200 and body["status"] == "success", (st, body)
    return body["data"]["result"]


def wait_query(d, q, pred, what, timeout=10):
    deadline = time.time() + timeout
    res = None
    while time.time() < deadline:
        res = instant(d, q)
        if pred(res):
            return res
        time.sleep(0.2)
    raise AssertionError(f"{what}: last result {res}")


def test_grafana_health_check_and_browsing():
    with Sluiced(BIN) as d:
        st, body = api(d, "/api/v1/query", {"query": "1+1", "time": "4"})
        assert st == 200 and body == {"status": "success",
                                      "data": {"resultType": "scalar", "result": [4, "2"]}}, body
        d.send_udp("http_requests:1|c|#job:api,code:200\nhttp_requests:1|c|#job:web,code:500")
        wait_query(d, "http_requests_total", lambda r: len(r) == 2, "two series stored")
        st, body = api(d, "/api/v1/labels")
        assert {"__name__", "job", "code"} <= set(body["data"]), body
        st, body = api(d, "/api/v1/label/job/values")
        assert body["data"] == ["api", "web"], body
        st, body = api(d, "/api/v1/series", {"match[]": ['http_requests_total{job="api"}']})
        assert body["data"] == [{"__name__": "http_requests_total", "code": "200",
                                 "job": "api"}], body
        now = time.time()
        st, body = api(d, "/api/v1/query_range",
                       {"query": "sum(http_requests_total)", "start": f"{now - 30:.3f}",
                        "end": f"{now:.3f}", "step": "1"}, method="POST")
        assert st == 200 and body["data"]["resultType"] == "matrix", body
        assert body["data"]["result"][0]["values"][-1][1] == "2", body
        st, body = api(d, "/api/v1/query", {"query": "sum(rate(x[5m]"})
        assert st == 400 and body["errorType"] == "bad_data", body
        assert "parse error" in body["error"], body


def test_counter_rate_over_flushes():
    with Sluiced(BIN) as d:
        for _ in range(4):
            d.send_udp("jobs:10|c")
            time.sleep(1.05)
        res = wait_query(d, "jobs_total", lambda r: r and float(r[0]["value"][1]) == 40,
                         "cumulative counter stored")
        res = instant(d, "increase(jobs_total[1h])")
        assert res and float(res[0]["value"][1]) > 0, res


def test_restart_replays_and_shutdown_flushes():
    d = Sluiced(BIN, flush="10s").start()
    data_dir = d.data_dir
    try:
        # SIGTERM comes before any 10 s boundary can pass for this line: only the shutdown
        # flush can have stored it.
        t0 = time.time()
        if int(t0) % 10 >= 8:
            time.sleep(10 - (t0 % 10) + 0.2)
        d.send_udp("shutdown_flush:5|c\nlast_gauge:42|g")
        time.sleep(0.3)
        assert d.stop() == 0
        d2 = Sluiced(BIN, flush="10s", data_dir=data_dir).start()
        try:
            res = instant(d2, "shutdown_flush_total")
            assert res and res[0]["value"][1] == "5", res
            res = instant(d2, "last_gauge")
            assert res and res[0]["value"][1] == "42", res
        finally:
            d2.stop()
            d2.tmp.cleanup()
    finally:
        d.tmp.cleanup()


def test_delete_series_removes_only_matching():
    with Sluiced(BIN) as d:
        d.send_udp("keep_me:1|g\ndrop_me:1|g")
        wait_query(d, '{__name__=~"keep_me|drop_me"}', lambda r: len(r) == 2, "both stored")
        st, _ = api(d, "/api/v1/admin/tsdb/delete_series", {"match[]": ["drop_me"]},
                    method="POST")
        assert st == 204, st
        res = instant(d, '{__name__=~"keep_me|drop_me"}')
        assert [r["metric"]["__name__"] for r in res] == ["keep_me"], res
        st, body = api(d, "/api/v1/admin/tsdb/delete_series", {}, method="POST")
        assert st == 400 and body["errorType"] == "bad_data", body


sys.exit(checks.run_module(globals()))
