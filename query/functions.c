/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL functions of Prometheus 2.42 (all but the native-histogram ones), evaluated at one
 * instant. Range functions get, per series, the points of its window (BORROWED from the
 * selector cache or the subquery's step arena) and follow promql/functions.go exactly:
 * rate/increase/delta extrapolate to the window edges unless the gap is over 1.1x the mean
 * spacing, counters add back the value before each reset and never extrapolate below zero;
 * irate/idelta use the last two points; deriv/predict_linear use a least-squares fit with
 * Kahan sums. Every function but last_over_time, sort*, label_*, and timestamp-free
 * pass-throughs drops the metric name; a result with two equal label sets is an error.
 */
#include "query/promql_pvt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static struct pq_node *unwrap(struct pq_node *n)
{
    while (n->kind == PQ_PAREN)
        n = n->a;
    return n;
}

/* The [start, end] window a range argument covers at the current step. */
static void window(struct pq_ev *ev, struct pq_node *arg, int64_t *start, int64_t *end,
                   int64_t *range)
{
    arg = unwrap(arg);
    const struct pq_node *mod = arg->kind == PQ_MSEL ? arg->a : arg;
    int64_t t = ev->ts;
    if (mod->at_kind == PQ_AT_TIME)
        t = mod->at;
    else if (mod->at_kind == PQ_AT_START)
        t = ev->start;
    else if (mod->at_kind == PQ_AT_END)
        t = ev->end;
    *end = t - mod->offset;
    *range = arg->range;
    *start = *end - arg->range;
}

typedef pq_range_fn range_fn;

static void over_range(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, int mi,
                       range_fn *fn, int keep_name, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    const struct pq_mat *m = &args[mi].mat;
    for (size_t i = 0; i < m->n; i++) {
        double v;
        if (m->s[i].n == 0 || !fn(ev, call, args, &m->s[i], &v))
            continue;
        const struct pq_lset *ls = keep_name ? m->s[i].ls : pq_lset_drop_name(ev->tmp, m->s[i].ls);
        pq_vec_push(ev, &out->vec, ls, v);
    }
    if (!keep_name)
        pq_check_dup(ev, &out->vec);
}

/* ---- rate family ----------------------------------------------------------------------- */

/* extrapolatedRate over the window [rs, re]; range_s is its length in seconds,
 * (double)(re - rs) / 1000, passed in so that a caller looping over steps divides once. */
/* Prometheus' extrapolation of a window's samples: the span they cover, extended toward
 * each window edge by the gap to it when that is under 1.1 average sample intervals, and
 * by half an interval otherwise (the series is taken to start or end there). */
static inline double extrapolated_interval(double sampled, double avg, double to_start,
                                           double to_end)
{
    double thr = avg * 1.1, interval = sampled;
    interval += to_start < thr ? to_start : avg / 2;
    interval += to_end < thr ? to_end : avg / 2;
    return interval;
}

/* inlined: the hot loop of pq_func_precompute calls it for every series and step */
static inline __attribute__((always_inline)) int
extrapolated_w(const struct pq_mseries *s, int64_t rs, int64_t re, double range_s,
               int is_counter, int is_rate, double *out)
{
    if (s->n < 2)
        return 0;
    double result = s->vs[s->n - 1] - s->vs[0];
    if (is_counter && s->has_corr) {
        result += s->corr_sum; /* resets inside the window, found without a scan */
    } else if (is_counter) {
        double last = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->vs[i] < last)
                result += last;
            last = s->vs[i];
        }
    }
    double to_start = (double)(s->ts[0] - rs) / 1000;
    double to_end = (double)(re - s->ts[s->n - 1]) / 1000;
    double sampled = (double)(s->ts[s->n - 1] - s->ts[0]) / 1000;
    double avg = sampled / (double)(s->n - 1);
    if (is_counter && result > 0 && s->vs[0] >= 0) {
        double to_zero = sampled * (s->vs[0] / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    double interval = extrapolated_interval(sampled, avg, to_start, to_end);
    double factor = interval / sampled;
    if (is_rate)
        factor /= range_s;
    *out = result * factor;
    return 1;
}

static int extrapolated(struct pq_ev *ev, struct pq_node *call, const struct pq_mseries *s,
                        int is_counter, int is_rate, double *out)
{
    if (s->n < 2)
        return 0;
    int64_t rs, re, range;
    window(ev, call->args[0], &rs, &re, &range);
    return extrapolated_w(s, rs, re, (double)range / 1000, is_counter, is_rate, out);
}

static int f_rate_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    return extrapolated(ev, c, s, 1, 1, o);
}
static int f_increase_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    return extrapolated(ev, c, s, 1, 0, o);
}
static int f_delta_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    return extrapolated(ev, c, s, 0, 0, o);
}

static int instant_value(const struct pq_mseries *s, int is_rate, double *out)
{
    if (s->n < 2)
        return 0;
    double last = s->vs[s->n - 1], prev = s->vs[s->n - 2];
    double r = (is_rate && last < prev) ? last : last - prev;
    int64_t dt = s->ts[s->n - 1] - s->ts[s->n - 2];
    if (dt == 0)
        return 0;
    if (is_rate)
        r /= (double)dt / 1000;
    *out = r;
    return 1;
}

static int f_irate_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    return instant_value(s, 1, o);
}
static int f_idelta_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    return instant_value(s, 0, o);
}

/* ---- *_over_time ----------------------------------------------------------------------- */

static int f_avg_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double mean = 0, count = 0;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->vs[i];
        count++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0))
                continue;
            if (!isinf(v) && !isnan(v))
                continue;
        }
        mean += v / count - mean / count;
    }
    *o = mean;
    return 1;
}

static int f_count_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    *o = (double)s->n;
    return 1;
}

static int f_sum_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->vs[i];
    *o = sum;
    return 1;
}

