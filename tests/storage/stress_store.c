/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cross-thread stress for the store, meant for ThreadSanitizer (suite tsan): two writer
 * threads (two shards) append batches that each write the same timestamp to a pair of
 * series, a maintenance thread cuts, compacts and downsamples, a deleter removes and
 * re-adds a third series, a churner keeps creating new series (the head's postings index
 * grows while cuts renumber it), and two readers check that every snapshot holds both
 * series of a pair with the same sample count (no half-applied batch) and that a negative
 * matcher, answered through the index's complement, never returns a churned series. Every
 * batch also carries a timer interval sketch (sl_store_append_sketches), which maintenance
 * carries into blocks and tiers, the deleter tombstones for one timer and the readers merge
 * (sl_store_read_sketch).
 * Bounded to a few seconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "storage/store.h"

static struct sl_store *st;
static atomic_int stop;
static _Atomic int64_t newest; /* writer 0's latest timestamp, for the churner */
static char keys[5][64];
static uint32_t kl[5];
static char tkeys[2][64];
static uint32_t tkl[2];

static void *writer(void *p)
{
    int w = (int)(intptr_t)p; /* writer 0 owns series 0,1; writer 1 owns 2,3 */
    struct sl_ddsketch *sk;
    if (sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &sk))
        abort();
    for (int64_t t = 0; !atomic_load_explicit(&stop, memory_order_relaxed); t += 1000) {
        struct sl_sample b[3] = {{keys[2 * w], kl[2 * w], t, (double)t},
                                 {keys[2 * w + 1], kl[2 * w + 1], t, (double)t},
                                 {keys[4], kl[4], t + w, 1}};
        struct sl_sample_batch bb = {b, 3};
        sl_ddsketch_reset(sk);
        for (int i = 0; i < 10; i++)
            sl_ddsketch_add(sk, (double)(1 + (t / 1000 + i) % 500), 1);
        struct sl_sketch_sample x = {tkeys[w], tkl[w], t, sk};
        if (sl_store_append_sketches(st, &bb, &x, 1) != 0)
            abort();
        if (w == 0)
            atomic_store_explicit(&newest, t, memory_order_relaxed); /* a hint only */
    }
    sl_ddsketch_destroy(sk);
    return NULL;
}

static void *churner(void *p)
{
    (void)p;
    char k[4][64];
    long made = 0;
    for (int n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
        struct sl_sample b[4];
        int64_t t = atomic_load_explicit(&newest, memory_order_relaxed);
        for (int j = 0; j < 4; j++) {
            char v[16];
            snprintf(v, sizeof v, "c%d", 4 * n + j);
            struct sl_label l = {"s", v, 1, (uint32_t)strlen(v)};
            int len = sl_key_build(SL_KIND_PLAIN, "x", 1, &l, 1, k[j], sizeof k[j]);
            b[j] = (struct sl_sample){k[j], (uint32_t)len, t, 1};
        }
        struct sl_sample_batch bb = {b, 4};
        int rc = sl_store_append(st, &bb);
        if (rc != 0 && rc != SL_E_LIMIT) /* a stale hint may fall outside the window */
            abort();
        made += rc == 0 ? 4 : 0;
    }
    printf("churner: %ld series created\n", made);
    return NULL;
}

static void *maintainer(void *p)
{
    (void)p;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        if (sl_store_maintain(st, 0) < 0)
            abort();
    return NULL;
}

