/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL conformance runner over Prometheus' own v2.42 test files (promql/testdata,
 * kept in ../shared/conformance/promql/; their README describes the format: load, clear,
 * eval instant at, eval_fail, eval_ordered). Each file's data is loaded into a fresh
 * memsource; each eval is sent as a request to the /api/v1/query handler of query/api.h
 * (the route table the daemon mounts) and its JSON answer is decoded and compared; like
 * Prometheus' own harness, it is then run once more through /api/v1/query_range from t-1m
 * to t+1m by 1m, whose middle step must give the same answer. Values compare with relative
 * tolerance 1e-6, NaN equal to NaN.
 *
 * Usage: promql_conformance DIR [--list OUT] [--check PASSLIST] [-v]
 *   prints "<file>: P passed, F failed" per file and "N passed, M failed" at the end;
 *   --list writes the passing cases as file:line; --check exits 1 if a case in PASSLIST
 *   fails now (a regression) and prints cases that pass but are not listed yet.
 * Exit: 0, 1 (regression, or any failure without --check), 77 if DIR is missing.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api.h"
#include "query/promql.h"

#define MAXL 64

struct lbls {
    struct sl_qlabel l[MAXL];
    char *own[2 * MAXL];
    size_t n, nown;
};

static void lbls_free(struct lbls *ls)
{
    for (size_t i = 0; i < ls->nown; i++)
        free(ls->own[i]);
    ls->n = ls->nown = 0;
}

static char *own(struct lbls *ls, const char *s, size_t n)
{
    char *p = strndup(s, n);
    ls->own[ls->nown++] = p;
    return p;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* metric{a="b", c="d"} -> labels; returns pointer after the descriptor or NULL */
static const char *parse_desc(const char *p, struct lbls *ls)
{
    p = skip_ws(p);
    const char *s = p;
    while (*p && *p != '{' && *p != ' ' && *p != '\t')
        p++;
    if (p > s) {
        ls->l[ls->n].name = "__name__";
        ls->l[ls->n++].value = own(ls, s, (size_t)(p - s));
    }
    if (*p != '{')
        return p;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (*p == '}')
            return p + 1;
        s = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        const char *name = own(ls, s, (size_t)(p - s));
        p = skip_ws(p);
        if (*p != '=')
            return NULL;
        p = skip_ws(p + 1);
        char q = *p;
        if (q != '"' && q != '\'')
            return NULL;
        p++;
        char buf[1024];
        size_t n = 0;
        while (*p && *p != q && n < sizeof buf - 1) {
            if (*p == '\\' && p[1]) {
                p++;
                buf[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            } else {
                buf[n++] = *p;
            }
            p++;
        }
        if (*p != q)
            return NULL;
        p++;
        if (ls->n < MAXL) {
            ls->l[ls->n].name = name;
            ls->l[ls->n++].value = own(ls, buf, n);
        }
        p = skip_ws(p);
        if (*p == ',')
            p++;
    }
}

static int cmp_lbl(const void *a, const void *b)
{
    return strcmp(((const struct sl_qlabel *)a)->name, ((const struct sl_qlabel *)b)->name);
}

static void canon(const struct sl_qlabel *l, size_t n, char *out, size_t cap)
{
    struct sl_qlabel tmp[MAXL];
    size_t k = 0;
    for (size_t i = 0; i < n && k < MAXL; i++)
        if (l[i].value[0])
            tmp[k++] = l[i];
    qsort(tmp, k, sizeof *tmp, cmp_lbl);
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < k && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s=\"%s\",", tmp[i].name, tmp[i].value);
}

static int parse_value(const char *tok, double *v)
{
    char *end;
    if (strcmp(tok, "stale") == 0) {
        uint64_t bits = SL_STALE_NAN_BITS;
        memcpy(v, &bits, sizeof *v);
        return 0;
    }
    *v = strtod(tok, &end);
    return *end ? -1 : 0;
}

