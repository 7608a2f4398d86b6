/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shard semantics through the real runtime: records go in through a producer, the shard
 * threads aggregate, and a capturing sink keeps the last flushed entry of every series.
 * sl_shardset_stop() drains and runs the final flush, so each test ends deterministic.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <xxhash.h>

#include "engine/key.h"
#include "engine/record.h"
#include "engine/shard.h"

#define MAXS 64
struct captured {
    char key[128];
    uint32_t key_len;
    struct sl_flush_entry e;
    double q50, q99, min, max;
    double last_counted; /* the last nonzero counter interval: later idle flushes show 0 */
    int flushes;
};
static struct captured cap[MAXS];
static int ncap;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int capture(void *ctx, const struct sl_flush_batch *b)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_flush_entry *e = &b->entries[i];
        struct captured *c = NULL;
        for (int k = 0; k < ncap; k++)
            if (cap[k].key_len == e->key_len && !memcmp(cap[k].key, e->key, e->key_len))
                c = &cap[k];
        if (!c && ncap < MAXS) {
            c = &cap[ncap++];
            memcpy(c->key, e->key, e->key_len);
            c->key_len = e->key_len;
        }
        if (!c)
            continue;
        c->e = *e;
        c->flushes++;
        if (e->mtype == SL_METRIC_COUNTER && e->counter.interval != 0)
            c->last_counted = e->counter.interval;
        if (e->mtype == SL_METRIC_TIMER && e->timer.sketch) {
            c->q50 = sl_ddsketch_quantile(e->timer.sketch, 0.5);
            c->q99 = sl_ddsketch_quantile(e->timer.sketch, 0.99);
            c->min = sl_ddsketch_min(e->timer.sketch);
            c->max = sl_ddsketch_max(e->timer.sketch);
        }
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

static struct sl_shardset *set;
static struct sl_producer *prod;

static void start_with(uint32_t nshards, int64_t interval_ms, uint32_t series_limit,
                       uint32_t expire, sl_sink_flush_fn *sink)
{
    ncap = 0;
    memset(cap, 0, sizeof cap);
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = nshards;
    cfg.nproducers = 1;
    cfg.ring_bytes = 1u << 20;
    cfg.flush_interval_ms = interval_ms;
    cfg.series_limit = series_limit;
    cfg.expire_intervals = expire;
    cfg.sink.flush = sink;
    cr_assert(eq(int, sl_shardset_create(&cfg, &set), 0));
    cr_assert(eq(int, sl_shardset_start(set), 0));
    prod = sl_shardset_producer(set, 0);
}

static void start(uint32_t series_limit, uint32_t expire)
{
    start_with(2, 100, series_limit, expire, capture);
}

static void stop(void)
{
    sl_shardset_stop(set);
}

static void teardown(void)
{
    sl_shardset_destroy(set);
    set = NULL;
}
TestSuite(shard, .fini = teardown, .timeout = 20);

static int key_of(uint8_t type, const char *name, char *k)
{
    return sl_key_build(type, name, strlen(name), NULL, 0, k, 128);
}

static void push(uint8_t type, const char *name, double v, double rate, uint8_t flags)
{
    char k[128];
    int n = key_of(type, name, k);
    uint64_t id = sl_key_hash(k, (size_t)n);
    struct sl_record *r = sl_producer_alloc(prod, id, (uint32_t)(sizeof *r + (size_t)n));
    cr_assert(ne(ptr, r, NULL));
    *r = (struct sl_record){.kind = SL_REC_SAMPLE, .mtype = type, .flags = flags,
                            .key_len = (uint16_t)n, .id = id, .rate = rate};
    if (type == SL_METRIC_SET)
        r->member = (uint64_t)v;
    else
        r->value = v;
    memcpy(r->key, k, (size_t)n);
    sl_producer_publish(prod);
}

