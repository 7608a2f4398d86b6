/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DDSketch: the quantile sketch behind timers, histograms and distributions. It owns the
 * logarithmic bin mapping, two dense bin stores (positive and negative values) plus a zero
 * count, the exact count/sum/min/max beside them, and the wire encoding of all of it. It
 * does not know about series, intervals or files: the shard's aggregator owns the sketches
 * and storage owns whatever container (WAL record, block column) carries the bytes, and the
 * checksum that goes with it. Thread: one owner; nothing here locks.
 *
 * Mapping (Masson, Rim, Lee, VLDB 2019, section 2; same formulas as DataDog sketches-go
 * LogarithmicMapping): gamma = (1+a)/(1-a), index(x) = ceil(ln(x) / ln(gamma)), so bin i
 * holds (gamma^(i-1), gamma^i]. The value reported for bin i is 2*gamma^i/(gamma+1): its
 * ratio to the bin's ends is exactly 1-a and 1+a, so any x in the bin is within a*x.
 * We call libm log() rather than a polynomial approximation: glibc's log costs a few ns,
 * which keeps add() near 10 ns, and an approximate log would need the gamma adjustment of
 * sketches-java's interpolated mappings to keep the bound. With the exact log the only slack
 * is floating-point rounding at bin edges (~1e-13 relative), which the tests allow for.
 *
 * Stores: counts are doubles (a sampled timer adds weight 1/sample_rate) in one contiguous
 * array; counts[k] is bin offset+k. [lo, hi] is the range of non-empty bins; both ends are
 * always non-zero because weights are > 0 and collapsing folds into an end bin. add() in the
 * common case is one log(), one compare and one increment. Outside the array the slow path
 * re-centres or doubles it (amortised, capped at max_bins).
 *
 * Collapse: a store never spans more than max_bins bins. The positive store folds its lowest
 * bins into the lowest kept one; the negative store folds its highest-magnitude bins (the
 * most negative values). Both sacrifice the *low* quantiles, so p50..p999 keep the bound.
 * The kept window is a function of the extreme index only (e.g. [hi-max_bins+1, hi]) and
 * every index below it is clamped into its first bin, so the final bins depend only on the
 * multiset of inputs, not on their order: merge(A, B) equals the sketch of A u B even after
 * collapsing.
 *
 * Encoding, version 1 (all multi-byte fixed fields little-endian; uvarint = LEB128, at most
 * 10 bytes, minimal length; svarint = zigzag then uvarint):
 *
 *   u8       version            = 1 (anything else: SL_E_VERSION)
 *   u8       flags              bit0 non-empty, bit1 zero count follows, bit2 positive
 *                               store follows, bit3 negative store follows; bits 4-7 zero
 *   f64      alpha
 *   uvarint  max_bins
 *   if non-empty:  f64 count, f64 sum, f64 min, f64 max
 *   if bit1:       f64 zero_count (> 0)
 *   per store present (positive first, then negative):
 *     svarint  lo                 index of the first non-empty bin
 *     uvarint  nbins              1..max_bins; bins lo .. lo+nbins-1, first and last > 0
 *     u8       count encoding     0: every count as uvarint (all integral and <= 2^53)
 *                                 1: every count as f64 (used only when 0 cannot be)
 *     nbins counts
 *
 * Typical latency data (1 ms .. 10 s, integer weights) spans a few hundred bins of one or two
 * bytes each. Decoding is strict: every field is range-checked, non-canonical forms (overlong
 * varints, f64 counts that would fit the varint form, trailing bytes) are SL_E_CORRUPT, so
 * encode(decode(b)) == b for every accepted b. There is no checksum here on purpose: the
 * container that stores the bytes already carries one, and 4 bytes per series add up.
 */
#include "engine/ddsketch.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"

#define DD_VERSION 1u
#define DD_F_NONEMPTY 0x01u
#define DD_F_ZERO 0x02u
#define DD_F_POS 0x04u
#define DD_F_NEG 0x08u
#define DD_F_ALL 0x0fu
#define DD_MIN_CAP 16u
/* Largest integer a double holds exactly; counts above it are encoded as f64. */
#define DD_EXACT_INT 9007199254740992.0

struct dd_store {
    double *counts;     /* counts[k] is bin offset + k; NULL until the first add */
    int64_t offset;     /* index of counts[0] */
    uint32_t cap;       /* slots in counts, never more than max_bins */
    bool collapse_high; /* negative store: fold the highest indices instead of the lowest */
    int32_t lo, hi;     /* non-empty bins; lo > hi when the store is empty */
};

