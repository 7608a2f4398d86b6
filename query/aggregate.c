/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aggregation operators at one instant (sum, avg, count, min, max, group, stddev, stdvar,
 * topk, bottomk, quantile, count_values) with by/without grouping, following Prometheus
 * 2.42's aggregation(): groups appear in order of their first sample, avg is an
 * incremental mean that survives infinities, stddev/stdvar use Welford's update, min/max
 * replace a NaN, topk/bottomk order NaN last, count_values writes the value with
 * strconv 'f' formatting into the new label.
 */
#include "query/promql_pvt.h"

#include <math.h>
#include <stdlib.h>

struct group {
    const struct pq_lset *ls;
    double value, mean;
    size_t count;
    struct pq_sample *items; /* topk/bottomk/quantile */
    size_t nitems, capitems;
};

static int valid_label_name(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        int ok = *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (p != s && *p >= '0' && *p <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* descending, NaN last (vectorByValueHeap reversed); ties by input order */
static int cmp_desc(const void *a, const void *b)
{
    const struct pq_sample *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/*
 * Move the first @k of @items in @cmp order to items[0..k), in that order; the rest of
 * the array is left in no particular order. What qsort() and taking @k gives, since @cmp
 * orders every pair (ties go by input position), but topk(10, ...) over a few hundred
 * groups at each of hundreds of steps then costs a pass with a 10-element insertion
 * list instead of a sort: the sort was 9% of a topk range query's CPU.
 */
static size_t select_first(struct pq_sample *items, size_t n, size_t k,
                           int (*cmp)(const void *, const void *))
{
    if (k == 0)
        return 0;
    if (k > 32 || k * 4 > n) {
        qsort(items, n, sizeof *items, cmp);
        return k;
    }
    size_t m = 0; /* items[0..m) holds the first m seen so far, in order; m <= i */
    for (size_t i = 0; i < n; i++) {
        struct pq_sample s = items[i];
        if (m == k && cmp(&s, &items[k - 1]) >= 0)
            continue;
        size_t j = m < k ? m++ : k - 1;
        while (j > 0 && cmp(&s, &items[j - 1]) < 0) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = s;
    }
    return m;
}

/* ascending, NaN last (vectorByReverseValueHeap reversed) */
static int cmp_asc(const void *a, const void *b)
{
    const struct pq_sample *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* NaN smallest, as quantile()'s sort does */
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return (x > y) - (x < y);
}

double pq_quantile(double q, double *vals, size_t n)
{
    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(vals, n, sizeof *vals, cmp_dbl);
    double rank = q * (double)(n - 1);
    double lo = fmax(0, floor(rank));
    double hi = fmin((double)n - 1, lo + 1);
    double w = rank - floor(rank);
    return vals[(size_t)lo] * (1 - w) + vals[(size_t)hi] * w;
}

/* The groups of one aggregation node across the steps of a query. Which group a series
 * falls in depends on its labels only, so for label sets that live as long as the query
 * (selector series, precomputed range function results, other cached groups) the
 * signature, the lookup and the group's label set are computed once per series and kept:
 * the set's aux cache holds its slot, the slot the group's label set. A step then only
 * orders the groups it sees (a slot gets a group index the first time a step meets it:
 * groups keep Prometheus' order of first sample). */
struct agg_slot {
    const struct pq_lset *ls; /* group label set, query lifetime, cacheable */
    uint64_t stamp;           /* evaluation that last gave the slot a group */
    size_t pos;               /* that group's index */
};
struct pq_agg_cache {
    struct pq_hmap map; /* grouping signature -> slot */
    struct agg_slot *slot;
    size_t n, cap;
    uint64_t evals;
    int off; /* two groups shared a signature: stay on the per-step path */
    /* slot of each series of a precomputed argument (pq_agg_sum_pre), or NULL */
    const struct pq_pre *pre;
    size_t *pre_slots;
};

/* Slot of every sample of @v in @n's cache; 0 if the cache cannot be used (a set that
 * does not live long enough, or a signature shared by different groups). */
static int agg_slots(struct pq_ev *ev, struct pq_node *n, const struct pq_vec *v, size_t *slots)
{
    if (!n->agg) {
        n->agg = pq_alloc(ev->res, sizeof *n->agg);
        pq_hmap_init(ev->res, &n->agg->map, v->n);
    }
    struct pq_agg_cache *ac = n->agg;
    if (ac->off)
        return 0;
    for (size_t i = 0; i < v->n; i++) {
        struct pq_lset *ls = (struct pq_lset *)v->s[i].ls; /* cache fields only */
        if (!ls->cacheable)
            return 0; /* the slots cached so far stay valid */
        if (ls->aux_owner == n) {
            slots[i] = ls->aux_idx;
            continue;
        }
        uint64_t key = pq_lset_sig_cached(ls, n, n->grouping, n->ngrouping, !n->without);
        int found;
        size_t *slot = pq_hmap_put(ev->res, &ac->map, key, &found);
        if (found) {
            /* the per-step path labels a group after its first sample in the step; that
             * is this label set unless two groups' signatures collide */
            struct pq_mark mk = pq_arena_mark(ev->tmp);
            const struct pq_lset *g =
                pq_lset_restrict(ev->tmp, ls, n->grouping, n->ngrouping, !n->without);
            int same = pq_lset_eq(g, ac->slot[*slot].ls);
            pq_arena_release(ev->tmp, mk);
            if (!same) {
                ac->off = 1;
                return 0;
            }
        } else {
            *slot = ac->n;
            struct agg_slot *as = PQ_PUSH(ev->res, ac->slot, ac->n, ac->cap);
            struct pq_lset *g = (struct pq_lset *)pq_lset_restrict(
                ev->res, ls, n->grouping, n->ngrouping, !n->without);
            g->cacheable = 1;
            as->ls = g;
        }
        ls->aux_owner = n;
        ls->aux_idx = *slot;
        slots[i] = *slot;
    }
    ac->evals++;
    return 1;
}

int pq_agg_sum_pre(struct pq_ev *ev, struct pq_node *n, const struct pq_pre *p,
                   struct pq_val *out)
{
    if (n->op != T_SUM || !p->n)
        return 0;
    if (!n->agg || n->agg->pre != p) {
        /* every series of the argument at once: the slots do not depend on the step */
        struct pq_mark mk = pq_arena_mark(ev->tmp);
        struct pq_vec v = {pq_alloc(ev->tmp, p->n * sizeof *v.s), p->n, p->n};
        for (size_t i = 0; i < p->n; i++)
            v.s[i].ls = p->ls[i];
        size_t *slots = pq_alloc_raw(ev->res, p->n * sizeof *slots);
        int ok = agg_slots(ev, n, &v, slots);
        pq_arena_release(ev->tmp, mk);
        if (!ok)
            return 0;
        n->agg->pre = p;
        n->agg->pre_slots = slots;
    }
    struct pq_agg_cache *ac = n->agg;
    uint64_t ev_no = ++ac->evals;
    const double *vals = p->vals + (size_t)ev->step_k * p->n;
    const unsigned char *present = p->present + (size_t)ev->step_k * p->n;
    struct group *groups = NULL;
    size_t ngroups = 0, capgroups = 0;
    /* as the sum loop of pq_eval_aggregate over this step's row, in series order */
    for (size_t i = 0; i < p->n; i++) {
        if (!present[i])
            continue;
        struct agg_slot *as = &ac->slot[ac->pre_slots[i]];
        if (as->stamp == ev_no) {
            groups[as->pos].value += vals[i];
            continue;
        }
        as->stamp = ev_no;
        as->pos = ngroups;
        struct group *g = PQ_PUSH(ev->tmp, groups, ngroups, capgroups);
        g->ls = as->ls;
        g->value = vals[i];
    }
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < ngroups; i++)
        pq_vec_push(ev, &out->vec, groups[i].ls, groups[i].value);
    return 1;
}

void pq_eval_aggregate(struct pq_ev *ev, struct pq_node *n, struct pq_val *arg,
                       struct pq_val *param, struct pq_val *out)
{
    int op = n->op;
    out->type = SL_PQ_VECTOR;
    int64_t k = 0;
    double q = 0;
    const char *value_label = NULL;
    char **grouping = n->grouping;
    size_t ngrouping = n->ngrouping;
    if (op == T_TOPK || op == T_BOTTOMK) {
        double f = param->scalar;
        if (!(f >= -9.2233720368547758e18 && f <= 9.2233720368547758e18))
            pq_fail(ev, SL_PQ_ERR_EXEC, "Scalar value %g overflows int64", f);
        k = (int64_t)f;
        if (k < 1)
            return;
    } else if (op == T_QUANTILE) {
        q = param->scalar;
    } else if (op == T_COUNT_VALUES) {
        value_label = param->str;
        if (!valid_label_name(value_label))
            pq_fail(ev, SL_PQ_ERR_EXEC, "invalid label name \"%s\"", value_label);
        if (!n->without) {
            grouping = pq_alloc(ev->tmp, (ngrouping + 1) * sizeof *grouping);
            if (ngrouping)
                memcpy(grouping, n->grouping, ngrouping * sizeof *grouping);
            grouping[ngrouping++] = (char *)value_label;
        }
    }
    size_t *slots = NULL;
    if (op != T_COUNT_VALUES && arg->vec.n) {
        slots = pq_alloc_raw(ev->tmp, arg->vec.n * sizeof *slots);
        if (!agg_slots(ev, n, &arg->vec, slots))
            slots = NULL;
    }
    struct pq_hmap map;
    if (!slots)
        pq_hmap_init(ev->tmp, &map, arg->vec.n);
    struct group *groups = NULL;
    size_t ngroups = 0, capgroups = 0;
    if (slots && op == T_SUM) {
        /* the common case without the general loop's per-sample dispatch; the same
         * additions in the same order */
        struct agg_slot *sl = n->agg->slot;
        uint64_t ev_no = n->agg->evals;
        for (size_t i = 0; i < arg->vec.n; i++) {
            struct agg_slot *as = &sl[slots[i]];
            double v = arg->vec.s[i].v;
            if (as->stamp == ev_no) {
                groups[as->pos].value += v;
                continue;
            }
            as->stamp = ev_no;
            as->pos = ngroups;
            struct group *g = PQ_PUSH(ev->tmp, groups, ngroups, capgroups);
            g->ls = as->ls;
            g->value = v;
            g->mean = v;
            g->count = 1;
        }
        for (size_t i = 0; i < ngroups; i++)
            pq_vec_push(ev, &out->vec, groups[i].ls, groups[i].value);
        return;
    }
    for (size_t i = 0; i < arg->vec.n; i++) {
        struct pq_sample s = arg->vec.s[i];
        s.t = (int64_t)i; /* input order, for stable tie breaks */
        const struct pq_lset *metric = s.ls;
        if (op == T_COUNT_VALUES) {
            struct sl_buf b = SL_BUF_INIT;
            pq_format_float_f(&b, s.v);
            char *vs = pq_strdup(ev->tmp, b.data ? b.data : "0");
            sl_buf_fini(&b);
            struct sl_qlabel *tmp = pq_alloc(ev->tmp, (metric->n + 1) * sizeof *tmp);
            size_t m = 0;
            for (uint32_t j = 0; j < metric->n; j++)
                if (strcmp(metric->l[j].name, value_label))
                    tmp[m++] = metric->l[j];
            tmp[m++] = (struct sl_qlabel){value_label, vs};
            metric = pq_lset_make(ev->tmp, tmp, m);
        }
        int found;
        size_t *slot;
        struct agg_slot *as = NULL;
        if (slots) {
            as = &n->agg->slot[slots[i]];
            found = as->stamp == n->agg->evals;
            slot = &as->pos;
            if (!found)
                as->stamp = n->agg->evals;
        } else {
            uint64_t key = op == T_COUNT_VALUES
                               ? pq_lset_sig(metric, grouping, ngrouping, !n->without)
                               : pq_lset_sig_cached(metric, n, grouping, ngrouping, !n->without);
            slot = pq_hmap_put(ev->tmp, &map, key, &found);
        }
        if (!found) {
            *slot = ngroups;
            struct group *g = PQ_PUSH(ev->tmp, groups, ngroups, capgroups);
            g->ls = as ? as->ls
                       : pq_lset_restrict(ev->tmp, metric, grouping, ngrouping, !n->without);
            g->value = s.v;
            g->mean = s.v;
            g->count = 1;
            if (op == T_STDVAR || op == T_STDDEV)
                g->value = 0;
            else if (op == T_GROUP)
                g->value = 1;
            if (op == T_TOPK || op == T_BOTTOMK || op == T_QUANTILE)
                *PQ_PUSH(ev->tmp, g->items, g->nitems, g->capitems) = s;
            continue;
        }
        struct group *g = &groups[*slot];
        switch (op) {
        case T_SUM:
            g->value += s.v;
            break;
        case T_AVG:
            g->count++;
            if (isinf(g->mean)) {
                if (isinf(s.v) && (g->mean > 0) == (s.v > 0))
                    break;
                if (!isinf(s.v) && !isnan(s.v))
                    break;
            }
            g->mean += s.v / (double)g->count - g->mean / (double)g->count;
            break;
        case T_GROUP:
            break;
        case T_MAX:
            if (g->value < s.v || isnan(g->value))
                g->value = s.v;
            break;
        case T_MIN:
            if (g->value > s.v || isnan(g->value))
                g->value = s.v;
            break;
        case T_COUNT:
        case T_COUNT_VALUES:
            g->count++;
            break;
        case T_STDVAR:
        case T_STDDEV: {
            g->count++;
            double delta = s.v - g->mean;
            g->mean += delta / (double)g->count;
            g->value += delta * (s.v - g->mean);
            break;
        }
        default: /* topk, bottomk, quantile */
            *PQ_PUSH(ev->tmp, g->items, g->nitems, g->capitems) = s;
            break;
        }
    }
    for (size_t i = 0; i < ngroups; i++) {
        struct group *g = &groups[i];
        double v = g->value;
        switch (op) {
        case T_AVG: v = g->mean; break;
        case T_COUNT: case T_COUNT_VALUES: v = (double)g->count; break;
        case T_STDVAR: v = g->value / (double)g->count; break;
        case T_STDDEV: v = sqrt(g->value / (double)g->count); break;
        case T_TOPK:
        case T_BOTTOMK: {
            size_t lim = select_first(g->items, g->nitems,
                                      (uint64_t)k < g->nitems ? (size_t)k : g->nitems,
                                      op == T_TOPK ? cmp_desc : cmp_asc);
            for (size_t j = 0; j < lim; j++)
                pq_vec_push(ev, &out->vec, g->items[j].ls, g->items[j].v);
            continue;
        }
        case T_QUANTILE: {
            double *vals = pq_alloc(ev->tmp, g->nitems * sizeof *vals);
            for (size_t j = 0; j < g->nitems; j++)
                vals[j] = g->items[j].v;
            v = pq_quantile(q, vals, g->nitems);
            break;
        }
        default: break;
        }
        pq_vec_push(ev, &out->vec, g->ls, v);
    }
}
