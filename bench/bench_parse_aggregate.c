/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end ingest benchmark without the network: the generated StatsD mix goes through
 * the real path, sl_statsd_feed() (split, parse, key, XXH3, ring copy) into a real shard
 * set with one shard (series-table probe, aggregators), and the flush at stop.
 *
 * The mix is the one the issue names: --series series (default 100 000), series i is a
 * counter, gauge, timer or set by i % 4, every other group of four carries DogStatsD tags,
 * packed ~40 lines per 1400-byte buffer, exactly like sluice-loadgen sends them. Buffers
 * are built before the clock starts.
 *
 * Figures (median of --runs runs after one warm-up run):
 *   parse_only  one thread: split + parse + values + key + XXH3, no ring, no shard; per
 *               CPU-second of the thread (immune to time spent descheduled) and per wall
 *               second;
 *   end_to_end  producer thread + shard thread: wall rate, and lines per CPU-second of the
 *               whole process (the per-core figure, since the two threads share 2 cores),
 *               in steady state: each run first passes over the corpus once, untimed for
 *               this figure, so every series exists and the key cache has grown, as in a
 *               daemon that has been up for one flush;
 *   cold_start  that first pass, per CPU-second: series creation and cache growth;
 *   bytes_per_series  the shard's memory self-metric after the final flush / series held.
 * Prints one STYLE.md §8 line per figure and, with --json PATH, writes the result in the
 * format of BENCH.md (the commit comes from $SLUICE_COMMIT).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine/key.h"
#include "engine/shard.h"
#include "ingest/statsd.h"
#include "ingest/statsd_feed.h"
#include "sl_config.h"

#define BUF_MAX 1400
#define MAX_RUNS 15

static volatile uint64_t sink_acc;
/* Series key cache slots per feeder (--keycache; 0 = build every key). */
static uint32_t keycache_entries = SL_STATSD_KEYCACHE_DEFAULT;
/* Buffers per feed call (--batch): what one recvmmsg of the UDP listener hands over. */
#define MAX_BATCH 64
static uint32_t feed_batch = 32;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Same line shapes as tools/loadgen.c, so in-process and network figures compare. */
static int format_line(char *out, size_t cap, uint32_t i, uint32_t k)
{
    static const char *const types[4] = {"c", "g", "ms", "s"};
    char val[32];
    switch (i % 4) {
    case 0:
        snprintf(val, sizeof val, "1");
        break;
    case 1:
        snprintf(val, sizeof val, "%u", (i + k) % 1000);
        break;
    case 2:
        snprintf(val, sizeof val, "%u.%u", (i * 7 + k * 13) % 500, k % 10);
        break;
    default:
        snprintf(val, sizeof val, "u%u", (i + k * 31) % 997);
        break;
    }
    const char *kind = i % 4 == 2 ? "lat" : "req";
    if ((i / 4) % 2)
        return snprintf(out, cap, "lg.%s.m%u:%s|%s|#env:prod,region:r%u,host:web-%u", kind, i, val,
                        types[i % 4], i % 7, i % 50);
    return snprintf(out, cap, "lg.%s.m%u:%s|%s", kind, i, val, types[i % 4]);
}

struct corpus {
    char *data;
    size_t *off, *len;
    uint32_t *lines;
    size_t n;
    uint64_t total_lines;
};

