/* SPDX-License-Identifier: Apache-2.0 */
/* Criterion suite for ingest/wire.c: round trips, canonical form, and refusal of damage. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/record.h"
#include "ingest/wire.h"

TestSuite(wire, .timeout = 10);

union slot {
    struct sl_record r;
    char b[sizeof(struct sl_record) + SL_KEY_MAX];
};

/* A record for metric @name of type @mtype with one label. */
static struct sl_record *make(union slot *s, uint8_t mtype, const char *name, double value,
                              double rate, uint8_t flags)
{
    struct sl_label l = {"env", "prod", 3, 4};
    int n = sl_key_build(mtype, name, strlen(name), &l, 1, s->r.key, SL_KEY_MAX);
    cr_assert(gt(int, n, 0));
    s->r = (struct sl_record){.kind = SL_REC_SAMPLE,
                              .mtype = mtype,
                              .flags = flags,
                              .key_len = (uint16_t)n,
                              .rate = rate}; /* header only: key kept */
    s->r.id = sl_key_hash(s->r.key, (size_t)n);
    s->r.value = value;
    return &s->r;
}

Test(wire, put_then_read_mixed_types_returns_same_samples)
{
    uint8_t buf[4096];
    struct sl_wire_writer w;
    union slot s0, s1, s2, s3; /* no arrays: the union holds a flexible array member */
    struct sl_record *r[4] = {
        make(&s0, SL_METRIC_COUNTER, "req", 3, 0.25, 0),
        make(&s1, SL_METRIC_GAUGE, "temp", -5, 1, SL_REC_F_DELTA),
        make(&s2, SL_METRIC_TIMER, "lat", 12.5, 1, 0),
        make(&s3, SL_METRIC_SET, "users", 0, 1, 0),
    };
    r[3]->member = 0xdeadbeefcafef00dull;
    int64_t ts[4] = {1700000000000, 1700000000001, 1699999999000, INT64_MIN};
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, ts[0]), 0));
    for (int i = 0; i < 4; i++)
        cr_assert(eq(int, sl_wire_put(&w, r[i], r[i]->key, ts[i]), 0));
    size_t len = sl_wire_finish(&w);
    cr_assert(sl_wire_is_batch(buf, len));

    struct sl_wire_reader rd;
    struct sl_wire_sample x;
    cr_assert(eq(int, sl_wire_reader_init(&rd, buf, len), 4));
    for (int i = 0; i < 4; i++) {
        cr_assert(eq(int, sl_wire_next(&rd, &x), 1));
        cr_assert(eq(u16, x.key_len, r[i]->key_len));
        cr_assert(eq(int, memcmp(x.key, r[i]->key, x.key_len), 0));
        cr_assert(eq(u8, x.mtype, r[i]->mtype));
        cr_assert(eq(u8, x.flags, r[i]->flags));
        cr_assert(eq(u64, x.member, r[i]->member));
        cr_assert(eq(dbl, x.rate, r[i]->rate));
        cr_assert(eq(i64, x.ts_ms, ts[i]));
    }
    cr_assert(eq(int, sl_wire_next(&rd, &x), 0));
}

Test(wire, empty_batch_reads_zero_samples)
{
    uint8_t buf[SL_WIRE_HDR_LEN];
    struct sl_wire_writer w;
    struct sl_wire_reader rd;
    struct sl_wire_sample x;
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, 0), 0));
    cr_assert(eq(sz, sl_wire_finish(&w), (size_t)SL_WIRE_HDR_LEN));
    cr_assert(eq(int, sl_wire_reader_init(&rd, buf, sizeof buf), 0));
    cr_assert(eq(int, sl_wire_next(&rd, &x), 0));
}

Test(wire, put_when_full_returns_enospc_and_keeps_batch)
{
    uint8_t buf[96]; /* room for the header and one ~49-byte sample, not two */
    struct sl_wire_writer w;
    union slot s;
    struct sl_record *r = make(&s, SL_METRIC_COUNTER, "a_rather_long_metric_name", 1, 1, 0);
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, 0), 0));
    cr_assert(eq(int, sl_wire_put(&w, r, r->key, 0), 0));
    size_t before = w.len;
    cr_assert(eq(int, sl_wire_put(&w, r, r->key, 0), -ENOSPC));
    cr_assert(eq(sz, w.len, before));
    cr_assert(eq(u32, sl_wire_count(&w), 1));
    struct sl_wire_reader rd;
    cr_assert(eq(int, sl_wire_reader_init(&rd, buf, sl_wire_finish(&w)), 1));
}

Test(wire, writer_init_with_tiny_buffer_returns_einval)
{
    uint8_t buf[8];
    struct sl_wire_writer w;
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, 0), -EINVAL));
}

struct bad_rec {
    uint8_t mtype, key_kind, flags;
    double rate;
};

