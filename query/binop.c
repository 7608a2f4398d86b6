/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Binary operators at one instant, with Prometheus' rules: scalar/scalar, vector/scalar
 * (comparisons filter and keep the vector's value and name; arithmetic drops the name),
 * vector/vector with one-to-one, many-to-one (group_left) and one-to-many (group_right)
 * matching on a label signature (on(...) or ignoring(...), which always ignores __name__),
 * and the set operators and/or/unless. Error texts are Prometheus'.
 */
#include "query/promql_pvt.h"

#include <math.h>
#include <stdio.h>

static int drops_name(int op)
{
    switch (op) {
    case T_ADD: case T_SUB: case T_MUL: case T_DIV: case T_MOD: case T_POW:
        return 1; /* not atan2: 2.42 keeps the name there */
    default:
        return 0;
    }
}

/* vectorElemBinop: value and whether a comparison keeps the element */
double pq_binop_scalar(int op, double a, double b, int *keep)
{
    *keep = 1;
    switch (op) {
    case T_ADD: return a + b;
    case T_SUB: return a - b;
    case T_MUL: return a * b;
    case T_DIV: return a / b;
    case T_POW: return pow(a, b);
    case T_MOD: return fmod(a, b);
    case T_ATAN2: return atan2(a, b);
    case T_EQLC: *keep = a == b; return a;
    case T_NEQ: *keep = a != b; return a;
    case T_GTR: *keep = a > b; return a;
    case T_LSS: *keep = a < b; return a;
    case T_GTE: *keep = a >= b; return a;
    case T_LTE: *keep = a <= b; return a;
    default: *keep = 0; return NAN;
    }
}

static void vector_scalar(struct pq_ev *ev, struct pq_node *n, struct pq_vec *vec, double sc,
                          int swap, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < vec->n; i++) {
        double lv = vec->s[i].v, rv = sc;
        if (swap) {
            lv = sc;
            rv = vec->s[i].v;
        }
        int keep;
        double v = pq_binop_scalar(n->op, lv, rv, &keep);
        if (pq_is_comparison(n->op) && swap)
            v = rv;
        if (n->return_bool) {
            v = keep ? 1.0 : 0.0;
            keep = 1;
        }
        if (!keep)
            continue;
        const struct pq_lset *ls = vec->s[i].ls;
        if (drops_name(n->op) || n->return_bool)
            ls = pq_lset_drop_name(ev->tmp, ls);
        pq_vec_push(ev, &out->vec, ls, v);
    }
}

static uint64_t sig(const struct pq_node *n, const struct pq_lset *ls)
{
    return pq_lset_sig_cached(ls, n, n->mlabels, n->nmlabels, n->on);
}

static int same_group(const struct pq_node *n, const struct pq_lset *a, const struct pq_lset *b)
{
    for (uint32_t i = 0; i < a->n; i++) {
        const char *name = a->l[i].name;
        int in = 0;
        for (size_t k = 0; k < n->nmlabels; k++)
            in |= strcmp(n->mlabels[k], name) == 0;
        if (n->on ? !in : (in || strcmp(name, "__name__") == 0))
            continue;
        const char *bv = pq_lset_get(b, name);
        if (!bv || strcmp(bv, a->l[i].value))
            return 0;
    }
    return 1;
}

static void set_op(struct pq_ev *ev, struct pq_node *n, struct pq_vec *l, struct pq_vec *r,
                   struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    struct pq_hmap m;
    if (n->op == T_LOR) {
        pq_hmap_init(ev->tmp, &m, l->n);
        for (size_t i = 0; i < l->n; i++) {
            int found;
            *pq_hmap_put(ev->tmp, &m, sig(n, l->s[i].ls), &found) = i;
            *PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap) = l->s[i];
        }
        for (size_t i = 0; i < r->n; i++)
            if (!pq_hmap_get(&m, sig(n, r->s[i].ls)))
                *PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap) = r->s[i];
        return;
    }
    pq_hmap_init(ev->tmp, &m, r->n);
    for (size_t i = 0; i < r->n; i++) {
        int found;
        *pq_hmap_put(ev->tmp, &m, sig(n, r->s[i].ls), &found) = i;
    }
    for (size_t i = 0; i < l->n; i++) {
        int hit = pq_hmap_get(&m, sig(n, l->s[i].ls)) != NULL;
        if (hit == (n->op == T_LAND))
            *PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap) = l->s[i];
    }
}

