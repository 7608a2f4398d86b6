/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_size: bytes per sample of the store on the three TSBS-like data sets (see
 * bench_storage_common.h), data (chunk section, header, table of contents) and index
 * (series and postings sections) reported separately, for 2 h blocks as cut from the head
 * and for the day compacted into one 24 h block (params.block_hours). When `promtool` is on PATH, the same samples are written as
 * OpenMetrics and imported with `promtool tsdb create-blocks-from openmetrics` for the
 * Prometheus figures in the same run; otherwise those rows are left out and the params say so.
 *
 * Usage: bench_storage_size [OUT.json]   (default build/bench/storage_size.json or
 * $SL_BENCH_OUT). Sizes are deterministic (fixed seed), so one run each.
 */
#include <errno.h>
#include <sys/stat.h>

#include "bench_storage_common.h"
#include "engine/log.h"

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
    b_json_close(&j);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", base);
    return system(rm) == 0 ? 0 : 1;
}
