/* SPDX-License-Identifier: Apache-2.0 */
/* Parser suite: canonical printing (what format_query returns), precedence and
 * associativity, type checks and error texts with positions, and the print/parse round
 * trip as a Theory. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <string.h>

#include "engine/errors.h"
#include "query/promql.h"

TestSuite(parser, .timeout = 5);

static char *format(const char *in, struct sl_promql_error *err, int *rc)
{
    struct sl_promql_expr *e;
    *rc = sl_promql_parse(in, &e, err);
    if (*rc)
        return NULL;
    struct sl_buf b = SL_BUF_INIT;
    sl_promql_format(e, &b);
    sl_promql_expr_free(e);
    size_t len;
    char *s = sl_buf_steal(&b, &len);
    return s ? s : strdup("");
}

/* Parameters are copied into each test's process: strings must live inside the struct. */
struct fmt_case {
    char in[128], out[128];
};

static struct fmt_case fmt_cases[] = {
    {"1 + 2 * 3", "1 + 2 * 3"},
    {"2 ^ 3 ^ 2", "2 ^ 3 ^ 2"},
    {"-1", "-1"},
    {"- foo", "-foo"},
    {"0x1F", "31"},
    {"1e-7", "1e-07"},
    {"123456789012345678901234", "1.2345678901234569e+23"},
    {"foo{a=\"b\",c!~\"d.*\"}", "foo{a=\"b\",c!~\"d.*\"}"},
    {"{__name__=\"foo\"}", "{__name__=\"foo\"}"},
    {"foo offset 5m", "foo offset 5m"},
    {"foo[90m] offset -1h", "foo[1h30m] offset -1h"},
    {"foo @ 100", "foo @ 100.000"},
    {"foo @ start()", "foo @ start()"},
    {"rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"},
    {"max_over_time(foo[5m:])", "max_over_time(foo[5m:])"},
    {"sum by (a,b) (foo)", "sum by (a, b) (foo)"},
    {"sum(foo) without (a)", "sum without (a) (foo)"},
    {"topk(5, foo)", "topk(5, foo)"},
    {"count_values('v', foo)", "count_values(\"v\", foo)"},
    {"a * on(x) group_left(y) b", "a * on (x) group_left (y) b"},
    {"offset{step=\"1s\"}[5m]", "offset{step=\"1s\"}[5m]"},
    {"foo * sum", "foo * sum"},
    {"a / ignoring(x) group_right b", "a / ignoring (x) group_right () b"},
    {"a > bool 1", "a > bool 1"},
    {"a and b or c unless d", "a and b or c unless d"},
    {"label_replace(up, \"d\", \"$1\", \"s\", \"(.*)\")",
     "label_replace(up, \"d\", \"$1\", \"s\", \"(.*)\")"},
    {"\"a\\nb\"", "\"a\\nb\""},
    {"(1 + 2) * 3", "(1 + 2) * 3"},
    {"sum(foo) BY (a)", "sum by (a) (foo)"},
};

ParameterizedTestParameters(parser, format_parsed_query_prints_canonical_text)
{
    return cr_make_param_array(struct fmt_case, fmt_cases, sizeof fmt_cases / sizeof fmt_cases[0]);
}

ParameterizedTest(struct fmt_case *c, parser, format_parsed_query_prints_canonical_text)
{
    struct sl_promql_error err;
    int rc;
    char *s = format(c->in, &err, &rc);
    cr_assert(eq(int, rc, 0), "%s: %s", c->in, err.msg);
    cr_assert(eq(str, s, c->out));
    free(s);
}

struct err_case {
    char in[64], msg[160];
};

