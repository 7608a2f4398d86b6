/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timer interval sketches in the store: the bucket merge arithmetic (tier from the tier
 * below == tier from raw, byte for byte), WAL round trip and torn tails of SKETCHES records,
 * the block sketch sections (block format 3; blocks without sketches stay format 2), tiers
 * built by maintenance against merges of the raw sketches and exact quantiles, checkpoints
 * and deletion.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/theories.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "helpers.h"
#include "storage/block.h"
#include "storage/store.h"
#include "storage/tier.h"

static char dir[64];
static struct sl_store_cfg cfg;

static void setup(void)
{
    tmp_dir(dir, sizeof dir, "sketch");
    sl_log_set_level(SL_LOG_ERROR + 1);
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 600000;
    cfg.compact_range_ms = 3600000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 2;
    cfg.tiers[0] = (struct sl_tier_cfg){60000, 0};
    cfg.tiers[1] = (struct sl_tier_cfg){3600000, 0};
}
static void teardown(void)
{
    rm_rf(dir);
}
TestSuite(sketch, .init = setup, .fini = teardown, .timeout = 60);

static struct sl_store *open_store(void)
{
    struct sl_store *s;
    cr_assert(eq(int, sl_store_open(&cfg, &s), 0));
    return s;
}

static void maintain_all(struct sl_store *s)
{
    int rc, steps = 0;
    while ((rc = sl_store_maintain(s, 0)) == 1 && steps < 100000)
        steps++;
    cr_assert(eq(int, rc, 0));
}

/* Canonical timer key lat{svc=<svc>} (kind SL_METRIC_TIMER). */
static uint32_t timer_key(char *out, size_t cap, const char *svc)
{
    struct sl_label l = {"svc", svc, 3, (uint32_t)strlen(svc)};
    int n = sl_key_build(SL_METRIC_TIMER, "lat", 3, &l, 1, out, cap);
    cr_assert(gt(int, n, 0));
    return (uint32_t)n;
}

static uint8_t *enc(const struct sl_ddsketch *sk, uint32_t *len)
{
    int n = sl_ddsketch_encode(sk, NULL, 0);
    cr_assert(gt(int, n, 0));
    uint8_t *b = malloc((size_t)n);
    cr_assert(eq(int, sl_ddsketch_encode(sk, b, (size_t)n), n));
    *len = (uint32_t)n;
    return b;
}

static int same_sketch(const struct sl_ddsketch *a, const struct sl_ddsketch *b)
{
    uint32_t la, lb;
    uint8_t *x = enc(a, &la), *y = enc(b, &lb);
    int same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Integer latencies, mostly 1..200 with a long tail to 20000: sums stay exact. */
static double latency(void)
{
    uint64_t r = next_rand();
    return r % 50 == 0 ? (double)(1 + r % 20000) : (double)(1 + r % 200);
}

/* ---- bucket arithmetic ----------------------------------------------------------------- */

TheoryDataPoints(sketch, tier_from_tier_below_equals_tier_from_raw) = {
    DataPoints(unsigned, 1, 2, 3, 4, 5),
};

Theory((unsigned seed), sketch, tier_from_tier_below_equals_tier_from_raw)
{
    enum { N = 600 };
    rng = 0x9E3779B97F4A7C15ull * (seed + 1);
    struct sl_sketch_ref *raw = malloc(N * sizeof *raw);
    int64_t t = -7200000 + (int64_t)(next_rand() % 5000); /* negative times too */
    for (size_t i = 0; i < N; i++) {
        t += 1 + (int64_t)(next_rand() % (next_rand() % 20 == 0 ? 900000 : 20000));
        struct sl_ddsketch *sk;
        cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &sk), 0));
        int nv = 1 + (int)(next_rand() % 30);
        for (int k = 0; k < nv; k++)
            cr_assert(eq(int, sl_ddsketch_add(sk, next_rand() % 7 == 0 ? -latency() : latency(),
                                              1.0), 0));
        uint32_t l;
        uint8_t *e = enc(sk, &l);
        raw[i] = (struct sl_sketch_ref){t, e, l};
        sl_ddsketch_destroy(sk);
    }
    const int64_t r1 = 60000, r2 = 3600000;
    struct sl_sketch_enc *fine, *direct, *via;
    int nf = sl_sketch_from_sketches(raw, N, r1, &fine);
    int nd = sl_sketch_from_sketches(raw, N, r2, &direct);
    cr_assert(gt(int, nf, 0));
    cr_assert(gt(int, nd, 0));
    cr_assert(lt(int, nd, nf));
    struct sl_sketch_ref *mid = malloc((size_t)nf * sizeof *mid);
    for (int i = 0; i < nf; i++)
        mid[i] = (struct sl_sketch_ref){fine[i].t, fine[i].enc, fine[i].len};
    int nv = sl_sketch_from_sketches(mid, (size_t)nf, r2, &via);
    cr_assert(eq(int, nv, nd));
    for (int i = 0; i < nd; i++) {
        cr_assert(eq(i64, via[i].t, direct[i].t));
        cr_assert(eq(i64, direct[i].t % r2, 0));
        cr_assert(eq(u32, via[i].len, direct[i].len), "bucket %d", i);
        cr_assert(eq(int, memcmp(via[i].enc, direct[i].enc, via[i].len), 0), "bucket %d", i);
    }
    sl_sketch_enc_free(fine, (size_t)nf);
    sl_sketch_enc_free(direct, (size_t)nd);
    sl_sketch_enc_free(via, (size_t)nv);
    for (size_t i = 0; i < N; i++)
        free((void *)raw[i].enc);
    free(raw);
    free(mid);
}

