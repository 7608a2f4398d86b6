# SPDX-License-Identifier: Apache-2.0
"""Query fan-out: a `--role query` sluiced over 3 storage nodes must answer exactly like one
node holding all the data.

The data is backfilled with `sluice import` (explicit millisecond timestamps), so the three
storage nodes and the single reference node hold bit-identical samples: counters, gauges, and
histogram buckets built from timer observations. Each storage node gets a disjoint share of
the series, except one series split in time across two nodes with an overlap (what a Kafka
rebalance can leave behind): the query node must merge it into one series. Then every query
is asked of the query node and of the reference node, and the JSON answers (labels,
timestamps, values, order) must be equal. Live StatsD timers sent to two storage nodes must
come back through the query node as the union of what each node answers. Finally one storage
node is killed with SIGKILL and the query node must fail the query with an error naming it.
"""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluiced_harness import Checks, Sluiced  # noqa: E402

BIN, CLI = sys.argv[1], sys.argv[2]
STEP = 15000
NPOINTS = 80
T0 = (int(time.time() * 1000) - 3600_000) // 60000 * 60000
LES = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"]


checks = Checks()
check = checks.check


def api(d, path, params):
    url = f"http://127.0.0.1:{d.http_port}{path}?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def lbl(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def build_data():
    """{node index: [lines]} for the 3 storage nodes, and all lines for the reference."""
    rnd = random.Random(6)
    shares = {0: [], 1: [], 2: []}
    allx = []

    def put(node, line):
        shares[node].append(line)
        allx.append(line)

    for i in range(9):
        inst = {"instance": f"i{i}", "job": "api" if i % 2 else "web"}
        node = i % 3
        for code in ("200", "500"):
            total = 0.0
            for k in range(NPOINTS):
                total += rnd.randint(0, 40) * (1 if code == "200" else 0.25)
                if i == 4 and code == "200" and k == 40:
                    total = 3.0  # a counter reset
                put(node, f"http_requests_total{lbl({**inst, 'code': code})} {total!r} "
                          f"{T0 + k * STEP}")
        for k in range(NPOINTS):
            put(node, f"mem_bytes{lbl(inst)} {rnd.uniform(1e6, 9e6)!r} {T0 + k * STEP}")
        # Histogram buckets from timer observations (seconds), cumulative like a client's.
        buckets = [0] * len(LES)
        s = 0.0
        n = 0
        for k in range(NPOINTS):
            for _ in range(rnd.randint(0, 30)):
                v = rnd.expovariate(1 / (0.02 * (1 + i % 3)))
                s += v
                n += 1
                for j, le in enumerate(LES):
                    if v <= float(le):
                        buckets[j] += 1
            for j, le in enumerate(LES):
                put(node, f"request_duration_seconds_bucket{lbl({**inst, 'le': le})} "
                          f"{buckets[j]} {T0 + k * STEP}")
            put(node, f"request_duration_seconds_sum{lbl(inst)} {s!r} {T0 + k * STEP}")
            put(node, f"request_duration_seconds_count{lbl(inst)} {n} {T0 + k * STEP}")
    # One series split in time over nodes 0 and 1, overlapping on 10 samples.
    for k in range(NPOINTS):
        line = f'moved_total{{job="api"}} {float(k * 7)!r} {T0 + k * STEP}'
        allx.append(line)
        if k < 45:
            shares[0].append(line)
        if k >= 35:
            shares[1].append(line)
    return shares, allx