struct sl_ddsketch {
    double alpha;
    double gamma;
    double mult;      /* 1 / ln(gamma) */
    double value_off; /* ln(2 / (gamma + 1)): value(i) = exp(i * ln(gamma) + value_off) */
    double ln_gamma;
    uint32_t max_bins;
    int32_t idx_min, idx_max; /* index(SL_DDSKETCH_MIN_INDEXABLE), index(DBL_MAX) */
    struct dd_store pos, neg;
    double zero;
    double count, sum, min, max;
};

/* ---------------------------------------------------------------- stores */

static void store_init(struct dd_store *st, bool collapse_high)
{
    memset(st, 0, sizeof *st);
    st->collapse_high = collapse_high;
    st->lo = INT32_MAX;
    st->hi = INT32_MIN;
}

static inline bool store_empty(const struct dd_store *st)
{
    return st->lo > st->hi;
}

static inline double *store_at(const struct dd_store *st, int64_t idx)
{
    return &st->counts[idx - st->offset];
}

/*
 * Target range after adding [alo, ahi] to @st, with the collapse window applied. Returns
 * the range in *nlo and *nhi; indices outside it get clamped into its end bins.
 */
static void store_target(const struct dd_store *st, int64_t alo, int64_t ahi, uint32_t max_bins,
                         int64_t *nlo, int64_t *nhi)
{
    int64_t lo = alo, hi = ahi;
    if (!store_empty(st)) {
        if (st->lo < lo) lo = st->lo;
        if (st->hi > hi) hi = st->hi;
    }
    if (hi - lo + 1 > (int64_t)max_bins) {
        if (st->collapse_high)
            hi = lo + max_bins - 1;
        else
            lo = hi - max_bins + 1;
    }
    *nlo = lo;
    *nhi = hi;
}

/* Capacity a store needs to hold [nlo, nhi]; 0 when the current array already does. */
static uint32_t store_need(const struct dd_store *st, int64_t nlo, int64_t nhi, uint32_t max_bins)
{
    uint64_t span = (uint64_t)(nhi - nlo + 1);
    if (span <= st->cap) return 0;
    uint64_t cap = st->cap ? (uint64_t)st->cap * 2 : DD_MIN_CAP;
    if (cap < span) cap = span;
    if (cap > max_bins)
        cap = max_bins; /* span <= max_bins always: store_target() applied the window */
    return (uint32_t)cap;
}

/*
 * Lay @st out so the array covers [nlo, nhi]; bins outside that range fold into its end
 * bins. @fresh (zeroed, @freshcap slots) replaces the array when non-NULL; otherwise the
 * current array must already be big enough. Never fails, so callers allocate first and keep
 * "unchanged on -ENOMEM".
 */
static void store_relayout(struct dd_store *st, int64_t nlo, int64_t nhi, double *fresh,
                           uint32_t freshcap)
{
    bool empty = store_empty(st);
    if (!fresh && !empty && nlo >= st->offset && nhi < st->offset + (int64_t)st->cap) {
        /* Fits where it is: fold in place, nothing moves. */
        double below = 0, above = 0;
        for (int64_t k = st->lo; k < nlo && k <= st->hi; k++) {
            below += *store_at(st, k);
            *store_at(st, k) = 0;
        }
        for (int64_t k = st->hi; k > nhi && k >= st->lo; k--) {
            above += *store_at(st, k);
            *store_at(st, k) = 0;
        }
        *store_at(st, nlo) += below;
        *store_at(st, nhi) += above;
        return;
    }

    uint32_t cap = fresh ? freshcap : st->cap;
    int64_t span = nhi - nlo + 1;
    /* Centre the range: growth may come from either side. */
    int64_t noff = nlo - (int64_t)(cap - (uint64_t)span) / 2;
    double below = 0, above = 0;
    int64_t klo = 0, khi = -1; /* kept bins, old indices */
    if (!empty) {
        klo = st->lo > nlo ? st->lo : nlo;
        khi = st->hi < nhi ? st->hi : nhi;
        for (int64_t k = st->lo; k <= st->hi && k < nlo; k++)
            below += *store_at(st, k);
        for (int64_t k = st->hi; k >= st->lo && k > nhi; k--)
            above += *store_at(st, k);
    }
    double *dst = fresh ? fresh : st->counts;
    if (klo <= khi) {
        size_t n = (size_t)(khi - klo + 1);
        memmove(&dst[klo - noff], store_at(st, klo), n * sizeof(double));
        if (!fresh) {
            /* Zero everything outside the kept bins' new home. */
            memset(dst, 0, (size_t)(klo - noff) * sizeof(double));
            size_t tail = (size_t)(khi - noff + 1);
            memset(&dst[tail], 0, (cap - tail) * sizeof(double));
        }
    } else if (!fresh && st->counts) {
        memset(dst, 0, (size_t)cap * sizeof(double));
    }
    if (fresh) {
        free(st->counts);
        st->counts = fresh;
        st->cap = freshcap;
    }
    st->offset = noff;
    dst[nlo - noff] += below;
    dst[nhi - noff] += above;
}