Test(sketch, from_sketches_garbage_input_is_corrupt_not_a_crash)
{
    uint8_t junk[5] = {1, 0xff, 2, 3, 4};
    struct sl_sketch_ref r = {0, junk, sizeof junk};
    struct sl_sketch_enc *out;
    cr_assert(eq(int, sl_sketch_from_sketches(&r, 1, 60000, &out), SL_E_CORRUPT));
    cr_assert(eq(int, sl_sketch_from_sketches(&r, 1, 0, &out), -EINVAL));
}

/* ---- store: WAL, head, append validation -------------------------------------------------- */

#define NS 2
static char KEY[NS][128];
static uint32_t KEYLEN[NS];
static const int64_t T0 = 1700000000000LL - 1700000000000LL % 3600000; /* an hour boundary */

/* Append intervals [from, to) (10 s apart) of both series; interval sketches go to @keep
 * (owned by the caller) when not NULL, and each value to @vals[series] too. */
static void fill(struct sl_store *s, int from, int to, struct sl_ddsketch **keep, double **vals,
                 size_t *nvals)
{
    for (int j = 0; j < NS; j++)
        KEYLEN[j] = timer_key(KEY[j], sizeof KEY[j], j ? "b" : "a");
    for (int i = from; i < to; i++) {
        int64_t t = T0 + (int64_t)i * 10000;
        struct sl_sketch_sample sk[NS];
        struct sl_ddsketch *x[NS];
        struct sl_sample smp[NS];
        char skey[NS][128];
        for (int j = 0; j < NS; j++) {
            cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &x[j]), 0));
            for (int k = 0; k < 20; k++) {
                double v = latency();
                cr_assert(eq(int, sl_ddsketch_add(x[j], v, 1.0), 0));
                if (vals)
                    vals[j][nvals[j]++] = v;
            }
            sk[j] = (struct sl_sketch_sample){KEY[j], KEYLEN[j], t, x[j]};
            int n = mkkey(skey[j], sizeof skey[j], "lat_count", "svc", j ? "b" : "a", NULL, NULL);
            smp[j] = (struct sl_sample){skey[j], (uint32_t)n, t, 20.0 * (i + 1)};
        }
        struct sl_sample_batch b = {smp, NS};
        cr_assert(eq(int, sl_store_append_sketches(s, &b, sk, NS), 0));
        for (int j = 0; j < NS; j++) {
            if (keep)
                keep[(size_t)i * NS + (size_t)j] = x[j];
            else
                sl_ddsketch_destroy(x[j]);
        }
    }
}