static void *deleter(void *p)
{
    (void)p;
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "s", "4"};
    struct sl_store_matcher tm = {SL_STORE_MATCH_EQ, "s", "t1"};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (sl_store_delete(st, &m, 1, 0, 50000, NULL) != 0 ||
            sl_store_delete(st, &tm, 1, 20000, 30000, NULL) != 0)
            abort();
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *reader(void *p)
{
    (void)p;
    long checks = 0;
    size_t seen[4] = {0}; /* series 0-3 only ever grow: a select that shrinks one lost data */
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct sl_store_matcher m = {SL_STORE_MATCH_RE, "s", "[0-3]"};
        struct sl_series_set *ss;
        if (sl_store_select(st, &m, 1, INT64_MIN, INT64_MAX, 0, &ss, NULL, 0) != 0)
            abort();
        size_t n = sl_series_set_count(ss);
        for (size_t i = 0; i + 1 < n; i += 2) {
            struct sl_store_series a, b;
            sl_series_set_get(ss, i, &a);
            sl_series_set_get(ss, i + 1, &b);
            if (a.n != b.n) {
                fprintf(stderr, "half a batch: %zu vs %zu samples\n", a.n, b.n);
                abort();
            }
            for (int k = 0; k < 4; k++) /* by key: a writer may not have started yet */
                if (a.key_len == kl[k] && memcmp(a.key, keys[k], kl[k]) == 0) {
                    if (a.n < seen[k]) {
                        fprintf(stderr, "a select lost samples (a cut raced it): %zu after "
                                        "%zu\n", a.n, seen[k]);
                        abort();
                    }
                    seen[k] = a.n;
                }
            checks++;
        }
        sl_series_set_destroy(ss);
        struct sl_store_matcher neg[2] = {{SL_STORE_MATCH_EQ, "__name__", "x"},
                                          {SL_STORE_MATCH_NRE, "s", "c.*"}};
        if (sl_store_select(st, neg, 2, INT64_MIN, INT64_MAX, SL_SELECT_KEYS_ONLY, &ss, NULL,
                            0) != 0)
            abort();
        for (size_t i = 0; i < sl_series_set_count(ss); i++) {
            struct sl_store_series a;
            sl_series_set_get(ss, i, &a);
            /* [kind] x \0 s \0 value \0: the value starts at byte 5 */
            if (a.key_len < 7 || a.key[5] == 'c') {
                fprintf(stderr, "negative matcher returned a churned series\n");
                abort();
            }
        }
        sl_series_set_destroy(ss);
        char **v;
        size_t nv;
        if (sl_store_labels(st, "s", NULL, 0, INT64_MIN, INT64_MAX, &v, &nv) != 0)
            abort();
        sl_strv_free(v, nv);
        struct sl_agg *agg;
        size_t na;
        if (sl_store_read_agg(st, keys[0], kl[0], 10000, 0, INT64_MAX / 2, &agg, &na) != 0)
            abort();
        free(agg);
        for (int res = 0; res <= 10000; res += 10000) {
            struct sl_sketch_bucket *bk;
            size_t nb;
            if (sl_store_read_sketch(st, tkeys[res ? 1 : 0], tkl[res ? 1 : 0], res, 0,
                                     INT64_MAX / 2, &bk, &nb) != 0)
                abort();
            for (size_t i = 1; i < nb; i++)
                if (bk[i].t <= bk[i - 1].t)
                    abort();
            sl_sketch_buckets_free(bk, nb);
        }
    }
    printf("reader: %ld pair checks\n", checks);
    return NULL;
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    char dir[] = "/tmp/sl_stress_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    for (int i = 0; i < 5; i++) {
        char v[4];
        snprintf(v, sizeof v, "%d", i);
        struct sl_label l = {"s", v, 1, 1};
        kl[i] = (uint32_t)sl_key_build(SL_KIND_PLAIN, "x", 1, &l, 1, keys[i], sizeof keys[i]);
    }
    for (int i = 0; i < 2; i++) {
        struct sl_label l = {"s", i ? "t1" : "t0", 1, 2};
        tkl[i] = (uint32_t)sl_key_build(SL_METRIC_TIMER, "tm", 2, &l, 1, tkeys[i],
                                        sizeof tkeys[i]);
    }
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 10000;
    cfg.compact_range_ms = 60000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 1;
    cfg.tiers[0] = (struct sl_tier_cfg){10000, 0};
    if (sl_store_open(&cfg, &st))
        return 1;
    pthread_t th[7];
    pthread_create(&th[0], NULL, writer, (void *)0);
    pthread_create(&th[1], NULL, writer, (void *)1);
    pthread_create(&th[2], NULL, maintainer, NULL);
    pthread_create(&th[3], NULL, deleter, NULL);
    pthread_create(&th[4], NULL, reader, NULL);
    pthread_create(&th[5], NULL, reader, NULL);
    pthread_create(&th[6], NULL, churner, NULL);
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 7; i++)
        pthread_join(th[i], NULL);
    sl_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
