# SPDX-License-Identifier: Apache-2.0
"""Kafka end to end against librdkafka's mock cluster (3 brokers on loopback):

  e2e             StatsD over TCP -> forwarding sluiced -> topic -> consuming sluiced:
                  exact values in the consumer's /metrics; plain StatsD message values too.
  broker_failure  brokers taken down and partition leaders moved while records flow: every
                  acknowledged record is counted, none twice; a full local buffer drops
                  with a counter, and what was delivered is exactly what is counted;
                  with on_full=backpressure the listener waits instead and nothing is lost.
  rebalance       a second consumer joins mid-stream, then the first is killed with
                  kill -9 once idle, then a third joins and the second is killed with
                  kill -9 mid-stream: after each rebalance every record is counted exactly
                  once across the nodes (for the mid-stream kill: the survivor counts exactly
                  the records after the victim's last commit, read from the group).

usage: test_kafka.py SCENARIO SLUICED KAFKA_MOCK_CLUSTER
"""
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafka_harness import MockCluster, consumer, forwarder  # noqa: E402

SCENARIO, SLUICED, MOCK = sys.argv[1], sys.argv[2], sys.argv[3]


def series_totals(nodes, prefix):
    """{metric: value} summed over nodes, for metrics starting with prefix."""
    out = {}
    for n in nodes:
        for k, v in n.metrics().items():
            if k.startswith(prefix):
                out[k] = out.get(k, 0) + v
    return out