static void free_kept(struct sl_ddsketch **keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_ddsketch_destroy(keep[i]);
    free(keep);
}

/* Every interval of series @j in [from, to) reads back at resolution 0 as appended. */
static void check_raw(struct sl_store *s, int j, int from, int to, struct sl_ddsketch **keep)
{
    struct sl_sketch_bucket *b;
    size_t n;
    cr_assert(eq(int, sl_store_read_sketch(s, KEY[j], KEYLEN[j], 0, INT64_MIN, INT64_MAX, &b, &n), 0));
    cr_assert(eq(sz, n, (size_t)(to - from)));
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(i64, b[i].t, T0 + (int64_t)(from + (int)i) * 10000));
        cr_assert(same_sketch(b[i].sketch, keep[(size_t)(from + (int)i) * NS + (size_t)j]),
                  "interval %zu", i);
    }
    sl_sketch_buckets_free(b, n);
}

Test(sketch, append_replays_from_wal_after_reopen)
{
    struct sl_store *s = open_store();
    struct sl_ddsketch **keep = calloc(40 * NS, sizeof *keep);
    fill(s, 0, 40, keep, NULL, NULL);
    check_raw(s, 0, 0, 40, keep);
    sl_store_close(s);
    s = open_store();
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_sketches, 40 * NS));
    cr_assert(eq(u64, st.head_samples, 40 * NS));
    check_raw(s, 0, 0, 40, keep);
    check_raw(s, 1, 0, 40, keep);
    sl_store_close(s);
    free_kept(keep, 40 * NS);
}

Test(sketch, torn_sketch_record_is_cut_and_earlier_ones_survive)
{
    struct sl_store *s = open_store();
    struct sl_ddsketch **keep = calloc(3 * NS, sizeof *keep);
    fill(s, 0, 3, keep, NULL, NULL);
    sl_store_close(s);
    /* the last record (interval 2) loses its final 5 bytes, as a torn write would */
    char path[160];
    snprintf(path, sizeof path, "%s/wal/00000001.wal", dir);
    struct stat sb;
    cr_assert(eq(int, stat(path, &sb), 0));
    cr_assert(eq(int, truncate(path, sb.st_size - 5), 0));
    s = open_store();
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.replay.dropped_records, 1));
    cr_assert(eq(u64, st.head_sketches, 2 * NS));
    cr_assert(eq(u64, st.head_samples, 2 * NS)); /* samples of the torn batch are gone too */
    check_raw(s, 0, 0, 2, keep);
    /* a flipped byte inside a record fails its CRC the same way */
    fill(s, 3, 4, NULL, NULL, NULL);
    sl_store_close(s);
    snprintf(path, sizeof path, "%s/wal/00000002.wal", dir);
    int fd = open(path, O_RDWR);
    cr_assert(ge(int, fd, 0));
    uint8_t byte;
    cr_assert(eq(long, pread(fd, &byte, 1, 60), 1));
    byte ^= 0x40;
    cr_assert(eq(long, pwrite(fd, &byte, 1, 60), 1));
    close(fd);
    s = open_store();
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_sketches, 2 * NS));
    check_raw(s, 1, 0, 2, keep);
    sl_store_close(s);
    free_kept(keep, 3 * NS);
}

