/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD / DogStatsD line parser: the per-line hot path of every StatsD listener.
 *
 * Owns: splitting a buffer into lines, parsing one line into borrowed views
 * (struct sl_statsd_line), decoding value lists, statsd_exporter's name escaping and
 * building the canonical series key. Does not own: aggregation, counters of refused lines
 * (the caller keeps them, indexed by enum sl_statsd_reason) or any I/O.
 *
 * Invariants: nothing allocates, nothing writes outside @out / the caller's buffers, and
 * every pointer handed back lies inside the caller's line. Everything parse_line accepts can
 * be turned into a key without a NUL byte ever reaching sl_key_build (the bytes that go
 * into keys verbatim — tag values, event titles and source types, service check names — are
 * checked for NUL here; names are escaped, which maps NUL to '_').
 * Thread: any; all functions are pure.
 *
 * Numbers: StatsD values are almost always short integers or short decimals ("1", "0.5",
 * "320"), so they go through an exact fast path (Clinger's: a mantissa of at most 2^53
 * scaled by an exactly representable power of ten needs one IEEE rounding, which is the
 * correctly rounded result strtod also returns). Everything else — long mantissas, large
 * exponents — is copied to a NUL-terminated scratch buffer and handed to strtod, so results
 * are bit-identical to strtod in every case. strtod reads LC_NUMERIC: the process must keep
 * the "C" numeric locale (sluiced never calls setlocale).
 */
#include "ingest/statsd.h"

#include <errno.h>
#include <limits.h>
#include <float.h>
#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The fast path relies on double arithmetic being done in double precision (SSE2, not x87
 * extended precision): with FLT_EVAL_METHOD != 0 a division could round twice. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define STATSD_FAST_FLOAT 1
#else
#define STATSD_FAST_FLOAT 0
#endif

/* Longest number handed to strtod; longer spellings are refused as BAD_VALUE. 255 bytes is
 * far beyond any client's output (Go's strconv uses at most 24 significant digits) and keeps
 * the scratch copy on the stack small. */
#define STATSD_NUM_MAX 255

#define TWO53 (UINT64_C(1) << 53)

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const char *const reason_names[SL_STATSD_E__COUNT] = {
    [SL_STATSD_OK] = "ok",
    [SL_STATSD_E_EMPTY_NAME] = "empty_name",
    [SL_STATSD_E_NO_VALUE] = "no_value",
    [SL_STATSD_E_NO_TYPE] = "no_type",
    [SL_STATSD_E_BAD_TYPE] = "bad_type",
    [SL_STATSD_E_BAD_VALUE] = "bad_value",
    [SL_STATSD_E_BAD_RATE] = "bad_rate",
    [SL_STATSD_E_BAD_TAGS] = "bad_tags",
    [SL_STATSD_E_BAD_FIELD] = "bad_field",
    [SL_STATSD_E_BAD_EVENT] = "bad_event",
    [SL_STATSD_E_BAD_SERVICE_CHECK] = "bad_service_check",
    [SL_STATSD_E_TOO_LONG] = "too_long",
    [SL_STATSD_E_TOO_MANY_TAGS] = "too_many_tags",
    [SL_STATSD_E_BAD_TIMESTAMP] = "bad_timestamp",
};

const char *sl_statsd_reason_name(int reason)
{
    if (reason < 0)
        reason = reason == INT_MIN ? SL_STATSD_E__COUNT : -reason;
    if (reason >= SL_STATSD_E__COUNT)
        return "unknown";
    return reason_names[reason];
}

/* ---- lines ------------------------------------------------------------------------- */

/* The first '\n' in [p, end), or NULL. Inline and 16 bytes at a time: StatsD lines are
 * 20-60 bytes, where a call to memchr spends much of its time on set-up (splitting a line
 * took 71 instructions with memchr, 55 with this, in bench_parse_aggregate under
 * callgrind). */
static inline const char *find_newline(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n');
    for (; end - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, nl));
        if (m)
            return p + __builtin_ctz(m);
    }
#endif
    for (; p < end; p++)
        if (*p == '\n')
            return p;
    return NULL;
}

int sl_statsd_next_line(const char **cur, const char *end, const char **line, size_t *len)
{
    const char *p = *cur;
    while (p < end) {
        const char *nl = find_newline(p, end);
        const char *e = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n) {
            *line = p;
            *len = n;
            *cur = next;
            return 1;
        }
        p = next; /* empty line (or a lone "\r"): skip it */
    }
    *cur = end;
    return 0;
}

/* ---- numbers ----------------------------------------------------------------------- */

static inline bool is_digit(char c)
{
    return (unsigned)(c - '0') < 10u;
}

/* The number [s, e) (already checked against the grammar) through strtod. Out of line so
 * the scratch buffer does not weigh on the fast path's stack frame. */
__attribute__((noinline)) static bool slow_number(const char *s, const char *e, double *out)
{
    size_t len = (size_t)(e - s); /* <= STATSD_NUM_MAX: checked by scan_number */
    char buf[STATSD_NUM_MAX + 1];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *endp;
    double r = strtod(buf, &endp);
    if (endp != buf + len || !isfinite(r))
        return false;
    *out = r;
    return true;
}

