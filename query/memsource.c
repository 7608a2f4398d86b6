/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-memory series source for tests and the conformance runner: a hash table from the
 * canonical label set to a growable sample array. It implements the same sl_source_ops
 * contract as the real store (sorted labels, ascending samples, matcher semantics), scanning
 * every series per select - O(series) - which is fine for test data and deliberately
 * simple; the real store answers from its label index.
 * Thread: loading is single-threaded; afterwards concurrent reads are safe.
 */
#include "query/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

struct mseries {
    struct sl_qlabel *ls; /* sorted; strings OWNED */
    size_t nls;
    int64_t *ts;
    double *vs;
    size_t n, cap;
    uint64_t hash;
};

struct sl_memsource {
    struct mseries *s;
    size_t ns, cap;
    size_t *tab; /* open addressing over index+1; 0 = empty */
    size_t tabcap;
    int64_t tiers[8]; /* sl_memsource_set_tiers() */
    size_t ntiers;
};

int sl_memsource_create(struct sl_memsource **out)
{
    struct sl_memsource *ms = calloc(1, sizeof *ms);
    if (!ms)
        return -ENOMEM;
    *out = ms;
    return 0;
}

void sl_memsource_clear(struct sl_memsource *ms)
{
    for (size_t i = 0; i < ms->ns; i++) {
        struct mseries *s = &ms->s[i];
        for (size_t j = 0; j < s->nls; j++) {
            free((void *)s->ls[j].name);
            free((void *)s->ls[j].value);
        }
        free(s->ls);
        free(s->ts);
        free(s->vs);
    }
    free(ms->s);
    free(ms->tab);
    memset(ms, 0, sizeof *ms);
}

void sl_memsource_destroy(struct sl_memsource *ms)
{
    if (!ms)
        return;
    sl_memsource_clear(ms);
    free(ms);
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct sl_qlabel *)a)->name, ((const struct sl_qlabel *)b)->name);
}

/* Sorted copy (pointers only) without empty values; returns count. */
static size_t norm_labels(const struct sl_qlabel *ls, size_t nls, struct sl_qlabel *out)
{
    size_t n = 0;
    for (size_t i = 0; i < nls; i++)
        if (ls[i].value && ls[i].value[0])
            out[n++] = ls[i];
    qsort(out, n, sizeof *out, cmp_label);
    return n;
}

static uint64_t hash_labels(const struct sl_qlabel *ls, size_t n)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, ls[i].name, strlen(ls[i].name) + 1);
        XXH3_64bits_update(&st, ls[i].value, strlen(ls[i].value) + 1);
    }
    return XXH3_64bits_digest(&st);
}

static int same_labels(const struct mseries *s, const struct sl_qlabel *ls, size_t n)
{
    if (s->nls != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->ls[i].name, ls[i].name) || strcmp(s->ls[i].value, ls[i].value))
            return 0;
    return 1;
}

static struct mseries *lookup(struct sl_memsource *ms, const struct sl_qlabel *ls, size_t n,
                              uint64_t h, size_t *slot)
{
    if (!ms->tabcap)
        return NULL;
    size_t mask = ms->tabcap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (!ms->tab[i]) {
            *slot = i;
            return NULL;
        }
        struct mseries *s = &ms->s[ms->tab[i] - 1];
        if (s->hash == h && same_labels(s, ls, n))
            return s;
    }
}

static int grow_table(struct sl_memsource *ms)
{
    size_t cap = ms->tabcap ? ms->tabcap * 2 : 64;
    size_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    for (size_t i = 0; i < ms->ns; i++) {
        size_t j = ms->s[i].hash & (cap - 1);
        while (tab[j])
            j = (j + 1) & (cap - 1);
        tab[j] = i + 1;
    }
    free(ms->tab);
    ms->tab = tab;
    ms->tabcap = cap;
    return 0;
}

