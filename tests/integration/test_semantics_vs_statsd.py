#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Differential test: the same StatsD traffic into the real sluiced and into Etsy statsd
(the reference implementation, run with Node.js) with identical flush intervals; flushed
counters, gauges, timer count/sum/min/max and set counts must agree exactly and timer
percentiles within the DDSketch's 1% bound. The comparison lives in
bench/lib/semantics_diff.py (shared with `make bench BENCH=semantics`).

Etsy statsd is a benchmark peer, not a test dependency: when node or the statsd package is
missing (bench/run.sh installs it into build/bench/peers, or set SLUICE_STATSD_DIR) the
test exits 77, which meson reports as SKIP.

usage: test_semantics_vs_statsd.py PATH/TO/sluiced
"""
import os
import shutil
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))

SKIP = 77


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    statsd_dir = os.environ.get("SLUICE_STATSD_DIR") or os.path.join(
        ROOT, "build", "bench", "peers", "node_modules", "statsd")
    if not shutil.which("node") or not os.path.exists(os.path.join(statsd_dir, "stats.js")):
        print(f"SKIP: node or Etsy statsd missing (looked in {statsd_dir}; "
              "`make bench BENCH=semantics` installs it)")
        return SKIP
    import benchlib as bl
    import semantics_diff as sdiff
    interval = 2
    with bl.Sluiced(flush=f"{interval}s", binary=os.path.abspath(sys.argv[1])) as s, \
            bl.EtsyStatsd(flush_ms=interval * 1000, full=True, statsd_dir=statsd_dir) as d:
        bad, checks = sdiff.run(s, d, interval, log=print)
    for cat, c in sorted(checks.items()):
        print(f"{cat}: {c['checked']} compared, {c['failed']} mismatches, "
              f"max relative difference {c['max_rel_err']:.3g}")
    for k in sdiff.KNOWN_DIFFERENCES:
        print("known difference: " + k)
    for b in bad:
        print("MISMATCH " + b)
    if not checks:
        print("FAIL: nothing was compared")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