/* Slow path of add: @idx is outside the array (or the store has no array yet). */
static int store_add_slow(struct dd_store *st, int32_t idx, double w, uint32_t max_bins)
{
    int64_t nlo, nhi;
    store_target(st, idx, idx, max_bins, &nlo, &nhi);
    uint32_t need = store_need(st, nlo, nhi, max_bins);
    double *fresh = NULL;
    if (need) {
        fresh = calloc(need, sizeof(double));
        if (!fresh) return -ENOMEM;
    }
    store_relayout(st, nlo, nhi, fresh, need);
    int64_t k = idx < nlo ? nlo : idx > nhi ? nhi : idx;
    *store_at(st, k) += w;
    st->lo = (int32_t)nlo;
    st->hi = (int32_t)nhi;
    return 0;
}

static void store_reset(struct dd_store *st)
{
    if (!store_empty(st))
        memset(store_at(st, st->lo), 0, (size_t)(st->hi - st->lo + 1) * sizeof(double));
    st->lo = INT32_MAX;
    st->hi = INT32_MIN;
}

/* ---------------------------------------------------------------- mapping */

static inline int32_t dd_index(const struct sl_ddsketch *s, double a)
{
    return (int32_t)ceil(log(a) * s->mult);
}

static inline double dd_value(const struct sl_ddsketch *s, int64_t idx)
{
    /* exp of the sum rather than pow()*factor: gamma^i alone overflows near DBL_MAX. */
    return exp((double)idx * s->ln_gamma + s->value_off);
}

/* ---------------------------------------------------------------- lifecycle */

/*
 * Below 1e-6 the index of DBL_MAX (ln(DBL_MAX)/ln(gamma) ~ 710/(2a)) no longer fits the
 * int32 bin indices with headroom; nobody needs a sketch that precise.
 */
#define DD_ALPHA_MIN 1e-6
/* 2^20 bins (8 MiB per store) is far past any useful setting (2048 bins cover 80 us .. 1 year
 * at 1%); the cap keeps a hostile or corrupt encoding from asking for gigabytes. */
#define DD_MAX_BINS_LIMIT (1u << 20)

static int dd_init(struct sl_ddsketch *s, double alpha, uint32_t max_bins)
{
    if (!(alpha >= DD_ALPHA_MIN && alpha < 1) || max_bins < 16 || max_bins > DD_MAX_BINS_LIMIT)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->alpha = alpha;
    s->gamma = (1 + alpha) / (1 - alpha);
    s->ln_gamma = log1p(2 * alpha / (1 - alpha)); /* ln(gamma) without cancellation */
    s->mult = 1 / s->ln_gamma;
    s->value_off = log(2 / (s->gamma + 1));
    s->max_bins = max_bins;
    s->idx_min = dd_index(s, SL_DDSKETCH_MIN_INDEXABLE);
    s->idx_max = dd_index(s, 1.7976931348623157e308);
    store_init(&s->pos, false);
    store_init(&s->neg, true);
    s->min = INFINITY;
    s->max = -INFINITY;
    return 0;
}

