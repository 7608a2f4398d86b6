/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query threads against a live store, without Criterion, so it runs under ThreadSanitizer:
 * three query threads share one 3-thread pool (query/pool.c) and evaluate range queries
 * whose selectors are read in parts by several threads at once (sl_store_select_parts)
 * while a writer appends new samples to every series and a maintainer cuts the head into
 * blocks under them. Answers over the settled past (samples that never change, only move
 * from the head into blocks) must equal the ones computed serially before the threads
 * started; queries over the moving edge must succeed. Bounded: 3 s or 400 rounds per thread.
 * Exit 0 on success, 1 with a message on the first mismatch or error.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/log.h"
#include "query/promql.h"
#include "storage/store.h"
#include "tests/storage/helpers.h"
#include "tools/store_bridge.h"

#define NSER 150
#define STEP_MS 10000
#define PRELOAD_MS (20 * 60000)
#define RUN_NS 3000000000LL
#define ROUNDS 400

static struct sl_store *store;
static struct sl_source src;
static struct sl_promql_pool *pool;
static char keys[NSER][96];
static uint32_t klen[NSER];
static atomic_int failed;
static atomic_llong newest; /* the writer's last timestamp */
static int64_t t_stop_ns;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double value(int i, int64_t t)
{
    /* counters with a reset every 9 minutes */
    return (double)((t % (9 * 60000)) / 1000 * (i % 7 + 1));
}

static int append_at(int64_t t)
{
    struct sl_sample s[NSER];
    for (int i = 0; i < NSER; i++)
        s[i] = (struct sl_sample){keys[i], klen[i], t, value(i, t)};
    struct sl_sample_batch b = {s, NSER};
    return sl_store_append(store, &b);
}

static const struct {
    const char *q;
    int64_t step;
} settled[] = {
    {"sum by (job) (rate(m_total[2m]))", 30000},
    {"rate(m_total{job=\"j1\"}[5m])", 60000},
    {"max_over_time(m_total[1m])", 45000},
    {"increase(m_total[3m]) > 10", 20000},
};
#define NQ (sizeof settled / sizeof settled[0])
static struct sl_promql_result *want[NQ];

static struct sl_promql_result *eval(const char *q, int64_t start, int64_t end, int64_t step,
                                     struct sl_promql_pool *p, char *why, size_t whylen)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    if (sl_promql_parse(q, &e, &err)) {
        snprintf(why, whylen, "parse %s: %s", q, err.msg);
        return NULL;
    }
    struct sl_promql_opts o = {.start_ms = start, .end_ms = end, .step_ms = step, .pool = p};
    struct sl_promql_result *r = NULL;
    if (sl_promql_eval(e, &src, &o, &r, &err)) {
        snprintf(why, whylen, "eval %s: %s", q, err.msg);
        r = NULL;
    }
    sl_promql_expr_free(e);
    return r;
}

static int same(const struct sl_promql_result *a, const struct sl_promql_result *b)
{
    if (a->nseries != b->nseries)
        return 0;
    for (size_t i = 0; i < a->nseries; i++) {
        const struct sl_promql_series *x = &a->series[i], *y = &b->series[i];
        if (x->nlabels != y->nlabels || x->npts != y->npts)
            return 0;
        for (size_t l = 0; l < x->nlabels; l++)
            if (strcmp(x->labels[l].name, y->labels[l].name) ||
                strcmp(x->labels[l].value, y->labels[l].value))
                return 0;
        if (x->npts && memcmp(x->pts, y->pts, x->npts * sizeof x->pts[0]))
            return 0;
    }
    return 1;
}

static void fail(const char *msg)
{
    if (!atomic_exchange(&failed, 1))
        fprintf(stderr, "stress_query_threads: %s\n", msg);
}

static void *writer(void *arg)
{
    (void)arg;
    int64_t t = PRELOAD_MS;
    for (int r = 0; r < 2000 && mono_ns() < t_stop_ns && !atomic_load(&failed); r++) {
        if (append_at(t)) {
            fail("append failed");
            break;
        }
        atomic_store(&newest, t);
        t += STEP_MS;
    }
    return NULL;
}

static void *maintainer(void *arg)
{
    (void)arg;
    for (int r = 0; r < 2000 && mono_ns() < t_stop_ns && !atomic_load(&failed); r++) {
        if (sl_store_maintain(store, atomic_load(&newest)) < 0) {
            fail("maintain failed");
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *querier(void *arg)
{
    int id = (int)(intptr_t)arg;
    char why[600];
    for (int r = 0; r < ROUNDS && mono_ns() < t_stop_ns && !atomic_load(&failed); r++) {
        size_t k = (size_t)(r + id) % NQ;
        struct sl_promql_result *got =
            eval(settled[k].q, 300000, PRELOAD_MS - 60000, settled[k].step, pool, why,
                 sizeof why);
        if (!got || !same(got, want[k])) {
            fail(got ? "answer over settled data changed" : why);
            sl_promql_result_free(got);
            break;
        }
        sl_promql_result_free(got);
        int64_t edge = atomic_load(&newest);
        got = eval("sum(rate(m_total[1m]))", edge - 600000, edge, 15000, pool, why, sizeof why);
        if (!got) {
            fail(why);
            break;
        }
        sl_promql_result_free(got);
    }
    return NULL;
}

int main(void)
{
    sl_log_set_level(SL_LOG_ERROR + 1);
    char dir[64];
    tmp_dir(dir, sizeof dir, "qthreads");
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 120000;
    cfg.compact_range_ms = 1200000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 0;
    if (sl_store_open(&cfg, &store)) {
        fprintf(stderr, "stress_query_threads: cannot open a store in %s\n", dir);
        return 1;
    }
    for (int i = 0; i < NSER; i++) {
        char host[16], job[8];
        snprintf(host, sizeof host, "h%03d", i);
        snprintf(job, sizeof job, "j%d", i % 4);
        int n = mkkey(keys[i], sizeof keys[i], "m_total", "host", host, "job", job);
        if (n <= 0)
            return 1;
        klen[i] = (uint32_t)n;
    }
    for (int64_t t = 0; t < PRELOAD_MS; t += STEP_MS)
        if (append_at(t))
            return 1;
    atomic_store(&newest, PRELOAD_MS - STEP_MS);
    while (sl_store_maintain(store, PRELOAD_MS - STEP_MS) == 1)
        ;
    src = sl_store_source(store);
    char why[600];
    for (size_t k = 0; k < NQ; k++) /* serially, before anything moves */
        if (!(want[k] = eval(settled[k].q, 300000, PRELOAD_MS - 60000, settled[k].step, NULL,
                             why, sizeof why))) {
            fprintf(stderr, "stress_query_threads: %s\n", why);
            return 1;
        }
    if (sl_promql_pool_create(3, &pool))
        return 1;
    t_stop_ns = mono_ns() + RUN_NS;
    pthread_t w, m, q[3];
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&m, NULL, maintainer, NULL);
    for (int i = 0; i < 3; i++)
        pthread_create(&q[i], NULL, querier, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++)
        pthread_join(q[i], NULL);
    pthread_join(w, NULL);
    pthread_join(m, NULL);
    sl_promql_pool_destroy(pool);
    for (size_t k = 0; k < NQ; k++)
        sl_promql_result_free(want[k]);
    sl_store_close(store);
    rm_rf(dir);
    if (atomic_load(&failed))
        return 1;
    printf("stress_query_threads: ok\n");
    return 0;
}
