/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_size: bytes per sample of the store on the three TSBS-like data sets (see
 * bench_storage_common.h), data (chunk section, header, table of contents) and index
 * (series and postings sections) reported separately, for 2 h blocks as cut from the head
 * and for the day compacted into one 24 h block (params.block_hours). When `promtool` is on PATH, the same samples are written as
 * OpenMetrics and imported with `promtool tsdb create-blocks-from openmetrics` for the
 * Prometheus figures in the same run; otherwise those rows are left out and the params say so.
 *
 * Then the timer sketches (FORMAT.md "sketch section"): B_TIMERS timer series flushed every
 * 10 s for B_TIMER_HOURS hours, each interval a DDSketch of B_TIMER_VALUES log-normal
 * latencies (median 50 ms, values with microsecond decimals, as clients send them), cut,
 * compacted and downsampled into the default tiers; reported as bytes per interval sketch in
 * raw blocks and per bucket in each tier (the sketch sections, index included).
 *
 * Usage: bench_storage_size [OUT.json]   (default build/bench/storage_size.json or
 * $SL_BENCH_OUT). Sizes are deterministic (fixed seed), so one run each.
 */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include "bench_storage_common.h"
#include "engine/ddsketch.h"
#include "engine/log.h"
#include "storage/block.h"

#define B_TIMERS 100
#define B_TIMER_HOURS 6
#define B_TIMER_VALUES 50

/* Timer sketches: fill, cut, compact, downsample; then bytes per sketch per resolution. */
static int timer_sizes(struct b_json *j, const char *base)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/timers", base);
    struct sl_store_cfg cfg;
    b_store_cfg(&cfg, dir);
    struct sl_store_cfg def;
    sl_store_cfg_defaults(&def);
    cfg.ntiers = def.ntiers; /* 1m, 5m, 1h, 1d */
    memcpy(cfg.tiers, def.tiers, sizeof cfg.tiers);
    struct sl_store *s;
    if (sl_store_open(&cfg, &s))
        return -1;
    static char keys[B_TIMERS][64];
    static uint32_t kl[B_TIMERS];
    static struct sl_ddsketch *sk[B_TIMERS];
    static struct sl_sketch_sample x[B_TIMERS];
    for (int i = 0; i < B_TIMERS; i++) {
        char v[16];
        snprintf(v, sizeof v, "/route/%d", i);
        struct sl_label l = {"route", v, 5, (uint32_t)strlen(v)};
        kl[i] = (uint32_t)sl_key_build(SL_METRIC_TIMER, "http_latency", 12, &l, 1, keys[i],
                                       sizeof keys[i]);
        if (sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &sk[i]))
            return -1;
    }
    static struct b_gen g;
    b_gen_init(&g, B_CPU_FLOAT);
    int steps = B_TIMER_HOURS * 360;
    for (int step = 0; step < steps; step++) {
        int64_t t = B_T0 + step * B_STEP_MS;
        for (int i = 0; i < B_TIMERS; i++) {
            sl_ddsketch_reset(sk[i]);
            for (int k = 0; k < B_TIMER_VALUES; k++) {
                double ms = exp(3.912 + 0.8 * b_norm(&g)); /* median 50 ms */
                sl_ddsketch_add(sk[i], round(ms * 1000) / 1000, 1);
            }
            x[i] = (struct sl_sketch_sample){keys[i], kl[i], t, sk[i]};
        }
        struct sl_sample_batch bb = {NULL, 0};
        if (sl_store_append_sketches(s, &bb, x, B_TIMERS))
            return -1;
        if (step % 720 == 719)
            while (sl_store_maintain(s, 0) == 1)
                ;
    }
    if (sl_store_flush_head(s))
        return -1;
    int rc;
    while ((rc = sl_store_maintain(s, 0)) == 1)
        ;
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    sl_store_close(s);
    for (int i = 0; i < B_TIMERS; i++)
        sl_ddsketch_destroy(sk[i]);
    if (rc || st.block_sketches != (uint64_t)steps * B_TIMERS)
        return -1;
    /* per resolution: sketches and sketch-section bytes, from the blocks themselves */
    int64_t res[1 + SL_TIERS_MAX] = {0};
    for (unsigned k = 0; k < cfg.ntiers; k++)
        res[k + 1] = cfg.tiers[k].resolution_ms;
    for (unsigned k = 0; k <= cfg.ntiers; k++) {
        uint64_t n = 0, bytes = 0;
        char cmd[700], name[256];
        snprintf(cmd, sizeof cmd, "ls %s | grep '^b-'", dir);
        FILE *p = popen(cmd, "r");
        while (p && fgets(name, sizeof name, p)) {
            name[strcspn(name, "\n")] = 0;
            char bdir[1000];
            snprintf(bdir, sizeof bdir, "%s/%s", dir, name);
            struct sl_block *b;
            if (sl_block_open(bdir, &b))
                continue;
            if (sl_block_meta(b)->resolution_ms == res[k]) {
                n += sl_block_meta(b)->nsketches;
                bytes += sl_block_meta(b)->sketch_bytes;
            }
            sl_block_close(b);
        }
        if (p)
            pclose(p);
        double per = n ? (double)bytes / (double)n : 0;
        char rp[200], label[32];
        if (res[k] == 0)
            snprintf(label, sizeof label, "raw");
        else if (res[k] % 3600000 == 0)
            snprintf(label, sizeof label, "%lldh", (long long)(res[k] / 3600000));
        else
            snprintf(label, sizeof label, "%lldm", (long long)(res[k] / 60000));
        snprintf(rp, sizeof rp,
                 "{\"dataset\": \"timers\", \"resolution\": \"%s\", \"sketches\": %llu, "
                 "\"values_per_interval\": %d}",
                 label, (unsigned long long)n, B_TIMER_VALUES);
        b_json_result(j, "sluice", "sketch_bytes_per_sketch", "bytes", per, per, per, 1, rp);
        printf("bench=storage_size system=sluice dataset=timers resolution=%s sketches=%llu "
               "sketch_bytes=%llu bytes_per_sketch=%.1f values_per_interval=%d\n",
               label, (unsigned long long)n, (unsigned long long)bytes, per, B_TIMER_VALUES);
    }
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    return system(rm) == 0 ? 0 : -1;
}

