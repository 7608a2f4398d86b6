/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Codec round trips: every scheme must reproduce bit patterns exactly (NaN payloads, the
 * staleness marker, +-Inf, -0.0, denormals, integers near 2^63), chunks of every size class,
 * and decoders must reject truncated input instead of reading past it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/theories.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "storage/codec.h"

TestSuite(codec, .timeout = 10);

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static double dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

#define STALE 0x7ff0000000000002ULL

static void roundtrip_vals(const double *v, size_t n, int force)
{
    size_t cap = sl_codec_vals_bound(n);
    uint8_t *buf = malloc(cap);
    double *out = malloc(n * sizeof *out);
    enum sl_venc used;
    int len = sl_codec_vals_encode(v, n, force, buf, cap, &used);
    cr_assert(gt(int, len, 0), "encode n=%zu force=%d rc=%d", n, force, len);
    if (force >= 0)
        cr_assert(eq(int, (int)used, force));
    int got = sl_codec_vals_decode(buf, (size_t)len, out, n);
    cr_assert(eq(int, got, len));
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(u64, bits(out[i]), bits(v[i])), "i=%zu scheme=%d", i, (int)used);
    free(buf);
    free(out);
}

TheoryDataPoints(codec, vals_roundtrip_edge_pairs_bit_exact) = {
    DataPoints(uint64_t, 0, 0x8000000000000000ULL /* -0.0 */, STALE, 0x7ff8000000000001ULL,
               0xfff0000000000000ULL /* -Inf */, 0x7ff0000000000000ULL /* +Inf */,
               1 /* smallest denormal */, 0x000fffffffffffffULL, 0x43e0000000000000ULL /* 2^63 */,
               0xc3e0000000000000ULL /* -2^63 */, 0x43dfffffffffffffULL /* 2^63-1024 */,
               0x3ff0000000000000ULL /* 1 */, 0x3fb999999999999aULL /* 0.1 */),
    DataPoints(uint64_t, 0, STALE, 0x4059000000000000ULL /* 100 */, 0x7fefffffffffffffULL,
               0x3ff0000000000000ULL),
    DataPoints(int, -1, 0, 1, 2, 3, 4),
};

Theory((uint64_t a, uint64_t b, int force), codec, vals_roundtrip_edge_pairs_bit_exact)
{
    double v[5] = {dbl(a), dbl(b), dbl(a), dbl(a), dbl(b)};
    if (force >= 0) {
        size_t cap = sl_codec_vals_bound(5);
        uint8_t buf[512];
        cr_assume(cap <= sizeof buf);
        int rc = sl_codec_vals_encode(v, 5, force, buf, sizeof buf, NULL);
        cr_assume(rc > 0); /* CONST and DEC apply only to some inputs */
    }
    roundtrip_vals(v, 5, force);
}

TheoryDataPoints(codec, ints_roundtrip_edges_exact) = {
    DataPoints(int64_t, 0, 1, -1, INT64_MIN, INT64_MAX, 1000, 1700000000000LL, -7),
    DataPoints(int64_t, 0, 1, -1, INT64_MIN, INT64_MAX, 10000, 3),
    DataPoints(size_t, 1, 2, 3, 17, 300),
};

Theory((int64_t start, int64_t step, size_t n), codec, ints_roundtrip_edges_exact)
{
    int64_t *v = malloc(n * sizeof *v), *out = malloc(n * sizeof *out);
    uint64_t x = (uint64_t)start;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)x;
        x += (uint64_t)step + (i % 7 == 3 ? (uint64_t)step * 3 : 0); /* wraps on purpose */
    }
    size_t cap = sl_codec_ints_bound(n);
    uint8_t *buf = malloc(cap);
    int len = sl_codec_ints_encode(v, n, buf, cap);
    cr_assert(gt(int, len, 0));
    cr_assert(eq(int, sl_codec_ints_decode(buf, (size_t)len, out, n), len));
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(i64, out[i], v[i]), "i=%zu", i);
    free(v);
    free(out);
    free(buf);
}

