#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""statsd_udp: sluiced and Etsy statsd in the same run, UDP at the sender's full rate.

For 1-line and ~40-line datagrams, each system gets RUNS fresh daemons; each run offers
SECONDS of load from sluice-loadgen and reports lines sent, lines COUNTED by the daemon
(sluice: lines parsed minus ring-full drops from its self-metrics; statsd: its own
statsd.metrics_received, totalled over flushes by bench/peers/bench_backend.js), loss %,
daemon CPU seconds (/proc/PID/stat utime+stime over load and drain), counted lines per
daemon CPU-second, peak RSS, and the sender's CPU seconds. Both systems flush every 1 s.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import benchlib as bl  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
SERIES = 10000
SHAPES = (1, 40)


def main():
    # (system, flush interval s, factory). The comparison uses identical 1 s flushes; the
    # extra sluice row at its default 10 s shows what the per-second flush costs it.
    systems = [("sluice", 1, lambda: bl.Sluiced(flush="1s")),
               (bl.STATSD_SYSTEM, 1, lambda: bl.EtsyStatsd(flush_ms=1000)),
               ("sluice", 10, lambda: bl.Sluiced(flush="10s"))]
    prog = bl.Progress("statsd_udp", len(SHAPES) * len(systems) * RUNS)
    results, raw = [], []
    for lpd in SHAPES:
        per = {}
        for name, flush_s, make in systems:
            runs = []
            for r in range(RUNS):
                prog.step(f"{name} flush={flush_s}s lines_per_datagram={lpd} "
                          f"run {r + 1}/{RUNS}")
                with make() as d:
                    m = bl.measure(d, lines_per_datagram=lpd, series=SERIES,
                                   duration=SECONDS, max_lines=int(3e8))
                m.update(system=name, lines_per_datagram=lpd, run=r + 1,
                         flush_interval_s=flush_s)
                raw.append(m)
                runs.append(m)
                bl.log(f"  {name} flush={flush_s}s lpd={lpd}: sent={m['sent']:.0f} "
                       f"counted={m['counted']:.0f} loss={m['loss_pct']:.2f}% "
                       f"cpu={m['daemon_cpu_s']:.2f}s per_cpu_s={m['counted_per_cpu_s']:.3g}")
            per[(name, flush_s)] = runs
            for metric, unit, key in (
                    ("counted_lines_per_cpu_s", "lines/s", "counted_per_cpu_s"),
                    ("counted_lines_per_s", "lines/s", "counted_per_s"),
                    ("offered_lines_per_s", "lines/s", "offered_per_s"),
                    ("lines_sent", "lines", "sent"),
                    ("lines_counted", "lines", "counted"),
                    ("loss_pct", "%", "loss_pct"),
                    ("socket_loss_pct", "%", "socket_loss_pct"),
                    ("ring_drop_pct", "%", "ring_drop_pct"),
                    ("daemon_cpu_s", "s", "daemon_cpu_s"),
                    ("sender_cpu_s", "s", "sender_cpu_s"),
                    ("rss_bytes", "bytes", "rss_bytes")):
                extra = {"per": "daemon CPU second"} if key == "counted_per_cpu_s" else {}
                results.append(bl.row(name, metric, unit, [x[key] for x in runs],
                                      lines_per_datagram=lpd, flush_interval_s=flush_s,
                                      **extra))
        s = [x["counted_per_cpu_s"] for x in per[("sluice", 1)]]
        p = [x["counted_per_cpu_s"] for x in per[(bl.STATSD_SYSTEM, 1)]]
        ratios = [a / b for a, b in zip(sorted(s), sorted(p)) if b > 0]
        if ratios:
            results.append(bl.row("sluice/" + bl.STATSD_SYSTEM, "ratio_counted_lines_per_cpu_s",
                                  "x", ratios, lines_per_datagram=lpd, flush_interval_s=1,
                                  per="daemon CPU second", pairing="runs sorted by value"))
    prog.done()
    bl.write_result("statsd_udp", {"series": SERIES, "seconds": SECONDS, "runs": RUNS,
                                   "rate": "sender maximum", "flush_interval_s": "1 (both); sluice also 10",
                                   "transport": "udp", "target": "127.0.0.1",
                                   "socket_buffers": bl.socket_buffers(),
                                   "counted": "sluice: lines_parsed - ring_full_drops; "
                                              "statsd: statsd.metrics_received"},
                    results, {"raw_runs": raw})


if __name__ == "__main__":
    main()