static struct bad_rec bad_recs[] = {
    {SL_METRIC_COUNTER, SL_METRIC_GAUGE, 0, 1},                /* key kind != mtype */
    {SL_METRIC_COUNTER, SL_METRIC_COUNTER, 0, 0},              /* rate 0 */
    {SL_METRIC_COUNTER, SL_METRIC_COUNTER, 0, 1.5},            /* rate > 1 */
    {SL_METRIC_COUNTER, SL_METRIC_COUNTER, 0, NAN},            /* rate NaN */
    {SL_METRIC_COUNTER, SL_METRIC_COUNTER, SL_REC_F_DELTA, 1}, /* delta on a counter */
    {SL_METRIC__COUNT, SL_METRIC__COUNT, 0, 1},                /* unknown type */
    {SL_METRIC_GAUGE, SL_METRIC_GAUGE, 0x80, 1},               /* unknown flag */
};

ParameterizedTestParameters(wire, put_invalid_record_returns_einval)
{
    return cr_make_param_array(struct bad_rec, bad_recs, sizeof bad_recs / sizeof bad_recs[0]);
}

ParameterizedTest(struct bad_rec *b, wire, put_invalid_record_returns_einval)
{
    uint8_t buf[256];
    struct sl_wire_writer w;
    union slot s;
    struct sl_record *r = make(&s, b->key_kind, "m", 1, 1, 0);
    r->mtype = b->mtype;
    r->flags = b->flags;
    r->rate = b->rate;
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, 0), 0));
    cr_assert(eq(int, sl_wire_put(&w, r, r->key, 0), -EINVAL));
    cr_assert(eq(u32, sl_wire_count(&w), 0));
}

static size_t one_batch(uint8_t *buf, size_t cap)
{
    struct sl_wire_writer w;
    union slot s;
    struct sl_record *r = make(&s, SL_METRIC_COUNTER, "hits", 2, 0.5, 0);
    sl_wire_writer_init(&w, buf, cap, 1000);
    sl_wire_put(&w, r, r->key, 1234);
    sl_wire_put(&w, r, r->key, 999);
    return sl_wire_finish(&w);
}

Test(wire, reader_with_flipped_payload_bit_returns_corrupt)
{
    uint8_t buf[512];
    size_t len = one_batch(buf, sizeof buf);
    for (size_t i = SL_WIRE_HDR_LEN; i < len; i++) {
        buf[i] ^= 0x10;
        struct sl_wire_reader rd;
        cr_assert(eq(int, sl_wire_reader_init(&rd, buf, len), SL_E_CORRUPT), "byte %zu", i);
        buf[i] ^= 0x10;
    }
}

Test(wire, reader_with_unknown_version_returns_version_error)
{
    uint8_t buf[512];
    size_t len = one_batch(buf, sizeof buf);
    buf[2] = SL_WIRE_VERSION + 1;
    struct sl_wire_reader rd;
    cr_assert(eq(int, sl_wire_reader_init(&rd, buf, len), SL_E_VERSION));
}

Test(wire, reader_with_truncated_batch_returns_error)
{
    uint8_t buf[512];
    size_t len = one_batch(buf, sizeof buf);
    for (size_t cut = 0; cut < len; cut++) {
        struct sl_wire_reader rd;
        int rc = sl_wire_reader_init(&rd, buf, cut);
        cr_assert(rc == SL_E_PROTO || rc == SL_E_CORRUPT, "cut %zu rc %d", cut, rc);
    }
}

Test(wire, statsd_text_is_not_a_batch)
{
    const char *t = "api.req:1|c\n";
    cr_assert(not(sl_wire_is_batch(t, strlen(t))));
    struct sl_wire_reader rd;
    cr_assert(eq(int, sl_wire_reader_init(&rd, t, strlen(t)), SL_E_PROTO));
}

Test(wire, crc32c_of_standard_check_string_is_e3069283)
{
    /* The CRC-32C check value from the Castagnoli catalogue (RFC 3720 appendix B.4). */
    cr_assert(eq(u32, sl_wire_crc32c(0, "123456789", 9), 0xE3069283u));
}

TheoryDataPoints(wire, value_and_timestamp_round_trip) = {
    DataPoints(double, 0.0, 1.0, -1.0, 1e300, -1e-300, INFINITY, 4503599627370497.0),
    DataPoints(int64_t, 0, 1, -1, INT64_MIN, INT64_MAX, 1700000000123),
    DataPoints(int64_t, 0, INT64_MIN, INT64_MAX, 1700000000000),
};

Theory((double v, int64_t ts, int64_t base), wire, value_and_timestamp_round_trip)
{
    uint8_t buf[256];
    struct sl_wire_writer w;
    union slot s;
    struct sl_record *r = make(&s, SL_METRIC_GAUGE, "g", v, 1, 0);
    cr_assert(eq(int, sl_wire_writer_init(&w, buf, sizeof buf, base), 0));
    cr_assert(eq(int, sl_wire_put(&w, r, r->key, ts), 0));
    size_t len = sl_wire_finish(&w);
    struct sl_wire_reader rd;
    struct sl_wire_sample x;
    cr_assert(eq(int, sl_wire_reader_init(&rd, buf, len), 1));
    cr_assert(eq(int, sl_wire_next(&rd, &x), 1));
    cr_assert(eq(u64, x.member, r->member)); /* bit-exact, including signed zero and inf */
    cr_assert(eq(i64, x.ts_ms, ts));
    cr_assert(eq(int, sl_wire_next(&rd, &x), 0));
}
