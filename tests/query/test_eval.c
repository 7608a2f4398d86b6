/* SPDX-License-Identifier: Apache-2.0 */
/* Evaluator suite: lookback and staleness, rate extrapolation, range-query stepping,
 * subqueries, name dropping, duplicate-labelset errors, and the limits (samples, points
 * per series, timeout). The conformance runner covers the breadth of the language; these
 * pin down the engine behaviours it cannot see (range steps, limits, errors). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/theories.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/errors.h"
#include "query/promql.h"

static struct sl_memsource *ms;
static struct sl_source src;

static void add(const char *name, const char *job, int64_t t, double v)
{
    struct sl_qlabel l[2] = {{"__name__", name}, {"job", job}};
    cr_assert(eq(int, sl_memsource_add(ms, l, 2, t, v), 0));
}

static void setup(void)
{
    cr_assert(eq(int, sl_memsource_create(&ms), 0));
    src = sl_memsource_source(ms);
    /* a counter rising 1/s, sampled every 10 s for 20 minutes */
    for (int64_t t = 0; t <= 1200; t += 10)
        add("req_total", "api", t * 1000, (double)t);
    /* a gauge that goes stale at 100 s */
    add("temp", "a", 0, 20);
    add("temp", "a", 50000, 21);
    double stale;
    uint64_t bits = SL_STALE_NAN_BITS;
    memcpy(&stale, &bits, sizeof stale);
    add("temp", "a", 100000, stale);
    add("temp", "b", 0, 5);
}

static void teardown(void)
{
    sl_memsource_destroy(ms);
}

TestSuite(eval, .init = setup, .fini = teardown, .timeout = 10);

static int run(const char *q, int64_t start, int64_t end, int64_t step,
               struct sl_promql_result **r, struct sl_promql_error *err)
{
    struct sl_promql_expr *e;
    int rc = sl_promql_parse(q, &e, err);
    cr_assert(eq(int, rc, 0), "%s: %s", q, err->msg);
    struct sl_promql_opts o = {.start_ms = start, .end_ms = end, .step_ms = step};
    rc = sl_promql_eval(e, &src, &o, r, err);
    sl_promql_expr_free(e);
    return rc;
}

Test(eval, instant_selector_within_lookback_returns_latest_sample)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("temp", 80000, 80000, 0, &r, &err), 0));
    cr_assert(eq(int, r->type, SL_PQ_VECTOR));
    cr_assert(eq(sz, r->nseries, 2));
    cr_assert(eq(str, (char *)r->series[0].labels[1].value, "a"));
    cr_assert(eq(dbl, r->series[0].pts[0].v, 21));
    cr_assert(eq(i64, r->series[0].pts[0].t, 80000));
    sl_promql_result_free(r);
}

Test(eval, instant_selector_after_stale_marker_returns_nothing)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("temp{job=\"a\"}", 120000, 120000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 0));
    sl_promql_result_free(r);
}

Test(eval, instant_selector_past_lookback_returns_nothing)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    /* temp{job="b"} has one sample at 0; 5 m lookback ends at 300 s inclusive */
    cr_assert(eq(int, run("temp{job=\"b\"}", 300000, 300000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 1));
    sl_promql_result_free(r);
    cr_assert(eq(int, run("temp{job=\"b\"}", 300001, 300001, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 0));
    sl_promql_result_free(r);
}

Test(eval, rate_of_linear_counter_returns_slope_without_name)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("rate(req_total[5m])", 600000, 600000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 1));
    cr_assert(eq(sz, r->series[0].nlabels, 1));
    cr_assert(eq(str, (char *)r->series[0].labels[0].name, "job"));
    cr_assert(ieee_ulp_eq(dbl, r->series[0].pts[0].v, 1.0, 4));
    sl_promql_result_free(r);
}