Test(codec, ints_regular_interval_costs_no_bits_per_sample)
{
    int64_t v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = 1700000000000LL + 10000LL * i;
    uint8_t buf[64];
    int len = sl_codec_ints_encode(v, 1000, buf, sizeof buf);
    cr_assert(gt(int, len, 0));
    cr_assert(le(int, len, 16));
}

Test(codec, vals_integers_pick_dec_and_stay_small)
{
    double v[720];
    double x = 50;
    srand(1);
    for (int i = 0; i < 720; i++) {
        x += (rand() % 5) - 2;
        v[i] = x;
    }
    uint8_t buf[8192];
    enum sl_venc s;
    int len = sl_codec_vals_encode(v, 720, -1, buf, sizeof buf, &s);
    cr_assert(eq(int, (int)s, SL_VENC_DEC));
    cr_assert(lt(int, len, 720 * 3 / 8 + 16)); /* < 3 bits per sample */
    roundtrip_vals(v, 720, -1);
}

Test(codec, vals_decimals_detected_with_scale)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (double)(1234 + i * 3) / 100.0;
    uint8_t buf[4096];
    enum sl_venc s;
    cr_assert(gt(int, sl_codec_vals_encode(v, 100, -1, buf, sizeof buf, &s), 0));
    cr_assert(eq(int, (int)s, SL_VENC_DEC));
    cr_assert(eq(u8, buf[1], 2));
    roundtrip_vals(v, 100, -1);
}

Test(codec, vals_constant_run_nine_bytes)
{
    double v[4000];
    for (int i = 0; i < 4000; i++)
        v[i] = dbl(STALE);
    uint8_t buf[64];
    enum sl_venc s;
    cr_assert(eq(int, sl_codec_vals_encode(v, 4000, -1, buf, sizeof buf, &s), 9));
    cr_assert(eq(int, (int)s, SL_VENC_CONST));
    roundtrip_vals(v, 4000, -1);
}

Test(codec, vals_random_bits_every_scheme_roundtrips)
{
    double v[2000];
    srand(7);
    for (int i = 0; i < 2000; i++) {
        uint64_t u = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand() ^
                     ((uint64_t)(rand() & 0xf) << 60);
        v[i] = dbl(u);
    }
    roundtrip_vals(v, 2000, -1);
    roundtrip_vals(v, 2000, SL_VENC_XOR);
    roundtrip_vals(v, 2000, SL_VENC_FDELTA);
    roundtrip_vals(v, 2000, SL_VENC_RAW);
}

Test(codec, vals_float_walk_beats_raw)
{
    double v[720];
    double x = 50;
    srand(3);
    for (int i = 0; i < 720; i++) {
        x += ((double)rand() / RAND_MAX - 0.5) * 2;
        v[i] = x;
    }
    uint8_t buf[8192];
    int len = sl_codec_vals_encode(v, 720, -1, buf, sizeof buf, NULL);
    cr_assert(lt(int, len, 720 * 7));
    roundtrip_vals(v, 720, -1);
}

