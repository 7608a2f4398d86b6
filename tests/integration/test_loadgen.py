#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sluice-loadgen, the benchmark sender: every line it reports sent arrives whole, in the
shapes asked for, it stops at its caps, and it refuses any target but 127.0.0.1.

usage: test_loadgen.py PATH/TO/sluice-loadgen
"""
import re
import socket
import subprocess
import sys
import threading
import time

LINE = re.compile(rb"^lg\.(req|lat)\.m\d+:[^|]+\|(c|g|ms|s)"
                  rb"(\|#env:prod,region:r\d,host:web-\d+)?$")


def run(lg, *args):
    out = subprocess.run([lg, "--host", "127.0.0.1", *args], capture_output=True, timeout=60)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def summary(stdout):
    line = [ln for ln in stdout.splitlines() if ln.startswith("loadgen ")][-1]
    return {k: v for k, _, v in (t.partition("=") for t in line.split()[1:])}


def check_lines(lines, what):
    bad = [ln for ln in lines if not LINE.match(ln)]
    assert not bad, f"{what}: malformed lines, e.g. {bad[:3]}"


def test_udp(lg, per_dgram, expect_max_lines):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(1.0)
    got = []
    done = threading.Event()

    def reader():  # read while the sender runs, so the socket buffer never overflows
        while True:
            try:
                got.append(rx.recv(65536))
            except socket.timeout:
                if done.is_set():
                    return

    t = threading.Thread(target=reader)
    t.start()
    rc, out, err = run(lg, "--port", str(rx.getsockname()[1]), "--lines-per-datagram",
                       str(per_dgram), "--series", "1000", "--max-lines", "5000",
                       "--rate", "50000", "--duration", "5")
    done.set()
    t.join()
    rx.close()
    assert rc == 0, err
    s = summary(out)
    lines, dgrams = [], 0
    for d in got:
        dgrams += 1
        assert len(d) <= 1400, f"datagram of {len(d)} bytes"
        part = d.split(b"\n")
        assert len(part) <= per_dgram
        lines += part
    assert int(s["lines_sent"]) == len(lines), (s, len(lines))
    assert int(s["datagrams_sent"]) == dgrams, (s, dgrams)
    assert int(s["lines_sent"]) <= expect_max_lines
    assert int(s["lines_sent"]) >= expect_max_lines - per_dgram, s  # stopped at the cap
    check_lines(lines, f"udp/{per_dgram}")
    kinds = {ln.split(b"|")[1] for ln in lines}
    assert kinds == {b"c", b"g", b"ms", b"s"}, kinds
    tagged = sum(b"|#" in ln for ln in lines)
    assert 0.4 < tagged / len(lines) < 0.6, tagged
    print(f"udp lines_per_datagram={per_dgram}: {len(lines)} lines in {dgrams} datagrams ok")


def test_tcp(lg, conns):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    got = []
    lock = threading.Lock()

    def reader(c):
        buf = b""
        c.settimeout(10)
        while True:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            buf += d
        c.close()
        assert buf.endswith(b"\n") or not buf, "a connection ended mid-line"
        with lock:
            got.extend(buf.split(b"\n")[:-1])

    threads = []

    def acceptor():
        srv.settimeout(10)
        for _ in range(conns):
            c, _ = srv.accept()
            t = threading.Thread(target=reader, args=(c,))
            t.start()
            threads.append(t)

    a = threading.Thread(target=acceptor)
    a.start()
    rc, out, err = run(lg, "--proto", "tcp", "--connections", str(conns), "--port",
                       str(srv.getsockname()[1]), "--series", "500", "--duration", "0.5")
    a.join()
    for t in threads:
        t.join()
    srv.close()
    assert rc == 0, err
    s = summary(out)
    assert int(s["lines_sent"]) == len(got) > 0, (s, len(got))
    check_lines(got, f"tcp/{conns}")
    print(f"tcp connections={conns}: {len(got)} lines ok")


def test_bounds(lg):
    rc, _, err = run(lg, "--host", "10.0.0.1", "--port", "9")
    assert rc == 2 and "only 127.0.0.1" in err, (rc, err)
    rc, _, err = run(lg, "--host", "localhost6", "--port", "9")
    assert rc == 2, (rc, err)
    t0 = time.time()
    rc, out, err = run(lg, "--port", "9", "--duration", "0.3", "--rate", "1000")
    assert rc == 0, err
    assert time.time() - t0 < 15
    s = summary(out)
    assert float(s["seconds"]) < 2.0 and int(s["lines_sent"]) <= 400, s
    print("refuses other hosts; stops at --duration and paces at --rate: ok")


def main():
    lg = sys.argv[1]
    test_udp(lg, 40, 5000)
    test_udp(lg, 1, 5000)
    test_tcp(lg, 1)
    test_tcp(lg, 7)
    test_bounds(lg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
