# SPDX-License-Identifier: Apache-2.0
"""bench dpdk_ingest: the same StatsD traffic through DPDK and through the socket path.

For each shape (1-line and 40-line datagrams over 100k series):
  dpdk_pcap  sluiced replays a pcap of the traffic with net_pcap infinite_rx (one poller)
  uring      sluiced's UDP socket listener (io_uring when available) fed by udp_blast
and once:
  null_pmd   sluiced polling net_null: rx_burst + classify + free, the loop's upper bound

Per CPU-second means, first, per CPU-second of the ingest thread itself (the DPDK poller
"sl-dpdk-0", or the socket listener "sl-udp"), read from /proc/<pid>/task/*/stat over a
measured window after a warm-up; shards run on their own thread and are not counted on
either side; rows with per="daemon CPU-second" divide by the whole daemon's CPU instead.
Neither counts the kernel's receive work that runs in the sender's softirq on loopback;
the rows per "...plus the kernel receive path" add it for the socket side, measured with a
system-wide perf profile over the same window (class KernelRx), and their ratio is the one
to compare with a NIC-fed host. The rows charged with all of the sender's kernel time are
an upper bound (they include the send path too). Lines counted =
samples the ingest thread handed to the shards (ring-full drops excluded, and reported).
Medians of 3 runs (DPDK_BENCH_RUNS), 3 s windows (DPDK_BENCH_WINDOW).

usage: python3 bench/dpdk_ingest.py [BUILD_DIR]   writes BUILD_DIR/bench/dpdk_ingest.json
"""
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from frames import statsd4, write_pcap  # noqa: E402
from sluiced_harness import free_port  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SLUICED = os.path.join(BUILD, "tools", "sluiced")
BLAST = os.path.join(BUILD, "bench", "udp_blast")
SERIES = 100_000
RUNS = int(os.environ.get("DPDK_BENCH_RUNS", "3"))
WARMUP_S = 1.0
WINDOW_S = float(os.environ.get("DPDK_BENCH_WINDOW", "3"))
TICK = os.sysconf("SC_CLK_TCK")
US, PEER = "10.1.0.1", "10.1.0.2"


