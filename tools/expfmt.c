/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt: one exposition line in, its parts out; one sample in, its line out. Owns nothing
 * and keeps no state between calls (see expfmt.h for the accepted grammar). The scanner walks
 * the line once with an index; every error records the column where it was noticed so the
 * importer can print `file:line:col: what`.
 *
 * Why not reuse query/'s lexer: PromQL label matchers and exposition labels differ in
 * escapes, commas, whitespace and the metric-name charset (`:` is legal here), and the
 * importer needs column-accurate errors for each bad line rather than a parse tree.
 */
#include "tools/expfmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"

struct scan {
    const char *p;
    size_t len, i;
    struct sl_expfmt_line *out;
};

static int fail(struct scan *s, const char *why)
{
    s->out->err = why;
    s->out->err_col = s->i + 1;
    return SL_E_PROTO;
}

static void skip_ws(struct scan *s)
{
    while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t'))
        s->i++;
}

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names (colon = recording rules), [a-zA-Z_][a-zA-Z0-9_]*
 * for label names. Returns the length, 0 when no name starts here. */
static size_t scan_name(const struct scan *s, int colon)
{
    size_t j = s->i;
    while (j < s->len) {
        char c = s->p[j];
        if (is_alpha_(c) || (colon && c == ':') || (j > s->i && is_digit(c)))
            j++;
        else
            break;
    }
    return j - s->i;
}

/* Token up to the next space, tab or end. */
static size_t token_end(const struct scan *s)
{
    size_t j = s->i;
    while (j < s->len && s->p[j] != ' ' && s->p[j] != '\t')
        j++;
    return j;
}

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t k = 0; k < n; k++) {
        char c = a[k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[k])
            return 0;
    }
    return 1;
}

/* Value token: NaN / [+-]Inf / [+-]infinity, or a decimal [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?
 * checked here so strtod's extra syntax (hex, "nan(...)", leading spaces) never gets in. */
static int parse_value(const char *t, size_t n, double *v)
{
    size_t k = 0;
    int neg = 0;
    if (n && (t[0] == '+' || t[0] == '-')) {
        neg = t[0] == '-';
        k = 1;
    }
    if (ieq(t, n, "nan")) {
        *v = NAN;
        return 0;
    }
    if (ieq(t + k, n - k, "inf") || ieq(t + k, n - k, "infinity")) {
        *v = neg ? -INFINITY : INFINITY;
        return 0;
    }
    size_t digits = 0;
    while (k < n && is_digit(t[k]))
        k++, digits++;
    if (k < n && t[k] == '.') {
        k++;
        while (k < n && is_digit(t[k]))
            k++, digits++;
    }
    if (!digits)
        return -1;
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        k++;
        if (k < n && (t[k] == '+' || t[k] == '-'))
            k++;
        size_t e0 = k;
        while (k < n && is_digit(t[k]))
            k++;
        if (k == e0)
            return -1;
    }
    if (k != n || n >= 128)
        return -1;
    char tmp[128];
    memcpy(tmp, t, n);
    tmp[n] = 0;
    *v = strtod(tmp, NULL); /* overflow gives +-HUGE_VAL = +-Inf, as Go's ParseFloat does */
    return 0;
}

/* Integer milliseconds: -?d+ within int64. */
static int parse_ts_ms(const char *t, size_t n, int64_t *ms)
{
    size_t k = 0;
    int neg = 0;
    if (n && t[0] == '-') {
        neg = 1;
        k = 1;
    }
    if (k == n)
        return -1;
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; k < n; k++) {
        if (!is_digit(t[k]))
            return -1;
        unsigned d = (unsigned)(t[k] - '0');
        if (acc > (lim - d) / 10)
            return -2;
        acc = acc * 10 + d;
    }
    *ms = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

/* Decimal seconds -> ms, exact: integer part * 1000 + three decimals, the fourth decimal
 * rounds (ties away from zero). An exponent form goes through strtod, then llround. */
