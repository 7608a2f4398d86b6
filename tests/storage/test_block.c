/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocks: write, publish, reopen, answer matchers from postings, decode chunks; a flipped
 * byte in any section is reported as SL_E_CORRUPT, a foreign version as SL_E_VERSION.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "helpers.h"
#include "storage/block.h"
#include "storage/crc32c.h"

static char dir[64];
static void setup(void)
{
    tmp_dir(dir, sizeof dir, "blk");
    sl_log_set_level(SL_LOG_ERROR + 1);
}
static void teardown(void)
{
    rm_rf(dir);
}
TestSuite(block, .init = setup, .fini = teardown, .timeout = 10);

#define NS 60
static char keys[NS][128];
static int klen[NS];

static int kcmp(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int c = memcmp(keys[i], keys[j], (size_t)(klen[i] < klen[j] ? klen[i] : klen[j]));
    return c ? c : klen[i] - klen[j];
}

/* Series i: cpu{host=h<i%10>, env=prod|dev (absent when i%3==2)} or mem{host} for i >= 40.
 * Sample j of series i: t = 1000 * j, v = i * 1000 + j; i+1 samples (series 59: 20000). */
static void write_block(const char *name)
{
    int order[NS];
    for (int i = 0; i < NS; i++) {
        char h[16];
        snprintf(h, sizeof h, "h%02d", i);
        const char *env = i % 3 == 0 ? "prod" : i % 3 == 1 ? "dev" : NULL;
        klen[i] = mkkey(keys[i], sizeof keys[i], i < 40 ? "cpu" : "mem", "host", h, "env", env);
        cr_assert(gt(int, klen[i], 0));
        order[i] = i;
    }
    qsort(order, NS, sizeof order[0], kcmp);
    struct sl_block_writer *w;
    cr_assert(eq(int, sl_block_writer_create(dir, name, 0, 1, 7, SL_CODEC_LZ4_FAST, &w), 0));
    int64_t *t = malloc(20000 * 8);
    double *v = malloc(20000 * 8);
    for (int k = 0; k < NS; k++) {
        int i = order[k];
        size_t n = i == NS - 1 ? 20000 : (size_t)i + 1;
        for (size_t j = 0; j < n; j++) {
            t[j] = 1000 * (int64_t)j;
            v[j] = i * 1000.0 + (double)j;
        }
        const double *cols[1] = {v};
        cr_assert(eq(int, sl_block_writer_add(w, keys[i], (size_t)klen[i], t, cols, n), 0));
        if (k == 0) /* out of order key is refused */
            cr_assert(eq(int, sl_block_writer_add(w, keys[i], (size_t)klen[i], t, cols, n),
                         -EINVAL));
    }
    free(t);
    free(v);
    cr_assert(eq(int, sl_block_writer_commit(w), 0));
}

static struct sl_block *open_ok(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct sl_block *b;
    cr_assert(eq(int, sl_block_open(p, &b), 0));
    return b;
}

static size_t count(struct sl_block *b, const struct sl_store_matcher *m, size_t n)
{
    struct sl_matchers *ms;
    cr_assert(eq(int, sl_matchers_compile(m, n, &ms, NULL, 0), 0));
    uint32_t *ids;
    size_t cnt;
    cr_assert(eq(int, sl_block_select(b, ms, &ids, &cnt), 0));
    for (size_t i = 1; i < cnt; i++)
        cr_assert(lt(u32, ids[i - 1], ids[i]));
    free(ids);
    sl_matchers_destroy(ms);
    return cnt;
}

