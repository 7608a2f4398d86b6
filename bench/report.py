#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Render every build/bench/<bench>.json (BENCH.md format) into build/bench/report.md with
SVG plots drawn by gnuplot, and, with --readme FILE, rewrite the "Performance" section of
the README between <!-- perf:begin --> and <!-- perf:end --> from the same data.

Benchmarks this script knows get a headline, an explanation and plots; any other JSON in
the directory still gets its table, so a new scenario shows up without touching this file.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

KNOWN = ["parse_aggregate", "statsd_udp", "statsd_tcp", "statsd_sweep", "semantics",
         "storage_size", "storage_rw", "query_latency", "dpdk_ingest", "kafka_pipeline"]

ABOUT = {
    "parse_aggregate": "In-process ingest without the network: the generated mix (100k "
    "series, c/g/ms/s, half with DogStatsD tags, ~40 lines per 1400-byte buffer) through "
    "`sl_statsd_feed` into a real shard set with one shard. `parse_only` is one thread "
    "splitting, parsing, building keys and hashing; `end_to_end` adds the ring copy and the "
    "shard (series probe + aggregators) on a second thread, reported per wall second and "
    "per CPU-second of both threads, in steady state: each run first passes over the corpus "
    "once (every series created, key cache grown), and that pass is reported apart as "
    "`cold_start`. `bytes_per_series` is the shard's memory self-metric "
    "after the final flush divided by the series it holds.",
    "statsd_udp": "sluiced and Etsy statsd in the same run, fresh daemon per run, UDP from "
    "`sluice-loadgen` at its full rate. *Counted* lines are the daemon's own count: sluice "
    "`lines_parsed - ring_full_drops` from its self-metrics, statsd `statsd.metrics_received` "
    "summed over its flushes. Daemon CPU is utime+stime from /proc/PID/stat over load and "
    "drain. Both flush every second (statsd only counts at a flush); a third row runs "
    "sluice at its default 10 s flush. Sender and daemons share the machine's cores.",
    "statsd_tcp": "Newline-delimited TCP, 1 and 100 connections, at the sender's full rate. "
    "TCP is lossless; lines/s is counted lines over the time from load start until the "
    "daemon had counted the last line (statsd: the flush that counted it, 1 s grain).",
    "statsd_sweep": "Offered UDP load from 30k lines/s to the sender's maximum, one run "
    "per point, fresh daemon per point; a curve stops once a system loses > 30%. "
    "`max_lossless_lines_per_s` is the highest offered rate with < 0.1% loss.",
    "semantics": "The same traffic (counters with sample rates, gauge deltas, 2000-value "
    "timers from four distributions, sets) into sluiced and Etsy statsd with identical "
    "flush intervals over TCP; counters, gauges, timer count/sum/min/max and set sizes must "
    "agree exactly and percentiles within the sketch's 1%.",
}


def fmt(v, unit=""):
    if isinstance(v, str):
        return v
    a = abs(v)
    if unit in ("%", "x", "ratio"):
        return f"{v:.3g}" if a < 1000 else f"{v:.0f}"
    if unit == "bytes" and a >= 2**20:
        return f"{v / 2**20:.1f} MiB"
    if a >= 1e9:
        return f"{v / 1e9:.3g} G"
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 1e4:
        return f"{v / 1e3:.3g} k"
    if a == int(a):
        return f"{int(v)}"
    return f"{v:.3g}"


def pstr(p):
    return ", ".join(f"{k}={v}" for k, v in p.items()) if p else ""


def load(out):
    docs = {}
    for path in glob.glob(os.path.join(out, "*.json")):
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and "bench" in d and "results" in d:
            docs[d["bench"]] = d
    order = [b for b in KNOWN if b in docs] + sorted(b for b in docs if b not in KNOWN)
    return [docs[b] for b in order]


def find(doc, system=None, metric=None, **params):
    for r in (doc or {}).get("results", []):
        if system and not r["system"].startswith(system):
            continue
        if metric and r["metric"] != metric:
            continue
        if all(r.get("params", {}).get(k) == v for k, v in params.items()):
            return r
    return None

# ---- plots -----------------------------------------------------------------------------


def gnuplot(script, out_svg):
    if not shutil.which("gnuplot"):
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    if r.returncode != 0:
        sys.stderr.write(f"gnuplot failed for {out_svg}: {r.stderr[-500:]}\n")
        return False
    return os.path.exists(out_svg)