/*
 * Scan one decimal number at [s, e):
 *
 *     [+-]? ( digits [ '.' digits* ] | '.' digits ) ( [eE] [+-]? digits )?
 *     ^sign  ^mantissa                                ^exponent
 *
 * and stop at the first byte that does not continue it. Returns the end of the number and
 * sets *out, or NULL when there is no number at @s, the spelling is longer than
 * STATSD_NUM_MAX, or the value is not finite (overflow). The grammar is a subset of what
 * strtod accepts (no hex, inf, nan, or leading blanks), so the end returned is the end
 * strtod would stop at; the caller checks that a separator follows.
 */
static inline const char *scan_number(const char *s, const char *e, double *out)
{
    const char *q = s;
    /* Short cut for what clients send nearly always: unsigned, at most 15 digits in all,
     * at most one '.', no exponent ("1", "250", "12.75"). m < 10^15 < 2^53 is exact and
     * the scale is a power of ten <= 10^15, so the result is the general path's division,
     * bit for bit; anything else (a sign, an exponent, a 16th digit) takes that path. */
    if (STATSD_FAST_FLOAT && q < e && is_digit(*q)) {
        const char *lim = e - s > 15 ? s + 15 : e;
        uint64_t m = (uint64_t)(*q++ - '0');
        while (q < lim && is_digit(*q))
            m = m * 10 + (uint64_t)(*q++ - '0');
        const char *dot = NULL;
        if (q < lim && *q == '.') {
            dot = q++;
            while (q < lim && is_digit(*q))
                m = m * 10 + (uint64_t)(*q++ - '0');
        }
        if (q == e || (!is_digit(*q) && *q != '.' && (*q | 0x20) != 'e')) {
            double r = (double)m;
            if (dot && q - dot > 1)
                r /= pow10_exact[q - dot - 1];
            *out = r;
            return q;
        }
        q = s;
    }
    bool neg = false;
    if (q < e && (*q == '+' || *q == '-')) {
        neg = *q == '-';
        q++;
    }
    /* Digits accumulate into m while it cannot overflow (19 digits fit in 64 bits); the
     * value is exact when no digit was dropped and m <= 2^53, checked once at the end
     * rather than per digit. */
    uint64_t m = 0;
    int kept = 0;        /* digits in m, leading zeros excluded */
    bool dropped = false; /* a nonzero significant digit did not fit */
    int e10 = 0;         /* decimal exponent: -(fraction digits kept) + explicit exponent */
    const char *ds = q;
    for (; q < e && is_digit(*q); q++) {
        unsigned d = (unsigned)(*q - '0');
        if (kept < 19) {
            m = m * 10 + d;
            kept += m != 0;
        } else {
            dropped = true; /* (a dropped zero is inexact too: m no longer counts it) */
        }
    }
    bool any = q != ds; /* at least one mantissa digit */
    if (q < e && *q == '.') {
        q++;
        const char *fs = q;
        for (; q < e && is_digit(*q); q++) {
            unsigned d = (unsigned)(*q - '0');
            /* (e10 bound: "0.000…" keeps m == 0 and must not run e10 down forever) */
            if (kept < 19 && e10 > -STATSD_NUM_MAX) {
                m = m * 10 + d;
                kept += m != 0;
                e10--;
            } else {
                dropped = true;
            }
        }
        any |= q != fs;
    }
    bool exact = !dropped && m <= TWO53;
    if (!any)
        return NULL;
    if (q < e && (*q | 0x20) == 'e') {
        const char *x = q + 1;
        bool xneg = false;
        if (x < e && (*x == '+' || *x == '-')) {
            xneg = *x == '-';
            x++;
        }
        if (x < e && is_digit(*x)) {
            int xv = 0;
            for (; x < e && is_digit(*x); x++) {
                if (xv < 100000)
                    xv = xv * 10 + (*x - '0');
                else
                    exact = false; /* absurd exponent: let strtod saturate it */
            }
            e10 += xneg ? -xv : xv;
            q = x;
        }
        /* "1e" or "1e+": the 'e' is not part of the number; the caller sees a stray byte */
    }
    if (q - s > STATSD_NUM_MAX)
        return NULL; /* one limit for both paths, whichever would have parsed it */
    double r;
    if (STATSD_FAST_FLOAT && exact && (m == 0 || (e10 >= -22 && e10 <= 22))) {
        r = (double)m; /* exact: m <= 2^53 */
        if (m != 0)
            r = e10 < 0 ? r / pow10_exact[-e10] : r * pow10_exact[e10];
        *out = neg ? -r : r;
        return q;
    }
    return slow_number(s, q, out) ? q : NULL;
}

/* A complete number filling exactly [s, e). */
static bool parse_number(const char *s, const char *e, double *out)
{
    const char *q = scan_number(s, e, out);
    return q && q == e;
}