def import_into(data_dir, lines, tmp):
    path = os.path.join(tmp, f"in-{os.path.basename(os.path.dirname(data_dir))}.prom")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([CLI, "import", "--format", "prom", "--no-progress", "--data-dir",
                        data_dir, path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


T_END = T0 + (NPOINTS - 1) * STEP
INSTANT = [
    "http_requests_total",
    'http_requests_total{code!="200",instance=~"i[0-4]"}',
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum by (code) (increase(http_requests_total[10m]))",
    "rate(http_requests_total{instance=\"i4\"}[20m])",
    "topk(3, mem_bytes)",
    "bottomk(2, rate(http_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le, job) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(request_duration_seconds_bucket[10m]))",
    "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
    "count(mem_bytes)",
    "count by (job) (mem_bytes > 4e6)",
    "absent(no_such_metric)",
    "absent(mem_bytes)",
    'absent(mem_bytes{instance="i42"})',
    "max(mem_bytes)",
    "min by (job) (mem_bytes)",
    "avg_over_time(mem_bytes[5m])",
    "moved_total",
    "rate(moved_total[5m])",
    "moved_total[3m]",
    'count({__name__=~"http_.*|mem_.*"})',
    "sort_desc(sum by (instance) (rate(http_requests_total[5m])))",
]
RANGE = [
    "sum by (job) (rate(http_requests_total[2m]))",
    "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "moved_total",
    "topk(2, mem_bytes)",
    "count(http_requests_total)",
    "absent(nothing_here)",
]


def compare(qnode, single, path, params):
    s1, a = api(qnode, path, params)
    s2, b = api(single, path, params)
    assert s1 == s2 == 200, (path, params, s1, a, s2, b)
    assert a == b, f"{path} {params}:\nquery node: {json.dumps(a)[:800]}\nsingle:     " \
                   f"{json.dumps(b)[:800]}"
    return a


def main():
    shares, allx = build_data()
    tmp = tempfile.TemporaryDirectory(prefix="sluice-fanout-")
    stores = [Sluiced(BIN) for _ in range(3)]
    single = Sluiced(BIN)
    for d, lines in zip(stores, [shares[0], shares[1], shares[2]]):
        import_into(d.data_dir, lines, tmp.name)
    import_into(single.data_dir, allx, tmp.name)
    started = []
    try:
        for d in stores + [single]:
            d.start()
            started.append(d)
        nodes = ",".join(f"http://127.0.0.1:{d.http_port}" for d in stores)
        qnode = Sluiced(BIN, "--role", "query", "--query-nodes", nodes,
                        "--query-node-timeout", "5s")
        qnode.start()
        started.append(qnode)

        def instant_queries():
            n = 0
            for q in INSTANT:
                for t in (T_END, T0 + 40 * STEP + 1234):
                    r = compare(qnode, single, "/api/v1/query", {"query": q, "time": t / 1000})
                    n += len(r["data"]["result"]) if isinstance(r["data"]["result"], list) else 1
            assert n > 100, n  # the queries do select data

        def range_queries():
            for q in RANGE:
                r = compare(qnode, single, "/api/v1/query_range",
                            {"query": q, "start": T0 / 1000, "end": T_END / 1000, "step": "30s"})
                if not q.startswith("absent"):
                    assert r["data"]["result"], q

        def merged_series_is_one():
            _, r = api(qnode, "/api/v1/query", {"query": "moved_total[30m]",
                                                "time": T_END / 1000})
            res = r["data"]["result"]
            assert len(res) == 1, res
            assert res[0]["values"] == [[(T0 + k * STEP) / 1000 if (T0 + k * STEP) % 1000
                                         else (T0 + k * STEP) // 1000, str(k * 7)]
                                        for k in range(NPOINTS)], res

        def metadata_routes():
            compare(qnode, single, "/api/v1/series", {"match[]": ["mem_bytes", "moved_total"],
                                                      "start": T0 / 1000, "end": T_END / 1000})
            compare(qnode, single, "/api/v1/labels", {"start": T0 / 1000, "end": T_END / 1000})
            compare(qnode, single, "/api/v1/label/instance/values",
                    {"start": T0 / 1000, "end": T_END / 1000})

        def live_statsd_timers():
            # Timers through StatsD on two storage nodes: the query node's answer is the union.
            stores[0].send_udp("fan_lat:12|ms\nfan_lat:30|ms\nfan_lat:7|ms|#svc:a")
            stores[1].send_udp("fan_lat:120|ms|#svc:b\nfan_lat:300|ms|#svc:b")
            q = '{__name__=~"fan_lat.*"}'
            deadline = time.time() + 15
            while time.time() < deadline:
                now = time.time()
                _, a = api(qnode, "/api/v1/query", {"query": q, "time": now})
                parts = [api(d, "/api/v1/query", {"query": q, "time": now})[1] for d in stores]
                union = sorted((json.dumps(x, sort_keys=True) for p in parts
                                for x in p["data"]["result"]))
                got = sorted(json.dumps(x, sort_keys=True) for x in a["data"]["result"])
                names = {x["metric"]["__name__"] for x in a["data"]["result"]}
                if got == union and {"fan_lat_count", "fan_lat_sum"} <= names and \
                        {x["metric"].get("svc") for x in a["data"]["result"]} >= {"a", "b"}:
                    return
                time.sleep(0.3)
            raise AssertionError(f"query node {got[:4]} != union {union[:4]}")

        def dead_node_fails_the_query():
            victim = stores[1]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(timeout=10)
            st, r = api(qnode, "/api/v1/query", {"query": "sum(mem_bytes)",
                                                 "time": T_END / 1000})
            assert st >= 500 and r["status"] == "error", (st, r)
            assert f"127.0.0.1:{victim.http_port}" in r["error"], r
            st, r = api(qnode, "/api/v1/series", {"match[]": "mem_bytes"})
            assert st >= 500 and f"127.0.0.1:{victim.http_port}" in r["error"], (st, r)

        check("instant_queries_equal_single_node", instant_queries)
        check("range_queries_equal_single_node", range_queries)
        check("series_on_two_nodes_merges_into_one", merged_series_is_one)
        check("series_labels_values_equal_single_node", metadata_routes)
        check("live_statsd_timers_are_the_union_of_nodes", live_statsd_timers)
        check("dead_node_fails_the_query_naming_it", dead_node_fails_the_query)
    finally:
        for d in started:
            d.stop()
        for d in stores + [single]:
            d.tmp.cleanup()
        tmp.cleanup()
    return checks.finish()


sys.exit(main())
