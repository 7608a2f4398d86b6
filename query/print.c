/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Canonical text of an expression, as Prometheus 2.42's String() methods print it (what
 * /api/v1/format_query returns for queries that fit on one line): numbers as Go's %v,
 * strings and matcher values Go-quoted, durations in model.Duration form ("1h30m"),
 * `sum by (a) (x)`, `a * on (b) group_left (c) d`, `x @ 10.000 offset 5m`.
 * The fuzz target checks print(parse(print(parse(s)))) == print(parse(s)).
 */
#include "query/promql_pvt.h"

#include "engine/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Shortest round-trip digits of v (finite, != 0): digits in d, decimal exponent of the
 * first digit in *exp10 (v = 0.d * 10^(exp10+1)). */
static int shortest_digits(double v, char *d, int *exp10)
{
    return sl_shortest_digits(v, d, exp10);
}

/* mode 2: strconv 'f' -1 (count_values labels); mode 0: Go fmt %v (e when exp < -4 || exp >= 21);
 * mode 1: Prometheus JSON values, strconv 'f'/-1 unless |v| < 1e-6 or >= 1e21, then 'e'. */
static void fmt_float(struct sl_buf *b, double v, int mode)
{
    if (isnan(v)) {
        sl_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        /* Go prints "+Inf", but in an expression "+Inf ^ x" reparses as unary plus over a
         * binary expression and each print/parse cycle would add a '+': print "Inf". */
        sl_buf_puts(b, v < 0 ? "-Inf" : mode == 0 ? "Inf" : "+Inf");
        return;
    }
    if (v == 0) {
        sl_buf_puts(b, signbit(v) ? "-0" : "0");
        return;
    }
    /* built on the stack and appended once: a range query's JSON holds one per point */
    char d[40], o[400]; /* 'f' of the largest double: 309 digits */
    int e, k = 0;
    int n = shortest_digits(v, d, &e);
    if (v < 0)
        o[k++] = '-';
    int use_e = mode == 0 ? (e < -4 || e >= 21) : mode == 1 ? (e < -6 || e >= 21) : 0;
    if (use_e) {
        o[k++] = d[0];
        if (n > 1) {
            o[k++] = '.';
            memcpy(o + k, d + 1, (size_t)n - 1);
            k += n - 1;
        }
        k += snprintf(o + k, sizeof o - (size_t)k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e < 0) {
        o[k++] = '0';
        o[k++] = '.';
        for (int i = 0; i < -e - 1; i++)
            o[k++] = '0';
        memcpy(o + k, d, (size_t)n);
        k += n;
    } else {
        for (int i = 0; i <= e; i++)
            o[k++] = i < n ? d[i] : '0';
        if (n > e + 1) {
            o[k++] = '.';
            memcpy(o + k, d + e + 1, (size_t)(n - e - 1));
            k += n - e - 1;
        }
    }
    sl_buf_append(b, o, (size_t)k);
}

void pq_format_double(struct sl_buf *b, double v)
{
    fmt_float(b, v, 0);
}

void pq_format_json_value(struct sl_buf *b, double v)
{
    fmt_float(b, v, 1);
}

void pq_format_float_f(struct sl_buf *b, double v)
{
    fmt_float(b, v, 2);
}

void pq_format_duration(struct sl_buf *b, int64_t ms)
{
    if (ms == 0) {
        sl_buf_puts(b, "0s");
        return;
    }
    if (ms < 0) {
        sl_buf_putc(b, '-');
        ms = -ms;
    }
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
                 {"h", 3600000},          {"m", 60000},          {"s", 1000},
                 {"ms", 1}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms >= units[i].ms) {
            sl_buf_printf(b, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
            ms %= units[i].ms;
        }
    }
}

/* Go's %q for valid UTF-8 text. */
static void quote(struct sl_buf *b, const char *s)
{
    sl_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sl_buf_puts(b, "\\\""); break;
        case '\\': sl_buf_puts(b, "\\\\"); break;
        case '\a': sl_buf_puts(b, "\\a"); break;
        case '\b': sl_buf_puts(b, "\\b"); break;
        case '\f': sl_buf_puts(b, "\\f"); break;
        case '\n': sl_buf_puts(b, "\\n"); break;
        case '\r': sl_buf_puts(b, "\\r"); break;
        case '\t': sl_buf_puts(b, "\\t"); break;
        case '\v': sl_buf_puts(b, "\\v"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                sl_buf_printf(b, "\\x%02x", *p);
            else
                sl_buf_putc(b, (char)*p);
        }
    }
    sl_buf_putc(b, '"');
}