/* Non-negative decimal integer filling exactly [s, e), at most INT64_MAX. */
static bool parse_uint63(const char *s, const char *e, int64_t *out)
{
    if (s == e)
        return false;
    uint64_t v = 0;
    for (const char *q = s; q < e; q++) {
        if (!is_digit(*q))
            return false;
        unsigned d = (unsigned)(*q - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = (int64_t)v;
    return true;
}

static inline bool bytes_eq(const char *s, size_t n, const char *lit, size_t litn)
{
    return n == litn && memcmp(s, lit, n) == 0;
}
#define EQ_LIT(s, n, lit) bytes_eq((s), (n), lit, sizeof(lit) - 1)

/* ---- values ------------------------------------------------------------------------ */

int sl_statsd_next_value(const char **cur, const char *end, uint8_t mtype,
                         struct sl_statsd_value *v)
{
    const char *p = *cur;
    if (!p || p >= end)
        return 0;
    if (mtype == SL_METRIC_SET) {
        /* One member: the whole list, colons included (DogStatsD packs no set values, and
         * members such as "user:42" or IPv6 addresses contain ':'). */
        v->v = 0;
        v->sign = 0;
        v->raw = p;
        v->raw_len = (uint32_t)(end - p);
        *cur = end;
        return 1;
    }
    /* One pass for the usual case: scan the number and see a ':' or the end right after
     * it. Anything else (a bad value) goes the long way to find where the next value
     * starts, so the cursor advances exactly as before. */
    double d;
    const char *q = scan_number(p, end, &d);
    if (q && (q == end || *q == ':')) {
        *cur = q == end ? end : q + 1;
        v->raw = p;
        v->raw_len = (uint32_t)(q - p);
        v->v = d;
        v->sign = mtype == SL_METRIC_GAUGE && (*p == '+' || *p == '-') ? *p : 0;
        return 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *ve = colon ? colon : end;
    *cur = colon ? colon + 1 : end;
    v->raw = p;
    v->raw_len = (uint32_t)(ve - p);
    v->sign = 0;
    v->v = 0;
    if (!parse_number(p, ve, &v->v))
        return -SL_STATSD_E_BAD_VALUE;
    if (mtype == SL_METRIC_GAUGE && (*p == '+' || *p == '-'))
        v->sign = *p;
    return 1;
}

/* The value list [s, e) of a metric of @mtype: non-empty, and for numeric types a list of
 * numbers separated by single ':' with no empty entries. The first @cap numbers go to
 * @vals (bit i of *@signs set when number i has a leading sign) and the count to *@nvals,
 * so a caller that asked for them need not scan the list a second time. */
static inline bool check_values(const char *s, const char *e, uint8_t mtype, double *vals,
                                uint64_t *signs, uint32_t cap, uint32_t *nvals)
{
    if (s == e)
        return false;
    if (mtype == SL_METRIC_SET)
        return true;
    uint32_t k = 0;
    uint64_t sg = 0;
    for (;; k++) {
        double d;
        const char *q = scan_number(s, e, &d);
        if (!q)
            return false;
        if (k < cap) {
            vals[k] = d;
            sg |= (uint64_t)(*s == '+' || *s == '-') << k;
        }
        if (q == e || *q != ':' || q + 1 == e) {
            if (q != e)
                return false;
            if (cap) {
                *signs = sg;
                *nvals = k + 1;
            }
            return true;
        }
        s = q + 1;
    }
}

/* ---- fields ------------------------------------------------------------------------ */

/*
 * Byte search, 8 bytes per step (SWAR). Lines are short — a name, one value, a rate, a few
 * tags — and at 10-40 bytes a call into memchr costs more than it saves, while a byte loop
 * is the hottest part of the parser. swar_match() sets the high bit of each byte of @x equal
 * to the byte in @pat; borrows can only set bits ABOVE the first real match, so the lowest
 * set bit is exact, which is all the callers use.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define STATSD_SWAR 1
#else
#define STATSD_SWAR 0
#endif
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load8(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint64_t swar_match(uint64_t x, uint64_t pat)
{
    uint64_t y = x ^ pat;
    return (y - ONES) & ~y & HIGHS;
}

static inline size_t first_byte(uint64_t m)
{
    return (size_t)__builtin_ctzll(m) >> 3;
}

/* The last r (1..7) bytes before @end as the low bytes of a word, read with one load that
 * ends at @end (the caller checks that the 8 bytes from end - 8 belong to the line). The
 * bytes shifted in on top are zero: callers mask NUL matches to the low r bytes. A byte
 * loop over these tails was a tenth of a typical line's parse. */
static inline uint64_t load_tail(const char *end, size_t r)
{
    return load8(end - 8) >> (8 * (8 - r));
}

#ifdef __SSE2__
/* Masks of the bytes equal to @a (*ma) and to @b (*mb) among the 16 at @p, bit 0 for @p.
 * When fewer than 16 bytes remain before @end, the 16 that end at @end are read instead
 * (the caller checks that the line has them) and the ones before @p are dropped. */
static inline void masks16(const char *p, const char *end, char a, char b, unsigned *ma,
                           unsigned *mb)
{
    size_t r = (size_t)(end - p);
    unsigned drop = r >= 16 ? 0 : 16 - (unsigned)r;
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(r >= 16 ? p : end - 16));
    *ma = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(a))) >> drop;
    *mb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b))) >> drop;
}
#endif

/* End of the '|'-field starting at f: the next '|' or @end. *nul is set when the field
 * holds a NUL byte (tags must not: they are copied into keys), found in the same pass.
 * @lo is the start of the line: bytes from lo on may be read. */
