# SPDX-License-Identifier: Apache-2.0
"""Timer quantiles over time ranges from the stored sketches, end to end: StatsD timers
(ms, h, d) over UDP for several 1 s flush intervals, then /api/v1/sketch_quantile over the
whole range against the exact quantiles of what was sent (within DDSketch's 1%), across a
restart (WAL replay), after the head is cut and every tier built (flush_head admin route),
at raw and tier resolutions, plus its error answers."""
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402

BIN = sys.argv[1]
CLI = sys.argv[2] if len(sys.argv) > 2 else None
ALPHA = 0.01
checks = Checks()
check = checks.check


def api(d, path, params=None, method="GET"):
    url = f"http://127.0.0.1:{d.http_port}{path}"
    if params is not None:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def exact(vals, q):
    s = sorted(vals)
    return s[int(math.floor(q * (len(s) - 1)))]


def values(interval, kind):
    """Deterministic integer latencies per interval: a body around 20..400, a tail to 9000."""
    out = []
    seed = interval * 7919 + kind * 104729 + 1
    for i in range(150):
        seed = (seed * 1103515245 + 12345) % (1 << 31)
        v = 20 + seed % 380
        if seed % 23 == 0:
            v = 1000 + seed % 8000
        out.append(v)
    return out


SERIES = [("sk_lat", "ms", 'sk_lat{route="/a"}', "|#route:/a"),
          ("sk_hist", "h", "sk_hist", ""),
          ("sk_dist", "d", 'sk_dist{env="prod"}', "|#env:prod")]
INTERVALS = 6
sent = {sel: [] for _, _, sel, _ in SERIES}


def send_all(d):
    for it in range(INTERVALS):
        for k, (name, typ, sel, tags) in enumerate(SERIES):
            vs = values(it, k)
            sent[sel].extend(vs)
            lines = [f"{name}:{v}|{typ}{tags}" for v in vs]
            for i in range(0, len(lines), 30):  # ~600-byte datagrams
                d.send_udp("\n".join(lines[i:i + 30]))
        time.sleep(1.1)  # the next values land in the next flush interval
    want = INTERVALS * 150
    d.wait_for(lambda m: m.get('sk_lat_count{route="/a"}') == want
               and m.get("sk_hist_count") == want
               and m.get('sk_dist_count{env="prod"}') == want,
               "every timer value counted", timeout=15)
    time.sleep(2.5)  # the flush that carried the last values has reached the store


def check_quantiles(d, resolution=None):
    for sel, vals in sent.items():
        for q in (0.0, 0.5, 0.9, 0.99, 0.999, 1.0):
            params = {"series": sel, "q": q}
            if resolution is not None:
                params["resolution"] = resolution
            st, body = api(d, "/api/v1/sketch_quantile", params)
            assert st == 200 and body["status"] == "success", (sel, st, body)
            data = body["data"]
            want = exact(vals, q)
            got = float(data["quantile"])
            assert abs(got - want) <= ALPHA * abs(want) + 1e-9, (sel, q, got, want, data)
            assert float(data["count"]) == len(vals), (sel, data)
            assert float(data["sum"]) == sum(vals), (sel, data)
            assert float(data["min"]) == min(vals) and float(data["max"]) == max(vals), data
            assert data["buckets"] >= 1, data


def check_range(d):
    # a range that ends before the data: nothing there
    st, body = api(d, "/api/v1/sketch_quantile",
                   {"series": "sk_hist", "q": 0.5, "start": "1", "end": "2"})
    assert st == 200 and body["data"]["quantile"] == "NaN", body
    assert body["data"]["count"] == "0", body


def check_errors(d):
    for params, frag in [({"q": 0.5}, "series"),
                         ({"series": "sk_hist"}, "q"),
                         ({"series": "sk_hist", "q": 1.5}, "q"),
                         ({"series": 'sk_hist{env=~"p.*"}', "q": 0.5}, "equality"),
                         ({"series": "sk_hist{", "q": 0.5}, "series"),
                         ({"series": "sk_hist", "q": 0.5, "resolution": "x"}, "resolution"),
                         ({"series": "sk_hist", "q": 0.5, "start": "9", "end": "1"}, "end")]:
        st, body = api(d, "/api/v1/sketch_quantile", params)
        assert st == 400, (params, st, body)
        assert body["status"] == "error" and body["errorType"] == "bad_data", body
        assert frag in body["error"], (frag, body)


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-sketch-") as tmp:
        data_dir = os.path.join(tmp, "data")
        with Sluiced(BIN, "--expire-intervals", "2", "--block-range", "4s",
                     "--maintain-interval", "1s", data_dir=data_dir) as d:
            check("timers_sent_over_udp_are_counted", lambda: send_all(d))
            check("quantiles_over_the_range_within_one_percent_raw", lambda: check_quantiles(d))
            check("quantiles_at_1m_from_raw_sketches", lambda: check_quantiles(d, "1m"))
            check("range_without_data_answers_nan", lambda: check_range(d))
            check("bad_parameters_answer_400_bad_data", lambda: check_errors(d))
        with Sluiced(BIN, "--expire-intervals", "2", data_dir=data_dir) as d:
            check("quantiles_survive_a_restart", lambda: check_quantiles(d))

            def flush():
                time.sleep(3.5)  # the timers expire, so nothing is appended after the cut
                st, body = api(d, "/api/v1/admin/tsdb/flush_head", method="POST")
                assert st == 204, (st, body)
            check("flush_head_builds_blocks_and_tiers", flush)
            check("quantiles_at_1h_from_tier_blocks", lambda: check_quantiles(d, "1h"))
            check("quantiles_at_1m_from_tier_blocks", lambda: check_quantiles(d, 60))
            check("quantiles_raw_from_blocks", lambda: check_quantiles(d, 0))

        def inspect():
            out = subprocess.run([CLI, "inspect", "--no-head", data_dir], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            rows = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("b-")]
            tiers = {}
            for f in rows:
                sk, skb = int(f[-2]), int(f[-1])
                tiers.setdefault(f[1], [0, 0])
                tiers[f[1]][0] += sk
                tiers[f[1]][1] += skb
            # raw: one sketch per series per flush with data; 1h: one per series (one bucket,
            # unless the run straddles an hour boundary)
            assert tiers["raw"][0] >= len(SERIES) * INTERVALS, out.stdout
            assert len(SERIES) <= tiers["1h"][0] <= 2 * len(SERIES), out.stdout
            assert all(v[1] > 0 for v in tiers.values()), out.stdout
            print(f"     sketch bytes: raw {tiers['raw'][1] / tiers['raw'][0]:.0f} B per "
                  f"interval sketch, 1h {tiers['1h'][1] / tiers['1h'][0]:.0f} B per bucket")
        if CLI:
            check("inspect_shows_sketch_sections_of_raw_and_tier_blocks", inspect)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
