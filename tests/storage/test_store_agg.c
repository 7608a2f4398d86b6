/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sl_store_select_agg: buckets of every series a selector matches, from fresh tier blocks
 * where maintenance built them and from raw data elsewhere, must equal sl_agg_from_raw()
 * over what sl_store_select() returns - before maintenance (head only), after it (tier
 * blocks, incr bridged across windows and counter resets), and when late samples make a
 * tier block stale. sl_store_tier_span reports what the tiers cover.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "helpers.h"
#include "storage/store.h"

static char dir[64];
static struct sl_store_cfg cfg;

static void setup(void)
{
    tmp_dir(dir, sizeof dir, "store_agg");
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
TestSuite(store_agg, .init = setup, .fini = teardown, .timeout = 20);

#define NSER 6
static char K[NSER][64];
static uint32_t KL[NSER];

static struct sl_store *open_filled(int64_t to)
{
    struct sl_store *s;
    cr_assert(eq(int, sl_store_open(&cfg, &s), 0));
    for (int i = 0; i < NSER; i++) {
        char h[8];
        snprintf(h, sizeof h, "h%d", i);
        int n = mkkey(K[i], sizeof K[i], i < 4 ? "cpu" : "mem", "host", h, NULL, NULL);
        cr_assert(gt(int, n, 0));
        KL[i] = (uint32_t)n;
    }
    /* every 10 s, so every bucket boundary holds a sample; a counter that resets */
    for (int64_t t = 0; t < to; t += 10000) {
        struct sl_sample b[NSER];
        for (int i = 0; i < NSER; i++)
            b[i] = (struct sl_sample){K[i], KL[i], t, (double)((t / 1000 * (i + 1)) % 700)};
        struct sl_sample_batch bb = {b, NSER};
        cr_assert(eq(int, sl_store_append(s, &bb), 0));
    }
    return s;
}

static void maintain_all(struct sl_store *s)
{
    int rc;
    for (int k = 0; k < 10000 && (rc = sl_store_maintain(s, 0)) == 1; k++)
        ;
    cr_assert(eq(int, rc, 0));
}

struct got {
    char key[64];
    size_t keylen;
    struct sl_agg b[512];
    size_t n;
};
static struct got G[NSER];
static size_t NG;

static int got_cb(void *arg, const char *key, size_t keylen, const struct sl_agg *b, size_t n)
{
    (void)arg;
    cr_assert(lt(sz, NG, (size_t)NSER));
    cr_assert(le(sz, n, (size_t)512));
    memcpy(G[NG].key, key, keylen);
    G[NG].keylen = keylen;
    memcpy(G[NG].b, b, n * sizeof *b);
    G[NG].n = n;
    NG++;
    return 0;
}

/* Compare the selector "cpu" at @res over [mint, maxt] with buckets computed from raw. */
static size_t check(struct sl_store *s, int64_t res, int64_t mint, int64_t maxt)
{
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "__name__", "cpu"};
    size_t tw = 99;
    NG = 0;
    cr_assert(eq(int, sl_store_select_agg(s, &m, 1, res, mint, maxt, SL_AGG_WITH_INCR, got_cb,
                                          NULL, &tw, NULL, 0),
                 0));
    cr_assert(eq(sz, NG, 4));
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &m, 1, mint - cfg.compact_range_ms, maxt + res - 1, 0,
                                      &ss, NULL, 0),
                 0));
    cr_assert(eq(sz, sl_series_set_count(ss), 4));
    for (size_t i = 0; i < 4; i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        const struct got *g = NULL;
        for (size_t k = 0; k < NG; k++)
            if (G[k].keylen == x.key_len && memcmp(G[k].key, x.key, x.key_len) == 0)
                g = &G[k];
        cr_assert(not(eq(ptr, (void *)g, NULL)));
        struct sl_agg *w = malloc((x.n + 1) * sizeof *w);
        size_t nw = sl_agg_from_raw(x.t, x.v, x.n, res, NULL, w), o = 0;
        for (size_t j = 0; j < nw; j++)
            if (w[j].t >= mint && w[j].t <= maxt)
                w[o++] = w[j];
        cr_assert(eq(sz, g->n, o), "res %lld", (long long)res);
        for (size_t j = 0; j < o; j++) {
            cr_assert(eq(i64, g->b[j].t, w[j].t));
            cr_assert(eq(dbl, g->b[j].count, w[j].count));
            cr_assert(eq(dbl, g->b[j].sum, w[j].sum));
            cr_assert(eq(dbl, g->b[j].min, w[j].min));
            cr_assert(eq(dbl, g->b[j].max, w[j].max));
            cr_assert(eq(dbl, g->b[j].last, w[j].last));
            cr_assert(eq(dbl, g->b[j].incr, w[j].incr), "bucket at %lld", (long long)w[j].t);
        }
        free(w);
    }
    sl_series_set_destroy(ss);
    return tw;
}

