/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store end to end: appends, merged reads across head and blocks, out-of-order and
 * duplicate samples, WAL replay, maintenance (cut, compaction, tiers, retention), deletion
 * with tombstones, label queries, quarantine of corrupt blocks and consistent snapshots
 * under concurrent appends.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "helpers.h"
#include "storage/store.h"

static char dir[64];
static struct sl_store_cfg cfg;

static void setup(void)
{
    tmp_dir(dir, sizeof dir, "store");
    sl_log_set_level(SL_LOG_ERROR + 1);
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 60000;
    cfg.compact_range_ms = 600000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 2;
    cfg.tiers[0] = (struct sl_tier_cfg){60000, 0};
    cfg.tiers[1] = (struct sl_tier_cfg){300000, 0};
}
static void teardown(void)
{
    rm_rf(dir);
}
TestSuite(store, .init = setup, .fini = teardown, .timeout = 10);

static struct sl_store *open_store(void)
{
    struct sl_store *s;
    cr_assert(eq(int, sl_store_open(&cfg, &s), 0));
    return s;
}

#define NSER 8
static char K[NSER][64];
static uint32_t KL[NSER];

static void keys_init(void)
{
    for (int i = 0; i < NSER; i++) {
        char h[8];
        snprintf(h, sizeof h, "h%d", i);
        int n = mkkey(K[i], sizeof K[i], i < 6 ? "cpu" : "mem", "host", h, "dc", i % 2 ? "a" : NULL);
        cr_assert(gt(int, n, 0));
        KL[i] = (uint32_t)n;
    }
}

/* value of series i at t: integer-valued counter */
static double val(int i, int64_t t)
{
    return (double)(t / 1000 * (i + 1));
}

/* Append series i at t = from, from+step, ... < to, in batches of @per samples per series. */
static void fill(struct sl_store *s, int64_t from, int64_t to, int64_t step)
{
    struct sl_sample b[NSER * 16];
    size_t n = 0;
    for (int64_t t = from; t < to; t += step) {
        for (int i = 0; i < NSER; i++)
            b[n++] = (struct sl_sample){K[i], KL[i], t, val(i, t)};
        if (n == NSER * 16) {
            struct sl_sample_batch bb = {b, n};
            cr_assert(eq(int, sl_store_append(s, &bb), 0));
            n = 0;
        }
    }
    struct sl_sample_batch bb = {b, n};
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
}

static void check_all(struct sl_store *s, int64_t from, int64_t to, int64_t step)
{
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, NULL, 0, INT64_MIN, INT64_MAX, 0, &ss, NULL, 0), 0));
    cr_assert(eq(sz, sl_series_set_count(ss), NSER));
    for (size_t i = 0; i < NSER; i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        int idx = -1;
        for (int k = 0; k < NSER; k++)
            if (KL[k] == x.key_len && memcmp(K[k], x.key, x.key_len) == 0)
                idx = k;
        cr_assert(ge(int, idx, 0));
        cr_assert(eq(sz, x.n, (size_t)((to - from + step - 1) / step)));
        for (size_t j = 0; j < x.n; j++) {
            cr_assert(eq(i64, x.t[j], from + (int64_t)j * step));
            cr_assert(eq(dbl, x.v[j], val(idx, x.t[j])));
        }
    }
    sl_series_set_destroy(ss);
}

static int maintain_all(struct sl_store *s, int64_t now)
{
    int steps = 0, rc;
    while ((rc = sl_store_maintain(s, now)) == 1)
        steps++;
    cr_assert(eq(int, rc, 0));
    return steps;
}

Test(store, append_select_out_of_order_and_duplicates_merge)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 100000, 200000, 10000);
    fill(s, 0, 100000, 10000); /* backfill, older than everything */
    struct sl_sample dup = {K[0], KL[0], 50000, val(0, 50000)};
    struct sl_sample_batch b = {&dup, 1};
    cr_assert(eq(int, sl_store_append(s, &b), 0));
    check_all(s, 0, 200000, 10000);
    /* last write wins on a repeated timestamp */
    dup.v = -1;
    cr_assert(eq(int, sl_store_append(s, &b), 0));
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "host", "h0"};
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &m, 1, 50000, 60000, 0, &ss, NULL, 0), 0));
    struct sl_store_series x;
    cr_assert(eq(sz, sl_series_set_count(ss), 1));
    sl_series_set_get(ss, 0, &x);
    cr_assert(eq(sz, x.n, 2));
    cr_assert(eq(dbl, x.v[0], -1));
    sl_series_set_destroy(ss);
    sl_store_close(s);
}

