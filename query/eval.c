/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL evaluator core: loading selectors from the source, stepping through a range query,
 * and evaluating one node at one timestamp.
 *
 * Model: before evaluation one pass over the tree computes, for every selector, the widest
 * time window any step (including nested subquery steps) can read, and loads those series
 * once (labels sorted; samples copied into the result arena, or read in place when the source
 * keeps them (SL_SOURCE_F_STABLE) or hands them over (SL_SOURCE_F_TRANSFER)). A query is then
 * evaluated step by step: pq_eval_node() yields the instant value of a node at ev->ts (a
 * vector, scalar, string, or for range selectors and subqueries the windows of points at that
 * time), which keeps every operator's code about one instant, as in Prometheus' rangeEval
 * callbacks.
 * Per-step scratch lives in ev->tmp and is released after the step's output is appended.
 * One exception for speed: in a range query, a range function over a plain selector
 * (rate(x[5m]), max_over_time(...)) is computed before the steps, series by series, so each
 * series' samples are read once and in order (pq_func_precompute); the step then reads its
 * row. Results are identical (tests/query/test_eval.c checks range steps against instant
 * queries). Before the selectors load, pq_tier_plan() (tierplan.h) may fill that same row
 * table from a downsampled tier for calls its rule allows; their selectors are then skipped.
 *
 * Lookback and windows are those of Prometheus 2.42: an instant selector at t takes the
 * newest sample in [t - 5m, t] unless it is a staleness marker; a range selector takes the
 * non-stale samples in [t - range, t]; offset shifts t back, @ pins it.
 */
#include "query/promql_pvt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "engine/errors.h"
#include "query/tierplan.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000
#define MAX_POINTS_PER_SERIES 11000
#define SUBQUERY_DEFAULT_STEP_MS 60000 /* Prometheus' default evaluation_interval */

_Noreturn void pq_fail(struct pq_ev *ev, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->err->msg, sizeof ev->err->msg, fmt, ap);
    va_end(ap);
    ev->err->kind = kind;
    longjmp(ev->jb, 1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void pq_check_deadline(struct pq_ev *ev)
{
    /* reading the clock costs ~20 ns; every 256th call keeps it off the profile */
    if (ev->deadline_ns && (++ev->ticks & 255) == 0 && now_ns() > ev->deadline_ns)
        pq_fail(ev, SL_PQ_ERR_TIMEOUT, "query timed out in query execution");
}

#define is_stale pq_is_stale

/* ---- label sets ------------------------------------------------------------------------ */

/* XXH3 of "name\0value\0..." over the labels (all, or those @keep selects: on=1 keeps only
 * @names, on=0 all but __name__ and @names). Gathered into one buffer and hashed in one
 * call when it fits - the streaming API costs more per label than the label is long -
 * which gives the same value as streaming the pieces. */
static int keep_label(const char *name, char *const *names, size_t nn, int on);

static uint64_t labels_hash(const struct sl_qlabel *l, size_t n, int filter, char *const *names,
                            size_t nn, int on)
{
    char buf[1024];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (filter && !keep_label(l[i].name, names, nn, on))
            continue;
        size_t a = strlen(l[i].name) + 1, b = strlen(l[i].value) + 1;
        if (a + b > sizeof buf - len) {
            len = SIZE_MAX; /* does not fit: stream instead */
            break;
        }
        memcpy(buf + len, l[i].name, a);
        memcpy(buf + len + a, l[i].value, b);
        len += a + b;
    }
    if (len != SIZE_MAX)
        return XXH3_64bits(buf, len);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        if (filter && !keep_label(l[i].name, names, nn, on))
            continue;
        XXH3_64bits_update(&st, l[i].name, strlen(l[i].name) + 1);
        XXH3_64bits_update(&st, l[i].value, strlen(l[i].value) + 1);
    }
    return XXH3_64bits_digest(&st);
}

static uint64_t lset_hash(const struct sl_qlabel *l, size_t n)
{
    return labels_hash(l, n, 0, NULL, 0, 0);
}

const struct pq_lset *pq_lset_make(struct pq_arena *a, const struct sl_qlabel *l, size_t n)
{
    struct pq_lset *ls = pq_alloc(a, sizeof *ls + n * sizeof ls->l[0]);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!l[i].value[0])
            continue; /* an empty value is an absent label */
        /* insertion sort: label sets are small and usually already sorted */
        size_t j = k++;
        while (j > 0 && strcmp(ls->l[j - 1].name, l[i].name) > 0) {
            ls->l[j] = ls->l[j - 1];
            j--;
        }
        ls->l[j] = l[i];
    }
    ls->n = (uint32_t)k;
    ls->hash = lset_hash(ls->l, k);
    return ls;
}

const char *pq_lset_get(const struct pq_lset *ls, const char *name)
{
    for (uint32_t i = 0; i < ls->n; i++)
        if (strcmp(ls->l[i].name, name) == 0)
            return ls->l[i].value;
    return NULL;
}

const struct pq_lset *pq_lset_drop_name(struct pq_arena *a, const struct pq_lset *ls)
{
    if (ls->noname)
        return ls->noname;
    if (!pq_lset_get(ls, "__name__"))
        return ls;
    struct sl_qlabel *tmp = pq_alloc(a, (ls->n ? ls->n : 1) * sizeof *tmp);
    size_t k = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        if (strcmp(ls->l[i].name, "__name__"))
            tmp[k++] = ls->l[i];
    return pq_lset_make(a, tmp, k);
}