Test(eval, range_query_steps_from_start_inclusive_end)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("req_total * 2", 100000, 160000, 30000, &r, &err), 0));
    cr_assert(eq(int, r->type, SL_PQ_MATRIX));
    cr_assert(eq(sz, r->nseries, 1));
    cr_assert(eq(sz, r->series[0].npts, 3));
    cr_assert(eq(i64, r->series[0].pts[2].t, 160000));
    cr_assert(eq(dbl, r->series[0].pts[2].v, 320));
    sl_promql_result_free(r);
}

Test(eval, range_query_of_scalar_returns_one_unlabelled_series)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("time()", 0, 20000, 10000, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 1));
    cr_assert(eq(sz, r->series[0].nlabels, 0));
    cr_assert(eq(dbl, r->series[0].pts[2].v, 20));
    sl_promql_result_free(r);
}

Test(eval, range_query_series_gaps_leave_missing_points)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("temp{job=\"a\"}", 0, 200000, 50000, &r, &err), 0));
    /* 0, 50 s and 100 s? at 100 s the stale marker hides it; 150, 200 too */
    cr_assert(eq(sz, r->series[0].npts, 2));
    sl_promql_result_free(r);
}

Test(eval, subquery_over_rate_returns_window_points)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("rate(req_total[1m])[5m:1m]", 600000, 600000, 0, &r, &err), 0));
    cr_assert(eq(int, r->type, SL_PQ_MATRIX));
    cr_assert(eq(sz, r->series[0].npts, 6)); /* 300, 360, ..., 600 s: window is closed */
    cr_assert(eq(i64, r->series[0].pts[0].t, 300000));
    sl_promql_result_free(r);
}

Test(eval, matrix_instant_query_returns_raw_samples)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("req_total[30s]", 60000, 60000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->series[0].npts, 4)); /* 30, 40, 50, 60 s */
    sl_promql_result_free(r);
}

Test(eval, arithmetic_dropping_names_into_duplicates_fails)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    add("other", "api", 600000, 1);
    cr_assert(eq(int, run("{job=\"api\"} + 1", 600000, 600000, 0, &r, &err), SL_E_PROTO));
    cr_assert(eq(int, err.kind, SL_PQ_ERR_EXEC));
    cr_assert(eq(str, err.msg, "vector cannot contain metrics with the same labelset"));
}

Test(eval, range_query_of_range_vector_fails)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("req_total[5m]", 0, 60000, 10000, &r, &err), SL_E_PROTO));
    cr_assert(eq(str, err.msg,
                 "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"));
}

Test(eval, too_many_points_per_series_fails)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("1", 0, 11001000, 1000, &r, &err), SL_E_PROTO));
    cr_assert(eq(int, err.kind, SL_PQ_ERR_EXEC));
    cr_assert(not(eq(ptr, strstr(err.msg, "11,000 points"), NULL)));
}

Test(eval, max_samples_exceeded_fails)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    struct sl_promql_result *r;
    cr_assert(eq(int, sl_promql_parse("sum_over_time(req_total[20m])", &e, &err), 0));
    struct sl_promql_opts o = {.start_ms = 1200000, .end_ms = 1200000, .max_samples = 50};
    cr_assert(eq(int, sl_promql_eval(e, &src, &o, &r, &err), SL_E_PROTO));
    cr_assert(eq(int, err.kind, SL_PQ_ERR_EXEC));
    cr_assert(eq(str, err.msg,
                 "query processing would load too many samples into memory in query execution"));
    o.max_samples = 1000;
    cr_assert(eq(int, sl_promql_eval(e, &src, &o, &r, &err), 0));
    sl_promql_result_free(r);
    sl_promql_expr_free(e);
}

