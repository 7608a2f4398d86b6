/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file codec.h
 * Column codecs for the time-series store: how one chunk of (timestamp, value...) samples
 * becomes bytes and back. Pure functions, no I/O, no global state. Thread: any.
 *
 * Timestamps and integer-like columns go through one integer-sequence coder: order 0, 1 or 2
 * differences (raw, delta, delta-of-delta), zigzag, then Rice coding with the parameter k
 * chosen per column (an escape writes outliers as 64 raw bits). A column whose residuals are
 * all zero (a perfectly regular scrape interval) costs no bits per sample at all. Columns of
 * 64 or more residuals store the codes' unary parts, low bits and escapes in separate areas
 * (the split layout of block format 2), which decodes without a serial chain; the classic
 * interleaved layout of format 1 is still read.
 *
 * Value columns are encoded with every applicable scheme and the smallest wins:
 *  - SL_VENC_CONST   every value has the same bit pattern;
 *  - SL_VENC_DEC     every value is v = i / 10^d with integer i and 0 <= d <= 6, and the
 *                    division reproduces v bit-exactly; i goes through the integer coder;
 *  - SL_VENC_FDELTA  the IEEE-754 bit patterns mapped to an order-preserving integer, then
 *                    the integer coder (slow-moving floats have small integer deltas);
 *  - SL_VENC_XOR     Gorilla XOR (Pelkonen et al. 2015), Prometheus' value chunk;
 *  - SL_VENC_RAW     8 bytes per value, an upper bound.
 * Every scheme round-trips bit patterns exactly: NaN payloads (the staleness marker
 * 0x7ff0000000000002), +-Inf, -0.0, denormals and integers near 2^63.
 *
 * A chunk is the timestamp column followed by ncols value columns (1 for raw samples, 6 for
 * downsampled aggregates), optionally lz4-compressed as a whole when that is smaller. The
 * byte layout is specified in storage/FORMAT.md.
 */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include <stddef.h>
#include <stdint.h>

/** Most samples in one chunk; writers split longer runs. */
#define SL_CODEC_CHUNK_MAX 8192
/** Most value columns in one chunk. */
#define SL_CODEC_COLS_MAX 8

enum sl_venc {
    SL_VENC_RAW = 0,
    SL_VENC_CONST = 1,
    SL_VENC_DEC = 2,
    SL_VENC_FDELTA = 3,
    SL_VENC_XOR = 4,
    SL_VENC_COUNT
};

/** lz4 effort for sl_codec_chunk_encode(). */
enum sl_codec_lz4 {
    SL_CODEC_LZ4_OFF = 0,  /* never lz4 (head snapshots, tests) */
    SL_CODEC_LZ4_FAST = 1, /* LZ4_compress_default: cutting blocks from the head */
    SL_CODEC_LZ4_HC = 2,   /* LZ4HC level 9: compaction, where CPU is cheap and bytes last */
};

/** Upper bound of bytes an integer column of @n values may take (for sizing @out). */
size_t sl_codec_ints_bound(size_t n);
/** Upper bound of bytes a value column of @n values may take. */
size_t sl_codec_vals_bound(size_t n);
/** Upper bound of a whole chunk of @n samples and @ncols value columns. */
size_t sl_codec_chunk_bound(size_t n, unsigned ncols);

/**
 * Encode @n signed integers (timestamps, or any int64 column) into @out.
 * @return bytes written (> 0), -EINVAL for n == 0, -ENOSPC if @cap is too small
 *         (sl_codec_ints_bound(n) always suffices).
 */
int sl_codec_ints_encode(const int64_t *v, size_t n, uint8_t *out, size_t cap);
/**
 * sl_codec_ints_encode() in the classic interleaved Rice layout of format 1 only, as older
 * blocks hold it; for tests of the reader's compatibility. Not for new data.
 */
int sl_codec__ints_encode_classic(const int64_t *v, size_t n, uint8_t *out, size_t cap);

/**
 * Decode exactly @n integers from @in[0..len) into @v.
 * @return bytes consumed, or SL_E_CORRUPT when the input is malformed or too short.
 * Never reads outside @in, whatever the bytes.
 */
int sl_codec_ints_decode(const uint8_t *in, size_t len, int64_t *v, size_t n);

/**
 * Encode @n doubles with the smallest scheme (or exactly @force when it is >= 0 and
 * applicable; -1 = choose). @scheme (may be NULL) receives the scheme used.
 * @return bytes written, -EINVAL (n == 0, or @force not applicable), -ENOSPC.
 */
int sl_codec_vals_encode(const double *v, size_t n, int force, uint8_t *out, size_t cap,
                         enum sl_venc *scheme);
/** Decode exactly @n doubles. @return bytes consumed or SL_E_CORRUPT. */
int sl_codec_vals_decode(const uint8_t *in, size_t len, double *v, size_t n);

/**
 * Encode a chunk: @n samples (1..SL_CODEC_CHUNK_MAX) with timestamps @ts and @ncols value
 * columns @cols[c][0..n). @lz4 picks the compression effort; lz4 output is kept only when
 * smaller. @return bytes written, -EINVAL, -ENOSPC or -ENOMEM.
 * All input pointers BORROWED for the call.
 */
int sl_codec_chunk_encode(const int64_t *ts, const double *const *cols, unsigned ncols, size_t n,
                          enum sl_codec_lz4 lz4, uint8_t *out, size_t cap);

/** Read a chunk's sample count and column count without decoding. @return 0 or SL_E_CORRUPT. */
int sl_codec_chunk_info(const uint8_t *in, size_t len, size_t *n, unsigned *ncols);

/**
 * Decode a chunk into @ts[0..n) and @cols[c][0..n) for c < @ncols (the chunk may hold more
 * columns; they are skipped; @cols may be NULL when @ncols is 0). @cap is the room in each
 * array. @scratch must hold sl_codec_chunk_bound(n, chunk ncols) bytes when the chunk is
 * lz4-compressed (else unused; may be NULL then, and -ENOBUFS is returned if it is needed).
 * @return the sample count n, -ENOBUFS when @cap or the scratch is too small,
 *         SL_E_CORRUPT on malformed input (never reads outside @in).
 */
int sl_codec_chunk_decode(const uint8_t *in, size_t len, int64_t *ts, double *const *cols,
                          unsigned ncols, size_t cap, uint8_t *scratch, size_t scratch_len);

/** LEB128 helpers shared by the WAL, block and index writers. */
size_t sl_varint_put(uint8_t *p, uint64_t v);
/** @return bytes read (1..10), 0 when @p..@end holds no complete varint. */
size_t sl_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v);

static inline uint64_t sl_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t sl_unzigzag(uint64_t z)
{
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

#endif
