/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Suite for tools/expfmt.c: the exposition-line parser behind `sluice import` and the
 * sample formatter behind `sluice export`. Valid lines come from the Prometheus text-format
 * and OpenMetrics specifications' examples; malformed ones each name the error we promise;
 * theories check that format -> parse gives back the same bits for edge values and times.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "tools/expfmt.h"

TestSuite(expfmt, .timeout = 10);

static struct sl_expfmt_line L;
static char scratch[4096];

static int parse(const char *s, enum sl_expfmt_format fmt)
{
    return sl_expfmt_parse_line(s, strlen(s), fmt, &L, scratch, sizeof scratch);
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Criterion runs each parameter in a fresh process image: strings in parameter tables must
 * live in its shared arena (cr_malloc), not in this process' .rodata. */
static const char *shared_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = cr_malloc(n + 1);
    cr_assert(ne(ptr, d, NULL));
    memcpy(d, s, n + 1);
    return d;
}

static void free_params(struct criterion_test_params *crp)
{
    cr_free(crp->params);
}

/* ---- valid sample lines ------------------------------------------------------------------- */

struct ok_case {
    const char *line;
    int fmt;
    const char *name;
    const char *labels; /* "a=1;b=x" after unescaping, "" for none */
    double value;
    int has_ts;
    int64_t ts;
};