static const struct pq_lset *result_metric(struct pq_ev *ev, struct pq_node *n,
                                           const struct pq_lset *lhs, const struct pq_lset *rhs)
{
    struct sl_qlabel *tmp = pq_alloc(ev->tmp, (lhs->n + n->ninclude + 1) * sizeof *tmp);
    size_t k = 0;
    for (uint32_t i = 0; i < lhs->n; i++) {
        const char *name = lhs->l[i].name;
        if (drops_name(n->op) && strcmp(name, "__name__") == 0)
            continue;
        if (n->card == PQ_CARD_ONE_TO_ONE) {
            int in = 0;
            for (size_t j = 0; j < n->nmlabels; j++)
                in |= strcmp(n->mlabels[j], name) == 0;
            if (n->on ? !in : in)
                continue;
        }
        int included = 0;
        for (size_t j = 0; j < n->ninclude; j++)
            included |= strcmp(n->include[j], name) == 0;
        if (included)
            continue; /* set from the "one" side below */
        tmp[k++] = lhs->l[i];
    }
    for (size_t j = 0; j < n->ninclude; j++) {
        const char *v = pq_lset_get(rhs, n->include[j]);
        if (v && v[0]) {
            int dup = 0;
            for (size_t q = 0; q < j; q++)
                dup |= strcmp(n->include[q], n->include[j]) == 0;
            if (!dup)
                tmp[k++] = (struct sl_qlabel){n->include[j], v};
        }
    }
    return pq_lset_make(ev->tmp, tmp, k);
}

static void vector_vector(struct pq_ev *ev, struct pq_node *n, struct pq_vec *lhs,
                          struct pq_vec *rhs, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    int swap = n->card == PQ_CARD_ONE_TO_MANY;
    if (swap) {
        struct pq_vec *t = lhs;
        lhs = rhs;
        rhs = t;
    }
    struct pq_hmap rsig;
    pq_hmap_init(ev->tmp, &rsig, rhs->n);
    for (size_t i = 0; i < rhs->n; i++) {
        int found;
        size_t *slot = pq_hmap_put(ev->tmp, &rsig, sig(n, rhs->s[i].ls), &found);
        if (found && same_group(n, rhs->s[i].ls, rhs->s[*slot].ls)) {
            struct sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT, g = SL_BUF_INIT;
            pq_lset_format(rhs->s[i].ls, &a);
            pq_lset_format(rhs->s[*slot].ls, &b);
            pq_lset_format(pq_lset_restrict(ev->tmp, rhs->s[i].ls, n->mlabels, n->nmlabels, n->on),
                           &g);
            char msg[400];
            snprintf(msg, sizeof msg,
                     "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
                     g.data ? g.data : "{}", swap ? "left" : "right", a.data ? a.data : "{}",
                     b.data ? b.data : "{}");
            sl_buf_fini(&a);
            sl_buf_fini(&b);
            sl_buf_fini(&g);
            pq_fail(ev, SL_PQ_ERR_EXEC, "%s", msg);
        }
        *slot = i;
    }
    struct pq_hmap matched, inserted;
    pq_hmap_init(ev->tmp, &matched, lhs->n);
    pq_hmap_init(ev->tmp, &inserted, lhs->n);
    for (size_t i = 0; i < lhs->n; i++) {
        uint64_t s = sig(n, lhs->s[i].ls);
        size_t *ri = pq_hmap_get(&rsig, s);
        if (!ri)
            continue;
        const struct pq_sample *rs = &rhs->s[*ri];
        double vl = lhs->s[i].v, vr = rs->v;
        if (swap) {
            vl = rs->v;
            vr = lhs->s[i].v;
        }
        int keep;
        double v = pq_binop_scalar(n->op, vl, vr, &keep);
        if (n->return_bool)
            v = keep ? 1.0 : 0.0;
        else if (!keep)
            continue;
        const struct pq_lset *ls = result_metric(ev, n, lhs->s[i].ls, rs->ls);
        if (n->return_bool)
            ls = pq_lset_drop_name(ev->tmp, ls);
        int found;
        if (n->card == PQ_CARD_ONE_TO_ONE) {
            pq_hmap_put(ev->tmp, &matched, s, &found);
            if (found)
                pq_fail(ev, SL_PQ_ERR_EXEC,
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
        } else {
            pq_hmap_put(ev->tmp, &inserted, ls->hash ^ (s * 0x9E3779B97F4A7C15ULL), &found);
            if (found)
                pq_fail(ev, SL_PQ_ERR_EXEC,
                        "multiple matches for labels: grouping labels must ensure unique matches");
        }
        pq_vec_push(ev, &out->vec, ls, v);
    }
}

void pq_eval_binary(struct pq_ev *ev, struct pq_node *n, struct pq_val *l, struct pq_val *r,
                    struct pq_val *out)
{
    if (l->type == SL_PQ_SCALAR && r->type == SL_PQ_SCALAR) {
        int keep;
        double v = pq_binop_scalar(n->op, l->scalar, r->scalar, &keep);
        if (pq_is_comparison(n->op))
            v = keep ? 1.0 : 0.0;
        out->type = SL_PQ_SCALAR;
        out->scalar = v;
        return;
    }
    if (l->type == SL_PQ_VECTOR && r->type == SL_PQ_VECTOR) {
        if (n->op == T_LAND || n->op == T_LOR || n->op == T_LUNLESS)
            set_op(ev, n, &l->vec, &r->vec, out);
        else
            vector_vector(ev, n, &l->vec, &r->vec, out);
        return;
    }
    if (l->type == SL_PQ_VECTOR)
        vector_scalar(ev, n, &l->vec, r->scalar, 0, out);
    else
        vector_scalar(ev, n, &r->vec, l->scalar, 1, out);
}