def sweep_plots(doc, out):
    curve = doc.get("curve", [])
    if not curve:
        return []
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    made = []
    for lpd in sorted({p["lines_per_datagram"] for p in curve}):
        series_sets = []
        for system in sorted({p["system"] for p in curve}):
            for series in sorted({p["series"] for p in curve}):
                pts = sorted((p for p in curve if p["system"] == system and
                              p["series"] == series and p["lines_per_datagram"] == lpd),
                             key=lambda p: p["offered_per_s"])
                if not pts:
                    continue
                dat = os.path.join(pdir, f"sweep_{lpd}_{system}_{series}.dat")
                with open(dat, "w") as f:
                    f.write("# offered_per_s counted_per_s loss_pct counted_per_cpu_s\n")
                    for p in pts:
                        f.write(f"{p['offered_per_s']:.0f} {p['counted_per_s']:.0f} "
                                f"{max(p['loss_pct'], 0.001):.4f} "
                                f"{p['counted_per_cpu_s']:.0f}\n")
                series_sets.append((dat, f"{system} {series // 1000}k series"))
        for kind, col, ylab, fname in (
                ("throughput", 2, "counted lines/s", f"sweep_throughput_{lpd}.svg"),
                ("loss", 3, "loss % (log; 0 drawn as 0.001)", f"sweep_loss_{lpd}.svg")):
            svg = os.path.join(pdir, fname)
            plots = ", ".join(f"'{d}' using 1:{col} with linespoints title '{t}'"
                              for d, t in series_sets)
            if kind == "throughput":
                plots += ", x with lines dashtype 2 lc rgb '#999999' title 'offered = counted'"
            script = (f"set terminal svg size 760,440 dynamic font 'sans,11'\n"
                      f"set output '{svg}'\nset logscale x\nset logscale y\n"
                      f"set grid\nset key left top\n"
                      f"set title 'UDP, {lpd} line(s) per datagram: {kind} vs offered load'\n"
                      f"set xlabel 'offered lines/s'\nset ylabel '{ylab}'\n"
                      f"set format x '%.0s%c'\nset format y '%.0s%c'\n"
                      + ("set format y '%g'\n" if kind == "loss" else "")
                      + f"plot {plots}\n")
            if gnuplot(script, svg):
                made.append((f"UDP {lpd}-line datagrams: {kind} vs offered load",
                             os.path.relpath(svg, out)))
    return made


def bar_plot(doc, out, metric, label_keys, title, ylab, fname, logy=False):
    rows = [r for r in doc.get("results", []) if r["metric"] == metric]
    if not rows:
        return []
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    systems = sorted({r["system"] for r in rows})
    groups = []
    for r in rows:
        g = " ".join(f"{k}={r['params'].get(k)}" for k in label_keys if k in r["params"])
        if g not in groups:
            groups.append(g)
    dat = os.path.join(pdir, fname.replace(".svg", ".dat"))
    with open(dat, "w") as f:
        f.write("group " + " ".join(s.replace(" ", "_") for s in systems) + "\n")
        for g in groups:
            vals = []
            for s in systems:
                r = next((r for r in rows if r["system"] == s and " ".join(
                    f"{k}={r['params'].get(k)}" for k in label_keys
                    if k in r["params"]) == g), None)
                vals.append(f"{r['median']:.6g}" if r else "NaN")
            f.write('"' + g + '" ' + " ".join(vals) + "\n")
    svg = os.path.join(pdir, fname)
    plots = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{s}'"
                      for i, s in enumerate(systems))
    script = (f"set terminal svg size 760,420 dynamic font 'sans,11'\nset output '{svg}'\n"
              f"set style data histograms\nset style histogram clustered gap 1\n"
              f"set style fill solid 0.8 border -1\nset grid ytics\nset key left top\n"
              + ("set logscale y\n" if logy else "set yrange [0:*]\n")
              + f"set format y '%.0s%c'\nset title '{title}'\nset ylabel '{ylab}'\n"
              f"plot {plots}\n")
    return [(title, os.path.relpath(svg, out))] if gnuplot(script, svg) else []

# ---- headline ----------------------------------------------------------------------------