Test(eval, timeout_on_long_subquery_fails_with_timeout_kind)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    struct sl_promql_result *r;
    /* ~86 M inner steps: only the deadline can end this */
    cr_assert(eq(int, sl_promql_parse("max_over_time((req_total > 0)[1000d:1s])", &e, &err), 0));
    struct sl_promql_opts o = {.start_ms = 600000, .end_ms = 600000, .timeout_ms = 50};
    cr_assert(eq(int, sl_promql_eval(e, &src, &o, &r, &err), SL_E_PROTO));
    cr_assert(eq(int, err.kind, SL_PQ_ERR_TIMEOUT));
    cr_assert(eq(str, err.msg, "query timed out in query execution"));
    sl_promql_expr_free(e);
}

Test(eval, matcher_regex_follows_re2_anchoring_and_utf8)
{
    struct sl_matcher m;
    char eb[128];
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_RE, "a", "b.*", eb, sizeof eb), 0));
    cr_assert(eq(int, sl_matcher_matches(&m, "bcd"), 1));
    cr_assert(eq(int, sl_matcher_matches(&m, "abc"), 0));
    cr_assert(eq(int, sl_matcher_matches(&m, "b\xff"), 1));
    cr_assert(eq(int, sl_matcher_matches(&m, "b\nx"), 0)); /* '.' does not match newline */
    sl_matcher_fini(&m);
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_NRE, "a", "x|", eb, sizeof eb), 0));
    cr_assert(eq(int, sl_matcher_matches(&m, NULL), 0)); /* absent label = "" matches "x|" */
    sl_matcher_fini(&m);
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_RE, "a", "(a)\\1", eb, sizeof eb), -EINVAL));
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_RE, "a", "a++", eb, sizeof eb), -EINVAL));
}

Test(eval, huge_offsets_and_ranges_saturate_without_overflow)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    /* three nested 10-million-year windows reach past 2^62 ms; UBSan checks the arithmetic */
    cr_assert(eq(int, run("count_over_time(req_total offset 10000000y [10000000y:5000000y] offset -10000000y)"
                          "[10000000y:5000000y]",
                          600000, 600000, 0, &r, &err), 0), "%s", err.msg);
    sl_promql_result_free(r);
}

Test(eval, at_modifier_pins_evaluation_time)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("req_total @ 100", 0, 60000, 30000, &r, &err), 0));
    cr_assert(eq(sz, r->series[0].npts, 3));
    cr_assert(eq(dbl, r->series[0].pts[0].v, 100));
    cr_assert(eq(dbl, r->series[0].pts[2].v, 100));
    sl_promql_result_free(r);
    cr_assert(eq(int, run("req_total @ end() offset 1m", 0, 600000, 300000, &r, &err), 0));
    cr_assert(eq(dbl, r->series[0].pts[0].v, 540));
    sl_promql_result_free(r);
}

Test(eval, regex_matcher_is_fully_anchored)
{
    struct sl_promql_result *r;
    struct sl_promql_error err;
    cr_assert(eq(int, run("temp{job=~\"a|x\"}", 60000, 60000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 1));
    sl_promql_result_free(r);
    cr_assert(eq(int, run("{__name__=~\"tem\"}", 60000, 60000, 0, &r, &err), 0));
    cr_assert(eq(sz, r->nseries, 0));
    sl_promql_result_free(r);
}

/* Range queries take a different path for range functions (series by series); every step
 * must equal the instant query at that time. */
TheoryDataPoints(eval, range_step_equals_instant_query) = {
    DataPoints(const char *, "rate(req_total[1m])", "increase(req_total[5m] offset 1m)",
               "irate(req_total[1m])", "changes(temp[2m])", "last_over_time(temp[1m])",
               "quantile_over_time(0.5, req_total[3m])", "holt_winters(req_total[5m], 0.5, 0.5)",
               "predict_linear(req_total[5m], 60)", "sum(rate(req_total[2m] @ 300))",
               "max_over_time(rate(req_total[1m])[3m:30s])", "deriv(temp[5m]) * 2",
               /* the per-query group and precomputed-rate fast paths */
               "sum by (job) (rate(req_total[2m]))", "sum by (job) (temp)",
               "topk(1, sum by (job) (rate(req_total[1m])))",
               "count by (job) (temp) + sum without (job) (rate(req_total[1m]))"),
};

static int same_labels(const struct sl_promql_series *a, const struct sl_promql_series *b)
{
    if (a->nlabels != b->nlabels)
        return 0;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i].name, b->labels[i].name) ||
            strcmp(a->labels[i].value, b->labels[i].value))
            return 0;
    return 1;
}

