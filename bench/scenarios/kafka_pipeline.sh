#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kafka_pipeline: StatsD -> forwarding sluiced -> Kafka (librdkafka mock cluster, 3 brokers
# on loopback) -> consuming sluiced; records/s produced and consumed end to end with
# per-stage CPU, and a 1/2/3 consumer-node scaling run (records per CPU-second per node).
# Writes $BUILD/bench/kafka_pipeline.json (BENCH.md format). Needs a build with Kafka
# (librdkafka-dev; the mock-cluster helper is built with it).
#   BUILD=build bench/scenarios/kafka_pipeline.sh
# Knobs: KAFKA_BENCH_RECORDS (2000000), KAFKA_BENCH_SERIES (10000), KAFKA_BENCH_RUNS (3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
if [ ! -x "$build/tools/sluiced" ] || [ ! -x "$build/tests/integration/kafka_mock_cluster" ]; then
    echo "kafka_pipeline: $build has no sluiced or kafka_mock_cluster (build with librdkafka-dev)" >&2
    exit 1
fi
exec /usr/bin/python3 "$root/bench/kafka_pipeline.py" "$build" "$build/bench/kafka_pipeline.json"
