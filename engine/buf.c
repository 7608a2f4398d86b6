/* SPDX-License-Identifier: Apache-2.0 */
/* Growable buffer: doubling growth with an overflow guard, sticky failure. */
#include "engine/buf.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_buf_reserve(struct sl_buf *b, size_t extra)
{
    if (b->failed)
        return b->failed;
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = -ENOMEM;
        return b->failed;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = -ENOMEM;
        return b->failed;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void sl_buf_append_slow(struct sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sl_buf_append(b, tmp, (size_t)n);
        return;
    }
    if (sl_buf_reserve(b, (size_t)n))
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ---- shortest round-trip digits ------------------------------------------------------- */

__extension__ typedef unsigned __int128 u128; /* GCC and Clang on 64-bit targets */

static const uint64_t pow10_64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};

static u128 pow10_128(int p) /* p <= 38 */
{
    return p <= 19 ? pow10_64[p] : (u128)pow10_64[19] * pow10_64[p - 19];
}

/* The general path: printf's exact conversion at 15, 16 and 17 digits, checked by reading
 * back. Any value whose shortest form has <= 15 digits comes out of a 15-digit rounding
 * exactly (the rounding error, at most half an ulp, is far below half a unit of the 15th
 * digit); 17 digits always round-trip. Subnormals carry fewer significant bits, so for
 * them the search starts at one digit. */
static int slow_digits(double v, char *d, int *exp10)
{
    char m[40];
    for (int prec = v < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(m, sizeof m, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(m, NULL) == v)
            break;
    }
    /* m = d.ddddde[+-]XX */
    int n = 0;
    const char *p = m;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            d[n++] = *p;
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = 0;
    *exp10 = atoi(p + 1);
    return n;
}

/* The same digits without printf or strtod, for normal values in [1e-6, 2^53): those are
 * the values queries print, and printf's bignum conversion plus a strtod per try made
 * number formatting the largest cost of large query responses.
 *
 * v = m * 2^-k with m < 2^53. Scaling by 10^p (p <= 22) so that the integer part q of
 * X = m * 10^p / 2^k has 17 digits keeps every quantity below 2^128: X is then known
 * exactly as q + r / 2^k. The n-digit candidate is X correctly rounded at digit n (ties to
 * even, as printf), and it reads back as v iff it lies inside the rounding interval of v,
 * whose bounds (m +- 1/2) * 10^p / 2^k (the lower one a quarter ulp for a power of two)
 * are also exact in 128 bits; a bound itself reads back as v iff m is even. When the
 * closest candidate falls outside a lopsided interval, its neighbour on the other side of
 * X may still be inside. Returns 0 when the value is out of this path's range. */
