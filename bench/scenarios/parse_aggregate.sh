#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# parse_aggregate: the in-process ingest benchmark (bench/bench_parse_aggregate.c), one
# shard, 100k series, ~40 lines per 1400-byte buffer; it writes the BENCH.md JSON itself.
set -euo pipefail
: "${SLUICE_BUILD:?}" "${SLUICE_BENCH_OUT:?}"
exec "$SLUICE_BUILD/bench/bench_parse_aggregate" --series 100000 --runs "${BENCH_RUNS:-5}" \
    --lines 1e7 --json "$SLUICE_BENCH_OUT/parse_aggregate.json"
