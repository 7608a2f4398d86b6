# SPDX-License-Identifier: Apache-2.0
"""Hand-built Ethernet frames and pcap files for the DPDK tests and benchmark.

Only the standard library: every header is packed with struct and every checksum is
computed here, so a test can also build frames with a checksum, a length or a flag wrong
on purpose.
"""
import socket
import struct

MAC_DST = bytes.fromhex("020000000001")
MAC_SRC = bytes.fromhex("020000000002")


def csum(data):
    """Internet checksum (RFC 1071) of data, as the 16-bit value to store."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(payload, ethertype, vlans=(), pad_to=0, pad_byte=b"Z"):
    """Ethernet II frame; vlans are VLAN ids pushed outermost first (0x88a8 for QinQ outer)."""
    hdr = MAC_DST + MAC_SRC
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if (len(vlans) > 1 and i == 0) else 0x8100
        hdr += struct.pack("!HH", tpid, vid & 0xFFF)
    frame = hdr + struct.pack("!H", ethertype) + payload
    if len(frame) < pad_to:
        frame += pad_byte * (pad_to - len(frame))
    return frame


def ipv4(src, dst, proto, payload, frag=0, ident=1, bad_cksum=False, total_len=None):
    """IPv4 header + payload; frag is the 16-bit flags/offset field (0x2000 = MF)."""
    tot = total_len if total_len is not None else 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, ident, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    ck = csum(hdr)
    if bad_cksum:
        ck ^= 0x5555
    return hdr[:10] + struct.pack("!H", ck) + hdr[12:] + payload


def ipv6(src, dst, nh, payload):
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, dst))
    return hdr + payload


def udp(src_ip, dst_ip, sport, dport, payload, v6=False, cksum="ok", length=None):
    """UDP header + payload; cksum is "ok", "zero" or "bad"."""
    ulen = length if length is not None else 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ulen, 0)
    if cksum == "zero":
        return hdr + payload
    if v6:
        pseudo = (socket.inet_pton(socket.AF_INET6, src_ip)
                  + socket.inet_pton(socket.AF_INET6, dst_ip)
                  + struct.pack("!I3xB", 8 + len(payload), 17))
    else:
        pseudo = (socket.inet_aton(src_ip) + socket.inet_aton(dst_ip)
                  + struct.pack("!xBH", 17, 8 + len(payload)))
    ck = csum(pseudo + struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)
    if ck == 0:
        ck = 0xFFFF
    if cksum == "bad":
        ck ^= 0x0F0F
    return hdr[:6] + struct.pack("!H", ck) + payload


def statsd4(src, dst, dport, text, vlans=(), **kw):
    payload = text.encode() if isinstance(text, str) else text
    ucs = kw.pop("cksum", "ok")
    return eth(ipv4(src, dst, 17, udp(src, dst, 40000, dport, payload, cksum=ucs), **kw),
               0x0800, vlans, pad_to=60)


def statsd6(src, dst, dport, text, vlans=(), cksum="ok"):
    payload = text.encode() if isinstance(text, str) else text
    return eth(ipv6(src, dst, 17, udp(src, dst, 40000, dport, payload, v6=True, cksum=cksum)),
               0x86DD, vlans, pad_to=60)


def arp_request(sender_ip, target_ip):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_SRC,
                       socket.inet_aton(sender_ip), b"\0" * 6, socket.inet_aton(target_ip))
    return b"\xff" * 6 + MAC_SRC + struct.pack("!H", 0x0806) + body + b"\0" * 18


def tcp_syn4(src, dst, dport):
    seg = struct.pack("!HHIIBBHHH", 40001, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    return eth(ipv4(src, dst, 6, seg), 0x0800, pad_to=60)


def icmp6_echo(src, dst):
    body = struct.pack("!BBHHH", 128, 0, 0, 1, 1) + b"ping"
    return eth(ipv6(src, dst, 58, body), 0x86DD, pad_to=60)


def write_pcap(path, frames):
    """Classic pcap (microsecond timestamps, LINKTYPE_ETHERNET)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000000, i % 1000000,
                                len(fr), len(fr)))
            f.write(fr)