Test(sketch, append_refuses_foreign_alpha_and_bad_keys_writing_nothing)
{
    struct sl_store *s = open_store();
    KEYLEN[0] = timer_key(KEY[0], sizeof KEY[0], "a");
    struct sl_ddsketch *x;
    cr_assert(eq(int, sl_ddsketch_create(0.02, SL_DDSKETCH_MAX_BINS, &x), 0));
    sl_ddsketch_add(x, 5, 1);
    struct sl_sketch_sample sk = {KEY[0], KEYLEN[0], T0, x};
    struct sl_sample_batch b = {NULL, 0};
    cr_assert(eq(int, sl_store_append_sketches(s, &b, &sk, 1), -EINVAL));
    sl_ddsketch_destroy(x);
    cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &x), 0));
    sk.sketch = x;
    sk.key_len = KEYLEN[0] - 1; /* not NUL-terminated */
    cr_assert(eq(int, sl_store_append_sketches(s, &b, &sk, 1), -EINVAL));
    sk.key_len = KEYLEN[0];
    sk.sketch = NULL;
    cr_assert(eq(int, sl_store_append_sketches(s, &b, &sk, 1), -EINVAL));
    /* times whose bucket arithmetic would overflow, for sketches and samples alike */
    sk.sketch = x;
    sk.t = -SL_STORE_T_LIMIT;
    cr_assert(eq(int, sl_store_append_sketches(s, &b, &sk, 1), -EINVAL));
    sk.t = INT64_MAX;
    cr_assert(eq(int, sl_store_append_sketches(s, &b, &sk, 1), -EINVAL));
    char pk[64];
    int pkl = mkkey(pk, sizeof pk, "up", NULL, NULL, NULL, NULL);
    struct sl_sample smp = {pk, (uint32_t)pkl, SL_STORE_T_LIMIT, 1};
    struct sl_sample_batch pb = {&smp, 1};
    cr_assert(eq(int, sl_store_append(s, &pb), -EINVAL));
    smp.t = SL_STORE_T_LIMIT - 1;
    cr_assert(eq(int, sl_store_append(s, &pb), 0));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_sketches, 0));
    cr_assert(eq(u64, st.head_samples, 1));
    sl_ddsketch_destroy(x);
    sl_store_close(s);
}

/* ---- blocks -------------------------------------------------------------------------------- */

static uint8_t *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    cr_assert(not(eq(ptr, f, NULL)));
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    cr_assert(eq(sz, fread(b, 1, *len, f), *len));
    fclose(f);
    return b;
}

static void spit(const char *file, const uint8_t *b, size_t len)
{
    FILE *f = fopen(file, "wb");
    cr_assert(eq(sz, fwrite(b, 1, len, f), len));
    fclose(f);
}

enum { BN = 700 }; /* three sketch chunks */

/* Block "b-1": one sample series and @nsk sketch series of BN sketches each. */
static void write_block(int nsk, enum sl_codec_lz4 lz4, uint8_t **encs, uint32_t *lens)
{
    struct sl_block_writer *w;
    cr_assert(eq(int, sl_block_writer_create(dir, "b-1", 0, 1, 1, lz4, &w), 0));
    char k[64];
    int kl = mkkey(k, sizeof k, "lat_count", "svc", "a", NULL, NULL);
    int64_t ts[BN];
    double v[BN];
    for (int i = 0; i < BN; i++) {
        ts[i] = T0 + i * 10000;
        v[i] = i;
    }
    const double *cols[1] = {v};
    cr_assert(eq(int, sl_block_writer_add(w, k, (size_t)kl, ts, cols, BN), 0));
    for (int j = 0; j < nsk; j++) {
        KEYLEN[j] = timer_key(KEY[j], sizeof KEY[j], j ? "b" : "a");
        cr_assert(eq(int, sl_block_writer_add_sketches(w, KEY[j], KEYLEN[j], ts,
                                                        (const uint8_t *const *)encs + j * BN,
                                                        lens + j * BN, BN), 0));
    }
    /* samples may not follow sketches */
    if (nsk)
        cr_assert(eq(int, sl_block_writer_add(w, "\0zz", 4, ts, cols, 1), -EINVAL));
    cr_assert(eq(int, sl_block_writer_commit(w), 0));
}

static void make_encs(uint8_t **encs, uint32_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sl_ddsketch *x;
        cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &x), 0));
        for (int k = 0; k < 15; k++)
            sl_ddsketch_add(x, latency(), 1);
        encs[i] = enc(x, &lens[i]);
        sl_ddsketch_destroy(x);
    }
}