Test(store, reopen_replays_wal)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 300000, 5000);
    sl_store_close(s);
    s = open_store();
    check_all(s, 0, 300000, 5000);
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_samples, NSER * 60));
    cr_assert(gt(u64, st.replay.records, 0));
    sl_store_close(s);
}

Test(store, maintain_cuts_compacts_and_reads_merge_across_blocks)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 1800000, 10000); /* 30 min: 30 block ranges, 3 compaction windows */
    cr_assert(gt(int, maintain_all(s, 0), 0));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(gt(u64, st.blocks, 0));
    cr_assert(lt(u64, st.head_samples, NSER * 180));
    cr_assert(gt(u64, st.tier_blocks, 0));
    check_all(s, 0, 1800000, 10000);
    /* the two closed windows were compacted into one block each; the open one has its
     * per-range blocks (at most 10) */
    cr_assert(le(u64, st.blocks, 2 + 10));
    sl_store_close(s);
    s = open_store();
    check_all(s, 0, 1800000, 10000);
    sl_store_close(s);
}

Test(store, out_of_order_beyond_window_refused_whole_batch)
{
    keys_init();
    cfg.ooo_window_ms = 3600000;
    struct sl_store *s = open_store();
    fill(s, 36000000, 36010000, 1000);
    struct sl_sample b[2] = {{K[1], KL[1], 36020000, 1}, {K[1], KL[1], 1000, 2}};
    struct sl_sample_batch bb = {b, 2};
    cr_assert(eq(int, sl_store_append(s, &bb), SL_E_LIMIT));
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "host", "h1"};
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &m, 1, 36010000, INT64_MAX, 0, &ss, NULL, 0), 0));
    cr_assert(eq(sz, sl_series_set_count(ss), 0)); /* the in-window sample was not applied */
    sl_series_set_destroy(ss);
    sl_store_close(s);
}

Test(store, malformed_key_refused)
{
    struct sl_store *s = open_store();
    struct sl_sample b = {"\0abc", 4, 1, 1}; /* not NUL-terminated */
    struct sl_sample_batch bb = {&b, 1};
    cr_assert(eq(int, sl_store_append(s, &bb), -EINVAL));
    b.key_len = 0;
    cr_assert(eq(int, sl_store_append(s, &bb), -EINVAL));
    sl_store_close(s);
}

Test(store, bad_regex_and_bad_config_rejected)
{
    char err[128] = "";
    struct sl_store_cfg c = cfg;
    c.compact_range_ms = 90000;
    cr_assert(eq(int, sl_store_cfg_check(&c, err, sizeof err), -EINVAL));
    cr_assert(not(eq(ptr, strstr(err, "compact_range_ms"), NULL)));
    struct sl_store *s = open_store();
    struct sl_store_matcher m = {SL_STORE_MATCH_RE, "host", "("};
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &m, 1, 0, 1, 0, &ss, err, sizeof err), -EINVAL));
    cr_assert(not(eq(ptr, strstr(err, "host"), NULL)));
    sl_store_close(s);
}

static size_t count_samples(struct sl_store *s, const struct sl_store_matcher *m, size_t nm)
{
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, m, nm, INT64_MIN, INT64_MAX, 0, &ss, NULL, 0), 0));
    size_t n = 0;
    for (size_t i = 0; i < sl_series_set_count(ss); i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        n += x.n;
    }
    sl_series_set_destroy(ss);
    return n;
}

