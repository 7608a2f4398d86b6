/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two producers feeding four shards while flushes happen every 100 ms; a summing sink
 * checks that every counter increment arrives exactly once. Plain program so it runs
 * under ThreadSanitizer (the sleeping/wake-up Dekker pair, the rings, and route hints:
 * the producers ask for and use them the way the StatsD feeder does, while one-shot
 * series expire at every flush and move the shards' epochs on).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/key.h"
#include "engine/record.h"
#include "engine/shard.h"

#define PER_PRODUCER 200000 /* at least; and for at least MIN_MS, so flushes expire series */
#define MIN_MS 600
#define MAX_PER_PRODUCER 20000000
#define NSERIES 1000

static double totals[2][NSERIES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double final_sum;
static double once[2]; /* one-shot series sent, per producer */

static int sink(void *ctx, const struct sl_flush_batch *b)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < b->n; i++)
        final_sum += b->entries[i].counter.interval;
    pthread_mutex_unlock(&mu);
    return 0;
}

struct prod_arg {
    struct sl_producer *p;
    int idx;
    struct {
        void *hint;
        uint32_t epoch; /* 0: not asked; UINT32_MAX: asked; else the hint's epoch */
        uint32_t stamp; /* the series' slot here never changes hands: the index does */
    } route[NSERIES];
    uint64_t replies;
};

static void take_reply(void *ctx, const struct sl_route_reply *r)
{
    struct prod_arg *a = ctx;
    a->replies++;
    if (r->route < NSERIES && a->route[r->route].epoch != 0 && r->stamp == r->route + 1) {
        a->route[r->route].hint = r->hint;
        a->route[r->route].epoch = r->epoch;
    }
}

static void *produce(void *arg)
{
    struct prod_arg *a = arg;
    char key[64];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < MAX_PER_PRODUCER; i++) {
        if (i >= PER_PRODUCER && (i & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= MIN_MS)
                break;
        }
        char name[32];
        int s = (int)(((uint64_t)i * 7919) % NSERIES);
        snprintf(name, sizeof name, "m%d", s);
        int n = sl_key_build(SL_METRIC_COUNTER, name, strlen(name), NULL, 0, key, sizeof key);
        uint64_t id = sl_key_hash(key, (size_t)n);
        struct sl_record *r;
        sl_producer_enter(a->p);
        int hinted = a->route[s].epoch == sl_producer_epoch(a->p, id);
        uint32_t stamp = (uint32_t)s + 1;
        uint32_t len = hinted ? (uint32_t)sizeof *r
                              : (uint32_t)(sizeof *r + (size_t)n + sizeof stamp);
        while (!(r = sl_producer_alloc(a->p, id, len)))
            sl_producer_publish(a->p); /* full: let the shard drain */
        *r = (struct sl_record){.kind = SL_REC_SAMPLE, .mtype = SL_METRIC_COUNTER,
                                .key_len = (uint16_t)n, .id = id, .value = 1, .rate = 1};
        if (hinted) {
            r->flags = SL_REC_F_HINTED;
            r->hint = a->route[s].hint;
            r->key_len = 0;
            r->route_lo = (uint16_t)(a->route[s].epoch & SL_REC_EPOCH_MASK);
        } else {
            r->flags = SL_REC_F_ROUTE_REQ;
            sl_record_set_route(r, (uint32_t)s);
            a->route[s].epoch = UINT32_MAX;
            memcpy(r->key, key, (size_t)n);
            memcpy(r->key + n, &stamp, sizeof stamp);
        }
        totals[a->idx][s] += 1;
        if ((i & 15) == 0) {
            sl_producer_publish(a->p);
            sl_producer_quiesce(a->p); /* shards may free what expired before this */
            sl_producer_poll_replies(a->p, take_reply, a);
        }
        if ((i & 1023) == 0) {
            /* a series sent once: it expires at the next flush but one */
            snprintf(name, sizeof name, "once%d.%d", a->idx, i);
            n = sl_key_build(SL_METRIC_COUNTER, name, strlen(name), NULL, 0, key, sizeof key);
            id = sl_key_hash(key, (size_t)n);
            while (!(r = sl_producer_alloc(a->p, id, (uint32_t)(sizeof *r + (size_t)n))))
                sl_producer_publish(a->p);
            *r = (struct sl_record){.kind = SL_REC_SAMPLE, .mtype = SL_METRIC_COUNTER,
                                    .key_len = (uint16_t)n, .id = id, .value = 1, .rate = 1};
            memcpy(r->key, key, (size_t)n);
            once[a->idx]++;
        }
    }
    sl_producer_publish(a->p);
    sl_producer_quiesce(a->p);
    return NULL;
}

int main(void)
{
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = 4;
    cfg.nproducers = 2;
    cfg.ring_bytes = 65536;
    cfg.flush_interval_ms = 100;
    cfg.expire_intervals = 1;
    cfg.sink.flush = sink;
    struct sl_shardset *set;
    if (sl_shardset_create(&cfg, &set) || sl_shardset_start(set)) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    pthread_t th[2];
    static struct prod_arg args[2];
    for (int i = 0; i < 2; i++) {
        args[i].p = sl_shardset_producer(set, (uint32_t)i);
        args[i].idx = i;
        pthread_create(&th[i], NULL, produce, &args[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    sl_shardset_stop(set);
    double want = once[0] + once[1];
    for (int p = 0; p < 2; p++)
        for (int s = 0; s < NSERIES; s++)
            want += totals[p][s];
    uint64_t expired = 0, records = 0, keyed = 0;
    for (uint32_t s = 0; s < cfg.nshards; s++) {
        expired += sl_stat_get(&sl_shardset_stats(set, s)->series_expired);
        records += sl_stat_get(&sl_shardset_stats(set, s)->records);
        keyed += sl_stat_get(&sl_shardset_stats(set, s)->records_keyed);
    }
    printf("records=%llu keyed=%llu expired=%llu\n", (unsigned long long)records,
           (unsigned long long)keyed, (unsigned long long)expired);
    if (expired == 0 || keyed * 2 > records) {
        fprintf(stderr, "expected expiry and mostly hinted records\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (args[0].replies == 0 || args[1].replies == 0) {
        fprintf(stderr, "no route replies reached a producer\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    sl_shardset_destroy(set);
    if (final_sum != want) {
        fprintf(stderr, "sum of flushed intervals %.0f, want %.0f\n", final_sum, want);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    printf("1 passed, 0 failed\n");
    return 0;
}
