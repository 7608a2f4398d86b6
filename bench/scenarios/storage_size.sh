#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# storage_size: bench/bench_storage_size.c (TSBS-like data generated in the benchmark itself;
# Prometheus 2.42 measured on identical data in the same run through promtool) writes the
# BENCH.md JSON.
set -euo pipefail
: "${SLUICE_BUILD:?}" "${SLUICE_BENCH_OUT:?}"
exec "$SLUICE_BUILD/bench/bench_storage_size" "$SLUICE_BENCH_OUT/storage_size.json"