static inline const char *field_end(const char *lo, const char *f, const char *end, bool *nul)
{
#ifdef __SSE2__
    /* 16 bytes a step; the last step reads the 16 bytes that end at @end (so the line
     * must have 16 bytes from @lo) and drops the ones already looked at. */
    if (end - lo >= 16) {
        unsigned zs = 0; /* NULs in the steps before */
        for (; f < end; f += 16) {
            unsigned mb, mz;
            masks16(f, end, '|', 0, &mb, &mz);
            if (mb) {
                unsigned at = (unsigned)__builtin_ctz(mb);
                *nul = zs || (mz & ((1u << at) - 1));
                return f + at;
            }
            zs |= mz;
            if (end - f <= 16)
                break; /* (and f never points past @end) */
        }
        *nul = zs != 0;
        return end;
    }
#endif
    uint64_t z = 0;
    if (STATSD_SWAR) {
        for (; end - f >= 8; f += 8) {
            uint64_t x = load8(f);
            uint64_t m = swar_match(x, ONES * '|');
            uint64_t mz = swar_match(x, 0);
            if (m) {
                *nul = z || (mz && __builtin_ctzll(mz) < __builtin_ctzll(m));
                return f + first_byte(m);
            }
            z |= mz;
        }
        size_t r = (size_t)(end - f);
        if (r && end - lo >= 8) {
            uint64_t x = load_tail(end, r);
            uint64_t m = swar_match(x, ONES * '|');
            uint64_t mz = swar_match(x, 0) & (HIGHS >> (8 * (8 - r)));
            if (m) {
                *nul = z || (mz && __builtin_ctzll(mz) < __builtin_ctzll(m));
                return f + first_byte(m);
            }
            *nul = (z | mz) != 0;
            return end;
        }
    }
    for (; f < end && *f != '|'; f++)
        z |= *f == 0;
    *nul = z != 0;
    return f;
}

/* One step of head_end() over the bytes from @p: @mb and @mc mark its '|' and ':' bytes,
 * byte i at bit (i << @scale) (SSE2 masks have a bit per byte, SWAR masks a byte per
 * byte). Returns the first '|' of the step, or NULL when it has none; in both cases *@c
 * becomes the first ':' seen so far that comes before a '|'. */
static inline const char *head_step(const char *p, uint64_t mb, uint64_t mc, int scale,
                                    const char **c)
{
    if (*c)
        mc = 0;
    if (mc && (!mb || __builtin_ctzll(mc) < __builtin_ctzll(mb)))
        *c = p + (__builtin_ctzll(mc) >> scale);
    return mb ? p + (__builtin_ctzll(mb) >> scale) : NULL;
}

/* First '|' in [p, end) (or end), and the first ':' before it (or NULL) in *colon. */
static inline const char *head_end(const char *p, const char *end, const char **colon)
{
    const char *c = NULL, *bar;
#ifdef __SSE2__
    /* As field_end(): 16 bytes a step, the last one ending at @end. */
    if (end - p >= 16) {
        for (; p < end; p += 16) {
            unsigned mb, mc;
            masks16(p, end, '|', ':', &mb, &mc);
            if ((bar = head_step(p, mb, mc, 0, &c)) || end - p <= 16)
                break;
        }
        *colon = c;
        return bar ? bar : end;
    }
#endif
    if (STATSD_SWAR) {
        const char *lo = p;
        for (; end - p >= 8; p += 8) {
            uint64_t x = load8(p);
            bar = head_step(p, swar_match(x, ONES * '|'), swar_match(x, ONES * ':'), 3, &c);
            if (bar) {
                *colon = c;
                return bar;
            }
        }
        size_t r = (size_t)(end - p);
        if (r && end - lo >= 8) {
            uint64_t x = load_tail(end, r);
            bar = head_step(p, swar_match(x, ONES * '|'), swar_match(x, ONES * ':'), 3, &c);
            *colon = c;
            return bar ? bar : end;
        }
    }
    for (; p < end && *p != '|'; p++)
        if (*p == ':' && !c)
            c = p;
    *colon = c;
    return p;
}

/* Bits of fields already seen on a line: a repeated field is refused rather than letting
 * one copy silently win over the other. */
enum {
    F_RATE = 1u << 0,
    F_TAGS = 1u << 1,
    F_CONTAINER = 1u << 2,
    F_TS = 1u << 3,
    F_HOST = 1u << 4,
    F_PRIO = 1u << 5,
    F_ALERT = 1u << 6,
    F_SOURCE = 1u << 7,
    F_AGGKEY = 1u << 8,
};

/* Fields every line kind shares: tags and container. Returns 1 when consumed, 0 when the
 * field is not one of them, or a negative reason. */