static struct captured *find(uint8_t type, const char *name)
{
    char k[128];
    int n = key_of(type, name, k);
    for (int i = 0; i < ncap; i++)
        if (cap[i].key_len == (uint32_t)n && !memcmp(cap[i].key, k, (size_t)n))
            return &cap[i];
    return NULL;
}

/* A shard with a steady trickle naps NAP_MS at a time instead of being woken for every
 * publish. The producer's view of the ring's fill only grows between its looks at the
 * consumer, so once 1/8 of the ring had passed through, every publish used to wake the
 * napping shard: thousands of wake-ups here instead of about one per 2 ms. */
Test(shard, steady_trickle_does_not_wake_the_shard_per_publish)
{
    start(0, 0);
    char k[128];
    int n = key_of(SL_METRIC_COUNTER, "trickle", k);
    uint64_t id = sl_key_hash(k, (size_t)n);
    uint32_t rlen = (uint32_t)(sizeof(struct sl_record) + (size_t)n);
    enum { PUBLISHES = 3000, PER_PUBLISH = 10 };
    uint64_t before = 0, after = 0;
    for (uint32_t s = 0; s < 2; s++)
        before += sl_stat_get(&sl_shardset_stats(set, s)->sleeps);
    for (int i = 0; i < PUBLISHES; i++) {
        for (int j = 0; j < PER_PUBLISH; j++) {
            struct sl_record *r = sl_producer_alloc(prod, id, rlen);
            cr_assert(ne(ptr, r, NULL));
            *r = (struct sl_record){.kind = SL_REC_SAMPLE, .mtype = SL_METRIC_COUNTER,
                                    .key_len = (uint16_t)n, .id = id, .rate = 1.0,
                                    .value = 1};
            memcpy(r->key, k, (size_t)n);
        }
        sl_producer_publish(prod);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    for (uint32_t s = 0; s < 2; s++)
        after += sl_stat_get(&sl_shardset_stats(set, s)->sleeps);
    stop();
    struct captured *c = find(SL_METRIC_COUNTER, "trickle");
    cr_assert(ne(ptr, c, NULL));
    cr_assert(eq(dbl, c->e.counter.total, PUBLISHES * PER_PUBLISH), "nothing lost");
    cr_assert(lt(u64, after - before, PUBLISHES / 3), "sleeps=%llu for %d publishes",
              (unsigned long long)(after - before), PUBLISHES);
}

Test(shard, counter_with_sample_rate_counts_inverse_rate)
{
    start(0, 30);
    push(SL_METRIC_COUNTER, "c", 1, 0.1, 0);
    push(SL_METRIC_COUNTER, "c", 2, 1.0, 0);
    stop();
    struct captured *c = find(SL_METRIC_COUNTER, "c");
    cr_assert(ne(ptr, c, NULL));
    cr_assert(ieee_ulp_eq(dbl, c->e.counter.total, 12.0, 4));
}

Test(shard, gauge_deltas_apply_to_last_value)
{
    start(0, 30);
    push(SL_METRIC_GAUGE, "g", 10, 1, 0);
    push(SL_METRIC_GAUGE, "g", 5, 1, SL_REC_F_DELTA);
    push(SL_METRIC_GAUGE, "g", -7, 1, SL_REC_F_DELTA);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_GAUGE, "g")->e.gauge.value, 8.0));
}

Test(shard, gauge_delta_without_prior_value_starts_from_zero)
{
    start(0, 30);
    push(SL_METRIC_GAUGE, "g2", -3, 1, SL_REC_F_DELTA);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_GAUGE, "g2")->e.gauge.value, -3.0));
}

Test(shard, timer_reports_count_sum_min_max_and_quantiles)
{
    start(0, 30);
    for (int i = 1; i <= 100; i++)
        push(SL_METRIC_TIMER, "t", i, 1, 0);
    stop();
    struct captured *c = find(SL_METRIC_TIMER, "t");
    cr_assert(eq(dbl, c->e.timer.total_count, 100.0));
    cr_assert(eq(dbl, c->e.timer.total_sum, 5050.0));
    cr_assert(eq(dbl, c->min, 1.0));
    cr_assert(eq(dbl, c->max, 100.0));
    cr_assert(le(dbl, fabs(c->q50 - 50.0), 0.01 * 50.0 + 1e-9));
    cr_assert(le(dbl, fabs(c->q99 - 99.0), 0.01 * 99.0 + 1e-9));
}

