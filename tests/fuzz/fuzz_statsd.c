/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for ingest/statsd.c. The input is one datagram / stream buffer. Beyond "no
 * crash, no out-of-bounds read" (ASan), it checks what the header promises:
 * - sl_statsd_next_line yields non-empty, in-order lines inside the buffer with no '\n';
 * - parse_line returns OK or a known negative reason, and on OK every borrowed pointer and
 *   length lies inside the line, the kind/mtype/type_char agree, rate is in (0, 1], status
 *   in 0..3, and every value of an accepted line decodes — numbers finite and bit-equal to
 *   strtod of the same bytes;
 * - build_key returns a key or TOO_LONG / TOO_MANY_TAGS; a key starts with the mtype, its
 *   name is a valid Prometheus name (or the fixed event / service check name), its labels
 *   are sorted with unique valid names and non-empty values, it spans the whole key, and
 *   sl_key_build over its own labels reproduces it byte for byte (canonical);
 * - map_name output is [a-zA-Z_][a-zA-Z0-9_]*, at most len + 1 bytes, idempotent, and
 *   -ENOSPC exactly when it does not fit.
 * Failed checks print what failed and abort(), in release builds too.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"
#include "ingest/statsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                           \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "fuzz_statsd: check failed at line %d: %s\n", __LINE__, #c);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static int inside(const char *p, uint32_t n, const char *lo, const char *hi)
{
    return p >= lo && p <= hi && (size_t)(hi - p) >= n;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static void check_map_name(const char *in, size_t n)
{
    static char out[4200], again[4200];
    if (n > 4000)
        n = 4000;
    int m = sl_statsd_map_name(in, n, out, sizeof out);
    CHECK(m >= 0);
    CHECK((size_t)m <= n + 1);
    CHECK((m == 0) == (n == 0));
    if (m > 0)
        CHECK(valid_name(out, (size_t)m));
    int m2 = sl_statsd_map_name(out, (size_t)m, again, sizeof again);
    CHECK(m2 == m && memcmp(out, again, (size_t)m) == 0); /* idempotent */
    if (m > 0) {
        CHECK(sl_statsd_map_name(in, n, again, (size_t)m) == m);
        CHECK(sl_statsd_map_name(in, n, again, (size_t)m - 1) == -ENOSPC);
    }
}

static void check_values(const struct sl_statsd_line *l)
{
    const char *c = l->values, *end = l->values + l->values_len;
    struct sl_statsd_value v;
    int rc, count = 0;
    while ((rc = sl_statsd_next_value(&c, end, l->mtype, &v)) > 0) {
        count++;
        CHECK(inside(v.raw, v.raw_len, l->values, end));
        CHECK(v.raw_len > 0);
        if (l->mtype == SL_METRIC_SET) {
            CHECK(v.raw == l->values && v.raw_len == l->values_len);
            continue;
        }
        CHECK(isfinite(v.v));
        char buf[300];
        CHECK(v.raw_len < sizeof buf);
        memcpy(buf, v.raw, v.raw_len);
        buf[v.raw_len] = 0;
        char *e;
        double want = strtod(buf, &e);
        CHECK(e == buf + v.raw_len);
        CHECK(memcmp(&want, &v.v, sizeof want) == 0);
        if (l->mtype == SL_METRIC_GAUGE && (buf[0] == '+' || buf[0] == '-'))
            CHECK(v.sign == buf[0]);
        else
            CHECK(v.sign == 0);
    }
    CHECK(rc == 0); /* an accepted line never has a bad value */
    CHECK(count >= 1);
}

static void check_key(const struct sl_statsd_line *l)
{
    static char key[SL_KEY_MAX], again[SL_KEY_MAX];
    uint32_t errs = 0;
    int n = sl_statsd_build_key(l, key, sizeof key, &errs);
    if (l->tags)
        CHECK(errs <= l->tags_len + 1);
    else
        CHECK(errs == 0);
    if (n < 0) {
        CHECK(n == -SL_STATSD_E_TOO_LONG || n == -SL_STATSD_E_TOO_MANY_TAGS);
        return;
    }
    CHECK(n >= 3 && n <= SL_KEY_MAX);
    CHECK(sl_key_kind(key) == l->mtype);
    const char *name;
    size_t name_len;
    struct sl_key_iter it;
    sl_key_name(key, (size_t)n, &name, &name_len, &it);
    if (l->kind == SL_STATSD_METRIC)
        CHECK(valid_name(name, name_len));
    else if (l->kind == SL_STATSD_EVENT)
        CHECK(name_len == 13 && memcmp(name, "statsd_events", 13) == 0);
    else
        CHECK(name_len == 20 && memcmp(name, "statsd_service_check", 20) == 0);
    struct sl_label labels[SL_LABELS_MAX + 1];
    size_t nl = 0, spanned = 1 + name_len + 1;
    struct sl_label lab;
    while (sl_key_next_label(&it, &lab)) {
        CHECK(nl < SL_LABELS_MAX);
        CHECK(valid_name(lab.name, lab.name_len));
        CHECK(lab.value_len > 0);
        if (nl > 0) {
            const struct sl_label *p = &labels[nl - 1];
            size_t m = p->name_len < lab.name_len ? p->name_len : lab.name_len;
            int c = memcmp(p->name, lab.name, m);
            CHECK(c < 0 || (c == 0 && p->name_len < lab.name_len)); /* sorted, unique */
        }
        spanned += (size_t)lab.name_len + lab.value_len + 2;
        labels[nl++] = lab;
    }
    CHECK(spanned == (size_t)n);
    CHECK(nl <= SL_LABELS_MAX - 1);
    int n2 = sl_key_build(l->mtype, name, name_len, labels, nl, again, sizeof again);
    CHECK(n2 == n && memcmp(key, again, (size_t)n) == 0);
    /* built twice, same bytes */
    n2 = sl_statsd_build_key(l, again, sizeof again, NULL);
    CHECK(n2 == n && memcmp(key, again, (size_t)n) == 0);
}

static void check_line(const char *p, size_t len)
{
    struct sl_statsd_line l;
    int rc = sl_statsd_parse_line(p, len, &l);
    CHECK(rc <= 0 && rc > -SL_STATSD_E__COUNT);
    CHECK(strcmp(sl_statsd_reason_name(rc), "unknown") != 0);
    if (rc != SL_STATSD_OK)
        return;
    const char *hi = p + len;
    CHECK(l.name && l.name_len > 0 && inside(l.name, l.name_len, p, hi));
    CHECK(l.sample_rate > 0 && l.sample_rate <= 1);
    CHECK(l.timestamp >= -1);
    const struct {
        const char *p;
        uint32_t n;
    } views[] = {
        {l.values, l.values_len},       {l.tags, l.tags_len},
        {l.container, l.container_len}, {l.text, l.text_len},
        {l.hostname, l.hostname_len},   {l.priority, l.priority_len},
        {l.alert_type, l.alert_type_len}, {l.source_type, l.source_type_len},
        {l.aggregation_key, l.aggregation_key_len}, {l.message, l.message_len},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        if (views[i].p)
            CHECK(inside(views[i].p, views[i].n, p, hi));
        else
            CHECK(views[i].n == 0);
    }
    if (l.tags)
        CHECK(l.tags_len > 0 && !memchr(l.tags, 0, l.tags_len));
    if (l.container)
        CHECK(l.container_len > 0);
    switch (l.kind) {
    case SL_STATSD_METRIC:
        CHECK(l.mtype >= SL_METRIC_COUNTER && l.mtype <= SL_METRIC_SET);
        CHECK(l.values && l.values_len > 0);
        CHECK(l.name + l.name_len + 1 == l.values); /* name ':' values */
        CHECK(!memchr(l.name, ':', l.name_len) && !memchr(l.name, '|', l.name_len));
        CHECK(strlen(l.type_char) >= 1 && strlen(l.type_char) <= 2);
        CHECK(strchr("cgmhds", l.type_char[0]) != NULL);
        CHECK(!l.text && !l.message && !l.hostname);
        check_values(&l);
        break;
    case SL_STATSD_EVENT:
        CHECK(l.mtype == SL_METRIC_EVENT && l.type_char[0] == 0 && !l.values);
        CHECK(l.text != NULL && l.text == l.name + l.name_len + 1);
        CHECK(!memchr(l.name, 0, l.name_len));
        break;
    case SL_STATSD_SERVICE_CHECK:
        CHECK(l.mtype == SL_METRIC_SERVICE_CHECK && l.type_char[0] == 0 && !l.values);
        CHECK(l.status >= 0 && l.status <= 3);
        CHECK(!memchr(l.name, 0, l.name_len) && !memchr(l.name, '|', l.name_len));
        break;
    default:
        CHECK(0);
    }
    if (l.kind != SL_STATSD_METRIC) {
        struct sl_statsd_value v;
        const char *c = l.values; /* NULL; no arithmetic on it */
        CHECK(sl_statsd_next_value(&c, NULL, l.mtype, &v) == 0);
    }
    check_key(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *end = buf + size;
    const char *cur = buf, *line, *prev_end = buf;
    size_t len;
    size_t lines = 0;
    while (sl_statsd_next_line(&cur, end, &line, &len)) {
        CHECK(len > 0 && line >= prev_end && inside(line, (uint32_t)len, buf, end));
        CHECK(!memchr(line, '\n', len));
        CHECK(cur > line && cur <= end);
        prev_end = line + len;
        lines++;
        check_line(line, len);
    }
    CHECK(cur == end);
    CHECK(lines <= size);
    /* The whole buffer as one line: '\n' inside must not break anything either. */
    struct sl_statsd_line l;
    int rc = sl_statsd_parse_line(buf, size, &l);
    CHECK(rc <= 0 && rc > -SL_STATSD_E__COUNT);
    check_map_name(buf, size);
    return 0;
}