Test(store_agg, head_only_buckets_come_from_raw)
{
    struct sl_store *s = open_filled(1800000);
    cr_assert(eq(sz, check(s, 60000, 0, 1799999), 0));
    cr_assert(eq(sz, check(s, 300000, 600000, 1500000), 0));
    struct sl_tier_span sp;
    cr_assert(eq(int, sl_store_tier_span(s, 0, &sp), 0));
    cr_assert(eq(i64, sp.resolution_ms, 60000));
    cr_assert(gt(i64, sp.mint, sp.maxt)); /* nothing built yet */
    cr_assert(eq(dbl, sp.samples_per_bucket, 0));
    cr_assert(eq(int, sl_store_tier_span(s, 2, &sp), -ENOENT));
    sl_store_close(s);
}

Test(store_agg, tier_blocks_answer_after_maintenance_and_bridge_windows)
{
    struct sl_store *s = open_filled(1800000);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    /* three 10-minute windows, each with fresh tier blocks */
    cr_assert(eq(sz, check(s, 60000, 0, 1799999), 3));
    cr_assert(eq(sz, check(s, 300000, 0, 1799999), 3));
    /* starting inside: the first bucket's incr still bridges from the sample before it */
    cr_assert(eq(sz, check(s, 60000, 660000, 1200000), 2));
    /* a deletion inside the second window: its buckets come from raw until maintenance
     * purges the samples and rebuilds the tier */
    struct sl_store_matcher dm = {SL_STORE_MATCH_EQ, "host", "h2"};
    cr_assert(eq(int, sl_store_delete(s, &dm, 1, 725000, 790000, NULL), 0));
    cr_assert(eq(sz, check(s, 60000, 0, 1799999), 2));
    maintain_all(s);
    cr_assert(eq(sz, check(s, 60000, 0, 1799999), 3));
    struct sl_tier_span sp;
    cr_assert(eq(int, sl_store_tier_span(s, 1, &sp), 0));
    cr_assert(eq(i64, sp.resolution_ms, 300000));
    cr_assert(eq(i64, sp.mint, 0));
    cr_assert(eq(i64, sp.maxt, 1500000));
    /* 10 s samples in 5 m buckets (a few deleted above) */
    cr_assert(ge(dbl, sp.samples_per_bucket, 29.5));
    cr_assert(le(dbl, sp.samples_per_bucket, 30));
    cr_assert(eq(int, sl_store_tier_span(s, 0, &sp), 0));
    cr_assert(ge(dbl, sp.samples_per_bucket, 5.5));
    cr_assert(le(dbl, sp.samples_per_bucket, 6));
    sl_store_close(s);
}

Test(store_agg, late_samples_make_window_read_from_raw)
{
    struct sl_store *s = open_filled(1800000);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    /* a late sample of series 0 into the second window lands in the head: that window's
     * tier block no longer holds all of its data */
    struct sl_sample late = {K[0], KL[0], 905000, 1e6};
    struct sl_sample_batch bb = {&late, 1};
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
    cr_assert(eq(sz, check(s, 60000, 0, 1799999), 1));
    sl_store_close(s);
}