static inline int common_field(const char *f, const char *fe, bool nul, unsigned *seen,
                               struct sl_statsd_line *out)
{
    size_t n = (size_t)(fe - f);
    if (f[0] == '#') {
        if (*seen & F_TAGS)
            return -SL_STATSD_E_BAD_FIELD;
        *seen |= F_TAGS;
        if (n > 1) {
            if (nul)
                return -SL_STATSD_E_BAD_TAGS; /* a NUL cannot be carried in a key */
            out->tags = f + 1;
            out->tags_len = (uint32_t)(n - 1);
        }
        return 1;
    }
    if (n >= 2 && f[0] == 'c' && f[1] == ':') {
        if ((*seen & F_CONTAINER) || n == 2)
            return -SL_STATSD_E_BAD_FIELD;
        *seen |= F_CONTAINER;
        out->container = f + 2;
        out->container_len = (uint32_t)(n - 2);
        return 1;
    }
    return 0;
}

/* A "x:value" string field of an event or service check; empty values are malformed. */
static int str_field(const char *f, const char *fe, unsigned bit, unsigned *seen,
                     const char **dst, uint32_t *dst_len)
{
    if ((*seen & bit) || fe - f == 2)
        return -SL_STATSD_E_BAD_FIELD;
    *seen |= bit;
    *dst = f + 2;
    *dst_len = (uint32_t)(fe - f - 2);
    return 0;
}

/*
 *     deploys.api:1|c|@0.1|#env:prod|c:abc|T1700000000
 *                   ^cur (at the '|' after the type; fields follow in any order)
 */
static int metric_fields(const char *cur, const char *end, struct sl_statsd_line *out)
{
    unsigned seen = 0;
    while (cur < end) {
        const char *f = cur + 1; /* *cur == '|' */
        bool nul;
        const char *fe = field_end(out->name, f, end, &nul);
        cur = fe;
        if (f == fe)
            return -SL_STATSD_E_BAD_FIELD; /* "||" or a trailing '|' */
        switch (f[0]) {
        case '@':
            if (seen & F_RATE)
                return -SL_STATSD_E_BAD_FIELD;
            seen |= F_RATE;
            if (!parse_number(f + 1, fe, &out->sample_rate) || !(out->sample_rate > 0.0) ||
                out->sample_rate > 1.0)
                return -SL_STATSD_E_BAD_RATE;
            break;
        case 'T':
            if (seen & F_TS)
                return -SL_STATSD_E_BAD_FIELD;
            seen |= F_TS;
            if (!parse_uint63(f + 1, fe, &out->timestamp))
                return -SL_STATSD_E_BAD_TIMESTAMP;
            break;
        default: {
            int rc = common_field(f, fe, nul, &seen, out);
            if (rc < 0)
                return rc;
            /* rc == 0: a field this version does not know ("e:" external data, "card:"
             * cardinality, ...). The Datadog agent skips unknown fields, so do we. */
            break;
        }
        }
    }
    return SL_STATSD_OK;
}

/*
 *     _e{5,4}:title|text|d:1700000000|h:host|p:low|t:warning|s:src|k:agg|#tags
 *         ^ ^  ^     ^    ^cur (fields, any order)
 *         | |  title text (lengths in bytes, checked exactly: '|' must follow the title,
 *         | |  and end of line or '|' must follow the text; both may contain '|')
 *         title_len, text_len
 */
static int parse_event(const char *p, const char *end, struct sl_statsd_line *out)
{
    const char *q = p + 3; /* past "_e{" */
    uint64_t len[2];
    for (int i = 0; i < 2; i++) {
        const char *d = q;
        uint64_t v = 0;
        while (q < end && is_digit(*q) && q - d < 10) /* 10 digits: > any uint32 line */
            v = v * 10 + (uint64_t)(*q++ - '0');
        if (q == d || q == end || *q != (i == 0 ? ',' : '}'))
            return -SL_STATSD_E_BAD_EVENT;
        len[i] = v;
        q++;
    }
    if (q == end || *q != ':')
        return -SL_STATSD_E_BAD_EVENT;
    q++;
    uint64_t avail = (uint64_t)(end - q);
    if (len[0] == 0 || len[0] >= avail || len[1] > avail - len[0] - 1)
        return -SL_STATSD_E_BAD_EVENT;
    const char *title = q;
    const char *text = q + len[0];
    if (*text != '|')
        return -SL_STATSD_E_BAD_EVENT;
    text++;
    const char *after = text + len[1];
    if (after != end && *after != '|')
        return -SL_STATSD_E_BAD_EVENT;
    if (memchr(title, 0, (size_t)len[0]))
        return -SL_STATSD_E_BAD_EVENT; /* the title becomes a label value */
    out->kind = SL_STATSD_EVENT;
    out->mtype = SL_METRIC_EVENT;
    out->name = title;
    out->name_len = (uint32_t)len[0];
    out->text = text;
    out->text_len = (uint32_t)len[1];

    unsigned seen = 0;
    for (const char *cur = after; cur < end;) {
        const char *f = cur + 1;
        bool nul;
        const char *fe = field_end(p, f, end, &nul);
        cur = fe;
        if (f == fe)
            return -SL_STATSD_E_BAD_FIELD;
        size_t n = (size_t)(fe - f);
        int rc = 0;
        if (n >= 2 && f[1] == ':') {
            switch (f[0]) {
            case 'd':
                if (seen & F_TS)
                    return -SL_STATSD_E_BAD_FIELD;
                seen |= F_TS;
                if (!parse_uint63(f + 2, fe, &out->timestamp))
                    return -SL_STATSD_E_BAD_TIMESTAMP;
                continue;
            case 'h':
                rc = str_field(f, fe, F_HOST, &seen, &out->hostname, &out->hostname_len);
                break;
            case 'k':
                rc = str_field(f, fe, F_AGGKEY, &seen, &out->aggregation_key,
                               &out->aggregation_key_len);
                break;
            case 'p':
                rc = str_field(f, fe, F_PRIO, &seen, &out->priority, &out->priority_len);
                if (rc == 0 && !EQ_LIT(out->priority, out->priority_len, "normal") &&
                    !EQ_LIT(out->priority, out->priority_len, "low"))
                    rc = -SL_STATSD_E_BAD_FIELD;
                break;
            case 't':
                rc = str_field(f, fe, F_ALERT, &seen, &out->alert_type, &out->alert_type_len);
                if (rc == 0 && !EQ_LIT(out->alert_type, out->alert_type_len, "error") &&
                    !EQ_LIT(out->alert_type, out->alert_type_len, "warning") &&
                    !EQ_LIT(out->alert_type, out->alert_type_len, "info") &&
                    !EQ_LIT(out->alert_type, out->alert_type_len, "success"))
                    rc = -SL_STATSD_E_BAD_FIELD;
                break;
            case 's':
                rc = str_field(f, fe, F_SOURCE, &seen, &out->source_type,
                               &out->source_type_len);
                if (rc == 0 && nul)
                    rc = -SL_STATSD_E_BAD_FIELD; /* becomes a label value */
                break;
            default:
                rc = common_field(f, fe, nul, &seen, out);
                break;
            }
        } else {
            rc = common_field(f, fe, nul, &seen, out);
        }
        if (rc < 0)
            return rc;
    }
    return SL_STATSD_OK;
}

