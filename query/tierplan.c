/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Range functions of range queries answered from a downsampled tier (the rule, and why it is
 * exact, is in tierplan.h). Kept out of eval.c so the evaluator only asks "was this call
 * planned?" (call->pre set before the selectors load): the per-step results land in the
 * same step-major table pq_func_precompute() fills, so the step loop, the sum fast path of
 * aggregate.c and the output assembly are shared with the raw path unchanged.
 */
#include "query/tierplan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/errors.h"

enum tfn { TF_SUM, TF_COUNT, TF_MIN, TF_MAX, TF_LAST, TF_AVG, TF_RATE, TF_INCREASE };

static const struct {
    const char *name;
    int kind;
} tier_fns[] = {
    {"sum_over_time", TF_SUM}, {"count_over_time", TF_COUNT}, {"min_over_time", TF_MIN},
    {"max_over_time", TF_MAX}, {"last_over_time", TF_LAST},   {"avg_over_time", TF_AVG},
    {"rate", TF_RATE},         {"increase", TF_INCREASE},
};

#define MAX_TIERS 8

/* One series of the tier read: label set (lives as long as the result) and its buckets. */
struct tseries {
    const struct pq_lset *ls;
    const struct sl_agg *b;
    size_t n;
};

struct tload {
    struct pq_ev *ev;
    struct tseries *s;
    size_t n, cap;
};

static int is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == SL_STALE_NAN_BITS;
}

/* A label set cached as load_cb() in eval.c makes selector series, so the aggregation fast
 * path and the name-dropping caches work on it the same way. */
static const struct pq_lset *long_lived_lset(struct pq_ev *ev, const struct sl_qlabel *ls,
                                             size_t nls)
{
    struct sl_qlabel *tmp = pq_alloc(ev->res, (nls ? nls : 1) * sizeof *tmp);
    for (size_t i = 0; i < nls; i++) {
        tmp[i].name = pq_strdup(ev->res, ls[i].name);
        tmp[i].value = pq_strdup(ev->res, ls[i].value);
    }
    struct pq_lset *set = (struct pq_lset *)pq_lset_make(ev->res, tmp, nls);
    set->cacheable = 1;
    if (pq_lset_get(set, "__name__")) {
        struct pq_lset *nn = (struct pq_lset *)pq_lset_drop_name(ev->res, set);
        nn->cacheable = 1;
        set->noname = nn;
    }
    return set;
}

static int agg_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const struct sl_agg *b,
                  size_t n)
{
    struct tload *tl = arg;
    struct pq_ev *ev = tl->ev;
    struct tseries *s = PQ_PUSH(ev->res, tl->s, tl->n, tl->cap);
    s->ls = long_lived_lset(ev, ls, nls);
    s->b = pq_memdup(ev->res, b, n * sizeof *b);
    s->n = n;
    ev->cur_samples += n;
    /* no longjmp through the source: it returns, frees, and the caller fails */
    return ev->cur_samples > ev->max_samples ? -E2BIG : 0;
}

static int cmp_tseries(const void *a, const void *b)
{
    return pq_lset_cmp(((const struct tseries *)a)->ls, ((const struct tseries *)b)->ls);
}

/* Raw samples at window ends, matched to the tier series by label set; the sample at
 * E = base + k * step goes to row k. */
struct tinst {
    struct pq_ev *ev;
    struct pq_hmap *map;
    const struct tseries *s;
    size_t ns;
    int64_t base, step, nsteps;
    double *v;
    unsigned char *has;
};

