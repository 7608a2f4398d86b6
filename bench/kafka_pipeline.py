# SPDX-License-Identifier: Apache-2.0
"""kafka_pipeline benchmark (run by bench/scenarios/kafka_pipeline.sh).

Pipeline run: StatsD over TCP -> forwarding sluiced -> librdkafka mock cluster (3 brokers,
loopback) -> consuming sluiced. Reports records/s produced (acknowledged by the brokers)
and consumed (handed to the consumer's shards) end to end, and records per CPU-second of
each stage (forwarder, mock cluster, consumer), CPU read from /proc/<pid>/stat.

Scaling run: the topic is filled first, then 1, 2 or 3 consuming nodes (a fresh group each
time) read it all; reports records per CPU-second per node (records the node consumed /
CPU it used) and the aggregate records/s.

Every figure is the median of RUNS runs; JSON in the format of BENCH.md.
usage: kafka_pipeline.py BUILD_DIR OUT_JSON
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from kafka_harness import MockCluster, consumer, forwarder  # noqa: E402

BUILD, OUT = sys.argv[1], sys.argv[2]
SLUICED = os.path.join(BUILD, "tools", "sluiced")
MOCK = os.path.join(BUILD, "tests", "integration", "kafka_mock_cluster")
RECORDS = int(os.environ.get("KAFKA_BENCH_RECORDS", "2000000"))
SERIES = int(os.environ.get("KAFKA_BENCH_SERIES", "10000"))
RUNS = int(os.environ.get("KAFKA_BENCH_RUNS", "3"))
PARTITIONS = 6
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def payload():
    lines = [f"bench.kafka.s{i % SERIES}:1|c\n" for i in range(RECORDS)]
    return "".join(lines)


def wait(fn, what, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def metric(node, name):
    return node.metrics().get(name, 0)


DELIVERED = 'sluice_kafka_forward_records_total{outcome="delivered"}'
CONSUMED = 'sluice_kafka_consume_records_total{format="wire"}'


def pipeline_run(data):
    with MockCluster(MOCK, partitions=PARTITIONS) as mc, \
            consumer(SLUICED, mc, "--shards", "1", "--log-level", "warn") as c, \
            forwarder(SLUICED, mc, "--log-level", "warn") as f:
        wait(lambda: metric(c, "sluice_kafka_consume_partitions_assigned") == PARTITIONS,
             "assignment", 30)
        pids = {"forward": f.proc.pid, "broker": mc.pid(), "consume": c.proc.pid}
        cpu0 = {k: cpu_s(p) for k, p in pids.items()}
        t0 = time.time()
        f.send_tcp(data)
        t_prod = wait(lambda: metric(f, DELIVERED) >= RECORDS and time.time(), "delivery")
        cpu_prod = {k: cpu_s(p) for k, p in pids.items()}
        t_cons = wait(lambda: metric(c, CONSUMED) >= RECORDS and time.time(), "consumption")
        cpu1 = {k: cpu_s(p) for k, p in pids.items()}
        assert metric(f, 'sluice_kafka_forward_records_total{outcome="dropped"}') == 0
        res = {"produced_per_s": RECORDS / (t_prod - t0),
               "consumed_per_s": RECORDS / (t_cons - t0)}
        for k in pids:
            used = (cpu_prod if k == "forward" else cpu1)[k] - cpu0[k]
            res[f"{k}_cpu_s"] = used
            res[f"{k}_per_cpu_s"] = RECORDS / used if used > 0 else float("nan")
        return res


def scaling_run(data, nodes):
    with MockCluster(MOCK, partitions=PARTITIONS) as mc, \
            forwarder(SLUICED, mc, "--log-level", "warn") as f:
        f.send_tcp(data)
        wait(lambda: metric(f, DELIVERED) >= RECORDS, "topic filled")
        group = f"scale{nodes}-{time.time_ns()}"
        cs = [consumer(SLUICED, mc, "--shards", "1", "--log-level", "warn", group=group)
              for _ in range(nodes)]
        for c in cs:
            c.start()
        try:
            # The clock starts when the group has handed out every partition: group
            # formation (~3 s in the mock cluster) is not consumption.
            wait(lambda: sum(metric(c, "sluice_kafka_consume_partitions_assigned")
                             for c in cs) == PARTITIONS, "assignment", 60)
            cpu0 = [cpu_s(c.proc.pid) for c in cs]
            t0 = time.time()
            t1 = wait(lambda: sum(metric(c, CONSUMED) for c in cs) >= RECORDS and time.time(),
                      "all consumed")
            per_node = []
            for c, base in zip(cs, cpu0):
                used = cpu_s(c.proc.pid) - base
                per_node.append(metric(c, CONSUMED) / used if used > 0 else float("nan"))
            return {"records_per_cpu_s_per_node": statistics.median(per_node),
                    "records_per_s": RECORDS / (t1 - t0)}
        finally:
            for c in cs:
                c.stop()
                c.tmp.cleanup()


def row(metric_name, unit, values, params):
    return {"system": "sluice", "metric": metric_name, "unit": unit,
            "median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values), "params": params}


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20),
            "kernel": platform.release()}


def main():
    data = payload()
    results = []
    runs = [pipeline_run(data) for _ in range(RUNS)]
    results.append(row("records_per_s", "records/s", [r["produced_per_s"] for r in runs],
                       {"stage": "produce", "nodes": 1}))
    results.append(row("records_per_s", "records/s", [r["consumed_per_s"] for r in runs],
                       {"stage": "end_to_end", "nodes": 1}))
    for st in ("forward", "broker", "consume"):
        results.append(row("records_per_cpu_s", "records/cpu-s",
                           [r[f"{st}_per_cpu_s"] for r in runs],
                           {"stage": st, "nodes": 1, "per": "cpu_second"}))
    for n in (1, 2, 3):
        sr = [scaling_run(data, n) for _ in range(RUNS)]
        results.append(row("records_per_cpu_s", "records/cpu-s",
                           [r["records_per_cpu_s_per_node"] for r in sr],
                           {"stage": "consume", "nodes": n, "per": "cpu_second_per_node"}))
        results.append(row("records_per_s", "records/s", [r["records_per_s"] for r in sr],
                           {"stage": "consume", "nodes": n}))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    buildtype = "unknown"
    try:
        intro = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                               capture_output=True, text=True).stdout
        buildtype = next(o["value"] for o in json.loads(intro) if o["name"] == "buildtype")
    except (StopIteration, ValueError, OSError):
        pass
    doc = {"bench": "kafka_pipeline",
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": machine(),
           "sluice": {"version": "0.1.0", "commit": commit, "build": buildtype},
           "params": {"records": RECORDS, "series": SERIES, "partitions": PARTITIONS,
                      "brokers": 3, "transport": "mock_cluster_loopback",
                      "producer_input": "statsd_tcp_1_connection"},
           "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=2)
    for r in results:
        print("bench=kafka_pipeline metric=%s %s median=%.4g min=%.4g max=%.4g runs=%d"
              % (r["metric"], " ".join(f"{k}={v}" for k, v in r["params"].items()),
                 r["median"], r["min"], r["max"], r["runs"]))


if __name__ == "__main__":
    main()