static int f_min_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double m = s->vs[0];
    for (size_t i = 0; i < s->n; i++)
        if (s->vs[i] < m || isnan(m))
            m = s->vs[i];
    *o = m;
    return 1;
}

static int f_max_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double m = s->vs[0];
    for (size_t i = 0; i < s->n; i++)
        if (s->vs[i] > m || isnan(m))
            m = s->vs[i];
    *o = m;
    return 1;
}

static int f_last_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    *o = s->vs[s->n - 1];
    return 1;
}

static int f_present_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    *o = 1;
    return 1;
}

static double variance(const struct pq_mseries *s)
{
    double aux = 0, count = 0, mean = 0;
    for (size_t i = 0; i < s->n; i++) {
        count++;
        double delta = s->vs[i] - mean;
        mean += delta / count;
        aux += delta * (s->vs[i] - mean);
    }
    return aux / count;
}

static int f_stdvar_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    *o = variance(s);
    return 1;
}

static int f_stddev_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    *o = sqrt(variance(s));
    return 1;
}

static int f_quantile_ot(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double *vals = pq_memdup(ev->tmp, s->vs, s->n * sizeof *vals);
    *o = pq_quantile(a[0].scalar, vals, s->n);
    return 1;
}

static int f_changes_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double n = 0;
    for (size_t i = 1; i < s->n; i++) {
        double cur = s->vs[i], prev = s->vs[i - 1];
        if (cur != prev && !(isnan(cur) && isnan(prev)))
            n++;
    }
    *o = n;
    return 1;
}

static int f_resets_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double n = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->vs[i] < s->vs[i - 1])
            n++;
    *o = n;
    return 1;
}

static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

static void linreg(const struct pq_mseries *s, int64_t icept_t, double *slope, double *icept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = s->vs[0];
    int const_y = 1;
    for (size_t i = 0; i < s->n; i++) {
        if (const_y && i > 0 && s->vs[i] != init)
            const_y = 0;
        n += 1;
        double x = (double)(s->ts[i] - icept_t) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(s->vs[i], &sy, &cy);
        kahan_inc(x * s->vs[i], &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = *icept = NAN;
            return;
        }
        *slope = 0;
        *icept = init;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / n, var = sx2 - sx * sx / n;
    *slope = cov / var;
    *icept = sy / n - *slope * sx / n;
}

static int f_deriv_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    if (s->n < 2)
        return 0;
    double slope, icept;
    linreg(s, s->ts[0], &slope, &icept);
    *o = slope;
    return 1;
}

static int f_predict_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    if (s->n < 2)
        return 0;
    double slope, icept;
    linreg(s, ev->ts, &slope, &icept);
    *o = slope * a[1].scalar + icept;
    return 1;
}

