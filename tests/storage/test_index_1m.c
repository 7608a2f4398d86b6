/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A block with one million series: the postings index answers an `=` matcher and a regex
 * over one label's values without touching every series, and every series can be found by
 * its key. Suite `slow` (about 10 s in a debug build).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <time.h>

#include "engine/log.h"
#include "helpers.h"
#include "storage/block.h"

#define N 1000000

static char dir[64];
static void setup(void)
{
    tmp_dir(dir, sizeof dir, "idx");
    sl_log_set_level(SL_LOG_ERROR);
}
static void teardown(void)
{
    rm_rf(dir);
}
TestSuite(index_1m, .init = setup, .fini = teardown, .timeout = 120);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t sel(struct sl_block *b, const struct sl_store_matcher *m, size_t nm, double *secs)
{
    struct sl_matchers *ms;
    cr_assert(eq(int, sl_matchers_compile(m, nm, &ms, NULL, 0), 0));
    uint32_t *ids;
    size_t n;
    double t0 = now_s();
    cr_assert(eq(int, sl_block_select(b, ms, &ids, &n), 0));
    *secs = now_s() - t0;
    free(ids);
    sl_matchers_destroy(ms);
    return n;
}

Test(index_1m, postings_answer_matchers_on_one_million_series)
{
    struct sl_block_writer *w;
    cr_assert(eq(int, sl_block_writer_create(dir, "b-1", 0, 1, 1, SL_CODEC_LZ4_OFF, &w), 0));
    int64_t t = 1000;
    double v = 1;
    const double *cols[1] = {&v};
    /* labels sort grp before id, so keys go in (grp, id) order; ids are zero-padded so
     * memcmp order is numeric order, as the writer requires */
    for (int x = 0; x < N; x++) {
        int i = (x % 1000) * 1000 + x / 1000;
        char id[16], grp[8], k[96];
        snprintf(id, sizeof id, "%07d", i);
        snprintf(grp, sizeof grp, "g%03d", i % 1000);
        int kl = mkkey(k, sizeof k, "m", "grp", grp, "id", id);
        cr_assert(gt(int, kl, 0));
        cr_assert(eq(int, sl_block_writer_add(w, k, (size_t)kl, &t, cols, 1), 0));
    }
    cr_assert(eq(int, sl_block_writer_commit(w), 0));
    char p[128];
    snprintf(p, sizeof p, "%s/b-1", dir);
    struct sl_block *b;
    cr_assert(eq(int, sl_block_open(p, &b), 0));
    cr_assert(eq(u64, sl_block_meta(b)->nseries, N));
    double s;
    struct sl_store_matcher eqm = {SL_STORE_MATCH_EQ, "id", "0123456"};
    cr_assert(eq(sz, sel(b, &eqm, 1, &s), 1));
    cr_assert(lt(dbl, s, 0.5), "= matcher took %.3f s", s); /* one binary search, one list */
    struct sl_store_matcher grp = {SL_STORE_MATCH_EQ, "grp", "g007"};
    cr_assert(eq(sz, sel(b, &grp, 1, &s), 1000));
    struct sl_store_matcher both[] = {grp, {SL_STORE_MATCH_RE, "id", "00.*7"}};
    cr_assert(eq(sz, sel(b, both, 2, &s), 100)); /* ids < 100000 in g007 */
    struct sl_store_matcher re = {SL_STORE_MATCH_RE, "grp", "g00[0-9]"};
    cr_assert(eq(sz, sel(b, &re, 1, &s), 10000));
    char k[96];
    int kl = mkkey(k, sizeof k, "m", "grp", "g456", "id", "0999456");
    uint32_t id;
    cr_assert(eq(int, sl_block_find(b, k, (size_t)kl, &id), 0));
    sl_block_close(b);
}