/*
 *     _sc|name|status|d:1700000000|h:host|#tags|m:message
 *         ^name ^0..3 ^fields, any order; m: must come last and runs to the end of the
 *                      line, so a message may contain '|'
 */
static int parse_service_check(const char *p, const char *end, struct sl_statsd_line *out)
{
    const char *name = p + 4; /* past "_sc|" */
    const char *ne = memchr(name, '|', (size_t)(end - name));
    if (!ne || ne == name || memchr(name, 0, (size_t)(ne - name)))
        return -SL_STATSD_E_BAD_SERVICE_CHECK;
    const char *st = ne + 1;
    const char *se = memchr(st, '|', (size_t)(end - st));
    if (!se)
        se = end;
    if (se - st != 1 || (unsigned)(st[0] - '0') > 3u)
        return -SL_STATSD_E_BAD_SERVICE_CHECK;
    out->kind = SL_STATSD_SERVICE_CHECK;
    out->mtype = SL_METRIC_SERVICE_CHECK;
    out->name = name;
    out->name_len = (uint32_t)(ne - name);
    out->status = st[0] - '0';

    unsigned seen = 0;
    for (const char *cur = se; cur < end;) {
        const char *f = cur + 1;
        if (end - f >= 2 && f[0] == 'm' && f[1] == ':') {
            if (f + 2 == end)
                return -SL_STATSD_E_BAD_FIELD;
            out->message = f + 2;
            out->message_len = (uint32_t)(end - f - 2);
            break;
        }
        bool nul;
        const char *fe = field_end(p, f, end, &nul);
        cur = fe;
        if (f == fe)
            return -SL_STATSD_E_BAD_FIELD;
        int rc;
        if (fe - f >= 2 && f[0] == 'd' && f[1] == ':') {
            if (seen & F_TS)
                return -SL_STATSD_E_BAD_FIELD;
            seen |= F_TS;
            if (!parse_uint63(f + 2, fe, &out->timestamp))
                return -SL_STATSD_E_BAD_TIMESTAMP;
            continue;
        } else if (fe - f >= 2 && f[0] == 'h' && f[1] == ':') {
            rc = str_field(f, fe, F_HOST, &seen, &out->hostname, &out->hostname_len);
        } else {
            rc = common_field(f, fe, nul, &seen, out);
        }
        if (rc < 0)
            return rc;
    }
    return SL_STATSD_OK;
}

/* ---- lines --------------------------------------------------------------------------- */

/* Zero the 200-byte line with 16-byte stores. A plain memset or compound literal becomes
 * `rep stos`, whose start-up cost was a quarter of a typical line's parse; field-by-field
 * stores cost ~28 store slots. SSE2 is part of the x86-64 baseline. */
static inline void line_init(struct sl_statsd_line *out)
{
#ifdef __SSE2__
    /* Spelled out: GCC turns a loop of these back into memset, i.e. `rep stos`. */
    static_assert(sizeof *out == 200, "line_init zeroes 12 x 16 + 8 bytes");
    char *b = (char *)out;
    __m128i z = _mm_setzero_si128();
#define Z16(i) _mm_storeu_si128((__m128i *)(void *)(b + 16 * (i)), z)
    Z16(0); Z16(1); Z16(2); Z16(3); Z16(4); Z16(5);
    Z16(6); Z16(7); Z16(8); Z16(9); Z16(10); Z16(11);
#undef Z16
    _mm_storel_epi64((__m128i *)(void *)(b + 192), z);
#else
    memset(out, 0, sizeof *out);
#endif
    out->sample_rate = 1.0;
    out->timestamp = -1;
}

