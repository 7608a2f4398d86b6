# SPDX-License-Identifier: Apache-2.0
"""query_latency: the same PromQL queries against sluiced and Debian's Prometheus holding
the same data, loaded through each one's remote write receiver from the same bytes.

Data: bench/gen_query_data (10,000 series = 200 targets x 50 series, 10 s interval, 6 h).
For each query: warm-up runs, then --runs timed runs per system, alternating systems per
query so both see the same machine conditions. Wall time is measured by the client
around each HTTP request (response fully read); server CPU time is the daemon's
run time of all its threads from /proc/PID/task/*/schedstat (nanoseconds) around each
timed run, and the median over runs is reported.
Before timing, each daemon must be idle (its background work after the load: Prometheus'
head compaction, sluiced's block cuts) — at most 2 ticks of CPU in 2 s.

Tier phase (sluice only; Prometheus has no downsampled tiers): the same generator writes
the data set ending at 08:00 UTC two days ago, inside one compaction window, into a second
sluiced; one fresh sample moves its head on, so maintenance (every second here) cuts,
compacts and downsamples the old day. Coarse-step queries over those 6 h (step 1 h, 1 h
windows; and 5 m, 1 m) then run with use_tiers on (answered from a tier, checked by
the response's warning) and off (raw samples), and both figures are reported with their
ratio.

Writes build/bench/query_latency.json in the format of BENCH.md and prints a table.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from sluiced_harness import Sluiced  # noqa: E402
import prometheus_harness  # noqa: E402
import promwrite  # noqa: E402

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")

RATE = "rate(http_requests_total[5m])"
HQ = ("histogram_quantile(0.99, sum by (le, job) "
      "(rate(http_request_duration_seconds_bucket[5m])))")
QUERIES = [  # id, query, range hours (0 = instant), step s
    ("sum_rate_1h", f"sum by (job) ({RATE})", 1, 15),
    ("sum_rate_6h", f"sum by (job) ({RATE})", 6, 60),
    ("sum_rate_status_6h", f"sum by (job, status) ({RATE})", 6, 30),
    ("histogram_quantile_1h", HQ, 1, 15),
    ("histogram_quantile_6h", HQ, 6, 60),
    ("topk_instance_1h", f"topk(10, sum by (instance) ({RATE}))", 1, 15),
    ("instant_all_series", '{job=~".+"}', 0, 0),
]


# Coarse-step queries for the tier phase: id, query, use_tiers value for the tier run. Both
# read the 4,000 http_requests_total series; increase() needs the counters opt-in, since a
# tier's increase is not extrapolated (README "Querying: downsampled tiers").
# The last two are less favourable: 72 steps of 5 m and 360 of 1 m, where the 5m and 1m tiers
# hold only 30 and 6 of the 10 s samples per bucket, below the planner's 64 (the 5m tier read
# measured 21% slower than raw), so the planner must keep to raw and both figures should match.
TIER_QUERIES = [  # id, query, use_tiers for the tier run, step and window (s), tier expected
    ("tier_max_over_time_6h", "max by (job) (max_over_time(http_requests_total[1h]))", "true",
     3600, True),
    ("tier_sum_increase_6h", "sum by (job) (increase(http_requests_total[1h]))", "counters",
     3600, True),
    ("tier_max_over_time_5m_6h", "max by (job) (max_over_time(http_requests_total[5m]))",
     "true", 300, False),
    ("tier_max_over_time_1m_6h", "max by (job) (max_over_time(http_requests_total[1m]))",
     "true", 60, False),
]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def cpu_ms(pid):
    """CPU time of every thread of @pid so far, in ms at nanosecond resolution: the first
    field of /proc/PID/task/TID/schedstat is the time the thread ran. (utime+stime from
    /proc/PID/stat come in 10 ms ticks, and a query taking 14 ms then reads as 10 or 20;
    the median of such readings is 10 or 20, never 14.)"""
    total = 0
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread ended between listing and reading
    return total / 1e6


def wait_idle(pid, name, limit_s=300):
    t0 = time.time()
    last = cpu_ticks(pid)
    while time.time() - t0 < limit_s:
        time.sleep(2)
        now = cpu_ticks(pid)
        if now - last <= 2:
            return time.time() - t0
        last = now
    print(f"warning: {name} still busy after {limit_s}s", file=sys.stderr)
    return limit_s


def get(port, path, params, timeout=120):
    """GET, so the request leaves in one write: urllib sends a POST's headers and body in
    two, and on loopback Nagle + delayed ACK then add ~40 ms to every request."""
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def post_body(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/write", data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/x-protobuf",
                                          "Content-Encoding": "snappy",
                                          "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=300) as r:
        if r.status != 204:
            raise RuntimeError(f"remote write answered {r.status}")


def p99(xs):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"cpu": model, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20),
            "kernel": platform.release()}


def git_commit():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"


def summarize(res):
    """Compact fingerprint of a query answer: series count and the sum of all values, to
    check both systems answered the same thing (the differential test checks exactness)."""
    d = json.loads(res)["data"]
    total, n = 0.0, 0
    for r in d["result"]:
        for _, v in (r["values"] if "values" in r else [r["value"]]):
            f = float(v)
            if f == f and abs(f) != float("inf"):
                total += f
                n += 1
    return len(d["result"]), n, total


def time_query(port, pid, path, params, runs, warmup):
    for _ in range(warmup):
        body = get(port, path, params)
    walls, cpus = [], []
    for _ in range(runs):
        c0 = cpu_ms(pid)
        t0 = time.perf_counter()
        get(port, path, params)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append(cpu_ms(pid) - c0)
    return body, walls, cpus


def tier_phase(a, results, table):
    """Coarse-step queries from the 1h tier vs the same from raw samples (see the module
    docstring). Returns the data set's description."""
    day = 86400_000
    end_ms = (int(time.time() * 1000) // day - 2) * day + 8 * 3600_000
    hours = int(a.hours)
    tmp = tempfile.TemporaryDirectory(prefix="sluice-qlat-tier-")
    data = os.path.join(tmp.name, "rw")
    gen = subprocess.run([a.gen, "--out", data, "--end-ms", str(end_ms), "--targets",
                          str(a.targets), "--hours", str(hours)],
                         capture_output=True, text=True, check=True, timeout=600)
    print(f"tier data: {gen.stdout.strip()}")
    with Sluiced(a.sluiced, "--maintain-interval", "1s") as sl:
        for fn in sorted(os.listdir(data)):
            with open(os.path.join(data, fn), "rb") as f:
                post_body(sl.http_port, f.read())
        fresh = promwrite.encode_request([([("__name__", "bench_clock")],
                                           [(1.0, int(time.time() * 1000))])])
        st, text = promwrite.post(sl.http_port, fresh)
        if st != 204:
            raise RuntimeError(f"remote write answered {st}: {text}")
        def params_for(step_s):  # windows of one step, all inside the data
            start = end_ms - hours * 3600_000 + step_s * 1000
            return {"start": f"{start / 1000:.3f}", "end": f"{end_ms / 1000:.3f}",
                    "step": str(step_s)}
        params = params_for(3600)
        t0 = time.time()
        while True:  # maintenance has built the 1h tier once a query says it used it
            body = json.loads(get(sl.http_port, "/api/v1/query_range",
                                  {**params, "query": TIER_QUERIES[0][1]}))
            if body.get("warnings"):
                break
            if time.time() - t0 > 900:
                raise RuntimeError("the 1h tier was not built within 15 minutes")
            time.sleep(1)
        print(f"tiers built {time.time() - t0:.0f}s after the load; "
              f"idle after {wait_idle(sl.proc.pid, 'sluice'):.0f}s")
        for qid, q, mode, step_s, expect_tier in TIER_QUERIES:
            row = {}
            answers = {}
            for label, use in (("tier", mode), ("raw", "false")):
                p = {**params_for(step_s), "query": q, "use_tiers": use}
                body, walls, cpus = time_query(sl.http_port, sl.proc.pid, "/api/v1/query_range",
                                               p, a.runs, a.warmup)
                doc = json.loads(body)
                if label == "tier" and bool(doc.get("warnings")) != expect_tier:
                    raise RuntimeError(f"{qid}: tier {'not ' if expect_tier else ''}used: "
                                       f"{doc.get('warnings')}")
                answers[label] = summarize(body)
                qp = {"query": f"{qid}_{label}", "promql": q, "range_h": hours, "step_s": step_s,
                      "use_tiers": use, "read": label if expect_tier or label == "raw" else "raw"}
                for metric, unit, val, spread in (
                        ("wall_ms_median", "ms", statistics.median(walls), walls),
                        ("cpu_ms", "ms", statistics.median(cpus), cpus)):
                    results.append({"system": "sluice", "metric": metric, "unit": unit,
                                    "median": round(val, 3), "min": round(min(spread), 3),
                                    "max": round(max(spread), 3), "runs": a.runs,
                                    "params": qp})
                row[label] = (statistics.median(walls), statistics.median(cpus))
            ratio = round(row["tier"][1] / row["raw"][1], 4) if row["raw"][1] else None
            agree = answers["tier"][:2] == answers["raw"][:2] and \
                abs(answers["tier"][2] - answers["raw"][2]) <= 1e-9 * max(1, abs(answers["raw"][2]))
            results.append({"system": "sluice", "metric": "cpu_ratio_tier_vs_raw",
                            "unit": "ratio", "median": ratio, "min": ratio, "max": ratio,
                            "runs": a.runs, "params": {"query": qid, "answers_agree": agree}})
            print(f"{qid:24s} {'tier' if expect_tier else 'on  '} {row['tier'][0]:8.1f} ms wall, "
                  f"{row['tier'][1]:7.1f} ms cpu"
                  f" | raw {row['raw'][0]:8.1f} ms wall, {row['raw'][1]:7.1f} ms cpu"
                  f" | cpu ratio {ratio if ratio is not None else float('nan'):.3f}"
                  f"{'' if agree else '  (answers differ: ' + mode + ' semantics)'}")
            table.append((qid, row["tier"], row["raw"], agree))
    tmp.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluiced", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--hours", type=float, default=6)
    ap.add_argument("--build", default="release")
    ap.add_argument("--keep-running", type=float, default=0,
                    help="seconds to keep both daemons up after measuring (for perf)")
    ap.add_argument("--only-tiers", action="store_true",
                    help="run only the tier phase (sluice alone), e.g. while working on it")
    a = ap.parse_args()
    if a.only_tiers:
        results, table = [], []
        tier_phase(a, results, table)
        print(json.dumps(results, indent=1))
        return 0
    if not prometheus_harness.available():
        print("query_latency: prometheus not installed (tools/deps.sh bench)", file=sys.stderr)
        return 77

    end_ms = (int(time.time()) // 60 * 60 - 60) * 1000
    tmp = tempfile.TemporaryDirectory(prefix="sluice-qlat-")
    data = os.path.join(tmp.name, "rw")
    gen = subprocess.run([a.gen, "--out", data, "--end-ms", str(end_ms), "--targets",
                          str(a.targets), "--hours", str(a.hours)],
                         capture_output=True, text=True, check=True, timeout=600)
    info = dict(kv.split("=") for kv in gen.stdout.split())
    print(f"data: {gen.stdout.strip()}")
    files = sorted(os.listdir(data))
    prom_version = prometheus_harness.version()
    results = []
    table = []
    with Sluiced(a.sluiced) as sl, prometheus_harness.Prometheus() as prom:
        systems = [("sluice", sl.http_port, sl.proc.pid),
                   (f"prometheus-{prom_version}", prom.port, prom.proc.pid)]
        load = {}
        for name, port, pid in systems:
            c0, t0 = cpu_ticks(pid), time.time()
            for fn in files:
                with open(os.path.join(data, fn), "rb") as f:
                    post_body(port, f.read())
            load[name] = (time.time() - t0, (cpu_ticks(pid) - c0) * TICK_MS / 1000)
            print(f"load {name}: {load[name][0]:.1f}s wall, {load[name][1]:.1f}s cpu")
        for name, port, pid in systems:
            print(f"idle {name} after {wait_idle(pid, name):.0f}s")

        def request(hours, q, step):
            if hours:
                return "/api/v1/query_range", {
                    "query": q, "start": f"{(end_ms - hours * 3600_000) / 1000:.3f}",
                    "end": f"{end_ms / 1000:.3f}", "step": str(step)}
            return "/api/v1/query", {"query": q, "time": f"{end_ms / 1000:.3f}"}

        # One untimed pass of every query on both first: the first queries after the load
        # otherwise pay for first touches (page cache, allocator growth) that later ones
        # do not, and the first query in the list looked up to 2x slower than it is.
        for _, q, hours, step in QUERIES:
            for name, port, pid in systems:
                get(port, *request(hours, q, step))
        for qid, q, hours, step in QUERIES:
            path, params = request(hours, q, step)
            fp = {}
            row = {}
            for name, port, pid in systems:
                for _ in range(a.warmup):
                    body = get(port, path, params)
                fp[name] = summarize(body)
                walls, cpus = [], []
                for _ in range(a.runs):
                    c0 = cpu_ms(pid)
                    t0 = time.perf_counter()
                    get(port, path, params)
                    walls.append((time.perf_counter() - t0) * 1000)
                    cpus.append(cpu_ms(pid) - c0)
                query_cpu = statistics.median(cpus)
                qp = {"query": qid, "promql": q, "series": int(info["series"]),
                      "range_h": hours, "step_s": step}
                for metric, unit, val, spread in (
                        ("wall_ms_median", "ms", statistics.median(walls), walls),
                        ("wall_ms_p99", "ms", p99(walls), walls),
                        ("cpu_ms", "ms", query_cpu, cpus)):
                    results.append({"system": name, "metric": metric, "unit": unit,
                                    "median": round(val, 3),
                                    "min": round(min(spread), 3),
                                    "max": round(max(spread), 3),
                                    "runs": a.runs, "params": qp})
                row[name] = (statistics.median(walls), p99(walls), query_cpu)
            names = [s[0] for s in systems]
            agree = fp[names[0]][:2] == fp[names[1]][:2] and \
                abs(fp[names[0]][2] - fp[names[1]][2]) <= 1e-6 * max(1, abs(fp[names[1]][2]))
            s, p = row[names[0]], row[names[1]]
            ratio = round(s[2] / p[2], 4) if p[2] else None
            results.append({"system": "sluice", "metric": "cpu_ratio_vs_prometheus",
                            "unit": "ratio", "median": ratio, "min": ratio, "max": ratio,
                            "runs": a.runs, "params": {"query": qid, "answers_agree": agree}})
            table.append((qid, s, p, agree))
            print(f"{qid:24s} sluice {s[0]:8.1f} / {s[1]:8.1f} ms wall, {s[2]:7.1f} ms cpu | "
                  f"prometheus {p[0]:8.1f} / {p[1]:8.1f} ms wall, {p[2]:7.1f} ms cpu | "
                  f"cpu ratio {s[2] / p[2] if p[2] else float('nan'):.3f}"
                  f"{'' if agree else '  ANSWERS DIFFER'}")
        for name, _, _ in systems:
            for metric, v in (("load_wall_s", load[name][0]), ("load_cpu_s", load[name][1])):
                results.append({"system": name, "metric": metric, "unit": "s",
                                "median": round(v, 2), "min": round(v, 2), "max": round(v, 2),
                                "runs": 1, "params": {}})
        if a.keep_running:
            print(f"pids: sluiced {sl.proc.pid} prometheus {prom.proc.pid}; "
                  f"ports {sl.http_port} {prom.port}", flush=True)
            time.sleep(a.keep_running)
    tier_phase(a, results, table)
    doc = {
        "bench": "query_latency",
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "sluice": {"version": "0.1.0", "commit": git_commit(), "build": a.build},
        "params": {"series": int(info["series"]), "samples": int(info["samples"]),
                   "interval_s": 10, "hours": a.hours, "targets": a.targets,
                   "runs_per_query": a.runs, "warmup": a.warmup,
                   "cpu_note": "server CPU per query (all threads' schedstat run time, ns), median over runs"},
        "results": [{k: v for k, v in r.items() if v is not None} for r in results],
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
