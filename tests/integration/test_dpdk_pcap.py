# SPDX-License-Identifier: Apache-2.0
"""DPDK ingest, pcap replay: a capture of StatsD datagrams with known content (IPv4 and IPv6,
VLAN and QinQ, mixed types and tags, malformed frames, fragments, ARP/TCP/ICMPv6 and other
ports and addresses) is replayed by DPDK's net_pcap driver under --no-huge --no-pci into a
real sluiced; every count and value is checked exactly after the flush.

usage: test_dpdk_pcap.py SLUICED HAVE_DPDK(0|1)   exit 77 when sluiced was built without DPDK.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from frames import (arp_request, icmp6_echo, statsd4, statsd6, tcp_syn4,  # noqa: E402
                    write_pcap, eth, ipv4, udp)
from sluiced_harness import Sluiced, free_port  # noqa: E402

BIN = sys.argv[1]
if len(sys.argv) > 2 and sys.argv[2] != "1":
    print("SKIP: sluiced was built without DPDK")
    sys.exit(77)

US4, PEER4, US6, PEER6 = "10.1.0.1", "10.1.0.2", "fd00::1", "fd00::2"

statsd_frames = [
    statsd4(PEER4, US4, 8125, "pc.hits:1|c\npc.hits:2|c|@0.5"),             # hits 5
    statsd4(PEER4, US4, 8125, "pc.temp:20|g\npc.temp:+5|g", vlans=(10,)),   # temp 25
    statsd6(PEER6, US6, 8125, "pc.lat:10|ms|#env:prod\npc.lat:30|ms|#env:prod"),
    statsd6(PEER6, US6, 8125, "pc.users:a|s\npc.users:b|s\npc.users:a|s", vlans=(20, 30)),
    # No UDP checksum (legal over IPv4), and a short frame padded with junk to 60 bytes: the
    # payload must end where the UDP length says, not at the frame's end.
    statsd4(PEER4, US4, 8125, "pc.nock:7|c", cksum="zero"),
    statsd4(PEER4, US4, 8125, "\n".join(["pc.many:1|c"] * 40)),              # many 40
    statsd4(PEER4, US4, 8125, "pc.ok:1|c\nnot a statsd line\npc.ok:1|c"),    # ok 2, 1 bad
    statsd6(PEER6, US6, 8125, "pc.tagged:3|c|#a:1,b:2\npc.tagged:4|c|#a:1,b:2", vlans=(5,)),
    # A jumbo frame larger than one mbuf: net_pcap chains segments, the poller copies.
    statsd4(PEER4, US4, 8125, "\n".join(["pc.jumbo:1|c|#pad:" + "x" * 40] * 100)),
]
malformed_frames = [
    statsd4(PEER4, US4, 8125, "pc.bad:1|c", cksum="bad"),                   # udp_checksum
    statsd6(PEER6, US6, 8125, "pc.bad:1|c", cksum="zero"),                  # udp_checksum
    statsd4(PEER4, US4, 8125, "pc.bad:1|c", bad_cksum=True),                # ip_checksum
    statsd4(PEER4, US4, 8125, "pc.bad:1|c", total_len=400),                 # truncated
    eth(ipv4(PEER4, US4, 17, udp(PEER4, US4, 1, 8125, b"pc.bad:1|c", length=200)), 0x0800),
]                                                                           # ^ udp_length
fragment_frames = [statsd4(PEER4, US4, 8125, "pc.frag:1|c", frag=0x2000)]
kernel_frames = [
    arp_request(PEER4, US4),
    tcp_syn4(PEER4, US4, 8125),
    statsd4(PEER4, US4, 53, "pc.other:1|c"),          # other port
    statsd4(PEER4, "10.9.9.9", 8125, "pc.other:1|c"),  # other address
    icmp6_echo(PEER6, US6),
    statsd4(PEER4, US4, 8125, "pc.other:1|c", frag=0x0040),  # later fragment: no port
]

frames = []
# Interleave so classification never depends on order.
for group in (statsd_frames, malformed_frames, fragment_frames, kernel_frames):
    frames.extend(group)
frames = frames[::2] + frames[1::2]


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-pcap-") as tmp:
        pcap = os.path.join(tmp, "statsd.pcap")
        write_pcap(pcap, frames)
        eal = ("--no-huge --no-pci --no-shconf -m 256 --no-telemetry --log-level=lib.eal:warning "
               f"--vdev=net_pcap0,rx_pcap={pcap}")
        with Sluiced(BIN, "--dpdk", "true", "--dpdk-eal-args", eal,
                     "--dpdk-address", f"{US4}:8125,[{US6}]:8125", "--shards", "2") as d:
            m = d.wait_for(lambda m: m.get('sluice_dpdk_packets_received_total'
                                           '{port="net_pcap0",queue="0"}') == len(frames)
                           and m.get("pc_many_total") == 40 and m.get("pc_tagged_total"
                                                                      '{a="1",b="2"}') == 7,
                           "the replayed capture to be flushed", timeout=20)
            q = 'port="net_pcap0",queue="0"'
            expect = {
                f"sluice_dpdk_packets_received_total{{{q}}}": len(frames),
                f"sluice_dpdk_bytes_received_total{{{q}}}": sum(len(f) for f in frames),
                f"sluice_dpdk_statsd_datagrams_total{{{q}}}": len(statsd_frames),
                f"sluice_dpdk_lines_received_total{{{q}}}": 2 + 2 + 2 + 3 + 1 + 40 + 3 + 2 + 100,
                f"sluice_dpdk_lines_parsed_total{{{q}}}": 2 + 2 + 2 + 3 + 1 + 40 + 2 + 2 + 100,
                f"sluice_dpdk_multiseg_copied_total{{{q}}}": 1,
                f"sluice_dpdk_kernel_passed_total{{{q}}}": 0,
                f'sluice_dpdk_dropped_total{{{q},reason="no_kernel_path"}}': len(kernel_frames),
                f'sluice_dpdk_dropped_total{{{q},reason="fragment"}}': 1,
                f'sluice_dpdk_dropped_total{{{q},reason="ring_full"}}': 0,
                f'sluice_dpdk_frames_malformed_total{{{q},reason="udp_checksum"}}': 2,
                f'sluice_dpdk_frames_malformed_total{{{q},reason="ip_checksum"}}': 1,
                f'sluice_dpdk_frames_malformed_total{{{q},reason="truncated"}}': 1,
                f'sluice_dpdk_frames_malformed_total{{{q},reason="udp_length"}}': 1,
                f'sluice_dpdk_frames_malformed_total{{{q},reason="ip_header"}}': 0,
                "pc_hits_total": 5,
                "pc_temp": 25,
                'pc_lat_count{env="prod"}': 2,
                'pc_lat_sum{env="prod"}': 40,
                'pc_lat_min{env="prod"}': 10,
                'pc_lat_max{env="prod"}': 30,
                "pc_users": 2,
                "pc_nock_total": 7,
                "pc_many_total": 40,
                "pc_ok_total": 2,
                'pc_tagged_total{a="1",b="2"}': 7,
                'pc_jumbo_total{pad="' + "x" * 40 + '"}': 100,
            }
            # Timer min/max and a set's distinct count are per flush interval: when the replay
            # straddles a flush boundary, /metrics already shows the next, empty interval. The
            # stored flushes keep the interval that saw the datagram.
            per_interval = {'pc_lat_min{env="prod"}': "min_over_time(pc_lat_min[10m])",
                            'pc_lat_max{env="prod"}': "max_over_time(pc_lat_max[10m])",
                            "pc_users": "max_over_time(pc_users[10m])"}
            got = {k: m.get(k) for k in expect}
            deadline = time.time() + 5
            for k, promql in per_interval.items():
                while (got.get(k) is None or got[k] != expect[k]) and time.time() < deadline:
                    got[k] = d.query_value(promql)
                    if got[k] != expect[k]:
                        time.sleep(0.1)
            bad = [f"{k}: got {got[k]}, want {v}" for k, v in expect.items() if got[k] != v]
            bad += affinity_problems(d.proc.pid)
            for name in ("pc_bad_total", "pc_other_total", "pc_frag_total"):
                if name in m:
                    bad.append(f"{name} must not exist, got {m[name]}")
            malformed_lines = sum(v for k, v in m.items()
                                  if k.startswith("sluice_dpdk_lines_malformed_total"))
            if malformed_lines != 1:
                bad.append(f"malformed StatsD lines: got {malformed_lines}, want 1")
            if bad:
                print("FAIL dpdk pcap replay:\n  " + "\n  ".join(bad))
                print(d.read_log())
                return 1
            print(f"ok   dpdk pcap replay: {len(frames)} frames, {len(expect)} exact values")
    rc = two_queues()
    return rc or startup_failures()


def affinity_problems(pid):
    """Regression: rte_eal_init() pins its caller to one CPU, and every thread started later
    (shards, pollers, listeners) inherited it. They must keep the CPUs sluiced was given."""
    want = os.sched_getaffinity(0)
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            comm = f.read().strip()
        if comm.startswith(("sl-shard", "sl-dpdk", "sl-udp")):
            got = os.sched_getaffinity(int(tid))
            if got != want:
                out.append(f"thread {comm} may run on CPUs {sorted(got)}, want {sorted(want)}")
    return out


def two_queues():
    """Two RX queues (net_pcap: one capture per queue), two pollers, two producers."""
    with tempfile.TemporaryDirectory(prefix="sluice-pcap2-") as tmp:
        pa, pb = os.path.join(tmp, "a.pcap"), os.path.join(tmp, "b.pcap")
        write_pcap(pa, [statsd4(PEER4, US4, 8125, f"q.a:{i}|c") for i in range(1, 101)]
                   + [arp_request(PEER4, US4)])
        write_pcap(pb, [statsd6(PEER6, US6, 8125, "q.b:1|c\nq.g:%d|g" % i)
                        for i in range(1, 51)])
        eal = ("--no-huge --no-pci --no-shconf -m 256 --no-telemetry "
               "--log-level=lib.eal:warning "
               f"--vdev=net_pcap0,rx_pcap={pa},rx_pcap={pb}")
        with Sluiced(BIN, "--dpdk", "true", "--dpdk-eal-args", eal, "--dpdk-queues", "2",
                     "--dpdk-address", f"{US4}:8125,[{US6}]:8125", "--shards", "2") as d:
            m = d.wait_for(lambda m: m.get("q_a_total") == 5050 and m.get("q_b_total") == 50,
                           "both queues flushed", timeout=20)
            q0, q1 = 'port="net_pcap0",queue="0"', 'port="net_pcap0",queue="1"'
            expect = {
                f"sluice_dpdk_packets_received_total{{{q0}}}": 101,
                f"sluice_dpdk_packets_received_total{{{q1}}}": 50,
                f"sluice_dpdk_statsd_datagrams_total{{{q0}}}": 100,
                f"sluice_dpdk_statsd_datagrams_total{{{q1}}}": 50,
                f"sluice_dpdk_lines_parsed_total{{{q1}}}": 100,
                f'sluice_dpdk_dropped_total{{{q0},reason="no_kernel_path"}}': 1,
                "q_a_total": 5050,
                "q_b_total": 50,
                "q_g": 50,
            }
            bad = [f"{k}: got {m.get(k)}, want {v}" for k, v in expect.items() if m.get(k) != v]
            if bad:
                print("FAIL dpdk two queues:\n  " + "\n  ".join(bad))
                return 1
    print("ok   dpdk two queues: two pollers with their own producers, exact values")
    return 0


def startup_failures():
    """No port: a clear error and exit 1; with dpdk.fallback the socket path serves."""
    eal = "--no-huge --no-pci --no-shconf -m 128 --no-telemetry --log-level=lib.eal:warning"
    r = subprocess.run([BIN, "--statsd", f"127.0.0.1:{free_port()}", "--http",
                        f"127.0.0.1:{free_port()}", "--dpdk",
                        "true", "--dpdk-eal-args", eal], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 1 or "dpdk: no port 0 (0 port(s) found" not in r.stderr:
        print(f"FAIL no-port start-up: rc={r.returncode} stderr={r.stderr!r}")
        return 1
    with Sluiced(BIN, "--dpdk", "true", "--dpdk-eal-args", eal, "--dpdk-fallback", "true") as d:
        d.send_udp("fb.hits:3|c")
        d.wait_for(lambda m: m.get("fb_hits_total") == 3, "socket path after fallback")
        if "event=fallback" not in d.read_log():
            print("FAIL fallback was not logged:\n" + d.read_log())
            return 1
    print("ok   dpdk start-up failure: clear error without fallback, socket path with it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
