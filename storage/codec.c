/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Column codecs (see codec.h for the schemes and FORMAT.md for the bytes).
 *
 * Bit streams are MSB-first, except the split Rice layout's areas, which are LSB-first so
 * that a 64-bit little-endian load puts the next code at bit 0 (see split_encode). The writer
 * keeps fewer than 8 pending bits plus at most 32 new ones in a 64-bit accumulator and emits
 * whole bytes; the exact reader keeps a left-aligned 64-bit window refilled 8 bytes at a time
 * when the input allows it, one byte at a time near the end, and every fast loop stops where
 * its unchecked loads would pass the end, so decoding never reads outside the input slice.
 *
 * Decode speed is what the read path and compaction pay per sample (bench_storage_rw:
 * ~240-360 M samples/s per core with the split layout, 100-150 M with the classic one), so
 * the decoders avoid per-sample calls and keep loop-carried dependencies short.
 *
 * Rice parameters: one pass per difference order builds a histogram of the residuals' bit
 * lengths (split by the next bit); every k is sized from it, the best order wins, and its k
 * and the two neighbours are then sized exactly. Guessing k from the mean residual instead
 * cost 6% on the float benchmark set (6.71 vs 6.31 bytes/sample), because the few huge deltas
 * of a walk near zero drag the mean up; sizing candidate k exactly for every order made
 * encoding the bulk of the cost of writing blocks (58% of bench_storage_rw's total).
 */
#include "storage/codec.h"

#include <errno.h>
#include <lz4.h>
#include <lz4hc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"

#define RICE_ESC 32     /* this many leading ones: a raw 64-bit value follows */
#define K_ALLZERO 0xFF  /* Rice parameter byte meaning "every residual is zero" */

/* ---- varints ---------------------------------------------------------------------------- */

size_t sl_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t sl_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* ---- bit writer / reader ---------------------------------------------------------------- */

struct bw {
    uint8_t *p, *end;
    uint64_t acc;
    unsigned n; /* pending bits in acc, < 8 between calls */
    int overflow;
};

static inline void bw_put(struct bw *w, uint64_t v, unsigned nb) /* nb <= 32 */
{
    if (nb == 0)
        return;
    w->acc = (w->acc << nb) | v;
    w->n += nb;
    while (w->n >= 8) {
        w->n -= 8;
        if (w->p < w->end)
            *w->p++ = (uint8_t)(w->acc >> w->n);
        else
            w->overflow = 1;
    }
}

static inline void bw_put64(struct bw *w, uint64_t v, unsigned nb) /* nb <= 64 */
{
    if (nb > 32) {
        bw_put(w, v >> 32 & ((1ULL << (nb - 32)) - 1), nb - 32);
        bw_put(w, v & 0xffffffffULL, 32);
    } else {
        bw_put(w, nb == 32 ? (v & 0xffffffffULL) : (v & ((1ULL << nb) - 1)), nb);
    }
}

static inline void bw_flush(struct bw *w)
{
    if (w->n)
        bw_put(w, 0, 8 - w->n);
}

struct br {
    const uint8_t *p, *end;
    uint64_t win;   /* left-aligned: the top `avail` bits are the next bits */
    unsigned avail;
};

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void br_refill(struct br *r)
{
    if (r->avail > 56)
        return;
    if (r->end - r->p >= 8) {
        /* OR in 8 bytes; claim only whole bytes that fit. Bits past `avail + 8*bytes` are
         * the true next bits, so OR-ing them again on the next refill changes nothing. */
        r->win |= load_be64(r->p) >> r->avail;
        unsigned bytes = (63 - r->avail) >> 3;
        r->p += bytes;
        r->avail += bytes * 8;
    } else {
        while (r->avail <= 56 && r->p < r->end) {
            r->win |= (uint64_t)*r->p++ << (56 - r->avail);
            r->avail += 8;
        }
    }
}

/* Take nb <= 56 bits after a refill; returns -1 when the input ran out. */
static inline int br_get(struct br *r, unsigned nb, uint64_t *v)
{
    if (nb == 0) {
        *v = 0;
        return 0;
    }
    br_refill(r);
    if (r->avail < nb)
        return -1;
    *v = r->win >> (64 - nb);
    r->win <<= nb;
    r->avail -= nb;
    return 0;
}

static inline int br_get64(struct br *r, unsigned nb, uint64_t *v)
{
    if (nb <= 56)
        return br_get(r, nb, v);
    uint64_t hi, lo;
    if (br_get(r, nb - 32, &hi) || br_get(r, 32, &lo))
        return -1;
    *v = hi << 32 | lo;
    return 0;
}

/* Bytes the reader consumed, counting a partly used byte as consumed. */
static inline size_t br_used(const struct br *r, const uint8_t *start)
{
    return (size_t)(r->p - start) - r->avail / 8;
}

/* ---- Rice-coded integer sequences ------------------------------------------------------- */

static inline uint64_t resid(const int64_t *v, size_t i, unsigned order)
{
    uint64_t a = (uint64_t)v[i];
    if (order == 0)
        return sl_zigzag((int64_t)a);
    uint64_t d1 = a - (uint64_t)v[i - 1];
    if (order == 1)
        return sl_zigzag((int64_t)d1);
    uint64_t d0 = (uint64_t)v[i - 1] - (uint64_t)v[i - 2];
    return sl_zigzag((int64_t)(d1 - d0));
}

static inline uint64_t rice_bits(uint64_t z, unsigned k)
{
    uint64_t q = z >> k;
    return q < RICE_ESC ? q + 1 + k : RICE_ESC + 64;
}

size_t sl_codec_ints_bound(size_t n)
{
    /* order, two varints, k; the split layout's two varints and two padded areas; an
     * escape is 32 ones + 64 bits (classic) or 33 + 64 (split) */
    return 1 + 10 + 10 + 1 + 20 + (n * (RICE_ESC + 65) + 7) / 8 + 2;
}

/* Exact size in bits of the residuals of @order with parameter @k. */
static uint64_t ints_cost(const int64_t *v, size_t n, unsigned order, unsigned k)
{
    uint64_t bits = 0;
    for (size_t i = order; i < n; i++)
        bits += rice_bits(resid(v, i, order), k);
    return bits;
}

/* ---- split Rice layout (format 2) ---------------------------------------------------------
 *
 * The same Rice codes with their parts in three areas: every unary part (q ones and a zero,
 * q capped at 32, which marks an escape) in one LSB-first bit stream, the low k bits of the
 * non-escaped residuals packed LSB-first at fixed width, and the escaped residuals as
 * 8-byte little-endian words. Decoding then has no serial chain worth the name: the unary
 * stream is read 64 bits at a time, one code per set bit of the inverted word (count
 * trailing zeros, clear lowest bit), and the k-bit parts sit at index * k, independent of
 * each other. The classic interleaved layout, where each code's start depends on the
 * previous code's length, decoded noisy float columns at half the speed. Columns with fewer
 * than SPLIT_MIN residuals keep the classic layout, which has no area headers.
 */
#define SPLIT_FLAG 0x80
#define SPLIT_MIN 64

struct lw {
    uint8_t *p, *end;
    uint64_t acc; /* pending bits, LSB first */
    unsigned n;   /* < 64 */
    int overflow;
};

static void lw_emit(struct lw *w, uint64_t x, unsigned bytes)
{
    for (unsigned b = 0; b < bytes; b++) {
        if (w->p < w->end)
            *w->p++ = (uint8_t)(x >> (8 * b));
        else
            w->overflow = 1;
    }
}

/* Append the nb <= 64 low bits of v (v < 2^nb). */
static void lw_put(struct lw *w, uint64_t v, unsigned nb)
{
    if (!nb)
        return;
    w->acc |= v << w->n;
    unsigned total = w->n + nb;
    if (total >= 64) {
        lw_emit(w, w->acc, 8);
        w->acc = w->n ? v >> (64 - w->n) : 0;
        total -= 64;
    }
    w->n = total;
}

static void lw_flush(struct lw *w)
{
    lw_emit(w, w->acc, (w->n + 7) / 8);
    w->acc = 0;
    w->n = 0;
}

static int split_encode(const int64_t *v, size_t n, unsigned order, unsigned k, uint8_t *out,
                        size_t o, size_t cap)
{
    size_t nesc = 0, ubits = 0;
    for (size_t i = order; i < n; i++) {
        uint64_t q = resid(v, i, order) >> k;
        nesc += q >= RICE_ESC;
        ubits += (q >= RICE_ESC ? RICE_ESC : q) + 1;
    }
    size_t ulen = (ubits + 7) / 8, lbits = (n - order - nesc) * k;
    if (o + 1 + 20 + ulen + (lbits + 7) / 8 + 8 * nesc > cap)
        return -ENOSPC;
    out[o++] = (uint8_t)(k | SPLIT_FLAG);
    o += sl_varint_put(out + o, nesc);
    o += sl_varint_put(out + o, ulen);
    struct lw w = {out + o, out + cap, 0, 0, 0};
    for (size_t i = order; i < n; i++) {
        uint64_t q = resid(v, i, order) >> k;
        if (q > RICE_ESC)
            q = RICE_ESC;
        lw_put(&w, (1ULL << q) - 1, (unsigned)q + 1); /* q ones, then the zero */
    }
    lw_flush(&w);
    for (size_t i = order; i < n && k; i++) {
        uint64_t z = resid(v, i, order);
        if (z >> k < RICE_ESC)
            lw_put(&w, z & ((1ULL << k) - 1), k);
    }
    lw_flush(&w);
    for (size_t i = order; i < n && nesc; i++) {
        uint64_t z = resid(v, i, order);
        if (z >> k >= RICE_ESC)
            lw_emit(&w, z, 8);
    }
    return w.overflow ? -ENOSPC : (int)(w.p - out);
}

static int ints_encode(const int64_t *v, size_t n, uint8_t *out, size_t cap, int classic)
{
    if (n == 0)
        return -EINVAL;
    unsigned best_order = 0, best_k = 0;
    uint64_t best_bits = UINT64_MAX;
    uint64_t best_est = UINT64_MAX;
    for (unsigned order = 0; order <= 2 && order <= n; order++) {
        uint64_t hdr = order * 8 * 5; /* rough varint cost of the prefix values */
        /* histogram by bit length and the bit below the leading one */
        size_t hist[65][2] = {{0}}, m = n - order;
        for (size_t i = order; i < n; i++) {
            uint64_t z = resid(v, i, order);
            unsigned bl = z ? 64 - (unsigned)__builtin_clzll(z) : 0;
            hist[bl][bl >= 2 ? (z >> (bl - 2)) & 1 : 0]++;
        }
        if (hist[0][0] == m) {
            if (hdr < best_est) {
                best_est = hdr;
                best_order = order;
                best_k = K_ALLZERO;
            }
            continue;
        }
        /* estimated size for every useful k from a representative of each non-empty bucket */
        uint64_t rep[130], cnt[130];
        unsigned nb = 0, maxbl = 0;
        for (unsigned bl = 0; bl <= 64; bl++)
            for (unsigned h = 0; h < 2; h++) {
                if (!hist[bl][h])
                    continue;
                rep[nb] = bl == 0   ? 0
                          : bl == 1 ? 1
                          : bl == 2 ? 2 + h
                                    : (1ULL << (bl - 1)) | ((uint64_t)h << (bl - 2)) | (1ULL << (bl - 3));
                cnt[nb++] = hist[bl][h];
                maxbl = bl;
            }
        for (unsigned k = 0; k < 64 && k <= maxbl; k++) {
            uint64_t est = hdr;
            for (unsigned j = 0; j < nb; j++)
                est += cnt[j] * rice_bits(rep[j], k);
            if (est < best_est) {
                best_est = est;
                best_order = order;
                best_k = k;
            }
        }
    }
    if (best_k != K_ALLZERO) {
        /* the estimate picks the order; size the neighbours of its k exactly */
        unsigned k0 = best_k;
        for (unsigned k = k0 ? k0 - 1 : 0; k <= k0 + 1 && k < 64; k++) {
            uint64_t bits = best_order * 8 * 5 + ints_cost(v, n, best_order, k);
            if (bits < best_bits) {
                best_bits = bits;
                best_k = k;
            }
        }
    }
    if (cap < sl_codec_ints_bound(0) + 1)
        return -ENOSPC;
    size_t o = 0;
    out[o++] = (uint8_t)best_order;
    if (best_order >= 1)
        o += sl_varint_put(out + o, sl_zigzag(v[0]));
    if (best_order == 2)
        o += sl_varint_put(out + o, sl_zigzag((int64_t)((uint64_t)v[1] - (uint64_t)v[0])));
    if (best_k != K_ALLZERO && !classic && n - best_order >= SPLIT_MIN)
        return split_encode(v, n, best_order, best_k, out, o, cap);
    out[o++] = (uint8_t)best_k;
    if (best_k == K_ALLZERO)
        return (int)o;
    struct bw w = {out + o, out + cap, 0, 0, 0};
    unsigned k = best_k;
    for (size_t i = best_order; i < n; i++) {
        uint64_t z = resid(v, i, best_order);
        uint64_t q = z >> k;
        if (q < RICE_ESC) {
            /* q ones then a zero: (2^q - 1) << 1 in q+1 bits */
            bw_put(&w, ((1ULL << q) - 1) << 1, (unsigned)q + 1);
            bw_put64(&w, z, k);
        } else {
            bw_put(&w, 0xffffffffULL, RICE_ESC);
            bw_put64(&w, z, 64);
        }
    }
    bw_flush(&w);
    if (w.overflow)
        return -ENOSPC;
    return (int)(w.p - out);
}

int sl_codec_ints_encode(const int64_t *v, size_t n, uint8_t *out, size_t cap)
{
    return ints_encode(v, n, out, cap, 0);
}

int sl_codec__ints_encode_classic(const int64_t *v, size_t n, uint8_t *out, size_t cap)
{
    return ints_encode(v, n, out, cap, 1);
}

/* Exact, bounds-checked path: near the end of the input, on escapes and long unary runs.
 * The unary part is counted a window at a time (bits past `avail` may be stale, so a run
 * is clamped to it), not bit by bit: escapes are ~1% of the codes of noisy float columns. */
static int rice_slow(struct br *r, unsigned k, uint64_t *z)
{
    unsigned ones = 0;
    for (;;) {
        br_refill(r);
        if (!r->avail)
            return -1;
        uint64_t t = ~r->win;
        unsigned run = t ? (unsigned)__builtin_clzll(t) : 64;
        if (run > r->avail)
            run = r->avail;
        if (ones + run >= RICE_ESC) {
            unsigned take = RICE_ESC - ones;
            r->win <<= take; /* take <= 32 */
            r->avail -= take;
            return br_get64(r, 64, z);
        }
        ones += run;
        if (run < r->avail) {
            r->win = r->win << run << 1; /* the run and its terminating zero */
            r->avail -= run + 1;
            break;
        }
        r->win = 0; /* all ones so far: take the window and refill */
        r->avail = 0;
    }
    uint64_t lo;
    if (br_get64(r, k, &lo))
        return -1;
    *z = (uint64_t)ones << k | lo;
    return 0;
}

/*
 * Rice decoding: @n codes with parameter @k from @p[0..nbytes) into @z; returns the bytes
 * consumed (a partly used byte counts) or -1 on malformed input. Two fast loops, each
 * chosen for what bounds it, and one exact slow path for escapes, long unary runs and the
 * last bytes of the input.
 *
 * Short codes (k < 24, integers and counters): a left-aligned 64-bit window refilled with
 * one unaligned big-endian load only when it holds fewer bits than the longest code the
 * loop takes, so a refill feeds several codes and the loop-carried chain is just count
 * leading ones and shift. Refilling before every code, as this reader used to, put a
 * load on that chain (the next load's address depends on the bits just consumed).
 *
 * Long codes (k >= 24, float bit patterns): every code needs a refill, so the window would
 * put a load on the chain again. Instead the loop keeps two aligned words of the input and
 * a bit offset into the first; a code is read from the two words joined, and passing a
 * word boundary selects (cmov) the next pair. The word after them is loaded at the start
 * of each iteration from an address known one iteration ahead, so its latency overlaps
 * the decode and nothing on the chain waits for memory.
 */
static inline __attribute__((always_inline)) long
rice_window(const uint8_t *p, size_t nbytes, unsigned k, uint64_t *z, size_t n)
{
    const uint8_t *bp = p, *end = p + nbytes;
    const uint8_t *fast_end = nbytes >= 8 ? end - 8 : NULL; /* last safe 8-byte load */
    uint64_t win = 0;
    unsigned avail = 0;
    size_t i = 0;
    /* longest unary part taken fast, and the window fill that guarantees it */
    const unsigned qmax = 15, need = qmax + 1 + k;
    while (i < n) {
        while (i < n) {
            if (avail < need) {
                if (!fast_end || bp > fast_end)
                    break;
                win |= load_be64(bp) >> avail;
                bp += (63 - avail) >> 3;
                avail |= 56;
            }
            unsigned q = (unsigned)__builtin_clzll(~win | 1);
            if (q > qmax)
                break;
            uint64_t lo = ((win << q << 1) >> 1) >> (63 - k); /* k == 0 gives 0 */
            z[i++] = (uint64_t)q << k | lo;
            win = win << q << 1 << k;
            avail -= q + 1 + k;
        }
        if (i == n)
            break;
        struct br r = {bp, end, win, avail};
        if (rice_slow(&r, k, &z[i]))
            return -1;
        i++;
        bp = r.p;
        win = r.win;
        avail = r.avail;
    }
    return (long)((size_t)(bp - p) - avail / 8);
}

static long rice_window_k0(const uint8_t *p, size_t nb, uint64_t *z, size_t n)
{
    return rice_window(p, nb, 0, z, n);
}
static long rice_window_k1(const uint8_t *p, size_t nb, uint64_t *z, size_t n)
{
    return rice_window(p, nb, 1, z, n);
}
static long rice_window_k2(const uint8_t *p, size_t nb, uint64_t *z, size_t n)
{
    return rice_window(p, nb, 2, z, n);
}
static long rice_window_kn(const uint8_t *p, size_t nb, unsigned k, uint64_t *z, size_t n)
{
    return rice_window(p, nb, k, z, n);
}

/* 64 bits from bit @bit of @p; the caller guarantees bit / 8 + 9 bytes are there. */
static inline uint64_t peek64(const uint8_t *p, size_t bit)
{
    unsigned sh = bit & 7;
    uint64_t hi = load_be64(p + bit / 8);
    return sh ? hi << sh | p[bit / 8 + 8] >> (8 - sh) : hi;
}

static long rice_pair(const uint8_t *p, size_t nbytes, unsigned k, uint64_t *z, size_t n)
{
    size_t i = 0, w = 0; /* w: byte offset of the first word, a multiple of 8 */
    unsigned o = 0;      /* bits of the first word already consumed, 0..63 */
    /* longest unary part taken fast: q + 1 + k must fit in the 64 joined bits */
    const unsigned qmax = k > 63 - (RICE_ESC - 1) ? 63 - k : RICE_ESC - 1;
    while (i < n) {
        if (w + 24 <= nbytes && k <= 62) {
            uint64_t cur = load_be64(p + w), nxt = load_be64(p + w + 8);
            int jump = 0;
            while (i < n && w + 24 <= nbytes) {
                uint64_t after = load_be64(p + w + 16); /* off the chain: w is known */
                uint64_t x = cur << o | (nxt >> 1) >> (63 - o); /* o == 0 takes no nxt bits */
                unsigned q = (unsigned)__builtin_clzll(~x | 1);
                if (q > qmax) {
                    /* a code longer than 64 bits: an escape (32 ones, 64 raw bits) or a
                     * long unary part; both end within 8w + 63 + 96 bits, inside the
                     * 24 bytes the loop condition guarantees */
                    size_t bit = w * 8 + o;
                    if (q >= RICE_ESC) {
                        z[i++] = peek64(p, bit + RICE_ESC);
                        bit += RICE_ESC + 64;
                    } else {
                        z[i++] = (uint64_t)q << k | peek64(p, bit + q + 1) >> (64 - k);
                        bit += q + 1 + k;
                    }
                    w = bit / 64 * 8;
                    o = (unsigned)(bit % 64);
                    jump = 1;
                    break;
                }
                z[i++] = (uint64_t)q << k | ((x << q << 1) >> 1) >> (63 - k);
                o += q + 1 + k;
                unsigned adv = o >> 6; /* 0 or 1: o < 64 + 64 */
                o &= 63;
                w += (size_t)adv * 8;
                cur = adv ? nxt : cur;
                nxt = adv ? after : nxt;
            }
            if (i == n)
                break;
            if (jump)
                continue;
        }
        /* one code exactly, from bit 8w + o */
        struct br r = {p + w, p + nbytes, 0, 0};
        uint64_t skip;
        if (br_get64(&r, o, &skip) || rice_slow(&r, k, &z[i]))
            return -1;
        i++;
        size_t bit = (size_t)(r.p - p) * 8 - r.avail;
        w = bit / 64 * 8;
        o = (unsigned)(bit % 64);
    }
    return (long)((w * 8 + o + 7) / 8);
}

static long rice_decode(const uint8_t *p, size_t nbytes, unsigned k, uint64_t *z, size_t n)
{
    switch (k) {
    case 0:
        return rice_window_k0(p, nbytes, z, n);
    case 1:
        return rice_window_k1(p, nbytes, z, n);
    case 2:
        return rice_window_k2(p, nbytes, z, n);
    default:
        return k < 24 ? rice_window_kn(p, nbytes, k, z, n) : rice_pair(p, nbytes, k, z, n);
    }
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Unary parts of the split layout: @m run lengths from @p[0..len) into @z. A missing tail
 * reads as one-bits, which end no code, so truncation surfaces as a code that never ends.
 * @return the bytes the m codes span, or -1. */
static long unary_decode(const uint8_t *p, size_t len, uint64_t *z, size_t m)
{
    size_t i = 0, off = 0;
    int64_t prev = -1; /* bit index of the last terminator, relative to the current word */
    while (i < m) {
        uint64_t word;
        if (off + 8 <= len) {
            word = load_le64(p + off);
        } else {
            if (off >= len)
                return -1;
            uint8_t tmp[8];
            memset(tmp, 0xff, 8);
            memcpy(tmp, p + off, len - off);
            word = load_le64(tmp);
        }
        uint64_t t = ~word; /* one bit per terminator */
        if (m - i >= 64) {
            /* a word ends at most 64 codes: no count check per code */
            while (t) {
                int64_t b = __builtin_ctzll(t);
                z[i++] = (uint64_t)(b - prev - 1);
                prev = b;
                t &= t - 1;
            }
        } else if ((size_t)__builtin_popcountll(t) <= m - i) {
            while (t) {
                int64_t b = __builtin_ctzll(t);
                z[i++] = (uint64_t)(b - prev - 1);
                prev = b;
                t &= t - 1;
            }
        } else {
            while (i < m) {
                int64_t b = __builtin_ctzll(t);
                z[i++] = (uint64_t)(b - prev - 1);
                prev = b;
                t &= t - 1;
            }
            return (long)(off + (size_t)prev / 8 + 1);
        }
        if (i == m)
            return (long)(off + (size_t)prev / 8 + 1);
        prev -= 64;
        off += 8;
        if (prev < -(int64_t)(RICE_ESC + 2) * 64)
            return -1; /* a run far longer than any code: stop scanning garbage */
    }
    return (long)off; /* m == 0 */
}

/* k (1..63) bits at bit @b of the low area, LSB-first, bounds-checked byte by byte. */
static uint64_t low_slow(const uint8_t *p, uint64_t b, unsigned k)
{
    uint64_t v = 0;
    for (unsigned got = 0; got < k;) {
        unsigned sh = (unsigned)(b & 7), take = 8 - sh < k - got ? 8 - sh : k - got;
        v |= (uint64_t)((p[b >> 3] >> sh) & ((1u << take) - 1)) << got;
        got += take;
        b += take;
    }
    return v;
}

/* Split layout after its flag byte: @m residuals into @z. @return bytes consumed or -1. */
static long split_decode(const uint8_t *p, size_t len, unsigned k, uint64_t *z, size_t m)
{
    const uint8_t *end = p + len, *s = p;
    uint64_t nesc, ulen;
    size_t x;
    if (!(x = sl_varint_get(s, end, &nesc)))
        return -1;
    s += x;
    if (!(x = sl_varint_get(s, end, &ulen)))
        return -1;
    s += x;
    if (nesc > m || ulen > (uint64_t)(end - s))
        return -1;
    long used = unary_decode(s, (size_t)ulen, z, m);
    if (used != (long)ulen)
        return -1;
    s += ulen;
    uint64_t lbits = (m - nesc) * k, llen = (lbits + 7) / 8;
    if (llen > (uint64_t)(end - s) || nesc * 8 > (uint64_t)(end - s) - llen)
        return -1;
    const uint8_t *low = s, *esc = s + llen;
    size_t e = 0;
    if (k == 0) {
        for (size_t i = 0; i < m; i++) {
            if (z[i] >= RICE_ESC) {
                if (z[i] > RICE_ESC || e == nesc)
                    return -1;
                z[i] = load_le64(esc + 8 * e++);
            }
        }
    } else {
        uint64_t b = 0, mask = (1ULL << k) - 1 /* k <= 63 */;
        /* one 8-byte load holds the k bits while (b & 7) + k <= 64 and it stays in bounds */
        uint64_t fast_lim = k <= 56 && llen >= 8 ? (llen - 8) * 8 + 1 : 0;
        for (size_t i = 0; i < m; i++) {
            uint64_t q = z[i];
            if (q >= RICE_ESC) {
                if (q > RICE_ESC || e == nesc)
                    return -1;
                z[i] = load_le64(esc + 8 * e++);
                continue;
            }
            uint64_t lo = b < fast_lim ? (load_le64(low + (b >> 3)) >> (b & 7)) & mask
                                       : low_slow(low, b, k);
            z[i] = q << k | lo;
            b += k;
        }
    }
    if (e != nesc)
        return -1;
    return (long)((size_t)(esc - p) + 8 * nesc);
}

/* Bit patterns of doubles, powers of ten (DEC) and the order-preserving map (FDELTA). */
static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static inline double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
#define DEC_MAX 6

static inline uint64_t ford(uint64_t u)
{
    return (u >> 63) ? ~u : u ^ (1ULL << 63);
}
static inline uint64_t unford(uint64_t m)
{
    return (m >> 63) ? m ^ (1ULL << 63) : ~m;
}

/* What the integer decoder does with each value before storing it, so that value schemes
 * built on integers need no second pass over the column: 9% of the float set's decode
 * was the separate unford loop. */
enum post { POST_INT, POST_UNFORD, POST_I2D, POST_I2D_DIV };

static inline __attribute__((always_inline)) void post_store(int64_t *v, size_t i, uint64_t x,
                                                             enum post post, double div)
{
    double d;
    switch (post) {
    case POST_INT:
        v[i] = (int64_t)x;
        return;
    case POST_UNFORD:
        d = bitsd(unford(x));
        break;
    case POST_I2D:
        d = (double)(int64_t)x;
        break;
    default:
        d = (double)(int64_t)x / div; /* a division, not a product: bit-exact as encoded */
        break;
    }
    memcpy(&v[i], &d, 8);
}

/* Residuals (zigzagged, in v[order..n)) and the first values back into values. */
static inline __attribute__((always_inline)) void
resid_to_vals(int64_t *v, size_t n, unsigned order, enum post post, double div)
{
    const uint64_t *z = (const uint64_t *)(const void *)v;
    if (order == 0) {
        for (size_t i = 0; i < n; i++)
            post_store(v, i, (uint64_t)sl_unzigzag(z[i]), post, div);
    } else if (order == 1) {
        uint64_t prev = z[0];
        post_store(v, 0, prev, post, div);
        for (size_t i = 1; i < n; i++) {
            prev += (uint64_t)sl_unzigzag(z[i]);
            post_store(v, i, prev, post, div);
        }
    } else {
        uint64_t p0 = z[0], prev = z[1], dd = prev - p0;
        post_store(v, 0, p0, post, div);
        post_store(v, 1, prev, post, div);
        for (size_t i = 2; i < n; i++) {
            dd += (uint64_t)sl_unzigzag(z[i]);
            prev += dd;
            post_store(v, i, prev, post, div);
        }
    }
}

static void resid_to_vals_any(int64_t *v, size_t n, unsigned order, enum post post, double div)
{
    switch (post) {
    case POST_INT:
        resid_to_vals(v, n, order, POST_INT, div);
        break;
    case POST_UNFORD:
        resid_to_vals(v, n, order, POST_UNFORD, div);
        break;
    case POST_I2D:
        resid_to_vals(v, n, order, POST_I2D, div);
        break;
    default:
        resid_to_vals(v, n, order, POST_I2D_DIV, div);
        break;
    }
}

static int ints_decode(const uint8_t *in, size_t len, int64_t *v, size_t n, enum post post,
                       double div)
{
    const uint8_t *p = in, *end = in + len;
    if (n == 0 || len < 2)
        return SL_E_CORRUPT;
    unsigned order = *p++;
    if (order > 2 || order > n)
        return SL_E_CORRUPT;
    uint64_t a = 0, d = 0;
    size_t m;
    if (order >= 1) {
        if (!(m = sl_varint_get(p, end, &a)))
            return SL_E_CORRUPT;
        p += m;
        v[0] = sl_unzigzag(a);
    }
    if (order == 2) {
        if (!(m = sl_varint_get(p, end, &d)))
            return SL_E_CORRUPT;
        p += m;
        v[1] = (int64_t)((uint64_t)v[0] + (uint64_t)sl_unzigzag(d));
    }
    if (p >= end)
        return SL_E_CORRUPT;
    unsigned k = *p++;
    if (k == K_ALLZERO) {
        if (order == 0)
            memset(v, 0, n * sizeof *v);
        else if (order == 1)
            for (size_t i = 1; i < n; i++)
                v[i] = v[0];
        else {
            /* v[i] = v[0] + i*dd has no loop-carried dependency (it vectorises) */
            uint64_t v0 = (uint64_t)v[0], dd = (uint64_t)v[1] - (uint64_t)v[0];
            for (size_t i = 2; i < n; i++)
                v[i] = (int64_t)(v0 + (uint64_t)i * dd);
        }
        if (post != POST_INT)
            for (size_t i = 0; i < n; i++)
                post_store(v, i, (uint64_t)v[i], post, div);
        return (int)(p - in);
    }
    /* Two passes: the codes into v[order..n) as zigzagged residuals (uint64_t and int64_t
     * may alias), then the residuals back into values, a loop the compiler keeps tight. */
    uint64_t *z = (uint64_t *)(void *)(v + order);
    long used;
    if (k & SPLIT_FLAG) {
        if ((k & ~SPLIT_FLAG) > 63)
            return SL_E_CORRUPT;
        used = split_decode(p, (size_t)(end - p), k & ~SPLIT_FLAG, z, n - order);
    } else {
        if (k > 63)
            return SL_E_CORRUPT;
        used = rice_decode(p, (size_t)(end - p), k, z, n - order);
    }
    if (used < 0)
        return SL_E_CORRUPT;
    /* v[0] and v[1] hold values, not residuals: store them back as their bit patterns */
    resid_to_vals_any(v, n, order, post, div);
    return (int)((size_t)(p - in) + (size_t)used);
}

int sl_codec_ints_decode(const uint8_t *in, size_t len, int64_t *v, size_t n)
{
    return ints_decode(in, len, v, n, POST_INT, 1);
}

/* ---- value schemes ---------------------------------------------------------------------- */



/* Smallest d such that every value is i / 10^d bit-exactly, or -1. */
static int dec_detect(const double *v, size_t n)
{
    for (int d = 0; d <= DEC_MAX; d++) {
        size_t i;
        for (i = 0; i < n; i++) {
            double x = v[i] * p10[d];
            if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
                break; /* also rejects NaN and +-Inf */
            double rx = nearbyint(x);
            if (!(rx >= -9223372036854775808.0 && rx < 9223372036854775808.0))
                break;
            int64_t iv = (int64_t)rx;
            double back = d ? (double)iv / p10[d] : (double)iv;
            if (dbits(back) != dbits(v[i]))
                break;
        }
        if (i == n)
            return d;
    }
    return -1;
}


size_t sl_codec_vals_bound(size_t n)
{
    size_t a = 2 + sl_codec_ints_bound(n);
    size_t b = 1 + 8 * n + 2 + (n * 2 + 7) / 8 + 16; /* XOR worst case: 1+1+5+6+64 bits */
    size_t x = 1 + (n * 77 + 7) / 8 + 16;
    size_t m = a > b ? a : b;
    return m > x ? m : x;
}

static int xor_encode(const double *v, size_t n, uint8_t *out, size_t cap)
{
    struct bw w = {out, out + cap, 0, 0, 0};
    uint64_t prev = dbits(v[0]);
    bw_put64(&w, prev, 64);
    unsigned plead = 65, ptrail = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = dbits(v[i]);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (!x) {
            bw_put(&w, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31;
        if (plead != 65 && lead >= plead && trail >= ptrail) {
            bw_put(&w, 2, 2); /* '10': reuse the previous window */
            unsigned sig = 64 - plead - ptrail;
            bw_put64(&w, x >> ptrail, sig);
        } else {
            unsigned sig = 64 - lead - trail;
            bw_put(&w, 3, 2); /* '11': new window */
            bw_put(&w, lead, 5);
            bw_put(&w, sig & 63, 6); /* 64 is written as 0 */
            bw_put64(&w, x >> trail, sig);
            plead = lead;
            ptrail = trail;
        }
    }
    bw_flush(&w);
    return w.overflow ? -ENOSPC : (int)(w.p - out);
}

static int xor_decode(const uint8_t *in, size_t len, double *v, size_t n)
{
    struct br r = {in, in + len, 0, 0};
    uint64_t prev, b;
    if (br_get64(&r, 64, &prev))
        return SL_E_CORRUPT;
    v[0] = bitsd(prev);
    unsigned lead = 0, sig = 0;
    int have = 0;
    for (size_t i = 1; i < n; i++) {
        if (br_get(&r, 1, &b))
            return SL_E_CORRUPT;
        if (b) {
            if (br_get(&r, 1, &b))
                return SL_E_CORRUPT;
            if (b) {
                uint64_t l, s;
                if (br_get(&r, 5, &l) || br_get(&r, 6, &s))
                    return SL_E_CORRUPT;
                lead = (unsigned)l;
                sig = s ? (unsigned)s : 64;
                if (lead + sig > 64)
                    return SL_E_CORRUPT;
                have = 1;
            } else if (!have) {
                return SL_E_CORRUPT;
            }
            uint64_t bits;
            if (br_get64(&r, sig, &bits))
                return SL_E_CORRUPT;
            prev ^= bits << (64 - lead - sig); /* sig >= 1, so the shift is <= 63 */
        }
        v[i] = bitsd(prev);
    }
    return (int)br_used(&r, in);
}

static int vals_encode_as(const double *v, size_t n, enum sl_venc s, uint8_t *out, size_t cap,
                          int64_t *tmp)
{
    if (cap < 10)
        return -ENOSPC;
    out[0] = (uint8_t)s;
    int rc;
    switch (s) {
    case SL_VENC_RAW:
        if (cap < 1 + 8 * n)
            return -ENOSPC;
        for (size_t i = 0; i < n; i++) {
            uint64_t u = dbits(v[i]);
            for (int b = 0; b < 8; b++)
                out[1 + 8 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
        }
        return (int)(1 + 8 * n);
    case SL_VENC_CONST: {
        uint64_t u = dbits(v[0]);
        for (size_t i = 1; i < n; i++)
            if (dbits(v[i]) != u)
                return -EINVAL;
        for (int b = 0; b < 8; b++)
            out[1 + b] = (uint8_t)(u >> (8 * b));
        return 9;
    }
    case SL_VENC_DEC: {
        int d = dec_detect(v, n);
        if (d < 0)
            return -EINVAL;
        for (size_t i = 0; i < n; i++)
            tmp[i] = (int64_t)nearbyint(v[i] * p10[d]);
        out[1] = (uint8_t)d;
        rc = sl_codec_ints_encode(tmp, n, out + 2, cap - 2);
        return rc < 0 ? rc : rc + 2;
    }
    case SL_VENC_FDELTA:
        for (size_t i = 0; i < n; i++)
            tmp[i] = (int64_t)ford(dbits(v[i]));
        rc = sl_codec_ints_encode(tmp, n, out + 1, cap - 1);
        return rc < 0 ? rc : rc + 1;
    case SL_VENC_XOR:
        rc = xor_encode(v, n, out + 1, cap - 1);
        return rc < 0 ? rc : rc + 1;
    default:
        return -EINVAL;
    }
}

int sl_codec_vals_encode(const double *v, size_t n, int force, uint8_t *out, size_t cap,
                         enum sl_venc *scheme)
{
    if (n == 0 || n > SL_CODEC_CHUNK_MAX * 16)
        return -EINVAL;
    int64_t tmpbuf[512];
    int64_t *tmp = tmpbuf;
    if (n > 512 && !(tmp = malloc(n * sizeof *tmp)))
        return -ENOMEM;
    int rc;
    enum sl_venc used;
    if (force >= 0) {
        used = (enum sl_venc)force;
        rc = vals_encode_as(v, n, used, out, cap, tmp);
    } else {
        /* Cheapest first: a constant column cannot be beaten. Otherwise the smallest of the
         * remaining schemes wins. */
        used = SL_VENC_CONST;
        rc = vals_encode_as(v, n, SL_VENC_CONST, out, cap, tmp);
        if (rc == -EINVAL) {
            /* Encode each candidate into whichever of @out and @alt does not hold the best so
             * far, instead of re-encoding the winner at the end. */
            uint8_t *alt = malloc(cap), *bufs[2] = {out, alt};
            int best = -1, in = 0;
            enum sl_venc bs = SL_VENC_RAW;
            static const enum sl_venc order[] = {SL_VENC_DEC, SL_VENC_FDELTA, SL_VENC_XOR,
                                                 SL_VENC_RAW};
            if (!alt)
                best = -ENOMEM;
            for (size_t j = 0; alt && j < sizeof order / sizeof order[0]; j++) {
                int slot = best > 0 ? 1 - in : in;
                int r = vals_encode_as(v, n, order[j], bufs[slot], cap, tmp);
                if (r == -ENOMEM) {
                    best = r;
                    break;
                }
                if (r > 0 && (best < 0 || r < best)) {
                    best = r;
                    bs = order[j];
                    in = slot;
                }
            }
            if (best > 0 && in == 1)
                memcpy(out, alt, (size_t)best);
            free(alt);
            rc = best;
            used = bs;
        }
    }
    if (tmp != tmpbuf)
        free(tmp);
    if (rc > 0 && scheme)
        *scheme = used;
    return rc;
}

int sl_codec_vals_decode(const uint8_t *in, size_t len, double *v, size_t n)
{
    if (len < 1 || n == 0)
        return SL_E_CORRUPT;
    int rc;
    switch (in[0]) {
    case SL_VENC_RAW:
        if (len < 1 + 8 * n)
            return SL_E_CORRUPT;
        for (size_t i = 0; i < n; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | in[1 + 8 * i + (size_t)b];
            v[i] = bitsd(u);
        }
        return (int)(1 + 8 * n);
    case SL_VENC_CONST: {
        if (len < 9)
            return SL_E_CORRUPT;
        uint64_t u = 0;
        for (int b = 7; b >= 0; b--)
            u = u << 8 | in[1 + b];
        double d = bitsd(u);
        for (size_t i = 0; i < n; i++)
            v[i] = d;
        return 9;
    }
    case SL_VENC_DEC: {
        if (len < 3 || in[1] > DEC_MAX)
            return SL_E_CORRUPT;
        int64_t *iv = (int64_t *)(void *)v; /* same size; decoded in place */
        unsigned d = in[1];
        rc = ints_decode(in + 2, len - 2, iv, n, d ? POST_I2D_DIV : POST_I2D, p10[d]);
        return rc < 0 ? rc : rc + 2;
    }
    case SL_VENC_FDELTA: {
        int64_t *iv = (int64_t *)(void *)v;
        rc = ints_decode(in + 1, len - 1, iv, n, POST_UNFORD, 1);
        return rc < 0 ? rc : rc + 1;
    }
    case SL_VENC_XOR:
        rc = xor_decode(in + 1, len - 1, v, n);
        return rc < 0 ? rc : rc + 1;
    default:
        return SL_E_CORRUPT;
    }
}

/* ---- chunks ----------------------------------------------------------------------------- */

size_t sl_codec_chunk_bound(size_t n, unsigned ncols)
{
    size_t raw = 10 + 2 + 10 + sl_codec_ints_bound(n) + 10 +
                 (size_t)ncols * (sl_codec_vals_bound(n) + 10);
    return raw + 10;
}

#define CHUNK_F_LZ4 1

int sl_codec_chunk_encode(const int64_t *ts, const double *const *cols, unsigned ncols, size_t n,
                          enum sl_codec_lz4 lz4, uint8_t *out, size_t cap)
{
    if (n == 0 || n > SL_CODEC_CHUNK_MAX || ncols > SL_CODEC_COLS_MAX)
        return -EINVAL;
    size_t bound = sl_codec_chunk_bound(n, ncols);
    uint8_t *raw = malloc(bound);
    if (!raw)
        return -ENOMEM;
    uint8_t *col = malloc(sl_codec_vals_bound(n) + sl_codec_ints_bound(n));
    if (!col) {
        free(raw);
        return -ENOMEM;
    }
    size_t o = 0;
    int rc = sl_codec_ints_encode(ts, n, col, sl_codec_ints_bound(n));
    if (rc < 0)
        goto out;
    o += sl_varint_put(raw + o, (uint64_t)rc);
    memcpy(raw + o, col, (size_t)rc);
    o += (size_t)rc;
    for (unsigned c = 0; c < ncols; c++) {
        rc = sl_codec_vals_encode(cols[c], n, -1, col, sl_codec_vals_bound(n), NULL);
        if (rc < 0)
            goto out;
        o += sl_varint_put(raw + o, (uint64_t)rc);
        memcpy(raw + o, col, (size_t)rc);
        o += (size_t)rc;
    }
    uint8_t hdr[24];
    size_t h = sl_varint_put(hdr, n);
    hdr[h++] = (uint8_t)ncols;
    size_t hflags = h++;
    hdr[hflags] = 0;
    if (lz4 != SL_CODEC_LZ4_OFF && o > 32) {
        int bnd = LZ4_compressBound((int)o);
        char *z = malloc((size_t)bnd);
        if (!z) {
            rc = -ENOMEM;
            goto out;
        }
        int zl = lz4 == SL_CODEC_LZ4_HC
                     ? LZ4_compress_HC((const char *)raw, z, (int)o, bnd, 9)
                     : LZ4_compress_default((const char *)raw, z, (int)o, bnd);
        uint8_t lh[10];
        size_t lhl = sl_varint_put(lh, o);
        /* Keep lz4 only when it saves at least 1/32: on the float benchmark set it saved
         * 0.5% while costing an extra pass and copy on every decode (bench_storage_rw). */
        if (zl > 0 && (size_t)zl + lhl + o / 32 < o) {
            hdr[hflags] = CHUNK_F_LZ4;
            if (h + lhl + (size_t)zl > cap) {
                free(z);
                rc = -ENOSPC;
                goto out;
            }
            memcpy(out, hdr, h);
            memcpy(out + h, lh, lhl);
            memcpy(out + h + lhl, z, (size_t)zl);
            free(z);
            rc = (int)(h + lhl + (size_t)zl);
            goto out;
        }
        free(z);
    }
    if (h + o > cap) {
        rc = -ENOSPC;
        goto out;
    }
    memcpy(out, hdr, h);
    memcpy(out + h, raw, o);
    rc = (int)(h + o);
out:
    free(raw);
    free(col);
    return rc;
}

static int chunk_hdr(const uint8_t *in, size_t len, size_t *n, unsigned *ncols, unsigned *flags)
{
    uint64_t v;
    size_t m = sl_varint_get(in, in + len, &v);
    if (!m || v == 0 || v > SL_CODEC_CHUNK_MAX || m + 2 > len)
        return SL_E_CORRUPT;
    *n = (size_t)v;
    *ncols = in[m];
    *flags = in[m + 1];
    if (*ncols > SL_CODEC_COLS_MAX || (*flags & ~CHUNK_F_LZ4))
        return SL_E_CORRUPT;
    return (int)(m + 2);
}

int sl_codec_chunk_info(const uint8_t *in, size_t len, size_t *n, unsigned *ncols)
{
    unsigned flags;
    int rc = chunk_hdr(in, len, n, ncols, &flags);
    return rc < 0 ? rc : 0;
}

int sl_codec_chunk_decode(const uint8_t *in, size_t len, int64_t *ts, double *const *cols,
                          unsigned ncols, size_t cap, uint8_t *scratch, size_t scratch_len)
{
    size_t n;
    unsigned nc, flags;
    int h = chunk_hdr(in, len, &n, &nc, &flags);
    if (h < 0)
        return h;
    if (n > cap)
        return -ENOBUFS;
    const uint8_t *p = in + h, *end = in + len;
    if (flags & CHUNK_F_LZ4) {
        uint64_t rawlen;
        size_t m = sl_varint_get(p, end, &rawlen);
        if (!m || rawlen > sl_codec_chunk_bound(n, nc))
            return SL_E_CORRUPT;
        if (!scratch || scratch_len < rawlen)
            return -ENOBUFS;
        p += m;
        int got = LZ4_decompress_safe((const char *)p, (char *)scratch, (int)(end - p),
                                      (int)rawlen);
        if (got != (int)rawlen)
            return SL_E_CORRUPT;
        p = scratch;
        end = scratch + rawlen;
    }
    uint64_t cl;
    size_t m = sl_varint_get(p, end, &cl);
    if (!m || cl > (uint64_t)(end - p - (ptrdiff_t)m))
        return SL_E_CORRUPT;
    p += m;
    int rc = sl_codec_ints_decode(p, (size_t)cl, ts, n);
    if (rc < 0)
        return rc;
    p += cl;
    for (unsigned c = 0; c < nc && c < ncols; c++) {
        m = sl_varint_get(p, end, &cl);
        if (!m || cl > (uint64_t)(end - p - (ptrdiff_t)m))
            return SL_E_CORRUPT;
        p += m;
        rc = sl_codec_vals_decode(p, (size_t)cl, cols[c], n);
        if (rc < 0)
            return rc;
        p += cl;
    }
    if (ncols > nc)
        return SL_E_CORRUPT;
    return (int)n;
}
