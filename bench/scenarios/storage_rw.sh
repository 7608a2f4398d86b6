#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# storage_rw: bench/bench_storage_rw.c (TSBS-like data generated in the benchmark itself)
# writes the BENCH.md JSON: write_samples_per_s and decode_samples_per_s per data set, and
# head_select_us, the CPU of one selective select over a head of 1 M series (matcher=eq:
# one series by `=`; matcher=eq_re: `=` plus a regex). SL_BENCH_RW_ONLY=head_select runs
# only that part.
set -euo pipefail
: "${SLUICE_BUILD:?}" "${SLUICE_BENCH_OUT:?}"
exec "$SLUICE_BUILD/bench/bench_storage_rw" "$SLUICE_BENCH_OUT/storage_rw.json"