static void chunk_roundtrip(size_t n, unsigned ncols, enum sl_codec_lz4 lz)
{
    int64_t *ts = malloc(n * 8), *ots = malloc(n * 8);
    double *cols[SL_CODEC_COLS_MAX], *ocols[SL_CODEC_COLS_MAX];
    for (unsigned c = 0; c < ncols; c++) {
        cols[c] = malloc(n * 8);
        ocols[c] = malloc(n * 8);
    }
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1000 + (int64_t)i * 15000 + (i % 10 == 0 ? 7 : 0);
        for (unsigned c = 0; c < ncols; c++)
            cols[c][i] = c == 0 ? (double)(i % 3) : (double)i * 0.25 + c;
    }
    size_t cap = sl_codec_chunk_bound(n, ncols);
    uint8_t *buf = malloc(cap), *scratch = malloc(cap);
    int len = sl_codec_chunk_encode(ts, (const double *const *)cols, ncols, n, lz, buf, cap);
    cr_assert(gt(int, len, 0));
    size_t in;
    unsigned inc;
    cr_assert(eq(int, sl_codec_chunk_info(buf, (size_t)len, &in, &inc), 0));
    cr_assert(eq(sz, in, n));
    cr_assert(eq(u32, inc, ncols));
    cr_assert(eq(int, sl_codec_chunk_decode(buf, (size_t)len, ots, ocols, ncols, n, scratch, cap),
                 (int)n));
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(i64, ots[i], ts[i]));
        for (unsigned c = 0; c < ncols; c++)
            cr_assert(eq(u64, bits(ocols[c][i]), bits(cols[c][i])));
    }
    /* every truncation is rejected or decodes without reading past the end (ASan checks) */
    for (int cut = 0; cut < len; cut += 1 + len / 64) {
        uint8_t *t = malloc((size_t)cut + 1);
        memcpy(t, buf, (size_t)cut);
        int rc = sl_codec_chunk_decode(t, (size_t)cut, ots, ocols, ncols, n, scratch, cap);
        cr_assert(lt(int, rc, 0), "cut=%d", cut);
        free(t);
    }
    for (unsigned c = 0; c < ncols; c++) {
        free(cols[c]);
        free(ocols[c]);
    }
    free(ts);
    free(ots);
    free(buf);
    free(scratch);
}

Test(codec, chunk_single_sample_roundtrips) { chunk_roundtrip(1, 1, SL_CODEC_LZ4_OFF); }
Test(codec, chunk_max_size_six_columns_hc_roundtrips)
{
    chunk_roundtrip(SL_CODEC_CHUNK_MAX, 6, SL_CODEC_LZ4_HC);
}
Test(codec, chunk_lz4_fast_roundtrips) { chunk_roundtrip(777, 2, SL_CODEC_LZ4_FAST); }

Test(codec, chunk_oversize_refused)
{
    int64_t ts[1] = {0};
    double v[1] = {0};
    const double *cols[1] = {v};
    uint8_t buf[64];
    cr_assert(eq(int, sl_codec_chunk_encode(ts, cols, 1, 0, 0, buf, sizeof buf), -EINVAL));
    cr_assert(eq(int, sl_codec_chunk_encode(ts, cols, 1, SL_CODEC_CHUNK_MAX + 1, 0, buf, 64),
                 -EINVAL));
}

Test(codec, chunk_garbage_never_crashes)
{
    uint8_t buf[256], scratch[1 << 16];
    int64_t ts[SL_CODEC_CHUNK_MAX];
    double v[SL_CODEC_CHUNK_MAX];
    double *cols[1] = {v};
    srand(11);
    for (int it = 0; it < 2000; it++) {
        size_t len = (size_t)(rand() % 256);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        if (len > 0)
            buf[0] = (uint8_t)(1 + rand() % 100);
        int rc = sl_codec_chunk_decode(buf, len, ts, cols, 1, SL_CODEC_CHUNK_MAX, scratch,
                                       sizeof scratch);
        cr_assert(le(int, rc, 100));
    }
}

Test(codec, varint_roundtrip_and_truncation)
{
    uint8_t b[10];
    uint64_t vals[] = {0, 127, 128, 300, UINT64_MAX};
    for (size_t i = 0; i < 5; i++) {
        size_t n = sl_varint_put(b, vals[i]);
        uint64_t v;
        cr_assert(eq(sz, sl_varint_get(b, b + n, &v), n));
        cr_assert(eq(u64, v, vals[i]));
        cr_assert(eq(sz, sl_varint_get(b, b + n - 1, &v), 0));
    }
}

/* ---- the Rice decoder's fast paths ------------------------------------------------------ */

static uint64_t xs = 0x2545f4914f6cdd1dULL;
static uint64_t xrand(void)
{
    xs ^= xs << 13;
    xs ^= xs >> 7;
    xs ^= xs << 17;
    return xs;
}