static struct mseries *get_series(struct sl_memsource *ms, const struct sl_qlabel *in, size_t nin,
                                  int create)
{
    struct sl_qlabel tmp[128];
    if (nin > 128)
        return NULL;
    size_t n = norm_labels(in, nin, tmp);
    uint64_t h = hash_labels(tmp, n);
    size_t slot = 0;
    struct mseries *s = lookup(ms, tmp, n, h, &slot);
    if (s || !create)
        return s;
    if ((ms->ns + 1) * 2 > ms->tabcap) {
        if (grow_table(ms))
            return NULL;
        lookup(ms, tmp, n, h, &slot);
    }
    if (ms->ns == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 16;
        struct mseries *ns = realloc(ms->s, cap * sizeof *ns);
        if (!ns)
            return NULL;
        ms->s = ns;
        ms->cap = cap;
    }
    s = &ms->s[ms->ns];
    memset(s, 0, sizeof *s);
    s->ls = calloc(n ? n : 1, sizeof *s->ls);
    if (!s->ls)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s->ls[i].name = strdup(tmp[i].name);
        s->ls[i].value = strdup(tmp[i].value);
        s->nls = i + 1;
        if (!s->ls[i].name || !s->ls[i].value)
            return NULL; /* leaks into the half-built series; freed by clear() */
    }
    s->hash = h;
    ms->tab[slot] = ++ms->ns;
    return s;
}

int sl_memsource_add(struct sl_memsource *ms, const struct sl_qlabel *ls, size_t nls, int64_t t,
                     double v)
{
    struct mseries *s = get_series(ms, ls, nls, 1);
    if (!s)
        return -ENOMEM;
    if (s->n && s->ts[s->n - 1] >= t) {
        if (s->ts[s->n - 1] != t)
            return -EINVAL;
        s->vs[s->n - 1] = v;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int64_t *ts = realloc(s->ts, cap * sizeof *ts);
        if (!ts)
            return -ENOMEM;
        s->ts = ts;
        double *vs = realloc(s->vs, cap * sizeof *vs);
        if (!vs)
            return -ENOMEM;
        s->vs = vs;
        s->cap = cap;
    }
    s->ts[s->n] = t;
    s->vs[s->n] = v;
    s->n++;
    return 0;
}

void sl_memsource_reset_series(struct sl_memsource *ms, const struct sl_qlabel *ls, size_t nls)
{
    struct mseries *s = get_series(ms, ls, nls, 0);
    if (s)
        s->n = 0;
}

