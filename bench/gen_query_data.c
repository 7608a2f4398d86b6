/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data set of the query_latency benchmark, written as Prometheus remote write bodies
 * (snappy-compressed prometheus.WriteRequest) so sluiced and Prometheus load the very same
 * bytes through their own receivers.
 *
 *   targets (default 200) = 10 jobs x 20 instances; per target 50 series:
 *     http_requests_total{instance,job,method,status}     4 methods x 5 statuses = 20
 *     http_request_duration_seconds_bucket{...,le,method}  2 methods x 11 le       = 22
 *     http_request_duration_seconds_{sum,count}{...,method}                        =  4
 *     process_resident_memory_bytes, cpu_temperature_celsius, queue_length,
 *     go_goroutines                                                                =  4
 *
 * Counters grow by random increments and reset about once per 6 h each; a histogram's
 * buckets, sum and count reset together. Every series has a sample every interval.
 * Output: <dir>/NNNNN.rw, one request per time slice (every series' samples in the slice),
 * in time order, so a receiver sees each series' samples in order. Deterministic: the data
 * depends only on the flags (the PRNG seed is fixed).
 *
 *   gen_query_data --out DIR --end-ms T [--targets 200] [--hours 6] [--interval-s 10]
 *                  [--slice-s 300]
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <snappy-c.h>

#define NMETHOD 4
#define NSTATUS 5
#define NHMETHOD 2
#define NLE 11
#define NGAUGE 4
#define PER_TARGET (NMETHOD * NSTATUS + NHMETHOD * (NLE + 2) + NGAUGE)

static const char *methods[NMETHOD] = {"DELETE", "GET", "POST", "PUT"};
static const char *statuses[NSTATUS] = {"200", "201", "400", "404", "500"};
static const char *les[NLE] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                               "0.5",   "1",    "2.5",   "5",    "+Inf"};
static const double le_v[NLE] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, INFINITY};
static const char *gauges[NGAUGE] = {"cpu_temperature_celsius", "go_goroutines",
                                     "process_resident_memory_bytes", "queue_length"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next_u64() >> 11) * 0x1.0p-53;
}

struct target {
    char job[16], instance[32];
    double req[NMETHOD * NSTATUS];
    double bucket[NHMETHOD][NLE], sum[NHMETHOD];
    double gauge[NGAUGE];
};

/* ---- protobuf encoding (hand-rolled: a few fixed shapes) -------------------------------- */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void reserve(struct buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) {
        fprintf(stderr, "gen_query_data: out of memory\n");
        exit(1);
    }
    b->cap = cap;
}