/* Expand "a+bxN", "a-bxN", "axN", "_", "_xN", "stale", numbers; @emit(t_index, v). */
static int load_values(struct sl_memsource *ms, struct lbls *ls, const char *p, int64_t interval)
{
    int64_t idx = 0;
    char tok[128];
    for (;;) {
        p = skip_ws(p);
        if (!*p || *p == '\n')
            return 0;
        size_t n = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && n < sizeof tok - 1)
            tok[n++] = *p++;
        tok[n] = 0;
        if (tok[0] == '_') {
            idx += tok[1] == 'x' ? atoll(tok + 2) : 1;
            continue;
        }
        char *x = strchr(tok, 'x');
        if (!x) { /* no hex in series descriptions: "0x10" is 0 repeated */
            double v;
            if (parse_value(tok, &v))
                return -1;
            sl_memsource_add(ms, ls->l, ls->n, idx++ * interval, v);
            continue;
        }
        *x = 0;
        long long times = atoll(x + 1);
        double start, step = 0;
        /* find the +/- that separates start and step (not a leading sign or exponent) */
        char *sep = NULL;
        for (char *q = tok + 1; *q; q++)
            if ((*q == '+' || *q == '-') && q[-1] != 'e' && q[-1] != 'E')
                sep = q;
        if (sep) {
            char sc = *sep;
            *sep = 0;
            if (parse_value(tok, &start) || parse_value(sep + 1, &step))
                return -1;
            if (sc == '-')
                step = -step;
        } else if (parse_value(tok, &start)) {
            return -1;
        }
        for (long long i = 0; i <= times; i++)
            sl_memsource_add(ms, ls->l, ls->n, idx++ * interval, start + step * (double)i);
    }
}

struct expect {
    char key[2048];
    double v;
    int scalar;
};

struct ctx {
    struct sl_memsource *ms;
    struct sl_query_api *api;
    int verbose;
    const char *file;
};

static int almost_equal(double a, double b)
{
    if (isnan(a) && isnan(b))
        return 1;
    if (a == b)
        return 1;
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || diff < 2.2250738585072014e-308)
        return diff < 1e-6 * 2.2250738585072014e-308;
    return diff / (fabs(a) + fabs(b)) < 1e-6;
}

/* Compare a result to the expectation; returns 0 on match, else writes why. */
static int compare(const struct sl_promql_result *r, const struct expect *ex, size_t nex,
                   int ordered, int64_t at, int range_mode, char *why, size_t wl)
{
    if (r->type == SL_PQ_SCALAR || (range_mode && nex == 1 && ex[0].scalar)) {
        double v = r->scalar;
        if (range_mode) {
            int found = 0;
            for (size_t i = 0; i < r->nseries && !found; i++)
                for (size_t j = 0; j < r->series[i].npts; j++)
                    if (r->series[i].pts[j].t == at) {
                        v = r->series[i].pts[j].v;
                        found = 1;
                        break;
                    }
            if (!found) {
                snprintf(why, wl, "range mode: no point at t");
                return -1;
            }
        }
        if (nex != 1 || !ex[0].scalar) {
            snprintf(why, wl, "got scalar %g, expected a vector", v);
            return -1;
        }
        if (!almost_equal(v, ex[0].v)) {
            snprintf(why, wl, "scalar: got %.17g, expected %.17g", v, ex[0].v);
            return -1;
        }
        return 0;
    }
    if (r->type == SL_PQ_MATRIX && !range_mode) {
        snprintf(why, wl, "received range result on instant evaluation");
        return -1;
    }
    if (r->type != SL_PQ_VECTOR && r->type != SL_PQ_MATRIX) {
        snprintf(why, wl, "unexpected result type %d", r->type);
        return -1;
    }
    size_t got = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        const struct sl_promql_series *s = &r->series[i];
        double v = 0;
        int has = 0;
        for (size_t j = 0; j < s->npts; j++)
            if (!range_mode || s->pts[j].t == at) {
                v = s->pts[j].v;
                has = 1;
                break;
            }
        if (!has)
            continue;
        char key[2048];
        canon(s->labels, s->nlabels, key, sizeof key);
        size_t k;
        for (k = 0; k < nex; k++)
            if (!ex[k].scalar && strcmp(ex[k].key, key) == 0)
                break;
        if (k == nex) {
            snprintf(why, wl, "unexpected series {%s} %g", key, v);
            return -1;
        }
        if (ordered && k != got) {
            snprintf(why, wl, "series {%s} at position %zu, expected %zu", key, got, k);
            return -1;
        }
        if (!almost_equal(v, ex[k].v)) {
            snprintf(why, wl, "series {%s}: got %.17g, expected %.17g", key, v, ex[k].v);
            return -1;
        }
        got++;
    }
    if (got != nex) {
        snprintf(why, wl, "got %zu series, expected %zu", got, nex);
        return -1;
    }
    return 0;
}

