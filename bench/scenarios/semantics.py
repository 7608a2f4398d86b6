#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""semantics: the same traffic into sluiced and Etsy statsd with identical flush intervals;
flushed counters, gauges, timer count/sum/min/max and set counts must agree exactly and
timer percentiles within the sketch's 1% bound (bench/lib/semantics_diff.py). RUNS times
with fresh daemons; the JSON reports, per category, values checked, mismatches and the
largest relative difference. The same check runs as the integration test
tests/integration/test_semantics_vs_statsd.py.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import benchlib as bl  # noqa: E402
import semantics_diff as sdiff  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
INTERVAL_S = 2


def main():
    prog = bl.Progress("semantics", RUNS)
    per_cat = {}
    all_bad = []
    for r in range(RUNS):
        prog.step(f"run {r + 1}/{RUNS}")
        with bl.Sluiced(flush=f"{INTERVAL_S}s") as s, \
                bl.EtsyStatsd(flush_ms=INTERVAL_S * 1000, full=True) as d:
            bad, checks = sdiff.run(s, d, INTERVAL_S, log=bl.log)
        all_bad += [f"run {r + 1}: {b}" for b in bad]
        for cat, c in checks.items():
            per_cat.setdefault(cat, []).append(c)
        bl.log(f"  run {r + 1}: {sum(c['checked'] for c in checks.values())} values "
               f"compared, {len(bad)} mismatches")
    prog.done()
    results = []
    sysname = "sluice/" + bl.STATSD_SYSTEM
    for cat, runs in sorted(per_cat.items()):
        tol = sdiff.QUANTILE_TOL if cat == "timer_quantile" else 0.0
        results.append(bl.row(sysname, "values_compared", "values",
                              [c["checked"] for c in runs], category=cat))
        results.append(bl.row(sysname, "mismatches", "values", [c["failed"] for c in runs],
                              category=cat, tolerance_rel=tol))
        results.append(bl.row(sysname, "max_rel_diff", "ratio",
                              [c["max_rel_err"] for c in runs], category=cat))
    for b in all_bad[:50]:
        bl.log("  MISMATCH " + b)
    bl.write_result("semantics", {"flush_interval_s": INTERVAL_S, "runs": RUNS,
                                  "transport": "tcp", "timer_values": sdiff.TIMER_VALUES,
                                  "quantiles": list(sdiff.QUANTILES),
                                  "quantile_tolerance_rel": sdiff.QUANTILE_TOL},
                    results, {"mismatches": all_bad[:200], "passed": not all_bad,
                     "known_differences": sdiff.KNOWN_DIFFERENCES})
    return 0 if not all_bad else 1


if __name__ == "__main__":
    sys.exit(main())
