/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark for the timer sketch and the set counter: ns per DDSketch add (uniform
 * random doubles and lognormal latencies), ns per quantile query, ns per merge, bytes per
 * sketch for typical latency data, and ns per HLL add. Inputs are generated up front with a
 * fixed seed so the timed loops measure the sketch, not the RNG. Each timed result is the
 * median of RUNS runs after one warm-up run; the thread is pinned to one CPU when allowed.
 * Output: one `bench=<name> key=value ...` line per result.
 */
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/ddsketch.h"
#include "engine/hll.h"

#define RUNS 5
#define NADD 10000000u
#define POOL (1u << 20) /* 8 MiB of inputs, reused: larger than L2, so reads stream */

static uint64_t rng = 0x5eed;

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(void)
{
    return ((double)(next() >> 11) + 0.5) * 0x1p-53;
}

static double lognormal_ms(void) /* median 20 ms, sigma 1: p99 ~ 200 ms */
{
    return exp(log(20) + sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()));
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return v[n / 2];
}

static void report(const char *name, const char *extra, double ns)
{
    printf("bench=%s %sns_op=%.2f ops_s=%.3g runs=%d cc=\"%s\"\n", name, extra, ns, 1e9 / ns, RUNS,
           __VERSION__);
}

static struct sl_ddsketch *mk(void)
{
    struct sl_ddsketch *s;
    if (sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &s)) {
        fprintf(stderr, "bench_ddsketch: create failed\n");
        exit(1);
    }
    return s;
}

static double time_adds(const double *in)
{
    double t[RUNS];
    for (int r = -1; r < RUNS; r++) {
        struct sl_ddsketch *s = mk();
        double t0 = now_ns();
        for (uint32_t i = 0; i < NADD; i++)
            sl_ddsketch_add(s, in[i & (POOL - 1)], 1);
        double dt = now_ns() - t0;
        if (sl_ddsketch_count(s) != NADD) exit(1);
        if (r >= 0) t[r] = dt / NADD;
        sl_ddsketch_destroy(s);
    }
    return median(t, RUNS);
}

int main(void)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    int pinned = sched_setaffinity(0, sizeof cpus, &cpus) == 0;
    fprintf(stderr, "bench_ddsketch: pinned=%d adds=%u runs=%d\n", pinned, NADD, RUNS);

    double *in = malloc(POOL * sizeof *in);
    if (!in) return 1;

    for (uint32_t i = 0; i < POOL; i++)
        in[i] = unif() * 1000;
    report("ddsketch_add", "input=uniform_0_1000 ", time_adds(in));

    for (uint32_t i = 0; i < POOL; i++)
        in[i] = lognormal_ms();
    report("ddsketch_add", "input=lognormal_ms ", time_adds(in));

    /* Quantile queries on a sketch of 1e6 latencies: a flush asks for a handful of them. */
    struct sl_ddsketch *s = mk();
    for (uint32_t i = 0; i < POOL; i++)
        sl_ddsketch_add(s, in[i], 1);
    static const double qs[] = {0.5, 0.9, 0.95, 0.99, 0.999};
    volatile double sink = 0;
    double t[RUNS];
    enum { NQ = 1000000 };
    for (int r = -1; r < RUNS; r++) {
        double t0 = now_ns();
        for (uint32_t i = 0; i < NQ; i++)
            sink += sl_ddsketch_quantile(s, qs[i % 5]);
        if (r >= 0) t[r] = (now_ns() - t0) / NQ;
    }
    report("ddsketch_quantile", "values=1e6 q=p50..p999 ", median(t, RUNS));

    /* Merge of two interval sketches (the downsampling and query fan-in path). */
    struct sl_ddsketch *part = mk();
    for (uint32_t i = 0; i < 10000; i++)
        sl_ddsketch_add(part, in[i], 1);
    enum { NM = 100000 };
    for (int r = -1; r < RUNS; r++) {
        struct sl_ddsketch *acc = mk();
        double t0 = now_ns();
        for (uint32_t i = 0; i < NM; i++)
            sl_ddsketch_merge(acc, part);
        if (r >= 0) t[r] = (now_ns() - t0) / NM;
        sl_ddsketch_destroy(acc);
    }
    report("ddsketch_merge", "values=1e4 ", median(t, RUNS));

    /* Size of one flush interval's sketch for typical latency data. */
    uint32_t sizes[] = {100, 10000, 1000000};
    for (size_t k = 0; k < 3; k++) {
        struct sl_ddsketch *b = mk();
        for (uint32_t i = 0; i < sizes[k]; i++)
            sl_ddsketch_add(b, in[i % POOL], 1);
        printf("bench=ddsketch_bytes input=lognormal_ms values=%u memsize=%zu encoded=%d\n",
               sizes[k], sl_ddsketch_memsize(b), sl_ddsketch_encode(b, NULL, 0));
        sl_ddsketch_destroy(b);
    }

    /* HLL add of pre-hashed members; 1e7 adds into one set (dense after 128). */
    uint64_t *h = malloc(POOL * sizeof *h);
    if (!h) return 1;
    for (uint32_t i = 0; i < POOL; i++)
        h[i] = next();
    for (int r = -1; r < RUNS; r++) {
        struct sl_hll *set;
        if (sl_hll_create(SL_HLL_PRECISION, &set)) return 1;
        double t0 = now_ns();
        for (uint32_t i = 0; i < NADD; i++)
            sl_hll_add(set, h[i & (POOL - 1)]);
        double dt = now_ns() - t0;
        sink += sl_hll_count(set);
        if (r >= 0) t[r] = dt / NADD;
        sl_hll_destroy(set);
    }
    report("hll_add", "p=12 ", median(t, RUNS));

    free(h);
    free(in);
    sl_ddsketch_destroy(part);
    sl_ddsketch_destroy(s);
    return sink == 0;
}