static int f_holt_s(struct pq_ev *ev, struct pq_node *c, struct pq_val *a, const struct pq_mseries *s, double *o)
{
    double sf = a[1].scalar, tf = a[2].scalar;
    if (sf <= 0 || sf >= 1)
        pq_fail(ev, SL_PQ_ERR_EXEC, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
    if (tf <= 0 || tf >= 1)
        pq_fail(ev, SL_PQ_ERR_EXEC, "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf);
    if (s->n < 2)
        return 0;
    double s0 = 0, s1 = s->vs[0], b = s->vs[1] - s->vs[0];
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->vs[i];
        if (i > 1)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *o = s1;
    return 1;
}

#define RANGE_FN(name, fn, mi, keep) \
    static void name(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, \
                     struct pq_val *out) \
    { \
        over_range(ev, call, args, mi, fn, keep, out); \
    }

RANGE_FN(f_rate, f_rate_s, 0, 0)
RANGE_FN(f_increase, f_increase_s, 0, 0)
RANGE_FN(f_delta, f_delta_s, 0, 0)
RANGE_FN(f_irate, f_irate_s, 0, 0)
RANGE_FN(f_idelta, f_idelta_s, 0, 0)
RANGE_FN(f_avg_over_time, f_avg_ot, 0, 0)
RANGE_FN(f_count_over_time, f_count_ot, 0, 0)
RANGE_FN(f_sum_over_time, f_sum_ot, 0, 0)
RANGE_FN(f_min_over_time, f_min_ot, 0, 0)
RANGE_FN(f_max_over_time, f_max_ot, 0, 0)
RANGE_FN(f_last_over_time, f_last_ot, 0, 1)
RANGE_FN(f_present_over_time, f_present_ot, 0, 0)
RANGE_FN(f_stddev_over_time, f_stddev_ot, 0, 0)
RANGE_FN(f_stdvar_over_time, f_stdvar_ot, 0, 0)
RANGE_FN(f_quantile_over_time, f_quantile_ot, 1, 0)
RANGE_FN(f_changes, f_changes_s, 0, 0)
RANGE_FN(f_resets, f_resets_s, 0, 0)
RANGE_FN(f_deriv, f_deriv_s, 0, 0)
RANGE_FN(f_predict_linear, f_predict_s, 0, 0)
RANGE_FN(f_holt_winters, f_holt_s, 0, 0)

/* Series-major evaluation of range functions for range queries (see promql_pvt.h).
 * ex: the extrapolated family, called with the step's window directly (1 rate,
 * 2 increase, 3 delta), else 0. */
static const struct {
    const char *name;
    range_fn *fn;
    int mi, keep, ex;
} range_fns[] = {
    {"rate", f_rate_s, 0, 0, 1},           {"increase", f_increase_s, 0, 0, 2},
    {"delta", f_delta_s, 0, 0, 3},         {"irate", f_irate_s, 0, 0, 0},
    {"idelta", f_idelta_s, 0, 0, 0},       {"avg_over_time", f_avg_ot, 0, 0, 0},
    {"count_over_time", f_count_ot, 0, 0, 0}, {"sum_over_time", f_sum_ot, 0, 0, 0},
    {"min_over_time", f_min_ot, 0, 0, 0},  {"max_over_time", f_max_ot, 0, 0, 0},
    {"last_over_time", f_last_ot, 0, 1, 0}, {"present_over_time", f_present_ot, 0, 0, 0},
    {"stddev_over_time", f_stddev_ot, 0, 0, 0}, {"stdvar_over_time", f_stdvar_ot, 0, 0, 0},
    {"quantile_over_time", f_quantile_ot, 1, 0, 0}, {"changes", f_changes_s, 0, 0, 0},
    {"resets", f_resets_s, 0, 0, 0},       {"deriv", f_deriv_s, 0, 0, 0},
    {"predict_linear", f_predict_s, 0, 0, 0}, {"holt_winters", f_holt_s, 0, 0, 0},
};

/* Series written together: the cells of one step for a block are adjacent, so the
 * step-major result array is filled a few cache lines per step instead of one line per
 * cell (the block's lines for every step, ~8 * nsteps, stay in cache). */
#define PRE_BLOCK 64

/* extrapolatedRate for the steps of one series, with the divisions memoised: windows
 * slide over regularly spaced samples, so the distances to the window edges, the sampled
 * span and the resulting factor repeat from step to step. A memoised value is the same
 * operation on the same operands as extrapolated_w performs, so every result is
 * bit-identical; only the repeated divisions (a dependency chain of three) are saved. */
struct ex_memo {
    int64_t ds, de, dsm;
    size_t n;
    double to_start, to_end, sampled, avg;
    uint64_t kint, ksmp;
    double factor;
};

static inline uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static inline __attribute__((always_inline)) double
extrapolated_memo(struct ex_memo *mo, const struct pq_mseries *s, int64_t rs, int64_t re,
                  double range_s, int is_counter, int is_rate)
{
    double result = s->vs[s->n - 1] - s->vs[0];
    if (is_counter)
        result += s->corr_sum; /* the caller sets has_corr for counters here */
    int64_t ds = s->ts[0] - rs, de = re - s->ts[s->n - 1], dsm = s->ts[s->n - 1] - s->ts[0];
    if (ds != mo->ds) {
        mo->ds = ds;
        mo->to_start = (double)ds / 1000;
    }
    if (de != mo->de) {
        mo->de = de;
        mo->to_end = (double)de / 1000;
    }
    if (dsm != mo->dsm || s->n != mo->n) {
        mo->dsm = dsm;
        mo->n = s->n;
        mo->sampled = (double)dsm / 1000;
        mo->avg = mo->sampled / (double)(s->n - 1);
    }
    double to_start = mo->to_start, to_end = mo->to_end, sampled = mo->sampled, avg = mo->avg;
    if (is_counter && result > 0 && s->vs[0] >= 0) {
        /* to_zero = sampled * (v0 / result) matters only below to_start. When
         * v0 * sampled > 2 * to_start * result (both finite, the right side normal), the
         * quotient exceeds to_start / sampled by a factor near 2, far beyond the rounding
         * of these few operations, so to_zero >= to_start as computed too and the division
         * can be skipped; with to_start == 0 it never lowers it. */
        double l = s->vs[0] * sampled, r = 2 * to_start * result;
        if (!(to_start == 0 || (l > r && l <= DBL_MAX && r >= DBL_MIN))) {
            double to_zero = sampled * (s->vs[0] / result);
            if (to_zero < to_start)
                to_start = to_zero;
        }
    }
    double interval = extrapolated_interval(sampled, avg, to_start, to_end);
    uint64_t ki = dbits(interval), ks = dbits(sampled);
    if (ki != mo->kint || ks != mo->ksmp) {
        mo->kint = ki;
        mo->ksmp = ks;
        double factor = interval / sampled;
        if (is_rate)
            factor /= range_s;
        mo->factor = factor;
    }
    return result * mo->factor;
}

/* First index from @i on whose timestamp is not below @t (resp. not at most @t). Windows
 * move a few samples per step, a number the branch predictor cannot learn for the exit of
 * a one-by-one loop: eight are counted at once instead (the comparisons vectorise), and
 * only a move of eight or more loops. */
static inline size_t advance_lt(const int64_t *ts, size_t i, size_t n, int64_t t)
{
    while (i + 8 <= n) {
        size_t c = 0;
        for (int k = 0; k < 8; k++)
            c += ts[i + k] < t;
        i += c;
        if (c < 8)
            return i;
    }
    while (i < n && ts[i] < t)
        i++;
    return i;
}

static inline size_t advance_le(const int64_t *ts, size_t i, size_t n, int64_t t)
{
    while (i + 8 <= n) {
        size_t c = 0;
        for (int k = 0; k < 8; k++)
            c += ts[i + k] <= t;
        i += c;
        if (c < 8)
            return i;
    }
    while (i < n && ts[i] <= t)
        i++;
    return i;
}

int pq_pre_plan(struct pq_ev *ev, struct pq_node *call, int64_t nsteps, struct pq_pre_plan *pl)
{
    size_t fi;
    for (fi = 0; fi < sizeof range_fns / sizeof range_fns[0]; fi++)
        if (strcmp(range_fns[fi].name, call->fn->name) == 0)
            break;
    if (fi == sizeof range_fns / sizeof range_fns[0])
        return 0;
    struct pq_node *msel = unwrap(call->args[range_fns[fi].mi]);
    if (msel->kind != PQ_MSEL)
        return 0;
    memset(pl, 0, sizeof *pl);
    for (size_t i = 0; i < call->nargs && i < 3; i++) {
        if ((int)i == range_fns[fi].mi)
            continue;
        struct pq_node *a = unwrap(call->args[i]);
        if (a->kind != PQ_NUM)
            return 0;
        pl->args[i].type = SL_PQ_SCALAR;
        pl->args[i].scalar = a->num;
    }
    pl->call = call;
    pl->msel = msel;
    pl->fn = range_fns[fi].fn;
    pl->keep = range_fns[fi].keep;
    pl->ex = range_fns[fi].ex;
    pl->nsteps = nsteps;
    /* Every step's window, once: it depends on the step only. Steps go forward, so
     * windows never move back (an @ pins them), and each series' window bounds are found
     * by advancing two indexes instead of searching. */
    int64_t *wstart = pq_alloc_raw(ev->tmp, (size_t)nsteps * sizeof *wstart);
    int64_t *wend = pq_alloc_raw(ev->tmp, (size_t)nsteps * sizeof *wend);
    int64_t range = 0;
    int64_t saved = ev->ts;
    for (int64_t k = 0; k < nsteps; k++) {
        ev->ts = ev->start + k * ev->step;
        window(ev, msel, &wstart[k], &wend[k], &range);
    }
    ev->ts = saved;
    pl->wstart = wstart;
    pl->wend = wend;
    pl->range_s = (double)range / 1000;
    return 1;
}

int pq_pre_fails(const struct pq_pre_plan *pl)
{
    /* holt_winters refuses its factors at the first series with points; the caller then
     * keeps to the serial path, whose error is the one Prometheus gives */
    if (pl->fn != f_holt_s)
        return 0;
    double sf = pl->args[1].scalar, tf = pl->args[2].scalar;
    return !(sf > 0 && sf < 1) || !(tf > 0 && tf < 1);
}

void pq_pre_series(struct pq_ev *ev, const struct pq_pre_plan *pl, const struct pq_sel_series *s,
                   const struct pq_lset *ls, double *vals, unsigned char *present, size_t ns)
{
    const int64_t *ts = s->ts;
    const int64_t *wstart = pl->wstart, *wend = pl->wend;
    size_t n = s->n, lo = 0, hi = 0, rlo = 0, rhi = 0;
    int ex = pl->ex;
    struct pq_val args[3];
    memcpy(args, pl->args, sizeof args);
    int64_t saved = ev->ts;
    /* keys no window produces: the first step computes everything */
    struct ex_memo mo = {INT64_MIN, INT64_MIN, INT64_MIN, 0, 0, 0, 0, 0, 0, 0, 0};
    /* memoised only where corrections are precomputed (rate/increase) or not needed */
    int memo = ex && (ex == 3 || s->has_corr);
    for (int64_t k = 0; k < pl->nsteps; k++) {
        /* [lo, hi) = samples with wstart[k] <= t <= wend[k] */
        lo = advance_lt(ts, lo, n, wstart[k]);
        if (hi < lo)
            hi = lo;
        hi = advance_le(ts, hi, n, wend[k]);
        if (hi == lo)
            continue;
        struct pq_mseries m = {ls, ts + lo, s->vs + lo, hi - lo, s->has_corr, 0};
        if (s->has_corr) {
            /* resets at indexes <= lo and <= hi - 1; both only grow */
            while (rlo < s->nrst && s->rst[rlo].i <= lo)
                rlo++;
            if (rhi < rlo)
                rhi = rlo;
            while (rhi < s->nrst && s->rst[rhi].i <= hi - 1)
                rhi++;
            m.corr_sum = pq_corr_at_rank(s, rhi) - pq_corr_at_rank(s, rlo);
        }
        double val;
        int ok;
        if (memo) {
            ok = hi - lo >= 2;
            if (ok)
                val = extrapolated_memo(&mo, &m, wstart[k], wend[k], pl->range_s, ex != 3,
                                        ex == 1);
        } else if (ex) {
            ok = extrapolated_w(&m, wstart[k], wend[k], pl->range_s, ex != 3, ex == 1, &val);
        } else {
            ev->ts = ev->start + k * ev->step;
            ok = pl->fn(ev, pl->call, args, &m, &val);
        }
        if (!ok)
            continue;
        size_t cell = (size_t)k * ns;
        vals[cell] = val;
        present[cell] = 1;
    }
    ev->ts = saved;
}

int pq_func_precompute(struct pq_ev *ev, struct pq_node *call, int64_t nsteps)
{
    struct pq_pre_plan pl;
    struct pq_mark mk = pq_arena_mark(ev->tmp);
    if (!pq_pre_plan(ev, call, nsteps, &pl) || !pl.msel->a->cache) {
        pq_arena_release(ev->tmp, mk);
        return 0;
    }
    const struct pq_sel_cache *c = pl.msel->a->cache;
    size_t ns = c->n, cells = (size_t)nsteps * (ns ? ns : 1);
    if (cells / (size_t)nsteps != (ns ? ns : 1) || ev->cur_samples + cells > ev->max_samples) {
        pq_arena_release(ev->tmp, mk);
        return 0; /* too big to hold at once: the per-step path stays within the limit */
    }
    struct pq_pre *pre = pq_alloc(ev->res, sizeof *pre);
    pre->n = ns;
    pre->ls = pq_alloc(ev->res, (ns ? ns : 1) * sizeof *pre->ls);
    pre->vals = pq_alloc_raw(ev->res, cells * sizeof *pre->vals);
    pre->present = pq_alloc(ev->res, cells);
    for (size_t b0 = 0; b0 < ns; b0 += PRE_BLOCK) {
        size_t b1 = ns - b0 < PRE_BLOCK ? ns : b0 + PRE_BLOCK;
        for (size_t i = b0; i < b1; i++) {
            struct pq_sel_series *s = &c->s[i];
            const struct pq_lset *ls = pl.keep ? s->ls : pq_lset_drop_name(ev->res, s->ls);
            pre->ls[i] = ls;
            pq_check_deadline(ev);
            pq_pre_series(ev, &pl, s, ls, pre->vals + i, pre->present + i, ns);
        }
    }
    ev->cur_samples += cells;
    call->pre = pre;
    pq_arena_release(ev->tmp, mk);
    return 1;
}

/* ---- absent ---------------------------------------------------------------------------- */

static const struct pq_lset *absent_labels(struct pq_ev *ev, struct pq_node *arg)
{
    if (arg->kind == PQ_MSEL)
        arg = arg->a;
    if (arg->kind != PQ_VSEL)
        return pq_lset_make(ev->tmp, NULL, 0);
    struct sl_qlabel *tmp = pq_alloc(ev->tmp, (arg->nm + 1) * sizeof *tmp);
    size_t k = 0;
    for (size_t i = 0; i < arg->nm; i++) {
        const struct sl_matcher *m = &arg->m[i];
        if (strcmp(m->name, "__name__") == 0)
            continue;
        int seen = 0;
        for (size_t j = 0; j < k; j++)
            seen |= strcmp(tmp[j].name, m->name) == 0;
        if (m->op == SL_MATCH_EQ && !seen)
            tmp[k++] = (struct sl_qlabel){m->name, m->value};
    }
    /* any non-equality matcher (or a repeated name) removes the label */
    size_t w = 0;
    for (size_t j = 0; j < k; j++) {
        int drop = 0;
        int eq_seen = 0;
        for (size_t i = 0; i < arg->nm; i++) {
            const struct sl_matcher *m = &arg->m[i];
            if (strcmp(m->name, tmp[j].name))
                continue;
            if (m->op == SL_MATCH_EQ && !eq_seen)
                eq_seen = 1;
            else
                drop = 1;
        }
        if (!drop)
            tmp[w++] = tmp[j];
    }
    return pq_lset_make(ev->tmp, tmp, w);
}

static void f_absent(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    if (args[0].vec.n == 0)
        pq_vec_push(ev, &out->vec, absent_labels(ev, call->args[0]), 1);
}

static void f_absent_over_time(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                               struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    if (args[0].mat.n == 0)
        pq_vec_push(ev, &out->vec, absent_labels(ev, call->args[0]), 1);
}

/* ---- simple math ----------------------------------------------------------------------- */

static void map_vec(struct pq_ev *ev, struct pq_val *in, double (*fn)(double), struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < in->vec.n; i++)
        pq_vec_push(ev, &out->vec, pq_lset_drop_name(ev->tmp, in->vec.s[i].ls), fn(in->vec.s[i].v));
    pq_check_dup(ev, &out->vec);
}

static double sgn(double v)
{
    return v < 0 ? -1 : v > 0 ? 1 : v;
}
static double deg(double v)
{
    return v * 180 / M_PI;
}
static double rad(double v)
{
    return v * M_PI / 180;
}

#define MATH_FN(name, cfn) \
    static void name(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, \
                     struct pq_val *out) \
    { \
        map_vec(ev, &args[0], cfn, out); \
    }

MATH_FN(f_abs, fabs)
MATH_FN(f_ceil, ceil)
MATH_FN(f_floor, floor)
MATH_FN(f_exp, exp)
MATH_FN(f_sqrt, sqrt)
MATH_FN(f_ln, log)
MATH_FN(f_log2, log2)
MATH_FN(f_log10, log10)
MATH_FN(f_sgn, sgn)
MATH_FN(f_acos, acos)
MATH_FN(f_acosh, acosh)
MATH_FN(f_asin, asin)
MATH_FN(f_asinh, asinh)
MATH_FN(f_atan, atan)
MATH_FN(f_atanh, atanh)
MATH_FN(f_cos, cos)
MATH_FN(f_cosh, cosh)
MATH_FN(f_sin, sin)
MATH_FN(f_sinh, sinh)
MATH_FN(f_tan, tan)
MATH_FN(f_tanh, tanh)
MATH_FN(f_deg, deg)
MATH_FN(f_rad, rad)

static void f_round(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    double to = call->nargs >= 2 ? args[1].scalar : 1;
    double inv = 1.0 / to;
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < args[0].vec.n; i++)
        pq_vec_push(ev, &out->vec, pq_lset_drop_name(ev->tmp, args[0].vec.s[i].ls),
                    floor(args[0].vec.s[i].v * inv + 0.5) / inv);
    pq_check_dup(ev, &out->vec);
}