Test(block, write_reopen_meta_and_series_roundtrip)
{
    write_block("b-1");
    struct sl_block *b = open_ok("b-1");
    const struct sl_block_meta *m = sl_block_meta(b);
    cr_assert(eq(u64, m->nseries, NS));
    cr_assert(eq(i64, m->mint, 0));
    cr_assert(eq(i64, m->maxt, 19999000));
    cr_assert(eq(u64, m->seq, 7));
    cr_assert(gt(u64, m->index_bytes, 0));
    /* series 59 has 20000 samples: three chunks */
    uint32_t id;
    cr_assert(eq(int, sl_block_find(b, keys[59], (size_t)klen[59], &id), 0));
    struct sl_block_chunk ch[4];
    const char *k;
    size_t kl;
    cr_assert(eq(int, sl_block_series(b, id, &k, &kl, ch, 4), 3));
    cr_assert(eq(sz, kl, (size_t)klen[59]));
    int64_t *t = malloc(SL_CODEC_CHUNK_MAX * 8);
    double *v = malloc(SL_CODEC_CHUNK_MAX * 8);
    uint8_t *scratch = malloc(sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1));
    double *cols[1] = {v};
    size_t total = 0;
    for (int c = 0; c < 3; c++) {
        int n = sl_codec_chunk_decode(ch[c].p, ch[c].len, t, cols, 1, SL_CODEC_CHUNK_MAX, scratch,
                                      sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1));
        cr_assert(gt(int, n, 0));
        cr_assert(eq(i64, t[0], ch[c].mint));
        cr_assert(eq(i64, t[n - 1], ch[c].maxt));
        for (int j = 0; j < n; j++)
            cr_assert(eq(dbl, v[j], 59000.0 + (double)(total + (size_t)j)));
        total += (size_t)n;
    }
    cr_assert(eq(sz, total, 20000));
    char nk[64];
    int nkl = mkkey(nk, sizeof nk, "nope", NULL, NULL, NULL, NULL);
    cr_assert(eq(int, sl_block_find(b, nk, (size_t)nkl, &id), -ENOENT));
    free(t);
    free(v);
    free(scratch);
    sl_block_close(b);
}

Test(block, select_matchers_use_postings_semantics)
{
    write_block("b-2");
    struct sl_block *b = open_ok("b-2");
    struct sl_store_matcher cpu = {SL_STORE_MATCH_EQ, "__name__", "cpu"};
    cr_assert(eq(sz, count(b, &cpu, 1), 40));
    struct sl_store_matcher m1[] = {cpu, {SL_STORE_MATCH_EQ, "env", "prod"}};
    cr_assert(eq(sz, count(b, m1, 2), 14)); /* i%3==0 for i<40 */
    struct sl_store_matcher m2[] = {cpu, {SL_STORE_MATCH_NE, "env", "prod"}};
    cr_assert(eq(sz, count(b, m2, 2), 26)); /* dev plus absent */
    struct sl_store_matcher m3[] = {{SL_STORE_MATCH_EQ, "env", ""}};
    cr_assert(eq(sz, count(b, m3, 1), 20)); /* absent label == "" */
    struct sl_store_matcher m4[] = {{SL_STORE_MATCH_RE, "host", "h0[0-4]"}};
    cr_assert(eq(sz, count(b, m4, 1), 5)); /* anchored: h10..h59 excluded */
    struct sl_store_matcher m5[] = {{SL_STORE_MATCH_RE, "host", "h0"}};
    cr_assert(eq(sz, count(b, m5, 1), 0)); /* must match the whole value */
    struct sl_store_matcher m6[] = {{SL_STORE_MATCH_NRE, "env", "prod|dev"}};
    cr_assert(eq(sz, count(b, m6, 1), 20));
    struct sl_store_matcher m7[] = {{SL_STORE_MATCH_RE, "env", ".*"}};
    cr_assert(eq(sz, count(b, m7, 1), NS));
    struct sl_store_matcher m8[] = {{SL_STORE_MATCH_EQ, "nolabel", "x"}};
    cr_assert(eq(sz, count(b, m8, 1), 0));
    cr_assert(eq(sz, count(b, NULL, 0), NS));
    sl_block_close(b);
}