static int inst_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                   const double *vs, size_t n)
{
    struct tinst *ti = arg;
    const struct pq_lset *set = NULL;
    size_t *slot = NULL;
    for (size_t j = 0; j < n; j++) {
        int64_t d = ts[j] - ti->base;
        if (d < 0 || d % ti->step || d / ti->step >= ti->nsteps || is_stale(vs[j]))
            continue;
        if (!set) {
            set = pq_lset_make(ti->ev->tmp, ls, nls);
            slot = pq_hmap_get(ti->map, set->hash);
            /* A series without a bucket here has only NaN samples at E, which tiers do not
             * keep (tierplan.h): it is left out like the rest of its NaNs. */
            if (!slot || !pq_lset_eq(ti->s[*slot].ls, set))
                return 0;
        }
        size_t cell = (size_t)(d / ti->step) * ti->ns + *slot;
        ti->v[cell] = vs[j];
        ti->has[cell] = 1;
    }
    return 0;
}

static void add_warning(struct pq_ev *ev, struct pq_node *call, int64_t res, int counters)
{
    struct sl_buf b = SL_BUF_INIT, r = SL_BUF_INIT, w = SL_BUF_INIT;
    pq_format_node(call, &b);
    pq_format_duration(&r, res);
    const struct pq_node *msel = call->args[0];
    while (msel->kind == PQ_PAREN)
        msel = msel->a;
    pq_format_duration(&w, msel->range);
    char msg[1024];
    if (counters)
        snprintf(msg, sizeof msg,
                 "%s was answered from the %s downsampled tier: the counter's increase, "
                 "resets adjusted, from the last sample before each [t-%s, t) window to the "
                 "last sample in it, without the extrapolation of Prometheus' rate/increase "
                 "(use_tiers=true reads raw samples for rate and increase)",
                 b.data ? b.data : "", r.data ? r.data : "", w.data ? w.data : "");
    else
        snprintf(msg, sizeof msg,
                 "%s was answered from the %s downsampled tier: whole %s buckets plus the "
                 "raw samples at each window's end, equal to the raw answer (sums and "
                 "averages up to float rounding; NaN sample values are not kept in tiers)",
                 b.data ? b.data : "", r.data ? r.data : "", r.data ? r.data : "");
    sl_buf_fini(&b);
    sl_buf_fini(&r);
    sl_buf_fini(&w);
    for (size_t i = 0; i < ev->nwarnings; i++)
        if (strcmp(ev->warnings[i], msg) == 0)
            return;
    const char **slot = PQ_PUSH(ev->res, ev->warnings, ev->nwarnings, ev->capwarnings);
    *slot = pq_strdup(ev->res, msg);
}

static struct pq_node *unwrap(struct pq_node *n)
{
    while (n->kind == PQ_PAREN)
        n = n->a;
    return n;
}