int pq_lset_eq(const struct pq_lset *a, const struct pq_lset *b)
{
    if (a == b)
        return 1;
    if (a->hash != b->hash || a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (strcmp(a->l[i].name, b->l[i].name) || strcmp(a->l[i].value, b->l[i].value))
            return 0;
    return 1;
}

int pq_lset_cmp(const struct pq_lset *a, const struct pq_lset *b)
{
    for (uint32_t i = 0; i < a->n && i < b->n; i++) {
        int c = strcmp(a->l[i].name, b->l[i].name);
        if (c)
            return c;
        c = strcmp(a->l[i].value, b->l[i].value);
        if (c)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n;
}

void pq_lset_format(const struct pq_lset *ls, struct sl_buf *b)
{
    sl_buf_putc(b, '{');
    for (uint32_t i = 0; i < ls->n; i++)
        sl_buf_printf(b, "%s%s=\"%s\"", i ? ", " : "", ls->l[i].name, ls->l[i].value);
    sl_buf_putc(b, '}');
}

static int in_list(const char *name, char *const *names, size_t nn)
{
    for (size_t i = 0; i < nn; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static int keep_label(const char *name, char *const *names, size_t nn, int on)
{
    if (on)
        return in_list(name, names, nn);
    return strcmp(name, "__name__") != 0 && !in_list(name, names, nn);
}

uint64_t pq_lset_sig(const struct pq_lset *ls, char *const *names, size_t nn, int on)
{
    return labels_hash(ls->l, ls->n, 1, names, nn, on);
}

uint64_t pq_lset_sig_cached(const struct pq_lset *ls, const void *owner, char *const *names,
                            size_t nn, int on)
{
    if (!ls->cacheable)
        return pq_lset_sig(ls, names, nn, on);
    if (ls->sig_owner != owner) {
        struct pq_lset *m = (struct pq_lset *)ls; /* cache fields only; see promql_pvt.h */
        m->sig = pq_lset_sig(ls, names, nn, on);
        m->sig_owner = owner;
    }
    return ls->sig;
}

const struct pq_lset *pq_lset_restrict(struct pq_arena *a, const struct pq_lset *ls,
                                       char *const *names, size_t nn, int on)
{
    struct sl_qlabel *tmp = pq_alloc(a, (ls->n ? ls->n : 1) * sizeof *tmp);
    size_t k = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        if (keep_label(ls->l[i].name, names, nn, on))
            tmp[k++] = ls->l[i];
    return pq_lset_make(a, tmp, k);
}

/* ---- hash map -------------------------------------------------------------------------- */

void pq_hmap_init(struct pq_arena *a, struct pq_hmap *m, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap *= 2;
    m->keys = pq_alloc(a, cap * sizeof *m->keys);
    m->vals = pq_alloc(a, cap * sizeof *m->vals);
    m->cap = cap;
    m->n = 0;
}

/* Key 0 marks an empty slot, so the real key 0 is stored as 1 (hash collisions are handled
 * by callers comparing label sets anyway). */
static uint64_t hkey(uint64_t k)
{
    return k ? k : 1;
}

size_t *pq_hmap_get(const struct pq_hmap *m, uint64_t key)
{
    key = hkey(key);
    for (size_t i = key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return &m->vals[i];
        if (!m->keys[i])
            return NULL;
    }
}

size_t *pq_hmap_put(struct pq_arena *a, struct pq_hmap *m, uint64_t key, int *found)
{
    key = hkey(key);
    if ((m->n + 1) * 2 > m->cap) {
        struct pq_hmap nm;
        pq_hmap_init(a, &nm, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = m->keys[i] & (nm.cap - 1);
                while (nm.keys[j])
                    j = (j + 1) & (nm.cap - 1);
                nm.keys[j] = m->keys[i];
                nm.vals[j] = m->vals[i];
            }
        nm.n = m->n;
        *m = nm;
    }
    for (size_t i = key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            *found = 1;
            return &m->vals[i];
        }
        if (!m->keys[i]) {
            m->keys[i] = key;
            m->n++;
            *found = 0;
            return &m->vals[i];
        }
    }
}

/* ---- vectors --------------------------------------------------------------------------- */

void pq_vec_push(struct pq_ev *ev, struct pq_vec *v, const struct pq_lset *ls, double val)
{
    struct pq_sample *s = PQ_PUSH(ev->tmp, v->s, v->n, v->cap);
    s->ls = ls;
    s->v = val;
    s->t = ev->ts;
}

void pq_check_dup(struct pq_ev *ev, const struct pq_vec *v)
{
    if (v->n < 2)
        return;
    struct pq_hmap m;
    pq_hmap_init(ev->tmp, &m, v->n);
    for (size_t i = 0; i < v->n; i++) {
        int found;
        size_t *slot = pq_hmap_put(ev->tmp, &m, v->s[i].ls->hash, &found);
        if (found && pq_lset_eq(v->s[*slot].ls, v->s[i].ls))
            pq_fail(ev, SL_PQ_ERR_EXEC, "vector cannot contain metrics with the same labelset");
        if (!found)
            *slot = i;
    }
}

/* ---- selectors ------------------------------------------------------------------------- */

/* One pass over a series' values: whether any is a staleness marker (if @check_stale)
 * and, if @s is given, its counter resets into s->rst (see pq_sel_series). Every loaded
 * sample passes through here, so a block of 256 is tested without per-sample exits (the
 * comparisons vectorise) and only a block holding a reset is walked again to record it.
 * The running sum adds only at resets, in order, which gives the same values as adding 0
 * for every other sample (the sum is never -0). Returns 1 at the first block with a
 * marker, the resets then being incomplete; else 0. */
int pq_scan_values(struct pq_ev *ev, const double *vs, size_t n, int check_stale,
                   struct pq_sel_series *s)
{
    size_t cap = 0;
    double c = 0;
    for (size_t i = 0; i < n; i += 256) {
        size_t e = n - i < 256 ? n : i + 256, j0 = i ? i : 1;
        int st = 0, rs = 0;
        /* one loop per case, each reading the block once */
        if (check_stale && s) {
            st = is_stale(vs[i]);
            for (size_t j = j0; j < e; j++) {
                uint64_t bits;
                memcpy(&bits, &vs[j], sizeof bits);
                st |= bits == SL_STALE_NAN_BITS;
                rs |= vs[j] < vs[j - 1];
            }
        } else if (check_stale) {
            for (size_t j = i; j < e; j++) {
                uint64_t bits;
                memcpy(&bits, &vs[j], sizeof bits);
                st |= bits == SL_STALE_NAN_BITS;
            }
        } else if (s) {
            for (size_t j = j0; j < e; j++)
                rs |= vs[j] < vs[j - 1];
        }
        if (st)
            return 1;
        if (!rs)
            continue;
        for (size_t j = j0; j < e; j++)
            if (vs[j] < vs[j - 1]) {
                c += vs[j - 1];
                struct pq_reset *r = PQ_PUSH(ev->res, s->rst, s->nrst, cap);
                r->i = j;
                r->cum = c;
            }
    }
    return 0;
}

size_t pq_corr_rank(const struct pq_sel_series *s, size_t i)
{
    size_t lo = 0, hi = s->nrst;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->rst[mid].i <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct load_ctx {
    struct pq_ev *ev;
    struct pq_sel_series *s;
    size_t n, cap;
    int drop_stale;
    int want_corr;
    int stable;
    int transfer; /* the source's arrays may be taken (SL_SOURCE_F_TRANSFER) */
};

struct pq_lset *pq_sel_lset(struct pq_arena *a, const struct sl_qlabel *ls, size_t nls)
{
    struct sl_qlabel *tmp = pq_alloc(a, (nls ? nls : 1) * sizeof *tmp);
    for (size_t i = 0; i < nls; i++) {
        tmp[i].name = pq_strdup(a, ls[i].name);
        tmp[i].value = pq_strdup(a, ls[i].value);
    }
    struct pq_lset *set = (struct pq_lset *)pq_lset_make(a, tmp, nls);
    set->cacheable = 1;
    if (pq_lset_get(set, "__name__")) {
        struct pq_lset *nn = (struct pq_lset *)pq_lset_drop_name(a, set);
        nn->cacheable = 1;
        set->noname = nn;
    }
    return set;
}

static int load_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                   const double *vs, size_t n)
{
    struct load_ctx *lc = arg;
    struct pq_ev *ev = lc->ev;
    struct pq_sel_series *s = PQ_PUSH(ev->res, lc->s, lc->n, lc->cap);
    s->ls = pq_sel_lset(ev->res, ls, nls);
    /* staleness and counter resets in one pass over the source's values */
    s->has_corr = lc->want_corr;
    s->rst = NULL;
    s->nrst = 0;
    int stale = (lc->drop_stale || lc->want_corr) &&
                pq_scan_values(ev, vs, n, lc->drop_stale, lc->want_corr ? s : NULL);
    int take = lc->transfer && !stale && n;
    if ((lc->stable || take) && !stale) {
        /* the source keeps these arrays for its lifetime, or hands them over: no copy */
        s->ts = (int64_t *)ts;
        s->vs = (double *)vs;
        s->n = n;
    } else {
        s->ts = pq_alloc_raw(ev->res, (n ? n : 1) * sizeof *s->ts);
        s->vs = pq_alloc_raw(ev->res, (n ? n : 1) * sizeof *s->vs);
        size_t k = 0;
        if (!stale && n) { /* nothing to drop (or not asked to): a straight copy */
            memcpy(s->ts, ts, n * sizeof *ts);
            memcpy(s->vs, vs, n * sizeof *vs);
            k = n;
        } else if (n) {
            for (size_t i = 0; i < n; i++) {
                if (lc->drop_stale && is_stale(vs[i]))
                    continue;
                s->ts[k] = ts[i];
                s->vs[k] = vs[i];
                k++;
            }
        }
        s->n = k;
        if (stale && lc->want_corr) {
            s->rst = NULL;
            s->nrst = 0;
            pq_scan_values(ev, s->vs, s->n, 0, s); /* the resets of the kept samples */
        }
    }
    size_t k = s->n;
    ev->cur_samples += k;
    if (ev->cur_samples > ev->max_samples)
        pq_fail(ev, SL_PQ_ERR_EXEC,
                "query processing would load too many samples into memory in query execution");
    if (take) {
        /* registered last: a failure above leaves the arrays with the source */
        *PQ_PUSH(ev->res, ev->owned, ev->nowned, ev->capowned) = (void *)ts;
        return SL_SERIES_TAKEN;
    }
    return 0;
}

static void free_owned(struct pq_ev *ev)
{
    for (size_t i = 0; i < ev->nowned; i++)
        free(ev->owned[i]);
    ev->nowned = 0;
}

static int cmp_sel_series(const void *a, const void *b)
{
    return pq_lset_cmp(((const struct pq_sel_series *)a)->ls,
                       ((const struct pq_sel_series *)b)->ls);
}

static int64_t at_time(struct pq_ev *ev, const struct pq_node *n, int64_t t)
{
    switch (n->at_kind) {
    case PQ_AT_TIME: return n->at;
    case PQ_AT_START: return ev->start;
    case PQ_AT_END: return ev->end;
    default: return t;
    }
}

void pq_load_selector(struct pq_ev *ev, struct pq_node *sel, int64_t mint, int64_t maxt,
                      int drop_stale)
{
    pq_load_selector_last(ev, sel, mint, maxt, drop_stale, 0);
}

void pq_load_selector_last(struct pq_ev *ev, struct pq_node *sel, int64_t mint, int64_t maxt,
                           int drop_stale, int last_only)
{
    struct load_ctx lc = {.ev = ev, .drop_stale = drop_stale, .want_corr = sel->want_corr,
                          .stable = (ev->src->ops->flags & SL_SOURCE_F_STABLE) != 0,
                          .transfer = (ev->src->ops->flags & SL_SOURCE_F_TRANSFER) != 0};
    int (*sel_fn)(void *, const struct sl_matcher *, size_t, int64_t, int64_t, sl_series_fn *,
                  void *) = ev->src->ops->select;
    if (last_only && !sel->want_corr && ev->src->ops->select_last)
        sel_fn = ev->src->ops->select_last;
    int rc = sel_fn(ev->src->ctx, sel->m, sel->nm, mint, maxt, load_cb, &lc);
    if (rc) {
        const char *why = ev->src->ops->error ? ev->src->ops->error(ev->src->ctx) : NULL;
        pq_fail(ev, SL_PQ_ERR_INTERNAL, "reading series: %s", why ? why : sl_strerror(rc));
    }
    /* stores hand series out in key order, which is usually label order already */
    int sorted = 1;
    for (size_t i = 1; i < lc.n && sorted; i++)
        sorted = pq_lset_cmp(lc.s[i - 1].ls, lc.s[i].ls) <= 0;
    if (!sorted)
        qsort(lc.s, lc.n, sizeof *lc.s, cmp_sel_series);
    struct pq_sel_cache *c = pq_alloc(ev->res, sizeof *c);
    c->s = lc.s;
    c->n = lc.n;
    sel->cache = c;
}

/* Times are clamped to +-2^62 ms: durations, @ and query times are each within 2^60 (the
 * parser and the API refuse more), so a selector's arithmetic never overflows, and nested
 * subqueries saturate instead. */
#define PQ_TIME_LIMIT ((int64_t)1 << 62)

static int64_t tsub(int64_t a, int64_t b)
{
    int64_t r = a - b;
    return r < -PQ_TIME_LIMIT ? -PQ_TIME_LIMIT : r > PQ_TIME_LIMIT ? PQ_TIME_LIMIT : r;
}

void pq_msel_window(struct pq_ev *ev, const struct pq_node *msel, int64_t mint, int64_t maxt,
                    int64_t *lo, int64_t *hi)
{
    const struct pq_node *v = msel->a;
    if (v->at_kind)
        mint = maxt = at_time(ev, v, 0);
    *lo = tsub(tsub(mint, v->offset), msel->range);
    *hi = tsub(maxt, v->offset);
}

/* Widest window each selector can read when its node is evaluated at times in
 * [mint, maxt]; loads them. */
static void prepare(struct pq_ev *ev, struct pq_node *n, int64_t mint, int64_t maxt)
{
    if (!n)
        return;
    switch (n->kind) {
    case PQ_VSEL:
        if (n->at_kind)
            mint = maxt = at_time(ev, n, 0);
        /* evaluated at one time only: its newest sample in the lookback is all it reads */
        pq_load_selector_last(ev, n, tsub(tsub(mint, n->offset), ev->lookback),
                              tsub(maxt, n->offset), 0, mint == maxt);
        return;
    case PQ_MSEL: {
        int64_t lo, hi;
        pq_msel_window(ev, n, mint, maxt, &lo, &hi);
        pq_load_selector(ev, n->a, lo, hi, 1);
        return;
    }
    case PQ_SUBQ: {
        if (n->at_kind)
            mint = maxt = at_time(ev, n, 0);
        int par_ok = ev->par_ok;
        ev->par_ok = 0; /* the subquery's steps are not the query's: no precomputed table */
        prepare(ev, n->a, tsub(tsub(mint, n->offset), n->range), tsub(maxt, n->offset));
        ev->par_ok = par_ok;
        return;
    }
    case PQ_CALL:
        if (n->pre)
            return; /* answered from a tier (pq_tier_plan): its selector is not read */
        if (n->nargs == 1 && n->args[0]->kind == PQ_MSEL &&
            (strcmp(n->fn->name, "rate") == 0 || strcmp(n->fn->name, "increase") == 0))
            n->args[0]->a->want_corr = 1;
        if (ev->par_ok && pq_par_precompute(ev, n, mint, maxt))
            return; /* read, decoded and computed by the query threads */
        for (size_t i = 0; i < n->nargs; i++)
            prepare(ev, n->args[i], mint, maxt);
        return;
    default:
        prepare(ev, n->a, mint, maxt);
        prepare(ev, n->b, mint, maxt);
        return;
    }
}

/* last index with ts <= t, or -1 */
static ptrdiff_t upper_idx(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

/* [lo, hi) = indexes of samples with mint <= t <= maxt, starting from the previous
 * step's window when time moved forward (gallops to a binary search after 16 samples). */
void pq_window_idx(struct pq_sel_series *s, int64_t mint, int64_t maxt, size_t *lo,
                   size_t *hi)
{
    size_t a, b;
    if (s->hint_maxt != 0 && mint >= s->hint_mint && maxt >= s->hint_maxt) {
        a = s->hint_lo;
        b = s->hint_hi;
        for (int k = 0; a < s->n && s->ts[a] < mint; k++, a++)
            if (k == 16) {
                a = (size_t)(upper_idx(s->ts + a, s->n - a, mint - 1) + 1) + a;
                break;
            }
        for (int k = 0; b < s->n && s->ts[b] <= maxt; k++, b++)
            if (k == 16) {
                b = (size_t)(upper_idx(s->ts + b, s->n - b, maxt) + 1) + b;
                break;
            }
    } else {
        a = (size_t)(upper_idx(s->ts, s->n, mint - 1) + 1);
        b = (size_t)(upper_idx(s->ts, s->n, maxt) + 1);
    }
    s->hint_lo = a;
    s->hint_hi = b;
    s->hint_mint = mint;
    s->hint_maxt = maxt ? maxt : 1;
    *lo = a;
    *hi = b;
}

static void eval_vsel(struct pq_ev *ev, struct pq_node *n, struct pq_val *out)
{
    int64_t ref = at_time(ev, n, ev->ts) - n->offset;
    out->type = SL_PQ_VECTOR;
    const struct pq_sel_cache *c = n->cache;
    for (size_t i = 0; i < c->n; i++) {
        struct pq_sel_series *s = &c->s[i];
        size_t lo, hi;
        pq_window_idx(s, ref - ev->lookback, ref, &lo, &hi);
        if (hi == lo)
            continue; /* nothing in [ref - lookback, ref] */
        size_t k = hi - 1;
        if (is_stale(s->vs[k]))
            continue;
        struct pq_sample *smp = PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap);
        smp->ls = s->ls;
        smp->v = s->vs[k];
        smp->t = s->ts[k];
    }
}

static void eval_msel(struct pq_ev *ev, struct pq_node *n, struct pq_val *out)
{
    struct pq_node *v = n->a;
    int64_t maxt = at_time(ev, v, ev->ts) - v->offset;
    int64_t mint = maxt - n->range;
    out->type = SL_PQ_MATRIX;
    const struct pq_sel_cache *c = v->cache;
    for (size_t i = 0; i < c->n; i++) {
        struct pq_sel_series *s = &c->s[i];
        size_t lo, hi;
        pq_window_idx(s, mint, maxt, &lo, &hi);
        if (hi == lo)
            continue;
        struct pq_mseries *m = PQ_PUSH(ev->tmp, out->mat.s, out->mat.n, out->mat.cap);
        m->ls = s->ls;
        m->ts = s->ts + lo;
        m->vs = s->vs + lo;
        m->n = hi - lo;
        m->has_corr = s->has_corr;
        if (s->has_corr)
            m->corr_sum = pq_corr_at_rank(s, pq_corr_rank(s, hi - 1)) -
                          pq_corr_at_rank(s, pq_corr_rank(s, lo));
    }
}

/* Series being assembled from per-step vectors (subqueries and range queries). */
struct acc_series {
    const struct pq_lset *ls;
    int64_t *ts;
    double *vs;
    size_t n, cap;
};

struct accum {
    struct pq_arena *a;
    struct pq_hmap map;
    struct acc_series *s;
    size_t n, cap;
};

static void accum_add(struct pq_ev *ev, struct accum *acc, const struct pq_lset *ls, int64_t t,
                      double v, int deep_copy)
{
    int found;
    size_t *slot = pq_hmap_put(acc->a, &acc->map, ls->hash, &found);
    size_t idx;
    if (found) {
        idx = *slot;
        /* a different label set with the same hash: look linearly (rare) */
        if (!pq_lset_eq(acc->s[idx].ls, ls)) {
            for (idx = 0; idx < acc->n; idx++)
                if (pq_lset_eq(acc->s[idx].ls, ls))
                    break;
        }
    } else {
        idx = acc->n;
        *slot = idx;
    }
    if (idx == acc->n) {
        struct acc_series *s = PQ_PUSH(acc->a, acc->s, acc->n, acc->cap);
        if (deep_copy && !ls->cacheable) { /* cacheable sets already live in ev->res */
            struct sl_qlabel *tmp = pq_alloc(acc->a, (ls->n ? ls->n : 1) * sizeof *tmp);
            for (uint32_t i = 0; i < ls->n; i++) {
                tmp[i].name = pq_strdup(acc->a, ls->l[i].name);
                tmp[i].value = pq_strdup(acc->a, ls->l[i].value);
            }
            s->ls = pq_lset_make(acc->a, tmp, ls->n);
        } else {
            s->ls = ls;
        }
    }
    struct acc_series *s = &acc->s[idx];
    if (s->n && s->ts[s->n - 1] == t)
        pq_fail(ev, SL_PQ_ERR_EXEC, "vector cannot contain metrics with the same labelset");
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int64_t *nts = pq_alloc(acc->a, cap * sizeof *nts);
        double *nvs = pq_alloc(acc->a, cap * sizeof *nvs);
        if (s->n) {
            memcpy(nts, s->ts, s->n * sizeof *nts);
            memcpy(nvs, s->vs, s->n * sizeof *nvs);
        }
        s->ts = nts;
        s->vs = nvs;
        s->cap = cap;
    }
    s->ts[s->n] = t;
    s->vs[s->n] = v;
    s->n++;
    ev->cur_samples++;
    if (ev->cur_samples > ev->max_samples)
        pq_fail(ev, SL_PQ_ERR_EXEC,
                "query processing would load too many samples into memory in query execution");
}

static void eval_subq(struct pq_ev *ev, struct pq_node *n, struct pq_val *out)
{
    int64_t step = n->step ? n->step : SUBQUERY_DEFAULT_STEP_MS;
    int64_t maxt = tsub(at_time(ev, n, ev->ts), n->offset);
    int64_t mint = tsub(maxt, n->range);
    /* first multiple of step >= mint, as Prometheus aligns subquery steps to the epoch */
    int64_t t0 = (mint / step) * step;
    if (t0 < mint)
        t0 += step;
    struct accum acc = {.a = ev->tmp};
    pq_hmap_init(ev->tmp, &acc.map, 16);
    const struct pq_lset *empty = pq_lset_make(ev->tmp, NULL, 0);
    int64_t saved = ev->ts, saved_k = ev->step_k;
    size_t saved_samples = ev->cur_samples;
    ev->step_k = -1; /* precomputed per-step results are for the top-level steps only */
    for (int64_t t = t0; t <= maxt; t += step) {
        pq_check_deadline(ev);
        ev->ts = t;
        struct pq_val v = {0};
        pq_eval_node(ev, n->a, &v);
        if (v.type == SL_PQ_SCALAR) {
            accum_add(ev, &acc, empty, t, v.scalar, 0);
        } else {
            for (size_t i = 0; i < v.vec.n; i++)
                accum_add(ev, &acc, v.vec.s[i].ls, t, v.vec.s[i].v, 0);
        }
    }
    ev->ts = saved;
    ev->step_k = saved_k;
    ev->cur_samples = saved_samples;
    out->type = SL_PQ_MATRIX;
    for (size_t i = 0; i < acc.n; i++) {
        struct pq_mseries *m = PQ_PUSH(ev->tmp, out->mat.s, out->mat.n, out->mat.cap);
        m->ls = acc.s[i].ls;
        m->ts = acc.s[i].ts;
        m->vs = acc.s[i].vs;
        m->n = acc.s[i].n;
    }
}

void pq_eval_node(struct pq_ev *ev, struct pq_node *n, struct pq_val *out)
{
    memset(out, 0, sizeof *out);
    pq_check_deadline(ev);
    switch (n->kind) {
    case PQ_NUM:
        out->type = SL_PQ_SCALAR;
        out->scalar = n->num;
        return;
    case PQ_STR:
        out->type = SL_PQ_STRING;
        out->str = n->str;
        return;
    case PQ_PAREN:
        pq_eval_node(ev, n->a, out);
        return;
    case PQ_VSEL:
        eval_vsel(ev, n, out);
        return;
    case PQ_MSEL:
        eval_msel(ev, n, out);
        return;
    case PQ_SUBQ:
        eval_subq(ev, n, out);
        return;
    case PQ_UNARY:
        pq_eval_node(ev, n->a, out);
        if (n->op == T_SUB) {
            if (out->type == SL_PQ_SCALAR) {
                out->scalar = -out->scalar;
            } else {
                for (size_t i = 0; i < out->vec.n; i++) {
                    out->vec.s[i].ls = pq_lset_drop_name(ev->tmp, out->vec.s[i].ls);
                    out->vec.s[i].v = -out->vec.s[i].v;
                    out->vec.s[i].t = ev->ts;
                }
                pq_check_dup(ev, &out->vec);
            }
        }
        return;
    case PQ_BINARY: {
        struct pq_val l, r;
        pq_eval_node(ev, n->a, &l);
        pq_eval_node(ev, n->b, &r);
        pq_eval_binary(ev, n, &l, &r, out);
        if (out->type == SL_PQ_VECTOR)
            pq_check_dup(ev, &out->vec); /* as rangeEval does after every step */
        return;
    }
    case PQ_AGG: {
        if (!n->b && ev->step_k >= 0) {
            const struct pq_node *a = n->a;
            while (a->kind == PQ_PAREN)
                a = a->a;
            if (a->kind == PQ_CALL && a->pre && pq_agg_sum_pre(ev, n, a->pre, out))
                return;
        }
        struct pq_val arg, param = {0};
        if (n->b)
            pq_eval_node(ev, n->b, &param);
        pq_eval_node(ev, n->a, &arg);
        pq_eval_aggregate(ev, n, &arg, n->b ? &param : NULL, out);
        return;
    }
    case PQ_CALL: {
        if (n->pre && ev->step_k >= 0) {
            /* precomputed series by series; this step's row becomes the vector */
            const struct pq_pre *p = n->pre;
            const double *vals = p->vals + (size_t)ev->step_k * p->n;
            const unsigned char *present = p->present + (size_t)ev->step_k * p->n;
            out->type = SL_PQ_VECTOR;
            out->vec.cap = p->n ? p->n : 1;
            out->vec.s = pq_alloc_raw(ev->tmp, out->vec.cap * sizeof *out->vec.s);
            for (size_t i = 0; i < p->n; i++) {
                if (!present[i])
                    continue;
                struct pq_sample *smp = &out->vec.s[out->vec.n++];
                smp->ls = p->ls[i];
                smp->v = vals[i];
                smp->t = ev->ts;
            }
            return;
        }
        struct pq_val args[8];
        size_t na = n->nargs < 8 ? n->nargs : 8;
        for (size_t i = 0; i < na; i++)
            pq_eval_node(ev, n->args[i], &args[i]);
        n->fn->fn(ev, n, args, out);
        if (out->type == SL_PQ_VECTOR)
            pq_check_dup(ev, &out->vec);
        return;
    }
    default:
        pq_fail(ev, SL_PQ_ERR_INTERNAL, "unknown node kind %d", n->kind);
    }
}

/* ---- entry point ----------------------------------------------------------------------- */

/* Range queries: compute range functions over plain selectors series by series. Not below
 * subqueries, whose steps are not the query's. */
static void precompute(struct pq_ev *ev, struct pq_node *n, int64_t nsteps)
{
    if (!n || n->kind == PQ_SUBQ)
        return;
    if (n->kind == PQ_CALL && n->pre && n->pre->fused) {
        /* the table the query threads filled: counted here, where the serial path would
         * have built it, so the sample limit decides the same way */
        struct pq_pre *p = n->pre;
        size_t ns = p->n ? p->n : 1, cells = (size_t)nsteps * ns;
        if (cells / (size_t)nsteps == ns && ev->cur_samples + cells <= ev->max_samples) {
            ev->cur_samples += cells;
            return;
        }
        /* too big to hold: give it up for the per-step path, which needs the samples */
        n->pre = NULL;
        ev->cur_samples -= p->loaded;
        pq_load_selector(ev, p->sel, p->mint, p->maxt, 1);
        return;
    }
    if (n->kind == PQ_CALL && pq_func_precompute(ev, n, nsteps))
        return;
    precompute(ev, n->a, nsteps);
    precompute(ev, n->b, nsteps);
    for (size_t i = 0; i < n->nargs; i++)
        precompute(ev, n->args[i], nsteps);
}

struct result_impl {
    struct sl_promql_result r;
    struct pq_arena arena;
};

static int cmp_series_labels(const void *a, const void *b)
{
    const struct sl_promql_series *x = a, *y = b;
    for (size_t i = 0; i < x->nlabels && i < y->nlabels; i++) {
        int c = strcmp(x->labels[i].name, y->labels[i].name);
        if (c)
            return c;
        c = strcmp(x->labels[i].value, y->labels[i].value);
        if (c)
            return c;
    }
    return x->nlabels < y->nlabels ? -1 : x->nlabels > y->nlabels;
}

static void reset_caches(struct pq_node *n)
{
    if (!n)
        return;
    n->cache = NULL;
    n->pre = NULL;
    n->agg = NULL;
    reset_caches(n->a);
    reset_caches(n->b);
    for (size_t i = 0; i < n->nargs; i++)
        reset_caches(n->args[i]);
}

static const char *vtype_name(int t)
{
    switch (t) {
    case SL_PQ_SCALAR: return "scalar";
    case SL_PQ_VECTOR: return "vector";
    case SL_PQ_MATRIX: return "matrix";
    case SL_PQ_STRING: return "string";
    default: return "none";
    }
}

int sl_promql_eval(struct sl_promql_expr *e, const struct sl_source *src,
                   const struct sl_promql_opts *opts, struct sl_promql_result **out,
                   struct sl_promql_error *err)
{
    memset(err, 0, sizeof *err);
    struct result_impl *ri = calloc(1, sizeof *ri);
    struct pq_ev *ev = calloc(1, sizeof *ev);
    struct pq_arena *tmp = calloc(1, sizeof *tmp);
    if (!ri || !ev || !tmp) {
        free(ri);
        free(ev);
        free(tmp);
        return -ENOMEM;
    }
    jmp_buf oom;
    ev->res = &ri->arena;
    ev->tmp = tmp;
    ev->err = err;
    ev->src = src;
    ev->start = opts->start_ms;
    ev->end = opts->end_ms;
    ev->step = opts->step_ms;
    ev->lookback = opts->lookback_ms > 0 ? opts->lookback_ms : DEFAULT_LOOKBACK_MS;
    ev->max_samples = opts->max_samples ? opts->max_samples : DEFAULT_MAX_SAMPLES;
    ev->tiers = opts->tiers;
    ev->pool = opts->pool && sl_promql_pool_threads(opts->pool) > 1 ? opts->pool : NULL;
    ev->par_ok = ev->pool && opts->step_ms > 0 && ev->src->ops->parts_open &&
                 ev->src->ops->parts_read && ev->src->ops->parts_close;
    if (opts->timeout_ms > 0)
        ev->deadline_ns = now_ns() + opts->timeout_ms * 1000000;
    int rc = 0;
    if (setjmp(oom)) {
        err->kind = SL_PQ_ERR_INTERNAL;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    ri->arena.oom = &oom;
    tmp->oom = &oom;
    if (setjmp(ev->jb)) {
        rc = SL_E_PROTO;
        goto fail;
    }
    struct pq_node *root = e->root;
    if (ev->step > 0) {
        if (root->type != SL_PQ_SCALAR && root->type != SL_PQ_VECTOR)
            pq_fail(ev, SL_PQ_ERR_EXEC,
                    "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                    root->type == SL_PQ_MATRIX ? "range vector" : "string");
        if (ev->end < ev->start)
            pq_fail(ev, SL_PQ_ERR_EXEC, "end timestamp must not be before start time");
        if ((ev->end - ev->start) / ev->step > MAX_POINTS_PER_SERIES) /* as api.go checks */
            pq_fail(ev, SL_PQ_ERR_EXEC,
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
    }
    reset_caches(root);
    pq_tier_plan(ev, root);
    prepare(ev, root, ev->start, ev->step > 0 ? ev->end : ev->start);
    struct sl_promql_result *r = &ri->r;
    r->_arena = &ri->arena;
    r->t = ev->start;
    ev->step_k = -1;
    if (ev->step <= 0) {
        ev->ts = ev->start;
        struct pq_val v;
        pq_eval_node(ev, root, &v);
        r->type = v.type;
        switch (v.type) {
        case SL_PQ_SCALAR:
            r->scalar = v.scalar;
            break;
        case SL_PQ_STRING:
            r->str = pq_strdup(ev->res, v.str);
            break;
        case SL_PQ_VECTOR: {
            pq_check_dup(ev, &v.vec);
            struct sl_promql_series *s = pq_alloc(ev->res, (v.vec.n ? v.vec.n : 1) * sizeof *s);
            struct sl_promql_point *pts = pq_alloc_raw(ev->res, (v.vec.n ? v.vec.n : 1) * sizeof *pts);
            for (size_t i = 0; i < v.vec.n; i++) {
                const struct pq_lset *ls = v.vec.s[i].ls;
                const struct sl_qlabel *l = ls->l; /* a selector's set lives in ev->res */
                if (!ls->cacheable) {
                    struct sl_qlabel *c = pq_alloc(ev->res, (ls->n + 1) * sizeof *c);
                    for (uint32_t j = 0; j < ls->n; j++) {
                        c[j].name = pq_strdup(ev->res, ls->l[j].name);
                        c[j].value = pq_strdup(ev->res, ls->l[j].value);
                    }
                    l = c;
                }
                pts[i] = (struct sl_promql_point){ev->start, v.vec.s[i].v};
                s[i] = (struct sl_promql_series){l, ls->n, &pts[i], 1};
            }
            r->series = s;
            r->nseries = v.vec.n;
            break;
        }
        case SL_PQ_MATRIX: {
            struct sl_promql_series *s = pq_alloc(ev->res, (v.mat.n ? v.mat.n : 1) * sizeof *s);
            for (size_t i = 0; i < v.mat.n; i++) {
                const struct pq_mseries *m = &v.mat.s[i];
                struct sl_qlabel *l = pq_alloc(ev->res, (m->ls->n + 1) * sizeof *l);
                for (uint32_t j = 0; j < m->ls->n; j++) {
                    l[j].name = pq_strdup(ev->res, m->ls->l[j].name);
                    l[j].value = pq_strdup(ev->res, m->ls->l[j].value);
                }
                struct sl_promql_point *pt = pq_alloc(ev->res, (m->n ? m->n : 1) * sizeof *pt);
                for (size_t j = 0; j < m->n; j++)
                    pt[j] = (struct sl_promql_point){m->ts[j], m->vs[j]};
                s[i] = (struct sl_promql_series){l, m->ls->n, pt, m->n};
            }
            r->series = s;
            r->nseries = v.mat.n;
            break;
        }
        default:
            pq_fail(ev, SL_PQ_ERR_INTERNAL, "unexpected result type %s", vtype_name(v.type));
        }
    } else {
        struct accum acc = {.a = ev->res};
        pq_hmap_init(ev->res, &acc.map, 64);
        const struct pq_lset *empty = pq_lset_make(ev->res, NULL, 0);
        precompute(ev, root, (ev->end - ev->start) / ev->step + 1);
        for (int64_t t = ev->start; t <= ev->end; t += ev->step) {
            struct pq_mark mk = pq_arena_mark(ev->tmp);
            ev->ts = t;
            ev->step_k = (t - ev->start) / ev->step;
            struct pq_val v;
            pq_eval_node(ev, root, &v);
            if (v.type == SL_PQ_SCALAR) {
                accum_add(ev, &acc, empty, t, v.scalar, 0);
            } else {
                for (size_t i = 0; i < v.vec.n; i++)
                    accum_add(ev, &acc, v.vec.s[i].ls, t, v.vec.s[i].v, 1);
            }
            pq_arena_release(ev->tmp, mk);
        }
        r->type = SL_PQ_MATRIX;
        struct sl_promql_series *s = pq_alloc(ev->res, (acc.n ? acc.n : 1) * sizeof *s);
        for (size_t i = 0; i < acc.n; i++) {
            struct sl_promql_point *pt = pq_alloc(ev->res, acc.s[i].n * sizeof *pt);
            for (size_t j = 0; j < acc.s[i].n; j++)
                pt[j] = (struct sl_promql_point){acc.s[i].ts[j], acc.s[i].vs[j]};
            s[i] = (struct sl_promql_series){acc.s[i].ls->l, acc.s[i].ls->n, pt, acc.s[i].n};
        }
        qsort(s, acc.n, sizeof *s, cmp_series_labels);
        r->series = s;
        r->nseries = acc.n;
        r->warnings = ev->warnings;
        r->nwarnings = ev->nwarnings;
    }
    ri->arena.oom = NULL;
    free_owned(ev);
    pq_arena_fini(tmp);
    free(tmp);
    free(ev);
    *out = r;
    return 0;
fail:
    free_owned(ev);
    pq_arena_fini(tmp);
    pq_arena_fini(&ri->arena);
    free(tmp);
    free(ev);
    free(ri);
    return rc;
}

void sl_promql_result_free(struct sl_promql_result *r)
{
    if (!r)
        return;
    struct result_impl *ri = (struct result_impl *)r;
    pq_arena_fini(&ri->arena);
    free(ri);
}