/* Two passes over the series (different values), packed into <= 1400-byte buffers. */
static int build_corpus(uint32_t series, uint32_t per_buf, struct corpus *c)
{
    size_t total = (size_t)series * 2;
    c->data = malloc(total * 96);
    c->off = calloc(total, sizeof *c->off);
    c->len = calloc(total, sizeof *c->len);
    c->lines = calloc(total, sizeof *c->lines);
    if (!c->data || !c->off || !c->len || !c->lines) return -ENOMEM;
    size_t w = 0, li = 0;
    char line[128];
    c->n = 0;
    while (li < total) {
        size_t start = w, used = 0;
        uint32_t nl = 0;
        while (li < total && nl < per_buf) {
            int n =
                format_line(line, sizeof line, (uint32_t)(li % series), (uint32_t)(li / series));
            if (used + (size_t)n + (nl ? 1 : 0) > BUF_MAX) break;
            if (nl) c->data[start + used++] = '\n';
            memcpy(c->data + start + used, line, (size_t)n);
            used += (size_t)n;
            nl++;
            li++;
        }
        c->off[c->n] = start;
        c->len[c->n] = used;
        c->lines[c->n] = nl;
        c->n++;
        w = start + used;
    }
    c->total_lines = total;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stat3 {
    double med, min, max;
};

static struct stat3 summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return (struct stat3){v[n / 2], v[0], v[n - 1]};
}

/* ---- parse only ------------------------------------------------------------------ */

/* Lines per wall second in @wall, per CPU-second of this thread returned: on a shared
 * machine the thread's CPU clock is the figure that does not count time spent descheduled. */
static double run_parse_only(const struct corpus *c, uint64_t lines, double *wall)
{
    uint64_t done = 0, acc = 0;
    char key[SL_KEY_MAX];
    double t0 = now_s(), c0 = thread_cpu_s();
    for (size_t b = 0; done < lines; b = (b + 1) % c->n) {
        const char *cur = c->data + c->off[b], *end = cur + c->len[b], *p;
        size_t n;
        while (sl_statsd_next_line(&cur, end, &p, &n)) {
            struct sl_statsd_line l;
            if (sl_statsd_parse_line(p, n, &l)) continue;
            const char *v = l.values, *ve = l.values + l.values_len;
            struct sl_statsd_value val;
            while (sl_statsd_next_value(&v, ve, l.mtype, &val) > 0)
                acc += (uint64_t)val.v;
            uint32_t errs = 0;
            int k = sl_statsd_build_key(&l, key, sizeof key, &errs);
            if (k > 0) acc += sl_key_hash(key, (size_t)k);
        }
        done += c->lines[b];
    }
    double dt = now_s() - t0, dc = thread_cpu_s() - c0;
    sink_acc += acc;
    if (wall) *wall = (double)done / dt;
    return (double)done / dc;
}

/* ---- end to end ------------------------------------------------------------------- */

static int null_flush(void *ctx, const struct sl_flush_batch *b)
{
    *(uint64_t *)ctx += b->n;
    return 0;
}

/* Feed @lines lines from buffer @b on, in batches as a listener hands over one recvmmsg /
 * io_uring / DPDK burst, published once per batch; then wait (bounded, sleeping so the
 * wait adds no CPU) until the shard has applied every record. */
static void feed_span(struct sl_statsd_feed *f, const struct corpus *c, size_t b, uint64_t lines,
                      const struct sl_shard_stats *ss, const struct sl_statsd_feed_stats *st)
{
    uint64_t done = 0;
    struct sl_statsd_buf batch[MAX_BATCH];
    while (done < lines) {
        uint32_t nb = 0;
        while (nb < feed_batch && done < lines) {
            batch[nb++] = (struct sl_statsd_buf){c->data + c->off[b], c->len[b]};
            done += c->lines[b];
            b = (b + 1) % c->n;
        }
        sl_statsd_feed_many_nopublish(f, batch, nb);
        sl_statsd_feed_publish(f);
    }
    uint64_t want = sl_stat_get(&st->samples);
    double give_up = now_s() + 60;
    while (sl_stat_get(&ss->records) < want && now_s() < give_up)
        usleep(50);
}

struct e2e_result {
    double lines_per_s, lines_per_cpu_s, cold_lines_per_cpu_s, bytes_per_series;
    uint64_t series, drops, cache_hits, cache_misses, records, keyed;
};