static int fast_digits(double v, char *d, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int be = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1), m = frac | (1ULL << 52);
    if (be == 0 || be == 0x7ff || be > 1075)
        return 0; /* subnormal, not finite, or >= 2^53 */
    int k = 1075 - be;
    /* decimal exponent of 2^(52-k), the bottom of v's binade: E is this or one more */
    int e = (int)floor((double)(52 - k) * 0.30102999566398120);
    int p = 16 - e;
    if (p > 22)
        return 0; /* below ~1e-6: X would not fit */
    u128 n128 = (u128)m * pow10_128(p);
    uint64_t q = (uint64_t)(n128 >> k);
    if (q >= pow10_64[17]) {
        e++;
        p--;
        n128 = (u128)m * pow10_128(p);
        q = (uint64_t)(n128 >> k);
    }
    if (q < pow10_64[16] || q >= pow10_64[17])
        return 0; /* cannot happen; keep the general path as the net */
    u128 r = n128 & (((u128)1 << k) - 1);
    int even = (m & 1) == 0;
    int lopsided = frac == 0 && be > 1;
    int sh = lopsided ? k + 2 : k + 1;
    u128 p10 = pow10_128(p);
    u128 un = (u128)(lopsided ? 4 * m + 2 : 2 * m + 1) * p10;
    u128 ln = (u128)(lopsided ? 4 * m - 1 : 2 * m - 1) * p10;
    u128 smask = ((u128)1 << sh) - 1;
    uint64_t uq = (uint64_t)(un >> sh), lq = (uint64_t)(ln >> sh);
    int uexact = (un & smask) == 0, lexact = (ln & smask) == 0;
    for (int n = 15; n <= 17; n++) {
        uint64_t pw = pow10_64[17 - n], qq = q / pw, rem = q % pw;
        /* rem + r/2^k against pw/2, all doubled and scaled by 2^k */
        u128 lhs = ((u128)rem << (k + 1)) + (r << 1), rhs = (u128)pw << k;
        int up = lhs > rhs || (lhs == rhs && (qq & 1));
        uint64_t cand[2] = {(qq + up) * pw, up ? qq * pw : (qq + 1) * pw};
        for (int i = 0; i < 2; i++) {
            uint64_t c = cand[i];
            int below_u = c < uq || (c == uq && (!uexact || even));
            int above_l = c > lq || (c == lq && lexact && even);
            if (!below_u || !above_l)
                continue;
            uint64_t dv = c / pw;
            int ex = e;
            if (dv >= pow10_64[n]) { /* rounded up to 10^n */
                dv /= 10;
                ex++;
            }
            for (int j = n - 1; j >= 0; j--) {
                d[j] = (char)('0' + dv % 10);
                dv /= 10;
            }
            int nd = n;
            while (nd > 1 && d[nd - 1] == '0')
                nd--;
            d[nd] = 0;
            *exp10 = ex;
            return nd;
        }
    }
    return 0;
}

int sl_shortest_digits(double v, char digits[static 18], int *exp10)
{
    v = fabs(v);
    int n = fast_digits(v, digits, exp10);
    return n ? n : slow_digits(v, digits, exp10);
}

void sl_buf_put_double(struct sl_buf *b, double v)
{
    if (isnan(v)) {
        sl_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        sl_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' text format uses: the
     * shortest digits that round-trip, written as %e when the decimal exponent is < -4 or
     * >= 6 (Go fixes that threshold at 6 in shortest mode, so 1e6 prints "1e+06").
     * Whole numbers below 1e6 print as integers directly (every series at every flush). */
    if (v == (double)(int64_t)v && fabs(v) < 1e6 && !(v == 0 && signbit(v))) {
        /* digits backwards, no printf: this runs for most values of every flush */
        char tmp[8];
        int64_t x = (int64_t)v;
        uint32_t u = (uint32_t)(x < 0 ? -x : x); /* < 1e6 */
        char *e = tmp + sizeof tmp, *d = e;
        do
            *--d = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (x < 0)
            *--d = '-';
        sl_buf_append(b, d, (size_t)(e - d));
        return;
    }
    if (v == 0) {
        sl_buf_puts(b, "-0");
        return;
    }
    char dig[18];
    int exp;
    int nd = sl_shortest_digits(v, dig, &exp);
    char out[48];
    int o = 0;
    if (signbit(v))
        out[o++] = '-';
    if (exp < -4 || exp >= 6) {
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++)
                out[o++] = dig[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp < 0 ? '-' : '+',
                      exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = -1; i > exp; i--)
            out[o++] = '0';
        for (int i = 0; i < nd; i++)
            out[o++] = dig[i];
    } else {
        for (int i = 0; i <= exp; i++)
            out[o++] = i < nd ? dig[i] : '0';
        if (nd > exp + 1) {
            out[o++] = '.';
            for (int i = exp + 1; i < nd; i++)
                out[o++] = dig[i];
        }
    }
    sl_buf_append(b, out, (size_t)o);
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = 0;
}

void sl_buf_fini(struct sl_buf *b)
{
    free(b->data);
    *b = (struct sl_buf)SL_BUF_INIT;
}

char *sl_buf_steal(struct sl_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    *b = (struct sl_buf)SL_BUF_INIT;
    return p;
}
