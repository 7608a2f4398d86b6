/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PromQL engine benchmark: the query_latency data set of issue #4 (10,000 series = 200
 * targets x 50: 25 http_requests_total counters with resets, 21 classic histogram buckets,
 * 4 gauges; 10 s interval, 6 h) loaded into the in-memory source, and the query set
 * evaluated through sl_promql_parse + sl_promql_eval (the path /api/v1/query_range takes,
 * minus HTTP and JSON). Reports per query the median and p99 wall time and the median
 * process CPU time, one line each:
 *   bench=promql query=sum_rate_1h series=10000 runs=5 median_ms=.. p99_ms=.. cpu_ms=..
 * This measures the engine over memory; it is not the daemon-vs-Prometheus comparison.
 * An optional second argument loads fewer targets (50 series each) so that the engine can
 * be run under callgrind in reasonable time: `bench_promql 1 20` is 1,000 series.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/promql.h"

#define TARGETS 200 /* default; argv[2] overrides */
#define STEP_MS 10000
#define HOURS 6

static double now_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void load(struct sl_memsource *ms, int targets)
{
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    static const char *statuses[] = {"200", "201", "400", "404", "500"};
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25",
                                "0.5", "0.75", "1", "1.5", "2", "2.5", "3", "4", "5",
                                "7.5", "10", "15", "30", "+Inf"};
    int64_t n = HOURS * 3600 * 1000 / STEP_MS;
    unsigned seed = 42;
    for (int t = 0; t < targets; t++) {
        char job[32], inst[32];
        snprintf(job, sizeof job, "job-%d", t % 10);
        snprintf(inst, sizeof inst, "host-%d:9100", t);
        for (int s = 0; s < 25; s++) {
            struct sl_qlabel l[5] = {{"__name__", "http_requests_total"}, {"job", job},
                                     {"instance", inst}, {"method", methods[s % 5]},
                                     {"status", statuses[s / 5]}};
            double v = 0;
            for (int64_t i = 0; i < n; i++) {
                v += rand_r(&seed) % 10;
                if (rand_r(&seed) % 1000 == 0)
                    v = 0; /* counter reset */
                sl_memsource_add(ms, l, 5, i * STEP_MS, v);
            }
        }
        double cum[21] = {0};
        for (int64_t i = 0; i < n; i++) {
            double c = 0;
            for (int b = 0; b < 21; b++) {
                c += rand_r(&seed) % 3;
                cum[b] += c;
                struct sl_qlabel l[4] = {{"__name__", "http_request_duration_seconds_bucket"},
                                         {"job", job}, {"instance", inst}, {"le", les[b]}};
                sl_memsource_add(ms, l, 4, i * STEP_MS, cum[b]);
            }
            for (int g = 0; g < 4; g++) {
                char name[32];
                snprintf(name, sizeof name, "node_gauge_%d", g);
                struct sl_qlabel l[3] = {{"__name__", name}, {"job", job}, {"instance", inst}};
                sl_memsource_add(ms, l, 3, i * STEP_MS, rand_r(&seed) % 100);
            }
        }
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    int targets = argc > 2 ? atoi(argv[2]) : TARGETS;
    if (targets < 1)
        targets = TARGETS;
    struct sl_memsource *ms;
    if (sl_memsource_create(&ms))
        return 1;
    double t0 = now_ms(CLOCK_MONOTONIC);
    load(ms, targets);
    fprintf(stderr, "loaded %d series x %d samples in %.0f ms\n", targets * 50,
            HOURS * 3600 * 1000 / STEP_MS, now_ms(CLOCK_MONOTONIC) - t0);
    struct sl_source src = sl_memsource_source(ms);
    const int64_t end = (int64_t)HOURS * 3600 * 1000 - STEP_MS;
    static const struct {
        const char *id, *q;
        int64_t range_ms, step_ms;
    } qs[] = {
        {"sum_rate_1h", "sum by (job) (rate(http_requests_total[5m]))", 3600000, 15000},
        {"sum_rate_6h", "sum by (job) (rate(http_requests_total[5m]))", 6 * 3600000 - 600000, 60000},
        {"sum_rate_status_6h", "sum by (job, status) (rate(http_requests_total[5m]))",
         6 * 3600000 - 600000, 30000},
        {"hq_1h", "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
         3600000, 15000},
        {"hq_6h", "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
         6 * 3600000 - 600000, 60000},
        {"topk_1h", "topk(10, sum by (instance) (rate(http_requests_total[5m])))", 3600000, 15000},
        {"instant_all", "{job=~\"job-.*\"}", 0, 0},
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double wall[64], cpu[64];
        int nr = runs < 64 ? runs : 64;
        size_t nseries = 0;
        for (int r = 0; r < nr; r++) {
            struct sl_promql_expr *e;
            struct sl_promql_error err;
            double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
            if (sl_promql_parse(qs[i].q, &e, &err)) {
                fprintf(stderr, "%s: %s\n", qs[i].id, err.msg);
                return 1;
            }
            struct sl_promql_opts o = {.start_ms = end - qs[i].range_ms, .end_ms = end,
                                       .step_ms = qs[i].step_ms};
            struct sl_promql_result *res;
            if (sl_promql_eval(e, &src, &o, &res, &err)) {
                fprintf(stderr, "%s: %s\n", qs[i].id, err.msg);
                return 1;
            }
            nseries = res->nseries;
            sl_promql_result_free(res);
            sl_promql_expr_free(e);
            wall[r] = now_ms(CLOCK_MONOTONIC) - w0;
            cpu[r] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
        qsort(wall, (size_t)nr, sizeof *wall, cmp_d);
        qsort(cpu, (size_t)nr, sizeof *cpu, cmp_d);
        printf("bench=promql query=%s series=%d result_series=%zu runs=%d median_ms=%.1f "
               "p99_ms=%.1f cpu_ms=%.1f\n",
               qs[i].id, targets * 50, nseries, nr, wall[nr / 2], wall[nr - 1], cpu[nr / 2]);
    }
    sl_memsource_destroy(ms);
    return 0;
}
