/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL conformance runner over Prometheus' own v2.42 test files (promql/testdata,
 * kept in ../shared/conformance/promql/; their README describes the format: load, clear,
 * eval instant at, eval_fail, eval_ordered). Each file's data is loaded into a fresh
 * memsource; each eval goes through sl_promql_parse + sl_promql_eval exactly as
 * /api/v1/query does, and - like Prometheus' own test harness - once more as a range query
 * from t-1m to t+1m by 1m whose middle step must give the same answer. Values compare with
 * relative tolerance 1e-6, NaN equal to NaN.
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

static int run_eval(struct ctx *c, const char *expr, int64_t at, int fail, int ordered,
                    const struct expect *ex, size_t nex, char *why, size_t wl)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    struct sl_source src = sl_memsource_source(c->ms);
    int rc = sl_promql_parse(expr, &e, &err);
    if (rc) {
        if (fail)
            return 0;
        snprintf(why, wl, "%s", err.msg);
        return -1;
    }
    struct sl_promql_opts o = {.start_ms = at, .end_ms = at};
    struct sl_promql_result *r = NULL;
    rc = sl_promql_eval(e, &src, &o, &r, &err);
    if (fail) {
        sl_promql_result_free(r);
        sl_promql_expr_free(e);
        if (rc == 0) {
            snprintf(why, wl, "expected an error, got a result");
            return -1;
        }
        return 0;
    }
    if (rc) {
        sl_promql_expr_free(e);
        snprintf(why, wl, "error: %s", err.msg);
        return -1;
    }
    rc = compare(r, ex, nex, ordered, at, 0, why, wl);
    int type = r->type;
    sl_promql_result_free(r);
    if (rc == 0 && !ordered && (type == SL_PQ_VECTOR || type == SL_PQ_SCALAR)) {
        /* range mode, like Prometheus' harness: middle step of [t-1m, t+1m] by 1m */
        struct sl_promql_opts ro = {.start_ms = at - 60000, .end_ms = at + 60000,
                                    .step_ms = 60000};
        rc = sl_promql_eval(e, &src, &ro, &r, &err);
        if (rc) {
            snprintf(why, wl, "range mode error: %s", err.msg);
            rc = -1;
        } else {
            rc = compare(r, ex, nex, 0, at, 1, why, wl);
            if (rc) {
                char tmp[600];
                snprintf(tmp, sizeof tmp, "range mode: %s", why);
                snprintf(why, wl, "%s", tmp);
            }
            sl_promql_result_free(r);
        }
    }
    sl_promql_expr_free(e);
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
    size_t pass = 0, fail = 0;
    struct passlist passing = {0};
    for (size_t i = 0; i < nn; i++) {
        c.file = names[i];
        run_file(&c, dir, names[i], &pass, &fail, &passing);
        free(names[i]);
    }
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