Test(sketch, block_sketch_sections_round_trip_in_version_3)
{
    for (int lz = 0; lz < 3; lz++) {
        uint8_t *encs[2 * BN];
        uint32_t lens[2 * BN];
        make_encs(encs, lens, 2 * BN);
        write_block(2, (enum sl_codec_lz4)lz, encs, lens);
        char bdir[128], file[160];
        snprintf(bdir, sizeof bdir, "%s/b-1", dir);
        snprintf(file, sizeof file, "%s/data", bdir);
        size_t flen;
        uint8_t *raw = slurp(file, &flen);
        cr_assert(eq(u8, raw[8], SL_BLOCK_FORMAT_VERSION_SKETCHES));
        free(raw);
        struct sl_block *b;
        cr_assert(eq(int, sl_block_open(bdir, &b), 0));
        const struct sl_block_meta *m = sl_block_meta(b);
        cr_assert(eq(u64, m->nsketch_series, 2));
        cr_assert(eq(u64, m->nsketches, 2 * BN));
        cr_assert(gt(u64, m->sketch_bytes, 0));
        cr_assert(eq(u64, m->nsamples, BN));
        for (int j = 0; j < 2; j++) {
            uint32_t id;
            cr_assert(eq(int, sl_block_sketch_find(b, KEY[j], KEYLEN[j], &id), 0));
            struct sl_sketch_run r = {0};
            cr_assert(eq(int, sl_block_sketch_read(b, id, INT64_MIN, INT64_MAX, &r), 0));
            cr_assert(eq(sz, r.n, BN));
            for (int i = 0; i < BN; i++) {
                cr_assert(eq(i64, r.t[i], T0 + i * 10000));
                cr_assert(eq(u32, r.len[i], lens[j * BN + i]));
                cr_assert(eq(int, memcmp(r.enc[i], encs[j * BN + i], r.len[i]), 0));
            }
            sl_sketch_run_fini(&r);
            /* a time range selects within and across chunks */
            cr_assert(eq(int, sl_block_sketch_read(b, id, T0 + 2550000, T0 + 2600000, &r), 0));
            cr_assert(eq(sz, r.n, 6));
            cr_assert(eq(i64, r.t[0], T0 + 2550000));
            sl_sketch_run_fini(&r);
        }
        uint32_t id;
        cr_assert(eq(int, sl_block_sketch_find(b, "\3nope", 6, &id), -ENOENT));
        sl_block_close(b);
        rm_rf(bdir);
        for (int i = 0; i < 2 * BN; i++)
            free(encs[i]);
    }
}

Test(sketch, block_without_sketches_stays_version_2)
{
    write_block(0, SL_CODEC_LZ4_FAST, NULL, NULL);
    char bdir[128], file[160];
    snprintf(bdir, sizeof bdir, "%s/b-1", dir);
    snprintf(file, sizeof file, "%s/data", bdir);
    size_t flen;
    uint8_t *raw = slurp(file, &flen);
    cr_assert(eq(u8, raw[8], 2));
    free(raw);
    struct sl_block *b;
    cr_assert(eq(int, sl_block_open(bdir, &b), 0));
    cr_assert(eq(u64, sl_block_meta(b)->nsketch_series, 0));
    cr_assert(eq(u64, sl_block_meta(b)->sketch_bytes, 0));
    uint32_t id;
    cr_assert(eq(int, sl_block_sketch_find(b, "\3lat", 5, &id), -ENOENT));
    sl_block_close(b);
}

Test(sketch, block_sketch_section_damage_is_corrupt)
{
    uint8_t *encs[BN];
    uint32_t lens[BN];
    make_encs(encs, lens, BN);
    write_block(1, SL_CODEC_LZ4_HC, encs, lens);
    char bdir[128], file[160];
    snprintf(bdir, sizeof bdir, "%s/b-1", dir);
    snprintf(file, sizeof file, "%s/data", bdir);
    size_t flen;
    uint8_t *orig = slurp(file, &flen);
    /* the table of contents (last 176 bytes) locates the sketch sections */
    const uint8_t *toc = orig + flen - 176;
    uint64_t off = 0, len = 0, ioff = 0, ilen = 0;
    memcpy(&off, toc + 24 * 5, 8);
    memcpy(&len, toc + 24 * 5 + 8, 8);
    memcpy(&ioff, toc + 24 * 6, 8);
    memcpy(&ilen, toc + 24 * 6 + 8, 8);
    cr_assert(gt(u64, len, 0));
    cr_assert(gt(u64, ilen, 0));
    size_t probes[] = {off, off + len / 2, off + len - 1, ioff, ioff + ilen - 1, flen - 100};
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        orig[probes[i]] ^= 0x04;
        spit(file, orig, flen);
        orig[probes[i]] ^= 0x04;
        struct sl_block *b;
        cr_assert(eq(int, sl_block_open(bdir, &b), SL_E_CORRUPT), "offset %zu", probes[i]);
    }
    free(orig);
    for (int i = 0; i < BN; i++)
        free(encs[i]);
}