Test(store, delete_hides_at_once_survives_reopen_and_purges)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 1200000, 10000);
    maintain_all(s, 0); /* some in blocks, some in head */
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "__name__", "mem"};
    size_t before = count_samples(s, &m, 1);
    cr_assert(eq(sz, before, 2 * 120));
    size_t ns;
    cr_assert(eq(int, sl_store_delete(s, &m, 1, 300000, 1100000, &ns), 0));
    cr_assert(eq(sz, ns, 2));
    size_t want = 2 * (30 + 9);
    cr_assert(eq(sz, count_samples(s, &m, 1), want));
    cr_assert(eq(sz, count_samples(s, NULL, 0), 6 * 120 + want));
    sl_store_close(s);
    s = open_store();
    cr_assert(eq(sz, count_samples(s, &m, 1), want));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(gt(u64, st.tombstones, 0));
    maintain_all(s, 0);
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.tombstones, 0));
    cr_assert(eq(sz, count_samples(s, &m, 1), want));
    sl_store_close(s);
    s = open_store();
    cr_assert(eq(sz, count_samples(s, &m, 1), want));
    sl_store_close(s);
}

Test(store, labels_names_and_values_with_matchers)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 20000, 10000);
    char **v;
    size_t n;
    cr_assert(eq(int, sl_store_labels(s, NULL, NULL, 0, INT64_MIN, INT64_MAX, &v, &n), 0));
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, v[0], "__name__"));
    cr_assert(eq(str, v[1], "dc"));
    cr_assert(eq(str, v[2], "host"));
    sl_strv_free(v, n);
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "__name__", "mem"};
    cr_assert(eq(int, sl_store_labels(s, "host", &m, 1, INT64_MIN, INT64_MAX, &v, &n), 0));
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, v[0], "h6"));
    cr_assert(eq(str, v[1], "h7"));
    sl_strv_free(v, n);
    /* a time range with no samples has no labels */
    cr_assert(eq(int, sl_store_labels(s, NULL, NULL, 0, 500000, 600000, &v, &n), 0));
    cr_assert(eq(sz, n, 0));
    sl_strv_free(v, n);
    sl_store_close(s);
}

static void flip_block_byte(int nth)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -d %s/b-* | head -%d | tail -1 > %s/victim", dir, nth, dir);
    cr_assert(eq(int, system(cmd), 0));
    char p[128], path[256];
    snprintf(p, sizeof p, "%s/victim", dir);
    FILE *f = fopen(p, "r");
    cr_assert(not(eq(ptr, fgets(path, 200, f), NULL)));
    fclose(f);
    unlink(p);
    path[strcspn(path, "\n")] = 0;
    strcat(path, "/data");
    int fd = open(path, O_RDWR);
    uint8_t c;
    cr_assert(eq(long, pread(fd, &c, 1, 100), 1));
    c ^= 1;
    cr_assert(eq(long, pwrite(fd, &c, 1, 100), 1));
    close(fd);
}

/* A store of several raw blocks (no tiers) and nothing in the head, open. */
static struct sl_store *open_store_with_blocks(void)
{
    keys_init();
    cfg.ntiers = 0;
    struct sl_store *s = open_store();
    fill(s, 0, 300000, 10000);
    maintain_all(s, 0);
    return s;
}

/* SL_SELECT_LAST hands over each series' newest sample in the window, from blocks or the
 * head, the head's value winning on an equal timestamp, exactly as a full select ends. */
Test(store, select_last_returns_the_newest_sample_of_each_series)
{
    struct sl_store *s = open_store_with_blocks(); /* 0..290 s in blocks */
    fill(s, 300000, 400000, 10000);                /* 300..390 s in the head */
    struct sl_sample over = {K[1], KL[1], 390000, -1.5}; /* rewrites a head sample */
    struct sl_sample_batch ob = {&over, 1};
    cr_assert(eq(int, sl_store_append(s, &ob), 0));
    struct sl_store_matcher all = {SL_STORE_MATCH_RE, "__name__", ".+"};
    int64_t windows[][2] = {{0, 395000}, {100000, 250000}, {285000, 305000}, {395000, 500000}};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        struct sl_series_set *full, *last;
        cr_assert(eq(int, sl_store_select(s, &all, 1, windows[w][0], windows[w][1], 0, &full,
                                          NULL, 0), 0));
        cr_assert(eq(int, sl_store_select(s, &all, 1, windows[w][0], windows[w][1],
                                          SL_SELECT_LAST, &last, NULL, 0), 0));
        cr_assert(eq(sz, sl_series_set_count(last), sl_series_set_count(full)));
        for (size_t i = 0; i < sl_series_set_count(full); i++) {
            struct sl_store_series f, l;
            sl_series_set_get(full, i, &f);
            sl_series_set_get(last, i, &l);
            cr_assert(eq(sz, l.n, 1));
            cr_assert(eq(int, memcmp(f.key, l.key, f.key_len), 0));
            cr_assert(eq(i64, l.t[0], f.t[f.n - 1]), "window %zu series %zu", w, i);
            cr_assert(eq(dbl, l.v[0], f.v[f.n - 1]), "window %zu series %zu", w, i);
        }
        sl_series_set_destroy(full);
        sl_series_set_destroy(last);
    }
    sl_store_close(s);
}