Test(shard, set_counts_distinct_members)
{
    start(0, 30);
    for (int i = 0; i < 50; i++)
        push(SL_METRIC_SET, "s", (double)XXH3_64bits(&i, sizeof i), 1, 0);
    for (int i = 0; i < 50; i++)
        push(SL_METRIC_SET, "s", (double)XXH3_64bits(&i, sizeof i), 1, 0);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_SET, "s")->e.set.distinct, 50.0));
}

Test(shard, series_limit_refuses_new_series_and_keeps_existing)
{
    start(1, 30); /* one series per shard */
    char name[16];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "s%d", i);
        push(SL_METRIC_COUNTER, name, 1, 1, 0);
    }
    stop();
    uint64_t active = 0, refused = 0;
    for (uint32_t s = 0; s < 2; s++) {
        active += sl_stat_get(&sl_shardset_stats(set, s)->series_active);
        refused += sl_stat_get(&sl_shardset_stats(set, s)->series_refused);
    }
    cr_assert(le(u64, active, 2));
    cr_assert(eq(u64, active + refused, 20));
}

/* Flushes of @name seen by the sink so far (0 when it never flushed). */
static int flushes_of(uint8_t type, const char *name)
{
    pthread_mutex_lock(&mu);
    struct captured *c = find(type, name);
    int n = c ? c->flushes : 0;
    pthread_mutex_unlock(&mu);
    return n;
}

static uint64_t expired_total(void)
{
    uint64_t n = 0;
    for (uint32_t s = 0; s < 2; s++)
        n += sl_stat_get(&sl_shardset_stats(set, s)->series_expired);
    return n;
}

/* Sleep 10 ms at a time until @done() or 10 s: the shard threads run on a shared machine,
 * so the tests wait for what they check rather than for a number of flush periods. */
#define WAIT_FOR(cond)                                                                     \
    for (int waited_ = 0; !(cond) && waited_ < 1000; waited_++)                            \
        nanosleep(&(struct timespec){0, 10 * 1000000}, NULL)

Test(shard, idle_series_expire_after_configured_intervals)
{
    start(0, 2);
    push(SL_METRIC_COUNTER, "idle", 1, 1, 0);
    WAIT_FOR(expired_total() == 1);
    stop();
    cr_assert(eq(u64, expired_total(), 1));
    /* Flushed while live (with data, then idle twice), then gone. */
    cr_assert(ge(int, find(SL_METRIC_COUNTER, "idle")->flushes, 3));
}

Test(shard, counter_interval_resets_and_total_keeps_growing)
{
    start(0, 30);
    push(SL_METRIC_COUNTER, "k", 5, 1, 0);
    WAIT_FOR(flushes_of(SL_METRIC_COUNTER, "k") >= 1); /* an interval boundary in between */
    push(SL_METRIC_COUNTER, "k", 2, 1, 0);
    stop();
    struct captured *c = find(SL_METRIC_COUNTER, "k");
    cr_assert(eq(dbl, c->e.counter.total, 7.0));
    cr_assert(eq(dbl, c->last_counted, 2.0), "the 2 had an interval of its own");
}

/* A sink that holds the first batch carrying timer data until released, as a store write
 * stalled on a slow disk would; it notes what each batch said about timer "t". */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
    double first_count, first_max, later_count, later_min;
} slow = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0};