static struct err_case err_cases[] = {
    {"", "1:1: parse error: no expression found in input"},
    {"1 +", "1:4: parse error: unexpected end of input"},
    {"foo{", "1:5: parse error: unexpected end of input inside braces"},
    {"rate(foo)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"},
    {"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"foo and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"nosuchfn(x)", "1:1: parse error: unknown function with name \"nosuchfn\""},
    {"foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"},
    {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a=~\"(\"}", "1:5: parse error: error parsing regexp: missing closing parenthesis at offset 1"},
    {"sum(foo, bar)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2"},
    {"(1 + 2) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
    {"foo offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times"},
    {"(1))", "1:5: parse error: unexpected right parenthesis ')'"},
    {"@@", "1:1: parse error: unexpected <op:@>"},
    {"a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"},
    {"-\"string\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""},
    {"1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"},
    {"round(foo, 1, 2)", "1:16: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
    {"1 +\n *", "2:2: parse error: unexpected <op:*>"},
    {"foo{a=~\"(?=x)\"}", "1:8: parse error: error parsing regexp: invalid or unsupported Perl syntax (lookaround or special group)"},
    {"1[5m]", "1:2: parse error: ranges only allowed for vector selectors"},
    {"foo[100000000y]", "1:5: parse error: not a valid duration string: \"100000000y\""},
};

ParameterizedTestParameters(parser, parse_invalid_query_reports_position_and_message)
{
    return cr_make_param_array(struct err_case, err_cases, sizeof err_cases / sizeof err_cases[0]);
}

ParameterizedTest(struct err_case *c, parser, parse_invalid_query_reports_position_and_message)
{
    struct sl_promql_error err;
    int rc;
    char *s = format(c->in, &err, &rc);
    cr_assert(eq(int, rc, SL_E_PROTO), "%s parsed as %s", c->in, s ? s : "");
    cr_assert(eq(int, err.kind, SL_PQ_ERR_PARSE));
    cr_assert(eq(str, err.msg, c->msg));
}

Test(parser, parse_binary_ops_follow_prometheus_precedence)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    /* unary minus binds like '*' but below '^': -2^2 = -(2^2) */
    cr_assert(eq(int, sl_promql_parse("-2 ^ 2", &e, &err), 0));
    cr_assert(eq(int, sl_promql_expr_type(e), SL_PQ_SCALAR));
    sl_promql_expr_free(e);
    cr_assert(eq(int, sl_promql_parse("foo[5m]", &e, &err), 0));
    cr_assert(eq(int, sl_promql_expr_type(e), SL_PQ_MATRIX));
    sl_promql_expr_free(e);
    cr_assert(eq(int, sl_promql_parse("\"s\"", &e, &err), 0));
    cr_assert(eq(int, sl_promql_expr_type(e), SL_PQ_STRING));
    sl_promql_expr_free(e);
}

Test(parser, parse_selector_given_expression_fails)
{
    struct sl_promql_expr *e;
    const struct sl_matcher *m;
    size_t nm;
    struct sl_promql_error err;
    cr_assert(eq(int, sl_promql_parse_selector("up{job=\"a\"}", &e, &m, &nm, &err), 0));
    cr_assert(eq(sz, nm, 2));
    cr_assert(eq(str, (char *)m[1].name, "job"));
    sl_promql_expr_free(e);
    cr_assert(eq(int, sl_promql_parse_selector("sum(up)", &e, &m, &nm, &err), SL_E_PROTO));
}

TheoryDataPoints(parser, format_of_parse_is_a_fixed_point) = {
    DataPoints(const char *, "1", "-1.5e-10", "foo", "foo{a=\"\\\"x\"}[5m] @ 10 offset 3m",
               "sum without (a) (rate(x[5m]))", "a + on (b) group_left (c) d * e ^ f ^ g",
               "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
               "-(foo)", "+foo", "label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")",
               "(a or b)[1h:5m] offset 10m", "x > bool on () y", "NaN", "-Inf",
               "time() - timestamp(x @ end())", "quantile(0.5, foo) by (a)"),
};

Theory((const char *in), parser, format_of_parse_is_a_fixed_point)
{
    struct sl_promql_error err;
    int rc;
    char *once = format(in, &err, &rc);
    cr_assert(eq(int, rc, 0), "%s: %s", in, err.msg);
    char *twice = format(once, &err, &rc);
    cr_assert(eq(int, rc, 0), "%s: %s", once, err.msg);
    cr_assert(eq(str, twice, once));
    free(once);
    free(twice);
}
