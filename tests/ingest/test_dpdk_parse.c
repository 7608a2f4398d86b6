/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frame classification for the DPDK listener (ingest/frame.h): Ethernet, VLAN/QinQ, IPv4,
 * IPv6 with extension headers, UDP, checksums and fragments. Frames are built here with an
 * independent big-endian RFC 1071 checksum, so a wrong sum in frame.c cannot hide behind
 * the same code computing the expectation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "ingest/frame.h"

TestSuite(dpdk_parse, .timeout = 10);

static const uint8_t OUR4[4] = {10, 1, 0, 1}, OTHER4[4] = {10, 9, 9, 9}, SRC4[4] = {10, 1, 0, 2};
static uint8_t OUR6[16], OTHER6[16], SRC6[16];

static void addrs(void)
{
    inet_pton(AF_INET6, "fd00::1", OUR6);
    inet_pton(AF_INET6, "fd00::99", OTHER6);
    inet_pton(AF_INET6, "fd00::2", SRC6);
}

static struct sl_frame_match match(void)
{
    struct sl_frame_match m;
    cr_assert(eq(int, sl_frame_match_parse("10.1.0.1:8125,[fd00::1]:8125", &m), 0));
    addrs();
    return m;
}

static uint16_t ref_csum(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    uint32_t s = 0;
    for (size_t i = 0; i < an; i += 2)
        s += (uint32_t)(a[i] << 8 | (i + 1 < an ? a[i + 1] : 0));
    for (size_t i = 0; i < bn; i += 2)
        s += (uint32_t)(b[i] << 8 | (i + 1 < bn ? b[i + 1] : 0));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* How to build a test frame. Zero means "the ordinary, valid choice". */
struct spec {
    char name[64]; /* an array: Criterion hands parameters to a fresh process */
    int v6;
    int vlans;           /* 0, 1 or 2 (QinQ) */
    int proto;           /* 0: UDP (17); else that protocol */
    int other_addr;      /* destination is not ours */
    uint16_t dport;      /* 0: 8125 */
    int udp_ck;          /* 0 ok, 1 zero, 2 bad */
    int ip_ck_bad;       /* IPv4 header checksum wrong */
    uint16_t frag;       /* IPv4 flags/offset, or for IPv6 a fragment header's offset/M field */
    int v6_frag_hdr;     /* IPv6: insert a fragment header */
    int v6_dstopt;       /* IPv6: insert an 8-byte destination options header */
    int ip_len_delta;    /* added to IPv4 total length / IPv6 payload length */
    int udp_len_delta;   /* added to the UDP length field */
    int cut;             /* bytes cut off the end of the frame */
    int pad;             /* trailing bytes after the IP packet (Ethernet padding) */
    int bad_version;
    enum sl_frame_ck nic_ip, nic_l4;
    enum sl_frame_class want;
    enum sl_frame_reason why;
};

static const char PAYLOAD[] = "api.req:1|c\nlat:3|ms|#env:prod";

/* Build the frame of @s into @f; @return its length. */
static size_t build(const struct spec *s, uint8_t *f)
{
    size_t o = 12;
    memset(f, 0, 12);
    f[0] = 0x02, f[5] = 1, f[6] = 0x02, f[11] = 2;
    for (int i = 0; i < s->vlans; i++) {
        put16(f + o, (s->vlans == 2 && i == 0) ? 0x88A8 : 0x8100);
        put16(f + o + 2, (uint16_t)(100 + i));
        o += 4;
    }
    put16(f + o, s->v6 ? 0x86DD : 0x0800);
    o += 2;
    uint8_t *ip = f + o;
    size_t plen = sizeof PAYLOAD - 1;
    uint8_t udp[8 + sizeof PAYLOAD];
    uint16_t ulen = (uint16_t)(8 + plen);
    put16(udp, 40000);
    put16(udp + 2, s->dport ? s->dport : 8125);
    put16(udp + 4, (uint16_t)(ulen + s->udp_len_delta));
    put16(udp + 6, 0);
    memcpy(udp + 8, PAYLOAD, plen);
    uint8_t proto = (uint8_t)(s->proto ? s->proto : 17);
    size_t iplen;
    if (!s->v6) {
        const uint8_t *dst = s->other_addr ? OTHER4 : OUR4;
        uint8_t pseudo[12];
        memcpy(pseudo, SRC4, 4);
        memcpy(pseudo + 4, dst, 4);
        pseudo[8] = 0, pseudo[9] = 17;
        put16(pseudo + 10, ulen);
        uint16_t ck = ref_csum(pseudo, 12, udp, ulen);
        put16(udp + 6, s->udp_ck == 1 ? 0 : s->udp_ck == 2 ? (uint16_t)(ck ^ 0x0f0f) : (ck ? ck : 0xffff));
        ip[0] = s->bad_version ? 0x65 : 0x45;
        ip[1] = 0;
        put16(ip + 2, (uint16_t)(20 + ulen + s->ip_len_delta));
        put16(ip + 4, 7);
        put16(ip + 6, s->frag);
        ip[8] = 64, ip[9] = proto;
        put16(ip + 10, 0);
        memcpy(ip + 12, SRC4, 4);
        memcpy(ip + 16, dst, 4);
        uint16_t hck = ref_csum(ip, 20, NULL, 0);
        put16(ip + 10, s->ip_ck_bad ? (uint16_t)(hck ^ 0x5555) : hck);
        memcpy(ip + 20, udp, ulen);
        iplen = 20 + ulen;
    } else {
        const uint8_t *dst = s->other_addr ? OTHER6 : OUR6;
        uint8_t pseudo[40];
        memcpy(pseudo, SRC6, 16);
        memcpy(pseudo + 16, dst, 16);
        memset(pseudo + 32, 0, 8);
        put16(pseudo + 34, ulen);
        pseudo[39] = 17;
        uint16_t ck = ref_csum(pseudo, 40, udp, ulen);
        put16(udp + 6, s->udp_ck == 1 ? 0 : s->udp_ck == 2 ? (uint16_t)(ck ^ 0x0f0f) : (ck ? ck : 0xffff));
        size_t ext = (s->v6_frag_hdr ? 8 : 0) + (s->v6_dstopt ? 8 : 0);
        ip[0] = s->bad_version ? 0x40 : 0x60;
        memset(ip + 1, 0, 3);
        put16(ip + 4, (uint16_t)(ext + ulen + s->ip_len_delta));
        ip[7] = 64;
        memcpy(ip + 8, SRC6, 16);
        memcpy(ip + 24, dst, 16);
        uint8_t *nh = ip + 6;
        size_t h = 40;
        if (s->v6_dstopt) {
            *nh = 60;
            nh = ip + h;
            ip[h + 1] = 0; /* 8 bytes */
            memset(ip + h + 2, 0, 6);
            ip[h + 2] = 1, ip[h + 3] = 4; /* PadN of 4 */
            h += 8;
        }
        if (s->v6_frag_hdr) {
            *nh = 44;
            nh = ip + h;
            ip[h + 1] = 0;
            put16(ip + h + 2, s->frag);
            memset(ip + h + 4, 0xab, 4);
            h += 8;
        }
        *nh = proto;
        memcpy(ip + h, udp, ulen);
        iplen = h + ulen;
    }
    size_t len = o + iplen;
    memset(f + len, 'Z', (size_t)s->pad);
    len += (size_t)s->pad;
    return len - (size_t)s->cut;
}

#define OK_STATSD .want = SL_FRAME_STATSD, .why = SL_FRAME_OK
#define KERNEL .want = SL_FRAME_KERNEL, .why = SL_FRAME_OK
#define BAD(r) .want = SL_FRAME_MALFORMED, .why = (r)

ParameterizedTestParameters(dpdk_parse, classify_table)
{
    static struct spec cases[] = {
        {.name = "v4 plain", OK_STATSD},
        {.name = "v4 vlan", .vlans = 1, OK_STATSD},
        {.name = "v4 qinq", .vlans = 2, OK_STATSD},
        {.name = "v4 padded frame uses IP length", .pad = 17, OK_STATSD},
        {.name = "v4 udp checksum zero", .udp_ck = 1, OK_STATSD},
        {.name = "v4 udp checksum bad", .udp_ck = 2, BAD(SL_FRAME_E_UDP_CKSUM)},
        {.name = "v4 udp bad but nic says good", .udp_ck = 2, .nic_l4 = SL_FRAME_CK_GOOD,
         OK_STATSD},
        {.name = "v4 nic says l4 bad", .nic_l4 = SL_FRAME_CK_BAD, BAD(SL_FRAME_E_UDP_CKSUM)},
        {.name = "v4 ip checksum bad", .ip_ck_bad = 1, BAD(SL_FRAME_E_IP_CKSUM)},
        {.name = "v4 nic says ip bad", .nic_ip = SL_FRAME_CK_BAD, BAD(SL_FRAME_E_IP_CKSUM)},
        {.name = "v4 ip bad but nic says good", .ip_ck_bad = 1, .nic_ip = SL_FRAME_CK_GOOD,
         OK_STATSD},
        {.name = "v4 bad version", .bad_version = 1, BAD(SL_FRAME_E_IP_HEADER)},
        {.name = "v4 total length past frame", .ip_len_delta = 5, BAD(SL_FRAME_E_TRUNCATED)},
        {.name = "v4 frame cut", .cut = 3, BAD(SL_FRAME_E_TRUNCATED)},
        {.name = "v4 udp length past ip", .udp_len_delta = 1, BAD(SL_FRAME_E_UDP_LENGTH)},
        {.name = "v4 udp length below 8", .udp_len_delta = -40, BAD(SL_FRAME_E_UDP_LENGTH)},
        {.name = "v4 first fragment", .frag = 0x2000, .want = SL_FRAME_FRAGMENT},
        {.name = "v4 later fragment", .frag = 0x0010, KERNEL},
        {.name = "v4 DF set is whole", .frag = 0x4000, OK_STATSD},
        {.name = "v4 other port", .dport = 53, KERNEL},
        {.name = "v4 other address", .other_addr = 1, KERNEL},
        {.name = "v4 tcp", .proto = 6, KERNEL},
        {.name = "v4 icmp", .proto = 1, KERNEL},
        {.name = "v4 other port bad checksum is the kernel's", .dport = 53, .udp_ck = 2, KERNEL},
        {.name = "v6 plain", .v6 = 1, OK_STATSD},
        {.name = "v6 vlan", .v6 = 1, .vlans = 1, OK_STATSD},
        {.name = "v6 qinq", .v6 = 1, .vlans = 2, OK_STATSD},
        {.name = "v6 padded", .v6 = 1, .pad = 9, OK_STATSD},
        {.name = "v6 udp checksum zero", .v6 = 1, .udp_ck = 1, BAD(SL_FRAME_E_UDP_CKSUM)},
        {.name = "v6 udp checksum bad", .v6 = 1, .udp_ck = 2, BAD(SL_FRAME_E_UDP_CKSUM)},
        {.name = "v6 bad version", .v6 = 1, .bad_version = 1, BAD(SL_FRAME_E_IP_HEADER)},
        {.name = "v6 payload length past frame", .v6 = 1, .ip_len_delta = 2,
         BAD(SL_FRAME_E_TRUNCATED)},
        {.name = "v6 udp length past ip", .v6 = 1, .udp_len_delta = 3, BAD(SL_FRAME_E_UDP_LENGTH)},
        {.name = "v6 dest options", .v6 = 1, .v6_dstopt = 1, OK_STATSD},
        {.name = "v6 atomic fragment", .v6 = 1, .v6_frag_hdr = 1, .frag = 0, OK_STATSD},
        {.name = "v6 first fragment", .v6 = 1, .v6_frag_hdr = 1, .frag = 1,
         .want = SL_FRAME_FRAGMENT},
        {.name = "v6 later fragment", .v6 = 1, .v6_frag_hdr = 1, .frag = 0x00a9, KERNEL},
        {.name = "v6 other port", .v6 = 1, .dport = 9999, KERNEL},
        {.name = "v6 other address", .v6 = 1, .other_addr = 1, KERNEL},
        {.name = "v6 icmpv6", .v6 = 1, .proto = 58, KERNEL},
        {.name = "v6 tcp", .v6 = 1, .proto = 6, KERNEL},
    };
    return cr_make_param_array(struct spec, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct spec *s, dpdk_parse, classify_table)
{
    struct sl_frame_match m = match();
    uint8_t f[512];
    size_t len = build(s, f);
    struct sl_frame_info fi;
    enum sl_frame_class c = sl_frame_classify(f, len, &m, s->nic_ip, s->nic_l4, &fi);
    cr_assert(eq(int, (int)c, (int)s->want), "%s: class", s->name);
    cr_assert(eq(int, (int)fi.cls, (int)s->want), "%s: info class", s->name);
    cr_assert(eq(int, (int)fi.reason, (int)s->why), "%s: reason %s", s->name,
              sl_frame_reason_name(fi.reason));
    if (s->want == SL_FRAME_STATSD) {
        cr_assert(eq(u32, fi.payload_len, (uint32_t)(sizeof PAYLOAD - 1)), "%s", s->name);
        cr_assert(le(u64, (uint64_t)fi.payload_off + fi.payload_len, len), "%s", s->name);
        cr_assert(eq(int, memcmp(f + fi.payload_off, PAYLOAD, sizeof PAYLOAD - 1), 0), "%s",
                  s->name);
        cr_assert(eq(int, fi.vlans, s->vlans), "%s", s->name);
        cr_assert(eq(int, fi.family, s->v6 ? 6 : 4), "%s", s->name);
    }
}

Test(dpdk_parse, classify_arp_goes_to_kernel)
{
    struct sl_frame_match m = match();
    uint8_t f[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06};
    struct sl_frame_info fi;
    cr_assert(eq(int, (int)sl_frame_classify(f, sizeof f, &m, 0, 0, &fi), SL_FRAME_KERNEL));
}

Test(dpdk_parse, classify_short_frames_are_truncated)
{
    struct sl_frame_match m = match();
    struct spec s = {.vlans = 1};
    uint8_t f[512];
    size_t len = build(&s, f);
    struct sl_frame_info fi;
    static const size_t cuts[] = {0, 1, 13, 14, 17, 18, 30, 37};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert(lt(sz, cuts[i], len));
        cr_assert(eq(int, (int)sl_frame_classify(f, cuts[i], &m, 0, 0, &fi), SL_FRAME_MALFORMED),
                  "cut at %zu", cuts[i]);
        cr_assert(eq(int, (int)fi.reason, SL_FRAME_E_TRUNCATED), "cut at %zu", cuts[i]);
    }
}

Test(dpdk_parse, classify_wildcard_endpoint_matches_any_address)
{
    struct sl_frame_match m;
    cr_assert(eq(int, sl_frame_match_parse("0.0.0.0:8125", &m), 0));
    addrs();
    struct spec s = {.other_addr = 1};
    uint8_t f[512];
    size_t len = build(&s, f);
    struct sl_frame_info fi;
    cr_assert(eq(int, (int)sl_frame_classify(f, len, &m, 0, 0, &fi), SL_FRAME_STATSD));
    s.v6 = 1; /* no IPv6 endpoint at all */
    len = build(&s, f);
    cr_assert(eq(int, (int)sl_frame_classify(f, len, &m, 0, 0, &fi), SL_FRAME_KERNEL));
}

Test(dpdk_parse, match_parse_bad_lists_return_einval)
{
    struct sl_frame_match m;
    static const char *bad[] = {"", "10.0.0.1", "10.0.0.1:8125,", "host:1", "1.2.3.4:70000",
                                "[::1:1", ",1.2.3.4:1",
                                /* nine endpoints, one more than SL_FRAME_MAX_ENDPOINTS */
                                ("1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,"
                                 "1.1.1.1:7,1.1.1.1:8,1.1.1.1:9")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(eq(int, sl_frame_match_parse(bad[i], &m), -EINVAL), "\"%s\"", bad[i]);
    cr_assert(eq(int, sl_frame_match_parse("[::]:1,1.2.3.4:2", &m), 0));
    cr_assert(eq(u32, m.n, 2));
    cr_assert(eq(int, m.ep[0].family, 6));
    cr_assert(eq(int, m.ep[1].port, 2));
}

Test(dpdk_parse, csum_matches_reference_for_odd_lengths)
{
    uint8_t buf[257];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint16_t want = (uint16_t)~ref_csum(buf, n, NULL, 0);
        uint16_t got = ntohs(sl_frame_csum_fold(sl_frame_csum_add(0, buf, n)));
        /* 0x0000 and 0xffff are the same value in ones' complement. */
        if (!(want == 0xffff && got == 0) && !(want == 0 && got == 0xffff))
            cr_assert(eq(u16, got, want), "len %zu", n);
    }
}

Test(dpdk_parse, csum_end_around_carry_from_a_large_partial_sum)
{
    /* A partial sum near 2^64 plus more bytes must still fold to the reference value:
     * (2^64 - 1) is 0 in ones' complement, so adding it changes nothing. */
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(0xff - i);
    for (size_t n = 1; n <= sizeof buf; n++) {
        uint16_t a = sl_frame_csum_fold(sl_frame_csum_add(0, buf, n));
        uint16_t b = sl_frame_csum_fold(sl_frame_csum_add(UINT64_MAX, buf, n));
        cr_assert(eq(int, a == 0 ? 0xffff : a, b == 0 ? 0xffff : b), "len %zu", n);
    }
}
