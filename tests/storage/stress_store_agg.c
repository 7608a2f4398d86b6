/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cross-thread stress for the tier reads of query/tierplan.h, meant for ThreadSanitizer
 * (suite tsan): a writer appends two series, a maintenance thread cuts, compacts,
 * downsamples (and, every so often, flushes the head so old windows close), a deleter hides
 * a range of one series, and two readers call sl_store_select_agg, sl_store_select_at and
 * sl_store_tier_span while all that happens. Each answer must be well formed: buckets sorted
 * with positive counts and starts on the resolution, samples only at the asked instants.
 * Bounded to a few seconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "storage/store.h"

static struct sl_store *st;
static atomic_int stop;
static char keys[2][64];
static uint32_t kl[2];

static void *writer(void *p)
{
    (void)p;
    for (int64_t t = 0; !atomic_load_explicit(&stop, memory_order_relaxed); t += 500) {
        struct sl_sample b[2] = {{keys[0], kl[0], t, (double)(t % 7000)},
                                 {keys[1], kl[1], t, (double)t}};
        struct sl_sample_batch bb = {b, 2};
        if (sl_store_append(st, &bb) != 0)
            abort();
        /* slow enough for maintenance to close windows and build tiers behind it */
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *maintainer(void *p)
{
    (void)p;
    for (unsigned k = 0; !atomic_load_explicit(&stop, memory_order_relaxed); k++) {
        if (sl_store_maintain(st, 0) < 0)
            abort();
        if (k % 64 == 0 && sl_store_flush_head(st) != 0)
            abort();
    }
    return NULL;
}

static void *deleter(void *p)
{
    (void)p;
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "s", "1"};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (sl_store_delete(st, &m, 1, 20000, 40000, NULL) != 0)
            abort();
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int agg_cb(void *arg, const char *key, size_t keylen, const struct sl_agg *b, size_t n)
{
    (void)key;
    (void)keylen;
    int64_t res = *(const int64_t *)arg;
    for (size_t i = 0; i < n; i++) {
        if (b[i].count <= 0 || b[i].t % res || (i && b[i].t <= b[i - 1].t)) {
            fprintf(stderr, "bad bucket %zu at %lld\n", i, (long long)b[i].t);
            abort();
        }
    }
    return 0;
}

static int at_cb(void *arg, const char *key, size_t keylen, const int64_t *t, const double *v,
                 size_t n)
{
    (void)key;
    (void)keylen;
    (void)v;
    (void)arg;
    for (size_t i = 0; i < n; i++)
        if (t[i] % 5000 || (i && t[i] <= t[i - 1])) {
            fprintf(stderr, "sample at %lld was not asked for\n", (long long)t[i]);
            abort();
        }
    return 0;
}

static void *reader(void *p)
{
    (void)p;
    long reads = 0, tiered = 0;
    int64_t at[64];
    for (int i = 0; i < 64; i++)
        at[i] = (int64_t)i * 5000;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct sl_store_matcher m = {SL_STORE_MATCH_RE, "s", "[01]"};
        for (int64_t res = 5000; res <= 10000; res += 5000) {
            size_t tw;
            if (sl_store_select_agg(st, &m, 1, res, 0, INT64_MAX / 4, SL_AGG_WITH_INCR, agg_cb,
                                    &res, &tw, NULL, 0) != 0)
                abort();
            tiered += tw > 0;
        }
        if (sl_store_select_at(st, &m, 1, at, 64, at_cb, NULL, NULL, 0) != 0)
            abort();
        struct sl_tier_span sp;
        if (sl_store_tier_span(st, 0, &sp) != 0 || sp.samples_per_bucket < 0)
            abort();
        reads++;
    }
    printf("reader: %ld rounds, %ld reads used tier blocks\n", reads, tiered);
    return NULL;
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    char dir[] = "/tmp/sl_stress_agg_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    for (int i = 0; i < 2; i++) {
        char v[4];
        snprintf(v, sizeof v, "%d", i);
        struct sl_label l = {"s", v, 1, 1};
        kl[i] = (uint32_t)sl_key_build(SL_KIND_PLAIN, "x", 1, &l, 1, keys[i], sizeof keys[i]);
    }
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 10000;
    cfg.compact_range_ms = 60000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 2;
    cfg.tiers[0] = (struct sl_tier_cfg){5000, 0};
    cfg.tiers[1] = (struct sl_tier_cfg){10000, 0};
    if (sl_store_open(&cfg, &st))
        return 1;
    pthread_t th[5];
    pthread_create(&th[0], NULL, writer, NULL);
    pthread_create(&th[1], NULL, maintainer, NULL);
    pthread_create(&th[2], NULL, deleter, NULL);
    pthread_create(&th[3], NULL, reader, NULL);
    pthread_create(&th[4], NULL, reader, NULL);
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 5; i++)
        pthread_join(th[i], NULL);
    struct sl_store_stats sst;
    sl_store_stats(st, &sst);
    printf("blocks %llu, tier blocks %llu, head samples %llu\n", (unsigned long long)sst.blocks,
           (unsigned long long)sst.tier_blocks, (unsigned long long)sst.head_samples);
    sl_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
