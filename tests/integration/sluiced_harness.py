# SPDX-License-Identifier: Apache-2.0
"""Start a real sluiced on free loopback ports and talk to it like a user would.

Used by the integration tests; every daemon started here is stopped by its PID when the
test ends, and every wait is bounded in time.
"""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


class Sluiced:
    def __init__(self, binary, *extra, flush="1s", data_dir=None, host="127.0.0.1"):
        self.binary = binary
        self.host = host
        self.statsd_port = free_port()
        self.http_port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-it-")
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        self.log_path = os.path.join(self.tmp.name, "sluiced.log")
        statsd_addr = f"[{host}]:{self.statsd_port}" if ":" in host else f"{host}:{self.statsd_port}"
        self.args = [binary, "--statsd", statsd_addr,
                     "--http", f"127.0.0.1:{self.http_port}", "--flush-interval", flush,
                     "--data-dir", self.data_dir, *extra]
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluiced exited early:\n" + self.read_log())
            try:
                if self.get("/-/ready").startswith("sluice is Ready"):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("sluiced did not become ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def get(self, path, timeout=10):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                    timeout=timeout) as r:
            return r.read().decode()

    def metrics(self):
        """Parse /metrics into {series_text: float}."""
        out = {}
        for line in self.get("/metrics").splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
        return out

    def query_value(self, promql):
        """One instant query's single value, or None when it returns no series."""
        q = urllib.parse.quote(promql)
        r = json.loads(self.get(f"/api/v1/query?query={q}"))["data"]["result"]
        return float(r[0]["value"][1]) if r else None

    def counter(self, name):
        return sum(v for k, v in self.metrics().items() if k.split("{")[0] == name)

    def send_udp(self, payload):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.sendto(payload.encode() if isinstance(payload, str) else payload,
                 (self.host, self.statsd_port))
        s.close()

    def send_tcp(self, payload):
        s = socket.create_connection((self.host, self.statsd_port), timeout=5)
        s.sendall(payload.encode() if isinstance(payload, str) else payload)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            s.recv(1)  # wait for the daemon to close its side after reading everything
        except OSError:
            pass
        s.close()

    def wait_for(self, predicate, what, timeout=10.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.metrics()
                if predicate(last):
                    return last
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last metrics:\n"
                             + "\n".join(f"{k} {v}" for k, v in sorted((last or {}).items())
                                         if not k.startswith("sluice_")))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sluiced did not stop within %ds:\n%s"
                                     % (timeout, self.read_log()))
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.tmp.cleanup()


class Checks:
    """Named checks that report one line each and keep going after a failure, ending with
    the "N passed, M failed" line that meson logs and CI read."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def check(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            self.failures.append(name)
            print(f"FAIL {name}: {e!r}", flush=True)

    def run_module(self, namespace):
        """Run every test_* function of a module's globals(), in definition order."""
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and callable(fn):
                self.check(name, fn)
        return self.finish()

    def finish(self):
        print(f"{self.passed} passed, {len(self.failures)} failed")
        return 1 if self.failures else 0