static int run_e2e(const struct corpus *c, uint64_t lines, struct e2e_result *out)
{
    uint64_t flushed = 0;
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = 1;
    cfg.nproducers = 1;
    cfg.flush_interval_ms = 3600 * 1000; /* no periodic flush inside the timed window */
    cfg.series_limit = 0;
    cfg.sink = (struct sl_sink_ops){.flush = null_flush, .ctx = &flushed};
    struct sl_shardset *set;
    int rc = sl_shardset_create(&cfg, &set);
    if (rc) return rc;
    if ((rc = sl_shardset_start(set))) {
        sl_shardset_destroy(set);
        return rc;
    }
    static struct sl_statsd_feed_stats st;
    memset(&st, 0, sizeof st);
    /* Block when full, as the TCP listener does: the figure is the shard's pace, not drops. */
    struct sl_statsd_feed f = {.prod = sl_shardset_producer(set, 0),
                               .stats = &st,
                               .listener = "bench",
                               .block_when_full = 1};
    if ((rc = sl_statsd_feed_init(&f, keycache_entries))) {
        sl_shardset_stop(set);
        sl_shardset_destroy(set);
        return rc;
    }
    const struct sl_shard_stats *ss = sl_shardset_stats(set, 0);
    /* Cold start: one pass over the corpus creates every series in the shard and fills
     * (and grows) the key cache. Timed apart, so the steady-state figure is the pace of a
     * daemon that has seen its series, and the cold one what the first sight costs. */
    double cold_c0 = cpu_s(), cold_t0 = now_s();
    feed_span(&f, c, 0, c->total_lines, ss, &st);
    out->cold_lines_per_cpu_s = (double)sl_stat_get(&st.parsed) / (cpu_s() - cold_c0);
    (void)cold_t0;
    uint64_t parsed0 = sl_stat_get(&st.parsed), hits0 = sl_stat_get(&st.keycache_hits),
             miss0 = sl_stat_get(&st.keycache_misses) + sl_stat_get(&st.keycache_bypass),
             rec0 = sl_stat_get(&ss->records), keyed0 = sl_stat_get(&ss->records_keyed);
    double c0 = cpu_s(), t0 = now_s();
    feed_span(&f, c, 0, lines, ss, &st);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    sl_shardset_stop(set); /* final flush sets memory_bytes */
    uint64_t parsed = sl_stat_get(&st.parsed) - parsed0;
    out->lines_per_s = (double)parsed / dt;
    out->lines_per_cpu_s = (double)parsed / dc;
    out->series = sl_stat_get(&ss->series_active);
    out->drops = sl_stat_get(&st.ring_full_drops);
    out->cache_hits = sl_stat_get(&st.keycache_hits) - hits0;
    out->records = sl_stat_get(&ss->records) - rec0;
    out->keyed = sl_stat_get(&ss->records_keyed) - keyed0;
    out->cache_misses =
        sl_stat_get(&st.keycache_misses) + sl_stat_get(&st.keycache_bypass) - miss0;
    sl_statsd_feed_fini(&f);
    out->bytes_per_series =
        out->series ? (double)sl_stat_get(&ss->memory_bytes) / (double)out->series : 0;
    sl_shardset_destroy(set);
    sink_acc += flushed;
    return 0;
}

/* ---- output ------------------------------------------------------------------------ */

static void machine_json(FILE *f)
{
    char cpu[256] = "unknown", line[512];
    FILE *ci = fopen("/proc/cpuinfo", "r");
    while (ci && fgets(line, sizeof line, ci)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += 2;
                p[strcspn(p, "\n")] = 0;
                snprintf(cpu, sizeof cpu, "%s", p);
            }
            break;
        }
    }
    if (ci) fclose(ci);
    for (char *p = cpu; *p; p++)
        if (*p == '"' || *p == '\\') *p = ' ';
    struct utsname u;
    uname(&u);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 1073741824.0;
    double load[1] = {0}; /* other work on the machine: the figures depend on it */
    if (getloadavg(load, 1) < 1) load[0] = -1;
    fprintf(f,
            "  \"machine\": {\"cpu\": \"%s\", \"cores\": %ld, \"mem_gib\": %.0f, \"kernel\": "
            "\"%s\", \"loadavg_1m\": %.2f},\n",
            cpu, sysconf(_SC_NPROCESSORS_ONLN), mem, u.release, load[0]);
}

