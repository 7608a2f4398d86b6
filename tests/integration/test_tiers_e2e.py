# SPDX-License-Identifier: Apache-2.0
"""Range queries answered from downsampled tiers, end to end: `sluice import` backfills six
hours of gauges and resetting counters from three days ago (samples every 15 s, so on every
bucket boundary), sluiced's maintenance compacts and downsamples them, and
/api/v1/query_range with a 1 h step must then answer max/min/sum/count/last/avg_over_time
from the 1h tier - same values as with use_tiers=false, and a warning that names the tier -
while queries outside the rule (rate by default, an unaligned start) carry no warning.
With use_tiers=counters, increase() is the reset-adjusted bucket increase, checked against
the imported samples. sluiced --use-tiers false turns tier reads off for every query.

    test_tiers_e2e.py SLUICED SLUICE
"""
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402

SLUICED, SLUICE = sys.argv[1], sys.argv[2]
checks = Checks()
check = checks.check

HOUR = 3600 * 1000
DAY = 24 * HOUR
# inside one compaction window (a UTC day) three days back: raw and tiers both kept
BASE = (int(time.time() * 1000) // DAY - 3) * DAY + 2 * HOUR
SPAN = 6 * HOUR

rng = random.Random(7)
SERIES = {}  # (name, job, instance) -> [(ts, value)]
for job in ("api", "db"):
    for inst in ("a", "b"):
        g, c = [], []
        cnt = 0
        for ts in range(BASE, BASE + SPAN + 1, 15000):
            g.append((ts, float(rng.randint(-500, 500))))
            cnt = rng.randint(0, 3) if rng.random() < 0.01 else cnt + rng.randint(0, 40)
            c.append((ts, float(cnt)))
        SERIES[("tier_temp", job, inst)] = g
        SERIES[("tier_req_total", job, inst)] = c

TMP = tempfile.TemporaryDirectory(prefix="sluice-tiers-")
DATA = os.path.join(TMP.name, "data")
IN_PATH = os.path.join(TMP.name, "in.prom")
with open(IN_PATH, "w") as f:
    for (name, job, inst), pts in SERIES.items():
        for ts, v in pts:
            f.write(f'{name}{{job="{job}",instance="{inst}"}} {v:.0f} {ts}\n')

p = subprocess.run([SLUICE, "import", "--data-dir", DATA, IN_PATH], capture_output=True,
                   text=True, timeout=120)
if p.returncode != 0:
    print(p.stdout, p.stderr)
    sys.exit(1)


def query_range(d, q, start, end, step, **extra):
    params = {"query": q, "start": f"{start / 1000:.3f}", "end": f"{end / 1000:.3f}",
              "step": step, **extra}
    body = json.loads(d.get("/api/v1/query_range?" + urllib.parse.urlencode(params)))
    assert body["status"] == "success", body
    return body


def by_metric(body):
    return {tuple(sorted(r["metric"].items())): [(t, v) for t, v in r["values"]]
            for r in body["data"]["result"]}


START, END = BASE + HOUR, BASE + SPAN  # 6 steps of 1 h; windows [t - 1h, t]
FNS = ("max_over_time", "min_over_time", "sum_over_time", "count_over_time",
       "last_over_time", "avg_over_time")


def wait_for_tier(d):
    """Maintenance runs every second here; the 1h tier exists once a query says so."""
    deadline = time.time() + 90
    while time.time() < deadline:
        if query_range(d, "max_over_time(tier_temp[1h])", START, END, "1h").get("warnings"):
            return
        time.sleep(0.5)
    raise AssertionError("no tier answer after 90 s:\n" + d.read_log()[-2000:])


def test_exact_functions_from_tier_equal_raw_with_warning():
    for fn in FNS:
        for q in (f"{fn}(tier_temp[1h])", f"sum by (job) ({fn}(tier_req_total[1h]))"):
            tier = query_range(D, q, START, END, "1h")
            raw = query_range(D, q, START, END, "1h", use_tiers="false")
            assert "warnings" not in raw, (q, raw.get("warnings"))
            w = tier.get("warnings", [])
            assert len(w) == 1 and "the 1h downsampled tier" in w[0], (q, w)
            a, b = by_metric(tier), by_metric(raw)
            assert a.keys() == b.keys() and a, (q, a.keys(), b.keys())
            for k in a:
                assert len(a[k]) == len(b[k]) == 6, (q, k, a[k], b[k])
                for (t1, v1), (t2, v2) in zip(a[k], b[k]):
                    assert t1 == t2, (q, k)
                    if fn == "avg_over_time":  # sum/count vs incremental mean: rounding
                        assert math.isclose(float(v1), float(v2), rel_tol=1e-12), (q, v1, v2)
                    else:
                        assert v1 == v2, (q, k, t1, v1, v2)


def test_values_match_samples_on_bucket_boundaries():
    """max over [t - 1h, t], both ends included, straight from the imported samples."""
    body = query_range(D, 'max_over_time(tier_temp{job="db",instance="b"}[1h])', START, END,
                       "1h")
    assert body.get("warnings"), body
    pts = SERIES[("tier_temp", "db", "b")]
    got = body["data"]["result"][0]["values"]
    for t, v in got:
        t = int(round(float(t) * 1000))
        want = max(x for ts, x in pts if t - HOUR <= ts <= t)
        assert float(v) == want, (t, v, want)


def test_queries_outside_rule_carry_no_warning():
    for q, start, step in (("rate(tier_req_total[1h])", START, "1h"),
                           ("max_over_time(tier_temp[1h])", START + 1000, "1h"),
                           ("max_over_time(tier_temp[1h])", START, "90s"),
                           ("stddev_over_time(tier_temp[1h])", START, "1h")):
        body = query_range(D, q, start, END, step)
        assert "warnings" not in body, (q, step, body.get("warnings"))
        assert body["data"]["result"], q


def brute_increase(pts, e, w):
    inc, prev, any_ = 0.0, None, False
    for ts, v in pts:
        if ts >= e:
            break
        if ts >= e - w:
            any_ = True
            if prev is not None:
                inc += v - prev if v >= prev else v
        prev = v
    return inc if any_ else None


def test_counters_mode_increase_is_bucket_increase():
    body = query_range(D, 'increase(tier_req_total{job="api",instance="a"}[1h])', START, END,
                       "1h", use_tiers="counters")
    w = body.get("warnings", [])
    assert len(w) == 1 and "without the extrapolation" in w[0], w
    pts = SERIES[("tier_req_total", "api", "a")]
    got = body["data"]["result"][0]["values"]
    assert len(got) == 6
    for t, v in got:
        t = int(round(float(t) * 1000))
        assert float(v) == brute_increase(pts, t, HOUR), (t, v)


def test_bad_use_tiers_is_bad_data():
    params = {"query": "up", "start": "0", "end": "1", "step": "1", "use_tiers": "maybe"}
    try:
        D.get("/api/v1/query_range?" + urllib.parse.urlencode(params))
        raise AssertionError("accepted use_tiers=maybe")
    except urllib.error.HTTPError as e:
        assert e.code == 400, e.code


with Sluiced(SLUICED, "--maintain-interval", "1s", data_dir=DATA) as D:
    check("tier_built_by_maintenance", lambda: wait_for_tier(D))
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            check(name, fn)

with Sluiced(SLUICED, "--maintain-interval", "1s", "--use-tiers", "false", data_dir=DATA) as D2:
    def off():
        body = query_range(D2, "max_over_time(tier_temp[1h])", START, END, "1h")
        assert "warnings" not in body and body["data"]["result"], body
    check("daemon_use_tiers_false_reads_raw", off)
    rc = checks.finish()

TMP.cleanup()
sys.exit(rc)
