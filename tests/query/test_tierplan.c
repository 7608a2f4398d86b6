/* SPDX-License-Identifier: Apache-2.0 */
/* Tier reads of range queries (query/tierplan.h): the same query evaluated over raw samples
 * and over tier buckets (the memsource computes buckets with sl_agg_from_raw, as a store
 * with every tier built) must give the same answer for the exact functions - with samples
 * on bucket boundaries, gaps, counter resets and staleness markers in the data - the tier
 * path must read raw samples only at window ends, queries outside the rule must not use a
 * tier, and the warning must appear exactly when one was used. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "query/api.h"
#include "query/promql.h"

#define MIN 60000LL
#define HOUR 3600000LL

static struct sl_memsource *ms;

/* A wrapper source that counts reads, to tell a tier answer from a raw one. */
static struct sl_source inner;
static int raw_selects, wide_selects, agg_selects, at_selects;

static int count_select(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                        int64_t maxt, sl_series_fn *fn, void *arg)
{
    raw_selects++;
    wide_selects += mint != maxt;
    return inner.ops->select(ctx, m, nm, mint, maxt, fn, arg);
}
static int count_series(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                        int64_t maxt, sl_series_fn *fn, void *arg)
{
    return inner.ops->series(ctx, m, nm, mint, maxt, fn, arg);
}
static double fine_density; /* samples per bucket reported for the 1m tier; 0 = unknown */
static size_t count_tiers(void *ctx, struct sl_source_tier *out, size_t max)
{
    size_t n = inner.ops->tiers(ctx, out, max);
    if (n && max)
        out[0].samples_per_bucket = fine_density;
    return n;
}
static int count_select_agg(void *ctx, const struct sl_matcher *m, size_t nm, int64_t res,
                            int64_t mint, int64_t maxt, sl_agg_series_fn *fn, void *arg)
{
    agg_selects++;
    return inner.ops->select_agg(ctx, m, nm, res, mint, maxt, fn, arg);
}
static int count_select_at(void *ctx, const struct sl_matcher *m, size_t nm, const int64_t *at,
                           size_t nat, sl_series_fn *fn, void *arg)
{
    at_selects++;
    return inner.ops->select_at(ctx, m, nm, at, nat, fn, arg);
}
static struct sl_source_ops counting_ops;
static struct sl_source src;

static void add(const char *name, const char *job, const char *inst, int64_t t, double v)
{
    struct sl_qlabel l[3] = {{"__name__", name}, {"job", job}, {"instance", inst}};
    cr_assert(eq(int, sl_memsource_add(ms, l, 3, t, v), 0));
}

static double stale_nan(void)
{
    uint64_t bits = SL_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t rng = 12345;
static int64_t rnd(int64_t n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int64_t)((rng >> 33) % (uint64_t)n);
}

static void setup(void)
{
    cr_assert(eq(int, sl_memsource_create(&ms), 0));
    int64_t tiers[] = {MIN, 5 * MIN, HOUR};
    sl_memsource_set_tiers(ms, tiers, 3);
    inner = sl_memsource_source(ms);
    counting_ops = (struct sl_source_ops){.flags = inner.ops->flags,
                                          .select = count_select,
                                          .series = count_series,
                                          .tiers = count_tiers,
                                          .select_agg = count_select_agg,
                                          .select_at = count_select_at};
    src = (struct sl_source){&counting_ops, inner.ctx};
    rng = 12345;
    const char *jobs[] = {"api", "db"}, *insts[] = {"a", "b", "c"};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 3; i++) {
            /* gauges on a 15 s grid from 0: a sample on every minute and hour boundary; a
             * 40-minute gap; integer values so sums are exact */
            for (int64_t t = 0; t <= 8 * HOUR; t += 15000) {
                if (t > 3 * HOUR + 10 * MIN && t < 3 * HOUR + 50 * MIN && i == 1)
                    continue;
                add("temp", jobs[j], insts[i], t, (double)(rnd(2001) - 1000));
            }
            /* counters with resets, on an irregular grid that also hits boundaries */
            double c = 0;
            for (int64_t t = 0; t <= 8 * HOUR; t += 10000 + rnd(3) * 10000) {
                c = rnd(50) == 0 ? (double)rnd(5) : c + (double)rnd(100);
                add("req_total", jobs[j], insts[i], t, c);
            }
        }
    /* a series that goes stale (marker exactly on an hour boundary) and comes back */
    for (int64_t t = 0; t <= 8 * HOUR; t += 30000)
        add("flappy", "api", "a", t, t == 2 * HOUR ? stale_nan() : (double)(t / 30000 % 7));
    raw_selects = wide_selects = agg_selects = 0;
    fine_density = 0;
}

