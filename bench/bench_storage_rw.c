/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_rw: write and decode throughput of the store on one core.
 *
 *   write_samples_per_s, stage=append  CPU time inside sl_store_append() only: WAL record
 *                                      encoding and write(2) (fsync off) plus head insert,
 *                                      one batch of 1000 samples per call (one flush);
 *   write_samples_per_s, stage=total   everything: appends, cutting 2 h blocks, the WAL
 *                                      checkpoints and the final compaction into one day;
 *   decode_samples_per_s               decoding every chunk of the compacted block (lz4 +
 *                                      column codecs) into timestamp and value arrays.
 * All per CPU-second of this process (CLOCK_PROCESS_CPUTIME_ID); the median of 3 runs.
 *
 *   head_select_us                     one sl_store_select() over a head of 1 M series
 *                                      (m{grp="g<i%1000>", id="<i>"}, one sample each):
 *                                      matcher=eq is `id="0123456"` (one series),
 *                                      matcher=eq_re is `grp="g007", id=~"00.*"` (100 of
 *                                      1000); CPU microseconds, the median of HS_RUNS.
 *
 * Usage: bench_storage_rw [OUT.json]   (default build/bench/storage_rw.json or $SL_BENCH_OUT)
 *        SL_BENCH_RW_ONLY=head_select runs only the head-select part.
 */
#include "bench_storage_common.h"
#include "engine/log.h"
#include "storage/block.h"
#include "storage/codec.h"

#define RUNS 3
#define HS_SERIES 1000000
#define HS_BATCH 10000
#define HS_RUNS 31

/* Fill a fresh store's head with HS_SERIES series and time two selective selects. */
static int head_select(const char *dir, double eq_us[3], double re_us[3])
{
    struct sl_store_cfg cfg;
    b_store_cfg(&cfg, dir);
    struct sl_store *s;
    if (sl_store_open(&cfg, &s))
        return -1;
    static char keys[HS_BATCH][64];
    static struct sl_sample smp[HS_BATCH];
    for (int base = 0; base < HS_SERIES; base += HS_BATCH) {
        for (int j = 0; j < HS_BATCH; j++) {
            int i = base + j;
            char id[16], grp[8];
            snprintf(id, sizeof id, "%07d", i);
            snprintf(grp, sizeof grp, "g%03d", i % 1000);
            struct sl_label l[2] = {{"grp", grp, 3, (uint32_t)strlen(grp)},
                                    {"id", id, 2, (uint32_t)strlen(id)}};
            int kl = sl_key_build(SL_KIND_PLAIN, "m", 1, l, 2, keys[j], sizeof keys[j]);
            if (kl < 0)
                return -1;
            smp[j] = (struct sl_sample){keys[j], (uint32_t)kl, 1000, (double)i};
        }
        struct sl_sample_batch b = {smp, HS_BATCH};
        if (sl_store_append(s, &b))
            return -1;
    }
    const struct sl_store_matcher eq = {SL_STORE_MATCH_EQ, "id", "0123456"};
    const struct sl_store_matcher re[2] = {{SL_STORE_MATCH_EQ, "grp", "g007"},
                                           {SL_STORE_MATCH_RE, "id", "00.*"}};
    const struct {
        const struct sl_store_matcher *m;
        size_t n, want;
        double *out;
    } q[2] = {{&eq, 1, 1, eq_us}, {re, 2, 100, re_us}};
    for (int k = 0; k < 2; k++) {
        double us[HS_RUNS];
        for (int r = 0; r < HS_RUNS; r++) {
            struct sl_series_set *ss;
            double c0 = b_cpu_now();
            if (sl_store_select(s, q[k].m, q[k].n, 0, 2000, 0, &ss, NULL, 0))
                return -1;
            us[r] = (b_cpu_now() - c0) * 1e6;
            size_t got = sl_series_set_count(ss);
            sl_series_set_destroy(ss);
            if (got != q[k].want) {
                fprintf(stderr, "head select %d: %zu series, want %zu\n", k, got, q[k].want);
                return -1;
            }
        }
        b_stats(us, HS_RUNS, &q[k].out[0], &q[k].out[1], &q[k].out[2]);
    }
    sl_store_close(s);
    return 0;
}

/* Decode every chunk of every raw block in @dir; returns samples decoded. */
static uint64_t decode_dir(const char *dir, double *cpu_s)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -d %s/b-* 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    char path[600];
    struct sl_block *blocks[64];
    int nb = 0;
    while (p && nb < 64 && fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = 0;
        if (sl_block_open(path, &blocks[nb]) == 0)
            nb++;
    }
    if (p)
        pclose(p);
    int64_t *t = malloc(SL_CODEC_CHUNK_MAX * sizeof *t);
    double *v = malloc(SL_CODEC_CHUNK_MAX * sizeof *v);
    size_t sl = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1);
    uint8_t *scratch = malloc(sl);
    double *cols[1] = {v};
    uint64_t total = 0;
    volatile double sink = 0;
    double c0 = b_cpu_now();
    for (int b = 0; b < nb; b++) {
        const struct sl_block_meta *m = sl_block_meta(blocks[b]);
        for (uint32_t id = 0; id < m->nseries; id++) {
            struct sl_block_chunk ch[16];
            const char *key;
            size_t kl;
            int n = sl_block_series(blocks[b], id, &key, &kl, ch, 16);
            for (int c = 0; c < n && c < 16; c++) {
                int got = sl_codec_chunk_decode(ch[c].p, ch[c].len, t, cols, 1, SL_CODEC_CHUNK_MAX,
                                                scratch, sl);
                if (got < 0)
                    abort();
                total += (uint64_t)got;
                sink += v[got - 1] + (double)t[got - 1];
            }
        }
    }
    *cpu_s = b_cpu_now() - c0;
    (void)sink;
    for (int b = 0; b < nb; b++)
        sl_block_close(blocks[b]);
    free(t);
    free(v);
    free(scratch);
    return total;
}

