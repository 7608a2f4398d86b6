/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file buf.h
 * Growable byte buffer for building responses, exposition text and encoded blocks off the
 * per-event path. Allocation failures are sticky: after one, every append is a no-op and
 * sl_buf_failed() says so, so a caller can build a whole document and check once.
 * Thread: owned by one thread at a time.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct sl_buf {
    char *data; /* OWNED; NUL-terminated whenever len > 0 */
    size_t len;
    size_t cap;
    int failed; /* -ENOMEM after an allocation failure */
};

#define SL_BUF_INIT {NULL, 0, 0, 0}

/** Make room for @extra more bytes. @return 0 or -ENOMEM. */
int sl_buf_reserve(struct sl_buf *b, size_t extra);
/* Out-of-line paths of the inline appends below (growth, failure); use those instead. */
void sl_buf_append_slow(struct sl_buf *b, const void *p, size_t n);
/* Appends: inline when the bytes fit (JSON responses make one call per token). */
static inline void sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    if (!b->failed && b->cap - b->len > n) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return;
    }
    sl_buf_append_slow(b, p, n);
}
static inline void sl_buf_putc(struct sl_buf *b, char c)
{
    if (!b->failed && b->cap - b->len > 1) {
        b->data[b->len++] = c;
        b->data[b->len] = 0;
        return;
    }
    sl_buf_append_slow(b, &c, 1);
}
static inline void sl_buf_puts(struct sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/** Append a double the way Prometheus formats sample values: NaN, +Inf, -Inf, else %.17g
 *  shortest round-trip form. */
void sl_buf_put_double(struct sl_buf *b, double v);
/**
 * The shortest decimal digits that read back (round-to-nearest-even) as |@v|, as Go's
 * strconv 'g'/-1 and Prometheus print them; among equally short ones, the one closest to
 * the exact value.
 * @param v       finite and != 0 (the sign is ignored)
 * @param digits  receives 1..17 ASCII digits without trailing zeros, NUL-terminated
 * @param exp10   receives the decimal exponent of the first digit (|v| ~ d.ddd x 10^exp10)
 * @return the number of digits. Thread: any; no allocation.
 */
int sl_shortest_digits(double v, char digits[static 18], int *exp10);
/** 0, or -ENOMEM if any append failed since init/reset. */
static inline int sl_buf_failed(const struct sl_buf *b)
{
    return b->failed;
}
/** Forget the contents, keep the memory. */
void sl_buf_reset(struct sl_buf *b);
/** Free the memory; the buffer is SL_BUF_INIT again. */
void sl_buf_fini(struct sl_buf *b);
/** Hand the bytes to the caller (OWNED, free()); the buffer is SL_BUF_INIT again. */
char *sl_buf_steal(struct sl_buf *b, size_t *len);

#endif