/* First index with ts >= t. */
static size_t lower_bound(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int mem_walk(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                    sl_series_fn *fn, void *arg, int with_samples)
{
    struct sl_memsource *ms = ctx;
    for (size_t i = 0; i < ms->ns; i++) {
        const struct mseries *s = &ms->s[i];
        if (!sl_matchers_match(m, nm, s->ls, s->nls))
            continue;
        size_t a = lower_bound(s->ts, s->n, mint);
        size_t b = lower_bound(s->ts, s->n, maxt == INT64_MAX ? maxt : maxt + 1);
        if (b <= a)
            continue;
        int rc = with_samples ? fn(arg, s->ls, s->nls, s->ts + a, s->vs + a, b - a)
                              : fn(arg, s->ls, s->nls, NULL, NULL, 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int mem_select(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt, sl_series_fn *fn, void *arg)
{
    return mem_walk(ctx, m, nm, mint, maxt, fn, arg, 1);
}

static int mem_series(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt, sl_series_fn *fn, void *arg)
{
    return mem_walk(ctx, m, nm, mint, maxt, fn, arg, 0);
}

void sl_memsource_set_tiers(struct sl_memsource *ms, const int64_t *res, size_t n)
{
    ms->ntiers = 0;
    for (size_t i = 0; i < n && ms->ntiers < 8; i++)
        if (res[i] > 0)
            ms->tiers[ms->ntiers++] = res[i];
}

static size_t mem_tiers(void *ctx, struct sl_source_tier *out, size_t max)
{
    struct sl_memsource *ms = ctx;
    for (size_t i = 0; i < ms->ntiers && i < max; i++)
        out[i] = (struct sl_source_tier){ms->tiers[i], INT64_MIN / 2, INT64_MAX / 2, 0};
    return ms->ntiers;
}

/* Buckets from the samples, as a store whose tiers are all built would return them: the
 * sample before mint bridges the first bucket's increase. */
static int mem_select_agg(void *ctx, const struct sl_matcher *m, size_t nm, int64_t res,
                          int64_t mint, int64_t maxt, sl_agg_series_fn *fn, void *arg)
{
    struct sl_memsource *ms = ctx;
    if (res <= 0 || mint > maxt)
        return -EINVAL;
    int64_t hi = maxt > INT64_MAX - res ? INT64_MAX : maxt + res;
    for (size_t i = 0; i < ms->ns; i++) {
        const struct mseries *s = &ms->s[i];
        if (!sl_matchers_match(m, nm, s->ls, s->nls))
            continue;
        size_t a = lower_bound(s->ts, s->n, mint), b = lower_bound(s->ts, s->n, hi);
        if (b <= a)
            continue;
        double prev = 0;
        int have_prev = 0;
        for (size_t j = a; j-- > 0;)
            if (s->vs[j] == s->vs[j]) { /* the last non-NaN sample before mint */
                prev = s->vs[j];
                have_prev = 1;
                break;
            }
        struct sl_agg *out = malloc((b - a) * sizeof *out);
        if (!out)
            return -ENOMEM;
        size_t nb = sl_agg_from_raw(s->ts + a, s->vs + a, b - a, res, have_prev ? &prev : NULL,
                                    out);
        int rc = nb ? fn(arg, s->ls, s->nls, out, nb) : 0;
        free(out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int mem_select_at(void *ctx, const struct sl_matcher *m, size_t nm, const int64_t *at,
                         size_t nat, sl_series_fn *fn, void *arg)
{
    struct sl_memsource *ms = ctx;
    if (nat == 0)
        return 0;
    int64_t *ts = malloc(nat * sizeof *ts);
    double *vs = malloc(nat * sizeof *vs);
    int rc = ts && vs ? 0 : -ENOMEM;
    for (size_t i = 0; i < ms->ns && !rc; i++) {
        const struct mseries *s = &ms->s[i];
        if (!sl_matchers_match(m, nm, s->ls, s->nls))
            continue;
        size_t n = 0;
        for (size_t k = 0; k < nat; k++) {
            size_t j = lower_bound(s->ts, s->n, at[k]);
            if (j < s->n && s->ts[j] == at[k]) {
                ts[n] = at[k];
                vs[n++] = s->vs[j];
            }
        }
        if (n)
            rc = fn(arg, s->ls, s->nls, ts, vs, n);
    }
    free(ts);
    free(vs);
    return rc < 0 ? rc : 0;
}

/* Parts: the matching series' indexes, in the source's order; reads then need no
 * matcher, so they may run on any thread. */
struct mem_parts {
    int64_t mint, maxt;
    size_t n;
    size_t idx[];
};

static int mem_parts_open(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                          int64_t maxt,
                          void (*run)(void *rctx, void (*fn)(void *arg, unsigned w), void *arg),
                          void *rctx, void **parts, size_t *n)
{
    (void)run; /* nothing to share out: the samples are read in place */
    (void)rctx;
    struct sl_memsource *ms = ctx;
    struct mem_parts *p = malloc(sizeof *p + (ms->ns ? ms->ns : 1) * sizeof p->idx[0]);
    if (!p)
        return -ENOMEM;
    p->mint = mint;
    p->maxt = maxt;
    p->n = 0;
    for (size_t i = 0; i < ms->ns; i++)
        if (sl_matchers_match(m, nm, ms->s[i].ls, ms->s[i].nls))
            p->idx[p->n++] = i;
    *parts = p;
    *n = p->n;
    return 0;
}

static int mem_parts_read(void *ctx, void *parts, size_t lo, size_t hi, sl_series_fn *fn,
                          void *arg)
{
    struct sl_memsource *ms = ctx;
    const struct mem_parts *p = parts;
    for (size_t i = lo; i < hi && i < p->n; i++) {
        const struct mseries *s = &ms->s[p->idx[i]];
        size_t a = lower_bound(s->ts, s->n, p->mint);
        size_t b = lower_bound(s->ts, s->n, p->maxt == INT64_MAX ? p->maxt : p->maxt + 1);
        if (b <= a)
            continue;
        int rc = fn(arg, s->ls, s->nls, s->ts + a, s->vs + a, b - a);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void mem_parts_close(void *ctx, void *parts)
{
    (void)ctx;
    free(parts);
}

static const struct sl_source_ops mem_ops = {
    .flags = SL_SOURCE_F_STABLE,
    .parts_open = mem_parts_open,
    .parts_read = mem_parts_read,
    .parts_close = mem_parts_close,
    .select = mem_select,
    .series = mem_series,
    .tiers = mem_tiers,
    .select_agg = mem_select_agg,
    .select_at = mem_select_at,
};

struct sl_source sl_memsource_source(struct sl_memsource *ms)
{
    return (struct sl_source){.ops = &mem_ops, .ctx = ms};
}