/* ---- maintenance: cut, compaction, tiers, checkpoints, deletion ---------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Merge of the kept interval sketches of series @j whose time lies in [a, b). */
static struct sl_ddsketch *merged(struct sl_ddsketch **keep, int nint, int j, int64_t a, int64_t b)
{
    struct sl_ddsketch *m;
    cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &m), 0));
    for (int i = 0; i < nint; i++) {
        int64_t t = T0 + (int64_t)i * 10000;
        if (t >= a && t < b)
            cr_assert(eq(int, sl_ddsketch_merge(m, keep[(size_t)i * NS + (size_t)j]), 0));
    }
    return m;
}

/* Each bucket of @res read from @s has exactly the bins of the merge of its intervals. */
static size_t check_buckets(struct sl_store *s, int64_t res, struct sl_ddsketch **keep, int nint)
{
    size_t total = 0;
    for (int j = 0; j < NS; j++) {
        struct sl_sketch_bucket *b;
        size_t n;
        cr_assert(eq(int, sl_store_read_sketch(s, KEY[j], KEYLEN[j], res, INT64_MIN, INT64_MAX,
                                               &b, &n), 0));
        cr_assert(eq(sz, n, (size_t)(((int64_t)nint * 10000 + res - 1) / res)));
        for (size_t i = 0; i < n; i++) {
            cr_assert(eq(i64, b[i].t, T0 + (int64_t)i * res));
            struct sl_ddsketch *m = merged(keep, nint, j, b[i].t, b[i].t + res);
            cr_assert(same_sketch(b[i].sketch, m), "series %d bucket %zu res %lld", j, i,
                      (long long)res);
            sl_ddsketch_destroy(m);
        }
        total += n;
        sl_sketch_buckets_free(b, n);
    }
    return total;
}

enum { NINT = 720 }; /* two hours of 10 s intervals: two 1 h buckets of 360 intervals each */