static int parse_ts_sec(const char *t, size_t n, int64_t *ms)
{
    size_t k = 0;
    int neg = 0;
    if (n && (t[0] == '-' || t[0] == '+')) {
        neg = t[0] == '-';
        k = 1;
    }
    size_t int0 = k;
    while (k < n && is_digit(t[k]))
        k++;
    size_t int_end = k, frac0 = k, frac_end = k;
    if (k < n && t[k] == '.') {
        frac0 = ++k;
        while (k < n && is_digit(t[k]))
            k++;
        frac_end = k;
    }
    if (int_end == int0 && frac_end == frac0)
        return -1;
    if (k < n) {
        double v;
        if ((t[k] != 'e' && t[k] != 'E') || parse_value(t, n, &v) || !isfinite(v))
            return -1;
        double x = v * 1000.0;
        if (!(x > -9.2e18 && x < 9.2e18))
            return -2;
        *ms = llround(x);
        return 0;
    }
    uint64_t acc = 0;
    const uint64_t lim = (uint64_t)INT64_MAX / 1000 - 1;
    for (size_t j = int0; j < int_end; j++) {
        acc = acc * 10 + (unsigned)(t[j] - '0');
        if (acc > lim)
            return -2;
    }
    acc *= 1000;
    uint64_t frac = 0;
    for (size_t j = 0; j < 3; j++)
        frac = frac * 10 + (frac0 + j < frac_end ? (unsigned)(t[frac0 + j] - '0') : 0);
    acc += frac;
    if (frac0 + 3 < frac_end && t[frac0 + 3] >= '5')
        acc++;
    *ms = neg ? -(int64_t)acc : (int64_t)acc;
    return 0;
}

/* `{name="value",...}` with optional spaces around tokens and an optional trailing comma.
 * Values are unescaped into @scratch only when they hold a backslash. */