static int slow_sink(void *ctx, const struct sl_flush_batch *b)
{
    (void)ctx;
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_flush_entry *e = &b->entries[i];
        if (e->mtype != SL_METRIC_TIMER || !e->timer.sketch)
            continue;
        pthread_mutex_lock(&slow.mu);
        if (!slow.entered) {
            slow.first_count = e->timer.count;
            slow.first_max = sl_ddsketch_max(e->timer.sketch);
            slow.entered = 1;
            pthread_cond_broadcast(&slow.cv);
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 10;
            while (!slow.released && pthread_cond_timedwait(&slow.cv, &slow.mu, &dl) == 0)
                ;
        } else {
            slow.later_count += e->timer.count;
            slow.later_min = sl_ddsketch_min(e->timer.sketch);
        }
        pthread_mutex_unlock(&slow.mu);
    }
    return 0;
}

/* The sink runs beside the shard, not in it: while it sits on one interval's batch the
 * shard keeps applying records (before, a 45-165 ms store write at each flush stopped the
 * drain and DPDK dropped what the rings could not hold), and the timer handed to the sink
 * is that interval's alone, not mixed with samples that arrived while it was written. */
Test(shard, a_slow_sink_does_not_stop_aggregation)
{
    start_with(1, 1000, 0, 30, slow_sink);
    const struct sl_shard_stats *st = sl_shardset_stats(set, 0);

    for (int i = 0; i < 10; i++)
        push(SL_METRIC_TIMER, "t", 1.0, 1.0, 0);
    pthread_mutex_lock(&slow.mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    while (!slow.entered && pthread_cond_timedwait(&slow.cv, &slow.mu, &dl) == 0)
        ;
    int entered = slow.entered;
    pthread_mutex_unlock(&slow.mu);
    cr_assert(entered, "the first flush never reached the sink");

    /* The sink is blocked now; the next flush boundary is ~1 s away. */
    uint64_t before = sl_stat_get(&st->records);
    for (int i = 0; i < 500; i++)
        push(SL_METRIC_COUNTER, "c", 1.0, 1.0, 0);
    for (int i = 0; i < 5; i++)
        push(SL_METRIC_TIMER, "t", 1000.0, 1.0, 0);
    uint64_t applied = 0;
    for (int tries = 0; tries < 400 && applied < 505; tries++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        applied = sl_stat_get(&st->records) - before;
    }
    pthread_mutex_lock(&slow.mu);
    slow.released = 1;
    pthread_cond_broadcast(&slow.cv);
    pthread_mutex_unlock(&slow.mu);
    cr_expect(eq(u64, applied, 505), "records applied while the sink was busy: %llu of 505",
              (unsigned long long)applied);

    sl_shardset_stop(set);
    cr_expect(eq(dbl, slow.first_count, 10.0));
    cr_expect(lt(dbl, slow.first_max, 1.1), "the blocked batch's timer saw a later sample");
    cr_expect(eq(dbl, slow.later_count, 5.0));
    cr_expect(gt(dbl, slow.later_min, 900.0));
}

/* ---- route hints (shard.h) ----------------------------------------------------------- */

/* The stamp a test's route request for cache slot @route carries. */
static uint32_t stamp_of(uint32_t route)
{
    return route * 2654435761u + 1;
}

/* Push one record for @name: a route request naming cache slot @route when @hint is NULL
 * (with key and stamp), else a hinted record carrying @hint and @epoch (no key). @id is
 * the series id a request carries (the key's own hash unless a test forges a collision)
 * and picks the shard either way. */
static void push_routed(uint8_t type, const char *name, uint64_t id, double v, uint32_t route,
                        void *hint, uint32_t epoch)
{
    char k[128];
    int n = key_of(type, name, k);
    uint32_t stamp = stamp_of(route);
    uint32_t len = hint ? (uint32_t)sizeof(struct sl_record)
                        : (uint32_t)(sizeof(struct sl_record) + (size_t)n + sizeof stamp);
    struct sl_record *r = sl_producer_alloc(prod, id, len);
    cr_assert(ne(ptr, r, NULL));
    *r = (struct sl_record){.kind = SL_REC_SAMPLE, .mtype = type, .rate = 1.0, .value = v};
    if (hint) {
        r->flags = SL_REC_F_HINTED;
        r->hint = hint;
        r->route_lo = (uint16_t)(epoch & SL_REC_EPOCH_MASK);
    } else {
        r->flags = SL_REC_F_ROUTE_REQ;
        r->id = id;
        r->key_len = (uint16_t)n;
        sl_record_set_route(r, route);
        memcpy(r->key, k, (size_t)n);
        memcpy(r->key + n, &stamp, sizeof stamp);
    }
    sl_producer_publish(prod);
}

static uint64_t id_of(uint8_t type, const char *name)
{
    char k[128];
    return sl_key_hash(k, (size_t)key_of(type, name, k));
}

static struct sl_route_reply replies[8];
static int nreplies;

static void take_reply(void *ctx, const struct sl_route_reply *r)
{
    (void)ctx;
    if (nreplies < 8)
        replies[nreplies++] = *r;
}

static uint64_t shard_sum(size_t field_offset)
{
    uint64_t n = 0;
    for (uint32_t s = 0; s < 2; s++) {
        const char *st = (const char *)sl_shardset_stats(set, s);
        n += sl_stat_get((const sl_counter *)(const void *)(st + field_offset));
    }
    return n;
}
#define SHARD_SUM(f) shard_sum(offsetof(struct sl_shard_stats, f))

/* Start the shards for a route hint test: no series limit, expiry after @expire idle
 * flushes, no replies seen yet. */
static void start_routed(uint32_t expire)
{
    nreplies = 0;
    start(0, expire);
}

/* Send a route request for counter @name (series id @id) naming cache slot @route, and
 * return the shard's reply to it. */
static struct sl_route_reply ask_route(const char *name, uint64_t id, double v, uint32_t route)
{
    int before = nreplies;
    push_routed(SL_METRIC_COUNTER, name, id, v, route, NULL, 0);
    WAIT_FOR((sl_producer_poll_replies(prod, take_reply, NULL), nreplies > before));
    cr_assert(eq(int, nreplies, before + 1));
    cr_assert(eq(u32, replies[before].stamp, stamp_of(route)), "the reply echoes the stamp");
    return replies[before];
}

Test(shard, route_request_is_answered_and_the_hint_applies)
{
    start_routed(30);
    uint64_t id = id_of(SL_METRIC_COUNTER, "routed");
    struct sl_route_reply rr = ask_route("routed", id, 2, 0xabcdef);
    cr_assert(eq(u32, rr.route, 0xabcdef), "the reply names the asking slot");
    cr_assert(eq(u64, rr.id, id));
    cr_assert(eq(u32, rr.epoch, 1), "shard epochs start at 1");
    cr_assert(ne(ptr, rr.hint, NULL));
    for (int i = 0; i < 3; i++)
        push_routed(SL_METRIC_COUNTER, "routed", id, 5, 0, rr.hint, rr.epoch);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_COUNTER, "routed")->e.counter.total, 17.0));
    cr_assert(eq(u64, SHARD_SUM(records), 4));
    cr_assert(eq(u64, SHARD_SUM(records_keyed), 1), "the hinted records skipped the table");
    cr_assert(eq(u64, SHARD_SUM(hints_stale), 0));
    cr_assert(eq(u64, SHARD_SUM(bad_records), 0));
}

