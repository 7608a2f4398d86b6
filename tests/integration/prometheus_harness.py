# SPDX-License-Identifier: Apache-2.0
"""Run Debian's prometheus as a reference on a free loopback port with its own data
directory and the remote write receiver on, for differential tests and benchmarks.

Nothing else is started: no systemd unit, no scrape targets (an empty config), and the
process is stopped by its PID when the test ends. Every wait is bounded in time.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from sluiced_harness import free_port

PROMETHEUS = os.environ.get("SL_PROMETHEUS", "/usr/bin/prometheus")


def available():
    return os.access(PROMETHEUS, os.X_OK)


def version():
    out = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True,
                         timeout=10)
    first = (out.stdout or out.stderr).splitlines()[0]
    return first.split()[2] if len(first.split()) > 2 else "unknown"


class Prometheus:
    def __init__(self, data_dir=None, extra=()):
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-prom-")
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        self.log_path = os.path.join(self.tmp.name, "prometheus.log")
        cfg = os.path.join(self.tmp.name, "prometheus.yml")
        with open(cfg, "w") as f:
            # evaluation_interval is the default step of subqueries ([20m:]); keep Prometheus'
            # default of 1m. No scrape_configs: nothing is scraped.
            f.write("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n")
        self.args = [PROMETHEUS, f"--config.file={cfg}",
                     f"--storage.tsdb.path={self.data_dir}",
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     "--web.enable-remote-write-receiver",
                     "--storage.tsdb.retention.time=30d", *extra]
        self.proc = None

    @property
    def http_port(self):
        return self.port

    def start(self, timeout=60):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.tmp.name)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited early:\n" + self.read_log())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.tmp.name, ignore_errors=True)