static int parse_labels(struct scan *s, char *scratch, size_t cap)
{
    struct sl_expfmt_line *o = s->out;
    size_t used = 0;
    s->i++; /* '{' */
    for (;;) {
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated label set: missing '}'");
        if (s->p[s->i] == '}') {
            s->i++;
            return 0;
        }
        size_t nl = scan_name(s, 0);
        if (!nl)
            return fail(s, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
        if (o->nlabels == SL_LABELS_MAX)
            return fail(s, "too many labels (more than 64)");
        struct sl_label *l = &o->labels[o->nlabels];
        l->name = s->p + s->i;
        l->name_len = (uint32_t)nl;
        if (nl == 8 && !memcmp(l->name, "__name__", 8))
            return fail(s, "the label __name__ is reserved for the metric name");
        for (size_t k = 0; k < o->nlabels; k++)
            if (o->labels[k].name_len == nl && !memcmp(o->labels[k].name, l->name, nl))
                return fail(s, "duplicate label name");
        s->i += nl;
        skip_ws(s);
        if (s->i >= s->len || s->p[s->i] != '=')
            return fail(s, "expected '=' after the label name");
        s->i++;
        skip_ws(s);
        if (s->i >= s->len || s->p[s->i] != '"')
            return fail(s, "expected '\"' to start the label value");
        size_t v0 = ++s->i, esc = 0;
        while (s->i < s->len && s->p[s->i] != '"') {
            if (s->p[s->i] == '\\') {
                esc = 1;
                if (++s->i >= s->len)
                    break;
            }
            s->i++;
        }
        if (s->i >= s->len) {
            s->i = v0 - 1;
            return fail(s, "unterminated label value: missing closing '\"'");
        }
        size_t vlen = s->i - v0;
        if (!esc) {
            l->value = s->p + v0;
            l->value_len = (uint32_t)vlen;
        } else {
            /* \\ \" \n are the escapes both formats define; any other backslash pair is
             * kept as written, as Prometheus' own text parser does. */
            if (cap - used < vlen) {
                s->i = v0;
                return fail(s, "label values too long for the buffer");
            }
            char *d = scratch + used;
            size_t m = 0;
            for (size_t k = v0; k < v0 + vlen; k++) {
                char c = s->p[k];
                if (c == '\\' && k + 1 < v0 + vlen) {
                    char e = s->p[k + 1];
                    if (e == '\\' || e == '"' || e == 'n') {
                        d[m++] = e == 'n' ? '\n' : e;
                        k++;
                        continue;
                    }
                }
                d[m++] = c;
            }
            l->value = d;
            l->value_len = (uint32_t)m;
            used += m;
        }
        if (memchr(l->value, 0, l->value_len)) {
            s->i = v0;
            return fail(s, "label value holds a NUL byte");
        }
        o->nlabels++;
        s->i++; /* closing quote */
        skip_ws(s);
        if (s->i >= s->len)
            return fail(s, "unterminated label set: missing '}'");
        if (s->p[s->i] == ',') {
            s->i++;
            continue;
        }
        if (s->p[s->i] == '}')
            continue;
        return fail(s, "expected ',' or '}' after a label value");
    }
}

static const char *const known_types[] = {
    "counter", "gauge", "histogram", "summary", "untyped",
    "unknown", "info", "stateset", "gaugehistogram",
};

/* `# HELP name text`, `# TYPE name type`, `# UNIT name unit`, `# EOF`, or a comment. */
static int parse_comment(struct scan *s)
{
    struct sl_expfmt_line *o = s->out;
    o->kind = SL_EXPFMT_COMMENT;
    s->i++; /* '#' */
    if (s->i >= s->len || s->p[s->i] != ' ')
        return 0;
    s->i++;
    size_t e = token_end(s);
    const char *kw = s->p + s->i;
    size_t kwn = e - s->i;
    enum sl_expfmt_kind k;
    if (kwn == 4 && !memcmp(kw, "HELP", 4))
        k = SL_EXPFMT_HELP;
    else if (kwn == 4 && !memcmp(kw, "TYPE", 4))
        k = SL_EXPFMT_TYPE;
    else if (kwn == 4 && !memcmp(kw, "UNIT", 4))
        k = SL_EXPFMT_UNIT;
    else if (kwn == 3 && !memcmp(kw, "EOF", 3)) {
        s->i = e;
        skip_ws(s);
        if (s->i != s->len)
            return fail(s, "unexpected text after # EOF");
        o->kind = SL_EXPFMT_EOF;
        return 0;
    } else
        return 0;
    s->i = e;
    skip_ws(s);
    size_t nn = scan_name(s, 1);
    if (!nn)
        return fail(s, "expected a metric name after the keyword");
    o->name = s->p + s->i;
    o->name_len = (uint32_t)nn;
    s->i += nn;
    if (s->i < s->len && s->p[s->i] != ' ' && s->p[s->i] != '\t')
        return fail(s, "invalid character in metric name");
    skip_ws(s);
    o->text = s->p + s->i;
    o->text_len = (uint32_t)(s->len - s->i);
    o->kind = k;
    if (k == SL_EXPFMT_TYPE) {
        size_t te = token_end(s);
        o->text_len = (uint32_t)(te - s->i);
        int ok = 0;
        for (size_t j = 0; j < sizeof known_types / sizeof *known_types; j++)
            ok |= o->text_len == strlen(known_types[j]) &&
                  !memcmp(o->text, known_types[j], o->text_len);
        if (!ok)
            return fail(s, "unknown metric type (counter, gauge, histogram, summary, untyped, "
                           "unknown, info, stateset, gaugehistogram)");
        s->i = te;
        skip_ws(s);
        if (s->i != s->len)
            return fail(s, "unexpected text after the type");
    }
    return 0;
}

int sl_expfmt_parse_line(const char *line, size_t len, enum sl_expfmt_format fmt,
                         struct sl_expfmt_line *out, char *scratch, size_t scratch_cap)
{
    struct scan s = {line, len, 0, out};
    out->kind = SL_EXPFMT_BLANK;
    out->name = out->text = NULL;
    out->name_len = out->text_len = 0;
    out->nlabels = 0;
    out->value = 0;
    out->has_ts = 0;
    out->ts_ms = 0;
    out->err = NULL;
    out->err_col = 0;
    if (memchr(line, 0, len)) {
        s.i = (size_t)((const char *)memchr(line, 0, len) - line);
        return fail(&s, "NUL byte in line");
    }
    if (len && line[len - 1] == '\r') {
        s.i = len - 1;
        return fail(&s, "carriage return at end of line (the formats use \\n only)");
    }
    skip_ws(&s);
    if (s.i == len)
        return 0;
    if (line[s.i] == '#')
        return parse_comment(&s);

    size_t nn = scan_name(&s, 1);
    if (!nn)
        return fail(&s, "expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    out->kind = SL_EXPFMT_SAMPLE;
    out->name = line + s.i;
    out->name_len = (uint32_t)nn;
    s.i += nn;
    if (s.i < len && line[s.i] == '{') {
        int rc = parse_labels(&s, scratch, scratch_cap);
        if (rc)
            return rc;
    }
    if (s.i < len && line[s.i] != ' ' && line[s.i] != '\t')
        return fail(&s, line[s.i] == '{' || line[s.i] == '}' ? "unexpected brace"
                                                             : "invalid character in metric name");
    skip_ws(&s);
    if (s.i == len)
        return fail(&s, "missing value");
    size_t e = token_end(&s);
    if (parse_value(line + s.i, e - s.i, &out->value))
        return fail(&s, "invalid value (a decimal number, NaN, +Inf or -Inf)");
    s.i = e;
    skip_ws(&s);
    if (s.i == len || line[s.i] == '#') {
        if (s.i < len && fmt == SL_EXPFMT_PROM)
            return fail(&s, "unexpected text after the value (exemplars are OpenMetrics only)");
        return 0;
    }
    e = token_end(&s);
    int rc = fmt == SL_EXPFMT_PROM ? parse_ts_ms(line + s.i, e - s.i, &out->ts_ms)
                                   : parse_ts_sec(line + s.i, e - s.i, &out->ts_ms);
    if (rc == -2)
        return fail(&s, "timestamp out of range");
    if (rc) {
        if (fmt == SL_EXPFMT_PROM && memchr(line + s.i, '.', e - s.i))
            return fail(&s, "invalid timestamp: Prometheus text uses integer milliseconds "
                            "(decimal seconds are OpenMetrics: --format openmetrics)");
        return fail(&s, fmt == SL_EXPFMT_PROM ? "invalid timestamp (integer milliseconds)"
                                              : "invalid timestamp (decimal seconds)");
    }
    out->has_ts = 1;
    s.i = e;
    skip_ws(&s);
    if (s.i < len) {
        if (fmt == SL_EXPFMT_OPENMETRICS && line[s.i] == '#')
            return 0; /* exemplar: ignored */
        return fail(&s, "unexpected text after the timestamp");
    }
    return 0;
}

void sl_expfmt_format_seconds(struct sl_buf *b, int64_t ms)
{
    /* Unsigned magnitude so INT64_MIN needs no special case. */
    uint64_t mag = ms < 0 ? 0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(mag % 1000);
    sl_buf_printf(b, "%s%llu", ms < 0 ? "-" : "", (unsigned long long)(mag / 1000));
    if (frac) {
        char d[5];
        snprintf(d, sizeof d, ".%03u", frac);
        size_t n = 4;
        while (d[n - 1] == '0')
            n--;
        sl_buf_append(b, d, n);
    }
}

static int roundtrips(double v, int prec, char *tmp, size_t len)
{
    snprintf(tmp, len, "%.*e", prec - 1, v);
    return strtod(tmp, NULL) == v;
}

/* The text sl_buf_put_double() writes (Go's FormatFloat(v, 'g', -1, 64)), found faster.
 * sl_buf_put_double tries precisions 1, 2, ... 17 in turn, up to 17 snprintf+strtod pairs:
 * an export of full-precision gauges spent most of its time there. Round-tripping is
 * monotone in the precision (a correctly rounded p+1-digit decimal is never farther from v
 * than the p-digit one), so: 15 digits fail -> the answer is 16 or 17; else a binary search
 * over 1..15. Whatever precision is chosen was checked to round-trip, so the value is
 * always exact; only the shortness rests on the monotonicity argument. */
static void put_double(struct sl_buf *b, double v)
{
    if (isnan(v) || isinf(v)) {
        sl_buf_put_double(b, v);
        return;
    }
    char tmp[40];
    int prec;
    if (!roundtrips(v, 15, tmp, sizeof tmp)) {
        prec = roundtrips(v, 16, tmp, sizeof tmp) ? 16 : 17;
    } else {
        int lo = 1, hi = 15;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (roundtrips(v, mid, tmp, sizeof tmp))
                hi = mid;
            else
                lo = mid + 1;
        }
        prec = lo;
    }
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
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

static void put_escaped(struct sl_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" : s[i] == '\n' ? "\\n" : NULL;
        if (!rep)
            continue;
        sl_buf_append(b, s + run, i - run);
        sl_buf_puts(b, rep);
        run = i + 1;
    }
    sl_buf_append(b, s + run, n - run);
}

void sl_expfmt_format_sample(struct sl_buf *b, enum sl_expfmt_format fmt, const char *name,
                             size_t name_len, const struct sl_label *labels, size_t n, double v,
                             int64_t ts_ms)
{
    sl_buf_append(b, name, name_len);
    if (n) {
        sl_buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sl_buf_putc(b, ',');
            sl_buf_append(b, labels[i].name, labels[i].name_len);
            sl_buf_puts(b, "=\"");
            put_escaped(b, labels[i].value, labels[i].value_len);
            sl_buf_putc(b, '"');
        }
        sl_buf_putc(b, '}');
    }
    sl_buf_putc(b, ' ');
    put_double(b, v);
    sl_buf_putc(b, ' ');
    if (fmt == SL_EXPFMT_PROM)
        sl_buf_printf(b, "%lld", (long long)ts_ms);
    else
        sl_expfmt_format_seconds(b, ts_ms);
    sl_buf_putc(b, '\n');
}