int sl_ddsketch_create(double alpha, uint32_t max_bins, struct sl_ddsketch **out)
{
    struct sl_ddsketch *s = malloc(sizeof *s);
    if (!s) return -ENOMEM;
    int rc = dd_init(s, alpha, max_bins);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sl_ddsketch_destroy(struct sl_ddsketch *s)
{
    if (!s) return;
    free(s->pos.counts);
    free(s->neg.counts);
    free(s);
}

void sl_ddsketch_reset(struct sl_ddsketch *s)
{
    store_reset(&s->pos);
    store_reset(&s->neg);
    s->zero = 0;
    s->count = 0;
    s->sum = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
}

size_t sl_ddsketch_memsize(const struct sl_ddsketch *s)
{
    return sizeof *s + ((size_t)s->pos.cap + s->neg.cap) * sizeof(double);
}

/* ---------------------------------------------------------------- add / merge */

int sl_ddsketch_add(struct sl_ddsketch *s, double v, double weight)
{
    if (!isfinite(v) || !(weight > 0) || !isfinite(weight)) return -EINVAL;
    struct dd_store *st;
    double a;
    if (v >= SL_DDSKETCH_MIN_INDEXABLE) {
        st = &s->pos;
        a = v;
    } else if (v <= -SL_DDSKETCH_MIN_INDEXABLE) {
        st = &s->neg;
        a = -v;
    } else {
        s->zero += weight;
        goto stats;
    }
    int32_t idx = dd_index(s, a);
    /* Hot path: the bin is inside the array. cap <= max_bins, so no collapse can be due. */
    uint64_t k = (uint64_t)((int64_t)idx - st->offset);
    if (k < st->cap) {
        st->counts[k] += weight;
        if (idx < st->lo) st->lo = idx;
        if (idx > st->hi) st->hi = idx;
    } else {
        int rc = store_add_slow(st, idx, weight, s->max_bins);
        if (rc) return rc;
    }
stats:
    s->count += weight;
    s->sum += v * weight;
    if (v < s->min) s->min = v;
    if (v > s->max) s->max = v;
    return 0;
}

/* Make room in @dst for @src's bins; allocation only, no visible change. */
static int merge_prepare(const struct dd_store *dst, const struct dd_store *src, uint32_t max_bins,
                         int64_t *nlo, int64_t *nhi, double **fresh, uint32_t *freshcap)
{
    *fresh = NULL;
    *freshcap = 0;
    if (store_empty(src)) return 0;
    store_target(dst, src->lo, src->hi, max_bins, nlo, nhi);
    *freshcap = store_need(dst, *nlo, *nhi, max_bins);
    if (*freshcap) {
        *fresh = calloc(*freshcap, sizeof(double));
        if (!*fresh) return -ENOMEM;
    }
    return 0;
}

static void merge_store(struct dd_store *dst, const struct dd_store *src, int64_t nlo, int64_t nhi,
                        double *fresh, uint32_t freshcap)
{
    if (store_empty(src)) return;
    int32_t slo = src->lo, shi = src->hi; /* read first: dst may be src */
    store_relayout(dst, nlo, nhi, fresh, freshcap);
    for (int64_t k = shi; k >= slo; k--) {
        double c = *store_at(src, k);
        int64_t t = k < nlo ? nlo : k > nhi ? nhi : k;
        *store_at(dst, t) += c;
    }
    dst->lo = (int32_t)nlo;
    dst->hi = (int32_t)nhi;
}

int sl_ddsketch_merge(struct sl_ddsketch *dst, const struct sl_ddsketch *src)
{
    if (dst->alpha != src->alpha) return -EINVAL;
    if (!(src->count > 0)) return 0;
    int64_t plo = 0, phi = 0, nlo = 0, nhi = 0;
    double *pf, *nf;
    uint32_t pcap, ncap;
    if (merge_prepare(&dst->pos, &src->pos, dst->max_bins, &plo, &phi, &pf, &pcap)) return -ENOMEM;
    if (merge_prepare(&dst->neg, &src->neg, dst->max_bins, &nlo, &nhi, &nf, &ncap)) {
        free(pf);
        return -ENOMEM;
    }
    merge_store(&dst->pos, &src->pos, plo, phi, pf, pcap);
    merge_store(&dst->neg, &src->neg, nlo, nhi, nf, ncap);
    dst->zero += src->zero;
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    return 0;
}

/* ---------------------------------------------------------------- queries */

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

double sl_ddsketch_quantile(const struct sl_ddsketch *s, double q)
{
    if (!(s->count > 0) || !(q >= 0 && q <= 1)) return NAN;
    if (q == 0) return s->min;
    if (q == 1) return s->max;
    /* Lower rank: the element at floor(q * (count - 1)), 0-based. */
    double rank = floor(q * (s->count - 1));
    if (rank < 0) rank = 0;
    double cum = 0;
    /* Ascending value order: most negative first, then zero, then positive. Clamping to
     * [min, max] only moves an estimate towards the true value, which lies in that range. */
    const struct dd_store *n = &s->neg;
    for (int64_t k = n->hi; k >= n->lo && !store_empty(n); k--) {
        cum += *store_at(n, k);
        if (cum > rank) return clampd(-dd_value(s, k), s->min, s->max);
    }
    cum += s->zero;
    if (cum > rank) return clampd(0, s->min, s->max);
    const struct dd_store *p = &s->pos;
    for (int64_t k = p->lo; k <= p->hi && !store_empty(p); k++) {
        cum += *store_at(p, k);
        if (cum > rank) return clampd(dd_value(s, k), s->min, s->max);
    }
    /* Only reachable through rounding of the running sum against count. */
    return s->max;
}

double sl_ddsketch_count(const struct sl_ddsketch *s)
{
    return s->count;
}

double sl_ddsketch_sum(const struct sl_ddsketch *s)
{
    return s->sum;
}

double sl_ddsketch_min(const struct sl_ddsketch *s)
{
    return s->count > 0 ? s->min : NAN;
}

double sl_ddsketch_max(const struct sl_ddsketch *s)
{
    return s->count > 0 ? s->max : NAN;
}

/* ---------------------------------------------------------------- encoding */

struct wr {
    uint8_t *p;
    size_t cap, len; /* len counts every byte, also those past cap (sizing pass) */
};

static void wr_byte(struct wr *w, uint8_t b)
{
    if (w->len < w->cap) w->p[w->len] = b;
    w->len++;
}

static void wr_uvarint(struct wr *w, uint64_t v)
{
    while (v >= 0x80) {
        wr_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    wr_byte(w, (uint8_t)v);
}

static void wr_f64(struct wr *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    for (int i = 0; i < 8; i++)
        wr_byte(w, (uint8_t)(u >> (8 * i)));
}

static bool count_is_int(double c)
{
    return c <= DD_EXACT_INT && c == floor(c);
}

static void wr_store(struct wr *w, const struct dd_store *st)
{
    int64_t lo = st->lo;
    wr_uvarint(w, ((uint64_t)lo << 1) ^ (uint64_t)(lo >> 63));
    wr_uvarint(w, (uint64_t)(st->hi - st->lo + 1));
    bool ints = true;
    for (int64_t k = st->lo; k <= st->hi && ints; k++)
        ints = count_is_int(*store_at(st, k));
    wr_byte(w, ints ? 0 : 1);
    for (int64_t k = st->lo; k <= st->hi; k++) {
        if (ints)
            wr_uvarint(w, (uint64_t)*store_at(st, k));
        else
            wr_f64(w, *store_at(st, k));
    }
}

int sl_ddsketch_encode(const struct sl_ddsketch *s, uint8_t *buf, size_t cap)
{
    struct wr w = {.p = buf, .cap = buf ? cap : 0, .len = 0};
    bool nonempty = s->count > 0;
    uint8_t flags = 0;
    if (nonempty) {
        flags |= DD_F_NONEMPTY;
        if (s->zero > 0) flags |= DD_F_ZERO;
        if (!store_empty(&s->pos)) flags |= DD_F_POS;
        if (!store_empty(&s->neg)) flags |= DD_F_NEG;
    }
    wr_byte(&w, DD_VERSION);
    wr_byte(&w, flags);
    wr_f64(&w, s->alpha);
    wr_uvarint(&w, s->max_bins);
    if (nonempty) {
        wr_f64(&w, s->count);
        wr_f64(&w, s->sum);
        wr_f64(&w, s->min);
        wr_f64(&w, s->max);
    }
    if (flags & DD_F_ZERO) wr_f64(&w, s->zero);
    if (flags & DD_F_POS) wr_store(&w, &s->pos);
    if (flags & DD_F_NEG) wr_store(&w, &s->neg);
    if (w.len > INT32_MAX || (cap && w.len > cap)) return -ENOSPC;
    return (int)w.len; /* cap 0: the size a caller must provide */
}

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static int rd_byte(struct rd *r, uint8_t *b)
{
    if (r->off >= r->len) return SL_E_CORRUPT;
    *b = r->p[r->off++];
    return 0;
}

/* Minimal-length LEB128 only, so every value has exactly one encoding. */
static int rd_uvarint(struct rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (rd_byte(r, &b)) return SL_E_CORRUPT;
        if (shift == 63 && b > 1) return SL_E_CORRUPT; /* overflows 64 bits */
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift) return SL_E_CORRUPT; /* overlong */
            *v = x;
            return 0;
        }
    }
    return SL_E_CORRUPT;
}

