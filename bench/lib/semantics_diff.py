# SPDX-License-Identifier: Apache-2.0
"""Differential check of aggregation semantics: the same StatsD traffic into sluiced and
Etsy statsd with identical flush intervals, then compare what each flushed.

Exact: counters (with sample rates), gauges (set and +/- deltas), timer count, sum, min,
max, set distinct counts. Within 1% relative: timer percentiles, because sluice keeps a
DDSketch with 1% relative accuracy. The rank definitions differ (sluice floor(q*(n-1)),
statsd nearest rank values[round(q*n)-1]); with 2000 values per timer both pick the same
rank for p50/p90/p95/p99, so the only difference left is the sketch's bound.

All values are multiples of 1/4, so sums are exact in binary floating point whatever the
order. Traffic goes over TCP (lossless) in one connection per daemon, timed to fall inside
one flush interval of both daemons; the check proves that it did and retries otherwise.
Used by bench/scenarios/semantics.py and tests/integration/test_semantics_vs_statsd.py.
"""
import random
import socket
import time

QUANTILES = (0.5, 0.9, 0.95, 0.99)
# Where the two systems define a figure differently on purpose, the check compares the
# translated value and says so in every report.
KNOWN_DIFFERENCES = [
    "timer sum with a sample rate: sluice weighs each value by 1/rate (like its count and "
    "like statsd_exporter), Etsy statsd sums the raw values while weighting only the count; "
    "the check compares sluice's sum with statsd's sum / rate for sampled timers",
]
QUANTILE_TOL = 0.01
TIMER_VALUES = 2000


def make_traffic(prefix, seed=42):
    """StatsD lines plus the list of series names by kind. Order matters (gauge deltas)."""
    rnd = random.Random(seed)
    lines = []
    kinds = {"c": [], "g": [], "ms": [], "s": []}
    for i, (val, rate) in enumerate([(1, 1), (5, 1), (2, 0.5), (1, 0.1), (3.25, 1), (-2, 1)]):
        name = f"{prefix}.c{i}"
        kinds["c"].append((name, rate))
        for _ in range(1 + i * 37):
            lines.append(f"{name}:{val}|c" + (f"|@{rate}" if rate != 1 else ""))
    for i, ops in enumerate([["10"], ["10", "+5", "-3"], ["1.5", "-0.25", "+100"],
                             ["0", "+7"], ["-4"]]):
        name = f"{prefix}.g{i}"
        kinds["g"].append((name, 1))
        lines += [f"{name}:{op}|g" for op in ops]
    dists = [lambda: rnd.randint(1, 1000),
             lambda: round(rnd.expovariate(1 / 50.0) * 4) / 4 + 0.25,
             lambda: round(rnd.lognormvariate(3, 1) * 4) / 4 + 0.25,
             lambda: rnd.randint(100, 120) * 0.25]
    for i, d in enumerate(dists):
        name = f"{prefix}.t{i}"
        rate = 0.5 if i == 3 else 1
        kinds["ms"].append((name, rate))
        for _ in range(TIMER_VALUES):
            lines.append(f"{name}:{d()}|ms" + (f"|@{rate}" if rate != 1 else ""))
    for i, members in enumerate([10, 64, 97]):
        name = f"{prefix}.s{i}"
        kinds["s"].append((name, 1))
        for k in range(members * 3):
            lines.append(f"{name}:user{k % members}|s")
    # Interleave timers and counters as a real client would, keeping per-series order.
    rnd.shuffle(lines)
    order = {}
    for ln in lines:
        order.setdefault(ln.split(":", 1)[0], []).append(ln)
    pos = {k: 0 for k in order}
    out = []
    for ln in lines:
        k = ln.split(":", 1)[0]
        out.append(order[k][pos[k]])
        pos[k] += 1
    return out, kinds


def prom_name(statsd_name):
    return statsd_name.replace(".", "_")