/* fmax/fmin return the non-NaN operand; Go's math.Max/Min, which Prometheus uses, give NaN */
static double go_max(double a, double b)
{
    return isnan(a) || isnan(b) ? NAN : fmax(a, b);
}

static double go_min(double a, double b)
{
    return isnan(a) || isnan(b) ? NAN : fmin(a, b);
}

static void clamp_vec(struct pq_ev *ev, struct pq_val *in, double lo, double hi, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < in->vec.n; i++)
        pq_vec_push(ev, &out->vec, pq_lset_drop_name(ev->tmp, in->vec.s[i].ls),
                    go_max(lo, go_min(hi, in->vec.s[i].v)));
    pq_check_dup(ev, &out->vec);
}

static void f_clamp(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    if (args[2].scalar < args[1].scalar)
        return;
    clamp_vec(ev, &args[0], args[1].scalar, args[2].scalar, out);
}

static void f_clamp_max(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    clamp_vec(ev, &args[0], -INFINITY, args[1].scalar, out);
}

static void f_clamp_min(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    clamp_vec(ev, &args[0], args[1].scalar, INFINITY, out);
}

/* ---- scalars and types ----------------------------------------------------------------- */

static void f_time(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_SCALAR;
    out->scalar = (double)ev->ts / 1000;
}

