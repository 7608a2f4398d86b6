/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark of the StatsD line parser (ingest/statsd.c): parse_line alone, parse_line
 * plus iterating the values, and parse + build_key, over a few typical line shapes. Each
 * figure is the median of 5 timed runs after a warm-up run; one line per result in the
 * STYLE.md §8 format. Single-threaded; pin it with taskset for stable numbers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ingest/statsd.h"

#define RUNS 5
#define ITERS 2000000

static volatile uint64_t sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum mode { PARSE, PARSE_VALUES, PARSE_KEY };

static double run_once(const char *line, enum mode mode)
{
    size_t n = strlen(line);
    struct sl_statsd_line l;
    char key[SL_KEY_MAX];
    uint64_t acc = 0;
    uint64_t t0 = now_ns();
    for (int i = 0; i < ITERS; i++) {
        int rc = sl_statsd_parse_line(line, n, &l);
        acc += (uint64_t)rc + l.name_len;
        if (mode == PARSE_VALUES) {
            const char *c = l.values;
            struct sl_statsd_value v;
            while (sl_statsd_next_value(&c, l.values + l.values_len, l.mtype, &v) > 0)
                acc += (uint64_t)v.v;
        } else if (mode == PARSE_KEY) {
            uint32_t errs = 0;
            acc += (uint64_t)sl_statsd_build_key(&l, key, sizeof key, &errs);
        }
        __asm__ volatile("" ::: "memory"); /* keep the loop from being folded */
    }
    uint64_t t1 = now_ns();
    sink += acc;
    return (double)(t1 - t0) / ITERS;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#include <stdlib.h>

int main(void)
{
    static const struct { const char *label, *line; } lines[] = {
        {"counter_tag", "api.requests:1|c|#env:prod"},
        {"plain_counter", "gorets:1|c"},
        {"timer_rate_tags", "api.latency:12.5|ms|@0.1|#env:prod,region:eu-west-1,host:web-42"},
        {"gauge_decimal", "fuel.level:0.5|g"},
        {"packed_dist", "page.views:1:2:32|d"},
    };
    static const char *const modes[] = {"parse_line", "parse_values", "parse_key"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        for (int m = 0; m < 3; m++) {
            double r[RUNS];
            run_once(lines[i].line, (enum mode)m); /* warm-up */
            for (int k = 0; k < RUNS; k++)
                r[k] = run_once(lines[i].line, (enum mode)m);
            qsort(r, RUNS, sizeof r[0], cmp_double);
            printf("bench=statsd_%s line=%s ns_op=%.1f min_ns=%.1f max_ns=%.1f runs=%d\n",
                   modes[m], lines[i].label, r[RUNS / 2], r[0], r[RUNS - 1], RUNS);
        }
    }
    return 0;
}