def wait_until(fn, what, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last is True:
                return
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out ({timeout}s) waiting for {what}; last: {last}")


def counter_lines(nseries, reps, tag):
    """reps rounds of one +1 per series: every kt_<tag>_<i>_total ends at reps."""
    rnd = "".join(f"kt.{tag}.{i}:1|c\n" for i in range(nseries))
    return rnd * reps


def expect_counters(nodes, tag, nseries, want):
    def ok():
        t = series_totals(nodes, f"kt_{tag}_")
        if len(t) == nseries and all(v == want for v in t.values()):
            return True
        bad = {k: v for k, v in t.items() if v != want}
        return f"{len(t)}/{nseries} series, wrong: {dict(list(bad.items())[:5])}"
    return ok


def fwd_stats(f):
    m = f.metrics()
    g = lambda o: m.get(f'sluice_kafka_forward_records_total{{outcome="{o}"}}', 0)  # noqa: E731
    return {o: g(o) for o in ("taken", "delivered", "failed", "dropped", "invalid")}


def scenario_e2e():
    with MockCluster(MOCK) as mc, consumer(SLUICED, mc) as c, forwarder(SLUICED, mc) as f:
        f.send_tcp(counter_lines(50, 20, "a")
                   + "kt.rate:1|c|@0.5\n" * 10
                   + "kt.temp:20|g\nkt.temp:+5|g\nkt.temp:-3|g\n"
                   + "kt.users:alice|s\nkt.users:bob|s\nkt.users:alice|s\n"
                   + "kt.lat:10|ms\nkt.lat:20|ms\nkt.lat:30:40|ms|#route:/api,env:prod\n")
        f.send_udp("kt.udp:2|c\nkt.udp:3|c")  # UDP listener threads forward too
        mc.produce("kt.raw:7|c\nkt.raw:3|c|#src:plain")
        mc.produce("kt.raw:5|c")
        wait_until(expect_counters([c], "a", 50, 20), "50 counters at 20", 30)

        def users_seen():
            # A set's distinct count is per flush interval, so /metrics shows 0 again one
            # interval later; the stored flushes keep the interval that saw both members.
            q = urllib.parse.quote("max_over_time(kt_users[10m])")
            r = json.loads(c.get(f"/api/v1/query?query={q}"))["data"]["result"]
            return float(r[0]["value"][1]) if r else None

        def rest():
            m = c.metrics()
            want = {"kt_rate_total": 20, "kt_temp": 22, "kt_users": 2, "kt_lat_count": 2,
                    "kt_lat_sum": 30, 'kt_raw_total{src="plain"}': 3, "kt_raw_total": 12,
                    'kt_lat_count{env="prod",route="/api"}': 2, "kt_udp_total": 5}
            got = {k: m.get(k) for k in want}
            got["kt_users"] = users_seen()
            return True if got == want else got
        wait_until(rest, "exact gauge/set/timer/rate/plain-StatsD values", 20)
        wait_until(lambda: (lambda s: s["delivered"] == s["taken"] == 1000 + 10 + 3 + 3 + 4 + 2
                            or s)(fwd_stats(f)), "every forwarded record acknowledged", 10)
        s = fwd_stats(f)
        assert s["failed"] == s["dropped"] == s["invalid"] == 0, s
        m = c.metrics()
        assert m['sluice_kafka_consume_messages_total{format="statsd"}'] == 2, m
        assert m['sluice_kafka_consume_messages_total{format="bad"}'] == 0, m


def scenario_broker_failure():
    with MockCluster(MOCK, partitions=6) as mc, consumer(SLUICED, mc) as c, \
            forwarder(SLUICED, mc) as f:
        f.send_tcp(counter_lines(60, 5, "b"))
        mc.cmd("down 1")
        for p in range(6):               # leaders move off the dead broker
            mc.cmd(f"leader {p} {2 + p % 2}")
        f.send_tcp(counter_lines(60, 5, "b"))
        mc.cmd("down 2")
        for p in range(6):
            mc.cmd(f"leader {p} 3")
        f.send_tcp(counter_lines(60, 5, "b"))
        mc.cmd("up 1")
        mc.cmd("up 2")
        for p in range(6):
            mc.cmd(f"leader {p} {1 + p % 3}")
        f.send_tcp(counter_lines(60, 5, "b"))
        wait_until(lambda: (lambda s: s["delivered"] == s["taken"] == 1200 or s)(fwd_stats(f)),
                   "all 1200 records acknowledged", 60)
        wait_until(expect_counters([c], "b", 60, 20), "60 counters at exactly 20", 30)
        s = fwd_stats(f)
        assert s["failed"] == s["dropped"] == 0, s

    # Cluster unreachable with a 16 KiB local buffer and on_full=drop: the overflow is
    # dropped and counted; what was taken is either delivered or counted as dropped, and
    # the consumer counts exactly what was delivered.
    with MockCluster(MOCK, partitions=2) as mc, consumer(SLUICED, mc) as c, \
            forwarder(SLUICED, mc, "--kafka-buffer", "16K", "--kafka-batch", "4K") as f:
        for b in (1, 2, 3):
            mc.cmd(f"down {b}")
        for k in range(0, 4000, 250):  # many connections -> many batches
            f.send_tcp("".join(f"kt.d.{i % 40}:1|c\n" for i in range(k, k + 250)))
        wait_until(lambda: (lambda s: s["dropped"] > 0 or s)(fwd_stats(f)), "drops counted", 10)
        for b in (1, 2, 3):
            mc.cmd(f"up {b}")
        wait_until(lambda: (lambda s: s["delivered"] + s["dropped"] == s["taken"] == 4000
                            or s)(fwd_stats(f)), "taken == delivered + dropped", 60)
        s = fwd_stats(f)
        wait_until(lambda: (lambda t: t == s["delivered"] or t)(
            sum(series_totals([c], "kt_d_").values())),
            f"consumer counts exactly the {s['delivered']} delivered records", 30)
    scenario_backpressure()


def scenario_backpressure():
    """Cluster unreachable with on_full=backpressure: the TCP listener waits instead of
    dropping; once brokers return, every record is delivered and counted exactly once."""
    with MockCluster(MOCK, partitions=2) as mc, consumer(SLUICED, mc) as c, \
            forwarder(SLUICED, mc, "--kafka-buffer", "16K", "--kafka-batch", "4K",
                      "--kafka-on-full", "backpressure") as f:
        for b in (1, 2, 3):
            mc.cmd(f"down {b}")

        def send():
            for k in range(0, 4000, 250):
                f.send_tcp("".join(f"kt.p.{i % 40}:1|c\n" for i in range(k, k + 250)))
        t = threading.Thread(target=send)
        t.start()
        wait_until(lambda: f.metrics()["sluice_kafka_forward_full_waits_total"] > 0
                   or "no waits", "the listener waiting for buffer room", 20)
        assert fwd_stats(f)["dropped"] == 0
        for b in (1, 2, 3):
            mc.cmd(f"up {b}")
        t.join(timeout=60)
        assert not t.is_alive(), "sender still blocked after brokers came back"
        wait_until(lambda: (lambda s: s["delivered"] == s["taken"] == 4000 and s["dropped"] == 0
                            or s)(fwd_stats(f)), "4000 delivered, none dropped", 60)
        wait_until(expect_counters([c], "p", 40, 100), "40 counters at exactly 100", 30)


def scenario_rebalance():
    with MockCluster(MOCK, partitions=6) as mc, forwarder(SLUICED, mc) as f:
        c1 = consumer(SLUICED, mc).start()
        c2 = c3 = None
        try:
            # Phase 1: a second node joins while records flow.
            stop = threading.Event()
            sent = [0]

            def pump():
                while not stop.is_set() and sent[0] < 100:
                    f.send_tcp(counter_lines(40, 1, "r"))
                    sent[0] += 1
                    time.sleep(0.1)
            t = threading.Thread(target=pump)
            t.start()
            # The group's first assignment takes ~3 s; join only once node 1 owns every
            # partition and is counting, so the join really revokes partitions in use.
            wait_until(lambda: (lambda m: m["sluice_kafka_consume_partitions_assigned"] == 6
                                and sum(v for k, v in m.items() if k.startswith("kt_r_")) > 0
                                or "not yet")(c1.metrics()), "node 1 owns all and counts", 20)
            c2 = consumer(SLUICED, mc).start()
            t.join(timeout=60)
            stop.set()
            wait_until(expect_counters([c1, c2], "r", 40, sent[0]),
                       f"40 counters at exactly {sent[0]} over both nodes", 60)
            n1 = c1.metrics()["sluice_kafka_consume_partitions_assigned"]
            n2 = c2.metrics()["sluice_kafka_consume_partitions_assigned"]
            assert n1 + n2 == 6 and n1 > 0 and n2 > 0, (n1, n2)

            # Phase 2: kill -9 a node once its work is committed; the other takes over its
            # partitions from the committed offsets and counts the new records once.
            wait_until(lambda: c1.metrics()["sluice_kafka_consume_uncommitted_partitions"] == 0
                       or "uncommitted", "node 1 committed", 20)
            before = series_totals([c1], "kt_r_")
            c1.proc.send_signal(signal.SIGKILL)
            c1.proc.wait(timeout=10)
            for _ in range(10):
                f.send_tcp(counter_lines(40, 1, "r"))

            def exact():
                t = series_totals([c2], "kt_r_")
                for k, v in before.items():
                    t[k] = t.get(k, 0) + v
                bad = {k: v for k, v in t.items() if v != sent[0] + 10}
                return True if len(t) == 40 and not bad else f"{len(t)} series; wrong {bad}"
            wait_until(exact, "every record counted once after kill -9", 60)
            assert c2.metrics()["sluice_kafka_consume_partitions_assigned"] == 6

            # Phase 3: kill -9 mid-stream, with records the victim has counted but not yet
            # committed. One series per partition (plain StatsD values produced straight to
            # a partition), so per-partition offsets translate into counts.
            wait_until(lambda: (lambda m: m["sluice_kafka_consume_uncommitted_partitions"] == 0
                                and m["sluice_kafka_consume_lag_messages"] == 0
                                or "busy")(c2.metrics()), "node 2 idle and committed", 20)
            start = mc.committed("sluice")  # offsets where the per-partition series begin
            c3 = consumer(SLUICED, mc).start()
            wait_until(lambda: (c2.metrics()["sluice_kafka_consume_partitions_assigned"]
                                + c3.metrics()["sluice_kafka_consume_partitions_assigned"] == 6
                                and c3.metrics()["sluice_kafka_consume_partitions_assigned"] > 0)
                       or "rebalancing", "node 3 sharing the partitions", 30)
            sent_p = [0] * 6

            def pump_partitions(seconds):
                end = time.time() + seconds
                while time.time() < end:
                    for p in range(6):
                        mc.produce(f"kt.k.{p}:1|c", partition=p)
                        sent_p[p] += 1
                    time.sleep(0.02)
            pump_partitions(3)
            own2 = {int(k[len("kt_k_"):].split("_")[0]) for k in c2.metrics() if k.startswith("kt_k_")}
            own3 = {int(k[len("kt_k_"):].split("_")[0]) for k in c3.metrics() if k.startswith("kt_k_")}
            assert own2 and own3 and not own2 & own3 and own2 | own3 == set(range(6)), (own2, own3)
            unc = c2.metrics()["sluice_kafka_consume_uncommitted_partitions"]
            c2.proc.send_signal(signal.SIGKILL)
            c2.proc.wait(timeout=10)
            killed = mc.committed("sluice")  # what the dead node had made durable
            pump_partitions(2)
            mc.cmd("flush")
            want = {}
            for p in range(6):
                done_by_victim = killed[p] - start[p] if p in own2 else 0
                want[f"kt_k_{p}_total"] = sent_p[p] - done_by_victim

            def exact3():
                m = c3.metrics()
                got = {k: m.get(k) for k in want}
                return True if got == want else f"got {got} want {want}"
            wait_until(exact3, "node 3 counts exactly what the killed node had not committed", 60)
            print(f"     kill -9 mid-stream: victim had {int(unc)} partitions with uncommitted "
                  f"records and had committed {sum(killed[p] - start[p] for p in own2)} of the "
                  f"{sum(sent_p[p] for p in own2)} messages sent to its partitions; the "
                  f"survivor counted the rest")
        finally:
            for n in (c1, c2, c3):
                if n:
                    n.stop()
                    n.tmp.cleanup()


SCENARIOS = {"e2e": scenario_e2e, "broker_failure": scenario_broker_failure,
             "rebalance": scenario_rebalance}

if __name__ == "__main__":
    t0 = time.time()
    try:
        SCENARIOS[SCENARIO]()
    except Exception as e:  # noqa: BLE001
        print(f"FAIL kafka_{SCENARIO}: {e}")
        sys.exit(1)
    print(f"ok   kafka_{SCENARIO} ({time.time() - t0:.1f}s)")
