#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""statsd_tcp: newline-delimited StatsD over TCP, 1 and 100 connections, sluiced and Etsy
statsd in the same run, at the sender's full rate.

TCP never loses lines (sluiced pushes back on its readers when shards are behind), so the
figures are counted lines per wall second and per daemon CPU-second. Counting as in
statsd_udp.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import benchlib as bl  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SERIES = 10000
CONNS = (1, 100)
STATSD_CAP = 2e6


def main():
    systems = [bl.Sluiced, bl.EtsyStatsd]
    prog = bl.Progress("statsd_tcp", len(CONNS) * len(systems) * RUNS)
    results, raw = [], []
    for nc in CONNS:
        per = {}
        for cls in systems:
            runs = []
            for r in range(RUNS):
                prog.step(f"{cls.system} connections={nc} run {r + 1}/{RUNS}")
                with cls() as d:
                    # statsd reads far slower than the kernel buffers fill: cap its
                    # load so its backlog drains within the bounded wait.
                    cap = int(3e8) if cls is bl.Sluiced else int(STATSD_CAP)
                    m = bl.measure(d, drain_timeout=90, per_busy_second=True, proto="tcp",
                                   connections=nc, series=SERIES, duration=SECONDS,
                                   max_lines=cap)
                m.update(system=cls.system, connections=nc, run=r + 1)
                raw.append(m)
                runs.append(m)
                bl.log(f"  {cls.system} conns={nc}: sent={m['sent']:.0f} "
                       f"counted={m['counted']:.0f} per_s={m['counted_per_s']:.3g} "
                       f"cpu={m['daemon_cpu_s']:.2f}s per_cpu_s={m['counted_per_cpu_s']:.3g}")
            per[cls.system] = runs
            for metric, unit, key in (
                    ("counted_lines_per_s", "lines/s", "counted_per_s"),
                    ("counted_lines_per_cpu_s", "lines/s", "counted_per_cpu_s"),
                    ("loss_pct", "%", "loss_pct"),
                    ("daemon_cpu_s", "s", "daemon_cpu_s"),
                    ("sender_cpu_s", "s", "sender_cpu_s"),
                    ("rss_bytes", "bytes", "rss_bytes")):
                extra = {"per": "daemon CPU second"} if key == "counted_per_cpu_s" else {}
                results.append(bl.row(cls.system, metric, unit, [x[key] for x in runs],
                                      connections=nc, **extra))
        for key, metric in (("counted_per_s", "ratio_counted_lines_per_s"),
                            ("counted_per_cpu_s", "ratio_counted_lines_per_cpu_s")):
            s = sorted(x[key] for x in per["sluice"])
            p = sorted(x[key] for x in per[bl.STATSD_SYSTEM])
            ratios = [a / b for a, b in zip(s, p) if b > 0]
            if ratios:
                results.append(bl.row("sluice/" + bl.STATSD_SYSTEM, metric, "x", ratios,
                                      connections=nc, pairing="runs sorted by value"))
    prog.done()
    bl.write_result("statsd_tcp", {"series": SERIES, "seconds": SECONDS, "runs": RUNS,
                                   "rate": "sender maximum", "flush_interval_s": 1,
                                   "transport": "tcp", "target": "127.0.0.1",
                                   "statsd_max_lines": STATSD_CAP,
                                   "counted_lines_per_s": "counted / (load start to last "
                                                          "line counted; statsd: to the "
                                                          "flush that counted it, 1 s grain)"},
                    results, {"raw_runs": raw})


if __name__ == "__main__":
    main()