Test(sketch, tiers_equal_raw_merges_and_quantiles_hold_the_bound)
{
    struct sl_store *s = open_store();
    struct sl_ddsketch **keep = calloc(NINT * NS, sizeof *keep);
    double *vals[NS];
    size_t nvals[NS] = {0};
    for (int j = 0; j < NS; j++)
        vals[j] = malloc(NINT * 20 * sizeof(double));
    fill(s, 0, NINT, keep, vals, nvals);
    /* before maintenance every bucket is merged from the head on the fly */
    check_buckets(s, 3600000, keep, NINT);
    check_buckets(s, 60000, keep, NINT);
    check_buckets(s, 120000, keep, NINT); /* not a tier: raw merge */
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_sketches, 0));
    cr_assert(gt(u64, st.tier_sketch_bytes, 0));
    cr_assert(eq(u64, st.block_sketches, NINT * NS)); /* compacted, nothing lost or doubled */
    /* after it, from the tier blocks (1 h built from 1 m), and raw from blocks */
    check_buckets(s, 3600000, keep, NINT);
    check_buckets(s, 60000, keep, NINT);
    check_buckets(s, 120000, keep, NINT);
    check_raw(s, 0, 0, NINT, keep);
    /* quantiles of each 1 h bucket against the exact values of its 7200 samples */
    for (int j = 0; j < NS; j++) {
        struct sl_sketch_bucket *b;
        size_t n;
        cr_assert(eq(int, sl_store_read_sketch(s, KEY[j], KEYLEN[j], 3600000, INT64_MIN,
                                               INT64_MAX, &b, &n), 0));
        cr_assert(eq(sz, n, 2));
        for (size_t h = 0; h < n; h++) {
            size_t per = nvals[j] / 2;
            double *x = vals[j] + h * per;
            qsort(x, per, sizeof *x, dbl_cmp);
            cr_assert(eq(dbl, sl_ddsketch_count(b[h].sketch), (double)per));
            cr_assert(eq(dbl, sl_ddsketch_min(b[h].sketch), x[0]));
            cr_assert(eq(dbl, sl_ddsketch_max(b[h].sketch), x[per - 1]));
            const double qs[] = {0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999};
            for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
                double exact = x[(size_t)floor(qs[k] * (double)(per - 1))];
                double got = sl_ddsketch_quantile(b[h].sketch, qs[k]);
                cr_assert(le(dbl, fabs(got - exact), SL_DDSKETCH_ALPHA * fabs(exact) + 1e-9),
                          "q=%g got=%g exact=%g", qs[k], got, exact);
            }
        }
        sl_sketch_buckets_free(b, n);
    }
    /* a range inside the data selects the buckets starting in it */
    struct sl_sketch_bucket *b;
    size_t n;
    cr_assert(eq(int, sl_store_read_sketch(s, KEY[0], KEYLEN[0], 60000, T0 + 600000,
                                           T0 + 1200000, &b, &n), 0));
    cr_assert(eq(sz, n, 11));
    cr_assert(eq(i64, b[0].t, T0 + 600000));
    sl_sketch_buckets_free(b, n);
    cr_assert(eq(int, sl_store_read_sketch(s, KEY[0], KEYLEN[0], -1, 0, 1, &b, &n), -EINVAL));
    cr_assert(eq(int, sl_store_read_sketch(s, "\3nope", 6, 0, INT64_MIN, INT64_MAX, &b, &n), 0));
    cr_assert(eq(sz, n, 0));
    sl_store_close(s);
    /* blocks reopen with their sketch sections */
    s = open_store();
    check_buckets(s, 3600000, keep, NINT);
    sl_store_close(s);
    for (int j = 0; j < NS; j++)
        free(vals[j]);
    free_kept(keep, NINT * NS);
}

Test(sketch, checkpoint_keeps_head_sketches_across_reopen)
{
    struct sl_store *s = open_store();
    struct sl_ddsketch **keep = calloc(200 * NS, sizeof *keep);
    fill(s, 0, 200, keep, NULL, NULL); /* 2000 s: the first 600 s block range is complete */
    cr_assert(eq(int, sl_store_maintain(s, 0), 1)); /* cut + WAL checkpoint */
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(gt(u64, st.block_sketches, 0));
    cr_assert(gt(u64, st.head_sketches, 0));
    cr_assert(eq(u64, st.block_sketches + st.head_sketches, 200 * NS));
    sl_store_close(s);
    s = open_store();
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.block_sketches + st.head_sketches, 200 * NS));
    check_raw(s, 0, 0, 200, keep);
    check_raw(s, 1, 0, 200, keep);
    sl_store_close(s);
    free_kept(keep, 200 * NS);
}

static size_t count_sketches(struct sl_store *s, int j, int64_t res, int64_t a, int64_t b)
{
    struct sl_sketch_bucket *bk;
    size_t n;
    cr_assert(eq(int, sl_store_read_sketch(s, KEY[j], KEYLEN[j], res, a, b, &bk, &n), 0));
    double c = 0;
    for (size_t i = 0; i < n; i++)
        c += sl_ddsketch_count(bk[i].sketch);
    sl_sketch_buckets_free(bk, n);
    return (size_t)c;
}