static long long du_bytes(const char *dir, const char *pattern)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "find %s -type f %s -printf '%%s\\n' | awk '{s+=$1} END {print s+0}'",
             dir, pattern);
    FILE *p = popen(cmd, "r");
    long long v = -1;
    if (p && fscanf(p, "%lld", &v) != 1)
        v = -1;
    if (p)
        pclose(p);
    return v;
}

/* Prometheus on identical data; returns 0 and fills sizes, or -1 if promtool is missing. */
static int prom_sizes(enum b_dataset ds, const char *tmp, long long *chunks, long long *index,
                      char *version, size_t vlen)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        return -1;
    FILE *vp = popen("promtool --version 2>&1 | head -1 | awk '{print $3}'", "r");
    if (!vp || !fgets(version, (int)vlen, vp))
        snprintf(version, vlen, "unknown");
    version[strcspn(version, "\n")] = 0;
    if (vp)
        pclose(vp);
    char om[512], out[512];
    snprintf(om, sizeof om, "%s/data.om", tmp);
    snprintf(out, sizeof out, "%s/prom", tmp);
    FILE *f = fopen(om, "w");
    if (!f)
        return -1;
    static struct b_gen g;
    b_gen_init(&g, ds);
    /* OpenMetrics wants all samples of a metric family together, so generate the whole
     * day once into memory, then print family by family. */
    double *all = malloc((size_t)B_STEPS * B_SERIES * sizeof *all);
    if (!all)
        abort();
    for (int st = 0; st < B_STEPS; st++)
        b_gen_step(&g, all + (size_t)st * B_SERIES);
    for (int fld = 0; fld < B_FIELDS; fld++) {
        fprintf(f, "# TYPE cpu_%s %s\n", b_fields[fld], ds == B_COUNTER ? "unknown" : "gauge");
        for (int h = 0; h < B_HOSTS; h++) {
            int i = h * B_FIELDS + fld;
            /* labels from the canonical key */
            char lbl[512];
            size_t o = 0;
            const char *name;
            size_t nl;
            struct sl_key_iter it;
            sl_key_name(g.keys[i], g.kl[i], &name, &nl, &it);
            struct sl_label l;
            while (sl_key_next_label(&it, &l))
                o += (size_t)snprintf(lbl + o, sizeof lbl - o, "%s%.*s=\"%.*s\"", o ? "," : "",
                                      (int)l.name_len, l.name, (int)l.value_len, l.value);
            for (int st = 0; st < B_STEPS; st++)
                fprintf(f, "%.*s{%s} %.17g %.3f\n", (int)nl, name, lbl,
                        all[(size_t)st * B_SERIES + i], (double)(B_T0 + st * B_STEP_MS) / 1000.0);
        }
    }
    fprintf(f, "# EOF\n");
    fclose(f);
    free(all);
    char cmd[1200];
    /* promtool's defaults (2 h blocks), as in the figures quoted in the storage issue */
    snprintf(cmd, sizeof cmd, "promtool tsdb create-blocks-from openmetrics %s %s >/dev/null 2>&1",
             om, out);
    if (system(cmd) != 0)
        return -1;
    *chunks = du_bytes(out, "-path '*/chunks/*'");
    *index = du_bytes(out, "-name index");
    return 0;
}

