/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store as a PromQL source (tools/store_bridge.c): the same samples loaded into a store
 * (spread over cut blocks, the head and an out-of-order backfill that overlaps a block) and
 * into the in-memory source must give identical query results. The store path decodes
 * chunks straight into per-series arrays sized by a counting pass and hands them to the
 * evaluator (SL_SOURCE_F_TRANSFER) instead of copying; the memsource path is the reference.
 * Under ASan a double free or a leak of a handed-over array fails the run.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "query/promql.h"
#include "storage/store.h"
#include "tests/storage/helpers.h"
#include "tools/store_bridge.h"

#define NSER 6
#define STEP_MS 10000
#define END_MS (30 * 60 * 1000) /* 30 min of data, 1 min blocks */

static char dir[64];
static struct sl_store *store;
static struct sl_memsource *mem;
static char keys[NSER][96];
static uint32_t klen[NSER];

static const char *hosts[NSER] = {"a", "b", "c", "d", "e", "f"};

/* counter with a reset every 7 minutes; series 5 gets a staleness marker at 12 min */
static double value(int i, int64_t t)
{
    if (i == 5 && t == 12 * 60000) {
        double v;
        uint64_t bits = SL_STALE_NAN_BITS;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    return (double)((t % (7 * 60000)) / 1000 * (i + 1)) + 0.25 * i;
}

static void add(int i, int64_t t, double v)
{
    struct sl_sample s = {keys[i], klen[i], t, v};
    struct sl_sample_batch b = {&s, 1};
    cr_assert(eq(int, sl_store_append(store, &b), 0));
    struct sl_qlabel l[3] = {{"__name__", i < 4 ? "req_total" : "other_total"},
                             {"host", hosts[i]},
                             {"job", i % 2 ? "odd" : "even"}};
    cr_assert(eq(int, sl_memsource_add(mem, l, 3, t, v), 0));
}

static void setup(void)
{
    sl_log_set_level(SL_LOG_ERROR + 1);
    tmp_dir(dir, sizeof dir, "storesrc");
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 60000;
    cfg.compact_range_ms = 600000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 0;
    cr_assert(eq(int, sl_store_open(&cfg, &store), 0));
    cr_assert(eq(int, sl_memsource_create(&mem), 0));
    for (int i = 0; i < NSER; i++) {
        int n = mkkey(keys[i], sizeof keys[i], i < 4 ? "req_total" : "other_total", "host",
                      hosts[i], "job", i % 2 ? "odd" : "even");
        cr_assert(gt(int, n, 0));
        klen[i] = (uint32_t)n;
    }
    /* the first 20 minutes, cut into blocks; the rest stays in the head */
    for (int64_t t = 0; t < 20 * 60000; t += STEP_MS)
        for (int i = 0; i < NSER; i++)
            add(i, t, value(i, t));
    int rc;
    while ((rc = sl_store_maintain(store, 20 * 60000 + 3 * 60000)) == 1)
        ;
    cr_assert(eq(int, rc, 0));
    for (int64_t t = 20 * 60000; t < END_MS; t += STEP_MS)
        for (int i = 0; i < NSER; i++)
            add(i, t, value(i, t));
}

static void teardown(void)
{
    sl_store_close(store);
    sl_memsource_destroy(mem);
    rm_rf(dir);
}

TestSuite(store_source, .init = setup, .fini = teardown, .timeout = 30);

static struct sl_promql_result *eval(const char *q, struct sl_source src, int64_t start,
                                     int64_t end, int64_t step)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    cr_assert(eq(int, sl_promql_parse(q, &e, &err), 0), "%s: %s", q, err.msg);
    struct sl_promql_opts o = {.start_ms = start, .end_ms = end, .step_ms = step};
    struct sl_promql_result *r;
    cr_assert(eq(int, sl_promql_eval(e, &src, &o, &r, &err), 0), "%s: %s", q, err.msg);
    sl_promql_expr_free(e);
    return r;
}