static void f_pi(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_SCALAR;
    out->scalar = M_PI;
}

static void f_scalar(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_SCALAR;
    out->scalar = args[0].vec.n == 1 ? args[0].vec.s[0].v : NAN;
}

static void f_vector(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    out->type = SL_PQ_VECTOR;
    pq_vec_push(ev, &out->vec, pq_lset_make(ev->tmp, NULL, 0), args[0].scalar);
}

static void f_timestamp(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    /* Only a selector's samples carry their own time; anything computed is "now". */
    int own = unwrap(call->args[0])->kind == PQ_VSEL;
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < args[0].vec.n; i++)
        pq_vec_push(ev, &out->vec, pq_lset_drop_name(ev->tmp, args[0].vec.s[i].ls),
                    (double)(own ? args[0].vec.s[i].t : ev->ts) / 1000);
    pq_check_dup(ev, &out->vec);
}

static int cmp_sort_asc(const void *a, const void *b)
{
    const struct pq_sample *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn - yn; /* NaN last, as Prometheus 2.42 sorts */
    if (!xn && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

static int cmp_sort_desc(const void *a, const void *b)
{
    const struct pq_sample *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn - yn; /* NaN last */
    if (!xn && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

static void sort_vec(struct pq_ev *ev, struct pq_val *in, int desc, struct pq_val *out)
{
    *out = *in;
    /* tie-break on input position: keep the sample times aside */
    int64_t *ts = pq_alloc(ev->tmp, (out->vec.n + 1) * sizeof *ts);
    for (size_t i = 0; i < out->vec.n; i++) {
        ts[i] = out->vec.s[i].t;
        out->vec.s[i].t = (int64_t)i;
    }
    qsort(out->vec.s, out->vec.n, sizeof *out->vec.s, desc ? cmp_sort_desc : cmp_sort_asc);
    for (size_t i = 0; i < out->vec.n; i++)
        out->vec.s[i].t = ts[out->vec.s[i].t];
}

static void f_sort(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    sort_vec(ev, &args[0], 0, out);
}

static void f_sort_desc(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, struct pq_val *out)
{
    sort_vec(ev, &args[0], 1, out);
}

/* ---- date functions -------------------------------------------------------------------- */

static void date_fn(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                    struct pq_val *out, double (*fn)(const struct tm *))
{
    out->type = SL_PQ_VECTOR;
    if (call->nargs == 0) {
        time_t t = (time_t)(ev->ts / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        pq_vec_push(ev, &out->vec, pq_lset_make(ev->tmp, NULL, 0), fn(&tm));
        return;
    }
    for (size_t i = 0; i < args[0].vec.n; i++) {
        double v = args[0].vec.s[i].v;
        double r = NAN;
        /* beyond +-2^53 s no calendar date is meaningful (Go wraps the conversion) */
        if (!isnan(v) && fabs(v) < 9007199254740992.0) {
            time_t t = (time_t)v;
            struct tm tm;
            if (gmtime_r(&t, &tm))
                r = fn(&tm);
        }
        pq_vec_push(ev, &out->vec, pq_lset_drop_name(ev->tmp, args[0].vec.s[i].ls), r);
    }
    pq_check_dup(ev, &out->vec);
}

static double d_days_in_month(const struct tm *t)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = t->tm_year + 1900;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[t->tm_mon] + (t->tm_mon == 1 && leap);
}
static double d_day_of_month(const struct tm *t) { return t->tm_mday; }
static double d_day_of_week(const struct tm *t) { return t->tm_wday; }
static double d_day_of_year(const struct tm *t) { return t->tm_yday + 1; }
static double d_hour(const struct tm *t) { return t->tm_hour; }
static double d_minute(const struct tm *t) { return t->tm_min; }
static double d_month(const struct tm *t) { return t->tm_mon + 1; }
static double d_year(const struct tm *t) { return t->tm_year + 1900; }

#define DATE_FN(name, dfn) \
    static void name(struct pq_ev *ev, struct pq_node *call, struct pq_val *args, \
                     struct pq_val *out) \
    { \
        date_fn(ev, call, args, out, dfn); \
    }

DATE_FN(f_days_in_month, d_days_in_month)
DATE_FN(f_day_of_month, d_day_of_month)
DATE_FN(f_day_of_week, d_day_of_week)
DATE_FN(f_day_of_year, d_day_of_year)
DATE_FN(f_hour, d_hour)
DATE_FN(f_minute, d_minute)
DATE_FN(f_month, d_month)
DATE_FN(f_year, d_year)

/* ---- labels ---------------------------------------------------------------------------- */

static int valid_label(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p != s && *p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

static const struct pq_lset *set_label(struct pq_ev *ev, const struct pq_lset *ls, const char *name,
                                       const char *value)
{
    struct sl_qlabel *tmp = pq_alloc(ev->tmp, (ls->n + 1) * sizeof *tmp);
    size_t k = 0;
    for (uint32_t i = 0; i < ls->n; i++)
        if (strcmp(ls->l[i].name, name))
            tmp[k++] = ls->l[i];
    if (value[0])
        tmp[k++] = (struct sl_qlabel){name, value};
    return pq_lset_make(ev->tmp, tmp, k);
}

/* Go regexp.Expand: $1, ${1}, $name, ${name}, $$; a name is the longest [A-Za-z0-9_]+. */
static void expand(struct sl_buf *b, const char *tmpl, const char *subject, pcre2_code *re,
                   pcre2_match_data *md, int rc)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$') {
            sl_buf_putc(b, *p);
            continue;
        }
        if (p[1] == '$') {
            sl_buf_putc(b, '$');
            p++;
            continue;
        }
        const char *ns, *ne;
        const char *q = p + 1;
        if (*q == '{') {
            ns = q + 1;
            ne = strchr(ns, '}');
            if (!ne || ne == ns) {
                sl_buf_putc(b, '$');
                continue;
            }
            p = ne;
        } else {
            ns = q;
            ne = q;
            while (*ne == '_' || (*ne >= 'a' && *ne <= 'z') || (*ne >= 'A' && *ne <= 'Z') ||
                   (*ne >= '0' && *ne <= '9'))
                ne++;
            if (ne == ns) {
                sl_buf_putc(b, '$');
                continue;
            }
            p = ne - 1;
        }
        char name[64];
        size_t nl = (size_t)(ne - ns) < sizeof name - 1 ? (size_t)(ne - ns) : sizeof name - 1;
        memcpy(name, ns, nl);
        name[nl] = 0;
        int grp = -1, digits = 1;
        for (size_t i = 0; i < nl; i++)
            digits &= name[i] >= '0' && name[i] <= '9';
        if (digits)
            grp = atoi(name);
        else
            grp = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
        if (grp >= 0 && grp < rc && ov[2 * grp] != PCRE2_UNSET)
            sl_buf_append(b, subject + ov[2 * grp], ov[2 * grp + 1] - ov[2 * grp]);
    }
}

static void f_label_replace(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                            struct pq_val *out)
{
    const char *dst = args[1].str, *repl = args[2].str, *src = args[3].str, *regex = args[4].str;
    struct sl_matcher m;
    char eb[256];
    if (sl_matcher_init(&m, SL_MATCH_RE, "", regex, eb, sizeof eb))
        pq_fail(ev, SL_PQ_ERR_EXEC, "invalid regular expression in label_replace(): %s", regex);
    if (!valid_label(dst)) {
        sl_matcher_fini(&m);
        pq_fail(ev, SL_PQ_ERR_EXEC, "invalid destination label name in label_replace(): %s", dst);
    }
    out->type = SL_PQ_VECTOR;
    struct sl_buf b = SL_BUF_INIT;
    for (size_t i = 0; i < args[0].vec.n; i++) {
        const struct pq_sample *s = &args[0].vec.s[i];
        const char *sv = pq_lset_get(s->ls, src);
        if (!sv)
            sv = "";
        int rc = pcre2_match(m._re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, m._md, NULL);
        const struct pq_lset *ls = s->ls;
        if (rc > 0) {
            sl_buf_reset(&b);
            expand(&b, repl, sv, m._re, m._md, rc);
            ls = set_label(ev, ls, dst, pq_strdup(ev->tmp, b.data ? b.data : ""));
        }
        struct pq_sample *o = PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap);
        *o = *s;
        o->ls = ls;
    }
    sl_buf_fini(&b);
    sl_matcher_fini(&m);
    pq_check_dup(ev, &out->vec);
}

static void f_label_join(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                         struct pq_val *out)
{
    const char *dst = args[1].str, *sep = args[2].str;
    if (!valid_label(dst))
        pq_fail(ev, SL_PQ_ERR_EXEC, "invalid destination label name in label_join(): %s", dst);
    size_t nsrc = call->nargs - 3;
    const char **srcs = pq_alloc(ev->tmp, (nsrc + 1) * sizeof *srcs);
    for (size_t i = 0; i < nsrc; i++) {
        /* arguments past the eighth are evaluated here: they are string literals */
        srcs[i] = i + 3 < 8 ? args[i + 3].str : call->args[i + 3]->str;
        if (!valid_label(srcs[i]))
            pq_fail(ev, SL_PQ_ERR_EXEC, "invalid source label name in label_join(): %s", srcs[i]);
    }
    out->type = SL_PQ_VECTOR;
    struct sl_buf b = SL_BUF_INIT;
    for (size_t i = 0; i < args[0].vec.n; i++) {
        const struct pq_sample *s = &args[0].vec.s[i];
        sl_buf_reset(&b);
        for (size_t j = 0; j < nsrc; j++) {
            if (j)
                sl_buf_puts(&b, sep);
            const char *v = pq_lset_get(s->ls, srcs[j]);
            if (v)
                sl_buf_puts(&b, v);
        }
        struct pq_sample *o = PQ_PUSH(ev->tmp, out->vec.s, out->vec.n, out->vec.cap);
        *o = *s;
        o->ls = set_label(ev, s->ls, dst, pq_strdup(ev->tmp, b.data ? b.data : ""));
    }
    sl_buf_fini(&b);
    pq_check_dup(ev, &out->vec);
}

/* ---- histogram_quantile ---------------------------------------------------------------- */

struct bucket {
    double ub, count;
};

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->ub, y = ((const struct bucket *)b)->ub;
    return (x > y) - (x < y);
}

