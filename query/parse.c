/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL parser: recursive descent with precedence climbing over the tokens of lex.c,
 * producing the tree of promql_pvt.h and type-checking it the way Prometheus'
 * generated_parser.y + checkAST do (same precedence table, `^` right-associative, unary
 * minus binding like `*`, aggregation modifiers before or after the arguments, error texts
 * "L:C: parse error: ..."). The first error ends the parse (longjmp to sl_promql_parse),
 * since every node lives in the expression's arena and nothing needs unwinding.
 */
#include "query/promql_pvt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/errors.h"

struct parser {
    struct pq_lexer lx;
    struct pq_token tok, peek;
    int has_peek;
    struct sl_promql_expr *e;
    struct pq_arena *a;
    struct sl_promql_error *err;
    jmp_buf jb;
};

static _Noreturn void perr_at(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static _Noreturn void perr_at(struct parser *p, size_t pos, const char *fmt, ...)
{
    int line = 1;
    size_t last_nl = (size_t)-1;
    for (size_t i = 0; i < pos && i < p->lx.len; i++)
        if (p->lx.in[i] == '\n') {
            line++;
            last_nl = i;
        }
    int col = (int)(pos - last_nl);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err->kind = SL_PQ_ERR_PARSE;
    p->err->line = line;
    p->err->col = col;
    p->err->pos = pos;
    snprintf(p->err->msg, sizeof p->err->msg, "%d:%d: parse error: %s", line, col, msg);
    longjmp(p->jb, 1);
}

static const char *type_name(int t)
{
    switch (t) {
    case SL_PQ_SCALAR: return "scalar";
    case SL_PQ_VECTOR: return "instant vector";
    case SL_PQ_MATRIX: return "range vector";
    case SL_PQ_STRING: return "string";
    default: return "none";
    }
}

static struct pq_token next(struct parser *p)
{
    if (p->has_peek) {
        p->has_peek = 0;
        p->tok = p->peek;
    } else {
        p->tok = pq_lex_next(&p->lx);
    }
    if (p->tok.type == T_ERROR)
        perr_at(p, p->tok.pos, "%s", p->lx.err);
    return p->tok;
}

static struct pq_token peek(struct parser *p)
{
    if (!p->has_peek) {
        p->peek = pq_lex_next(&p->lx);
        p->has_peek = 1;
        if (p->peek.type == T_ERROR) {
            p->has_peek = 0;
            perr_at(p, p->peek.pos, "%s", p->lx.err);
        }
    }
    return p->peek;
}

static _Noreturn void unexpected(struct parser *p, struct pq_token t, const char *ctx)
{
    const char *in = p->lx.in;
    char what[160];
    if (t.type == T_EOF)
        snprintf(what, sizeof what, "end of input");
    else if (t.type == T_AT)
        snprintf(what, sizeof what, "<op:@>");
    else if (pq_is_binop(t.type) && t.type != T_LAND && t.type != T_LOR && t.type != T_LUNLESS &&
             t.type != T_ATAN2)
        snprintf(what, sizeof what, "<op:%.*s>", (int)t.len, in + t.pos);
    else if (pq_is_aggregator(t.type))
        snprintf(what, sizeof what, "<aggr:%.*s>", (int)t.len, in + t.pos);
    else if (t.type >= T_LAND && t.type <= T_BOOL)
        snprintf(what, sizeof what, "<%.*s>", (int)t.len, in + t.pos);
    else if (t.type == T_IDENT || t.type == T_METRIC_IDENT || t.type == T_NUMBER ||
             t.type == T_DURATION || t.type == T_STRING)
        snprintf(what, sizeof what, "%s \"%.*s\"", pq_tok_desc(t.type), (int)(t.len > 40 ? 40 : t.len),
                 in + t.pos);
    else
        snprintf(what, sizeof what, "%s \"%.*s\"", pq_tok_desc(t.type), (int)t.len, in + t.pos);
    perr_at(p, t.pos, "unexpected %s%s%s", what, ctx ? " " : "", ctx ? ctx : "");
}

static struct pq_token expect(struct parser *p, int type, const char *ctx)
{
    struct pq_token t = next(p);
    if (t.type != type)
        unexpected(p, t, ctx);
    return t;
}

static struct pq_node *node(struct parser *p, int kind, size_t pos)
{
    struct pq_node *n = pq_alloc(p->a, sizeof *n);
    n->kind = kind;
    n->pos = pos;
    return n;
}

/* Unquote a string token the way strconv.Unquote does (single quotes allowed too). */
static char *unquote(struct parser *p, struct pq_token t)
{
    const char *s = p->lx.in + t.pos + 1;
    size_t n = t.len - 2;
    char *out = pq_alloc(p->a, n * 4 + 1), *o = out;
    if (p->lx.in[t.pos] == '`') {
        memcpy(out, s, n);
        out[n] = 0;
        return out;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        char e = s[++i];
        unsigned long cp;
        int hexlen = 0;
        switch (e) {
        case 'a': *o++ = '\a'; continue;
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'v': *o++ = '\v'; continue;
        case '\\': case '\'': case '"': *o++ = e; continue;
        case 'x': hexlen = 2; break;
        case 'u': hexlen = 4; break;
        case 'U': hexlen = 8; break;
        default: /* octal, validated by the lexer */
            cp = (unsigned long)((s[i] - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0'));
            if (cp > 255)
                perr_at(p, t.pos, "invalid syntax");
            i += 2;
            *o++ = (char)cp;
            continue;
        }
        char hb[9];
        memcpy(hb, s + i + 1, (size_t)hexlen);
        hb[hexlen] = 0;
        cp = strtoul(hb, NULL, 16);
        i += (size_t)hexlen;
        if (e == 'x') {
            *o++ = (char)cp;
            continue;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
            perr_at(p, t.pos, "invalid syntax");
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = 0;
    return out;
}

static double parse_number(struct parser *p, struct pq_token t)
{
    char buf[128];
    if (t.len >= sizeof buf)
        perr_at(p, t.pos, "error parsing number: %.*s", (int)t.len, p->lx.in + t.pos);
    memcpy(buf, p->lx.in + t.pos, t.len);
    buf[t.len] = 0;
    if (strcasecmp(buf, "inf") == 0)
        return INFINITY;
    if (strcasecmp(buf, "nan") == 0)
        return NAN;
    /* strconv.ParseInt(s, 0, 64) first: so "0x1f" is hex and "010" octal, as in Prometheus */
    char *end;
    errno = 0;
    long long iv = strtoll(buf, &end, 0);
    if (*end == 0 && errno == 0)
        return (double)iv;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != 0 || (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')))
        perr_at(p, t.pos, "error parsing number: %s", buf);
    return v;
}

static int64_t parse_dur(struct parser *p, struct pq_token t)
{
    int64_t ms;
    /* beyond 2^60 ms (36 million years) evaluation arithmetic could overflow */
    if (sl_promql_parse_duration(p->lx.in + t.pos, t.len, &ms) || ms > ((int64_t)1 << 60))
        perr_at(p, t.pos, "not a valid duration string: \"%.*s\"", (int)t.len, p->lx.in + t.pos);
    return ms;
}

static int is_label_word(int t)
{
    return t == T_IDENT || t == T_METRIC_IDENT || pq_is_aggregator(t) ||
           (t >= T_OFFSET && t <= T_BOOL) || t == T_LAND || t == T_LOR || t == T_LUNLESS ||
           t == T_ATAN2;
}

static int is_metric_word(int t)
{
    return t == T_IDENT || t == T_METRIC_IDENT || pq_is_aggregator(t) || t == T_BY ||
           t == T_WITHOUT || t == T_OFFSET || t == T_LAND || t == T_LOR || t == T_LUNLESS;
}

/* ( label, label, ... ) with an optional trailing comma */
static void parse_label_list(struct parser *p, char ***out, size_t *nout, const char *ctx)
{
    size_t cap = 0;
    *out = NULL;
    *nout = 0;
    expect(p, T_LPAREN, ctx);
    for (;;) {
        struct pq_token t = next(p);
        if (t.type == T_RPAREN)
            return;
        if (!is_label_word(t.type))
            unexpected(p, t, ctx);
        for (size_t i = 0; i < t.len; i++)
            if (p->lx.in[t.pos + i] == ':')
                perr_at(p, t.pos, "unexpected %s \"%.*s\" %s", pq_tok_desc(t.type), (int)t.len,
                        p->lx.in + t.pos, ctx);
        *PQ_PUSH(p->a, *out, *nout, cap) = pq_strndup(p->a, p->lx.in + t.pos, t.len);
        t = next(p);
        if (t.type == T_RPAREN)
            return;
        if (t.type != T_COMMA)
            unexpected(p, t, ctx);
    }
}

/* Matchers are allocated one by one while parsing (so the expression's registry can fini
 * them if a later token fails) and gathered into one array when the selector is complete. */
static void add_matcher(struct parser *p, struct sl_matcher ***tmp, size_t *n, size_t *cap,
                        int op, const char *name, const char *value, size_t pos)
{
    struct sl_matcher *m = pq_alloc(p->a, sizeof *m);
    char eb[256];
    int rc = sl_matcher_init(m, op, name, value, eb, sizeof eb);
    if (rc == -ENOMEM)
        longjmp(*p->a->oom, 1);
    if (rc)
        perr_at(p, pos, "%s", eb);
    *PQ_PUSH(p->a, p->e->matchers, p->e->nmatchers, p->e->capmatchers) = m;
    *PQ_PUSH(p->a, *tmp, *n, *cap) = m;
}

/* Vector selector: optional name (already consumed), optional {matchers}. */
static struct pq_node *parse_vsel(struct parser *p, const char *name, size_t pos)
{
    struct pq_node *n = node(p, PQ_VSEL, pos);
    struct sl_matcher **tmp = NULL;
    size_t ntmp = 0, cap = 0;
    n->type = SL_PQ_VECTOR;
    n->name = name;
    /* Matchers point into the matcher array, which may move while growing; the name
     * matcher goes first so the array can be built in one pass. */
    if (name)
        add_matcher(p, &tmp, &ntmp, &cap, SL_MATCH_EQ, "__name__", name, pos);
    if (peek(p).type == T_LBRACE) {
        next(p);
        for (;;) {
            struct pq_token t = next(p);
            if (t.type == T_RBRACE)
                break;
            if (t.type != T_IDENT)
                unexpected(p, t, "in label matching, expected label");
            char *lname = pq_strndup(p->a, p->lx.in + t.pos, t.len);
            struct pq_token op = next(p);
            int mop;
            switch (op.type) {
            case T_EQL: mop = SL_MATCH_EQ; break;
            case T_NEQ: mop = SL_MATCH_NEQ; break;
            case T_EQL_REGEX: mop = SL_MATCH_RE; break;
            case T_NEQ_REGEX: mop = SL_MATCH_NRE; break;
            default: unexpected(p, op, "in label matching, expected label matching operator");
            }
            struct pq_token v = next(p);
            if (v.type != T_STRING)
                unexpected(p, v, "in label matching, expected string");
            if (name && strcmp(lname, "__name__") == 0)
                perr_at(p, t.pos, "metric name must not be set twice: \"%s\" or \"%s\"", name,
                        unquote(p, v));
            add_matcher(p, &tmp, &ntmp, &cap, mop, lname, unquote(p, v), v.pos);
            t = next(p);
            if (t.type == T_RBRACE)
                break;
            if (t.type != T_COMMA)
                unexpected(p, t, "in label matching, expected comma or right brace");
        }
    }
    n->m = pq_alloc(p->a, (ntmp ? ntmp : 1) * sizeof *n->m);
    n->nm = ntmp;
    for (size_t i = 0; i < ntmp; i++) {
        n->m[i] = *tmp[i];
        /* the registry's last ntmp entries are these; point them at the final copies */
        p->e->matchers[p->e->nmatchers - ntmp + i] = &n->m[i];
    }
    int nonempty = 0;
    for (size_t i = 0; i < n->nm; i++)
        if (!sl_matcher_matches(&n->m[i], ""))
            nonempty = 1;
    if (!nonempty)
        perr_at(p, pos, "vector selector must contain at least one non-empty matcher");
    n->end = p->tok.pos + p->tok.len;
    return n;
}

static struct pq_node *parse_expr(struct parser *p, int min_prec);

static int binop_prec(int t)
{
    switch (t) {
    case T_LOR: return 1;
    case T_LAND: case T_LUNLESS: return 2;
    case T_EQLC: case T_NEQ: case T_LSS: case T_LTE: case T_GTR: case T_GTE: return 3;
    case T_ADD: case T_SUB: return 4;
    case T_MUL: case T_DIV: case T_MOD: case T_ATAN2: return 5;
    case T_POW: return 6;
    default: return 0;
    }
}

int pq_is_comparison(int op)
{
    return op >= T_EQLC && op <= T_GTE;
}

static int is_setop(int op)
{
    return op == T_LAND || op == T_LOR || op == T_LUNLESS;
}

static void check_type(struct parser *p, struct pq_node *n, int want, const char *ctx)
{
    if (n->type != want)
        perr_at(p, n->pos, "expected type %s in %s, got %s", type_name(want), ctx,
                type_name(n->type));
}

static struct pq_node *parse_call(struct parser *p, struct pq_token name)
{
    const struct pq_func *f = pq_func_lookup(p->lx.in + name.pos, name.len);
    if (!f)
        perr_at(p, name.pos, "unknown function with name \"%.*s\"", (int)name.len,
                p->lx.in + name.pos);
    struct pq_node *n = node(p, PQ_CALL, name.pos);
    size_t cap = 0;
    n->fn = f;
    n->type = f->ret;
    expect(p, T_LPAREN, "in call");
    if (peek(p).type == T_RPAREN) {
        next(p);
    } else {
        for (;;) {
            *PQ_PUSH(p->a, n->args, n->nargs, cap) = parse_expr(p, 1);
            struct pq_token t = next(p);
            if (t.type == T_RPAREN)
                break;
            if (t.type != T_COMMA)
                unexpected(p, t, "in function call, expected comma or right parenthesis");
        }
    }
    n->end = p->tok.pos + 1;
    int na = (int)n->nargs;
    if (f->variadic == 0 && na != f->nargs)
        perr_at(p, n->end - 1, "expected %d argument(s) in call to \"%s\", got %d", f->nargs,
                f->name, na);
    if (f->variadic != 0 && na < f->nargs)
        perr_at(p, n->end - 1, "expected at least %d argument(s) in call to \"%s\", got %d",
                f->nargs, f->name, na);
    if (f->variadic > 0 && na > f->nargs + f->variadic)
        perr_at(p, n->end - 1, "expected at most %d argument(s) in call to \"%s\", got %d",
                f->nargs + f->variadic, f->name, na);
    for (int i = 0; i < na; i++) {
        int want = i < 6 ? f->argtypes[i] : f->argtypes[5];
        if (want == SL_PQ_NONE)
            want = f->argtypes[f->nargs > 0 ? f->nargs - 1 : 0];
        if (n->args[i]->type != want)
            perr_at(p, n->args[i]->pos, "expected type %s in call to function \"%s\", got %s",
                    type_name(want), f->name, type_name(n->args[i]->type));
    }
    return n;
}

static struct pq_node *parse_agg(struct parser *p, struct pq_token op)
{
    struct pq_node *n = node(p, PQ_AGG, op.pos);
    n->op = op.type;
    n->type = SL_PQ_VECTOR;
    struct pq_token t = peek(p);
    if (t.type == T_BY || t.type == T_WITHOUT) {
        next(p);
        n->without = t.type == T_WITHOUT;
        n->has_grouping = 1;
        parse_label_list(p, &n->grouping, &n->ngrouping, "in grouping opts");
    }
    expect(p, T_LPAREN, "in aggregation");
    struct pq_node *args[3];
    int na = 0;
    if (peek(p).type != T_RPAREN) {
        for (;;) {
            struct pq_node *x = parse_expr(p, 1);
            if (na < 3)
                args[na] = x;
            na++;
            t = next(p);
            if (t.type == T_RPAREN)
                break;
            if (t.type != T_COMMA)
                unexpected(p, t, "in aggregation, expected comma or right parenthesis");
        }
    } else {
        next(p);
    }
    n->end = p->tok.pos + 1;
    int want = (op.type == T_TOPK || op.type == T_BOTTOMK || op.type == T_COUNT_VALUES ||
                op.type == T_QUANTILE) ? 2 : 1;
    if (na != want)
        perr_at(p, op.pos, "wrong number of arguments for aggregate expression provided, expected %d, got %d",
                want, na);
    n->a = args[want - 1];
    if (want == 2) {
        n->b = args[0];
        check_type(p, n->b, op.type == T_COUNT_VALUES ? SL_PQ_STRING : SL_PQ_SCALAR,
                   "aggregation parameter");
    }
    if (n->a->type != SL_PQ_VECTOR)
        perr_at(p, n->a->pos, "expected type instant vector in aggregation expression, got %s",
                type_name(n->a->type));
    t = peek(p);
    if (t.type == T_BY || t.type == T_WITHOUT) {
        if (n->has_grouping)
            unexpected(p, t, NULL);
        next(p);
        n->without = t.type == T_WITHOUT;
        n->has_grouping = 1;
        parse_label_list(p, &n->grouping, &n->ngrouping, "in grouping opts");
        n->end = p->tok.pos + 1;
    }
    return n;
}

static void set_offset_or_at(struct parser *p, struct pq_node *n, int is_at, int64_t v,
                             int at_kind, size_t pos)
{
    struct pq_node *t = n;
    if (t->kind == PQ_MSEL)
        t = t->a;
    /* positions as Prometheus reports them: the start of the modified expression */
    pos = n->pos;
    if (t->kind != PQ_VSEL && t->kind != PQ_SUBQ)
        perr_at(p, pos, is_at ? "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery"
                              : "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    if (is_at) {
        if (t->at_kind != PQ_AT_NONE)
            perr_at(p, pos, "@ <timestamp> may not be set multiple times");
        t->at_kind = at_kind;
        t->at = v;
    } else {
        if (t->offset != 0)
            perr_at(p, pos, "offset may not be set multiple times");
        t->offset = v;
    }
}

static struct pq_node *parse_postfix(struct parser *p, struct pq_node *n)
{
    for (;;) {
        struct pq_token t = peek(p);
        if (t.type == T_LBRACKET) {
            next(p);
            struct pq_token d = next(p);
            if (d.type != T_DURATION)
                unexpected(p, d, "in subquery or range selector, expected duration");
            int64_t range = parse_dur(p, d);
            struct pq_token c = next(p);
            if (c.type == T_RBRACKET) {
                if (n->kind != PQ_VSEL)
                    perr_at(p, t.pos, "ranges only allowed for vector selectors");
                if (n->offset || n->at_kind)
                    perr_at(p, t.pos, "no offset or @ modifiers allowed before range");
                struct pq_node *m = node(p, PQ_MSEL, n->pos);
                m->a = n;
                m->range = range;
                m->type = SL_PQ_MATRIX;
                m->end = c.pos + 1;
                n = m;
                continue;
            }
            if (c.type != T_COLON)
                unexpected(p, c, "in subquery or range selector, expected colon or right bracket");
            struct pq_node *s = node(p, PQ_SUBQ, n->pos);
            s->a = n;
            s->range = range;
            s->type = SL_PQ_MATRIX;
            c = next(p);
            if (c.type == T_DURATION) {
                s->step = parse_dur(p, c);
                if (s->step == 0)
                    perr_at(p, c.pos, "zero step in subquery");
                c = next(p);
            }
            if (c.type != T_RBRACKET)
                unexpected(p, c, "in subquery, expected right bracket");
            if (n->type != SL_PQ_VECTOR && n->type != SL_PQ_SCALAR)
                perr_at(p, n->pos, "subquery is only allowed on instant vector, got %s instead",
                        type_name(n->type));
            s->end = c.pos + 1;
            n = s;
        } else if (t.type == T_OFFSET) {
            next(p);
            struct pq_token d = next(p);
            int neg = 0;
            if (d.type == T_SUB || d.type == T_ADD) {
                neg = d.type == T_SUB;
                d = next(p);
            }
            if (d.type != T_DURATION)
                unexpected(p, d, "in offset, expected duration");
            int64_t off = parse_dur(p, d);
            set_offset_or_at(p, n, 0, neg ? -off : off, 0, t.pos);
            n->end = d.pos + d.len;
        } else if (t.type == T_AT) {
            next(p);
            struct pq_token d = next(p);
            int neg = 0;
            if (d.type == T_SUB || d.type == T_ADD) {
                neg = d.type == T_SUB;
                d = next(p);
            }
            if (d.type == T_NUMBER) {
                double v = parse_number(p, d);
                if (neg)
                    v = -v;
                if (!isfinite(v) || fabs(v * 1000) > 1.15e18) /* 2^60 ms, see parse_dur */
                    perr_at(p, d.pos, "timestamp out of bounds for @ modifier: %g", v);
                set_offset_or_at(p, n, 1, (int64_t)llround(v * 1000), PQ_AT_TIME, t.pos);
                n->end = d.pos + d.len;
            } else if (d.type == T_IDENT && !neg &&
                       ((d.len == 5 && memcmp(p->lx.in + d.pos, "start", 5) == 0) ||
                        (d.len == 3 && memcmp(p->lx.in + d.pos, "end", 3) == 0))) {
                int kind = d.len == 5 ? PQ_AT_START : PQ_AT_END;
                expect(p, T_LPAREN, "in @");
                expect(p, T_RPAREN, "in @");
                set_offset_or_at(p, n, 1, 0, kind, t.pos);
                n->end = p->tok.pos + 1;
            } else {
                unexpected(p, d, "in @, expected timestamp");
            }
        } else {
            return n;
        }
    }
}

static struct pq_node *parse_primary(struct parser *p)
{
    struct pq_token t = next(p);
    struct pq_node *n;
    switch (t.type) {
    case T_NUMBER:
        n = node(p, PQ_NUM, t.pos);
        n->num = parse_number(p, t);
        n->type = SL_PQ_SCALAR;
        n->end = t.pos + t.len;
        return n;
    case T_STRING:
        n = node(p, PQ_STR, t.pos);
        n->str = unquote(p, t);
        n->type = SL_PQ_STRING;
        n->end = t.pos + t.len;
        return n;
    case T_LPAREN:
        n = node(p, PQ_PAREN, t.pos);
        n->a = parse_expr(p, 1);
        n->type = n->a->type;
        expect(p, T_RPAREN, "in paren expression, expected right parenthesis");
        n->end = p->tok.pos + 1;
        return n;
    case T_LBRACE:
        p->has_peek = 1;
        p->peek = t;
        p->lx.brace_depth = 1; /* the lexer already entered the braces for this token */
        return parse_vsel(p, NULL, t.pos);
    default:
        break;
    }
    if (pq_is_aggregator(t.type)) {
        int nt = peek(p).type;
        if (nt == T_LPAREN || nt == T_BY || nt == T_WITHOUT)
            return parse_agg(p, t);
    }
    if (t.type == T_IDENT && peek(p).type == T_LPAREN)
        return parse_call(p, t);
    if (is_metric_word(t.type))
        return parse_vsel(p, pq_strndup(p->a, p->lx.in + t.pos, t.len), t.pos);
    unexpected(p, t, NULL);
}

static struct pq_node *parse_unary(struct parser *p)
{
    struct pq_token t = peek(p);
    if (t.type == T_ADD || t.type == T_SUB) {
        next(p);
        struct pq_node *x = parse_expr(p, 6);
        if (x->type != SL_PQ_SCALAR && x->type != SL_PQ_VECTOR)
            perr_at(p, t.pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                    type_name(x->type));
        if (x->kind == PQ_NUM) { /* folded like generated_parser.y does */
            if (t.type == T_SUB)
                x->num = -x->num;
            x->pos = t.pos;
            return x;
        }
        struct pq_node *n = node(p, PQ_UNARY, t.pos);
        n->op = t.type;
        n->a = x;
        n->type = x->type;
        n->end = x->end;
        return n;
    }
    return parse_postfix(p, parse_primary(p));
}

static struct pq_node *parse_binary_rest(struct parser *p, struct pq_node *lhs, struct pq_token op)
{
    struct pq_node *n = node(p, PQ_BINARY, lhs->pos);
    n->op = op.type;
    n->a = lhs;
    struct pq_token t = peek(p);
    if (t.type == T_BOOL) {
        next(p);
        n->return_bool = 1;
        t = peek(p);
    }
    if (t.type == T_ON || t.type == T_IGNORING) {
        next(p);
        n->has_matching = 1;
        n->on = t.type == T_ON;
        parse_label_list(p, &n->mlabels, &n->nmlabels, "in grouping opts");
        t = peek(p);
        if (t.type == T_GROUP_LEFT || t.type == T_GROUP_RIGHT) {
            next(p);
            n->card = t.type == T_GROUP_LEFT ? PQ_CARD_MANY_TO_ONE : PQ_CARD_ONE_TO_MANY;
            if (peek(p).type == T_LPAREN)
                parse_label_list(p, &n->include, &n->ninclude, "in grouping opts");
        }
    }
    int prec = binop_prec(op.type);
    n->b = parse_expr(p, op.type == T_POW ? prec : prec + 1);
    n->end = n->b->end;
    struct pq_node *l = n->a, *r = n->b;
    /* checkAST for binary expressions */
    if (n->return_bool && !pq_is_comparison(n->op))
        perr_at(p, op.pos, "bool modifier can only be used on comparison operators");
    if ((l->type != SL_PQ_SCALAR && l->type != SL_PQ_VECTOR) ||
        (r->type != SL_PQ_SCALAR && r->type != SL_PQ_VECTOR))
        perr_at(p, n->pos, "binary expression must contain only scalar and instant vector types");
    if (pq_is_comparison(n->op) && l->type == SL_PQ_SCALAR && r->type == SL_PQ_SCALAR &&
        !n->return_bool)
        perr_at(p, op.pos, "comparisons between scalars must use BOOL modifier");
    if (is_setop(n->op)) {
        if (l->type == SL_PQ_SCALAR || r->type == SL_PQ_SCALAR)
            perr_at(p, n->pos, "set operator \"%.*s\" not allowed in binary scalar expression",
                    (int)op.len, p->lx.in + op.pos);
        if (n->card == PQ_CARD_MANY_TO_ONE || n->card == PQ_CARD_ONE_TO_MANY)
            perr_at(p, op.pos, "no grouping allowed for \"%.*s\" operation", (int)op.len,
                    p->lx.in + op.pos);
        n->card = PQ_CARD_MANY_TO_MANY;
    }
    if (n->has_matching && (l->type == SL_PQ_SCALAR || r->type == SL_PQ_SCALAR))
        perr_at(p, n->pos, "vector matching only allowed between instant vectors");
    if (n->on)
        for (size_t i = 0; i < n->nmlabels; i++)
            for (size_t j = 0; j < n->ninclude; j++)
                if (strcmp(n->mlabels[i], n->include[j]) == 0)
                    perr_at(p, n->pos, "label \"%s\" must not occur in ON and GROUP clause at once",
                            n->include[j]);
    n->type = (l->type == SL_PQ_SCALAR && r->type == SL_PQ_SCALAR) ? SL_PQ_SCALAR : SL_PQ_VECTOR;
    return n;
}

static struct pq_node *parse_expr(struct parser *p, int min_prec)
{
    struct pq_node *lhs = parse_unary(p);
    for (;;) {
        struct pq_token t = peek(p);
        int prec = binop_prec(t.type);
        if (!prec || prec < min_prec)
            return lhs;
        next(p);
        lhs = parse_binary_rest(p, lhs, t);
    }
}

static void expr_free_matchers(struct sl_promql_expr *e)
{
    for (size_t i = 0; i < e->nmatchers; i++)
        sl_matcher_fini(e->matchers[i]);
    e->nmatchers = 0;
}

int sl_promql_parse(const char *input, struct sl_promql_expr **out, struct sl_promql_error *err)
{
    struct sl_promql_expr *e = calloc(1, sizeof *e);
    struct parser *p = calloc(1, sizeof *p);
    memset(err, 0, sizeof *err);
    if (!e || !p) {
        free(e);
        free(p);
        return -ENOMEM;
    }
    jmp_buf oom;
    if (setjmp(oom)) {
        expr_free_matchers(e);
        pq_arena_fini(&e->arena);
        free(e);
        free(p);
        err->kind = SL_PQ_ERR_INTERNAL;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -ENOMEM;
    }
    e->arena.oom = &oom;
    p->e = e;
    p->a = &e->arena;
    p->err = err;
    pq_lex_init(&p->lx, input);
    if (setjmp(p->jb)) {
        expr_free_matchers(e);
        pq_arena_fini(&e->arena);
        free(e);
        free(p);
        return SL_E_PROTO;
    }
    struct pq_token t = peek(p);
    if (t.type == T_EOF)
        perr_at(p, 0, "no expression found in input");
    e->root = parse_expr(p, 1);
    t = next(p);
    if (t.type != T_EOF)
        unexpected(p, t, NULL);
    e->arena.oom = NULL;
    free(p);
    *out = e;
    return 0;
}

void sl_promql_expr_free(struct sl_promql_expr *e)
{
    if (!e)
        return;
    expr_free_matchers(e);
    pq_arena_fini(&e->arena);
    free(e);
}

int sl_promql_expr_type(const struct sl_promql_expr *e)
{
    return e->root->type;
}

int sl_promql_parse_selector(const char *input, struct sl_promql_expr **out,
                             const struct sl_matcher **m, size_t *nm,
                             struct sl_promql_error *err)
{
    struct sl_promql_expr *e;
    int rc = sl_promql_parse(input, &e, err);
    if (rc)
        return rc;
    const struct pq_node *n = e->root;
    if (n->kind != PQ_VSEL || n->offset || n->at_kind) {
        size_t pos = n->kind == PQ_MSEL ? n->a->end : n->pos;
        sl_promql_expr_free(e);
        err->kind = SL_PQ_ERR_PARSE;
        err->line = 1;
        err->col = (int)pos + 1;
        err->pos = pos;
        snprintf(err->msg, sizeof err->msg, "1:%zu: parse error: expected a series selector",
                 pos + 1);
        return SL_E_PROTO;
    }
    *m = n->m;
    *nm = n->nm;
    *out = e;
    return 0;
}