static int64_t mod_floor(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* The coarsest tier the rule allows for this call, or 0. */
static int64_t pick_tier(struct pq_ev *ev, int64_t range, int64_t offset, int64_t *lo,
                         int64_t *hi)
{
    const struct sl_source_ops *ops = ev->src->ops;
    if (!ops->tiers || !ops->select_agg)
        return 0;
    struct sl_source_tier t[MAX_TIERS];
    size_t nt = ops->tiers(ev->src->ctx, t, MAX_TIERS);
    if (nt > MAX_TIERS)
        nt = MAX_TIERS;
    int64_t best = 0;
    for (size_t i = 0; i < nt; i++) {
        int64_t r = t[i].resolution_ms;
        if (r <= 0 || r <= best || ev->step % r || range % r ||
            mod_floor(ev->start - offset, r))
            continue;
        /* a bucket is six values: with few samples behind it, the tier is no smaller */
        if (t[i].samples_per_bucket > 0 && t[i].samples_per_bucket < PQ_TIER_MIN_DENSITY)
            continue;
        /* bucket starts read: the first window's start to the last window's end */
        int64_t a = ev->start - offset - range;
        int64_t b = ev->start + (ev->end - ev->start) / ev->step * ev->step - offset;
        int64_t ca = t[i].mint > a ? t[i].mint : a, cb = t[i].maxt < b ? t[i].maxt : b;
        int64_t covered = ca <= cb ? (cb - ca) / r + 1 : 0, all = (b - a) / r + 1;
        if (covered * 2 < all)
            continue;
        best = r;
        *lo = a;
        *hi = b;
    }
    return best;
}

static int plan_call(struct pq_ev *ev, struct pq_node *call)
{
    int kind = -1;
    for (size_t i = 0; i < sizeof tier_fns / sizeof tier_fns[0]; i++)
        if (strcmp(call->fn->name, tier_fns[i].name) == 0)
            kind = tier_fns[i].kind;
    if (kind < 0 || call->nargs != 1)
        return 0;
    int counters = kind == TF_RATE || kind == TF_INCREASE;
    if (counters && ev->tiers != SL_PQ_TIERS_COUNTERS)
        return 0;
    struct pq_node *msel = unwrap(call->args[0]);
    if (msel->kind != PQ_MSEL || msel->a->at_kind != PQ_AT_NONE)
        return 0;
    struct pq_node *v = msel->a;
    int64_t nsteps = (ev->end - ev->start) / ev->step + 1;
    if (!counters && !ev->src->ops->select_at && nsteps > PQ_TIER_MAX_INSTANTS)
        return 0;
    int64_t lo = 0, hi = 0;
    int64_t res = pick_tier(ev, msel->range, v->offset, &lo, &hi);
    if (!res)
        return 0;

    struct tload tl = {.ev = ev};
    int rc = ev->src->ops->select_agg(ev->src->ctx, v->m, v->nm, res, lo, hi, agg_cb, &tl);
    if (rc == -E2BIG && ev->cur_samples > ev->max_samples)
        pq_fail(ev, SL_PQ_ERR_EXEC,
                "query processing would load too many samples into memory in query execution");
    if (rc) {
        const char *why = ev->src->ops->error ? ev->src->ops->error(ev->src->ctx) : NULL;
        pq_fail(ev, SL_PQ_ERR_INTERNAL, "reading tier: %s", why ? why : sl_strerror(rc));
    }
    /* the raw path's series order, so aggregations add in the same order */
    if (tl.n > 1)
        qsort(tl.s, tl.n, sizeof *tl.s, cmp_tseries);
    size_t ns = tl.n, cells = (size_t)nsteps * (ns ? ns : 1);
    if (ev->cur_samples + cells > ev->max_samples)
        pq_fail(ev, SL_PQ_ERR_EXEC,
                "query processing would load too many samples into memory in query execution");
    ev->cur_samples += cells;

    /* raw samples at the window ends */
    double *iv = NULL;
    unsigned char *ih = NULL;
    if (!counters && ns) {
        iv = pq_alloc_raw(ev->res, cells * sizeof *iv);
        ih = pq_alloc(ev->res, cells);
        struct pq_hmap map;
        pq_hmap_init(ev->res, &map, ns);
        for (size_t i = 0; i < ns; i++) {
            int found;
            *pq_hmap_put(ev->res, &map, tl.s[i].ls->hash, &found) = i;
        }
        /* the window ends where some series has a sample in [E, E + res): only those can
         * hold a sample at E */
        size_t *at = pq_alloc(ev->tmp, ns * sizeof *at);
        int64_t *ends = pq_alloc_raw(ev->tmp, (size_t)nsteps * sizeof *ends);
        size_t nends = 0;
        for (int64_t k = 0; k < nsteps; k++) {
            int64_t e = ev->start + k * ev->step - v->offset;
            int any = 0;
            for (size_t i = 0; i < ns && !any; i++) {
                const struct tseries *s = &tl.s[i];
                while (at[i] < s->n && s->b[at[i]].t < e)
                    at[i]++;
                any |= at[i] < s->n && s->b[at[i]].t == e && s->b[at[i]].count > 0;
            }
            if (any)
                ends[nends++] = e;
        }
        struct tinst ti = {ev,        &map,     tl.s, ns, ev->start - v->offset, ev->step,
                           nsteps,    iv,       ih};
        const struct sl_source_ops *ops = ev->src->ops;
        if (ops->select_at && nends) {
            rc = ops->select_at(ev->src->ctx, v->m, v->nm, ends, nends, inst_cb, &ti);
        } else {
            for (size_t k = 0; k < nends && !rc; k++) {
                pq_check_deadline(ev);
                struct pq_mark mk = pq_arena_mark(ev->tmp);
                rc = ops->select(ev->src->ctx, v->m, v->nm, ends[k], ends[k], inst_cb, &ti);
                pq_arena_release(ev->tmp, mk);
            }
        }
        if (rc) {
            const char *why = ops->error ? ops->error(ev->src->ctx) : NULL;
            pq_fail(ev, SL_PQ_ERR_INTERNAL, "reading series: %s", why ? why : sl_strerror(rc));
        }
    }

    struct pq_pre *pre = pq_alloc(ev->res, sizeof *pre);
    pre->n = ns;
    pre->ls = pq_alloc(ev->res, (ns ? ns : 1) * sizeof *pre->ls);
    pre->vals = pq_alloc_raw(ev->res, cells * sizeof *pre->vals);
    pre->present = pq_alloc(ev->res, cells);
    double range_s = (double)msel->range / 1000;
    for (size_t i = 0; i < ns; i++) {
        const struct tseries *s = &tl.s[i];
        pre->ls[i] = kind == TF_LAST ? s->ls : pq_lset_drop_name(ev->res, s->ls);
        pq_check_deadline(ev);
        size_t a = 0, b = 0;
        for (int64_t k = 0; k < nsteps; k++) {
            int64_t e = ev->start + k * ev->step - v->offset;
            /* [a, b) = buckets starting in [e - range, e) */
            while (a < s->n && s->b[a].t < e - msel->range)
                a++;
            if (b < a)
                b = a;
            while (b < s->n && s->b[b].t < e)
                b++;
            double cnt = 0, sum = 0, mn = 0, mx = 0, last = 0, incr = 0;
            for (size_t j = a; j < b; j++) {
                const struct sl_agg *g = &s->b[j];
                if (g->count <= 0)
                    continue;
                if (cnt == 0) {
                    mn = g->min;
                    mx = g->max;
                } else {
                    mn = g->min < mn ? g->min : mn;
                    mx = g->max > mx ? g->max : mx;
                }
                cnt += g->count;
                sum += g->sum;
                last = g->last;
                incr += g->incr;
            }
            size_t cell = (size_t)k * ns + i;
            double out;
            if (counters) {
                if (cnt == 0)
                    continue;
                out = kind == TF_RATE ? incr / range_s : incr;
            } else {
                if (ih && ih[cell]) {
                    double x = iv[cell];
                    /* as the raw loops: a NaN replaces the running min/max only when it is
                     * the first value, and never loses it afterwards */
                    if (cnt == 0) {
                        mn = mx = x;
                    } else {
                        mn = x < mn ? x : mn;
                        mx = x > mx ? x : mx;
                    }
                    cnt += 1;
                    sum += x;
                    last = x;
                }
                if (cnt == 0)
                    continue;
                switch (kind) {
                case TF_SUM: out = sum; break;
                case TF_COUNT: out = cnt; break;
                case TF_MIN: out = mn; break;
                case TF_MAX: out = mx; break;
                case TF_LAST: out = last; break;
                default: out = sum / cnt; break;
                }
            }
            pre->vals[cell] = out;
            pre->present[cell] = 1;
        }
    }
    call->pre = pre;
    add_warning(ev, call, res, counters);
    return 1;
}

void pq_tier_plan(struct pq_ev *ev, struct pq_node *n)
{
    if (!n || n->kind == PQ_SUBQ || ev->step <= 0 || ev->tiers == SL_PQ_TIERS_OFF)
        return;
    if (n->kind == PQ_CALL && plan_call(ev, n))
        return;
    pq_tier_plan(ev, n->a);
    pq_tier_plan(ev, n->b);
    for (size_t i = 0; i < n->nargs; i++)
        pq_tier_plan(ev, n->args[i]);
}