int main(int argc, char **argv)
{
    sl_log_set_level(SL_LOG_WARN);
    char base[] = "/tmp/sl_bench_size_XXXXXX";
    if (!mkdtemp(base))
        return 1;
    int prom_ok = system("command -v promtool >/dev/null 2>&1") == 0;
    char params[256];
    snprintf(params, sizeof params,
             "{\"series\": %d, \"samples\": %d, \"interval_s\": 10, \"hours\": 24%s}", B_SERIES,
             B_SERIES * B_STEPS, prom_ok ? "" : ", \"prometheus\": \"skipped: promtool not found\"");
    struct b_json j;
    b_json_open(&j, "storage_size", argc > 1 ? argv[1] : NULL, params);
    for (int ds = 0; ds < B_NDATASETS; ds++) {
        /* Two layouts: 2 h blocks as cut from the head (what promtool writes too), and the
         * day compacted into one block (the store's steady state for data older than a day). */
        double n = (double)B_SERIES * B_STEPS;
        for (int compact = 0; compact < 2; compact++) {
            char dir[600];
            snprintf(dir, sizeof dir, "%s/%s_%d", base, b_dataset_name[ds], compact);
            struct sl_store_cfg cfg;
            b_store_cfg(&cfg, dir);
            if (!compact)
                cfg.compact_range_ms = cfg.block_range_ms;
            struct sl_store *s;
            if (sl_store_open(&cfg, &s))
                return 1;
            b_fill(s, (enum b_dataset)ds, NULL);
            struct sl_store_stats st;
            sl_store_stats(s, &st);
            sl_store_close(s);
            if (st.block_samples != (uint64_t)n) {
                fprintf(stderr, "expected %.0f samples in blocks, found %llu\n", n,
                        (unsigned long long)st.block_samples);
                return 1;
            }
            double data = (double)st.block_data_bytes / n, index = (double)st.block_index_bytes / n;
            int hours = compact ? 24 : 2;
            char rp[160];
            snprintf(rp, sizeof rp, "{\"dataset\": \"%s\", \"block_hours\": %d, \"blocks\": %llu}",
                     b_dataset_name[ds], hours, (unsigned long long)st.blocks);
            b_json_result(&j, "sluice", "bytes_per_sample", "bytes", data + index, data + index,
                          data + index, 1, rp);
            b_json_result(&j, "sluice", "data_bytes_per_sample", "bytes", data, data, data, 1, rp);
            b_json_result(&j, "sluice", "index_bytes_per_sample", "bytes", index, index, index, 1,
                          rp);
            printf("bench=storage_size system=sluice dataset=%s block_hours=%d bytes_per_sample=%.4f "
                   "data_bytes_per_sample=%.4f index_bytes_per_sample=%.4f blocks=%llu\n",
                   b_dataset_name[ds], hours, data + index, data, index,
                   (unsigned long long)st.blocks);
            fflush(stdout);
            char rm[700];
            snprintf(rm, sizeof rm, "rm -rf %s", dir);
            if (system(rm) != 0)
                return 1;
        }
        long long pc, pi;
        char ver[64], sys[96], rp[160];
        if (prom_ok && prom_sizes((enum b_dataset)ds, base, &pc, &pi, ver, sizeof ver) == 0) {
            snprintf(sys, sizeof sys, "prometheus-%s", ver);
            double d = (double)pc / n, x = (double)pi / n;
            snprintf(rp, sizeof rp, "{\"dataset\": \"%s\", \"block_hours\": 2}",
                     b_dataset_name[ds]);
            b_json_result(&j, sys, "bytes_per_sample", "bytes", d + x, d + x, d + x, 1, rp);
            b_json_result(&j, sys, "data_bytes_per_sample", "bytes", d, d, d, 1, rp);
            b_json_result(&j, sys, "index_bytes_per_sample", "bytes", x, x, x, 1, rp);
            printf("bench=storage_size system=%s dataset=%s bytes_per_sample=%.4f "
                   "data_bytes_per_sample=%.4f index_bytes_per_sample=%.4f\n",
                   sys, b_dataset_name[ds], d + x, d, x);
            char rm[700];
            snprintf(rm, sizeof rm, "rm -rf %s/prom %s/data.om", base, base);
            if (system(rm) != 0)
                return 1;
        }
    }
    if (timer_sizes(&j, base)) {
        fprintf(stderr, "timer sketch sizes failed\n");
        return 1;
    }
    b_json_close(&j);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", base);
    return system(rm) == 0 ? 0 : 1;
}