def headline(docs):
    """(figure, measured, target, met) rows for the issue's numbers."""
    by = {d["bench"]: d for d in docs}
    rows = []

    def add(what, r, target, ok, extra=""):
        if r is None:
            return
        met = ok(r["median"])
        rows.append((what, fmt(r["median"], r["unit"]) + (" " + r["unit"] if r["unit"] not in
                     ("x",) else "×") + extra, target,
                     "—" if met is None else "yes" if met else "no"))

    pa = by.get("parse_aggregate")
    nser = (pa or {}).get("params", {}).get("series", 0)
    add(f"parse+aggregate in process, {nser // 1000}k series (end to end, per CPU-second)",
        find(pa, "sluice", "lines_per_cpu_s", stage="end_to_end"), "≥ 15 M lines/s/core",
        lambda v: v >= 15e6)
    add("parse+aggregate, cold first pass (series created, key cache grown)",
        find(pa, "sluice", "lines_per_cpu_s", stage="cold_start"), "(component)",
        lambda v: None)
    add("parse only, one thread (per CPU-second of the thread)",
        find(pa, "sluice", "lines_per_s", stage="parse_only", per="CPU second of the thread")
        or find(pa, "sluice", "lines_per_s", stage="parse_only"),
        "(component)", lambda v: None)
    add("memory per series (mix of c/g/ms/s)", find(pa, "sluice", "bytes_per_series"),
        "≤ 300 bytes per counter series", lambda v: v <= 300)
    udp = by.get("statsd_udp")
    for lpd, target in ((40, 10e6), (1, 1.0e6)):
        r = find(udp, "sluice", "counted_lines_per_cpu_s", lines_per_datagram=lpd,
                 flush_interval_s=1)
        loss = find(udp, "sluice", "loss_pct", lines_per_datagram=lpd, flush_interval_s=1)
        extra = f" (loss {loss['median']:.3g}%)" if loss else ""
        add(f"UDP {lpd}-line datagrams, counted lines per sluiced CPU-second", r,
            f"≥ {fmt(target)} lines/CPU-s" + (", < 0.1% loss" if lpd == 40 else ""),
            lambda v, t=target, lo=loss: v >= t and (lpd != 40 or (lo and lo["median"] < 0.1)),
            extra)
        r10 = find(udp, "sluice", "counted_lines_per_cpu_s", lines_per_datagram=lpd,
                   flush_interval_s=10)
        loss10 = find(udp, "sluice", "loss_pct", lines_per_datagram=lpd, flush_interval_s=10)
        add(f"UDP {lpd}-line datagrams, same with sluice's default 10 s flush", r10,
            "(shows the cost of 1 s flushes)", lambda v: None,
            f" (loss {loss10['median']:.3g}%)" if loss10 else "")
    add("sluice / Etsy statsd, counted lines per CPU-second, 40-line UDP",
        find(udp, "sluice/", "ratio_counted_lines_per_cpu_s", lines_per_datagram=40),
        "≥ 25×", lambda v: v >= 25)
    tcp = by.get("statsd_tcp")
    add("TCP, one connection, counted lines/s", find(tcp, "sluice", "counted_lines_per_s",
                                                      connections=1),
        "≥ 10 M lines/s", lambda v: v >= 10e6)
    add("TCP, 100 connections, counted lines/s", find(tcp, "sluice", "counted_lines_per_s",
                                                       connections=100),
        "(no target)", lambda v: None)
    sw = by.get("statsd_sweep")
    for lpd in (40, 1):
        for series in (10000, 100000):
            for sysname in ("sluice", "statsd"):
                r = find(sw, sysname, "max_lossless_lines_per_s", lines_per_datagram=lpd,
                         series=series)
                add(f"{sysname}: highest offered UDP rate with < 0.1% loss, {lpd}-line, "
                    f"{series // 1000}k series", r, "(report)", lambda v: None)
    sem = by.get("semantics")
    if sem:
        rows.append(("semantics vs Etsy statsd (differential)",
                     "agree" if sem.get("passed") else
                     f"{len(sem.get('mismatches', []))} mismatches",
                     "exact; percentiles within 1%", "yes" if sem.get("passed") else "no"))
    return rows


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def render(docs, out):
    lines = ["# sluice benchmark report", ""]
    if not docs:
        return "\n".join(lines + ["No results yet: run `make bench`."]) + "\n"
    m = docs[0]["machine"]
    s = docs[0]["sluice"]
    lines += [f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, "
              f"kernel {m['kernel']}. sluice {s['version']} ({s['commit']}, {s['build']} "
              f"build). Every load went to 127.0.0.1; sender, daemon and peer share the "
              f"same cores, so per-CPU-second figures are the comparable ones.", "",
              "Reproduce everything with `make bench`, one benchmark with "
              "`make bench BENCH=<name>`. Medians of the runs listed; min and max beside.",
              "", "## Headline", "",
              table(headline(docs), ["figure", "measured (median)", "target", "met"]), ""]
    for d in docs:
        b = d["bench"]
        la = d["machine"].get("loadavg_1m")
        lines += [f"## {b}", "", f"Run {d['when']}, commit {d['sluice']['commit']}"
                  + (f", machine load average {la} when it ended" if la is not None else "")
                  + f". Reproduce: `make bench BENCH={b}`.", ""]
        if b in ABOUT:
            lines += [ABOUT[b], ""]
        lines += ["Parameters: " + pstr(d.get("params", {})), ""]
        plots = []
        if b == "statsd_sweep":
            plots += sweep_plots(d, out)
        elif b == "statsd_udp":
            plots += bar_plot(d, out, "counted_lines_per_cpu_s",
                              ["lines_per_datagram", "flush_interval_s"],
                              "UDP: counted lines per daemon CPU-second", "lines/CPU-s",
                              "udp_per_cpu.svg", logy=True)
        elif b == "statsd_tcp":
            plots += bar_plot(d, out, "counted_lines_per_s", ["connections"],
                              "TCP: counted lines per second", "lines/s", "tcp_rate.svg",
                              logy=True)
        elif b == "storage_size":
            plots += bar_plot(d, out, "bytes_per_sample", ["dataset"], "bytes per sample",
                              "bytes", "storage_bytes_per_sample.svg")
        elif b == "query_latency":
            plots += bar_plot(d, out, "wall_ms_median", ["query"], "query latency, median",
                              "ms", "query_p50.svg", logy=True)
            plots += bar_plot(d, out, "wall_ms_p99", ["query"], "query latency, p99", "ms",
                              "query_p99.svg", logy=True)
        for title, rel in plots:
            lines += [f"![{title}]({rel})", ""]
        rows = [(r["system"], r["metric"], pstr(r.get("params", {})),
                 fmt(r["median"], r["unit"]), fmt(r["min"], r["unit"]),
                 fmt(r["max"], r["unit"]), r["runs"], r["unit"])
                for r in d["results"] if r["metric"] != "curve_point"]
        lines += [table(rows, ["system", "metric", "params", "median", "min", "max", "runs",
                               "unit"]), ""]
        if b == "statsd_sweep" and d.get("curve"):
            rows = [(p["system"], p["lines_per_datagram"], p["series"],
                     "max" if not p["target_rate"] else fmt(p["target_rate"]),
                     fmt(p["offered_per_s"]), fmt(p["counted_per_s"]),
                     f"{p['loss_pct']:.3g}", f"{p.get('socket_loss_pct', 0):.3g}",
                     f"{p.get('ring_drop_pct', 0):.3g}", fmt(p["counted_per_cpu_s"]),
                     f"{p['daemon_cpu_s']:.2f}", f"{p['sender_cpu_s']:.2f}")
                    for p in d["curve"]]
            lines += ["Curve points (lines/s):", "",
                      table(rows, ["system", "lines/datagram", "series", "target",
                                   "offered", "counted", "loss %", "socket loss %",
                                   "ring drop %", "counted/CPU-s",
                                   "daemon CPU s", "sender CPU s"]), ""]
        if b == "semantics":
            for k in d.get("known_differences", []):
                lines += [f"- Known difference: {k}"]
            for mm in d.get("mismatches", [])[:20]:
                lines += [f"- Mismatch: {mm}"]
            lines += [""]
    return "\n".join(lines) + "\n"


