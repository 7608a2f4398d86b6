/* SPDX-License-Identifier: Apache-2.0 */
/* Growable buffer: doubling growth with an overflow guard, sticky failure. */
#include "engine/buf.h"

#include <errno.h>
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
     * >= 6 (Go fixes that threshold at 6 in shortest mode), else as plain decimals. */
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    const char *e = strchr(tmp, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (exp < -4 || exp >= 6) {
        sl_buf_puts(b, tmp);
        return;
    }
    int decimals = prec - 1 - exp;
    snprintf(tmp, sizeof tmp, "%.*f", decimals > 0 ? decimals : 0, v);
    sl_buf_puts(b, tmp);
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