def datagrams(lines):
    out, k = [], 0
    for _ in range((SERIES + lines - 1) // lines):
        out.append("\n".join(f"bench.s{(k + i) % SERIES}:1|c" for i in range(lines)))
        k += lines
    return out


class Daemon:
    def __init__(self, *extra):
        self.http = free_port()
        self.statsd = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-bench-")
        self.log = open(os.path.join(self.tmp.name, "log"), "wb")
        self.proc = subprocess.Popen(
            [SLUICED, "--statsd", f"127.0.0.1:{self.statsd}", "--http",
             f"127.0.0.1:{self.http}", "--shards", "1", "--flush-interval", "10s",
             "--data-dir", os.path.join(self.tmp.name, "d"), "--log-level", "warn", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluiced exited:\n" + self.read_log())
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sluiced not ready:\n" + self.read_log())

    def read_log(self):
        with open(os.path.join(self.tmp.name, "log"), "rb") as f:
            return f.read().decode(errors="replace")

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=10) as r:
            body = r.read().decode()
        m = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                m[k] = float(v)
        return m

    def thread_cpu(self, prefix):
        total = 0
        base = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(base):
            try:
                with open(f"{base}/{tid}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            if comm.startswith(prefix):
                fields = st[st.rindex(")") + 2:].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / TICK

    def process_cpu(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


def window(d, thread, keys, profile=None):
    """Counters and thread CPU over WINDOW_S after WARMUP_S. @profile, when given, is a
    KernelRx started with the window and stopped with it."""
    time.sleep(WARMUP_S)
    if profile:
        profile.start()
    m0, c0, p0 = d.metrics(), d.thread_cpu(thread), d.process_cpu()
    time.sleep(WINDOW_S)
    m1, c1, p1 = d.metrics(), d.thread_cpu(thread), d.process_cpu()
    if profile:
        profile.stop()
    out = {k: sum(v for s, v in m1.items() if s.startswith(k))
           - sum(v for s, v in m0.items() if s.startswith(k)) for k in keys}
    out["cpu_s"] = c1 - c0
    out["daemon_cpu_s"] = p1 - p0
    return out


def eal(vdev):
    # --no-shconf: no shared config files and no multi-process socket, so runs never collide.
    return ("--no-huge --no-pci --no-shconf -m 1536 --no-telemetry "
            f"--log-level=lib.eal:warning --vdev={vdev}")


def run_dpdk(pcap):
    d = Daemon("--dpdk", "true", "--dpdk-mbufs", "262143", "--dpdk-address", f"{US}:8125",
               "--dpdk-eal-args", eal(f"net_pcap0,rx_pcap={pcap},infinite_rx=1"))
    try:
        w = window(d, "sl-dpdk", ["sluice_dpdk_samples_total", "sluice_dpdk_lines_parsed_total",
                                  "sluice_dpdk_packets_received_total",
                                  'sluice_dpdk_dropped_total{port="net_pcap0",queue="0",'
                                  'reason="ring_full"}',
                                  'sluice_dpdk_dropped_total{port="net_pcap0",queue="0",'
                                  'reason="ring_full_wait"}'])
    finally:
        d.close()
    return {"counted": w["sluice_dpdk_samples_total"] / w["cpu_s"],
            "parsed": w["sluice_dpdk_lines_parsed_total"] / w["cpu_s"],
            "frames": w["sluice_dpdk_packets_received_total"] / w["cpu_s"],
            "drops": w['sluice_dpdk_dropped_total{port="net_pcap0",queue="0",reason="ring_full"}']
            + w['sluice_dpdk_dropped_total{port="net_pcap0",queue="0",reason="ring_full_wait"}'],
            "daemon": w["sluice_dpdk_samples_total"] / w["daemon_cpu_s"],
            "cpu_s": w["cpu_s"]}


class KernelRx:
    """CPU time the kernel spent in its receive path outside sluiced, over one window.

    On loopback the receive path (net_rx_action: backlog, IP, UDP, the socket enqueue) runs
    in the softirq of whoever sent, so the listener's own CPU time leaves it out, while a
    NIC delivering the same datagrams would have the receiving host run it (plus driver
    and interrupt work not seen here, so this is a lower bound). A system-wide perf profile
    of cpu-clock samples finds it: every sample whose kernel stack passes through
    net_rx_action in a task that is not sluiced counts 1/PERF_HZ of a CPU-second (samples
    in sluiced's own threads are already in its CPU time)."""

    PERF_HZ = 997

    def __init__(self, daemon_pid):
        self.pid = daemon_pid
        self.tmp = tempfile.NamedTemporaryFile(prefix="sluice-bench-perf-", delete=False)
        self.tmp.close()
        self.proc = None
        self.seconds = None
        self.error = None

    def start(self):
        try:
            self.proc = subprocess.Popen(
                ["perf", "record", "-q", "-a", "-g", "-F", str(self.PERF_HZ), "-o",
                 self.tmp.name, "--", "sleep", str(WINDOW_S)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            self.error = f"perf: {e}"

    def stop(self):
        if not self.proc:
            return
        _, err = self.proc.communicate(timeout=WINDOW_S + 60)
        if self.proc.returncode != 0:
            self.error = f"perf record exited {self.proc.returncode}: {err.strip()[:200]}"
            return
        tids = set(os.listdir(f"/proc/{self.pid}/task"))
        out = subprocess.run(["perf", "script", "-i", self.tmp.name, "-F", "tid,ip,sym"],
                             capture_output=True, text=True, timeout=300).stdout
        rx = 0
        for sample in out.split("\n\n"):
            frames = sample.split()
            if frames and frames[0] not in tids and "net_rx_action" in frames:
                rx += 1
        self.seconds = rx / self.PERF_HZ

    def close(self):
        try:
            os.unlink(self.tmp.name)
        except OSError:
            pass


def run_uring(lines):
    d = Daemon()
    rxk = KernelRx(d.proc.pid)
    try:
        blast = subprocess.Popen([BLAST, "127.0.0.1", str(d.statsd), str(lines), str(SERIES),
                                  str(WARMUP_S + WINDOW_S + 1.0)], stdout=subprocess.PIPE,
                                 text=True)
        w = window(d, "sl-udp", ['sluice_statsd_samples_total{listener="udp"',
                                 'sluice_statsd_lines_parsed_total{listener="udp"',
                                 'sluice_statsd_packets_received_total{listener="udp"',
                                 'sluice_statsd_ring_full_drops_total{listener="udp"'],
                   profile=rxk)
        out = blast.stdout.read()
        _, _, ru = os.wait4(blast.pid, 0)
        blast.returncode = 0
        sent_lines = int(out.split("lines=")[1])
        backend = "io_uring" if 'udp_backend="io_uring"' in "".join(d.metrics()) else "recvmmsg"
    finally:
        d.close()
        rxk.close()
    if rxk.error:
        print(f"note: kernel receive time not measured ({rxk.error})", flush=True)
    counted = w['sluice_statsd_samples_total{listener="udp"']
    return {"counted": counted / w["cpu_s"],
            "counted_rx": (counted / (w["cpu_s"] + rxk.seconds)
                           if rxk.seconds is not None else None),
            "rx_kernel_s_per_line": (rxk.seconds / max(counted, 1)
                                     if rxk.seconds is not None else None),
            "parsed": w['sluice_statsd_lines_parsed_total{listener="udp"'] / w["cpu_s"],
            "frames": w['sluice_statsd_packets_received_total{listener="udp"'] / w["cpu_s"],
            "drops": w['sluice_statsd_ring_full_drops_total{listener="udp"'],
            "daemon": w['sluice_statsd_samples_total{listener="udp"'] / w["daemon_cpu_s"],
            # Kernel time the sender paid per line sent: the send syscall plus, on loopback,
            # the whole receive path (softirq) up to the socket. An upper bound on the
            # kernel's receive cost that the listener's own CPU time does not show.
            "sender_sys_per_line": ru.ru_stime / max(sent_lines, 1),
            "cpu_s": w["cpu_s"], "backend": backend}


def run_null():
    d = Daemon("--dpdk", "true", "--dpdk-eal-args", eal("net_null0"))
    try:
        w = window(d, "sl-dpdk", ["sluice_dpdk_packets_received_total"])
    finally:
        d.close()
    return {"frames": w["sluice_dpdk_packets_received_total"] / w["cpu_s"], "cpu_s": w["cpu_s"]}


def row(metric, unit, vals, params):
    return {"system": "sluice", "metric": metric, "unit": unit,
            "median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "runs": len(vals), "params": params}


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    # The load average says how shared the machine was: per-thread CPU accounting removes
    # time the thread did not run, not the cache it lost to whoever ran instead.
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20),
            "kernel": platform.release(), "loadavg_1m": os.getloadavg()[0]}


def sluice_info():
    try:
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    build = "unknown"
    try:
        with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
            build = next(o["value"] for o in json.load(f) if o["name"] == "buildtype")
    except (OSError, StopIteration, ValueError):
        pass
    out = subprocess.run([SLUICED, "--version"], capture_output=True, text=True).stdout.split()
    return {"version": out[-1] if out else "unknown", "commit": commit, "build": build}


def main():
    results = []
    with tempfile.TemporaryDirectory(prefix="sluice-bench-pcap-") as tmp:
        for lines in (1, 40):
            pcap = os.path.join(tmp, f"l{lines}.pcap")
            write_pcap(pcap, [statsd4(PEER, US, 8125, t) for t in datagrams(lines)])
            dp, ur = [], []
            for i in range(RUNS):
                dp.append(run_dpdk(pcap))
                ur.append(run_uring(lines))
            shape = {"lines_per_datagram": lines, "series": SERIES}
            for path, rs in (("dpdk_pcap", dp), ("uring", ur)):
                p = dict(shape, path=path, per="ingest thread CPU-second")
                if path == "uring":
                    p["backend"] = rs[0]["backend"]
                results.append(row("counted_lines_per_cpu_s", "lines/s",
                                   [r["counted"] for r in rs], p))
                results.append(row("parsed_lines_per_cpu_s", "lines/s",
                                   [r["parsed"] for r in rs], p))
                results.append(row("datagrams_per_cpu_s", "datagrams/s",
                                   [r["frames"] for r in rs], p))
                results.append(row("ring_full_drops", "samples", [r["drops"] for r in rs], p))
                # Whole daemon (pollers/listeners, shards, HTTP): what statsd_udp reports.
                results.append(row("counted_lines_per_cpu_s", "lines/s",
                                   [r["daemon"] for r in rs],
                                   dict(p, per="daemon CPU-second")))
            with_kernel = [1 / (1 / r["counted"] + r["sender_sys_per_line"]) for r in ur]
            results.append(row("counted_lines_per_cpu_s", "lines/s", with_kernel,
                               dict(shape, path="uring", per="ingest thread CPU-second plus "
                                    "the sender's kernel time per line (upper bound)")))
            ratios_k = [a["counted"] / b for a, b in zip(dp, with_kernel)]
            results.append(row("dpdk_to_uring_ratio", "x", ratios_k,
                               dict(shape, path="dpdk_pcap/uring",
                                    per="uring charged with the sender's kernel time")))
            # The socket path charged with the kernel's receive work that perf attributed to
            # other tasks (KernelRx): the comparison a NIC-fed host would see.
            rx = [r for r in ur if r["counted_rx"] is not None]
            ratios_rx = []
            if len(rx) == len(ur):
                results.append(row("counted_lines_per_cpu_s", "lines/s",
                                   [r["counted_rx"] for r in rx],
                                   dict(shape, path="uring", per="ingest thread CPU-second plus "
                                        "the kernel receive path (net_rx_action) run in other "
                                        "tasks, from a system-wide perf profile")))
                results.append(row("kernel_rx_ns_per_line", "ns",
                                   [r["rx_kernel_s_per_line"] * 1e9 for r in rx],
                                   dict(shape, path="uring")))
                ratios_rx = [a["counted"] / b["counted_rx"] for a, b in zip(dp, rx)]
                results.append(row("dpdk_to_uring_ratio", "x", ratios_rx,
                                   dict(shape, path="dpdk_pcap/uring",
                                        per="uring charged with the kernel receive path")))
            # Parsed lines per ingest CPU-second: the ingest paths alone, whether or not one
            # shard on a shared 2-core machine keeps up with what they deliver.
            ratios_p = [a["parsed"] / b["parsed"] for a, b in zip(dp, ur)]
            results.append(row("dpdk_to_uring_parsed_ratio", "x", ratios_p,
                               dict(shape, path="dpdk_pcap/uring")))
            ratios = [a["counted"] / b["counted"] for a, b in zip(dp, ur)]
            results.append(row("dpdk_to_uring_ratio", "x", ratios,
                               dict(shape, path="dpdk_pcap/uring")))
            print(f"lines_per_datagram={lines}: dpdk_pcap "
                  f"{statistics.median(r['counted'] for r in dp):.3g} lines/cpu-s, uring "
                  f"{statistics.median(r['counted'] for r in ur):.3g} lines/cpu-s, ratio "
                  f"{statistics.median(ratios):.2f} ("
                  + (f"{statistics.median(ratios_rx):.2f} with the kernel receive path, "
                     if ratios_rx else "")
                  + f"{statistics.median(ratios_k):.2f} with the "
                  f"sender's kernel time; parsed-lines ratio {statistics.median(ratios_p):.2f})",
                  flush=True)
    nl = [run_null() for _ in range(RUNS)]
    p = {"path": "null_pmd", "per": "poller CPU-second", "frame_bytes": 64}
    results.append(row("frames_per_cpu_s", "frames/s", [r["frames"] for r in nl], p))
    # Upper bound of the polling loop: if every frame were a 1-line datagram.
    results.append(row("counted_lines_per_cpu_s", "lines/s", [r["frames"] for r in nl],
                       dict(p, lines_per_datagram=1, upper_bound=True)))
    print(f"null_pmd: {statistics.median(r['frames'] for r in nl):.3g} frames/cpu-s", flush=True)
    doc = {
        "bench": "dpdk_ingest",
        "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "sluice": sluice_info(),
        "params": {"series": SERIES, "seconds": WINDOW_S, "runs": RUNS, "shards": 1,
                   "per": "CPU-second of the ingest thread"},
        "results": results,
    }
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    out = os.path.join(BUILD, "bench", "dpdk_ingest.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