Test(store, corrupt_block_quarantined_rest_readable)
{
    struct sl_store *s = open_store_with_blocks();
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    uint64_t blocks = st.blocks;
    cr_assert(ge(u64, blocks, 2));
    sl_store_close(s);
    flip_block_byte(1);
    s = open_store();
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.corrupt_blocks, 1));
    cr_assert(eq(u64, st.blocks, blocks - 1));
    cr_assert(gt(sz, count_samples(s, NULL, 0), 0));
    sl_store_close(s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls -d %s/b-*.corrupt >/dev/null", dir);
    cr_assert(eq(int, system(cmd), 0));
}

/* A kill at any point of a block delete leaves either the block or a leftover that the
 * next open removes; it never leaves a directory the open cannot read. */
Test(store, interrupted_block_deletes_are_cleaned_on_open)
{
    struct sl_store *s = open_store_with_blocks();
    size_t want = count_samples(s, NULL, 0);
    sl_store_close(s);
    /* a delete killed after its rename, and one killed (by older versions) after the unlink */
    char del[300], del_data[320], empty[300];
    snprintf(del, sizeof del, "%s/b-00000000000000f0.del", dir);
    snprintf(del_data, sizeof del_data, "%s/data", del);
    snprintf(empty, sizeof empty, "%s/b-00000000000000f1", dir);
    cr_assert(eq(int, mkdir(del, 0755), 0));
    FILE *f = fopen(del_data, "w");
    cr_assert(not(eq(ptr, f, NULL)));
    fputs("partial", f);
    fclose(f);
    cr_assert(eq(int, mkdir(empty, 0755), 0));
    s = open_store();
    cr_assert(eq(sz, count_samples(s, NULL, 0), want));
    sl_store_close(s);
    struct stat st;
    cr_assert(eq(int, stat(del, &st), -1), "%s was not removed", del);
    cr_assert(eq(int, stat(empty, &st), -1), "%s was not removed", empty);
    /* compaction deleted the blocks it replaced without leaving .del directories behind */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -d %s/b-*.del 2>/dev/null | grep -q .", dir);
    cr_assert(not(eq(int, system(cmd), 0)));
}

static void check_agg(struct sl_store *s, int i, int64_t res, int64_t from, int64_t to,
                      int64_t step)
{
    size_t n = (size_t)((to - from) / step);
    int64_t *t = malloc(n * 8);
    double *v = malloc(n * 8);
    for (size_t j = 0; j < n; j++) {
        t[j] = from + (int64_t)j * step;
        v[j] = val(i, t[j]);
    }
    struct sl_agg *want = malloc(n * sizeof *want), *got;
    size_t nw = sl_agg_from_raw(t, v, n, res, NULL, want), ng;
    cr_assert(eq(int, sl_store_read_agg(s, K[i], KL[i], res, INT64_MIN / 2, INT64_MAX / 2, &got, &ng),
                 0));
    cr_assert(eq(sz, ng, nw));
    for (size_t j = 0; j < ng; j++) {
        cr_assert(eq(i64, got[j].t, want[j].t));
        cr_assert(eq(dbl, got[j].count, want[j].count));
        cr_assert(eq(dbl, got[j].sum, want[j].sum));
        cr_assert(eq(dbl, got[j].min, want[j].min));
        cr_assert(eq(dbl, got[j].max, want[j].max));
        cr_assert(eq(dbl, got[j].last, want[j].last));
        cr_assert(eq(dbl, got[j].incr, want[j].incr), "bucket %zu res %lld", j, (long long)res);
    }
    free(t);
    free(v);
    free(want);
    free(got);
}

