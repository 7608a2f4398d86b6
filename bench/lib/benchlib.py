# SPDX-License-Identifier: Apache-2.0
"""Shared machinery of the benchmark harness (bench/run.sh and bench/scenarios/*).

It owns: where things are (build dir, output dir, peers), the BENCH.md JSON format
(machine, versions, median/min/max rows), the daemons under test (sluiced and Etsy statsd,
each started on free loopback ports and always stopped by PID), the load generator runs,
per-process CPU and RSS from /proc, and the progress display (a live line on a terminal,
plain log lines otherwise).

Safety: every daemon started here is recorded in OUT/.pids/<pid> so run.sh's trap can kill
it even if Python dies; every wait is bounded in time; loads go to 127.0.0.1 only.
"""
import atexit
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# One port picker for tests and benchmarks alike.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))
from sluiced_harness import free_port  # noqa: E402,F401

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build")))
OUT = os.path.abspath(os.environ.get("SLUICE_BENCH_OUT", os.path.join(BUILD, "bench")))
SLUICED = os.path.join(BUILD, "tools", "sluiced")
LOADGEN = os.path.join(BUILD, "tools", "sluice-loadgen")
STATSD_VERSION = "0.9.0"  # newest published on npm (`npm view statsd versions`)
PEERS = os.path.join(OUT, "peers")
STATSD_DIR = os.path.join(PEERS, "node_modules", "statsd")
BACKEND_JS = os.path.join(ROOT, "bench", "peers", "bench_backend.js")
STATSD_SYSTEM = "statsd-npm-" + STATSD_VERSION
CLK_TCK = os.sysconf("SC_CLK_TCK")
PID_DIR = os.path.join(OUT, ".pids")

# ---- results in the BENCH.md format ----------------------------------------------------


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    # Load from other work on the machine while this ran: the figures depend on it.
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem),
            "kernel": platform.release(), "loadavg_1m": round(os.getloadavg()[0], 2)}


def sluice_info():
    version = "unknown"
    try:
        out = subprocess.run([SLUICED, "--version"], capture_output=True, text=True, timeout=5)
        m = re.search(r"(\d+\.\d+\.\d+)", out.stdout + out.stderr)
        if m:
            version = m.group(1)
    except (OSError, subprocess.TimeoutExpired):
        pass
    commit = os.environ.get("SLUICE_COMMIT") or "unknown"
    if commit == "unknown":
        try:
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {"version": version, "commit": commit or "unknown", "build": "release"}


def socket_buffers():
    """What each daemon's UDP socket gets: sluiced asks for 32 MiB (capped by rmem_max
    unless it runs as root, which uses SO_RCVBUFFORCE); Node's dgram keeps the default."""
    def rd(name):
        try:
            with open(f"/proc/sys/net/core/{name}") as f:
                return int(f.read())
        except (OSError, ValueError):
            return None
    return {"net.core.rmem_default": rd("rmem_default"), "net.core.rmem_max": rd("rmem_max"),
            "sluice_rcvbuf": "32 MiB (its default)",
            "statsd_rcvbuf": "net.core.rmem_default (Node dgram default)"}