/* Two keys sharing an id (forged here; XXH3 makes it rare, not impossible) each get a
 * hint of their own, found by comparing their own bytes: hinted records keep them apart. */
Test(shard, colliding_ids_get_a_hint_each)
{
    start_routed(30);
    uint64_t id = id_of(SL_METRIC_COUNTER, "a");
    struct sl_route_reply ra = ask_route("a", id, 1, 1);
    struct sl_route_reply rb = ask_route("b", id, 10, 2); /* same id, other key */
    cr_assert(ne(ptr, ra.hint, rb.hint));
    push_routed(SL_METRIC_COUNTER, "a", id, 100, 0, ra.hint, ra.epoch);
    push_routed(SL_METRIC_COUNTER, "b", id, 1000, 0, rb.hint, rb.epoch);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_COUNTER, "a")->e.counter.total, 101.0));
    cr_assert(eq(dbl, find(SL_METRIC_COUNTER, "b")->e.counter.total, 1010.0));
    cr_assert(eq(u64, SHARD_SUM(series_collisions), 1));
}

/* A hint from an earlier epoch still names readable memory; the record goes by the key
 * read from it, to the series itself while it lives. */
Test(shard, hint_from_an_earlier_epoch_goes_by_its_key)
{
    start_routed(30);
    uint64_t id = id_of(SL_METRIC_COUNTER, "old");
    struct sl_route_reply rr = ask_route("old", id, 1, 3);
    push_routed(SL_METRIC_COUNTER, "old", id, 2, 0, rr.hint, rr.epoch + 1);
    stop();
    cr_assert(eq(dbl, find(SL_METRIC_COUNTER, "old")->e.counter.total, 3.0));
    cr_assert(eq(u64, SHARD_SUM(hints_stale), 1));
    cr_assert(eq(u64, SHARD_SUM(records_keyed), 2));
    cr_assert(eq(u64, SHARD_SUM(series_created), 1));
}