static void teardown(void)
{
    sl_memsource_destroy(ms);
}

TestSuite(tierplan, .init = setup, .fini = teardown, .timeout = 30);

static struct sl_promql_result *eval(const char *q, int64_t start, int64_t end, int64_t step,
                                     int tiers)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    cr_assert(eq(int, sl_promql_parse(q, &e, &err), 0), "%s: %s", q, err.msg);
    struct sl_promql_opts o = {.start_ms = start, .end_ms = end, .step_ms = step,
                               .tiers = tiers};
    struct sl_promql_result *r;
    int rc = sl_promql_eval(e, &src, &o, &r, &err);
    sl_promql_expr_free(e);
    cr_assert(eq(int, rc, 0), "%s: %s", q, err.msg);
    return r;
}

/* Same series, same timestamps, same values (bit for bit, or within @tol relative). */
static void assert_same(const char *q, const struct sl_promql_result *a,
                        const struct sl_promql_result *b, double tol)
{
    cr_assert(eq(sz, a->nseries, b->nseries), "%s", q);
    for (size_t i = 0; i < a->nseries; i++) {
        const struct sl_promql_series *x = &a->series[i], *y = &b->series[i];
        cr_assert(eq(sz, x->nlabels, y->nlabels), "%s", q);
        for (size_t l = 0; l < x->nlabels; l++) {
            cr_assert(eq(str, (char *)x->labels[l].name, (char *)y->labels[l].name));
            cr_assert(eq(str, (char *)x->labels[l].value, (char *)y->labels[l].value));
        }
        cr_assert(eq(sz, x->npts, y->npts), "%s series %zu", q, i);
        for (size_t j = 0; j < x->npts; j++) {
            cr_assert(eq(i64, x->pts[j].t, y->pts[j].t), "%s", q);
            double u = x->pts[j].v, v = y->pts[j].v;
            if (isnan(u) || isnan(v)) {
                cr_assert(isnan(u) && isnan(v), "%s at %lld: %g vs %g", q,
                          (long long)x->pts[j].t, u, v);
            } else if (tol == 0) {
                cr_assert(eq(dbl, u, v), "%s at %lld", q, (long long)x->pts[j].t);
            } else {
                cr_assert(fabs(u - v) <= tol * fmax(1, fabs(u)), "%s at %lld: %.17g vs %.17g",
                          q, (long long)x->pts[j].t, u, v);
            }
        }
    }
}

struct tcase {
    char q[160];
    int64_t start, end, step;
    char tier[8]; /* expected tier in the warning */
    double tol;
};

static struct tcase *mk(struct tcase *c, const char *q, int64_t start, int64_t end,
                        int64_t step, const char *tier, double tol)
{
    snprintf(c->q, sizeof c->q, "%s", q);
    c->start = start;
    c->end = end;
    c->step = step;
    snprintf(c->tier, sizeof c->tier, "%s", tier);
    c->tol = tol;
    return c;
}