def row(system, metric, unit, values, **params):
    """One result row: median/min/max over the runs in @values."""
    vals = [float(v) for v in values]
    return {"system": system, "metric": metric, "unit": unit,
            "median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "runs": len(vals), "params": params}


def write_result(bench, params, results, extra=None):
    os.makedirs(OUT, exist_ok=True)
    doc = {"bench": bench, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": machine(), "sluice": sluice_info(), "params": params,
           "results": results}
    if extra:
        doc.update(extra)
    path = os.path.join(OUT, bench + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log(f"wrote {path}")
    return path

# ---- progress and logs -------------------------------------------------------------------


class Progress:
    """A live status line on a terminal; plain timestamped log lines otherwise."""

    def __init__(self, name, total):
        self.name, self.total, self.i = name, total, 0
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()

    def step(self, desc):
        self.i += 1
        el = time.time() - self.t0
        if self.tty:
            width = 24
            done = int(width * (self.i - 1) / max(1, self.total))
            bar = "#" * done + "." * (width - done)
            sys.stderr.write(f"\r\033[K[{bar}] {self.name} {self.i}/{self.total} "
                             f"{el:5.0f}s  {desc}")
            sys.stderr.flush()
        else:
            log(f"{self.name} step {self.i}/{self.total} ({el:.0f}s): {desc}")

    def done(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
        log(f"{self.name} done in {time.time() - self.t0:.0f}s")


def log(msg):
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()

# ---- processes -----------------------------------------------------------------------------


_live = {}


def _register(proc):
    _live[proc.pid] = proc
    if os.environ.get("SLUICE_BENCH_RUN"):  # run.sh's trap reads these if Python dies
        os.makedirs(PID_DIR, exist_ok=True)
        with open(os.path.join(PID_DIR, str(proc.pid)), "w") as f:
            f.write(" ".join(proc.args) if isinstance(proc.args, list) else str(proc.args))


def _unregister(proc):
    _live.pop(proc.pid, None)
    try:
        os.unlink(os.path.join(PID_DIR, str(proc.pid)))
    except OSError:
        pass


def _kill_all():
    for proc in list(_live.values()):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _unregister(proc)


def _on_signal(sig, _frame):
    raise SystemExit(128 + sig)


atexit.register(_kill_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def proc_cpu_s(pid):
    """utime + stime of every thread of @pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def wait_tcp(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


class Daemon:
    system = "?"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def cpu_s(self):
        return proc_cpu_s(self.proc.pid)

    def rss_peak(self):
        return proc_mem(self.proc.pid, "VmHWM")

    def stop(self, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        _unregister(self.proc)
        self.log.close()
        self.tmp.cleanup()
        self.proc = None


class Sluiced(Daemon):
    system = "sluice"

    def __init__(self, flush="1s", extra=(), binary=None):
        self.port, self.http = free_port(), free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-bench-")
        self.args = [binary or SLUICED, "--statsd", f"127.0.0.1:{self.port}",
                     "--http", f"127.0.0.1:{self.http}", "--flush-interval", flush,
                     "--data-dir", os.path.join(self.tmp.name, "data"), "--log-level", "warn",
                     *extra]
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.tmp.name, "log"), "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        _register(self.proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluiced exited early: " + self.read_log())
            try:
                if self.get("/-/ready").startswith("sluice is Ready"):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sluiced did not become ready")

    def read_log(self):
        with open(os.path.join(self.tmp.name, "log"), "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def get(self, path, timeout=30):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}",
                                    timeout=timeout) as r:
            return r.read().decode()

    def metrics(self):
        out = {}
        for line in self.get("/metrics").splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
        return out

    def self_counts(self):
        """{'parsed','received','drops'} summed over listeners and threads."""
        want = {"sluice_statsd_lines_parsed_total": "parsed",
                "sluice_statsd_lines_received_total": "received",
                "sluice_statsd_ring_full_drops_total": "drops"}
        out = {"parsed": 0.0, "received": 0.0, "drops": 0.0}
        for line in self.get("/metrics").splitlines():
            if line.startswith("sluice_statsd_"):
                series, _, value = line.rpartition(" ")
                k = want.get(series.split("{")[0])
                if k:
                    out[k] += float(value)
        return out

    def counted(self):
        """Lines that reached a shard: parsed minus records dropped on a full ring (every
        line of the benchmark mix carries exactly one value, so records == lines)."""
        c = self.self_counts()
        return c["parsed"] - c["drops"]


class EtsyStatsd(Daemon):
    system = STATSD_SYSTEM

    def __init__(self, flush_ms=1000, full=False, percentiles=(50, 90, 95, 99), statsd_dir=None):
        self.statsd_dir = statsd_dir or STATSD_DIR
        self.port, self.mgmt = free_port(), free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="statsd-bench-")
        self.state = os.path.join(self.tmp.name, "state.json")
        cfg = {"port": self.port, "address": "127.0.0.1", "mgmt_address": "127.0.0.1",
               "mgmt_port": self.mgmt, "flushInterval": flush_ms,
               "percentThreshold": list(percentiles), "backends": [BACKEND_JS],
               "benchBackend": {"file": self.state, "full": bool(full)},
               "servers": [{"server": "./servers/udp", "address": "127.0.0.1",
                            "port": self.port},
                           {"server": "./servers/tcp", "address": "127.0.0.1",
                            "port": self.port}]}
        self.cfg_path = os.path.join(self.tmp.name, "config.js")
        with open(self.cfg_path, "w") as f:
            f.write("(" + json.dumps(cfg) + ")\n")
        self.proc = None

    def start(self):
        if not os.path.exists(os.path.join(self.statsd_dir, "stats.js")):
            raise RuntimeError(f"Etsy statsd not installed in {self.statsd_dir} "
                               "(bench/run.sh installs it)")
        self.log = open(os.path.join(self.tmp.name, "log"), "wb")
        self.proc = subprocess.Popen(["node", os.path.join(self.statsd_dir, "stats.js"),
                                      self.cfg_path], cwd=self.statsd_dir,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _register(self.proc)
        wait_tcp(self.port, self.proc, "statsd")
        deadline = time.time() + 10
        while not os.path.exists(self.state) and time.time() < deadline:
            time.sleep(0.05)
        return self

    def read_state(self):
        for _ in range(20):
            try:
                with open(self.state) as f:
                    return json.load(f)
            except (OSError, ValueError):
                time.sleep(0.01)
        raise RuntimeError("cannot read statsd backend state")

    def flushes(self):
        out = []
        try:
            with open(self.state + ".flushes") as f:
                for line in f:
                    out.append(json.loads(line))
        except OSError:
            pass
        return out

# ---- load ------------------------------------------------------------------------------------


def loadgen(port, **kw):
    """Run sluice-loadgen; kw map to its --flags (underscores become dashes)."""
    args = [LOADGEN, "--host", "127.0.0.1", "--port", str(port)]
    for k, v in kw.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    dur = float(kw.get("duration", 5))
    out = subprocess.run(args, capture_output=True, text=True, timeout=dur + 60)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr.strip()}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("loadgen ")][-1]
    res = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        try:
            res[k] = float(v)
        except ValueError:
            res[k] = v
    return res


def measure(daemon, drain_timeout=30, per_busy_second=False, **load):
    """One measured run against a fresh @daemon: offered load, what the daemon counted,
    its CPU seconds over the run (load + drain), peak RSS, and the sender's CPU.

    The run ends when the daemon has counted everything it is going to count: sluice when
    two reads of its self-metrics agree (the CPU is the one sampled before the first of
    them, so reading /metrics is not charged); statsd at the first flush that counted
    nothing new (its CPU sampled right after the last flush that still counted).

    counted_per_s divides by the load's seconds (UDP: the daemon keeps up or drops), or
    with @per_busy_second by the time until the last line was counted (TCP backlogs)."""
    t_start = time.time()
    c0 = daemon.cpu_s()
    lg = loadgen(daemon.port, **load)
    t_end = time.time()
    deadline = t_end + drain_timeout
    if isinstance(daemon, Sluiced):
        time.sleep(0.2)
        prev_cpu, prev_t = daemon.cpu_s(), time.time()
        prev = daemon.counted()
        while True:
            time.sleep(0.3)
            cpu, t = daemon.cpu_s(), time.time()
            cur = daemon.counted()
            if cur == prev or time.time() > deadline:
                break
            prev, prev_cpu, prev_t = cur, cpu, t
        counted, c1, t_done = cur, prev_cpu, prev_t
        sc = daemon.self_counts()
        breakdown = {"received": sc["received"], "ring_full_drops": sc["drops"]}
    else:
        samples = []
        final = None
        while time.time() < deadline:
            st = daemon.read_state()
            samples.append((time.time(), daemon.cpu_s(), st["metrics_received"]))
            if (st["last_flush_ms"] / 1000 > t_end + 0.2
                    and st["last_flush_ms"] > st["last_nonzero_flush_ms"]):
                final = st
                break
            time.sleep(0.05)
        if final is None:
            final = daemon.read_state()
        counted = final["metrics_received"]
        c1 = next((c for _, c, m in samples if m >= counted), samples[-1][1])
        t_done = max(final["last_nonzero_flush_ms"] / 1000, t_end)
        breakdown = {"received": counted, "ring_full_drops": 0}
    sent = lg["lines_sent"]
    cpu = max(c1 - c0, 1e-9)
    busy = max(lg["seconds"], t_done - t_start)
    return {"sent": sent, "counted": counted, "seconds": lg["seconds"], "busy_s": busy,
            "loss_pct": 100.0 * (sent - counted) / sent if sent else 0.0,
            "daemon_cpu_s": cpu,
            "counted_per_s": counted / (busy if per_busy_second else lg["seconds"]),
            "counted_per_cpu_s": counted / cpu, "rss_bytes": daemon.rss_peak(),
            "sender_cpu_s": lg["cpu_s"], "offered_per_s": sent / lg["seconds"],
            # where the loss happened: before the daemon read it (socket buffer) or after
            "socket_loss_pct": 100.0 * (sent - breakdown["received"]) / sent if sent else 0.0,
            "ring_drop_pct": 100.0 * breakdown["ring_full_drops"] / sent if sent else 0.0}
