/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by bench_storage_size.c and bench_storage_rw.c: the TSBS-like data sets, a fixed-
 * seed generator, CPU timing and the JSON result file of shared/BENCH.md.
 *
 * Data sets (8.64 M samples each): 100 hosts x 10 cpu fields at 10 s for 24 h.
 *   cpu_float  each field a random walk: start U(0,100), step N(0,1), clamped to [0,100];
 *   cpu_int    the same walk rounded to integers;
 *   counter    x += |N(50,1)| rounded, a monotonic integer counter.
 */
#ifndef SL_BENCH_STORAGE_COMMON_H
#define SL_BENCH_STORAGE_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine/key.h"
#include "sl_config.h"
#include "engine/record.h"
#include "storage/store.h"

#define B_HOSTS 100
#define B_FIELDS 10
#define B_SERIES (B_HOSTS * B_FIELDS)
#define B_STEP_MS 10000LL
#define B_STEPS 8640 /* 24 h at 10 s */
#define B_T0 (19700LL * 86400000LL) /* a day boundary in 2023 */

enum b_dataset { B_CPU_INT, B_CPU_FLOAT, B_COUNTER, B_NDATASETS };
static const char *const b_dataset_name[] = {"cpu_int", "cpu_float", "counter"};

struct b_gen {
    uint64_t rng;
    double x[B_SERIES];
    char keys[B_SERIES][320];
    uint32_t kl[B_SERIES];
    enum b_dataset ds;
};