ParameterizedTestParameters(expfmt, parse_valid_sample_sets_every_field)
{
    static struct ok_case cases[] = {
        /* Prometheus exposition_formats.md example */
        {"http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000", SL_EXPFMT_PROM,
         "http_requests_total", "method=post;code=200", 1027, 1, 1395066363000},
        {"msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
         "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9",
         SL_EXPFMT_PROM, "msdos_file_access_time_seconds",
         "path=C:\\DIR\\FILE.TXT;error=Cannot find file:\n\"FILE.TXT\"", 1.458255915e9, 0, 0},
        {"metric_without_timestamp_and_labels 12.47", SL_EXPFMT_PROM,
         "metric_without_timestamp_and_labels", "", 12.47, 0, 0},
        {"something_weird{problem=\"division by zero\"} +Inf -3982045", SL_EXPFMT_PROM,
         "something_weird", "problem=division by zero", INFINITY, 1, -3982045},
        {"rpc_duration_seconds{quantile=\"0.5\"} 4773", SL_EXPFMT_PROM, "rpc_duration_seconds",
         "quantile=0.5", 4773, 0, 0},
        {"x -Inf 0", SL_EXPFMT_PROM, "x", "", -INFINITY, 1, 0},
        {"  job:rate5m{ a = \"1\" , b=\"\" , } \t -0.0  17  ", SL_EXPFMT_PROM, "job:rate5m",
         "a=1;b=", -0.0, 1, 17},
        {"x{} 1e-320 9223372036854775807", SL_EXPFMT_PROM, "x", "", 1e-320, 1,
         INT64_MAX},
        {"x 1e999 -9223372036854775808", SL_EXPFMT_PROM, "x", "", INFINITY, 1, INT64_MIN},
        {"x{a=\"\\t\"} .5", SL_EXPFMT_PROM, "x", "a=\\t", 0.5, 0, 0},
        /* OpenMetrics 1.0 examples: float seconds */
        {"acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32 "
         "1520879607.789",
         SL_EXPFMT_OPENMETRICS, "acme_http_router_request_seconds_sum", "path=/api/v1;method=GET",
         9036.32, 1, 1520879607789},
        {"foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5", SL_EXPFMT_OPENMETRICS,
         "foo_total", "", 17.0, 1, 1520879607789},
        {"foo 1 1520879607", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, 1520879607000},
        {"foo 1 1.0005", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, 1001},
        {"foo 1 1.0004999", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, 1000},
        {"foo 1 -0.0015", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, -2},
        {"foo 1 .25", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, 250},
        {"foo 1 1.5e3", SL_EXPFMT_OPENMETRICS, "foo", "", 1, 1, 1500000},
        {"foo NaN 2", SL_EXPFMT_OPENMETRICS, "foo", "", NAN, 1, 2000},
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct ok_case *sh = memcpy(cr_malloc(sizeof cases), cases, sizeof cases);
    for (size_t i = 0; i < n; i++) {
        sh[i].line = shared_str(sh[i].line);
        sh[i].name = shared_str(sh[i].name);
        sh[i].labels = shared_str(sh[i].labels);
    }
    return cr_make_param_array(struct ok_case, sh, n, free_params);
}

ParameterizedTest(struct ok_case *c, expfmt, parse_valid_sample_sets_every_field)
{
    int rc = parse(c->line, c->fmt);
    cr_assert(eq(int, rc, 0), "%s: %s at col %zu", c->line, L.err ? L.err : "", L.err_col);
    cr_assert(eq(int, L.kind, SL_EXPFMT_SAMPLE));
    cr_assert(eq(sz, (size_t)L.name_len, strlen(c->name)));
    cr_assert(eq(int, memcmp(L.name, c->name, L.name_len), 0));
    char got[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < L.nlabels; i++)
        off += (size_t)snprintf(got + off, sizeof got - off, "%s%.*s=%.*s", i ? ";" : "",
                                (int)L.labels[i].name_len, L.labels[i].name,
                                (int)L.labels[i].value_len, L.labels[i].value);
    cr_assert(eq(str, got, (char *)c->labels));
    if (isnan(c->value))
        cr_assert(eq(u64, bits(L.value), bits(NAN)));
    else
        cr_assert(eq(u64, bits(L.value), bits(c->value)), "%s: got %.17g", c->line, L.value);
    cr_assert(eq(int, L.has_ts, c->has_ts));
    cr_assert(eq(i64, L.ts_ms, c->ts));
}

/* ---- malformed lines ------------------------------------------------------------------------ */

struct bad_case {
    const char *line;
    int fmt;
    const char *err_prefix;
    size_t col;
};

ParameterizedTestParameters(expfmt, parse_malformed_line_names_the_problem_and_column)
{
    static struct bad_case cases[] = {
        {"9x 1", SL_EXPFMT_PROM, "expected a metric name", 1},
        {"x", SL_EXPFMT_PROM, "missing value", 2},
        {"x ", SL_EXPFMT_PROM, "missing value", 3},
        {"x abc", SL_EXPFMT_PROM, "invalid value", 3},
        {"x 0x10", SL_EXPFMT_PROM, "invalid value", 3},
        {"x 1 1.5", SL_EXPFMT_PROM, "invalid timestamp: Prometheus text uses integer", 5},
        {"x 1 12a", SL_EXPFMT_PROM, "invalid timestamp (integer", 5},
        {"x 1 9223372036854775808", SL_EXPFMT_PROM, "timestamp out of range", 5},
        {"x 1 1e400", SL_EXPFMT_OPENMETRICS, "invalid timestamp (decimal seconds)", 5},
        {"x 1 99999999999999999", SL_EXPFMT_OPENMETRICS, "timestamp out of range", 5},
        {"x 1 2 3", SL_EXPFMT_PROM, "unexpected text after the timestamp", 7},
        {"x 1 # {a=\"b\"} 1", SL_EXPFMT_PROM, "unexpected text after the value", 5},
        {"x{a=\"1\" 2", SL_EXPFMT_PROM, "expected ',' or '}'", 9},
        {"x{a=\"1\"", SL_EXPFMT_PROM, "unterminated label set", 8},
        {"x{a=\"1} 2", SL_EXPFMT_PROM, "unterminated label value", 5},
        {"x{a=1} 2", SL_EXPFMT_PROM, "expected '\"'", 5},
        {"x{a\"1\"} 2", SL_EXPFMT_PROM, "expected '='", 4},
        {"x{1a=\"1\"} 2", SL_EXPFMT_PROM, "expected a label name", 3},
        {"x{a=\"1\",a=\"2\"} 2", SL_EXPFMT_PROM, "duplicate label name", 9},
        {"x{__name__=\"y\"} 2", SL_EXPFMT_PROM, "the label __name__ is reserved", 3},
        {"x-y 1", SL_EXPFMT_PROM, "invalid character in metric name", 2},
        {"x 1\r", SL_EXPFMT_PROM, "carriage return", 4},
        {"# TYPE x countr", SL_EXPFMT_PROM, "unknown metric type", 10},
        {"# TYPE 1x counter", SL_EXPFMT_PROM, "expected a metric name after", 8},
        {"# EOF extra", SL_EXPFMT_OPENMETRICS, "unexpected text after # EOF", 7},
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct bad_case *sh = memcpy(cr_malloc(sizeof cases), cases, sizeof cases);
    for (size_t i = 0; i < n; i++) {
        sh[i].line = shared_str(sh[i].line);
        sh[i].err_prefix = shared_str(sh[i].err_prefix);
    }
    return cr_make_param_array(struct bad_case, sh, n, free_params);
}

ParameterizedTest(struct bad_case *c, expfmt, parse_malformed_line_names_the_problem_and_column)
{
    cr_assert(eq(int, parse(c->line, c->fmt), SL_E_PROTO), "%s", c->line);
    cr_assert(ne(ptr, (void *)L.err, NULL));
    cr_assert(eq(int, strncmp(L.err, c->err_prefix, strlen(c->err_prefix)), 0), "%s: got '%s'",
              c->line, L.err);
    cr_assert(eq(sz, L.err_col, c->col), "%s: %s", c->line, L.err);
}

Test(expfmt, parse_too_many_labels_is_refused)
{
    char line[2048];
    size_t off = (size_t)snprintf(line, sizeof line, "x{");
    for (int i = 0; i <= SL_LABELS_MAX; i++)
        off += (size_t)snprintf(line + off, sizeof line - off, "l%d=\"v\",", i);
    snprintf(line + off, sizeof line - off, "} 1");
    cr_assert(eq(int, parse(line, SL_EXPFMT_PROM), SL_E_PROTO));
    cr_assert(eq(str, (char *)L.err, "too many labels (more than 64)"));
}

Test(expfmt, parse_escaped_value_with_small_scratch_is_refused_not_overrun)
{
    const char *s = "x{a=\"\\\\\\\\\\\\\"} 1";
    char tiny[2];
    cr_assert(eq(int, sl_expfmt_parse_line(s, strlen(s), SL_EXPFMT_PROM, &L, tiny, sizeof tiny),
                 SL_E_PROTO));
    cr_assert(eq(str, (char *)L.err, "label values too long for the buffer"));
}

Test(expfmt, parse_nul_byte_is_refused)
{
    const char s[] = "x 1\0 2";
    cr_assert(eq(int, sl_expfmt_parse_line(s, sizeof s - 1, SL_EXPFMT_PROM, &L, scratch,
                                           sizeof scratch),
                 SL_E_PROTO));
    cr_assert(eq(sz, L.err_col, 4));
}

/* ---- comments and metadata ------------------------------------------------------------------ */

Test(expfmt, parse_metadata_lines_return_their_kind_name_and_text)
{
    cr_assert(eq(int, parse("# HELP http_requests_total The total \\n number.", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_HELP));
    cr_assert(eq(int, memcmp(L.name, "http_requests_total", L.name_len), 0));
    cr_assert(eq(int, memcmp(L.text, "The total \\n number.", L.text_len), 0));

    cr_assert(eq(int, parse("# TYPE http_requests_total counter", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_TYPE));
    cr_assert(eq(u32, L.text_len, 7));

    cr_assert(eq(int, parse("# UNIT foo_seconds seconds", 1), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_UNIT));
    cr_assert(eq(int, memcmp(L.text, "seconds", L.text_len), 0));

    cr_assert(eq(int, parse("# EOF", 1), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_EOF));
    cr_assert(eq(int, parse("# a free comment", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_COMMENT));
    cr_assert(eq(int, parse("#TYPE x counter", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_COMMENT));
    cr_assert(eq(int, parse(" \t ", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_BLANK));
    cr_assert(eq(int, parse("", 0), 0));
    cr_assert(eq(int, L.kind, SL_EXPFMT_BLANK));
}

/* ---- formatting and round trips ------------------------------------------------------------- */

Test(expfmt, format_seconds_writes_at_most_three_trimmed_decimals)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{0, "0"}, {1500, "1.5"}, {1001, "1.001"}, {-1, "-0.001"}, {-1500, "-1.5"},
                 {1520879607789, "1520879607.789"}, {INT64_MIN, "-9223372036854775.808"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sl_buf b = SL_BUF_INIT;
        sl_expfmt_format_seconds(&b, cases[i].ms);
        cr_assert(eq(str, b.data, (char *)cases[i].want));
        sl_buf_fini(&b);
    }
}

Test(expfmt, format_sample_escapes_labels_and_parses_back)
{
    struct sl_label ls[] = {{"a", "q\"uo\\te\nx", 1, 9}, {"b", "", 1, 0}};
    struct sl_buf b = SL_BUF_INIT;
    sl_expfmt_format_sample(&b, SL_EXPFMT_OPENMETRICS, "m_total", 7, ls, 2, -0.0, 1234);
    cr_assert(eq(str, b.data, "m_total{a=\"q\\\"uo\\\\te\\nx\",b=\"\"} -0 1.234\n"));
    cr_assert(eq(int, sl_expfmt_parse_line(b.data, b.len - 1, SL_EXPFMT_OPENMETRICS, &L, scratch,
                                           sizeof scratch),
                 0));
    cr_assert(eq(sz, L.nlabels, 2));
    cr_assert(eq(u32, L.labels[0].value_len, 9));
    cr_assert(eq(int, memcmp(L.labels[0].value, "q\"uo\\te\nx", 9), 0));
    cr_assert(eq(u64, bits(L.value), bits(-0.0)));
    cr_assert(eq(i64, L.ts_ms, 1234));
    sl_buf_fini(&b);
}

TheoryDataPoints(expfmt, format_then_parse_returns_same_value_and_time) = {
    DataPoints(double, 0.0, -0.0, 1.0, -1.0, 0.1, 1e22, 1e23, 9007199254740993.0, DBL_MAX,
               -DBL_MAX, DBL_MIN, 4.9406564584124654e-324, 9.223372036854775807e18,
               -9.223372036854775808e18, 0.30000000000000004, 123456.789, 1e-5, INFINITY,
               -INFINITY, NAN),
    DataPoints(int64_t, 0, 1, -1, 999, 1000, 1001, -999, 1520879607789, INT64_MAX / 1000 * 999,
               INT64_MIN, INT64_MAX),
    DataPoints(int, SL_EXPFMT_PROM, SL_EXPFMT_OPENMETRICS),
};

Theory((double v, int64_t t, int fmt), expfmt, format_then_parse_returns_same_value_and_time)
{
    /* OpenMetrics seconds are bounded so ms * 1000 stays inside int64 with room for the
     * rounding digit; the far ends of int64 only exist in Prometheus' ms form. */
    cr_assume(fmt == SL_EXPFMT_PROM || (t > -9000000000000000000 && t < 9000000000000000000));
    struct sl_buf b = SL_BUF_INIT;
    struct sl_label l = {"k", "v", 1, 1};
    sl_expfmt_format_sample(&b, fmt, "m", 1, &l, 1, v, t);
    cr_assert(eq(int, sl_buf_failed(&b), 0));
    int rc = sl_expfmt_parse_line(b.data, b.len - 1, fmt, &L, scratch, sizeof scratch);
    cr_assert(eq(int, rc, 0), "%s: %s", b.data, L.err ? L.err : "");
    if (isnan(v))
        cr_assert(isnan(L.value));
    else
        cr_assert(eq(u64, bits(L.value), bits(v)), "%s", b.data);
    cr_assert(eq(i64, L.ts_ms, t), "%s", b.data);
    sl_buf_fini(&b);
}

TheoryDataPoints(expfmt, format_value_equals_sl_buf_put_double) = {
    DataPoints(double, 0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 20.5, 1e6, 999999.0, 123456.7, 1e-4,
               1e-5, 1e22, 1e23, 9007199254740993.0, DBL_MAX, -DBL_MAX, DBL_MIN,
               4.9406564584124654e-324, 2.2250738585072009e-308, 0.30000000000000004,
               3.141592653589793, 1.0 / 3.0, 2.0 / 3.0, 1024.0, 0.0009765625, 1e300, 5e-324,
               9.223372036854775807e18, 52.6348117637863, -17.25),
};

Theory((double v), expfmt, format_value_equals_sl_buf_put_double)
{
    struct sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
    sl_expfmt_format_sample(&a, SL_EXPFMT_PROM, "m", 1, NULL, 0, v, 0);
    sl_buf_puts(&b, "m ");
    sl_buf_put_double(&b, v);
    sl_buf_puts(&b, " 0\n");
    cr_assert(eq(str, a.data, b.data));
    sl_buf_fini(&a);
    sl_buf_fini(&b);
}

Test(expfmt, format_value_random_bit_patterns_equal_sl_buf_put_double)
{
    /* The binary search over precisions rests on round-tripping being monotone in the
     * number of digits; check it against the linear search on random doubles of every
     * exponent (fixed seed, so a failure reproduces). */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    struct sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (i % 4 == 0) /* and short decimals, the common case in real data */
            v = (double)(int64_t)(x % 2000001) / 1000.0 - 1000.0;
        sl_buf_reset(&a);
        sl_buf_reset(&b);
        sl_expfmt_format_sample(&a, SL_EXPFMT_PROM, "m", 1, NULL, 0, v, 0);
        sl_buf_puts(&b, "m ");
        sl_buf_put_double(&b, v);
        sl_buf_puts(&b, " 0\n");
        cr_assert(eq(str, a.data, b.data));
    }
    sl_buf_fini(&a);
    sl_buf_fini(&b);
}