static uint8_t *slurp(const char *p, size_t *len)
{
    int fd = open(p, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    *len = (size_t)st.st_size;
    uint8_t *b = malloc(*len);
    cr_assert(eq(long, read(fd, b, *len), (long)*len));
    close(fd);
    return b;
}

static void spit(const char *p, const uint8_t *b, size_t len)
{
    int fd = open(p, O_WRONLY | O_TRUNC);
    cr_assert(eq(long, write(fd, b, len), (long)len));
    close(fd);
}

Test(block, flipped_byte_in_every_section_reports_corrupt)
{
    write_block("b-3");
    char file[160], bdir[128];
    snprintf(bdir, sizeof bdir, "%s/b-3", dir);
    snprintf(file, sizeof file, "%s/data", bdir);
    size_t len;
    uint8_t *orig = slurp(file, &len);
    /* every 7th byte of the file, header, every section and the table of contents */
    int hits = 0;
    for (size_t pos = 0; pos < len; pos += (pos < 200 || pos > len - 300) ? 1 : 97) {
        orig[pos] ^= 0x10;
        spit(file, orig, len);
        orig[pos] ^= 0x10;
        struct sl_block *b;
        int rc = sl_block_open(bdir, &b);
        if (pos >= 8 && pos < 12)
            cr_assert(eq(int, rc, SL_E_VERSION), "pos=%zu", pos);
        else
            cr_assert(eq(int, rc, SL_E_CORRUPT), "pos=%zu", pos);
        hits++;
    }
    cr_assert(gt(int, hits, 300));
    /* truncation too */
    spit(file, orig, len / 2);
    struct sl_block *b;
    cr_assert(eq(int, sl_block_open(bdir, &b), SL_E_CORRUPT));
    free(orig);
}

Test(block, foreign_version_reports_sl_e_version)
{
    write_block("b-4");
    char file[160], bdir[128];
    snprintf(bdir, sizeof bdir, "%s/b-4", dir);
    snprintf(file, sizeof file, "%s/data", bdir);
    size_t len;
    uint8_t *d = slurp(file, &len);
    d[8] = SL_BLOCK_FORMAT_VERSION + 1;
    uint32_t c = sl_crc32c(0, d, 76);
    memcpy(d + 76, &c, 4);
    spit(file, d, len);
    struct sl_block *b;
    cr_assert(eq(int, sl_block_open(bdir, &b), SL_E_VERSION));
    free(d);
}

Test(block, empty_writer_publishes_nothing)
{
    struct sl_block_writer *w;
    cr_assert(eq(int, sl_block_writer_create(dir, "b-5", 0, 1, 1, SL_CODEC_LZ4_OFF, &w), 0));
    int64_t t = 1;
    double v = 1;
    const double *cols[1] = {&v};
    char k[32];
    int kl = mkkey(k, sizeof k, "x", NULL, NULL, NULL, NULL);
    cr_assert(eq(int, sl_block_writer_add(w, k, (size_t)kl, &t, cols, 0), -EINVAL));
    cr_assert(eq(int, sl_block_writer_commit(w), -ENODATA));
    char p[128];
    snprintf(p, sizeof p, "%s/b-5", dir);
    cr_assert(eq(int, access(p, F_OK), -1));
    snprintf(p, sizeof p, "%s/b-5.tmp", dir);
    cr_assert(eq(int, access(p, F_OK), -1));
}

Test(block, single_sample_series_roundtrip)
{
    struct sl_block_writer *w;
    cr_assert(eq(int, sl_block_writer_create(dir, "b-6", 60000, 6, 1, SL_CODEC_LZ4_HC, &w), 0));
    int64_t t = -120000; /* negative timestamps are fine */
    double v[6] = {1, 2, 3, 4, 5, 6};
    const double *cols[6] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]};
    char k[32];
    int kl = mkkey(k, sizeof k, "x", NULL, NULL, NULL, NULL);
    cr_assert(eq(int, sl_block_writer_add(w, k, (size_t)kl, &t, cols, 1), 0));
    sl_block_writer_set_source(w, 42);
    cr_assert(eq(int, sl_block_writer_commit(w), 0));
    struct sl_block *b = open_ok("b-6");
    cr_assert(eq(i64, sl_block_meta(b)->resolution_ms, 60000));
    cr_assert(eq(u32, sl_block_meta(b)->ncols, 6));
    cr_assert(eq(u32, sl_block_meta(b)->src_seq, 42));
    cr_assert(eq(i64, sl_block_meta(b)->mint, -120000));
    sl_block_close(b);
}