ParameterizedTestParameters(tierplan, exact_function_from_tier_equals_raw)
{
    static struct tcase c[40];
    size_t n = 0;
    const char *fns[] = {"sum_over_time", "count_over_time", "min_over_time",
                         "max_over_time", "last_over_time"};
    for (size_t f = 0; f < 5; f++) {
        char q[160];
        snprintf(q, sizeof q, "%s(temp[1h])", fns[f]);
        mk(&c[n++], q, 2 * HOUR, 8 * HOUR, HOUR, "1h", 0);
        snprintf(q, sizeof q, "%s(req_total[5m])", fns[f]);
        mk(&c[n++], q, 3 * HOUR, 6 * HOUR, 5 * MIN, "5m", 0);
        snprintf(q, sizeof q, "%s(flappy[10m] offset 5m)", fns[f]);
        mk(&c[n++], q, HOUR, 3 * HOUR, 10 * MIN, "5m", 0);
        snprintf(q, sizeof q, "sum by (job) (%s(temp[2h]))", fns[f]);
        mk(&c[n++], q, 2 * HOUR, 8 * HOUR, HOUR, "1h", 0);
        snprintf(q, sizeof q, "%s(temp{instance=\"b\"}[3m])", fns[f]);
        mk(&c[n++], q, 3 * HOUR, 4 * HOUR, 3 * MIN, "1m", 0);
    }
    mk(&c[n++], "avg_over_time(temp[1h])", 2 * HOUR, 8 * HOUR, HOUR, "1h", 1e-12);
    mk(&c[n++], "avg_over_time(req_total[5m] offset 1h)", 3 * HOUR, 6 * HOUR, 5 * MIN, "5m",
       1e-12);
    mk(&c[n++], "max(max_over_time(temp[1h])) - min(min_over_time(temp[1h]))", 2 * HOUR,
       8 * HOUR, HOUR, "1h", 0);
    mk(&c[n++], "count_over_time(temp[1h]) > 235", 2 * HOUR, 8 * HOUR, HOUR, "1h", 0);
    return cr_make_param_array(struct tcase, c, n);
}

ParameterizedTest(struct tcase *c, tierplan, exact_function_from_tier_equals_raw)
{
    struct sl_promql_result *raw = eval(c->q, c->start, c->end, c->step, SL_PQ_TIERS_OFF);
    cr_assert(eq(sz, raw->nwarnings, 0));
    cr_assert(gt(sz, raw->nseries, 0), "%s", c->q);
    /* window ends read in one batched call (select_at), then one select per instant */
    for (int batched = 1; batched >= 0; batched--) {
        counting_ops.select_at = batched ? count_select_at : NULL;
        raw_selects = wide_selects = agg_selects = at_selects = 0;
        struct sl_promql_result *t = eval(c->q, c->start, c->end, c->step, SL_PQ_TIERS_EXACT);
        /* answered from buckets plus point reads at window ends, never a raw window */
        cr_assert(gt(int, agg_selects, 0), "%s", c->q);
        cr_assert(eq(int, wide_selects, 0), "%s", c->q);
        if (batched)
            cr_assert(eq(int, raw_selects, 0), "%s", c->q);
        else
            cr_assert(eq(int, at_selects, 0), "%s", c->q);
        cr_assert(ge(sz, t->nwarnings, 1), "%s", c->q);
        char want[32];
        snprintf(want, sizeof want, "the %s downsampled tier", c->tier);
        cr_assert(strstr(t->warnings[0], want) != NULL, "%s: %s", c->q, t->warnings[0]);
        assert_same(c->q, raw, t, c->tol);
        sl_promql_result_free(t);
    }
    sl_promql_result_free(raw);
}