static double bucket_quantile(double q, struct bucket *b, size_t n)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!isinf(b[n - 1].ub) || b[n - 1].ub < 0)
        return NAN;
    /* coalesce equal bounds */
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].ub == b[w].ub)
            b[w].count += b[i].count;
        else
            b[++w] = b[i];
    }
    n = w + 1;
    double max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count > max)
            max = b[i].count;
        else if (b[i].count < max)
            b[i].count = max;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].ub;
    if (i == 0 && b[0].ub <= 0)
        return b[0].ub;
    double start = 0, end = b[i].ub, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].ub;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

struct hgroup {
    const struct pq_lset *ls; /* without __name__ and le */
    struct bucket *b;
    size_t n, cap;
};

static void f_histogram_quantile(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                                 struct pq_val *out)
{
    double q = args[0].scalar;
    static char *le[] = {"le"};
    static char *le_name[] = {"le", "__name__"};
    struct pq_hmap map;
    pq_hmap_init(ev->tmp, &map, args[1].vec.n);
    struct hgroup *g = NULL;
    size_t ng = 0, capg = 0;
    out->type = SL_PQ_VECTOR;
    for (size_t i = 0; i < args[1].vec.n; i++) {
        const struct pq_sample *s = &args[1].vec.s[i];
        double ub;
        uint64_t key;
        if (s->ls->cacheable && s->ls->aux_owner == call) {
            /* parsed and hashed at an earlier step of this query */
            if (!s->ls->aux_ok)
                continue;
            ub = s->ls->aux_num;
            key = s->ls->aux_key;
        } else {
            const char *lev = pq_lset_get(s->ls, "le");
            char *end = NULL;
            ub = lev ? strtod(lev, &end) : 0;
            int ok = lev && end != lev && !*end;
            key = 0;
            if (ok) {
                /* signature keeps __name__ (BytesWithoutLabels(le)); pq_lset_sig with
                 * on=0 drops it, so mix the name in */
                const char *name = pq_lset_get(s->ls, "__name__");
                key = pq_lset_sig(s->ls, le, 1, 0);
                for (const char *p = name ? name : ""; *p; p++)
                    key = (key ^ (unsigned char)*p) * 0x100000001b3ULL;
            }
            if (s->ls->cacheable) {
                struct pq_lset *m = (struct pq_lset *)s->ls; /* cache fields only */
                m->aux_owner = call;
                m->aux_ok = ok;
                m->aux_num = ub;
                m->aux_key = key;
            }
            if (!ok)
                continue;
        }
        int found;
        size_t *slot = pq_hmap_put(ev->tmp, &map, key, &found);
        if (!found) {
            *slot = ng;
            struct hgroup *h = PQ_PUSH(ev->tmp, g, ng, capg);
            h->ls = pq_lset_restrict(ev->tmp, s->ls, le_name, 2, 0);
        }
        struct hgroup *h = &g[*slot];
        *PQ_PUSH(ev->tmp, h->b, h->n, h->cap) = (struct bucket){ub, s->v};
    }
    for (size_t i = 0; i < ng; i++)
        if (g[i].n)
            pq_vec_push(ev, &out->vec, g[i].ls, bucket_quantile(q, g[i].b, g[i].n));
    pq_check_dup(ev, &out->vec);
}

