/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the wire batch decoder (ingest/wire.h). Arbitrary bytes must either be
 * refused (SL_E_PROTO, SL_E_VERSION, SL_E_CORRUPT) or decode to samples that:
 *   - are valid records (key kind == mtype, key NUL-terminated, rate in (0, 1]),
 *   - number exactly the header's count,
 *   - re-encode, with the batch's base timestamp, to exactly the input bytes (the decoder
 *     accepts canonical encodings only, so a batch has one meaning).
 * Because the CRC guards the samples, each input is also checked with its CRC repaired, so
 * mutations reach the sample decoder. Seed corpus: gen_wire_corpus.c.
 * A violated invariant aborts, which libFuzzer and the replay driver both report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/record.h"
#include "ingest/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__, __LINE__, #c);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_batch(const uint8_t *data, size_t size)
{
    struct sl_wire_reader rd;
    int n = sl_wire_reader_init(&rd, data, size);
    if (n < 0) {
        CHECK(n == SL_E_PROTO || n == SL_E_VERSION || n == SL_E_CORRUPT);
        return;
    }
    uint8_t *out = malloc(size > SL_WIRE_HDR_LEN ? size : SL_WIRE_HDR_LEN);
    CHECK(out);
    struct sl_wire_writer w;
    int64_t base;
    memcpy(&base, data + 8, sizeof base); /* little-endian hosts only, like the rest of sluice */
    CHECK(sl_wire_writer_init(&w, out, size, base) == 0);
    union {
        struct sl_record r;
        char b[sizeof(struct sl_record) + SL_KEY_MAX];
    } slot;
    struct sl_wire_sample s;
    int rc, got = 0;
    while ((rc = sl_wire_next(&rd, &s)) == 1) {
        got++;
        CHECK(s.key_len >= 2 && s.key_len <= SL_KEY_MAX);
        CHECK((uint8_t)s.key[0] == s.mtype && s.mtype < SL_METRIC__COUNT);
        CHECK(s.key[s.key_len - 1] == '\0');
        CHECK(s.rate > 0 && s.rate <= 1);
        slot.r = (struct sl_record){.kind = SL_REC_SAMPLE,
                                    .mtype = s.mtype,
                                    .flags = s.flags,
                                    .key_len = s.key_len,
                                    .rate = s.rate};
        slot.r.member = s.member;
        memcpy(slot.r.key, s.key, s.key_len);
        CHECK(sl_wire_put(&w, &slot.r, slot.r.key, s.ts_ms) == 0);
    }
    CHECK(rc == 0 || rc == SL_E_PROTO);
    if (rc == 0) {
        CHECK(got == n);
        CHECK(sl_wire_finish(&w) == size);
        CHECK(memcmp(out, data, size) == 0);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_batch(data, size);
    /* Again with the CRC repaired: random bytes almost never carry a matching CRC, and
     * without this the sample decoder behind it would hardly be reached. */
    if (size >= SL_WIRE_HDR_LEN) {
        uint8_t *copy = malloc(size);
        CHECK(copy);
        memcpy(copy, data, size);
        uint32_t crc = sl_wire_crc32c(0, copy + SL_WIRE_HDR_LEN, size - SL_WIRE_HDR_LEN);
        for (int i = 0; i < 4; i++)
            copy[16 + i] = (uint8_t)(crc >> (8 * i));
        check_batch(copy, size);
        free(copy);
    }
    return 0;
}