struct atgot {
    char key[64];
    size_t keylen;
    int64_t t[64];
    double v[64];
    size_t n;
};
static struct atgot AG[NSER];
static size_t NAG;

static int at_cb(void *arg, const char *key, size_t keylen, const int64_t *t, const double *v,
                 size_t n)
{
    (void)arg;
    cr_assert(lt(sz, NAG, (size_t)NSER));
    cr_assert(le(sz, n, (size_t)64));
    memcpy(AG[NAG].key, key, keylen);
    AG[NAG].keylen = keylen;
    memcpy(AG[NAG].t, t, n * sizeof *t);
    memcpy(AG[NAG].v, v, n * sizeof *v);
    AG[NAG].n = n;
    NAG++;
    return 0;
}

/* sl_store_select_at must return exactly what sl_store_select returns at those instants. */
static void check_at(struct sl_store *s, const int64_t *at, size_t nat)
{
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "__name__", "cpu"};
    NAG = 0;
    cr_assert(eq(int, sl_store_select_at(s, &m, 1, at, nat, at_cb, NULL, NULL, 0), 0));
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &m, 1, INT64_MIN / 2, INT64_MAX / 2, 0, &ss, NULL, 0),
                 0));
    size_t with = 0;
    for (size_t i = 0; i < sl_series_set_count(ss); i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        int64_t wt[64];
        double wv[64];
        size_t nw = 0;
        for (size_t k = 0; k < nat; k++)
            for (size_t j = 0; j < x.n; j++)
                if (x.t[j] == at[k]) {
                    wt[nw] = at[k];
                    wv[nw++] = x.v[j];
                }
        const struct atgot *g = NULL;
        for (size_t k = 0; k < NAG; k++)
            if (AG[k].keylen == x.key_len && memcmp(AG[k].key, x.key, x.key_len) == 0)
                g = &AG[k];
        if (nw == 0) {
            cr_assert(eq(ptr, (void *)g, NULL));
            continue;
        }
        with++;
        cr_assert(not(eq(ptr, (void *)g, NULL)));
        cr_assert(eq(sz, g->n, nw));
        for (size_t j = 0; j < nw; j++) {
            cr_assert(eq(i64, g->t[j], wt[j]));
            cr_assert(eq(dbl, g->v[j], wv[j]), "at %lld", (long long)wt[j]);
        }
    }
    cr_assert(eq(sz, NAG, with));
    sl_series_set_destroy(ss);
}

Test(store_agg, samples_at_instants_equal_select_across_blocks_head_and_deletes)
{
    struct sl_store *s = open_filled(1800000);
    int64_t at[] = {0, 55000, 60000, 600000, 905000, 1200000, 1790000, 1800000};
    size_t nat = sizeof at / sizeof at[0];
    check_at(s, at, nat); /* head only */
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    check_at(s, at, nat); /* blocks only */
    /* an overwrite in the head of a block sample, and a late sample at an instant */
    struct sl_sample b[2] = {{K[1], KL[1], 600000, -5}, {K[2], KL[2], 905000, 42}};
    struct sl_sample_batch bb = {b, 2};
    cr_assert(eq(int, sl_store_append(s, &bb), 0));
    check_at(s, at, nat);
    /* a deleted range hides its instants */
    struct sl_store_matcher dm = {SL_STORE_MATCH_EQ, "host", "h3"};
    cr_assert(eq(int, sl_store_delete(s, &dm, 1, 1000000, 1300000, NULL), 0));
    check_at(s, at, nat);
    int64_t bad[] = {5, 5};
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "__name__", "cpu"};
    cr_assert(eq(int, sl_store_select_at(s, &m, 1, bad, 2, at_cb, NULL, NULL, 0), -EINVAL));
    sl_store_close(s);
}
