# SPDX-License-Identifier: Apache-2.0
"""Differential test against Prometheus: the same remote write bodies go to sluiced's
/api/v1/write and to Debian's prometheus (its own receiver), then a query set of instant
and range queries runs against both. Label sets and timestamps must be identical and
values equal within 1e-5 relative (NaN equals NaN). Prometheus is the reference.

Data (deterministic, seed fixed): counters with resets, gauges, a classic `_bucket`
histogram with resets, an integer status gauge, and churned series that appear and
disappear (half of them ending in a staleness marker, half just stopping), 2 hours at a
15 s interval ending at a minute boundary shortly before now.

Exit status 0 when every query agrees, 1 otherwise (each mismatch printed with the query
and both outputs); 77 (skip) when prometheus is not installed.
"""
import json
import math
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Sluiced  # noqa: E402
import prometheus_harness  # noqa: E402
import promwrite as pw  # noqa: E402

BIN = sys.argv[1]
STEP_MS = 15_000
SPAN_MS = 2 * 3600_000
# SL_DIFF_END_MS replays a run exactly (the data is a function of the seed and END_MS only)
END_MS = int(os.environ.get("SL_DIFF_END_MS", 0)) or (int(time.time()) // 60 * 60 - 120) * 1000
START_MS = END_MS - SPAN_MS
RTOL = 1e-5
LES = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]


def generate():
    """{sorted label tuple: [(value, t_ms)]} for every series."""
    rnd = random.Random(42)
    series = {}

    def add(labels, t, v):
        series.setdefault(tuple(sorted(labels.items())), []).append((v, t))

    steps = SPAN_MS // STEP_MS + 1
    targets = [(job, f"10.0.{j}.{i}:9100") for j, job in enumerate(["api", "web", "db"])
               for i in range(4)]
    for job, inst in targets:
        # counters with resets
        for method in ["GET", "POST"]:
            for status in ["200", "500"]:
                v = rnd.uniform(0, 1000)
                reset_at = {rnd.randrange(steps) for _ in range(2)}
                for k in range(steps):
                    if k in reset_at:
                        v = rnd.uniform(0, 3)
                    else:
                        # a random fraction on top: exact ties between sums would make
                        # topk's choice arbitrary (Prometheus' own order is a Go map's)
                        v += (rnd.choice([0, 0, 1, 2, 5, 10.5]) + rnd.random()) * \
                            (3 if status == "200" else 1)
                    add({"__name__": "dt_requests_total", "job": job, "instance": inst,
                         "method": method, "status": status}, START_MS + k * STEP_MS, v)
        # histogram with resets
        counts = [0] * len(LES)
        total = 0.0
        reset_at = rnd.randrange(steps)
        for k in range(steps):
            if k == reset_at:
                counts = [0] * len(LES)
                total = 0.0
            for _ in range(rnd.randrange(0, 20)):
                x = rnd.expovariate(4.0)
                total += x
                for i, le in enumerate(LES):
                    if x <= float(le):
                        counts[i] += 1
            t = START_MS + k * STEP_MS
            for le, c in zip(LES, counts):
                add({"__name__": "dt_latency_seconds_bucket", "job": job, "instance": inst,
                     "le": le}, t, float(c))
            add({"__name__": "dt_latency_seconds_count", "job": job, "instance": inst}, t,
                float(counts[-1]))
            add({"__name__": "dt_latency_seconds_sum", "job": job, "instance": inst}, t, total)
        # gauges
        g = rnd.uniform(20, 80)
        for k in range(steps):
            g += rnd.gauss(0, 1.5)
            t = START_MS + k * STEP_MS
            add({"__name__": "dt_temp", "job": job, "instance": inst}, t, round(g, 3))
            add({"__name__": "dt_status", "job": job, "instance": inst}, t,
                float(rnd.randrange(4)))
    # churned series: each pod lives 10..40 minutes somewhere in the window
    for p in range(30):
        first = rnd.randrange(steps - 20)
        life = rnd.randrange(40, 160)
        last = min(steps - 1, first + life)
        for k in range(first, last + 1):
            add({"__name__": "dt_churn", "pod": f"pod-{p}", "job": "batch"},
                START_MS + k * STEP_MS, float(rnd.randrange(100)))
        if p % 2 == 0 and last < steps - 1:
            add({"__name__": "dt_churn", "pod": f"pod-{p}", "job": "batch"},
                START_MS + (last + 1) * STEP_MS, pw.STALE_NAN)
    return series


def bodies(series, slice_ms=10 * 60_000):
    """Remote write bodies in time order: each holds every series' samples of one slice,
    as a sender's queue would, so Prometheus' head sees each series' samples in order."""
    out = []
    t = START_MS
    while t <= END_MS:
        batch = []
        for labels, samples in series.items():
            s = [(v, ts) for v, ts in samples if t <= ts < t + slice_ms]
            if s:
                batch.append((list(labels), [(v if not (isinstance(v, float) and math.isnan(v))
                                              else 0x7FF0000000000002, ts) for v, ts in s]))
        if batch:
            out.append(pw.encode_request(batch))
        t += slice_ms
    return out