/* An expired series is not freed while the producer that may hold a hint to it is inside
 * a batch: a hinted record sent from that batch after the expiry still reads its key (ASan
 * would name a freed read) and brings the series back. */
Test(shard, expired_series_outlive_the_batch_that_may_name_them)
{
    start_routed(1);
    uint64_t id = id_of(SL_METRIC_COUNTER, "gone");
    sl_producer_enter(prod);
    struct sl_route_reply rr = ask_route("gone", id, 1, 4);
    WAIT_FOR(expired_total() == 1);
    cr_assert(eq(u64, expired_total(), 1));
    /* two more flush periods: the shard passes its limbo check several times */
    nanosleep(&(struct timespec){0, 250 * 1000000}, NULL);
    push_routed(SL_METRIC_COUNTER, "gone", id, 7, 0, rr.hint, rr.epoch);
    sl_producer_quiesce(prod);
    stop();
    cr_assert(eq(u64, SHARD_SUM(hints_stale), 1));
    cr_assert(eq(u64, SHARD_SUM(series_created), 2), "created, expired, created again");
    cr_assert(eq(dbl, find(SL_METRIC_COUNTER, "gone")->e.counter.total, 7.0));
}

static void count_reply(void *ctx, const struct sl_route_reply *r)
{
    (void)r;
    ++*(int *)ctx;
}

/* More route requests than the reply ring holds, with the producer not reading replies:
 * the replies that do not fit are dropped, and nothing else is. Every record is applied,
 * and a request sent once the ring has room is answered again. */
Test(shard, a_full_reply_ring_drops_replies_not_records)
{
    start_routed(30);
    enum { N = 5000 };
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "r%d", i);
        push_routed(SL_METRIC_COUNTER, name, id_of(SL_METRIC_COUNTER, name), 1, (uint32_t)i,
                    NULL, 0);
    }
    WAIT_FOR(SHARD_SUM(records) == N);
    cr_assert(eq(u64, SHARD_SUM(records), N), "every request applied");
    int got = 0;
    sl_producer_poll_replies(prod, count_reply, &got);
    cr_assert(lt(int, got, N), "the reply rings hold fewer than %d replies", N);
    cr_assert(gt(int, got, 0));
    /* room again: the next request for r0 is answered */
    nreplies = 0;
    struct sl_route_reply rr = ask_route("r0", id_of(SL_METRIC_COUNTER, "r0"), 1, 0);
    cr_assert(ne(ptr, rr.hint, NULL));
    stop();
    cr_assert(eq(u64, SHARD_SUM(records), N + 1));
    cr_assert(eq(u64, SHARD_SUM(series_created), N));
}
