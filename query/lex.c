/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL lexer and the query arena. The lexer follows Prometheus' promql/parser/lex.go:
 * keywords are case-insensitive, "inf" and "nan" are numbers, a number directly followed by
 * a unit letter is a duration ("5m", "1h30m", "250ms"), identifiers inside braces are label
 * names (never keywords), and ':' is a separator only inside brackets ("[5m:1m]"), otherwise
 * part of a metric name. It works on the NUL-terminated input in place and returns
 * positions; the parser copies what it keeps.
 *
 *     rate(http_requests_total{job=~"api.*"}[5m] offset 1h)
 *     ^^^^^                   ^^^ ^^ ^^^^^^^  ^^ ^^^^^^ ^^
 *     IDENT  METRIC/IDENT   IDENT EQL_REGEX STRING DURATION OFFSET DURATION
 */
#include "query/promql_pvt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- arena ----------------------------------------------------------------------------- */

struct pq_chunk {
    struct pq_chunk *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define PQ_CHUNK_MIN (64 * 1024)

/* Uninitialised; for memory the caller fills completely. */
void *pq_alloc_raw(struct pq_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->cap - a->used < n) {
        size_t cap = n > PQ_CHUNK_MIN ? n : PQ_CHUNK_MIN;
        struct pq_chunk *c = malloc(sizeof *c + cap);
        if (!c) {
            if (a->oom)
                longjmp(*a->oom, 1);
            return NULL;
        }
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->used = 0;
        a->cap = cap;
        a->total += cap;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

void *pq_alloc(struct pq_arena *a, size_t n)
{
    void *p = pq_alloc_raw(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *pq_memdup(struct pq_arena *a, const void *p, size_t n)
{
    void *q = pq_alloc_raw(a, n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

char *pq_strndup(struct pq_arena *a, const char *s, size_t n)
{
    char *q = pq_alloc_raw(a, n + 1);
    if (q) {
        memcpy(q, s, n);
        q[n] = 0;
    }
    return q;
}

char *pq_strdup(struct pq_arena *a, const char *s)
{
    return pq_strndup(a, s, strlen(s));
}

struct pq_mark pq_arena_mark(const struct pq_arena *a)
{
    return (struct pq_mark){a->head, a->used};
}

void pq_arena_release(struct pq_arena *a, struct pq_mark m)
{
    while (a->head && a->head != m.head) {
        struct pq_chunk *c = a->head;
        a->head = c->next;
        a->total -= c->cap;
        free(c);
    }
    if (a->head) {
        a->used = m.used;
        a->cap = a->head->cap;
    } else {
        a->used = a->cap = 0;
    }
}

void pq_arena_fini(struct pq_arena *a)
{
    pq_arena_release(a, (struct pq_mark){NULL, 0});
    a->total = 0;
}

void pq_arena_adopt(struct pq_arena *dst, struct pq_arena *src)
{
    if (!src->head)
        return;
    if (!dst->head) {
        dst->head = src->head;
        dst->used = src->used;
        dst->cap = src->cap;
    } else {
        /* below dst's head, which stays the chunk dst allocates from */
        struct pq_chunk *tail = src->head;
        while (tail->next)
            tail = tail->next;
        tail->next = dst->head->next;
        dst->head->next = src->head;
    }
    dst->total += src->total;
    src->head = NULL;
    src->used = src->cap = src->total = 0;
}

void pq_grow(struct pq_arena *a, void **p, size_t *cap, size_t n, size_t sz)
{
    size_t nc = *cap ? *cap * 2 : 8;
    unsigned char *q = pq_alloc_raw(a, nc * sz);
    if (!q)
        return; /* only without an unwind target; the caller then writes past: never used so */
    if (n)
        memcpy(q, *p, n * sz);
    memset(q + n * sz, 0, (nc - n) * sz); /* pushed elements start zeroed */
    *p = q;
    *cap = nc;
}

/* ---- durations ------------------------------------------------------------------------- */

/* Prometheus model.ParseDuration: units in descending order, each at most once,
 * ^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$ */
int sl_promql_parse_duration(const char *s, size_t len, int64_t *ms)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
                 {"h", 3600000},          {"m", 60000},          {"s", 1000},
                 {"ms", 1}};
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    if (len == 0)
        return -EINVAL;
    if (len == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    while (i < len) {
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        int64_t v = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (v > INT64_MAX / 10)
                return -EINVAL;
            v = v * 10 + (s[i++] - '0');
        }
        size_t ul = 0;
        while (i + ul < len && isalpha((unsigned char)s[i + ul]))
            ul++;
        size_t k;
        for (k = next_unit; k < sizeof units / sizeof units[0]; k++)
            if (strlen(units[k].u) == ul && memcmp(units[k].u, s + i, ul) == 0)
                break;
        if (k == sizeof units / sizeof units[0])
            return -EINVAL;
        if (v > INT64_MAX / units[k].ms || total > INT64_MAX - v * units[k].ms)
            return -EINVAL;
        total += v * units[k].ms;
        next_unit = k + 1;
        i += ul;
    }
    *ms = total;
    return 0;
}

/* ---- lexer ----------------------------------------------------------------------------- */

static const struct {
    const char *w;
    int t;
} keywords[] = {
    {"and", T_LAND},         {"or", T_LOR},           {"unless", T_LUNLESS},
    {"atan2", T_ATAN2},      {"sum", T_SUM},          {"avg", T_AVG},
    {"count", T_COUNT},      {"min", T_MIN},          {"max", T_MAX},
    {"group", T_GROUP},      {"stddev", T_STDDEV},    {"stdvar", T_STDVAR},
    {"topk", T_TOPK},        {"bottomk", T_BOTTOMK},  {"count_values", T_COUNT_VALUES},
    {"quantile", T_QUANTILE}, {"offset", T_OFFSET},   {"by", T_BY},
    {"without", T_WITHOUT},  {"on", T_ON},            {"ignoring", T_IGNORING},
    {"group_left", T_GROUP_LEFT}, {"group_right", T_GROUP_RIGHT}, {"bool", T_BOOL},
};

int pq_is_binop(int t)
{
    return t >= T_ADD && t <= T_LUNLESS;
}

int pq_is_aggregator(int t)
{
    return t >= T_SUM && t <= T_QUANTILE;
}

int pq_is_keyword_tok(int t)
{
    return t >= T_LAND && t <= T_END && t != T_ADD;
}

const char *pq_tok_desc(int t)
{
    switch (t) {
    case T_EOF: return "end of input";
    case T_IDENT: return "identifier";
    case T_METRIC_IDENT: return "metric identifier";
    case T_NUMBER: return "number";
    case T_DURATION: return "duration";
    case T_STRING: return "string";
    case T_LBRACE: return "left brace";
    case T_RBRACE: return "right brace";
    case T_LPAREN: return "left parenthesis";
    case T_RPAREN: return "right parenthesis";
    case T_LBRACKET: return "left bracket";
    case T_RBRACKET: return "right bracket";
    case T_COMMA: return "comma";
    case T_COLON: return "colon";
    case T_AT: return "@";
    case T_EQL: return "=";
    default: return "token";
    }
}

void pq_lex_init(struct pq_lexer *l, const char *in)
{
    memset(l, 0, sizeof *l);
    l->in = in;
    l->len = strlen(in);
}

static int is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(int c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static struct pq_token lex_err(struct pq_lexer *l, size_t pos, const char *msg)
{
    if (msg != l->errbuf)
        snprintf(l->errbuf, sizeof l->errbuf, "%s", msg);
    l->err = l->errbuf;
    l->pos = l->len; /* stop */
    return (struct pq_token){T_ERROR, pos, 0};
}

static int accept_digits(struct pq_lexer *l, int hex)
{
    size_t s = l->pos;
    while (l->pos < l->len &&
           (isdigit((unsigned char)l->in[l->pos]) || (hex && isxdigit((unsigned char)l->in[l->pos]))))
        l->pos++;
    return l->pos > s;
}

static int accept(struct pq_lexer *l, const char *set)
{
    if (l->pos < l->len && strchr(set, l->in[l->pos])) {
        l->pos++;
        return 1;
    }
    return 0;
}

static struct pq_token lex_number(struct pq_lexer *l, size_t start)
{
    int hex = 0;
    if (l->in[l->pos] == '0' && (l->in[l->pos + 1] == 'x' || l->in[l->pos + 1] == 'X')) {
        l->pos += 2;
        hex = 1;
    }
    accept_digits(l, hex);
    if (accept(l, "."))
        accept_digits(l, hex);
    if (accept(l, "eE")) {
        accept(l, "+-");
        accept_digits(l, 0);
    }
    if (l->pos >= l->len || !is_alnum((unsigned char)l->in[l->pos]))
        return (struct pq_token){T_NUMBER, start, l->pos - start};
    /* a duration: unit letters, optionally more number+unit groups (lex.go
     * acceptRemainingDuration) */
    if (!accept(l, "smhdwy"))
        goto bad;
    accept(l, "s");
    while (accept_digits(l, 0)) {
        if (!accept(l, "smhdw"))
            goto bad;
        accept(l, "s");
    }
    if (l->pos < l->len && is_alnum((unsigned char)l->in[l->pos])) {
        l->pos++; /* lex.go reads this character before giving up: "0de" of "0deadbeef" */
        goto bad;
    }
    return (struct pq_token){T_DURATION, start, l->pos - start};
bad:
    snprintf(l->errbuf, sizeof l->errbuf, "bad number or duration syntax: \"%.*s\"",
             (int)(l->pos - start), l->in + start);
    l->err = l->errbuf;
    l->pos = l->len;
    return (struct pq_token){T_ERROR, start, 0};
}

static struct pq_token lex_string(struct pq_lexer *l, size_t start)
{
    char q = l->in[l->pos++];
    while (l->pos < l->len) {
        char c = l->in[l->pos++];
        if (c == q)
            return (struct pq_token){T_STRING, start, l->pos - start};
        if (q == '`')
            continue;
        if (c == '\n')
            break;
        if (c == '\\') {
            if (l->pos >= l->len)
                break;
            char e = l->in[l->pos++];
            int need = 0;
            switch (e) {
            case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
                break;
            case '\'': case '"':
                if (e != q)
                    return lex_err(l, l->pos - 2, "unknown escape sequence");
                break;
            case 'x': need = 2; break;
            case 'u': need = 4; break;
            case 'U': need = 8; break;
            case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                for (int k = 0; k < 2; k++)
                    if (l->pos >= l->len || l->in[l->pos] < '0' || l->in[l->pos] > '7')
                        return lex_err(l, l->pos, "invalid character in escape sequence");
                    else
                        l->pos++;
                break;
            default:
                return lex_err(l, l->pos - 2, "unknown escape sequence");
            }
            for (int k = 0; k < need; k++) {
                if (l->pos >= l->len || !isxdigit((unsigned char)l->in[l->pos]))
                    return lex_err(l, l->pos, "invalid character in escape sequence");
                l->pos++;
            }
        }
    }
    return lex_err(l, start, q == '`' ? "unterminated raw string" : "unterminated quoted string");
}

struct pq_token pq_lex_next(struct pq_lexer *l)
{
    for (;;) {
        while (l->pos < l->len && strchr(" \t\n\r", l->in[l->pos]))
            l->pos++;
        if (l->pos < l->len && l->in[l->pos] == '#') {
            while (l->pos < l->len && l->in[l->pos] != '\n')
                l->pos++;
            continue;
        }
        break;
    }
    size_t s = l->pos;
    if (s >= l->len) {
        if (l->brace_depth)
            return lex_err(l, s, "unexpected end of input inside braces");
        if (l->paren_depth)
            return lex_err(l, s, "unclosed left parenthesis");
        if (l->bracket_depth)
            return lex_err(l, s, "unclosed left bracket");
        return (struct pq_token){T_EOF, s, 0};
    }
    char c = l->in[s];
    char n = s + 1 < l->len ? l->in[s + 1] : 0;
#define TOK(t, len_) \
    do { \
        l->pos = s + (len_); \
        return (struct pq_token){(t), s, (len_)}; \
    } while (0)
    if (l->brace_depth) {
        /* inside braces: label names, strings, matcher operators, commas */
        switch (c) {
        case ',': TOK(T_COMMA, 1);
        case '}': l->brace_depth--; TOK(T_RBRACE, 1);
        case '{': return lex_err(l, s, "unexpected left brace '{'");
        case '"': case '\'': case '`': return lex_string(l, s);
        case '=':
            if (n == '~')
                TOK(T_EQL_REGEX, 2);
            if (n == '=')
                return lex_err(l, s, "unexpected character inside braces: '='");
            TOK(T_EQL, 1);
        case '!':
            if (n == '~')
                TOK(T_NEQ_REGEX, 2);
            if (n == '=')
                TOK(T_NEQ, 2);
            return lex_err(l, s, "unexpected character inside braces: '!'");
        default:
            if (is_alpha((unsigned char)c)) {
                l->pos = s;
                while (l->pos < l->len && is_alnum((unsigned char)l->in[l->pos]))
                    l->pos++;
                return (struct pq_token){T_IDENT, s, l->pos - s};
            }
            snprintf(l->errbuf, sizeof l->errbuf, "unexpected character inside braces: '%c'", c);
            return lex_err(l, s, l->errbuf);
        }
    }
    switch (c) {
    case ',': TOK(T_COMMA, 1);
    case '(': l->paren_depth++; TOK(T_LPAREN, 1);
    case ')':
        if (!l->paren_depth) /* lex.go reports it after the parenthesis */
            return lex_err(l, s + 1, "unexpected right parenthesis ')'");
        l->paren_depth--;
        TOK(T_RPAREN, 1);
    case '{': l->brace_depth++; TOK(T_LBRACE, 1);
    case '}': return lex_err(l, s, "unexpected right brace '}'");
    case '[':
        if (l->bracket_depth)
            return lex_err(l, s, "unexpected left bracket '['");
        l->bracket_depth++;
        TOK(T_LBRACKET, 1);
    case ']':
        if (!l->bracket_depth)
            return lex_err(l, s, "unexpected right bracket ']'");
        l->bracket_depth--;
        TOK(T_RBRACKET, 1);
    case '@': TOK(T_AT, 1);
    case '+': TOK(T_ADD, 1);
    case '-': TOK(T_SUB, 1);
    case '*': TOK(T_MUL, 1);
    case '/': TOK(T_DIV, 1);
    case '%': TOK(T_MOD, 1);
    case '^': TOK(T_POW, 1);
    case '=':
        if (n == '=')
            TOK(T_EQLC, 2);
        if (n == '~') /* regex matching exists only inside braces */
            return lex_err(l, s, "unexpected character after '=': '~'");
        TOK(T_EQL, 1);
    case '!':
        if (n == '=')
            TOK(T_NEQ, 2);
        if (n)
            snprintf(l->errbuf, sizeof l->errbuf, "unexpected character after '!': '%c'", n);
        else
            snprintf(l->errbuf, sizeof l->errbuf, "unexpected character after '!'");
        return lex_err(l, s, l->errbuf);
    case '<':
        if (n == '=')
            TOK(T_LTE, 2);
        TOK(T_LSS, 1);
    case '>':
        if (n == '=')
            TOK(T_GTE, 2);
        TOK(T_GTR, 1);
    case '"': case '\'': case '`':
        return lex_string(l, s);
    case ':':
        if (l->bracket_depth)
            TOK(T_COLON, 1);
        break;
    default:
        break;
    }
#undef TOK
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)n))) {
        l->pos = s;
        return lex_number(l, s);
    }
    if (is_alpha((unsigned char)c) || c == ':') {
        int colon = 0;
        l->pos = s;
        while (l->pos < l->len && (is_alnum((unsigned char)l->in[l->pos]) || l->in[l->pos] == ':')) {
            colon |= l->in[l->pos] == ':';
            l->pos++;
        }
        size_t len = l->pos - s;
        if (!colon) {
            for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
                if (strlen(keywords[i].w) == len && strncasecmp(keywords[i].w, l->in + s, len) == 0)
                    return (struct pq_token){keywords[i].t, s, len};
            if ((len == 3 && (strncasecmp(l->in + s, "inf", 3) == 0 ||
                              strncasecmp(l->in + s, "nan", 3) == 0)))
                return (struct pq_token){T_NUMBER, s, len};
            return (struct pq_token){T_IDENT, s, len};
        }
        return (struct pq_token){T_METRIC_IDENT, s, len};
    }
    snprintf(l->errbuf, sizeof l->errbuf, "unexpected character: '%c'", c);
    return lex_err(l, s, l->errbuf);
}
