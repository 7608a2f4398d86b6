#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""statsd_sweep: offered UDP load from 30k lines/s (low enough for Etsy statsd to keep up)
up to the sender's maximum, for 1-line and ~40-line datagrams, 10k and 100k series, into
sluiced and Etsy statsd (fresh daemon per point). Each point reports offered and counted
lines/s, loss % (split into socket loss and ring drops for sluice), daemon CPU and counted
lines per CPU-second; per system and shape the result is the highest offered rate with
< 0.1% loss (`max_lossless_lines_per_s`).

Budget: the whole sweep must stay near 10 minutes on a 2-core machine, so every point is
one run of SECONDS, and a system's curve stops climbing once it loses more than 30% (higher
offered rates only lose more). The last point of each curve is the sender at full speed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import benchlib as bl  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SWEEP_SECONDS", "3"))
# 40-line datagrams get points between 3 M lines/s and the sender's maximum (20-27 M):
# sluice's knee lies there, and without them its highest lossless rate read as 3 M.
RATES = {40: [3e4, 1e5, 3e5, 1e6, 3e6, 6e6, 1e7, 0], 1: [3e4, 1e5, 3e5, 1e6, 0]}
SERIES = (10000, 100000)
STOP_LOSS_PCT = 30.0
LOSSLESS_PCT = 0.1


def main():
    systems = [bl.Sluiced, bl.EtsyStatsd]
    total = sum(len(r) for r in RATES.values()) * len(SERIES) * len(systems)
    prog = bl.Progress("statsd_sweep", total)
    results, curve = [], []
    for lpd, rates in RATES.items():
        for series in SERIES:
            for cls in systems:
                best = 0.0
                stopped = False
                for rate in rates:
                    label = "max" if rate == 0 else f"{rate:.0e}"
                    prog.step(f"{cls.system} lpd={lpd} series={series} rate={label}")
                    if stopped:
                        continue
                    with cls() as d:
                        m = bl.measure(d, lines_per_datagram=lpd, series=series, rate=rate,
                                       duration=SECONDS, max_lines=int(3e8))
                    pt = {"system": cls.system, "lines_per_datagram": lpd, "series": series,
                          "target_rate": rate, "offered_per_s": m["offered_per_s"],
                          "counted_per_s": m["counted_per_s"], "loss_pct": m["loss_pct"],
                          "socket_loss_pct": m["socket_loss_pct"],
                          "ring_drop_pct": m["ring_drop_pct"],
                          "daemon_cpu_s": m["daemon_cpu_s"],
                          "counted_per_cpu_s": m["counted_per_cpu_s"],
                          "sender_cpu_s": m["sender_cpu_s"], "rss_bytes": m["rss_bytes"]}
                    curve.append(pt)
                    bl.log(f"  {cls.system} lpd={lpd} series={series} "
                           f"offered={m['offered_per_s']:.3g}/s loss={m['loss_pct']:.2f}% "
                           f"(socket {m['socket_loss_pct']:.2f}%, ring {m['ring_drop_pct']:.2f}%) "
                           f"per_cpu_s={m['counted_per_cpu_s']:.3g}")
                    if m["loss_pct"] < LOSSLESS_PCT:
                        best = max(best, m["offered_per_s"])
                    if m["loss_pct"] > STOP_LOSS_PCT:
                        stopped = True
                results.append(bl.row(cls.system, "max_lossless_lines_per_s", "lines/s",
                                      [best], lines_per_datagram=lpd, series=series,
                                      loss_below_pct=LOSSLESS_PCT))
                for pt in curve:
                    if (pt["system"], pt["lines_per_datagram"], pt["series"]) == \
                            (cls.system, lpd, series):
                        results.append(bl.row(
                            cls.system, "curve_point", "lines/s", [pt["counted_per_s"]],
                            lines_per_datagram=lpd, series=series,
                            offered_lines_per_s=round(pt["offered_per_s"]),
                            loss_pct=round(pt["loss_pct"], 4),
                            counted_lines_per_cpu_s=round(pt["counted_per_cpu_s"])))
    prog.done()
    bl.write_result("statsd_sweep", {"seconds_per_point": SECONDS, "runs": 1,
                                     "rates": {str(k): v for k, v in RATES.items()},
                                     "series": list(SERIES), "flush_interval_s": 1,
                                     "stop_above_loss_pct": STOP_LOSS_PCT,
                                     "transport": "udp", "target": "127.0.0.1",
                                     "socket_buffers": bl.socket_buffers()},
                    results, {"curve": curve})


if __name__ == "__main__":
    main()
