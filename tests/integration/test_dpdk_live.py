# SPDX-License-Identifier: Apache-2.0
"""DPDK ingest, live path: two network namespaces joined by a veth pair.

  ns A: sluiced, DPDK net_af_packet on veth end A (no address on it), the kernel exception
        path as a TAP interface that carries 10.77.x.1 and the port's MAC
  ns B: veth end B with 10.77.x.2 and no static neighbour entry

The sender in B must resolve 10.77.x.1 by ARP (request -> DPDK -> TAP -> kernel -> reply ->
TAP -> DPDK -> wire), then sends StatsD over UDP, which DPDK parses, and over TCP, which
goes through the kernel to sluiced's socket listener. Values must match exactly. All
traffic stays inside the two namespaces; both are deleted in a finally block.

usage: test_dpdk_live.py SLUICED HAVE_DPDK(0|1)   exit 77 without DPDK, root or netns.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2] != "1":
    print("SKIP: sluiced was built without DPDK")
    sys.exit(77)
if os.geteuid() != 0 or not shutil.which("ip") or not os.path.exists("/dev/net/tun"):
    print("SKIP: needs root, iproute2 and /dev/net/tun to create namespaces and a TAP")
    sys.exit(77)

PID = os.getpid()
NS_A, NS_B = f"slA{PID}", f"slB{PID}"
VETH_A, VETH_B, TAP = f"sla{PID}", f"slb{PID}", f"slt{PID}"
NET = 16 + PID % 200  # a /24 inside 10.77.0.0/16 that only these namespaces use
US, PEER = f"10.77.{NET}.1", f"10.77.{NET}.2"
PY = "/usr/bin/python3"


def sh(*args, ns=None, check=True, timeout=20, **kw):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


def metrics():
    out = sh(PY, "-c", "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
             "'http://127.0.0.1:8480/metrics',timeout=5).read().decode())", ns=NS_A,
             check=False).stdout
    m = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            m[k] = float(v)
    return m


def wait_for(pred, what, timeout=15):
    deadline = time.time() + timeout
    m = {}
    while time.time() < deadline:
        m = metrics()
        if pred(m):
            return m
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; metrics: "
                         + ", ".join(f"{k}={v}" for k, v in sorted(m.items())
                                     if v and ("dpdk" in k or k.startswith("live"))))


# The timer's min and max in /metrics are those of the last flush interval, so all 50
# values must land in one: flushes fall on wall-clock multiples of the 2 s interval, and
# the sender starts 50 ms after one (the datagrams take a few ms; a loaded machine once
# split them across a 1 s boundary).
SENDER = r"""
import socket, sys, time
us = sys.argv[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
time.sleep((time.time() // 2 + 1) * 2 + 0.05 - time.time())
for i in range(50):
    u.sendto(b"live.udp:1|c\nlive.lat:%d|ms|#via:dpdk" % (i + 1), (us, 8125))
u.sendto(b"live.gauge:42|g", (us, 8125))
t = socket.create_connection((us, 8125), timeout=5)
t.sendall(b"live.tcp:5|c\nlive.tcp:6|c\n")
t.shutdown(socket.SHUT_WR)
t.settimeout(5)
try:
    t.recv(1)
except OSError:
    pass
t.close()
"""


def main():
    proc = None
    tmp = tempfile.TemporaryDirectory(prefix="sluice-live-")
    log_path = os.path.join(tmp.name, "sluiced.log")
    try:
        sh("ip", "netns", "add", NS_A)
        sh("ip", "netns", "add", NS_B)
        sh("ip", "link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B)
        sh("ip", "link", "set", VETH_A, "netns", NS_A)
        sh("ip", "link", "set", VETH_B, "netns", NS_B)
        sh("ip", "-n", NS_A, "link", "set", "lo", "up")
        # DPDK owns veth A, but a packet socket only taps it: the kernel of ns A still sees
        # every frame. On a NIC bound to a DPDK driver the kernel sees nothing, so make it
        # so here: no IPv6, no ARP, and strict reverse-path filtering (the way back to the
        # peer is the TAP, so IPv4 arriving on veth A is dropped by the kernel). Otherwise
        # the host would also accept datagrams for the TAP's address (weak host model).
        sh("sysctl", "-qw", f"net.ipv6.conf.{VETH_A}.disable_ipv6=1", ns=NS_A)
        sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", ns=NS_A)
        sh("sysctl", "-qw", f"net.ipv4.conf.{VETH_A}.rp_filter=1", ns=NS_A)
        sh("ip", "-n", NS_A, "link", "set", VETH_A, "arp", "off", "up")
        sh("ip", "-n", NS_B, "link", "set", "lo", "up")
        sh("ip", "-n", NS_B, "addr", "add", f"{PEER}/24", "dev", VETH_B)
        sh("ip", "-n", NS_B, "link", "set", VETH_B, "up")
        # veth hands frames over with the UDP checksum still to be filled in (CHECKSUM_
        # PARTIAL); a packet socket sees that unfinished sum. A real NIC would put the full
        # checksum on the wire, so make the sender's veth do that.
        if shutil.which("ethtool"):
            sh("ethtool", "-K", VETH_B, "tx", "off", ns=NS_B)
        else:
            print("SKIP: ethtool is needed to turn off checksum offload on the sender's veth")
            return 77
        eal = (f"--no-huge --no-pci --no-shconf -m 256 --no-telemetry "
               "--log-level=lib.eal:warning "
               f"--vdev=net_af_packet0,iface={VETH_A}")
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_A, BIN, "--statsd", "0.0.0.0:8125",
             "--http", "127.0.0.1:8480", "--flush-interval", "2s", "--shards", "2",
             "--data-dir", os.path.join(tmp.name, "data"), "--dpdk", "true",
             "--dpdk-eal-args", eal, "--dpdk-address", f"{US}:8125",
             "--dpdk-kernel-iface", TAP], stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda m: "sluice_dpdk_packets_received_total"
                 '{port="net_af_packet0",queue="0"}' in m, "sluiced to be ready")
        # The host's side of the exception path: the TAP DPDK created gets our address.
        sh("ip", "-n", NS_A, "addr", "add", f"{US}/24", "dev", TAP)
        sh("ip", "-n", NS_A, "link", "set", TAP, "up")
        neigh = sh("ip", "-n", NS_B, "neigh", "show", US).stdout
        assert neigh.strip() == "", f"peer must start without a neighbour entry: {neigh}"
        sh(PY, "-c", SENDER, US, ns=NS_B, timeout=30)

        m = wait_for(lambda m: m.get("live_udp_total") == 50 and m.get("live_tcp_total") == 11
                     and m.get('live_lat_count{via="dpdk"}') == 50, "the flush")
        q = 'port="net_af_packet0",queue="0"'
        expect = {
            "live_udp_total": 50,
            "live_gauge": 42,
            'live_lat_count{via="dpdk"}': 50,
            'live_lat_sum{via="dpdk"}': sum(range(1, 51)),
            'live_lat_min{via="dpdk"}': 1,
            'live_lat_max{via="dpdk"}': 50,
            "live_tcp_total": 11,
            f"sluice_dpdk_statsd_datagrams_total{{{q}}}": 51,
            f"sluice_dpdk_lines_parsed_total{{{q}}}": 101,
        }
        bad = [f"{k}: got {m.get(k)}, want {v}" for k, v in expect.items() if m.get(k) != v]
        # ARP request and the TCP segments went to the kernel; its replies came back out.
        if not m.get(f"sluice_dpdk_kernel_passed_total{{{q}}}", 0) >= 4:
            bad.append("expected ARP and TCP frames handed to the kernel")
        if not m.get(f"sluice_dpdk_kernel_sent_total{{{q}}}", 0) >= 3:
            bad.append("expected the kernel's ARP reply and TCP segments sent out")
        mac_a = sh("cat", f"/sys/class/net/{VETH_A}/address", ns=NS_A).stdout.strip()
        neigh = sh("ip", "-n", NS_B, "neigh", "show", US).stdout
        if f"lladdr {mac_a}" not in neigh:
            bad.append(f"peer's ARP entry for {US} should name {mac_a}: {neigh!r}")
        if bad:
            print("FAIL dpdk live path:\n  " + "\n  ".join(bad))
            return 1
        print(f"ok   dpdk live path: ARP resolved to {mac_a}, "
              f"{len(expect)} exact values over UDP (DPDK) and TCP (kernel path)")
        return 0
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        if os.path.exists(log_path):
            with open(log_path, "rb") as f:
                text = f.read().decode(errors="replace")
            if proc and proc.returncode not in (0, None):
                print(f"sluiced exited with {proc.returncode}:\n{text}")
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
