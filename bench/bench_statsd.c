/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark of the StatsD line parser (ingest/statsd.c): parse_line alone, parse_line
 * plus iterating the values, and parse + build_key, over a few typical line shapes. Each
 * figure is the median of 5 timed runs after a warm-up run; one line per result in the
 * STYLE.md §8 format on stdout and, given a path argument, the BENCH.md JSON document
 * (bench "statsd_parse", metric "ns_per_line"). Single-threaded; pin it with taskset for
 * stable numbers. Commit id comes from $SL_COMMIT when set.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ingest/statsd.h"
#include "sl_config.h"

#define RUNS 5
#define ITERS 2000000

static volatile uint64_t sink;

/* Thread CPU time, not wall time: on a shared machine a preempted run would otherwise
 * count other processes' slices as parse time. Nothing here blocks, so they agree when the
 * machine is idle. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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

static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += v[1] == ' ' ? 2 : 1;
                v[strcspn(v, "\n\"\\")] = 0;
                snprintf(out, cap, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

struct result {
    const char *mode, *line;
    double med, min, max;
};

static int write_json(const char *path, const struct result *r, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    char cpu[128], when[32];
    cpu_model(cpu, sizeof cpu);
    struct utsname u;
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    time_t t = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    const char *commit = getenv("SL_COMMIT");
#ifdef NDEBUG
    const char *build = "release";
#else
    const char *build = "debug";
#endif
    fprintf(f, "{\n  \"bench\": \"statsd_parse\",\n  \"when\": \"%s\",\n", when);
    fprintf(f, "  \"machine\": {\"cpu\": \"%s\", \"cores\": %ld, \"mem_gib\": %.0f, "
               "\"kernel\": \"%s\"},\n",
            cpu, sysconf(_SC_NPROCESSORS_ONLN), (double)pages * (double)psz / (1 << 30), u.release);
    fprintf(f, "  \"sluice\": {\"version\": \"%s\", \"commit\": \"%s\", \"build\": \"%s\"},\n",
            SL_VERSION, commit ? commit : "unknown", build);
    fprintf(f, "  \"params\": {\"iterations\": %d},\n  \"results\": [\n", ITERS);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "    {\"system\": \"sluice\", \"metric\": \"ns_per_line\", \"unit\": \"ns\", "
                   "\"median\": %.2f, \"min\": %.2f, \"max\": %.2f, \"runs\": %d, "
                   "\"params\": {\"stage\": \"%s\", \"line\": \"%s\"}}%s\n",
                r[i].med, r[i].min, r[i].max, RUNS, r[i].mode, r[i].line, i + 1 < n ? "," : "");
    fprintf(f, "  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct { const char *label, *line; } lines[] = {
        {"counter_tag", "api.requests:1|c|#env:prod"},
        {"plain_counter", "gorets:1|c"},
        {"timer_rate_tags", "api.latency:12.5|ms|@0.1|#env:prod,region:eu-west-1,host:web-42"},
        {"gauge_decimal", "fuel.level:0.5|g"},
        {"packed_dist", "page.views:1:2:32|d"},
    };
    static const char *const modes[] = {"parse_line", "parse_values", "parse_key"};
    struct result res[sizeof lines / sizeof lines[0] * 3];
    size_t nres = 0;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        for (int m = 0; m < 3; m++) {
            double r[RUNS];
            run_once(lines[i].line, (enum mode)m); /* warm-up */
            for (int k = 0; k < RUNS; k++)
                r[k] = run_once(lines[i].line, (enum mode)m);
            qsort(r, RUNS, sizeof r[0], cmp_double);
            printf("bench=statsd_%s line=%s ns_op=%.1f min_ns=%.1f max_ns=%.1f runs=%d\n",
                   modes[m], lines[i].label, r[RUNS / 2], r[0], r[RUNS - 1], RUNS);
            res[nres++] = (struct result){modes[m], lines[i].label, r[RUNS / 2], r[0],
                                          r[RUNS - 1]};
        }
    }
    if (argc > 1 && write_json(argv[1], res, nres) != 0)
        return 1;
    return 0;
}
