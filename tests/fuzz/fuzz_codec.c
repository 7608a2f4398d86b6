/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the chunk decoder. Invariants: decoding never reads outside the input (sanitizers);
 * a successful decode returns 1..8192 samples; and whatever decoded re-encodes and decodes
 * again to the same timestamps and value bit patterns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"

static int64_t t1[SL_CODEC_CHUNK_MAX], t2[SL_CODEC_CHUNK_MAX];
static double v1[SL_CODEC_COLS_MAX][SL_CODEC_CHUNK_MAX], v2[SL_CODEC_COLS_MAX][SL_CODEC_CHUNK_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *scratch, *enc;
    static size_t slen;
    if (!scratch) {
        slen = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_CODEC_COLS_MAX);
        scratch = malloc(slen);
        enc = malloc(slen);
        if (!scratch || !enc)
            abort();
    }
    size_t n;
    unsigned nc;
    if (sl_codec_chunk_info(data, size, &n, &nc) != 0)
        return 0;
    double *c1[SL_CODEC_COLS_MAX], *c2[SL_CODEC_COLS_MAX];
    for (unsigned c = 0; c < SL_CODEC_COLS_MAX; c++) {
        c1[c] = v1[c];
        c2[c] = v2[c];
    }
    int got = sl_codec_chunk_decode(data, size, t1, c1, nc, SL_CODEC_CHUNK_MAX, scratch, slen);
    if (got < 0)
        return 0;
    if (got < 1 || got > SL_CODEC_CHUNK_MAX || (size_t)got != n)
        abort();
    int len = sl_codec_chunk_encode(t1, (const double *const *)c1, nc, n, SL_CODEC_LZ4_FAST, enc,
                                    slen);
    if (len <= 0)
        abort();
    if (sl_codec_chunk_decode(enc, (size_t)len, t2, c2, nc, SL_CODEC_CHUNK_MAX, scratch, slen) !=
        got)
        abort();
    if (memcmp(t1, t2, n * sizeof *t1) != 0)
        abort();
    for (unsigned c = 0; c < nc; c++)
        if (memcmp(v1[c], v2[c], n * sizeof(double)) != 0)
            abort();
    return 0;
}