Test(store, tiers_match_raw_and_late_data_recomputes)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 1800000, 10000);
    maintain_all(s, 0);
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(ge(u64, st.tier_blocks, 2));
    check_agg(s, 3, 60000, 0, 1800000, 10000);
    check_agg(s, 3, 300000, 0, 1800000, 10000);
    check_agg(s, 0, 120000, 0, 1800000, 10000); /* not a tier: computed from raw */
    /* late data into the first (tiered) window: every sample of series 3 at t+5000 */
    struct sl_sample b[60];
    for (int j = 0; j < 60; j++)
        b[j] = (struct sl_sample){K[3], KL[3], j * 10000 + 5000, val(3, j * 10000 + 5000)};
    struct sl_sample_batch bb = {b, 60};
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
    maintain_all(s, 0);
    size_t ng;
    struct sl_agg *got;
    cr_assert(eq(int, sl_store_read_agg(s, K[3], KL[3], 60000, 0, 59999, &got, &ng), 0));
    cr_assert(eq(sz, ng, 1));
    cr_assert(eq(dbl, got[0].count, 12));
    free(got);
    cr_assert(eq(int, sl_store_read_agg(s, K[3], KL[3], 300000, 0, 0, &got, &ng), 0));
    cr_assert(eq(sz, ng, 1));
    cr_assert(eq(dbl, got[0].count, 60));
    free(got);
    sl_store_close(s);
}

Test(store, retention_keeps_raw_until_tiers_exist)
{
    keys_init();
    cfg.raw_retention_ms = 600000;
    struct sl_store *s = open_store();
    fill(s, 0, 1800000, 10000);
    maintain_all(s, 0); /* now = 0: nothing expires */
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    uint64_t raw = st.blocks;
    cr_assert(gt(u64, raw, 0));
    maintain_all(s, 100000000); /* far future: closed raw windows go, tiers stay */
    sl_store_stats(s, &st);
    cr_assert(lt(u64, st.blocks, raw));
    cr_assert(gt(u64, st.tier_blocks, 0));
    check_agg(s, 2, 300000, 0, 1800000, 10000);
    sl_store_close(s);
}

struct race {
    struct sl_store *s;
    atomic_int stop;
};

static void *writer(void *p)
{
    struct race *r = p;
    for (int64_t t = 0; !atomic_load(&r->stop) && t < 20000; t++) {
        struct sl_sample b[2] = {{K[0], KL[0], t, 1}, {K[1], KL[1], t, 2}};
        struct sl_sample_batch bb = {b, 2};
        if (sl_store_append(r->s, &bb))
            abort();
    }
    return NULL;
}

Test(store, snapshot_never_sees_half_a_batch)
{
    keys_init();
    struct race r = {open_store(), 0};
    pthread_t th;
    pthread_create(&th, NULL, writer, &r);
    for (int it = 0; it < 200; it++) {
        struct sl_series_set *ss;
        struct sl_store_matcher m = {SL_STORE_MATCH_RE, "host", "h[01]"};
        cr_assert(eq(int, sl_store_select(r.s, &m, 1, INT64_MIN, INT64_MAX, 0, &ss, NULL, 0), 0));
        if (sl_series_set_count(ss) == 2) {
            struct sl_store_series a, b;
            sl_series_set_get(ss, 0, &a);
            sl_series_set_get(ss, 1, &b);
            cr_assert(eq(sz, a.n, b.n));
        } else {
            cr_assert(eq(sz, sl_series_set_count(ss), 0));
        }
        sl_series_set_destroy(ss);
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    sl_store_close(r.s);
}

Test(store, foreign_block_version_fails_open_naming_file)
{
    keys_init();
    cfg.ntiers = 0;
    struct sl_store *s = open_store();
    fill(s, 0, 300000, 10000);
    maintain_all(s, 0);
    sl_store_close(s);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "f=$(ls -d %s/b-* | head -1)/data; printf '\\x09' | dd of=$f bs=1 seek=8 conv=notrunc "
             "2>/dev/null",
             dir);
    cr_assert(eq(int, system(cmd), 0));
    struct sl_store *s2;
    cr_assert(eq(int, sl_store_open(&cfg, &s2), SL_E_VERSION));
}