def readme_section(docs):
    if not docs:
        return ""
    m = docs[0]["machine"]
    when = max(d["when"] for d in docs)
    commit = ", ".join(sorted({d["sluice"]["commit"] for d in docs}))
    loads = ", ".join(str(d["machine"]["loadavg_1m"]) for d in docs
                      if "loadavg_1m" in d["machine"])
    out = ["## Performance", "",
           f"Measured by `make bench` on {when[:10]} (commit {commit}) on this machine: "
           f"{m['cpu']}, {m['cores']} cores (shared with other work while it ran), "
           f"{m['mem_gib']} GiB, Linux {m['kernel']}"
           + (f"; 1-minute load average {loads} (2 cores) at the end of each benchmark"
              if loads else "") + ". Medians of ≥ 3 runs unless the "
           "report says otherwise; the full report with plots, every run and how to "
           "reproduce each figure is written to `build/bench/report.md`. Etsy statsd "
           "(npm) ran in the same run on the same cores. When the load average is well "
           "above the core count, the daemons were descheduled for long stretches: "
           "wall-clock rates and loss are then pessimistic, and the per-CPU-second figures "
           "are the comparable ones.", "",
           table(headline(docs), ["figure", "measured (median)", "target", "met"]), ""]
    return "\n".join(out)


def update_readme(path, section):
    begin, end = "<!-- perf:begin -->", "<!-- perf:end -->"
    with open(path) as f:
        text = f.read()
    block = f"{begin}\n{section}{end}"
    if begin in text and end in text:
        a = text.index(begin)
        z = text.index(end) + len(end)
        text = text[:a] + block + text[z:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("SLUICE_BENCH_OUT", "build/bench"))
    ap.add_argument("--readme", help="rewrite the Performance section of this README")
    a = ap.parse_args()
    docs = load(a.out)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(render(docs, a.out))
    sys.stderr.write(f"wrote {os.path.join(a.out, 'report.md')}\n")
    if a.readme and docs:
        update_readme(a.readme, readme_section(docs))
        sys.stderr.write(f"updated the Performance section of {a.readme}\n")


if __name__ == "__main__":
    main()