Theory((const char *q), eval, range_step_equals_instant_query)
{
    struct sl_promql_result *range, *inst;
    struct sl_promql_error err;
    cr_assert(eq(int, run(q, 0, 600000, 45000, &range, &err), 0), "%s: %s", q, err.msg);
    for (int64_t t = 0; t <= 600000; t += 45000) {
        cr_assert(eq(int, run(q, t, t, 0, &inst, &err), 0), "%s: %s", q, err.msg);
        for (size_t i = 0; i < inst->nseries; i++) {
            int found = 0;
            for (size_t j = 0; j < range->nseries && !found; j++)
                for (size_t k = 0; k < range->series[j].npts; k++)
                    if (range->series[j].pts[k].t == t &&
                        same_labels(&range->series[j], &inst->series[i])) {
                        double a = range->series[j].pts[k].v, b = inst->series[i].pts[0].v;
                        cr_assert(a == b || (isnan(a) && isnan(b)), "%s at %lld: %g vs %g", q,
                                  (long long)t, a, b);
                        found = 1;
                    }
            cr_assert(found, "%s at %lld: instant series missing from range result", q,
                      (long long)t);
        }
        sl_promql_result_free(inst);
    }
    sl_promql_result_free(range);
}

/* topk/bottomk with k far below the group size take a selection pass instead of a sort;
 * the members must be the ones the sort picks: value order, NaN last, ties by input
 * (label) order. 40 series with values 0..12 repeating and one NaN. */
static int by_desc(double a, double b)
{
    return isnan(a) != isnan(b) ? (isnan(a) ? 1 : -1) : (a > b ? -1 : a < b ? 1 : 0);
}

Test(eval, topk_and_bottomk_pick_the_sorted_first_k_among_ties)
{
    double v[40];
    for (int i = 0; i < 40; i++) {
        char job[8];
        snprintf(job, sizeof job, "j%02d", i);
        v[i] = i == 17 ? NAN : (double)((i * 7) % 13);
        add("g", job, 1000, v[i]);
    }
    for (int top = 0; top < 2; top++) {
        /* expected: indices ordered by value (desc for topk, asc for bottomk), NaN last,
         * ties by index: a stable insertion sort of 0..39 */
        int ord[40];
        for (int i = 0; i < 40; i++) {
            int j = i;
            while (j > 0) {
                double a = v[i], b = v[ord[j - 1]];
                int c = top ? by_desc(a, b) : (isnan(a) != isnan(b) ? by_desc(a, b)
                                                                    : -by_desc(a, b));
                if (c >= 0)
                    break;
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = i;
        }
        struct sl_promql_result *r;
        struct sl_promql_error err;
        cr_assert(eq(int, run(top ? "topk(3, g)" : "bottomk(3, g)", 1000, 1000, 0, &r, &err), 0));
        cr_assert(eq(sz, r->nseries, 3));
        for (int k = 0; k < 3; k++) {
            char want[8];
            snprintf(want, sizeof want, "j%02d", ord[k]);
            int found = 0;
            for (size_t s = 0; s < r->nseries; s++)
                for (size_t l = 0; l < r->series[s].nlabels; l++)
                    found |= !strcmp(r->series[s].labels[l].name, "job") &&
                             !strcmp(r->series[s].labels[l].value, want);
            cr_expect(found, "%s: %s missing", top ? "topk" : "bottomk", want);
        }
        sl_promql_result_free(r);
    }
}