def send_tcp(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


def _window_ok(t, dur, boundaries, margin=0.3):
    return all(not (t - margin <= b <= t + dur + margin) for b in boundaries)


def run(sluiced, statsd, interval_s, log=print, attempts=3):
    """Send one traffic set into both (already started, same flush interval); compare.
    @return (mismatches: list of str, checks: dict category -> {checked, failed, max_err})."""
    st = None
    deadline = time.time() + interval_s * 3 + 10
    while time.time() < deadline:  # statsd's first flush tells us its phase
        st = statsd.read_state()
        if st["flushes"] >= 1:
            break
        time.sleep(0.05)
    for attempt in range(attempts):
        prefix = f"sem{attempt}"
        lines, kinds = make_traffic(prefix, seed=42 + attempt)
        payload = ("\n".join(lines) + "\n").encode()
        # Find a start time where neither daemon flushes during the send.
        now = time.time()
        st = statsd.read_state()
        t = now + 0.2
        while True:
            sl_b = [(int(t / interval_s) + k) * interval_s for k in range(0, 3)]
            sd_b = [st["last_flush_ms"] / 1000 + k * interval_s for k in range(1, 6)]
            if _window_ok(t, 1.0, sl_b + sd_b):
                break
            t += 0.05
        time.sleep(max(0, t - time.time()))
        t0 = time.time()
        before = statsd.read_state()["flushes"]
        send_tcp(sluiced.port, payload)
        send_tcp(statsd.port, payload)
        t1 = time.time()
        if t1 - t0 > 1.0:
            log(f"semantics: send took {t1 - t0:.2f}s, retrying")
            continue
        # Wait for both to flush the interval that holds the data.
        next_sl = (int(t1 / interval_s) + 1) * interval_s
        wait_until = time.time() + interval_s * 3 + 5
        flush_rec = None
        while time.time() < wait_until:
            fl = [f for f in statsd.flushes()[before:] if f["metrics_received"] > 0]
            if fl and time.time() > next_sl + 0.5:
                flush_rec = fl
                break
            time.sleep(0.1)
        if not flush_rec:
            log("semantics: no statsd flush seen, retrying")
            continue
        if len(flush_rec) != 1 or flush_rec[0]["metrics_received"] != len(lines):
            log("semantics: the traffic straddled a statsd flush, retrying")
            continue
        return compare(sluiced.metrics(), flush_rec[0], kinds)
    return ["could not fit the traffic into one flush interval of both daemons"], {}


def compare(sm, sd, kinds):
    bad = []
    checks = {}

    def check(cat, what, got, want, tol=0.0):
        c = checks.setdefault(cat, {"checked": 0, "failed": 0, "max_rel_err": 0.0})
        c["checked"] += 1
        if got is None or want is None:
            c["failed"] += 1
            bad.append(f"{cat} {what}: sluice={got} statsd={want}")
            return
        err = abs(got - want) / max(abs(want), 1e-12) if got != want else 0.0
        c["max_rel_err"] = max(c["max_rel_err"], err)
        if err > tol:
            c["failed"] += 1
            bad.append(f"{cat} {what}: sluice={got!r} statsd={want!r} rel_err={err:.3g}")

    for name, _ in kinds["c"]:
        check("counter", name, sm.get(prom_name(name) + "_total"), sd["counters"].get(name))
    for name, _ in kinds["g"]:
        check("gauge", name, sm.get(prom_name(name)), sd["gauges"].get(name))
    for name, _ in kinds["s"]:
        check("set", name, sm.get(prom_name(name)), sd["sets"].get(name))
    for name, rate in kinds["ms"]:
        p = prom_name(name)
        td = sd["timer_data"].get(name, {})
        check("timer_count", name, sm.get(p + "_count"), td.get("count"))
        want_sum = td.get("sum")
        if want_sum is not None and rate != 1:
            want_sum = want_sum / rate  # KNOWN_DIFFERENCES[0]
        check("timer_sum", name, sm.get(p + "_sum"), want_sum)
        check("timer_min", name, sm.get(p + "_min"), td.get("lower"))
        check("timer_max", name, sm.get(p + "_max"), td.get("upper"))
        for q in QUANTILES:
            key = "upper_" + f"{q * 100:g}".replace(".", "_")
            check("timer_quantile", f"{name} q={q}", sm.get(f'{p}{{quantile="{q:g}"}}'),
                  td.get(key), QUANTILE_TOL)
    return bad, checks
