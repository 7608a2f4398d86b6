#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# storage_rw: bench/bench_storage_rw.c (TSBS-like data generated in the benchmark itself)
# writes the BENCH.md JSON.
set -euo pipefail
: "${SLUICE_BUILD:?}" "${SLUICE_BENCH_OUT:?}"
exec "$SLUICE_BUILD/bench/bench_storage_rw" "$SLUICE_BENCH_OUT/storage_rw.json"
