/* SPDX-License-Identifier: Apache-2.0 */
/* Lexer suite: token types and extents for the tricky corners of PromQL's lexical grammar
 * (keywords vs identifiers, durations vs numbers, ':' inside brackets, escapes, errors). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include "query/promql_pvt.h"

TestSuite(lexer, .timeout = 5);

/* Parameters are copied into each test's process: strings must live inside the struct. */
struct lex_case {
    char in[64];
    int types[8]; /* terminated by T_EOF */
};

static struct lex_case lex_cases[] = {
    {"foo", {T_IDENT, T_EOF}},
    {"foo:bar", {T_METRIC_IDENT, T_EOF}},
    {"SUM by", {T_SUM, T_BY, T_EOF}},
    {"1.5e3 0x1F .5 Inf nan", {T_NUMBER, T_NUMBER, T_NUMBER, T_NUMBER, T_NUMBER, T_EOF}},
    {"x[1h30m:5s]", {T_IDENT, T_LBRACKET, T_DURATION, T_COLON, T_DURATION, T_RBRACKET, T_EOF}},
    {"{by=~\"a\"}", {T_LBRACE, T_IDENT, T_EQL_REGEX, T_STRING, T_RBRACE, T_EOF}},
    {"a != b", {T_IDENT, T_NEQ, T_IDENT, T_EOF}},
    {"offset{step=\"1s\"}", {T_OFFSET, T_LBRACE, T_IDENT, T_EQL, T_STRING, T_RBRACE, T_EOF}},
    {"a >= b <= c", {T_IDENT, T_GTE, T_IDENT, T_LTE, T_IDENT, T_EOF}},
    {"'a\\'b' `raw\\`", {T_STRING, T_STRING, T_EOF}},
    {"a # comment\n+ b", {T_IDENT, T_ADD, T_IDENT, T_EOF}},
    {"x @ start()", {T_IDENT, T_AT, T_IDENT, T_LPAREN, T_RPAREN, T_EOF}},
};

ParameterizedTestParameters(lexer, lex_valid_input_yields_token_types)
{
    return cr_make_param_array(struct lex_case, lex_cases, sizeof lex_cases / sizeof lex_cases[0]);
}

ParameterizedTest(struct lex_case *c, lexer, lex_valid_input_yields_token_types)
{
    struct pq_lexer l;
    pq_lex_init(&l, c->in);
    for (int i = 0;; i++) {
        struct pq_token t = pq_lex_next(&l);
        cr_assert(eq(int, t.type, c->types[i]), "input %s token %d", c->in, i);
        if (t.type == T_EOF)
            break;
    }
}

Test(lexer, next_on_duration_returns_whole_extent)
{
    struct pq_lexer l;
    pq_lex_init(&l, "foo[1h30m]");
    pq_lex_next(&l);
    pq_lex_next(&l);
    struct pq_token t = pq_lex_next(&l);
    cr_assert(eq(int, t.type, T_DURATION));
    cr_assert(eq(sz, t.pos, 4));
    cr_assert(eq(sz, t.len, 5));
}

struct lex_err_case {
    char in[32];
    char msg[80];
};

static struct lex_err_case lex_err_cases[] = {
    {"\"abc", "unterminated quoted string"},
    {"a)", "unexpected right parenthesis ')'"},
    {"(a", "unclosed left parenthesis"},
    {"{a=\"b\"", "unexpected end of input inside braces"},
    {"a ! b", "unexpected character after '!': ' '"},
    {"1 =~ 1", "unexpected character after '=': '~'"},
    {"1a", "bad number or duration syntax: \"1\""},
    {"0deadbeef", "bad number or duration syntax: \"0de\""},
    {"\"\\q\"", "unknown escape sequence"},
    {"a ; b", "unexpected character: ';'"},
};

ParameterizedTestParameters(lexer, lex_bad_input_reports_error)
{
    return cr_make_param_array(struct lex_err_case, lex_err_cases,
                               sizeof lex_err_cases / sizeof lex_err_cases[0]);
}

ParameterizedTest(struct lex_err_case *c, lexer, lex_bad_input_reports_error)
{
    struct pq_lexer l;
    pq_lex_init(&l, c->in);
    struct pq_token t;
    int guard = 0;
    do {
        t = pq_lex_next(&l);
    } while (t.type != T_ERROR && t.type != T_EOF && ++guard < 100);
    cr_assert(eq(int, t.type, T_ERROR), "input %s", c->in);
    cr_assert(eq(str, (char *)l.err, c->msg));
}

Test(lexer, parse_duration_with_units_out_of_order_fails)
{
    int64_t ms;
    cr_assert(eq(int, sl_promql_parse_duration("1h30m", 5, &ms), 0));
    cr_assert(eq(i64, ms, 5400000));
    cr_assert(eq(int, sl_promql_parse_duration("250ms", 5, &ms), 0));
    cr_assert(eq(i64, ms, 250));
    cr_assert(eq(int, sl_promql_parse_duration("1y2w", 4, &ms), 0));
    cr_assert(eq(i64, ms, (365LL + 14) * 86400000));
    cr_assert(lt(int, sl_promql_parse_duration("30m1h", 5, &ms), 0));
    cr_assert(lt(int, sl_promql_parse_duration("5x", 2, &ms), 0));
    cr_assert(lt(int, sl_promql_parse_duration("m", 1, &ms), 0));
}