/* Integers whose residuals need Rice parameter about @k, with a share of long unary parts
 * (q in 16..40) and of escapes (huge outliers), at lengths that end inside every fast
 * loop's tail margin. Decoding must give the values back and consume exactly the bytes the
 * encoder wrote; one byte less must be refused. */
TheoryDataPoints(codec, ints_every_rice_parameter_with_outliers_roundtrip) = {
    DataPoints(unsigned, 0, 1, 2, 3, 7, 15, 20, 23, 24, 25, 31, 33, 40, 47, 48, 50, 55, 56, 57,
               60, 62),
    DataPoints(size_t, 1, 2, 3, 9, 17, 100, 1000, 8192),
};

Theory((unsigned k, size_t n), codec, ints_every_rice_parameter_with_outliers_roundtrip)
{
    int64_t *v = malloc(n * sizeof *v), *out = malloc(n * sizeof *out);
    size_t cap = sl_codec_ints_bound(n);
    uint8_t *buf = malloc(cap);
    for (int mix = 0; mix < 3; mix++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t r = xrand(), m = k ? (1ULL << k) - 1 : 0;
            int64_t x = (int64_t)(r & m) - (int64_t)(m / 2);
            unsigned pick = (unsigned)(xrand() % 100);
            if (mix >= 1 && pick < 3)
                x = (int64_t)((16 + xrand() % 25) << k) * ((xrand() & 1) ? 1 : -1); /* long q */
            if (mix == 2 && pick >= 97)
                x = (int64_t)xrand(); /* escape */
            v[i] = x; /* order 0 is cheapest for noise; the encoder may pick any */
        }
        /* the current writer (split layout from 64 residuals) and format 1's classic one */
        for (int classic = 0; classic < 2; classic++) {
            int len = classic ? sl_codec__ints_encode_classic(v, n, buf, cap)
                              : sl_codec_ints_encode(v, n, buf, cap);
            cr_assert(gt(int, len, 0));
            memset(out, 0x5a, n * sizeof *out);
            cr_assert(eq(int, sl_codec_ints_decode(buf, (size_t)len, out, n), len),
                      "k=%u n=%zu mix=%d classic=%d", k, n, mix, classic);
            for (size_t i = 0; i < n; i++)
                cr_assert(eq(i64, out[i], v[i]), "k=%u n=%zu mix=%d classic=%d i=%zu", k, n,
                          mix, classic, i);
            if (len > 2 && buf[len - 1] != 0xFF) /* K_ALLZERO columns end with the k byte */
                cr_assert(lt(int, sl_codec_ints_decode(buf, (size_t)len - 1, out, n), 0),
                          "truncated k=%u n=%zu mix=%d classic=%d", k, n, mix, classic);
        }
    }
    free(v);
    free(out);
    free(buf);
}

/* Every single-byte change of a split-layout column either decodes to n values or is
 * refused; it never reads outside the column (ASan) or loops forever (the timeout). */
Test(codec, ints_split_layout_byte_flips_never_read_outside)
{
    enum { N = 300 };
    int64_t v[N], out[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (int64_t)(xrand() % 5000) * ((i % 50 == 0) ? 1000000007LL : 1);
    uint8_t buf[4096], bad[4096];
    int len = sl_codec_ints_encode(v, N, buf, sizeof buf);
    cr_assert(gt(int, len, 0));
    for (int i = 0; i < len; i++) {
        for (int f = 0; f < 3; f++) {
            memcpy(bad, buf, (size_t)len);
            bad[i] = f == 0 ? (uint8_t)~bad[i] : f == 1 ? 0xFF : 0x00;
            uint8_t *exact = malloc((size_t)len); /* exact size: ASan sees any over-read */
            memcpy(exact, bad, (size_t)len);
            int rc = sl_codec_ints_decode(exact, (size_t)len, out, N);
            cr_assert(rc < 0 || (rc > 0 && rc <= len));
            free(exact);
        }
    }
}