Test(store, open_while_open_elsewhere_returns_ebusy_then_succeeds_after_close)
{
    struct sl_store *s = open_store();
    struct sl_store *s2 = NULL;
    /* A second open file description conflicts with the first one's flock even in one
     * process, which is how a second sluiced or an import against a live dir behaves. */
    cr_assert(eq(int, sl_store_open(&cfg, &s2), -EBUSY));
    cr_assert(eq(ptr, s2, NULL));
    sl_store_close(s);
    s2 = open_store();
    sl_store_close(s2);
}

Test(store, flush_head_moves_everything_into_compacted_blocks)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 1200000, 10000);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_samples, 0));
    maintain_all(s, 0);
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.blocks, 2)); /* one per 10-minute window */
    cr_assert(eq(u64, st.block_samples, NSER * 120));
    check_all(s, 0, 1200000, 10000);
    sl_store_close(s);
    s = open_store(); /* the WAL was checkpointed: nothing replays into the head */
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_samples, 0));
    check_all(s, 0, 1200000, 10000);
    sl_store_close(s);
}

#include <signal.h>
#include <sys/resource.h>

static void fsize_limit(rlim_t bytes)
{
    struct rlimit rl = {bytes, RLIM_INFINITY};
    cr_assert(eq(int, setrlimit(RLIMIT_FSIZE, &rl), 0));
}

/* A file-size limit makes write(2) fail with EFBIG, which stands in for a full disk. */
Test(store, full_disk_refuses_append_and_block_write_then_recovers)
{
    keys_init();
    signal(SIGXFSZ, SIG_IGN);
    struct sl_store *s = open_store();
    fill(s, 0, 300000, 10000);
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    uint64_t before = st.head_samples;
    /* WAL: the append fails, nothing is applied, the partial record is cut off again */
    fsize_limit(st.wal_bytes + 100);
    struct sl_sample b[NSER];
    for (int i = 0; i < NSER; i++)
        b[i] = (struct sl_sample){K[i], KL[i], 400000, 1};
    struct sl_sample_batch bb = {b, NSER};
    cr_assert(eq(int, sl_store_append(s, &bb), -EFBIG));
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_samples, before));
    /* blocks: a cut that cannot be written keeps the data in the head, readable */
    fsize_limit(0 + 64);
    cr_assert(lt(int, sl_store_maintain(s, 0), 0));
    cr_assert(eq(sz, count_samples(s, NULL, 0), (size_t)before));
    fsize_limit(RLIM_INFINITY);
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
    maintain_all(s, 0);
    sl_store_stats(s, &st);
    cr_assert(gt(u64, st.blocks, 0));
    cr_assert(eq(sz, count_samples(s, NULL, 0), (size_t)before + NSER));
    sl_store_close(s);
    s = open_store();
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.replay.dropped_bytes, 0));
    cr_assert(eq(sz, count_samples(s, NULL, 0), (size_t)before + NSER));
    sl_store_close(s);
}

Test(store, samples_written_after_delete_stay_visible)
{
    keys_init();
    struct sl_store *s = open_store();
    fill(s, 0, 600000, 10000);
    maintain_all(s, 0);
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "host", "h2"};
    cr_assert(eq(int, sl_store_delete(s, &m, 1, 0, 600000, NULL), 0));
    cr_assert(eq(sz, count_samples(s, &m, 1), 0));
    /* re-ingest part of the deleted range: it must survive cuts, compaction and reopen */
    struct sl_sample b[10];
    for (int j = 0; j < 10; j++)
        b[j] = (struct sl_sample){K[2], KL[2], j * 10000, 7};
    struct sl_sample_batch bb = {b, 10};
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
    cr_assert(eq(sz, count_samples(s, &m, 1), 10));
    fill(s, 600000, 1500000, 10000); /* move time on so windows close */
    maintain_all(s, 0);
    cr_assert(eq(sz, count_samples(s, &m, 1), 10 + 90));
    sl_store_close(s);
    s = open_store();
    maintain_all(s, 0);
    cr_assert(eq(sz, count_samples(s, &m, 1), 10 + 90));
    sl_store_close(s);
}