Test(sketch, delete_removes_sketches_from_head_blocks_and_tiers)
{
    struct sl_store *s = open_store();
    fill(s, 0, NINT, NULL, NULL, NULL);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    fill(s, NINT, NINT + 30, NULL, NULL, NULL); /* some in the head as well */
    /* delete series a in the first hour and in the head part; b stays */
    struct sl_store_matcher m[2] = {{SL_STORE_MATCH_EQ, "__name__", "lat"},
                                    {SL_STORE_MATCH_EQ, "svc", "a"}};
    size_t nser = 0;
    cr_assert(eq(int, sl_store_delete(s, m, 2, T0, T0 + 3599999, &nser), 0));
    cr_assert(eq(sz, nser, 1));
    int64_t tail = T0 + (int64_t)NINT * 10000;
    cr_assert(eq(int, sl_store_delete(s, m, 2, tail, tail + 100000, NULL), 0));
    for (int pass = 0; pass < 2; pass++) {
        cr_assert(eq(sz, count_sketches(s, 0, 0, T0, T0 + 3599999), 0));
        cr_assert(eq(sz, count_sketches(s, 0, 0, T0 + 3600000, INT64_MAX), (360 + 19) * 20));
        cr_assert(eq(sz, count_sketches(s, 0, 3600000, T0, T0), 0)); /* tier bucket gone */
        cr_assert(eq(sz, count_sketches(s, 0, 3600000, T0 + 3600000, T0 + 3600000), 360 * 20));
        cr_assert(eq(sz, count_sketches(s, 1, 0, INT64_MIN, INT64_MAX), (NINT + 30) * 20));
        cr_assert(eq(sz, count_sketches(s, 1, 3600000, T0, T0), 360 * 20));
        /* second pass: after maintenance purged the tombstones and rewrote the blocks */
        cr_assert(eq(int, sl_store_flush_head(s), 0));
        maintain_all(s);
    }
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.tombstones, 0));
    sl_store_close(s);
}

Test(sketch, delete_inside_a_tier_bucket_hides_it_until_the_tier_is_rebuilt)
{
    struct sl_store *s = open_store();
    fill(s, 0, NINT, NULL, NULL, NULL);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    maintain_all(s);
    struct sl_store_matcher m[1] = {{SL_STORE_MATCH_EQ, "svc", "b"}};
    cr_assert(eq(int, sl_store_delete(s, m, 1, T0 + 1800000, T0 + 1800000, NULL), 0));
    /* one interval deleted: the tier's bucket holding it cannot be split, so it goes */
    cr_assert(eq(sz, count_sketches(s, 1, 3600000, T0, T0), 0));
    cr_assert(eq(sz, count_sketches(s, 1, 60000, T0 + 1800000, T0 + 1800000), 0));
    cr_assert(eq(sz, count_sketches(s, 1, 60000, T0 + 1740000, T0 + 1740000), 6 * 20));
    cr_assert(eq(sz, count_sketches(s, 1, 0, T0, T0 + 3599999), 359 * 20));
    /* maintenance purges the raw block, which makes the tiers stale: they are rebuilt */
    maintain_all(s);
    cr_assert(eq(sz, count_sketches(s, 1, 3600000, T0, T0), 359 * 20));
    cr_assert(eq(sz, count_sketches(s, 1, 60000, T0 + 1800000, T0 + 1800000), 5 * 20));
    cr_assert(eq(sz, count_sketches(s, 0, 3600000, T0, T0), 360 * 20));
    sl_store_close(s);
}

Test(sketch, retention_drops_raw_sketches_once_tiers_hold_them)
{
    cfg.raw_retention_ms = 3600000;
    cfg.tiers[0].retention_ms = 3600000;
    struct sl_store *s = open_store();
    struct sl_ddsketch **keep = calloc(NINT * NS, sizeof *keep);
    fill(s, 0, NINT, keep, NULL, NULL);
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    int rc, steps = 0;
    /* a clock two days on: raw blocks and the 1 m tier expire, the 1 h tier is kept */
    while ((rc = sl_store_maintain(s, T0 + 2 * 86400000LL)) == 1 && steps < 100000)
        steps++;
    cr_assert(eq(int, rc, 0));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.blocks, 0));
    cr_assert(eq(u64, st.block_sketches, 0));
    cr_assert(gt(u64, st.tier_sketch_bytes, 0));
    cr_assert(eq(sz, count_sketches(s, 0, 0, INT64_MIN, INT64_MAX), 0));
    cr_assert(eq(sz, count_sketches(s, 0, 60000, INT64_MIN, INT64_MAX), 0));
    check_buckets(s, 3600000, keep, NINT); /* still exactly the merge of every interval */
    sl_store_close(s);
    free_kept(keep, NINT * NS);
}
