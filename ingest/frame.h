/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file frame.h
 * Classifies one raw Ethernet frame for a kernel-bypass listener: is it a StatsD datagram
 * for one of our endpoints (and where is its payload), something the host kernel should
 * see (ARP, ICMP, TCP, other ports or addresses), a fragment of a StatsD datagram, or
 * malformed. A pure function over bytes: no DPDK types, no allocation, no state, so it is
 * unit-tested and fuzzed without a NIC, and the DPDK lcore calls it once per mbuf.
 *
 * What it understands:
 *
 *   dst mac | src mac | [0x8100 tci]... | 0x0800 IPv4 hdr (IHL) | UDP 8 | payload
 *                                       | 0x86DD IPv6 40 [+ ext hdrs 0/43/60/44] | UDP 8 | ...
 *
 * Up to two VLAN tags (0x8100 / 0x88A8, QinQ). Lengths come from the IP and UDP headers,
 * never from the frame size, because short frames are padded to 60 bytes on the wire.
 * Checksums (IPv4 header, UDP over the pseudo header) are verified only for frames addressed
 * to us, and only when the NIC did not already say good or bad: the kernel verifies its
 * own traffic, and a checksum the NIC verified is not worth re-summing.
 *
 * Fragments: a datagram that arrives fragmented is never reassembled here. The first
 * fragment of a datagram to our address and port is classified SL_FRAME_FRAGMENT (the
 * caller counts and drops it); non-first fragments carry no port, so they go to the kernel,
 * which discards them when no first fragment completes them. StatsD clients keep datagrams
 * below the path MTU (DogStatsD's default buffer is 1432 bytes), so reassembly state on the
 * polling core would buy nothing but a way to exhaust memory.
 *
 * The MAC destination is not checked: the port is expected to receive only frames the NIC's
 * filter passed, and a StatsD datagram is ours by its IP address and port.
 *
 * Thread: any; reentrant.
 */
#ifndef SL_FRAME_H
#define SL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define SL_FRAME_MAX_ENDPOINTS 8

/** One address we receive StatsD on. An all-zero @addr of a family matches any address. */
struct sl_frame_endpoint {
    uint8_t family;   /* 4 or 6 */
    uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
    uint16_t port;    /* host order */
};

struct sl_frame_match {
    uint32_t n;
    struct sl_frame_endpoint ep[SL_FRAME_MAX_ENDPOINTS];
};

/** What the NIC (or PMD) already knows about a checksum (mapped from mbuf ol_flags). */
enum sl_frame_ck {
    SL_FRAME_CK_UNKNOWN = 0, /* not verified: classify() sums it itself */
    SL_FRAME_CK_GOOD,        /* verified good (or the data's integrity is otherwise known) */
    SL_FRAME_CK_BAD,         /* verified bad */
};

enum sl_frame_class {
    SL_FRAME_STATSD = 0, /* UDP to one of our endpoints; payload at off/len */
    SL_FRAME_KERNEL,     /* not ours: hand it to the host kernel */
    SL_FRAME_FRAGMENT,   /* first fragment of a datagram to our endpoint: count and drop */
    SL_FRAME_MALFORMED,  /* addressed to us (or unparseable): count by reason and drop */
};

enum sl_frame_reason {
    SL_FRAME_OK = 0,
    SL_FRAME_E_TRUNCATED,   /* a header or the IP/UDP length runs past the frame */
    SL_FRAME_E_IP_HEADER,   /* bad version, IHL, total length or IPv6 payload length */
    SL_FRAME_E_IP_CKSUM,    /* IPv4 header checksum wrong */
    SL_FRAME_E_UDP_LENGTH,  /* UDP length below 8 or beyond the IP payload */
    SL_FRAME_E_UDP_CKSUM,   /* UDP checksum wrong (or zero over IPv6) */
    SL_FRAME_E__COUNT
};

struct sl_frame_info {
    enum sl_frame_class cls;
    enum sl_frame_reason reason; /* SL_FRAME_OK unless cls == SL_FRAME_MALFORMED */
    uint8_t family;              /* 4 or 6 when an IP header was parsed, else 0 */
    uint8_t vlans;               /* VLAN tags skipped */
    uint32_t payload_off;        /* STATSD: UDP payload offset in the frame */
    uint32_t payload_len;        /* STATSD: UDP payload bytes (UDP length - 8) */
};

/**
 * Classify the @len-byte Ethernet frame at @frame.
 * @param frame  BORROWED; only read, never kept.
 * @param m      BORROWED; the endpoints that count as "ours".
 * @param ip_ck  what the NIC knows about the IPv4 header checksum.
 * @param l4_ck  what the NIC knows about the UDP checksum.
 * @param[out] out  filled on every call.
 * @return out->cls. Frames shorter than an Ethernet header (or its VLAN tags), and IPv4/IPv6
 *         frames whose fixed header is cut short or inconsistent, are MALFORMED; other
 *         EtherTypes go to the kernel (it owns ARP, LLDP and the rest), and so do IP frames
 *         that are not UDP to an endpoint of @m, unparsed past what was needed.
 * Thread: any.
 */
enum sl_frame_class sl_frame_classify(const uint8_t *frame, size_t len,
                                      const struct sl_frame_match *m, enum sl_frame_ck ip_ck,
                                      enum sl_frame_ck l4_ck, struct sl_frame_info *out);

/**
 * Parse "HOST:PORT[,HOST:PORT...]" (IPv6 hosts in brackets; "0.0.0.0" / "[::]" match any
 * address of that family) into @m.
 * @return 0, or -EINVAL when an entry is not a numeric HOST:PORT or there are more than
 *         SL_FRAME_MAX_ENDPOINTS entries.
 */
int sl_frame_match_parse(const char *s, struct sl_frame_match *m);

/** Name of @r for metrics labels ("truncated", "ip_header", ...). Static storage. */
const char *sl_frame_reason_name(enum sl_frame_reason r);

/** Internet checksum partial sum of @len bytes at @p added to @sum (not folded). */
uint64_t sl_frame_csum_add(uint64_t sum, const uint8_t *p, size_t len);
/** Fold a partial sum to 16 bits (ones' complement, not inverted). */
uint16_t sl_frame_csum_fold(uint64_t sum);

#endif