static void put_varint(struct buf *b, uint64_t v)
{
    reserve(b, 10);
    do {
        b->p[b->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_bytes(struct buf *b, unsigned field, const void *s, size_t n)
{
    put_varint(b, field << 3 | 2);
    put_varint(b, n);
    reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_label(struct buf *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    size_t inner = 1 + varint_len(nl) + nl + 1 + varint_len(vl) + vl;
    put_varint(b, 1 << 3 | 2);
    put_varint(b, inner);
    put_bytes(b, 1, name, nl);
    put_bytes(b, 2, value, vl);
}

/* One TimeSeries (labels already sorted by name; NULL-terminated pairs) into @req. */
static void put_series(struct buf *req, struct buf *tmp, const char *const *labels,
                       const double *v, int64_t t0, int64_t step, size_t n)
{
    tmp->n = 0;
    for (size_t i = 0; labels[i]; i += 2)
        put_label(tmp, labels[i], labels[i + 1]);
    for (size_t i = 0; i < n; i++) {
        int64_t t = t0 + (int64_t)i * step;
        put_varint(tmp, 2 << 3 | 2);
        put_varint(tmp, 1 + 8 + 1 + varint_len((uint64_t)t));
        reserve(tmp, 9);
        tmp->p[tmp->n++] = 0x09;
        memcpy(tmp->p + tmp->n, &v[i], 8); /* little-endian host, as protobuf wants */
        tmp->n += 8;
        put_varint(tmp, 0x10);
        put_varint(tmp, (uint64_t)t);
    }
    put_bytes(req, 1, tmp->p, tmp->n);
}

/* ---- simulation ------------------------------------------------------------------------- */

/* Advance target @g one interval and write its 50 values to out[0..PER_TARGET). */
static void step_target(struct target *g, double reset_p, double *out)
{
    size_t o = 0;
    for (size_t i = 0; i < NMETHOD * NSTATUS; i++) {
        if (uniform() < reset_p)
            g->req[i] = 0;
        double rate = (i % NSTATUS == 0) ? 20 : (i % NSTATUS == 4 ? 0.5 : 3);
        g->req[i] += floor(uniform() * 2 * rate * 10 + 0.5); /* requests per 10 s */
        out[o++] = g->req[i];
    }
    for (size_t m = 0; m < NHMETHOD; m++) {
        if (uniform() < reset_p) {
            memset(g->bucket[m], 0, sizeof g->bucket[m]);
            g->sum[m] = 0;
        }
        int nobs = (int)(uniform() * 40);
        for (int k = 0; k < nobs; k++) {
            double x = -log(1 - uniform()) * (m ? 0.2 : 0.05); /* exponential latency */
            g->sum[m] += x;
            for (size_t l = 0; l < NLE; l++)
                if (x <= le_v[l])
                    g->bucket[m][l] += 1;
        }
        for (size_t l = 0; l < NLE; l++)
            out[o++] = g->bucket[m][l];
        out[o++] = g->sum[m];
        out[o++] = g->bucket[m][NLE - 1];
    }
    g->gauge[0] += (uniform() - 0.5) * 0.8;
    g->gauge[1] = floor(fmax(1, g->gauge[1] + (uniform() - 0.5) * 10));
    g->gauge[2] = floor(fmax(1e7, g->gauge[2] + (uniform() - 0.5) * 1e6));
    g->gauge[3] = floor(uniform() * 100);
    for (size_t i = 0; i < NGAUGE; i++)
        out[o++] = g->gauge[i];
}

static void encode_target(struct buf *req, struct buf *tmp, const struct target *g,
                          const double *vals, size_t nsteps, int64_t t0, int64_t step)
{
    /* vals: [nsteps][PER_TARGET]; gather each series' column */
    double col[4096];
    size_t s = 0;
#define COLUMN()                                                                             \
    do {                                                                                     \
        for (size_t k = 0; k < nsteps; k++)                                                  \
            col[k] = vals[k * PER_TARGET + s];                                               \
        s++;                                                                                 \
    } while (0)
    for (size_t m = 0; m < NMETHOD; m++)
        for (size_t st = 0; st < NSTATUS; st++) {
            COLUMN();
            const char *l[] = {"__name__", "http_requests_total", "instance", g->instance,
                               "job", g->job, "method", methods[m], "status", statuses[st],
                               NULL};
            put_series(req, tmp, l, col, t0, step, nsteps);
        }
    for (size_t m = 0; m < NHMETHOD; m++) {
        const char *meth = m ? "POST" : "GET";
        for (size_t li = 0; li < NLE; li++) {
            COLUMN();
            const char *l[] = {"__name__", "http_request_duration_seconds_bucket", "instance",
                               g->instance, "job", g->job, "le", les[li], "method", meth,
                               NULL};
            put_series(req, tmp, l, col, t0, step, nsteps);
        }
        COLUMN();
        const char *ls[] = {"__name__", "http_request_duration_seconds_sum", "instance",
                            g->instance, "job", g->job, "method", meth, NULL};
        put_series(req, tmp, ls, col, t0, step, nsteps);
        COLUMN();
        const char *lc[] = {"__name__", "http_request_duration_seconds_count", "instance",
                            g->instance, "job", g->job, "method", meth, NULL};
        put_series(req, tmp, lc, col, t0, step, nsteps);
    }
    for (size_t i = 0; i < NGAUGE; i++) {
        COLUMN();
        const char *l[] = {"__name__", gauges[i], "instance", g->instance, "job", g->job, NULL};
        put_series(req, tmp, l, col, t0, step, nsteps);
    }
#undef COLUMN
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    long long end_ms = 0;
    int targets = 200;
    double hours = 6;
    int interval_s = 10, slice_s = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else if (!strcmp(argv[i], "--end-ms"))
            end_ms = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--targets"))
            targets = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hours"))
            hours = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--interval-s"))
            interval_s = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--slice-s"))
            slice_s = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "gen_query_data: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!out || end_ms <= 0 || targets <= 0 || hours <= 0 || interval_s <= 0 ||
        slice_s < interval_s || slice_s / interval_s > 4096) {
        fprintf(stderr, "usage: gen_query_data --out DIR --end-ms T [--targets N] [--hours H] "
                        "[--interval-s S] [--slice-s S]\n");
        return 2;
    }
    if (mkdir(out, 0755) && errno != EEXIST) {
        perror(out);
        return 1;
    }
    int64_t step = (int64_t)interval_s * 1000;
    int64_t nsteps = (int64_t)(hours * 3600 / interval_s) + 1;
    int64_t start = end_ms - (nsteps - 1) * step;
    size_t per_slice = (size_t)(slice_s / interval_s);
    double reset_p = 1.0 / (6 * 3600.0 / interval_s); /* about one reset per 6 h */

    struct target *g = calloc((size_t)targets, sizeof *g);
    double *vals = malloc((size_t)targets * per_slice * PER_TARGET * sizeof *vals);
    if (!g || !vals)
        return 1;
    for (int t = 0; t < targets; t++) {
        snprintf(g[t].job, sizeof g[t].job, "job-%02d", t / 20);
        snprintf(g[t].instance, sizeof g[t].instance, "10.0.%d.%d:9100", t / 20, t % 20);
        for (size_t i = 0; i < NMETHOD * NSTATUS; i++)
            g[t].req[i] = floor(uniform() * 1e5);
        g[t].gauge[0] = 40 + uniform() * 30;
        g[t].gauge[1] = 50 + floor(uniform() * 200);
        g[t].gauge[2] = 1e8 + floor(uniform() * 4e8);
    }
    struct buf req = {0}, tmp = {0};
    size_t files = 0, total_bytes = 0;
    unsigned long long samples = 0;
    for (int64_t k0 = 0; k0 < nsteps; k0 += (int64_t)per_slice) {
        size_t n = (size_t)(nsteps - k0 < (int64_t)per_slice ? nsteps - k0 : (int64_t)per_slice);
        for (size_t k = 0; k < n; k++)
            for (int t = 0; t < targets; t++)
                step_target(&g[t], reset_p,
                            &vals[((size_t)t * per_slice + k) * PER_TARGET]);
        req.n = 0;
        for (int t = 0; t < targets; t++)
            encode_target(&req, &tmp, &g[t], &vals[(size_t)t * per_slice * PER_TARGET], n,
                          start + k0 * step, step);
        samples += (unsigned long long)n * (unsigned long long)targets * PER_TARGET;
        size_t cap = snappy_max_compressed_length(req.n);
        char *z = malloc(cap);
        if (!z || snappy_compress((char *)req.p, req.n, z, &cap) != SNAPPY_OK)
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/%05zu.rw", out, files++);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(z, 1, cap, f) != cap || fclose(f)) {
            perror(path);
            return 1;
        }
        total_bytes += cap;
        free(z);
    }
    printf("series=%d samples=%llu files=%zu bytes=%zu start_ms=%lld end_ms=%lld\n",
           targets * PER_TARGET, samples, files, total_bytes, (long long)start, end_ms);
    free(req.p);
    free(tmp.p);
    free(vals);
    free(g);
    return 0;
}