/* ---- table ----------------------------------------------------------------------------- */

#define S SL_PQ_SCALAR
#define V SL_PQ_VECTOR
#define M SL_PQ_MATRIX
#define STR SL_PQ_STRING

static const struct pq_func funcs[] = {
    {"abs", {V}, 1, 0, V, f_abs},
    {"absent", {V}, 1, 0, V, f_absent},
    {"absent_over_time", {M}, 1, 0, V, f_absent_over_time},
    {"acos", {V}, 1, 0, V, f_acos},
    {"acosh", {V}, 1, 0, V, f_acosh},
    {"asin", {V}, 1, 0, V, f_asin},
    {"asinh", {V}, 1, 0, V, f_asinh},
    {"atan", {V}, 1, 0, V, f_atan},
    {"atanh", {V}, 1, 0, V, f_atanh},
    {"avg_over_time", {M}, 1, 0, V, f_avg_over_time},
    {"ceil", {V}, 1, 0, V, f_ceil},
    {"changes", {M}, 1, 0, V, f_changes},
    {"clamp", {V, S, S}, 3, 0, V, f_clamp},
    {"clamp_max", {V, S}, 2, 0, V, f_clamp_max},
    {"clamp_min", {V, S}, 2, 0, V, f_clamp_min},
    {"cos", {V}, 1, 0, V, f_cos},
    {"cosh", {V}, 1, 0, V, f_cosh},
    {"count_over_time", {M}, 1, 0, V, f_count_over_time},
    {"day_of_month", {V}, 0, 1, V, f_day_of_month},
    {"day_of_week", {V}, 0, 1, V, f_day_of_week},
    {"day_of_year", {V}, 0, 1, V, f_day_of_year},
    {"days_in_month", {V}, 0, 1, V, f_days_in_month},
    {"deg", {V}, 1, 0, V, f_deg},
    {"delta", {M}, 1, 0, V, f_delta},
    {"deriv", {M}, 1, 0, V, f_deriv},
    {"exp", {V}, 1, 0, V, f_exp},
    {"floor", {V}, 1, 0, V, f_floor},
    {"histogram_quantile", {S, V}, 2, 0, V, f_histogram_quantile},
    {"holt_winters", {M, S, S}, 3, 0, V, f_holt_winters},
    {"hour", {V}, 0, 1, V, f_hour},
    {"idelta", {M}, 1, 0, V, f_idelta},
    {"increase", {M}, 1, 0, V, f_increase},
    {"irate", {M}, 1, 0, V, f_irate},
    {"label_join", {V, STR, STR, STR}, 3, -1, V, f_label_join},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, f_label_replace},
    {"last_over_time", {M}, 1, 0, V, f_last_over_time},
    {"ln", {V}, 1, 0, V, f_ln},
    {"log10", {V}, 1, 0, V, f_log10},
    {"log2", {V}, 1, 0, V, f_log2},
    {"max_over_time", {M}, 1, 0, V, f_max_over_time},
    {"min_over_time", {M}, 1, 0, V, f_min_over_time},
    {"minute", {V}, 0, 1, V, f_minute},
    {"month", {V}, 0, 1, V, f_month},
    {"pi", {0}, 0, 0, S, f_pi},
    {"predict_linear", {M, S}, 2, 0, V, f_predict_linear},
    {"present_over_time", {M}, 1, 0, V, f_present_over_time},
    {"quantile_over_time", {S, M}, 2, 0, V, f_quantile_over_time},
    {"rad", {V}, 1, 0, V, f_rad},
    {"rate", {M}, 1, 0, V, f_rate},
    {"resets", {M}, 1, 0, V, f_resets},
    {"round", {V, S}, 1, 1, V, f_round},
    {"scalar", {V}, 1, 0, S, f_scalar},
    {"sgn", {V}, 1, 0, V, f_sgn},
    {"sin", {V}, 1, 0, V, f_sin},
    {"sinh", {V}, 1, 0, V, f_sinh},
    {"sort", {V}, 1, 0, V, f_sort},
    {"sort_desc", {V}, 1, 0, V, f_sort_desc},
    {"sqrt", {V}, 1, 0, V, f_sqrt},
    {"stddev_over_time", {M}, 1, 0, V, f_stddev_over_time},
    {"stdvar_over_time", {M}, 1, 0, V, f_stdvar_over_time},
    {"sum_over_time", {M}, 1, 0, V, f_sum_over_time},
    {"tan", {V}, 1, 0, V, f_tan},
    {"tanh", {V}, 1, 0, V, f_tanh},
    {"time", {0}, 0, 0, S, f_time},
    {"timestamp", {V}, 1, 0, V, f_timestamp},
    {"vector", {S}, 1, 0, V, f_vector},
    {"year", {V}, 0, 1, V, f_year},
};

const struct pq_func *pq_func_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
            return &funcs[i];
    return NULL;
}