ParameterizedTestParameters(tierplan, query_outside_rule_reads_raw_without_warning)
{
    static struct tcase c[12];
    size_t n = 0;
    mk(&c[n++], "max_over_time(temp[1h])", 2 * HOUR + 1000, 8 * HOUR, HOUR, "", 0); /* start */
    mk(&c[n++], "max_over_time(temp[1h])", 2 * HOUR, 4 * HOUR, 90000, "", 0);      /* step */
    mk(&c[n++], "max_over_time(temp[90s])", 2 * HOUR, 4 * HOUR, 3 * MIN, "", 0);    /* range */
    mk(&c[n++], "max_over_time(temp[1h] offset 30s)", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    mk(&c[n++], "max_over_time(temp[1h] @ 7200)", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    mk(&c[n++], "rate(req_total[1h])", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    mk(&c[n++], "increase(req_total[1h])", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    mk(&c[n++], "stddev_over_time(temp[1h])", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    mk(&c[n++], "max_over_time(temp[1m])", 2 * HOUR, 4 * HOUR, MIN, "", 0); /* 121 steps */
    mk(&c[n++], "max_over_time(max_over_time(temp[1h])[2h:1h])", 2 * HOUR, 8 * HOUR, HOUR, "",
       0);
    mk(&c[n++], "quantile_over_time(0.5, temp[1h])", 2 * HOUR, 8 * HOUR, HOUR, "", 0);
    return cr_make_param_array(struct tcase, c, n);
}

ParameterizedTest(struct tcase *c, tierplan, query_outside_rule_reads_raw_without_warning)
{
    counting_ops.select_at = NULL; /* so the 64-step bound of per-instant reads applies */
    struct sl_promql_result *raw = eval(c->q, c->start, c->end, c->step, SL_PQ_TIERS_OFF);
    raw_selects = wide_selects = agg_selects = 0;
    struct sl_promql_result *t = eval(c->q, c->start, c->end, c->step, SL_PQ_TIERS_EXACT);
    cr_assert(eq(int, agg_selects, 0), "%s", c->q);
    cr_assert(eq(sz, t->nwarnings, 0), "%s", c->q);
    assert_same(c->q, raw, t, 0);
    sl_promql_result_free(raw);
    sl_promql_result_free(t);
}

Test(tierplan, instant_query_never_uses_tier)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    cr_assert(eq(int, sl_promql_parse("max_over_time(temp[1h])", &e, &err), 0));
    struct sl_promql_opts o = {.start_ms = 4 * HOUR, .end_ms = 4 * HOUR};
    struct sl_promql_result *r;
    cr_assert(eq(int, sl_promql_eval(e, &src, &o, &r, &err), 0));
    cr_assert(eq(int, agg_selects, 0));
    cr_assert(eq(sz, r->nwarnings, 0));
    sl_promql_result_free(r);
    sl_promql_expr_free(e);
}

Test(tierplan, tier_disabled_reads_raw)
{
    struct sl_promql_result *r = eval("max_over_time(temp[1h])", 2 * HOUR, 8 * HOUR, HOUR,
                                      SL_PQ_TIERS_OFF);
    cr_assert(eq(int, agg_selects, 0));
    cr_assert(eq(sz, r->nwarnings, 0));
    sl_promql_result_free(r);
}

Test(tierplan, two_calls_from_tiers_give_two_warnings)
{
    struct sl_promql_result *r = eval("max_over_time(temp[1h]) - min_over_time(temp[5m])",
                                      2 * HOUR, 8 * HOUR, HOUR, SL_PQ_TIERS_EXACT);
    cr_assert(eq(sz, r->nwarnings, 2));
    cr_assert(strstr(r->warnings[0], "max_over_time(temp[1h]) was answered from the 1h") !=
              NULL, "%s", r->warnings[0]);
    cr_assert(strstr(r->warnings[1], "min_over_time(temp[5m]) was answered from the 5m") !=
              NULL, "%s", r->warnings[1]);
    sl_promql_result_free(r);
}

Test(tierplan, samples_on_bucket_boundaries_count_in_both_closed_windows)
{
    /* [E - W, E] is closed at both ends: a sample at E belongs to this window and, as its
     * first sample, to the next one */
    add("edge", "x", "a", MIN, 100);
    add("edge", "x", "a", 2 * MIN, 1);
    add("edge", "x", "a", 2 * MIN + 30000, 7);
    add("edge", "x", "a", 3 * MIN, 2);
    struct sl_promql_result *r =
        eval("max_over_time(edge[1m])", MIN, 4 * MIN, MIN, SL_PQ_TIERS_EXACT);
    cr_assert(eq(sz, r->nwarnings, 1));
    cr_assert(eq(sz, r->nseries, 1));
    const struct sl_promql_series *s = &r->series[0];
    cr_assert(eq(sz, s->npts, 4));
    cr_assert(eq(dbl, s->pts[0].v, 100)); /* [0, 1m]: the sample at 1m */
    cr_assert(eq(dbl, s->pts[1].v, 100)); /* [1m, 2m]: both boundary samples */
    cr_assert(eq(dbl, s->pts[2].v, 7));   /* [2m, 3m] */
    cr_assert(eq(dbl, s->pts[3].v, 2));   /* [3m, 4m]: only the sample at 3m */
    sl_promql_result_free(r);
    r = eval("count_over_time(edge[1m])", MIN, 4 * MIN, MIN, SL_PQ_TIERS_EXACT);
    cr_assert(eq(sz, r->nwarnings, 1));
    double want[] = {1, 2, 3, 1};
    for (size_t j = 0; j < 4; j++)
        cr_assert(eq(dbl, r->series[0].pts[j].v, want[j]), "step %zu", j);
    sl_promql_result_free(r);
}

/* The reset-adjusted increase from the last sample before [E - W, E) to the last sample
 * before E, straight from the samples. */
static int brute_increase(const int64_t *ts, const double *vs, size_t n, int64_t e, int64_t w,
                          double *out)
{
    double inc = 0, prev = 0;
    int have = 0, any = 0;
    for (size_t i = 0; i < n && ts[i] < e; i++) {
        if (ts[i] >= e - w) {
            any = 1;
            if (have)
                inc += vs[i] >= prev ? vs[i] - prev : vs[i];
        }
        prev = vs[i];
        have = 1;
    }
    *out = inc;
    return any;
}

struct collect {
    int64_t ts[4096];
    double vs[4096];
    size_t n;
};

static int collect_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                      const double *vs, size_t n)
{
    struct collect *c = arg;
    for (size_t i = 0; i < n && c->n < 4096; i++) {
        c->ts[c->n] = ts[i];
        c->vs[c->n++] = vs[i];
    }
    return 0;
}

Test(tierplan, counters_mode_increase_is_bucket_increase_with_resets)
{
    struct sl_promql_result *r = eval("increase(req_total{job=\"db\",instance=\"c\"}[1h])",
                                      2 * HOUR, 8 * HOUR, HOUR, SL_PQ_TIERS_COUNTERS);
    cr_assert(eq(sz, r->nwarnings, 1));
    cr_assert(strstr(r->warnings[0], "without the extrapolation") != NULL, "%s", r->warnings[0]);
    cr_assert(eq(sz, r->nseries, 1));
    struct sl_matcher m[3];
    cr_assert(eq(int, sl_matcher_init(&m[0], SL_MATCH_EQ, "__name__", "req_total", NULL, 0), 0));
    cr_assert(eq(int, sl_matcher_init(&m[1], SL_MATCH_EQ, "job", "db", NULL, 0), 0));
    cr_assert(eq(int, sl_matcher_init(&m[2], SL_MATCH_EQ, "instance", "c", NULL, 0), 0));
    static struct collect c;
    c.n = 0;
    cr_assert(eq(int, inner.ops->select(inner.ctx, m, 3, 0, 9 * HOUR, collect_cb, &c), 0));
    for (int i = 0; i < 3; i++)
        sl_matcher_fini(&m[i]);
    int resets = 0;
    for (size_t i = 1; i < c.n; i++)
        resets += c.vs[i] < c.vs[i - 1];
    cr_assert(gt(int, resets, 0), "the data must hold a counter reset");
    cr_assert(eq(sz, r->series[0].npts, 7));
    double total = 0;
    for (size_t j = 0; j < 7; j++) {
        double want;
        int64_t e = 2 * HOUR + (int64_t)j * HOUR;
        cr_assert(brute_increase(c.ts, c.vs, c.n, e, HOUR, &want));
        cr_assert(eq(i64, r->series[0].pts[j].t, e));
        cr_assert(eq(dbl, r->series[0].pts[j].v, want), "step %zu", j);
        total += want;
    }
    /* windows of W = S tile the time line: the increases add up to the whole one */
    double whole;
    cr_assert(brute_increase(c.ts, c.vs, c.n, 8 * HOUR, 7 * HOUR, &whole));
    cr_assert(eq(dbl, total, whole));
    sl_promql_result_free(r);

    r = eval("rate(req_total{job=\"db\",instance=\"c\"}[1h])", 2 * HOUR, 8 * HOUR, HOUR,
             SL_PQ_TIERS_COUNTERS);
    cr_assert(eq(sz, r->nwarnings, 1));
    double want;
    brute_increase(c.ts, c.vs, c.n, 3 * HOUR, HOUR, &want);
    cr_assert(eq(dbl, r->series[0].pts[1].v, want / 3600));
    sl_promql_result_free(r);
}

Test(tierplan, counters_mode_aggregation_matches_per_series_sum)
{
    struct sl_promql_result *a = eval("sum by (job) (increase(req_total[1h]))", 2 * HOUR,
                                      8 * HOUR, HOUR, SL_PQ_TIERS_COUNTERS);
    struct sl_promql_result *b =
        eval("increase(req_total[1h])", 2 * HOUR, 8 * HOUR, HOUR, SL_PQ_TIERS_COUNTERS);
    cr_assert(eq(sz, a->nseries, 2));
    cr_assert(eq(sz, b->nseries, 6));
    for (size_t g = 0; g < 2; g++) {
        const char *job = a->series[g].labels[0].value;
        for (size_t j = 0; j < a->series[g].npts; j++) {
            double s = 0;
            for (size_t i = 0; i < 6; i++) /* labels: instance, job */
                if (strcmp(b->series[i].labels[1].value, job) == 0)
                    s += b->series[i].pts[j].v;
            cr_assert(eq(dbl, a->series[g].pts[j].v, s));
        }
    }
    sl_promql_result_free(a);
    sl_promql_result_free(b);
}

/* The HTTP API: the warning reaches the JSON envelope, use_tiers chooses per query. */
static struct sl_http_response api_range(struct sl_query_api *api, const char *q,
                                         const char *use_tiers)
{
    struct sl_http_param p[5] = {{"query", q}, {"start", "7200"}, {"end", "28800"},
                                 {"step", "3600"}, {"use_tiers", use_tiers}};
    struct sl_http_request req = {.method = "GET", .path = "/api/v1/query_range", .params = p,
                                  .nparams = use_tiers ? 5 : 4};
    struct sl_http_response resp = {.status = 200};
    size_t n;
    const struct sl_http_route *r = sl_query_api_routes(api, &n);
    for (size_t i = 0; i < n; i++)
        if (!r[i].prefix && strcmp(r[i].path, "/api/v1/query_range") == 0)
            cr_assert(eq(int, r[i].fn(r[i].ctx, &req, &resp), 0));
    return resp;
}

Test(tierplan, api_reports_tier_in_warnings_and_honours_use_tiers)
{
    struct sl_query_api_cfg cfg = {.src = src};
    struct sl_query_api *api;
    cr_assert(eq(int, sl_query_api_create(&cfg, &api), 0));
    struct sl_http_response a = api_range(api, "max_over_time(temp[1h])", NULL);
    cr_assert(eq(int, a.status, 200));
    cr_assert(not(eq(ptr, strstr(a.body, ",\"warnings\":[\"max_over_time(temp[1h]) was answered "
                                         "from the 1h downsampled tier"),
                     NULL)),
              "%s", a.body + (strlen(a.body) > 400 ? strlen(a.body) - 400 : 0));
    struct sl_http_response b = api_range(api, "max_over_time(temp[1h])", "false");
    cr_assert(eq(int, b.status, 200));
    cr_assert(eq(ptr, strstr(b.body, "warnings"), NULL));
    /* the same data either way, only the envelope's tail differs */
    cr_assert(eq(int, strncmp(a.body, b.body, strlen(b.body) - 1), 0));
    struct sl_http_response c = api_range(api, "increase(req_total[1h])", "counters");
    cr_assert(not(eq(ptr, strstr(c.body, "without the extrapolation"), NULL)));
    struct sl_http_response d = api_range(api, "increase(req_total[1h])", NULL);
    cr_assert(eq(ptr, strstr(d.body, "warnings"), NULL));
    struct sl_http_response e = api_range(api, "max_over_time(temp[1h])", "sometimes");
    cr_assert(eq(int, e.status, 400));
    cr_assert(not(eq(ptr, strstr(e.body, "use_tiers"), NULL)), "%s", e.body);
    struct sl_query_api_cfg off = {.src = src, .tiers = SL_PQ_TIERS_OFF};
    struct sl_query_api *api2;
    cr_assert(eq(int, sl_query_api_create(&off, &api2), 0));
    struct sl_http_response f = api_range(api2, "max_over_time(temp[1h])", NULL);
    cr_assert(eq(ptr, strstr(f.body, "warnings"), NULL));
    struct sl_http_response g = api_range(api2, "max_over_time(temp[1h])", "true");
    cr_assert(not(eq(ptr, strstr(g.body, "warnings"), NULL)));
    struct sl_http_response *all[] = {&a, &b, &c, &d, &e, &f, &g};
    for (size_t i = 0; i < 7; i++)
        free(all[i]->body);
    sl_query_api_destroy(api);
    sl_query_api_destroy(api2);
}

Test(tierplan, sparse_tier_is_not_worth_reading)
{
    /* 10 s samples behind 5m-wide buckets would be 30 per bucket, below PQ_TIER_MIN_DENSITY */
    fine_density = 30;
    struct sl_promql_result *r =
        eval("max_over_time(temp[1m])", 3 * HOUR, 4 * HOUR, MIN, SL_PQ_TIERS_EXACT);
    cr_assert(eq(int, agg_selects, 0));
    cr_assert(eq(sz, r->nwarnings, 0));
    sl_promql_result_free(r);
    /* the 5m tier (density unknown here) still answers a 5m step */
    r = eval("max_over_time(temp[5m])", 3 * HOUR, 4 * HOUR, 5 * MIN, SL_PQ_TIERS_EXACT);
    cr_assert(eq(sz, r->nwarnings, 1));
    cr_assert(strstr(r->warnings[0], "the 5m downsampled tier") != NULL, "%s", r->warnings[0]);
    sl_promql_result_free(r);
    fine_density = 64; /* PQ_TIER_MIN_DENSITY, query/tierplan.h */
    r = eval("max_over_time(temp[1m])", 3 * HOUR, 4 * HOUR, MIN, SL_PQ_TIERS_EXACT);
    cr_assert(eq(sz, r->nwarnings, 1));
    sl_promql_result_free(r);
}

Test(tierplan, nan_values_are_not_in_tiers_except_at_window_ends)
{
    /* documented difference (tierplan.h): tiers skip NaN samples, so a NaN inside a window
     * leaves the tier sum finite where the raw sum is NaN; a NaN exactly at the window end
     * is read raw and counts as in the raw answer (when the bucket it opens holds a number
     * too, so the end is looked up at all) */
    add("gappy", "x", "a", MIN, 1);
    add("gappy", "x", "a", MIN + 30000, NAN);
    add("gappy", "x", "a", 2 * MIN, 2);
    add("gappy", "x", "a", 3 * MIN, NAN);
    add("gappy", "x", "a", 3 * MIN + 30000, 5);
    struct sl_promql_result *t =
        eval("sum_over_time(gappy[1m])", 2 * MIN, 3 * MIN, MIN, SL_PQ_TIERS_EXACT);
    struct sl_promql_result *r =
        eval("sum_over_time(gappy[1m])", 2 * MIN, 3 * MIN, MIN, SL_PQ_TIERS_OFF);
    cr_assert(eq(sz, t->nwarnings, 1));
    cr_assert(eq(sz, t->series[0].npts, 2));
    cr_assert(isnan(r->series[0].pts[0].v)); /* [1m, 2m]: 1 + NaN + 2 */
    cr_assert(eq(dbl, t->series[0].pts[0].v, 3));
    cr_assert(isnan(r->series[0].pts[1].v)); /* [2m, 3m]: 2 + NaN at the end */
    cr_assert(isnan(t->series[0].pts[1].v));
    sl_promql_result_free(t);
    sl_promql_result_free(r);
}
