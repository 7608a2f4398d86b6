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

void sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sl_buf_puts(struct sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_putc(struct sl_buf *b, char c)
{
    sl_buf_append(b, &c, 1);
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
     *
     * Cost matters here (every series at every flush): whole numbers below 1e6 print as
     * integers directly; otherwise %.15e is tried first, since any value whose shortest
     * form has <= 15 digits comes out of a 15-digit rounding exactly (the rounding error,
     * at most half an ulp, is far below half a unit of the 15th digit); then 16, then 17,
     * which always round-trips. Trailing zeros of the mantissa are the digits not needed. */
    if (v == (double)(int64_t)v && fabs(v) < 1e6 && !(v == 0 && signbit(v))) {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        sl_buf_append(b, tmp, (size_t)n);
        return;
    }
    char m[40];
    /* Subnormals carry fewer significant bits, so the 15-digit shortcut does not hold for
     * them: search from one digit up (rare values; correctness over speed). */
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(m, sizeof m, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(m, NULL) == v)
            break;
    }
    /* m = [-]d.ddddde[+-]XX: collect the significant digits and the exponent. */
    const char *p = m;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char dig[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    char out[48];
    int o = 0;
    if (neg)
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
