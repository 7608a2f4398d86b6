/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for tools/expfmt.c, the exposition-line parser of `sluice import`. The input is
 * split at '\n' and every line is parsed in both formats. Beyond "no crash, no out-of-bounds
 * read" (ASan), it checks what the header promises:
 * - the result is 0 or SL_E_PROTO; an error has a reason and a column inside the line (+1);
 * - on success every borrowed pointer lies inside the line or the scratch buffer, the metric
 *   and label names match their charsets, label names are unique and not __name__;
 * - a sample formatted by sl_expfmt_format_sample() parses back to the same name, labels,
 *   value bits (any NaN stays a NaN) and timestamp, and formatting that again gives the same
 *   bytes (the formatter's output is a fixed point).
 * Failed checks print what failed and abort(), in release builds too.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "tools/expfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                           \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "fuzz_expfmt: check failed at line %d: %s\n", __LINE__, #c);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static int inside(const char *p, size_t n, const char *lo, size_t cap)
{
    return p >= lo && p <= lo + cap && (size_t)(lo + cap - p) >= n;
}

static int valid_name(const char *s, size_t n, int colon)
{
    if (!n || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (colon && c == ':')))
            return 0;
    }
    return 1;
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static struct sl_expfmt_line a, b;

static void check_line(const char *line, size_t len, enum sl_expfmt_format fmt)
{
    static char scratch[1 << 16], scratch2[1 << 16];
    size_t cap = len < sizeof scratch ? len : sizeof scratch;
    int rc = sl_expfmt_parse_line(line, len, fmt, &a, scratch, cap);
    CHECK(rc == 0 || rc == SL_E_PROTO);
    if (rc) {
        CHECK(a.err != NULL && a.err_col >= 1 && a.err_col <= len + 1);
        return;
    }
    if (a.kind == SL_EXPFMT_HELP || a.kind == SL_EXPFMT_TYPE || a.kind == SL_EXPFMT_UNIT) {
        CHECK(inside(a.name, a.name_len, line, len) && valid_name(a.name, a.name_len, 1));
        CHECK(inside(a.text, a.text_len, line, len));
    }
    if (a.kind != SL_EXPFMT_SAMPLE)
        return;
    CHECK(inside(a.name, a.name_len, line, len) && valid_name(a.name, a.name_len, 1));
    CHECK(a.nlabels <= SL_LABELS_MAX);
    for (size_t i = 0; i < a.nlabels; i++) {
        const struct sl_label *l = &a.labels[i];
        CHECK(inside(l->name, l->name_len, line, len) && valid_name(l->name, l->name_len, 0));
        CHECK(!(l->name_len == 8 && !memcmp(l->name, "__name__", 8)));
        CHECK(inside(l->value, l->value_len, line, len) ||
              inside(l->value, l->value_len, scratch, cap));
        CHECK(!memchr(l->value, 0, l->value_len));
        for (size_t j = 0; j < i; j++)
            CHECK(a.labels[j].name_len != l->name_len ||
                  memcmp(a.labels[j].name, l->name, l->name_len));
    }
    CHECK(a.has_ts == 0 || a.has_ts == 1);

    struct sl_buf o = SL_BUF_INIT, o2 = SL_BUF_INIT;
    sl_expfmt_format_sample(&o, fmt, a.name, a.name_len, a.labels, a.nlabels, a.value, a.ts_ms);
    CHECK(!sl_buf_failed(&o) && o.len > 0 && o.data[o.len - 1] == '\n');
    rc = sl_expfmt_parse_line(o.data, o.len - 1, fmt, &b, scratch2, sizeof scratch2);
    if (rc)
        fprintf(stderr, "fuzz_expfmt: re-parse of '%.*s' failed: %s\n", (int)(o.len - 1),
                o.data, b.err);
    CHECK(rc == 0 && b.kind == SL_EXPFMT_SAMPLE && b.has_ts == 1 && b.ts_ms == a.ts_ms);
    CHECK(b.name_len == a.name_len && !memcmp(b.name, a.name, a.name_len));
    CHECK(b.nlabels == a.nlabels);
    for (size_t i = 0; i < a.nlabels; i++) {
        CHECK(b.labels[i].name_len == a.labels[i].name_len &&
              !memcmp(b.labels[i].name, a.labels[i].name, a.labels[i].name_len));
        CHECK(b.labels[i].value_len == a.labels[i].value_len &&
              !memcmp(b.labels[i].value, a.labels[i].value, a.labels[i].value_len));
    }
    CHECK(isnan(a.value) ? isnan(b.value) : bits(a.value) == bits(b.value));
    sl_expfmt_format_sample(&o2, fmt, b.name, b.name_len, b.labels, b.nlabels, b.value, b.ts_ms);
    CHECK(o2.len == o.len && !memcmp(o2.data, o.data, o.len));
    sl_buf_fini(&o);
    sl_buf_fini(&o2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        check_line(p, len, SL_EXPFMT_PROM);
        check_line(p, len, SL_EXPFMT_OPENMETRICS);
        p += len + 1;
    }
    return 0;
}