static const char *op_str(int op)
{
    switch (op) {
    case T_ADD: return "+";
    case T_SUB: return "-";
    case T_MUL: return "*";
    case T_DIV: return "/";
    case T_MOD: return "%";
    case T_POW: return "^";
    case T_ATAN2: return "atan2";
    case T_EQLC: return "==";
    case T_NEQ: return "!=";
    case T_LSS: return "<";
    case T_LTE: return "<=";
    case T_GTR: return ">";
    case T_GTE: return ">=";
    case T_LAND: return "and";
    case T_LOR: return "or";
    case T_LUNLESS: return "unless";
    case T_SUM: return "sum";
    case T_AVG: return "avg";
    case T_COUNT: return "count";
    case T_MIN: return "min";
    case T_MAX: return "max";
    case T_GROUP: return "group";
    case T_STDDEV: return "stddev";
    case T_STDVAR: return "stdvar";
    case T_TOPK: return "topk";
    case T_BOTTOMK: return "bottomk";
    case T_COUNT_VALUES: return "count_values";
    case T_QUANTILE: return "quantile";
    default: return "?";
    }
}

static void labels_list(struct sl_buf *b, char *const *l, size_t n)
{
    sl_buf_putc(b, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_puts(b, ", ");
        sl_buf_puts(b, l[i]);
    }
    sl_buf_putc(b, ')');
}

static void at_offset(struct sl_buf *b, const struct pq_node *n)
{
    switch (n->at_kind) {
    case PQ_AT_TIME: {
        /* %.3f of the seconds, exact for integral milliseconds */
        int64_t at = n->at;
        const char *sign = at < 0 ? "-" : "";
        uint64_t a = at < 0 ? (uint64_t)0 - (uint64_t)at : (uint64_t)at;
        sl_buf_printf(b, " @ %s%llu.%03llu", sign, (unsigned long long)(a / 1000),
                      (unsigned long long)(a % 1000));
        break;
    }
    case PQ_AT_START: sl_buf_puts(b, " @ start()"); break;
    case PQ_AT_END: sl_buf_puts(b, " @ end()"); break;
    default: break;
    }
    if (n->offset) {
        sl_buf_puts(b, " offset ");
        pq_format_duration(b, n->offset);
    }
}

static void vsel_body(const struct pq_node *n, struct sl_buf *b)
{
    static const char *mops[] = {"=", "!=", "=~", "!~"};
    if (n->name)
        sl_buf_puts(b, n->name);
    size_t shown = 0;
    for (size_t i = 0; i < n->nm; i++) {
        if (n->name && i == 0)
            continue; /* the name matcher */
        sl_buf_puts(b, shown++ ? "," : "{");
        sl_buf_puts(b, n->m[i].name);
        sl_buf_puts(b, mops[n->m[i].op]);
        quote(b, n->m[i].value);
    }
    if (shown)
        sl_buf_putc(b, '}');
}

