/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for sl_frame_classify(), the DPDK listener's frame classifier. The first
 * input byte picks the endpoint set and what the NIC claims about checksums; the rest is
 * the frame. For every input:
 *   - the call reads only the frame's bytes (ASan guards the copy's exact size);
 *   - cls, reason and the payload window agree: STATSD => reason OK and the payload lies
 *     inside the frame after at least Ethernet + IPv4 + UDP headers; MALFORMED => a reason;
 *     anything else => reason OK;
 *   - the answer is deterministic;
 *   - trusting the NIC can only accept more: a frame we accept with unknown checksums is
 *     still accepted when the NIC says GOOD, and refused with a checksum reason when it
 *     says BAD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__, __LINE__, #c);                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_frame_match sets[2];
    static int ready;
    if (!ready) {
        CHECK(sl_frame_match_parse("10.1.0.1:8125,[fd00::1]:8125", &sets[0]) == 0);
        CHECK(sl_frame_match_parse("0.0.0.0:8125,[::]:8125", &sets[1]) == 0);
        ready = 1;
    }
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    size_t len = size - 1;
    uint8_t *f = malloc(len ? len : 1); /* exact size: ASan catches any overread */
    CHECK(f != NULL);
    memcpy(f, data + 1, len);
    const struct sl_frame_match *m = &sets[sel & 1];
    enum sl_frame_ck ipck = (enum sl_frame_ck)((sel >> 1) % 3);
    enum sl_frame_ck l4ck = (enum sl_frame_ck)((sel >> 3) % 3);

    struct sl_frame_info a, b;
    enum sl_frame_class c = sl_frame_classify(f, len, m, ipck, l4ck, &a);
    CHECK(c == a.cls);
    switch (c) {
    case SL_FRAME_STATSD:
        CHECK(a.reason == SL_FRAME_OK);
        CHECK(a.payload_off >= 14 + 20 + 8);
        CHECK((uint64_t)a.payload_off + a.payload_len <= len);
        CHECK(a.family == 4 || a.family == 6);
        break;
    case SL_FRAME_MALFORMED:
        CHECK(a.reason > SL_FRAME_OK && a.reason < SL_FRAME_E__COUNT);
        break;
    case SL_FRAME_KERNEL:
    case SL_FRAME_FRAGMENT:
        CHECK(a.reason == SL_FRAME_OK);
        break;
    default:
        CHECK(0);
    }
    CHECK(sl_frame_classify(f, len, m, ipck, l4ck, &b) == c);
    CHECK(memcmp(&a, &b, sizeof a) == 0);

    if (c == SL_FRAME_STATSD && ipck == SL_FRAME_CK_UNKNOWN && l4ck == SL_FRAME_CK_UNKNOWN) {
        CHECK(sl_frame_classify(f, len, m, SL_FRAME_CK_GOOD, SL_FRAME_CK_GOOD, &b) ==
              SL_FRAME_STATSD);
        CHECK(b.payload_off == a.payload_off && b.payload_len == a.payload_len);
        CHECK(sl_frame_classify(f, len, m, SL_FRAME_CK_UNKNOWN, SL_FRAME_CK_BAD, &b) ==
              SL_FRAME_MALFORMED);
        CHECK(b.reason == SL_FRAME_E_UDP_CKSUM);
        if (a.family == 4) {
            CHECK(sl_frame_classify(f, len, m, SL_FRAME_CK_BAD, SL_FRAME_CK_UNKNOWN, &b) ==
                  SL_FRAME_MALFORMED);
            CHECK(b.reason == SL_FRAME_E_IP_CKSUM);
        }
    }
    free(f);
    return 0;
}