INSTANT = [
    "dt_temp",
    "dt_requests_total",
    "rate(dt_requests_total[5m])",
    "increase(dt_requests_total[10m])",
    "irate(dt_requests_total[5m])",
    "sum by (job) (rate(dt_requests_total[5m]))",
    "sum by (job, status) (rate(dt_requests_total[5m]))",
    "sum without (instance, method) (increase(dt_requests_total[1h]))",
    "avg_over_time(dt_temp[10m])",
    "min_over_time(dt_temp[10m])",
    "max_over_time(dt_temp[10m])",
    "sum_over_time(dt_status[5m])",
    "count_over_time(dt_churn[30m])",
    "last_over_time(dt_churn[30m])",
    "quantile_over_time(0.9, dt_temp[20m])",
    "stddev_over_time(dt_temp[20m])",
    "histogram_quantile(0.99, sum by (le, job) (rate(dt_latency_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(dt_latency_seconds_bucket[10m]))",
    "rate(dt_latency_seconds_sum[5m]) / rate(dt_latency_seconds_count[5m])",
    "topk(3, dt_temp)",
    "bottomk(2, sum by (instance) (rate(dt_requests_total[5m])))",
    "topk(10, sum by (instance) (rate(dt_requests_total[5m])))",
    'label_replace(dt_temp, "host", "$1", "instance", "(.*):.*")',
    'label_join(dt_temp, "id", "/", "job", "instance")',
    "dt_temp offset 10m",
    "rate(dt_requests_total[5m] offset 30m)",
    "max_over_time(rate(dt_requests_total[5m])[15m:1m])",
    "avg_over_time(sum by (job) (dt_temp)[30m:2m])",
    "absent(dt_nonexistent)",
    'absent(dt_temp{job="nope"})',
    "absent_over_time(dt_churn[5m])",
    "dt_churn",
    "count(dt_churn)",
    "resets(dt_requests_total[30m])",
    "changes(dt_status[30m])",
    "deriv(dt_temp[10m])",
    "predict_linear(dt_temp[10m], 600)",
    "holt_winters(dt_temp[10m], 0.5, 0.5)",
    "delta(dt_temp[10m])",
    "idelta(dt_temp[5m])",
    'count_values("v", dt_status)',
    "stddev by (job) (dt_temp)",
    "quantile by (job) (0.75, dt_temp)",
    "avg by (job) (dt_temp) > 50",
    "dt_temp > bool 50",
    "dt_requests_total / on (job, instance) group_left sum by (job, instance) "
    "(dt_requests_total)",
    'dt_temp and on (instance) dt_status == 2',
    "dt_temp unless on (instance) dt_status > 1",
    "sum(rate(dt_requests_total[5m])) by (method) or vector(0)",
    "timestamp(dt_temp)",
    "sort_desc(sum by (job) (dt_temp))",
    "clamp(dt_temp, 40, 60)",
    "round(dt_temp, 0.5)",
    "scalar(sum(dt_status)) * 2",
    "time() - max(timestamp(dt_churn))",
    'dt_requests_total{method=~"G.*", status!="500"}',
    "group by (job) (dt_temp)",
    "quantile(0.3, dt_temp)",
    "stdvar_over_time(dt_temp[15m])",
    "present_over_time(dt_churn[10m])",
    "rate(dt_churn[5m])",
    "irate(dt_latency_seconds_bucket[2m])",
    "abs(deriv(dt_temp[5m]))",
    "ceil(dt_temp) - floor(dt_temp)",
    "sqrt(dt_temp) + ln(dt_temp) + exp(dt_status)",
    "sgn(delta(dt_temp[5m]))",
    "clamp_min(dt_temp, 50)",
    "clamp_max(dt_temp, 50)",
    "-dt_temp % 7",
    "dt_temp ^ 2",
    "dt_temp atan2 dt_status",
    "hour(dt_temp) + minute(dt_temp)",
    "day_of_week() + days_in_month() + day_of_month()",
    "timestamp(dt_temp offset 1m)",
    "dt_temp @ start()",
    "max by (job) (dt_temp) @ end()",
    "sum(increase(dt_requests_total[30m] @ end()))",
    "sort(count by (job) (dt_churn))",
    "count by (le) (dt_latency_seconds_bucket)",
    "vector(time())",
    "dt_temp == bool on (instance) group_left dt_status",
    "sum by (job) (dt_status) / ignoring (job) group_left sum(dt_status)",
    "max_over_time(dt_churn[1h:5m] offset 10m)",
    "min_over_time(deriv(dt_temp[5m])[20m:])",
]

RANGE = [
    ("sum by (job) (rate(dt_requests_total[5m]))", 60),
    ("sum by (job, status) (rate(dt_requests_total[5m]))", 30),
    ("histogram_quantile(0.99, sum by (le, job) (rate(dt_latency_seconds_bucket[5m])))", 60),
    ("topk(5, sum by (instance) (rate(dt_requests_total[5m])))", 120),
    ("dt_churn", 60),
    ("count(dt_churn)", 15),
    ("avg_over_time(dt_temp[10m])", 300),
    ("increase(dt_requests_total[15m])", 450),
    ("irate(dt_requests_total[1m])", 45),
    ("max_over_time(rate(dt_requests_total[5m])[10m:1m])", 300),
    ('label_replace(dt_temp, "host", "$1", "instance", "(.*):.*")', 600),
    ("dt_temp offset 5m", 90),
    ("absent(dt_churn{pod=\"pod-3\"})", 60),
    ("deriv(dt_temp[5m])", 120),
]


