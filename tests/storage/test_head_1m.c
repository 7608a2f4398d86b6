/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One million series in the head of a store: selects with a selective `=` matcher, with `=`
 * plus a regex, and with `=` plus `!=` return exactly the expected series (their keys and
 * samples), answered from the head's postings index. Correctness only; the latency is
 * measured by bench/bench_storage_rw.c. Suite `slow`.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "engine/log.h"
#include "helpers.h"
#include "storage/store.h"

#define N 1000000
#define BATCH 10000

static char dir[64];
static void setup(void)
{
    tmp_dir(dir, sizeof dir, "head1m");
    sl_log_set_level(SL_LOG_ERROR);
}
static void teardown(void)
{
    rm_rf(dir);
}
TestSuite(head_1m, .init = setup, .fini = teardown, .timeout = 240);

static char keys[BATCH][64];

/* series i: m{grp="g<i % 1000>", id="<i>"} with one sample at t=1000, v=i */
static void fill(struct sl_store *s)
{
    static struct sl_sample smp[BATCH];
    for (int base = 0; base < N; base += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            int i = base + j;
            char id[16], grp[8];
            snprintf(id, sizeof id, "%07d", i);
            snprintf(grp, sizeof grp, "g%03d", i % 1000);
            int kl = mkkey(keys[j], sizeof keys[j], "m", "grp", grp, "id", id);
            cr_assert(gt(int, kl, 0));
            smp[j] = (struct sl_sample){keys[j], (uint32_t)kl, 1000, (double)i};
        }
        struct sl_sample_batch b = {smp, BATCH};
        cr_assert(eq(int, sl_store_append(s, &b), 0));
    }
}

static struct sl_series_set *sel(struct sl_store *s, const struct sl_store_matcher *m,
                                 size_t nm)
{
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, m, nm, 0, 2000, 0, &ss, NULL, 0), 0));
    return ss;
}

Test(head_1m, selective_matchers_over_one_million_head_series_return_exact_series)
{
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    struct sl_store *s;
    cr_assert(eq(int, sl_store_open(&cfg, &s), 0));
    fill(s);
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_series, N));

    struct sl_store_matcher one = {SL_STORE_MATCH_EQ, "id", "0123456"};
    struct sl_series_set *ss = sel(s, &one, 1);
    cr_assert(eq(sz, sl_series_set_count(ss), 1));
    struct sl_store_series x;
    sl_series_set_get(ss, 0, &x);
    char want[64];
    int wl = mkkey(want, sizeof want, "m", "grp", "g456", "id", "0123456");
    cr_assert(eq(sz, x.key_len, (size_t)wl));
    cr_assert(eq(int, memcmp(x.key, want, (size_t)wl), 0));
    cr_assert(eq(sz, x.n, 1));
    cr_assert(eq(dbl, x.v[0], 123456.0));
    sl_series_set_destroy(ss);

    /* 1000 series of one group; then a regex and a != narrow them */
    struct sl_store_matcher grp[3] = {{SL_STORE_MATCH_EQ, "grp", "g007"},
                                      {SL_STORE_MATCH_RE, "id", "00.*"},
                                      {SL_STORE_MATCH_NE, "id", "0001007"}};
    ss = sel(s, grp, 1);
    cr_assert(eq(sz, sl_series_set_count(ss), 1000));
    for (size_t i = 0; i < 1000; i++) {
        sl_series_set_get(ss, i, &x);
        cr_assert(eq(dbl, x.v[0], (double)(i * 1000 + 7))); /* key order is id order */
    }
    sl_series_set_destroy(ss);
    ss = sel(s, grp, 3);
    cr_assert(eq(sz, sl_series_set_count(ss), 99)); /* ids 7, 1007, ..., 99007 minus 1007 */
    sl_series_set_get(ss, 1, &x);
    cr_assert(eq(dbl, x.v[0], 2007.0));
    sl_series_set_destroy(ss);

    struct sl_store_matcher none = {SL_STORE_MATCH_EQ, "id", "9999999"};
    ss = sel(s, &none, 1);
    cr_assert(eq(sz, sl_series_set_count(ss), 0));
    sl_series_set_destroy(ss);
    sl_store_close(s);
}