/*
 *     deploys.api:1:2|ms|@0.1|#env:prod
 *     ^name      ^values ^fields
 *                ^colon (first ':' before the first '|')
 */
static inline int parse_line(const char *p, size_t n, struct sl_statsd_line *out, double *vals,
                             uint64_t *signs, uint32_t cap, uint32_t *nvals)
{
    line_init(out);
    if (n > UINT32_MAX)
        return -SL_STATSD_E_TOO_LONG; /* lengths are uint32_t; real lines are < 64 KiB */
    const char *end = p + n;
    if (n >= 3 && p[0] == '_') {
        if (p[1] == 'e' && p[2] == '{')
            return parse_event(p, end, out);
        if (n >= 4 && p[1] == 's' && p[2] == 'c' && p[3] == '|')
            return parse_service_check(p, end, out);
    }
    const char *colon;
    const char *he = head_end(p, end, &colon);
    const char *bar = he < end ? he : NULL;
    if (colon == p || he == p)
        return -SL_STATSD_E_EMPTY_NAME;
    if (!colon)
        return -SL_STATSD_E_NO_VALUE;
    if (!bar)
        return -SL_STATSD_E_NO_TYPE;

    const char *t = bar + 1;
    size_t tn = 0;
    while (t + tn < end && t[tn] != '|' && tn < 3)
        tn++;
    if (tn == 0)
        return -SL_STATSD_E_NO_TYPE;
    if (t + tn < end && t[tn] != '|')
        return -SL_STATSD_E_BAD_TYPE; /* three or more bytes: no such type */
    uint8_t mtype;
    if (tn == 1) {
        switch (t[0]) {
        case 'c': mtype = SL_METRIC_COUNTER; break;
        case 'g': mtype = SL_METRIC_GAUGE; break;
        case 'h': /* fallthrough: histogram, distribution and timer share one sketch */
        case 'd': mtype = SL_METRIC_TIMER; break;
        case 's': mtype = SL_METRIC_SET; break;
        default: return -SL_STATSD_E_BAD_TYPE;
        }
        out->type_char[0] = t[0];
    } else if (tn == 2 && t[0] == 'm' && t[1] == 's') {
        mtype = SL_METRIC_TIMER;
        out->type_char[0] = 'm';
        out->type_char[1] = 's';
    } else {
        return -SL_STATSD_E_BAD_TYPE;
    }
    out->kind = SL_STATSD_METRIC;
    out->mtype = mtype;
    out->name = p;
    out->name_len = (uint32_t)(colon - p);
    out->values = colon + 1;
    out->values_len = (uint32_t)(bar - colon - 1);
    if (!check_values(colon + 1, bar, mtype, vals, signs, cap, nvals))
        return -SL_STATSD_E_BAD_VALUE;
    return metric_fields(t + tn, end, out);
}

int sl_statsd_parse_line(const char *p, size_t n, struct sl_statsd_line *out)
{
    return parse_line(p, n, out, NULL, NULL, 0, NULL);
}

int sl_statsd_parse_line_values(const char *p, size_t n, struct sl_statsd_line *out,
                                double *vals, uint64_t *signs, uint32_t cap, uint32_t *nvals)
{
    assert(cap >= 1 && cap <= 64);
    *nvals = 0;
    *signs = 0;
    return parse_line(p, n, out, vals, signs, cap, nvals);
}

/* ---- names ------------------------------------------------------------------------- */

/* Bytes in the UTF-8 sequence starting at s (n > 0 bytes available), or 1 when it is not a
 * valid sequence: the same acceptance as Go's utf8.DecodeRune (no overlongs, no
 * surrogates, nothing above U+10FFFF), which is what statsd_exporter iterates with. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t w;
    if (c >= 0xC2 && c <= 0xDF) {
        w = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        w = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        w = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 1;
    }
    if (n < w || s[1] < lo || s[1] > hi)
        return 1;
    for (size_t i = 2; i < w; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 1;
    return w;
}

/* What each byte becomes in a mapped name: itself for [a-zA-Z0-9_], '_' for every other
 * ASCII byte, and 0 for the two that need a look at their neighbours: '-' (runs collapse)
 * and bytes >= 0x80 (a whole UTF-8 sequence becomes one '_'). One load and one store per
 * byte for the common case, instead of three range tests. */
static const char name_map[256] = {
    '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_',
    '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_',
    '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', '_', 0, '_', '_',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '_', '_', '_', '_', '_', '_',
    '_', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '_', '_', '_', '_', '_',
    '_', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '_', '_', '_', '_', '_',
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int sl_statsd_map_name(const char *name, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t o = 0;
    if (len == 0)
        return 0;
    if (len >= (size_t)INT32_MAX)
        return -ENOSPC;
    if (is_digit((char)s[0])) {
        if (cap == 0)
            return -ENOSPC;
        out[o++] = '_';
    }
    /* The output is at most len + 1 bytes: when that fits, no per-byte capacity check. */
    bool roomy = cap >= len + 1;
    bool prev_dash = false;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        char m = name_map[c];
        if (m) {
            if (!roomy && o == cap)
                return -ENOSPC;
            out[o++] = m;
            prev_dash = false;
            i++;
            continue;
        }
        if (c == '-' && prev_dash) {
            i++; /* "--" collapses: statsd_exporter allows double dashes in mappings */
            continue;
        }
        if (!roomy && o == cap)
            return -ENOSPC;
        out[o++] = '_';
        prev_dash = c == '-';
        i += c < 0x80 ? 1 : utf8_seq_len(s + i, len - i);
    }
    return (int)o;
}