def query(port, path, params):
    url = f"http://127.0.0.1:{port}{path}"
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return json.loads(e.read().decode() or "null")


def fnum(s):
    return float(s)  # handles "NaN", "+Inf", "-Inf"


def close(a, b):
    x, y = fnum(a), fnum(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= RTOL * max(abs(x), abs(y)) or abs(x - y) < 1e-12


def compare(ref, got):
    """None when equal, else a short description of the first difference."""
    if ref.get("status") != got.get("status"):
        return f"status {ref.get('status')} vs {got.get('status')}"
    if ref["status"] != "success":
        return None
    rd, gd = ref["data"], got["data"]
    if rd["resultType"] != gd["resultType"]:
        return f"resultType {rd['resultType']} vs {gd['resultType']}"
    if rd["resultType"] == "scalar":
        ok = rd["result"][0] == gd["result"][0] and close(rd["result"][1], gd["result"][1])
        return None if ok else f"scalar {rd['result']} vs {gd['result']}"
    key = "value" if rd["resultType"] == "vector" else "values"
    rm = {json.dumps(r["metric"], sort_keys=True): r for r in rd["result"]}
    gm = {json.dumps(r["metric"], sort_keys=True): r for r in gd["result"]}
    if len(rm) != len(rd["result"]) or len(gm) != len(gd["result"]):
        return "duplicate label sets in a result"
    if rm.keys() != gm.keys():
        only_r = sorted(rm.keys() - gm.keys())[:3]
        only_g = sorted(gm.keys() - rm.keys())[:3]
        return f"label sets differ: only in prometheus {only_r}, only in sluice {only_g}"
    for k in rm:
        a = [rm[k][key]] if key == "value" else rm[k][key]
        b = [gm[k][key]] if key == "value" else gm[k][key]
        if [p[0] for p in a] != [p[0] for p in b]:
            ta, tb = [p[0] for p in a], [p[0] for p in b]
            return (f"{k}: timestamps differ ({len(ta)} vs {len(tb)} points; first "
                    f"difference {sorted(set(ta) ^ set(tb))[:4]})")
        for pa, pb in zip(a, b):
            if not close(pa[1], pb[1]):
                return f"{k} at {pa[0]}: {pa[1]} vs {pb[1]}"
    return None


def main():
    if not prometheus_harness.available():
        print("SKIP: prometheus not installed (tools/deps.sh test)")
        return 77
    t0 = time.time()
    series = generate()
    reqs = bodies(series)
    nsamples = sum(len(s) for s in series.values())
    print(f"data: SL_DIFF_END_MS={END_MS}, {len(series)} series, {nsamples} samples, {len(reqs)} requests "
          f"({time.time() - t0:.1f}s to build)")
    failures = []
    with Sluiced(BIN) as sl, prometheus_harness.Prometheus() as prom:
        for body in reqs:
            for name, port in (("sluice", sl.http_port), ("prometheus", prom.port)):
                st, text = pw.post(port, body)
                if st != 204:
                    raise AssertionError(f"{name} refused a remote write body: {st} {text}")
        print(f"loaded both in {time.time() - t0:.1f}s (prometheus {prometheus_harness.version()})")
        cases = []
        for q in INSTANT:
            for t in (END_MS, END_MS - 17 * 60_000 - 7_500, START_MS + 45 * 60_000):
                cases.append(("/api/v1/query", {"query": q, "time": f"{t / 1000:.3f}"}))
        for q, step in RANGE:
            cases.append(("/api/v1/query_range", {"query": q, "start": f"{START_MS / 1000:.3f}",
                                                  "end": f"{END_MS / 1000:.3f}",
                                                  "step": str(step)}))
        nonempty = 0
        for path, params in cases:
            ref = query(prom.port, path, params)
            got = query(sl.http_port, path, params)
            res = (ref.get("data") or {}).get("result")
            nonempty += bool(res) and (ref["data"]["resultType"] != "scalar")
            diff = compare(ref, got)
            if diff:
                failures.append((path, params, diff))
                print(f"DIFF {path} {params}\n     {diff}")
                print(f"     prometheus: {json.dumps(ref)[:600]}")
                print(f"     sluice:     {json.dumps(got)[:600]}")
        print(f"{len(cases) - len(failures)} of {len(cases)} queries agree, {nonempty} with a "
              f"non-empty vector or matrix from prometheus ({time.time() - t0:.1f}s)")
        # the comparison means nothing if the reference answered mostly nothing
        if nonempty < len(cases) * 3 // 4:
            failures.append(("all", {}, "prometheus answered too few non-empty results"))
            print("FAIL: prometheus answered too few non-empty results; data not loaded?")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