static int same_value(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static void check_same(const char *q, int64_t start, int64_t end, int64_t step)
{
    struct sl_promql_result *a = eval(q, sl_store_source(store), start, end, step);
    struct sl_promql_result *b = eval(q, sl_memsource_source(mem), start, end, step);
    cr_assert(eq(int, a->type, b->type), "%s", q);
    cr_assert(eq(sz, a->nseries, b->nseries), "%s", q);
    cr_assert(gt(sz, a->nseries, 0), "%s selects nothing: the comparison would be empty", q);
    for (size_t i = 0; i < a->nseries; i++) {
        const struct sl_promql_series *x = &a->series[i], *y = &b->series[i];
        cr_assert(eq(sz, x->nlabels, y->nlabels), "%s", q);
        for (size_t j = 0; j < x->nlabels; j++) {
            cr_assert(eq(str, (char *)x->labels[j].name, (char *)y->labels[j].name), "%s", q);
            cr_assert(eq(str, (char *)x->labels[j].value, (char *)y->labels[j].value), "%s", q);
        }
        cr_assert(eq(sz, x->npts, y->npts), "%s series %zu", q, i);
        for (size_t j = 0; j < x->npts; j++) {
            cr_assert(eq(i64, x->pts[j].t, y->pts[j].t), "%s", q);
            cr_assert(same_value(x->pts[j].v, y->pts[j].v), "%s at %lld: %.17g vs %.17g", q,
                      (long long)x->pts[j].t, x->pts[j].v, y->pts[j].v);
        }
    }
    sl_promql_result_free(a);
    sl_promql_result_free(b);
}

Test(store_source, range_queries_over_blocks_and_head_equal_memsource)
{
    /* windows inside one block, across block boundaries and the head, and past the data */
    static const char *qs[] = {
        "rate(req_total[5m])",
        "sum by (job) (rate(req_total[5m]))",
        "increase(other_total[2m])",
        "max_over_time(req_total[90s])",
        "req_total",
        "avg by (job) (irate(req_total[1m])) * 2",
        "topk(2, sum by (host) (rate({__name__=~\".+_total\"}[5m])))",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        check_same(qs[i], 5 * 60000, END_MS, 15000);
        check_same(qs[i], 0, 10 * 60000 + 5000, 60000);
    }
}

Test(store_source, instant_queries_equal_memsource)
{
    check_same("{job=~\".+\"}", END_MS - STEP_MS, END_MS - STEP_MS, 0);
    check_same("req_total[3m]", 19 * 60000, 19 * 60000, 0);
    check_same("other_total", 12 * 60000 + 1000, 12 * 60000 + 1000, 0);
}

Test(store_source, backfill_overlapping_a_block_is_merged_and_wins)
{
    /* rewrite one sample that already lives in a cut block: the head copy must win (the
     * memsource takes no older samples, so its series is loaded again with the new value) */
    struct sl_sample s = {keys[0], klen[0], 5 * 60000, 1e9};
    struct sl_sample_batch b = {&s, 1};
    cr_assert(eq(int, sl_store_append(store, &b), 0));
    struct sl_qlabel l[3] = {{"__name__", "req_total"}, {"host", "a"}, {"job", "even"}};
    sl_memsource_reset_series(mem, l, 3);
    for (int64_t t = 0; t < END_MS; t += STEP_MS)
        cr_assert(eq(int, sl_memsource_add(mem, l, 3, t, t == 5 * 60000 ? 1e9 : value(0, t)), 0));
    check_same("req_total", 5 * 60000, 5 * 60000, 0);
    check_same("rate(req_total[5m])", 4 * 60000, 12 * 60000, 30000);
}

Test(store_source, taken_series_arrays_belong_to_the_caller)
{
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(store, NULL, 0, 0, END_MS, 0, &ss, NULL, 0), 0));
    cr_assert(eq(sz, sl_series_set_count(ss), NSER));
    struct sl_store_series x = {0};
    size_t at = NSER;
    for (size_t i = 0; i < NSER; i++) {
        sl_series_set_get(ss, i, &x);
        if (x.key_len == klen[2] && memcmp(x.key, keys[2], x.key_len) == 0) {
            at = i;
            break;
        }
    }
    cr_assert(lt(sz, at, NSER));
    cr_assert(eq(sz, x.n, END_MS / STEP_MS));
    int64_t *t = (int64_t *)x.t;
    double *v = (double *)x.v;
    sl_series_set_take(ss, at);
    sl_series_set_destroy(ss);
    /* still readable after the set is gone; one block, freed here (a double free or a
     * leak fails under ASan) */
    for (size_t j = 0; j < x.n; j++)
        cr_assert(eq(i64, t[j], (int64_t)j * STEP_MS));
    cr_assert(eq(dbl, v[1], value(2, STEP_MS)));
    free(t);
}
