# SPDX-License-Identifier: Apache-2.0
"""A Kafka mock cluster (tests/integration/kafka_mock_cluster) driven over its stdin, and
helpers to start forwarding and consuming sluiced nodes against it. Used by test_kafka.py
and bench/scenarios/kafka_pipeline.sh. Every process started here is stopped by its PID,
and every wait is bounded in time."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluiced_harness import Sluiced  # noqa: E402


class MockCluster:
    def __init__(self, binary, brokers=3, partitions=6, topic="sluice"):
        self.topic = topic
        self.proc = subprocess.Popen(
            [binary, "--brokers", str(brokers), "--partitions", str(partitions),
             "--topic", topic],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line.startswith("bootstrap="):
            self.proc.kill()
            raise RuntimeError("mock cluster did not start: %r" % line)
        self.bootstrap = line.strip().split("=", 1)[1]

    def cmd(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply != "ok":
            raise AssertionError(f"mock cluster: {text!r} -> {reply!r}")

    def committed(self, group):
        """{partition: committed offset} of @group (negative: none)."""
        self.proc.stdin.write(f"committed {group}\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if not reply or reply[0] != "ok":
            raise AssertionError(f"mock cluster: committed {group} -> {reply!r}")
        return {int(p): int(o) for p, o in (x.split(":") for x in reply[1:])}

    def produce(self, value, partition=-1):
        self.cmd(f"produce {partition} " + value.replace("\n", "\\n"))

    def pid(self):
        return self.proc.pid

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Short session timeouts so a killed node's partitions move within seconds, not 45 s.
CONSUMER_PROPS = ["--set", "kafka.rdkafka.session.timeout.ms=6000",
                  "--set", "kafka.rdkafka.heartbeat.interval.ms=500"]


def forwarder(sluiced, cluster, *extra, flush="1s"):
    return Sluiced(sluiced, "--kafka-role", "forward", "--kafka-brokers", cluster.bootstrap,
                   "--kafka-topic", cluster.topic, "--shards", "1", *extra, flush=flush)


def consumer(sluiced, cluster, *extra, flush="1s", group="sluice"):
    return Sluiced(sluiced, "--kafka-role", "consume", "--kafka-brokers", cluster.bootstrap,
                   "--kafka-topic", cluster.topic, "--kafka-group", group, "--tcp", "false",
                   "--expire-intervals", "100000",  # a slow failure still shows the values
                   *CONSUMER_PROPS, *extra, flush=flush)
