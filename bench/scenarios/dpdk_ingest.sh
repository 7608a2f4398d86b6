#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dpdk_ingest: the same StatsD traffic through DPDK net_pcap replay and through the socket
# path (udp_blast -> io_uring listener), plus the net_null polling loop as the upper bound.
# Needs a build with DPDK (libdpdk-dev). Writes $BUILD/bench/dpdk_ingest.json (BENCH.md).
# usage: bench/scenarios/dpdk_ingest.sh [BUILD_DIR]   (default: $BUILD or build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${BUILD:-build}}
if ! grep -q '#define SL_HAVE_DPDK 1' "$build/sl_config.h" 2>/dev/null; then
    echo "dpdk_ingest: skipped, $build was built without DPDK" >&2
    exit 77
fi
meson compile -C "$build" tools/sluiced bench/udp_blast >/dev/null
exec /usr/bin/python3 "$here/dpdk_ingest.py" "$build"