static int rd_f64(struct rd *r, double *d)
{
    if (r->len - r->off < 8) return SL_E_CORRUPT;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)r->p[r->off + i] << (8 * i);
    r->off += 8;
    memcpy(d, &u, sizeof *d);
    return 0;
}

static int rd_store(struct rd *r, const struct sl_ddsketch *s, struct dd_store *st)
{
    uint64_t zz, nbins;
    uint8_t enc;
    if (rd_uvarint(r, &zz) || rd_uvarint(r, &nbins) || rd_byte(r, &enc)) return SL_E_CORRUPT;
    int64_t lo = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    /* Every bin takes at least one byte, so nbins is bounded by the input before we
     * allocate for it. */
    if (nbins == 0 || nbins > s->max_bins || nbins > r->len - r->off || enc > 1)
        return SL_E_CORRUPT;
    if (lo < s->idx_min || lo > s->idx_max || (int64_t)nbins - 1 > s->idx_max - lo)
        return SL_E_CORRUPT;
    double *c = calloc(nbins, sizeof(double));
    if (!c) return -ENOMEM;
    bool ints = true;
    for (uint64_t i = 0; i < nbins; i++) {
        if (enc == 0) {
            uint64_t u;
            if (rd_uvarint(r, &u) || u > (uint64_t)DD_EXACT_INT) goto corrupt;
            c[i] = (double)u;
        } else {
            if (rd_f64(r, &c[i]) || !(c[i] >= 0) || !isfinite(c[i])) goto corrupt;
            ints = ints && count_is_int(c[i]);
        }
    }
    /* Canonical: end bins non-empty, f64 form only when the varint form cannot hold it. */
    if (!(c[0] > 0) || !(c[nbins - 1] > 0) || (enc == 1 && ints)) goto corrupt;
    st->counts = c;
    st->cap = (uint32_t)nbins;
    st->offset = lo;
    st->lo = (int32_t)lo;
    st->hi = (int32_t)(lo + (int64_t)nbins - 1);
    return 0;
corrupt:
    free(c);
    return SL_E_CORRUPT;
}