/* ---- keys -------------------------------------------------------------------------- */

struct key_scratch {
    struct sl_label labels[SL_LABELS_MAX];
    size_t n;
    char names[SL_KEY_MAX]; /* escaped label names */
    size_t used;
};

static int add_label(struct key_scratch *k, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
    if (k->n >= SL_LABELS_MAX - 1)
        return -SL_STATSD_E_TOO_MANY_TAGS;
    k->labels[k->n++] = (struct sl_label){
        .name = name, .name_len = (uint32_t)name_len,
        .value = value, .value_len = (uint32_t)value_len};
    return 0;
}

/* One DogStatsD tag, as statsd_exporter's parseTag does it: a leading '#' is dropped, an
 * empty tag, a tag without ':' or with an empty name or value is counted and skipped, the
 * name is escaped like a metric name and the value kept as sent. */
static int add_tag(struct key_scratch *k, const char *t, size_t n, uint32_t *errs)
{
    if (n && t[0] == '#') {
        t++;
        n--;
    }
    const char *c = n ? memchr(t, ':', n) : NULL;
    if (!c || c == t || c == t + n - 1) {
        (*errs)++;
        return 0;
    }
    size_t kn = (size_t)(c - t);
    int m = sl_statsd_map_name(t, kn, k->names + k->used, sizeof k->names - k->used);
    if (m < 0)
        return -SL_STATSD_E_TOO_LONG;
    int rc = add_label(k, k->names + k->used, (size_t)m, c + 1, n - kn - 1);
    k->used += (size_t)m;
    return rc;
}

static int add_tags(struct key_scratch *k, const struct sl_statsd_line *line, uint32_t *errs)
{
    const char *p = line->tags;
    if (!p)
        return 0;
    const char *end = p + line->tags_len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (!comma)
            /* like statsd_exporter, a trailing ',' leaves no empty last tag */
            return p < end ? add_tag(k, p, (size_t)(end - p), errs) : 0;
        int rc = add_tag(k, p, (size_t)(comma - p), errs);
        if (rc < 0)
            return rc;
        p = comma + 1;
    }
}

#define LIT(s) s, sizeof(s) - 1

int sl_statsd_build_key(const struct sl_statsd_line *line, char *out, size_t cap,
                        uint32_t *tag_errors)
{
    struct key_scratch k;
    k.n = 0;
    k.used = 0;
    uint32_t errs_local = 0;
    uint32_t *errs = tag_errors ? tag_errors : &errs_local;
    const char *name;
    size_t name_len;
    int rc;

    if (line->kind == SL_STATSD_METRIC) {
        rc = sl_statsd_map_name(line->name, line->name_len, k.names, sizeof k.names);
        if (rc < 0)
            return -SL_STATSD_E_TOO_LONG;
        name = k.names;
        name_len = (size_t)rc;
        k.used = name_len;
    } else if (line->kind == SL_STATSD_EVENT) {
        name = "statsd_events";
        name_len = sizeof "statsd_events" - 1;
    } else {
        name = "statsd_service_check";
        name_len = sizeof "statsd_service_check" - 1;
    }
    if ((rc = add_tags(&k, line, errs)) < 0)
        return rc;
    /* Built-in labels go after the tags: sl_key_build keeps the last of equal names, so a
     * tag cannot overwrite an event's title or a check's name. */
    if (line->kind == SL_STATSD_EVENT) {
        const char *at = line->alert_type ? line->alert_type : "info";
        size_t atn = line->alert_type ? line->alert_type_len : 4;
        const char *pr = line->priority ? line->priority : "normal";
        size_t prn = line->priority ? line->priority_len : 6;
        if ((rc = add_label(&k, LIT("title"), line->name, line->name_len)) < 0 ||
            (rc = add_label(&k, LIT("alert_type"), at, atn)) < 0 ||
            (rc = add_label(&k, LIT("priority"), pr, prn)) < 0)
            return rc;
        if (line->source_type &&
            (rc = add_label(&k, LIT("source_type"), line->source_type,
                            line->source_type_len)) < 0)
            return rc;
    } else if (line->kind == SL_STATSD_SERVICE_CHECK) {
        if ((rc = add_label(&k, LIT("check"), line->name, line->name_len)) < 0)
            return rc;
    }
    rc = sl_key_build(line->mtype, name, name_len, k.labels, k.n, out, cap);
    if (rc == -ENOSPC)
        return -SL_STATSD_E_TOO_LONG;
    if (SL_NEVER(rc < 0)) /* -EINVAL: a NUL byte or too many labels; parse_line prevents both */
        return -SL_STATSD_E_BAD_TAGS;
    return rc;
}
