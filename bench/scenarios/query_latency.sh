#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# query_latency: PromQL latency and server CPU of sluiced vs Debian's Prometheus on the
# same 10,000 series (200 targets x 50 series, 10 s interval, 6 h), loaded into both
# through remote write from the same bytes (bench/gen_query_data). Writes
# build/bench/query_latency.json (format: BENCH.md). About 12 minutes on a loaded 2-core
# machine, most of it the 6 h range queries (10 timed runs each, per system).
#
#   bench/scenarios/query_latency.sh            release build in build/release
#   SL_BUILD=build/x SL_RUNS=5 bench/scenarios/query_latency.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${SL_BUILD:-build/release}
runs=${SL_RUNS:-10}

tools/deps.sh bench
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release -Dtests=disabled
fi
buildtype=$(meson introspect "$build" --buildoptions |
    /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')
if [ "$buildtype" != release ]; then
    echo "query_latency: $build is a $buildtype build; benchmarks need --buildtype=release" >&2
    exit 1
fi
meson compile -C "$build" sluiced gen_query_data
mkdir -p build/bench
exec /usr/bin/python3 bench/query_latency.py --sluiced "$build/tools/sluiced" \
    --gen "$build/bench/gen_query_data" --out build/bench/query_latency.json \
    --runs "$runs" --build "$buildtype"