static void row(FILE *f, int *first, const char *metric, const char *unit, struct stat3 s, int runs,
                const char *params)
{
    fprintf(f,
            "%s    {\"system\": \"sluice\", \"metric\": \"%s\", \"unit\": \"%s\", "
            "\"median\": %.6g, \"min\": %.6g, \"max\": %.6g, \"runs\": %d, \"params\": {%s}}",
            *first ? "" : ",\n", metric, unit, s.med, s.min, s.max, runs, params);
    *first = 0;
}

int main(int argc, char **argv)
{
    uint32_t series = 100000, per_buf = 40;
    int runs = 5;
    uint64_t lines = 10000000;
    const char *json = NULL, *stage = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--series") && i + 1 < argc)
            series = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
            lines = (uint64_t)strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--lines-per-buffer") && i + 1 < argc)
            per_buf = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json = argv[++i];
        else if (!strcmp(argv[i], "--stage") && i + 1 < argc) /* for profiling one stage */
            stage = argv[++i];
        else if (!strcmp(argv[i], "--keycache") && i + 1 < argc)
            keycache_entries = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            feed_batch = (uint32_t)strtoul(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: bench_parse_aggregate [--series N] [--runs N] [--lines N] "
                            "[--lines-per-buffer N] [--json PATH] "
                            "[--stage all|parse_only|end_to_end] [--keycache ENTRIES|0] "
                            "[--batch BUFFERS]\n");
            return 2;
        }
    }
    if (series < 1 || runs < 1 || runs > MAX_RUNS || per_buf < 1 || lines < 1000 ||
        feed_batch < 1 || feed_batch > MAX_BATCH) {
        fprintf(stderr, "bench_parse_aggregate: bad arguments\n");
        return 2;
    }
    struct corpus c;
    if (build_corpus(series, per_buf, &c)) {
        fprintf(stderr, "bench_parse_aggregate: out of memory\n");
        return 1;
    }
    double parse[MAX_RUNS], parse_wall[MAX_RUNS], e2e[MAX_RUNS], e2e_cpu[MAX_RUNS], bps[MAX_RUNS],
        cold[MAX_RUNS];
    int do_parse = strcmp(stage, "end_to_end") != 0, do_e2e = strcmp(stage, "parse_only") != 0;
    if (!do_e2e) {
        for (int r = 0; r < runs; r++)
            parse[r] = run_parse_only(&c, lines, &parse_wall[r]);
        struct stat3 sp = summarize(parse, runs);
        printf("bench=parse_only series=%u lines_s=%.4g ns_line=%.1f runs=%d\n", series, sp.med,
               1e9 / sp.med, runs);
        return 0;
    }
    if (do_parse) {
        run_parse_only(&c, lines / 4, NULL); /* warm-up */
        for (int r = 0; r < runs; r++)
            parse[r] = run_parse_only(&c, lines, &parse_wall[r]);
    } else {
        for (int r = 0; r < runs; r++)
            parse[r] = parse_wall[r] = 0;
    }
    struct e2e_result er;
    if (run_e2e(&c, lines / 4, &er)) { /* warm-up */
        fprintf(stderr, "bench_parse_aggregate: shard set failed\n");
        return 1;
    }
    uint64_t drops = 0, held = 0, hits = 0, misses = 0, records = 0, keyed = 0;
    for (int r = 0; r < runs; r++) {
        if (run_e2e(&c, lines, &er)) return 1;
        e2e[r] = er.lines_per_s;
        e2e_cpu[r] = er.lines_per_cpu_s;
        cold[r] = er.cold_lines_per_cpu_s;
        bps[r] = er.bytes_per_series;
        drops += er.drops;
        hits += er.cache_hits;
        misses += er.cache_misses;
        records += er.records;
        keyed += er.keyed;
        held = er.series;
    }
    struct stat3 sp = summarize(parse, runs), spw = summarize(parse_wall, runs),
                 se = summarize(e2e, runs), sc = summarize(e2e_cpu, runs),
                 sb = summarize(bps, runs), sco = summarize(cold, runs);
    struct stat3 nsp = {1e9 / sp.med, 1e9 / sp.max, 1e9 / sp.min},
                 nse = {1e9 / sc.med, 1e9 / sc.max, 1e9 / sc.min};
    printf("bench=parse_only series=%u lines_per_buffer=%u lines_cpu_s=%.4g lines_s=%.4g "
           "cpu_ns_line=%.1f runs=%d\n",
           series, per_buf, sp.med, spw.med, nsp.med, runs);
    printf("bench=parse_aggregate series=%u lines_per_buffer=%u lines_s=%.4g "
           "lines_cpu_s=%.4g cpu_ns_line=%.1f bytes_series=%.1f series_held=%llu drops=%llu "
           "keycache=%u keycache_hit_ratio=%.3f hinted_ratio=%.3f cold_lines_cpu_s=%.4g "
           "runs=%d\n",
           series, per_buf, se.med, sc.med, nse.med, sb.med, (unsigned long long)held,
           (unsigned long long)drops, keycache_entries,
           hits + misses ? (double)hits / (double)(hits + misses) : 0.0,
           records && keyed <= records ? 1.0 - (double)keyed / (double)records : 0.0, sco.med, runs);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            perror(json);
            return 1;
        }
        char when[32];
        time_t t = time(NULL);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        const char *commit = getenv("SLUICE_COMMIT");
        fprintf(f, "{\n  \"bench\": \"parse_aggregate\",\n  \"when\": \"%s\",\n", when);
        machine_json(f);
        fprintf(
            f, "  \"sluice\": {\"version\": \"%s\", \"commit\": \"%s\", \"build\": \"release\"},\n",
            SL_VERSION, commit ? commit : "unknown");
        fprintf(
            f,
            "  \"params\": {\"series\": %u, \"lines_per_datagram\": %u, \"lines_per_run\": %llu, "
            "\"buffers_per_feed\": %u, \"shards\": 1, "
            "\"mix\": \"c/g/ms/s, half with DogStatsD tags\"},\n",
            series, per_buf, (unsigned long long)lines, feed_batch);
        fprintf(f, "  \"results\": [\n");
        int first = 1;
        row(f, &first, "lines_per_s", "lines/s", sp, runs,
            "\"stage\": \"parse_only\", \"threads\": 1, \"per\": \"CPU second of the thread\"");
        row(f, &first, "lines_per_s", "lines/s", spw, runs,
            "\"stage\": \"parse_only\", \"threads\": 1, \"per\": \"wall second\"");
        row(f, &first, "ns_per_line", "ns", nsp, runs,
            "\"stage\": \"parse_only\", \"threads\": 1, \"per\": \"CPU time of the thread\"");
        row(f, &first, "lines_per_s", "lines/s", se, runs,
            "\"stage\": \"end_to_end\", \"threads\": 2, \"per\": \"wall second\"");
        row(f, &first, "lines_per_cpu_s", "lines/s", sc, runs,
            "\"stage\": \"end_to_end\", \"threads\": 2, \"per\": \"CPU second of both threads\"");
        row(f, &first, "ns_per_line", "ns", nse, runs,
            "\"stage\": \"end_to_end\", \"per\": \"CPU time of both threads\"");
        row(f, &first, "lines_per_cpu_s", "lines/s", sco, runs,
            "\"stage\": \"cold_start\", \"threads\": 2, \"per\": \"CPU second of both "
            "threads\", \"what\": \"first pass: every series created, key cache filled\"");
        row(f, &first, "bytes_per_series", "bytes", sb, runs, "\"stage\": \"end_to_end\"");
        fprintf(f, "\n  ]\n}\n");
        fclose(f);
    }
    free(c.data);
    free(c.off);
    free(c.len);
    free(c.lines);
    return 0;
}