/* ---- a small JSON reader for the API's answers ------------------------------------------ */

struct jv {
    char type; /* o(bject) a(rray) s(tring) n(umber) l(iteral) */
    char *s;
    double n;
    struct jv *items;
    char **keys;
    size_t len;
};

static void jv_free(struct jv *v)
{
    for (size_t i = 0; i < v->len; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
}

static int j_value(const char **p, struct jv *out);

static char *j_string(const char **p)
{
    if (**p != '"')
        return NULL;
    (*p)++;
    size_t cap = 64, n = 0;
    char *o = malloc(cap);
    while (**p && **p != '"') {
        if (n + 8 >= cap)
            o = realloc(o, cap *= 2);
        char c = *(*p)++;
        if (c == '\\') {
            c = *(*p)++;
            switch (c) {
            case 'n': o[n++] = '\n'; break;
            case 't': o[n++] = '\t'; break;
            case 'r': o[n++] = '\r'; break;
            case 'u': {
                char hex[5] = {0};
                memcpy(hex, *p, 4);
                *p += 4;
                unsigned long cp = strtoul(hex, NULL, 16);
                if (cp < 0x80) {
                    o[n++] = (char)cp;
                } else if (cp < 0x800) {
                    o[n++] = (char)(0xC0 | (cp >> 6));
                    o[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    o[n++] = (char)(0xE0 | (cp >> 12));
                    o[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[n++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: o[n++] = c;
            }
        } else {
            o[n++] = c;
        }
    }
    if (**p != '"') {
        free(o);
        return NULL;
    }
    (*p)++;
    o[n] = 0;
    return o;
}

static int j_value(const char **p, struct jv *out)
{
    memset(out, 0, sizeof *out);
    char c = **p;
    if (c == '{' || c == '[') {
        out->type = c == '{' ? 'o' : 'a';
        (*p)++;
        size_t cap = 0;
        char close = c == '{' ? '}' : ']';
        while (**p != close) {
            if (out->len == cap) {
                cap = cap ? cap * 2 : 8;
                out->items = realloc(out->items, cap * sizeof *out->items);
                if (out->type == 'o')
                    out->keys = realloc(out->keys, cap * sizeof *out->keys);
            }
            if (out->type == 'o') {
                out->keys[out->len] = j_string(p);
                if (!out->keys[out->len] || *(*p)++ != ':')
                    return -1;
            }
            if (j_value(p, &out->items[out->len]))
                return -1;
            out->len++;
            if (**p == ',')
                (*p)++;
            else if (**p != close)
                return -1;
        }
        (*p)++;
        return 0;
    }
    if (c == '"') {
        out->type = 's';
        out->s = j_string(p);
        return out->s ? 0 : -1;
    }
    char *end;
    out->n = strtod(*p, &end);
    if (end != *p) {
        out->type = 'n';
        *p = end;
        return 0;
    }
    out->type = 'l';
    while (**p >= 'a' && **p <= 'z')
        (*p)++;
    return 0;
}

static const struct jv *j_get(const struct jv *o, const char *key)
{
    for (size_t i = 0; o->type == 'o' && i < o->len; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static int64_t j_ts(const struct jv *v)
{
    return (int64_t)llround(v->n * 1000);
}

/* Decoded API answer in the evaluator's result shape, so compare() serves both. */
struct decoded {
    struct sl_promql_result r;
    struct sl_promql_series *series;
    struct sl_qlabel **labels;
    struct sl_promql_point **pts;
    size_t n;
};

static void decoded_free(struct decoded *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->labels[i]);
        free(d->pts[i]);
    }
    free(d->labels);
    free(d->pts);
    free(d->series);
}

/* Points of [t, "v"] pairs; labels point into @j (kept alive by the caller). */
static int decode(const struct jv *data, struct decoded *d)
{
    memset(d, 0, sizeof *d);
    const struct jv *type = j_get(data, "resultType"), *res = j_get(data, "result");
    if (!type || !res || type->type != 's')
        return -1;
    if (strcmp(type->s, "scalar") == 0 || strcmp(type->s, "string") == 0) {
        d->r.type = type->s[1] == 'c' ? SL_PQ_SCALAR : SL_PQ_STRING;
        if (res->len != 2)
            return -1;
        d->r.t = j_ts(&res->items[0]);
        d->r.scalar = strtod(res->items[1].s, NULL);
        return 0;
    }
    d->r.type = strcmp(type->s, "vector") == 0 ? SL_PQ_VECTOR : SL_PQ_MATRIX;
    d->n = res->len;
    d->series = calloc(d->n + 1, sizeof *d->series);
    d->labels = calloc(d->n + 1, sizeof *d->labels);
    d->pts = calloc(d->n + 1, sizeof *d->pts);
    for (size_t i = 0; i < d->n; i++) {
        const struct jv *m = j_get(&res->items[i], "metric");
        const struct jv *one = j_get(&res->items[i], "value");
        const struct jv *many = j_get(&res->items[i], "values");
        if (!m || (!one && !many))
            return -1;
        d->labels[i] = calloc(m->len + 1, sizeof **d->labels);
        for (size_t k = 0; k < m->len; k++)
            d->labels[i][k] = (struct sl_qlabel){m->keys[k], m->items[k].s};
        size_t np = one ? 1 : many->len;
        d->pts[i] = calloc(np + 1, sizeof **d->pts);
        for (size_t k = 0; k < np; k++) {
            const struct jv *pair = one ? one : &many->items[k];
            d->pts[i][k].t = j_ts(&pair->items[0]);
            d->pts[i][k].v = strtod(pair->items[1].s, NULL);
        }
        d->series[i] = (struct sl_promql_series){d->labels[i], m->len, d->pts[i], np};
    }
    d->r.series = d->series;
    d->r.nseries = d->n;
    return 0;
}

/* Send one request through the API route table; returns the decoded JSON (caller frees). */
static int api_call(struct ctx *c, const char *path, const struct sl_http_param *params,
                    size_t np, struct jv *out, int *status)
{
    struct sl_http_request req = {.method = "GET", .path = path, .params = params,
                                  .nparams = np};
    struct sl_http_response resp = {.status = 200};
    size_t n;
    const struct sl_http_route *r = sl_query_api_routes(c->api, &n);
    int rc = -1;
    for (size_t i = 0; i < n; i++)
        if (!r[i].prefix && strcmp(r[i].path, path) == 0)
            rc = r[i].fn(r[i].ctx, &req, &resp);
    if (rc)
        return -1;
    *status = resp.status;
    const char *p = resp.body;
    rc = j_value(&p, out);
    free(resp.body);
    return rc;
}

static void fmt_secs(char *buf, size_t len, int64_t ms)
{
    snprintf(buf, len, "%s%lld.%03lld", ms < 0 ? "-" : "", (long long)(llabs(ms) / 1000),
             (long long)(llabs(ms) % 1000));
}

static int run_eval(struct ctx *c, const char *expr, int64_t at, int fail, int ordered,
                    const struct expect *ex, size_t nex, char *why, size_t wl)
{
    char ts[32];
    fmt_secs(ts, sizeof ts, at);
    struct sl_http_param p[4] = {{"query", expr}, {"time", ts}};
    struct jv j;
    int status;
    if (api_call(c, "/api/v1/query", p, 2, &j, &status)) {
        snprintf(why, wl, "undecodable API answer");
        return -1;
    }
    const struct jv *st = j_get(&j, "status");
    int ok = st && st->type == 's' && strcmp(st->s, "success") == 0;
    if (fail || !ok) {
        const struct jv *e = j_get(&j, "error");
        if (!fail)
            snprintf(why, wl, "%d %s", status, e && e->s ? e->s : "?");
        else if (ok)
            snprintf(why, wl, "expected an error, got a result");
        jv_free(&j);
        return fail == !ok ? 0 : -1;
    }
    struct decoded d;
    int rc = decode(j_get(&j, "data"), &d);
    if (rc)
        snprintf(why, wl, "bad result shape");
    else
        rc = compare(&d.r, ex, nex, ordered, at, 0, why, wl);
    int type = d.r.type;
    decoded_free(&d);
    jv_free(&j);
    if (rc == 0 && !ordered && (type == SL_PQ_VECTOR || type == SL_PQ_SCALAR)) {
        /* range mode, like Prometheus' harness: middle step of [t-1m, t+1m] by 1m */
        char s0[32], s1[32];
        fmt_secs(s0, sizeof s0, at - 60000);
        fmt_secs(s1, sizeof s1, at + 60000);
        struct sl_http_param rp[4] = {{"query", expr}, {"start", s0}, {"end", s1}, {"step", "60"}};
        if (api_call(c, "/api/v1/query_range", rp, 4, &j, &status)) {
            snprintf(why, wl, "range mode: undecodable API answer");
            return -1;
        }
        st = j_get(&j, "status");
        if (!st || strcmp(st->s, "success") != 0) {
            const struct jv *e = j_get(&j, "error");
            snprintf(why, wl, "range mode error: %s", e && e->s ? e->s : "?");
            rc = -1;
        } else if (decode(j_get(&j, "data"), &d)) {
            snprintf(why, wl, "range mode: bad result shape");
            rc = -1;
        } else {
            rc = compare(&d.r, ex, nex, 0, at, 1, why, wl);
            if (rc) {
                char tmp[600];
                snprintf(tmp, sizeof tmp, "range mode: %s", why);
                snprintf(why, wl, "%s", tmp);
            }
            decoded_free(&d);
        }
        jv_free(&j);
    }
    return rc;
}

struct passlist {
    char **v;
    size_t n, cap;
};

static void pl_add(struct passlist *pl, const char *s)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 256;
        pl->v = realloc(pl->v, pl->cap * sizeof *pl->v);
    }
    pl->v[pl->n++] = strdup(s);
}

static int pl_has(const struct passlist *pl, const char *s)
{
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp(pl->v[i], s) == 0)
            return 1;
    return 0;
}

static int64_t parse_dur(const char *s)
{
    int64_t ms;
    if (sl_promql_parse_duration(s, strlen(s), &ms))
        return atoll(s) * 1000;
    return ms;
}

static void run_file(struct ctx *c, const char *dir, const char *name, size_t *pass, size_t *fail,
                     struct passlist *passing)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char **lines = NULL;
    size_t nl = 0, cap = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (nl == cap) {
            cap = cap ? cap * 2 : 256;
            lines = realloc(lines, cap * sizeof *lines);
        }
        lines[nl++] = strdup(buf);
    }
    fclose(f);
    sl_memsource_clear(c->ms);
    size_t fp = 0, ff = 0;
    for (size_t i = 0; i < nl; i++) {
        const char *l = lines[i];
        if (strncmp(l, "load ", 5) == 0) {
            int64_t interval = parse_dur(l + 5);
            for (; i + 1 < nl && (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t'); i++) {
                struct lbls ls = {0};
                const char *p = parse_desc(lines[i + 1], &ls);
                if (p) {
                    sl_memsource_reset_series(c->ms, ls.l, ls.n);
                    load_values(c->ms, &ls, p, interval);
                }
                lbls_free(&ls);
            }
        } else if (strcmp(l, "clear") == 0) {
            sl_memsource_clear(c->ms);
        } else if (strncmp(l, "eval", 4) == 0) {
            int efail = strncmp(l, "eval_fail", 9) == 0;
            int ordered = strncmp(l, "eval_ordered", 12) == 0;
            const char *p = strstr(l, " at ");
            if (!p)
                continue;
            p += 4;
            char dur[64];
            size_t n = 0;
            while (*p && *p != ' ' && n < sizeof dur - 1)
                dur[n++] = *p++;
            dur[n] = 0;
            int64_t at = parse_dur(dur);
            const char *expr = skip_ws(p);
            size_t line = i + 1;
            struct expect *ex = calloc(256, sizeof *ex);
            size_t nex = 0;
            for (; i + 1 < nl && (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t'); i++) {
                const char *q = skip_ws(lines[i + 1]);
                if (!*q || nex == 256)
                    continue;
                double v;
                char *end;
                v = strtod(q, &end);
                if (end != q && *skip_ws(end) == 0) {
                    ex[nex].scalar = 1;
                    ex[nex++].v = v;
                    continue;
                }
                struct lbls ls = {0};
                const char *r = parse_desc(q, &ls);
                if (r) {
                    canon(ls.l, ls.n, ex[nex].key, sizeof ex[nex].key);
                    r = skip_ws(r);
                    if (parse_value(r, &ex[nex].v) == 0)
                        nex++;
                }
                lbls_free(&ls);
            }
            char why[1024] = "";
            int rc = run_eval(c, expr, at, efail, ordered, ex, nex, why, sizeof why);
            free(ex);
            char id[512];
            snprintf(id, sizeof id, "%s:%zu", name, line);
            if (rc == 0) {
                fp++;
                pl_add(passing, id);
            } else {
                ff++;
                if (c->verbose)
                    printf("FAIL %s: %s\n    %s\n", id, expr, why);
            }
        }
    }
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    free(lines);
    printf("%s: %zu passed, %zu failed\n", name, fp, ff);
    *pass += fp;
    *fail += ff;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [--list OUT] [--check PASSLIST] [-v]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *list_out = NULL, *check = NULL;
    struct ctx c = {0};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0 && i + 1 < argc)
            list_out = argv[++i];
        else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc)
            check = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            c.verbose = 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        printf("conformance dir %s missing: skipped\n", dir);
        return 77;
    }
    char *names[64];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 64) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".test") == 0)
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str);
    if (sl_memsource_create(&c.ms))
        return 1;
    struct sl_query_api_cfg cfg = {.src = sl_memsource_source(c.ms)};
    if (sl_query_api_create(&cfg, &c.api))
        return 1;
    size_t pass = 0, fail = 0;
    struct passlist passing = {0};
    for (size_t i = 0; i < nn; i++) {
        c.file = names[i];
        run_file(&c, dir, names[i], &pass, &fail, &passing);
        free(names[i]);
    }
    sl_query_api_destroy(c.api);
    sl_memsource_destroy(c.ms);
    printf("%zu passed, %zu failed\n", pass, fail);
    int rc = fail ? 1 : 0;
    if (list_out) {
        FILE *f = fopen(list_out, "w");
        if (f) {
            for (size_t i = 0; i < passing.n; i++)
                fprintf(f, "%s\n", passing.v[i]);
            fclose(f);
        }
    }
    if (check) {
        rc = 0;
        FILE *f = fopen(check, "r");
        struct passlist want = {0};
        char buf[512];
        while (f && fgets(buf, sizeof buf, f)) {
            buf[strcspn(buf, "\r\n")] = 0;
            if (buf[0] && buf[0] != '#')
                pl_add(&want, buf);
        }
        if (f)
            fclose(f);
        for (size_t i = 0; i < want.n; i++)
            if (!pl_has(&passing, want.v[i])) {
                printf("REGRESSION %s\n", want.v[i]);
                rc = 1;
            }
        for (size_t i = 0; i < passing.n; i++)
            if (!pl_has(&want, passing.v[i]))
                printf("NEWLY PASSING %s\n", passing.v[i]);
        for (size_t i = 0; i < want.n; i++)
            free(want.v[i]);
        free(want.v);
    }
    for (size_t i = 0; i < passing.n; i++)
        free(passing.v[i]);
    free(passing.v);
    return rc;
}