static inline uint64_t b_next(struct b_gen *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline double b_unif(struct b_gen *g)
{
    return (double)(b_next(g) >> 11) * 0x1.0p-53;
}

static inline double b_norm(struct b_gen *g)
{
    double u = b_unif(g), v = b_unif(g);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static const char *const b_fields[B_FIELDS] = {
    "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
    "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};

static inline void b_gen_init(struct b_gen *g, enum b_dataset ds)
{
    static const char *const regions[] = {"us-east-1", "us-west-1", "eu-central-1", "ap-south-1"};
    g->rng = 42 + (uint64_t)ds;
    g->ds = ds;
    for (int h = 0; h < B_HOSTS; h++) {
        char host[32], dc[32], rack[16], team[16], svc[16], ver[16];
        snprintf(host, sizeof host, "host_%d", h);
        snprintf(dc, sizeof dc, "%s%c", regions[h % 4], 'a' + h % 3);
        snprintf(rack, sizeof rack, "%d", h % 97);
        snprintf(team, sizeof team, "%s", h % 3 ? "SF" : "NYC");
        snprintf(svc, sizeof svc, "%d", h % 19);
        snprintf(ver, sizeof ver, "%d", h % 2);
        for (int f = 0; f < B_FIELDS; f++) {
            char name[64];
            snprintf(name, sizeof name, "cpu_%s", b_fields[f]);
            struct sl_label l[] = {
#define L(n, v) {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)}
                L("hostname", host), L("region", regions[h % 4]), L("datacenter", dc),
                L("rack", rack), L("os", h % 2 ? "Ubuntu16.04LTS" : "Ubuntu15.10"),
                L("arch", h % 2 ? "x64" : "x86"), L("team", team), L("service", svc),
                L("service_version", ver),
                L("service_environment", h % 3 ? "production" : "staging"),
#undef L
            };
            int i = h * B_FIELDS + f;
            int n = sl_key_build(SL_KIND_PLAIN, name, strlen(name), l, 10, g->keys[i],
                                 sizeof g->keys[i]);
            if (n < 0)
                abort();
            g->kl[i] = (uint32_t)n;
            g->x[i] = ds == B_COUNTER ? 0 : b_unif(g) * 100;
        }
    }
}

/* Values of every series at the next step into @v. */
static inline void b_gen_step(struct b_gen *g, double *v)
{
    for (int i = 0; i < B_SERIES; i++) {
        if (g->ds == B_COUNTER) {
            g->x[i] += round(fabs(50 + b_norm(g)));
            v[i] = g->x[i];
            continue;
        }
        double x = g->x[i] + b_norm(g);
        g->x[i] = x < 0 ? 0 : x > 100 ? 100 : x;
        v[i] = g->ds == B_CPU_INT ? round(g->x[i]) : g->x[i];
    }
}

static inline double b_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int b_dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of @n values (sorts @v). */
static inline void b_stats(double *v, int n, double *med, double *mn, double *mx)
{
    qsort(v, (size_t)n, sizeof *v, b_dcmp);
    *med = v[n / 2];
    *mn = v[0];
    *mx = v[n - 1];
}

/* ---- JSON result file ---- */

struct b_json {
    FILE *f;
    int nres;
};

static inline void b_json_open(struct b_json *j, const char *bench, const char *argv1,
                               const char *params)
{
    char path[512];
    const char *env = getenv("SL_BENCH_OUT");
    if (argv1)
        snprintf(path, sizeof path, "%s", argv1);
    else if (env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "build/bench/%s.json", bench);
    /* create the parent directories (mkdir -p) */
    for (char *q = strchr(path + 1, '/'); q; q = strchr(q + 1, '/')) {
        *q = 0;
        mkdir(path, 0755);
        *q = '/';
    }
    j->f = fopen(path, "w");
    if (!j->f) {
        perror(path);
        exit(1);
    }
    j->nres = 0;
    char cpu[600] = "unknown", line[512];
    FILE *c = fopen("/proc/cpuinfo", "r");
    while (c && fgets(line, sizeof line, c))
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            snprintf(cpu, sizeof cpu, "%s", p ? p + 2 : line);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (c)
        fclose(c);
    long mem_kb = 0;
    FILE *m = fopen("/proc/meminfo", "r");
    if (m && fscanf(m, "MemTotal: %ld kB", &mem_kb) != 1)
        mem_kb = 0;
    if (m)
        fclose(m);
    struct utsname u;
    uname(&u);
    char sha[64] = "unknown";
    FILE *g = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (g && fgets(sha, sizeof sha, g))
        sha[strcspn(sha, "\n")] = 0;
    if (g)
        pclose(g);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
#ifdef NDEBUG
    const char *build = "release";
#else
    const char *build = "debug";
#endif
    fprintf(j->f,
            "{\n  \"bench\": \"%s\",\n  \"when\": \"%s\",\n  \"machine\": {\"cpu\": \"%s\", "
            "\"cores\": %ld, \"mem_gib\": %.1f, \"kernel\": \"%s\"},\n  \"sluice\": "
            "{\"version\": \"%s\", \"commit\": \"%s\", \"build\": \"%s\"},\n  \"params\": %s,\n"
            "  \"results\": [",
            bench, when, cpu, sysconf(_SC_NPROCESSORS_ONLN), (double)mem_kb / 1048576.0,
            u.release, SL_VERSION, sha, build, params);
}

static inline void b_json_result(struct b_json *j, const char *system_, const char *metric,
                                 const char *unit, double med, double mn, double mx, int runs,
                                 const char *params)
{
    fprintf(j->f,
            "%s\n    {\"system\": \"%s\", \"metric\": \"%s\", \"unit\": \"%s\", \"median\": %.6g, "
            "\"min\": %.6g, \"max\": %.6g, \"runs\": %d, \"params\": %s}",
            j->nres++ ? "," : "", system_, metric, unit, med, mn, mx, runs, params);
}

static inline void b_json_close(struct b_json *j)
{
    fprintf(j->f, "\n  ]\n}\n");
    fclose(j->f);
}

/* Store configuration used by both benchmarks: raw blocks only, no fsync (CPU, not disk). */
static inline void b_store_cfg(struct sl_store_cfg *c, const char *dir)
{
    sl_store_cfg_defaults(c);
    c->dir = dir;
    c->fsync = SL_WAL_FSYNC_NONE;
    c->ntiers = 0;
    c->raw_retention_ms = 0;
}

/* Append a whole data set, one batch (flush) of B_SERIES samples per step, running
 * maintenance once per block range; then cut the head and compact.
 * @param append_s  CPU seconds spent in sl_store_append alone (may be NULL). */
static inline void b_fill(struct sl_store *s, enum b_dataset ds, double *append_s)
{
    static struct b_gen g;
    b_gen_init(&g, ds);
    static struct sl_sample b[B_SERIES];
    double v[B_SERIES], acc = 0;
    for (int step = 0; step < B_STEPS; step++) {
        b_gen_step(&g, v);
        int64_t t = B_T0 + step * B_STEP_MS;
        for (int i = 0; i < B_SERIES; i++)
            b[i] = (struct sl_sample){g.keys[i], g.kl[i], t, v[i]};
        struct sl_sample_batch bb = {b, B_SERIES};
        double c0 = append_s ? b_cpu_now() : 0;
        if (sl_store_append(s, &bb))
            abort();
        if (append_s)
            acc += b_cpu_now() - c0;
        if (step % 720 == 719)
            while (sl_store_maintain(s, 0) == 1)
                ;
    }
    if (sl_store_flush_head(s))
        abort();
    int rc;
    while ((rc = sl_store_maintain(s, 0)) == 1)
        ;
    if (rc)
        abort();
    if (append_s)
        *append_s = acc;
}

#endif