void pq_format_node(const struct pq_node *n, struct sl_buf *b)
{
    switch (n->kind) {
    case PQ_NUM:
        pq_format_double(b, n->num);
        break;
    case PQ_STR:
        quote(b, n->str);
        break;
    case PQ_VSEL:
        vsel_body(n, b);
        at_offset(b, n);
        break;
    case PQ_MSEL:
        vsel_body(n->a, b);
        sl_buf_putc(b, '[');
        pq_format_duration(b, n->range);
        sl_buf_putc(b, ']');
        at_offset(b, n->a);
        break;
    case PQ_SUBQ:
        pq_format_node(n->a, b);
        sl_buf_putc(b, '[');
        pq_format_duration(b, n->range);
        sl_buf_putc(b, ':');
        if (n->step)
            pq_format_duration(b, n->step);
        sl_buf_putc(b, ']');
        at_offset(b, n);
        break;
    case PQ_PAREN:
        sl_buf_putc(b, '(');
        pq_format_node(n->a, b);
        sl_buf_putc(b, ')');
        break;
    case PQ_UNARY:
        sl_buf_puts(b, op_str(n->op));
        pq_format_node(n->a, b);
        break;
    case PQ_BINARY:
        pq_format_node(n->a, b);
        sl_buf_printf(b, " %s", op_str(n->op));
        if (n->return_bool)
            sl_buf_puts(b, " bool");
        if (n->has_matching && (n->nmlabels || n->on)) {
            sl_buf_puts(b, n->on ? " on " : " ignoring ");
            labels_list(b, n->mlabels, n->nmlabels);
            if (n->card == PQ_CARD_MANY_TO_ONE || n->card == PQ_CARD_ONE_TO_MANY) {
                sl_buf_puts(b, n->card == PQ_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                labels_list(b, n->include, n->ninclude);
            }
        }
        sl_buf_putc(b, ' ');
        pq_format_node(n->b, b);
        break;
    case PQ_AGG:
        sl_buf_puts(b, op_str(n->op));
        if (n->without) {
            sl_buf_puts(b, " without ");
            labels_list(b, n->grouping, n->ngrouping);
            sl_buf_putc(b, ' ');
        } else if (n->ngrouping) {
            sl_buf_puts(b, " by ");
            labels_list(b, n->grouping, n->ngrouping);
            sl_buf_putc(b, ' ');
        }
        sl_buf_putc(b, '(');
        if (n->b) {
            pq_format_node(n->b, b);
            sl_buf_puts(b, ", ");
        }
        pq_format_node(n->a, b);
        sl_buf_putc(b, ')');
        break;
    case PQ_CALL:
        sl_buf_puts(b, n->fn->name);
        sl_buf_putc(b, '(');
        for (size_t i = 0; i < n->nargs; i++) {
            if (i)
                sl_buf_puts(b, ", ");
            pq_format_node(n->args[i], b);
        }
        sl_buf_putc(b, ')');
        break;
    default:
        break;
    }
}

void sl_promql_format(const struct sl_promql_expr *e, struct sl_buf *out)
{
    pq_format_node(e->root, out);
}

/* ---- pretty printing (Prometheus' Pretty(), printer.go) ------------------------------- */

#define PRETTY_LINE_MAX 100 /* maxCharactersPerLine */

static int needs_split(const struct pq_node *n)
{
    struct sl_buf b = SL_BUF_INIT;
    pq_format_node(n, &b);
    int split = b.len > PRETTY_LINE_MAX;
    sl_buf_fini(&b);
    return split;
}

static void indent(struct sl_buf *b, int level)
{
    for (int i = 0; i < level; i++)
        sl_buf_puts(b, "  ");
}

static void pretty(const struct pq_node *n, int level, struct sl_buf *b);

static void sub_suffix(const struct pq_node *n, struct sl_buf *b)
{
    sl_buf_putc(b, '[');
    pq_format_duration(b, n->range);
    sl_buf_putc(b, ':');
    if (n->step)
        pq_format_duration(b, n->step);
    sl_buf_putc(b, ']');
    at_offset(b, n);
}

static void pretty(const struct pq_node *n, int level, struct sl_buf *b)
{
    int split = needs_split(n);
    switch (n->kind) {
    case PQ_AGG:
        indent(b, level);
        if (!split) {
            pq_format_node(n, b);
            return;
        }
        sl_buf_puts(b, op_str(n->op));
        if (n->without) {
            sl_buf_puts(b, " without ");
            labels_list(b, n->grouping, n->ngrouping);
            sl_buf_putc(b, ' ');
        } else if (n->ngrouping) {
            sl_buf_puts(b, " by ");
            labels_list(b, n->grouping, n->ngrouping);
            sl_buf_putc(b, ' ');
        }
        sl_buf_puts(b, "(\n");
        if (n->b) {
            pretty(n->b, level + 1, b);
            sl_buf_puts(b, ",\n");
        }
        pretty(n->a, level + 1, b);
        sl_buf_putc(b, '\n');
        indent(b, level);
        sl_buf_putc(b, ')');
        return;
    case PQ_BINARY:
        if (!split) {
            indent(b, level);
            pq_format_node(n, b);
            return;
        }
        pretty(n->a, level + 1, b);
        sl_buf_putc(b, '\n');
        indent(b, level);
        sl_buf_puts(b, op_str(n->op));
        if (n->return_bool)
            sl_buf_puts(b, " bool");
        if (n->has_matching && (n->nmlabels || n->on)) {
            sl_buf_puts(b, n->on ? " on " : " ignoring ");
            labels_list(b, n->mlabels, n->nmlabels);
            if (n->card == PQ_CARD_MANY_TO_ONE || n->card == PQ_CARD_ONE_TO_MANY) {
                sl_buf_puts(b, n->card == PQ_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                labels_list(b, n->include, n->ninclude);
            }
        }
        sl_buf_putc(b, '\n');
        pretty(n->b, level + 1, b);
        return;
    case PQ_CALL:
        indent(b, level);
        if (!split) {
            pq_format_node(n, b);
            return;
        }
        sl_buf_puts(b, n->fn->name);
        sl_buf_puts(b, "(\n");
        for (size_t i = 0; i < n->nargs; i++) {
            if (i)
                sl_buf_puts(b, ",\n");
            pretty(n->args[i], level + 1, b);
        }
        sl_buf_putc(b, '\n');
        indent(b, level);
        sl_buf_putc(b, ')');
        return;
    case PQ_PAREN:
        indent(b, level);
        if (!split) {
            pq_format_node(n, b);
            return;
        }
        sl_buf_puts(b, "(\n");
        pretty(n->a, level + 1, b);
        sl_buf_putc(b, '\n');
        indent(b, level);
        sl_buf_putc(b, ')');
        return;
    case PQ_SUBQ:
        if (!split) {
            pq_format_node(n, b); /* Prometheus does not indent an unsplit subquery */
            return;
        }
        pretty(n->a, level, b);
        sub_suffix(n, b);
        return;
    case PQ_UNARY: {
        /* the operand's own indent is trimmed: the operator carries it */
        struct sl_buf c = SL_BUF_INIT;
        pretty(n->a, level, &c);
        const char *p = c.data ? c.data : "";
        size_t len = c.len;
        while (len && (*p == ' ' || *p == '\n' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\t'))
            len--;
        indent(b, level);
        sl_buf_puts(b, op_str(n->op));
        sl_buf_append(b, p, len);
        sl_buf_fini(&c);
        return;
    }
    default:
        indent(b, level);
        pq_format_node(n, b);
        return;
    }
}

void sl_promql_format_pretty(const struct sl_promql_expr *e, struct sl_buf *out)
{
    pretty(e->root, 0, out);
}