int sl_ddsketch_decode(const uint8_t *buf, size_t len, struct sl_ddsketch **out)
{
    struct rd r = {.p = buf, .len = len, .off = 0};
    uint8_t ver, flags;
    double alpha;
    uint64_t max_bins;
    if (rd_byte(&r, &ver)) return SL_E_CORRUPT;
    if (ver != DD_VERSION) return SL_E_VERSION;
    if (rd_byte(&r, &flags) || rd_f64(&r, &alpha) || rd_uvarint(&r, &max_bins)) return SL_E_CORRUPT;
    if ((flags & ~DD_F_ALL) || max_bins > UINT32_MAX) return SL_E_CORRUPT;
    if (!(flags & DD_F_NONEMPTY) && flags) return SL_E_CORRUPT;
    if ((flags & DD_F_NONEMPTY) && !(flags & (DD_F_ZERO | DD_F_POS | DD_F_NEG)))
        return SL_E_CORRUPT;

    struct sl_ddsketch *s = malloc(sizeof *s);
    if (!s) return -ENOMEM;
    int rc = dd_init(s, alpha, (uint32_t)max_bins);
    if (rc) {
        free(s);
        return SL_E_CORRUPT;
    }
    rc = SL_E_CORRUPT;
    if (flags & DD_F_NONEMPTY) {
        if (rd_f64(&r, &s->count) || rd_f64(&r, &s->sum) || rd_f64(&r, &s->min) ||
            rd_f64(&r, &s->max))
            goto fail;
        /* sum may legitimately be ±Inf (or NaN after merging +Inf and -Inf sums). */
        if (!(s->count > 0) || !isfinite(s->count) || !isfinite(s->min) || !isfinite(s->max) ||
            !(s->min <= s->max))
            goto fail;
    }
    if (flags & DD_F_ZERO) {
        if (rd_f64(&r, &s->zero) || !(s->zero > 0) || !isfinite(s->zero)) goto fail;
    }
    if ((flags & DD_F_POS) && (rc = rd_store(&r, s, &s->pos)) != 0) goto fail;
    rc = SL_E_CORRUPT;
    if ((flags & DD_F_NEG) && (rc = rd_store(&r, s, &s->neg)) != 0) goto fail;
    rc = SL_E_CORRUPT;
    if (r.off != r.len) goto fail;
    *out = s;
    return 0;
fail:
    sl_ddsketch_destroy(s);
    return rc;
}