int main(int argc, char **argv)
{
    sl_log_set_level(SL_LOG_WARN);
    char base[] = "/tmp/sl_bench_rw_XXXXXX";
    if (!mkdtemp(base))
        return 1;
    char params[160];
    snprintf(params, sizeof params,
             "{\"series\": %d, \"samples\": %d, \"batch\": %d, \"fsync\": \"none\", "
             "\"per\": \"cpu_s\"}",
             B_SERIES, B_SERIES * B_STEPS, B_SERIES);
    struct b_json j;
    b_json_open(&j, "storage_rw", argc > 1 ? argv[1] : NULL, params);
    const double n = (double)B_SERIES * B_STEPS;
    /* SL_BENCH_RW_ONLY=head_select skips the write/decode part (for before/after runs) */
    const char *only = getenv("SL_BENCH_RW_ONLY");
    int skip_rw = only && strcmp(only, "head_select") == 0;
    for (int ds = 0; ds < B_NDATASETS && !skip_rw; ds++) {
        double app[RUNS], tot[RUNS], dec[RUNS];
        for (int r = 0; r < RUNS; r++) {
            char dir[600];
            snprintf(dir, sizeof dir, "%s/%s_%d", base, b_dataset_name[ds], r);
            struct sl_store_cfg cfg;
            b_store_cfg(&cfg, dir);
            struct sl_store *s;
            if (sl_store_open(&cfg, &s))
                return 1;
            /* generating the data costs CPU too: measure it alone and subtract it */
            static struct b_gen g;
            double gv[B_SERIES];
            double g0 = b_cpu_now();
            b_gen_init(&g, (enum b_dataset)ds);
            for (int st = 0; st < B_STEPS; st++)
                b_gen_step(&g, gv);
            double gen_s = b_cpu_now() - g0;
            double a_s, c0 = b_cpu_now();
            b_fill(s, (enum b_dataset)ds, &a_s);
            double total_s = b_cpu_now() - c0 - gen_s;
            sl_store_close(s);
            app[r] = n / a_s;
            tot[r] = n / total_s;
            double d_s;
            uint64_t got = decode_dir(dir, &d_s);
            if (got != (uint64_t)n) {
                fprintf(stderr, "decoded %llu samples, want %.0f\n", (unsigned long long)got, n);
                return 1;
            }
            dec[r] = (double)got / d_s;
            char rm[700];
            snprintf(rm, sizeof rm, "rm -rf %s", dir);
            if (system(rm) != 0)
                return 1;
        }
        double med, mn, mx;
        char rp[128];
        snprintf(rp, sizeof rp, "{\"dataset\": \"%s\", \"stage\": \"append\"}", b_dataset_name[ds]);
        b_stats(app, RUNS, &med, &mn, &mx);
        b_json_result(&j, "sluice", "write_samples_per_s", "samples/s", med, mn, mx, RUNS, rp);
        printf("bench=storage_rw dataset=%s stage=append write_samples_per_s=%.4g\n",
               b_dataset_name[ds], med);
        snprintf(rp, sizeof rp, "{\"dataset\": \"%s\", \"stage\": \"total\"}", b_dataset_name[ds]);
        b_stats(tot, RUNS, &med, &mn, &mx);
        b_json_result(&j, "sluice", "write_samples_per_s", "samples/s", med, mn, mx, RUNS, rp);
        printf("bench=storage_rw dataset=%s stage=total write_samples_per_s=%.4g\n",
               b_dataset_name[ds], med);
        snprintf(rp, sizeof rp, "{\"dataset\": \"%s\"}", b_dataset_name[ds]);
        b_stats(dec, RUNS, &med, &mn, &mx);
        b_json_result(&j, "sluice", "decode_samples_per_s", "samples/s", med, mn, mx, RUNS, rp);
        printf("bench=storage_rw dataset=%s decode_samples_per_s=%.4g\n", b_dataset_name[ds], med);
        fflush(stdout);
    }
    char hdir[600];
    snprintf(hdir, sizeof hdir, "%s/head_select", base);
    double eq_us[3], re_us[3]; /* median, min, max */
    if (head_select(hdir, eq_us, re_us))
        return 1;
    char rp[160];
    snprintf(rp, sizeof rp, "{\"series\": %d, \"matcher\": \"eq\"}", HS_SERIES);
    b_json_result(&j, "sluice", "head_select_us", "us", eq_us[0], eq_us[1], eq_us[2], HS_RUNS,
                  rp);
    snprintf(rp, sizeof rp, "{\"series\": %d, \"matcher\": \"eq_re\"}", HS_SERIES);
    b_json_result(&j, "sluice", "head_select_us", "us", re_us[0], re_us[1], re_us[2], HS_RUNS,
                  rp);
    printf("bench=storage_rw head_series=%d matcher=eq head_select_us=%.4g\n", HS_SERIES, eq_us[0]);
    printf("bench=storage_rw head_series=%d matcher=eq_re head_select_us=%.4g\n", HS_SERIES,
           re_us[0]);
    b_json_close(&j);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", base);
    return system(rm) == 0 ? 0 : 1;
}
