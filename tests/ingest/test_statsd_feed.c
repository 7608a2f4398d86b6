/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for ingest/statsd_feed.c through real shards: a feeder with a series key cache
 * (big, tiny) and one without turn the same random StatsD traffic — shuffled tags, packed
 * values, gauge deltas, sets, events, service checks, malformed and over-long lines —
 * into exactly the same flushed series and the same counters, and the cached feeder
 * really hits.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "engine/shard.h"
#include "engine/sink.h"
#include "ingest/statsd_feed.h"

TestSuite(statsd_feed, .timeout = 60);

#define MAX_SERIES 4096

struct flushed {
    char key[256];
    uint32_t key_len;
    uint8_t mtype;
    double a, b; /* counter total/interval, gauge value, timer count/sum, set distinct */
};

struct collect {
    pthread_mutex_t mu;
    struct flushed *out;
    size_t n;
};

static int collect_flush(void *ctx, const struct sl_flush_batch *b)
{
    struct collect *c = ctx;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < b->n && c->n < MAX_SERIES; i++) {
        const struct sl_flush_entry *e = &b->entries[i];
        struct flushed *f = &c->out[c->n++];
        memset(f, 0, sizeof *f);
        f->key_len = e->key_len < sizeof f->key ? e->key_len : (uint32_t)sizeof f->key;
        memcpy(f->key, e->key, f->key_len);
        f->mtype = e->mtype;
        switch (e->mtype) {
        case SL_METRIC_COUNTER:
        case SL_METRIC_EVENT:
            f->a = e->counter.total;
            f->b = e->counter.interval;
            break;
        case SL_METRIC_GAUGE:
        case SL_METRIC_SERVICE_CHECK:
            f->a = e->gauge.value;
            break;
        case SL_METRIC_TIMER:
            f->a = e->timer.count;
            f->b = e->timer.sum;
            break;
        case SL_METRIC_SET:
            f->a = e->set.distinct;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int cmp_flushed(const void *x, const void *y)
{
    const struct flushed *a = x, *b = y;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* One random line of the mix into @out; returns its length. */
static int random_line(char *out, size_t cap)
{
    static const char *const tags[] = {"env:prod", "region:eu", "host:web-1", "bad", "k:",
                                       "svc.name:a-b", "env:dev"};
    static const char *const types[] = {"c", "g", "ms", "h", "d", "s"};
    uint32_t series = rnd(150);
    int n = 0;
    switch (rnd(20)) {
    case 0:
        return snprintf(out, cap, "_e{3,4}:t%02u|text|#env:prod", series % 10);
    case 1:
        return snprintf(out, cap, "_sc|chk.%u|%u|#env:prod", series % 5, rnd(4));
    case 2:
        return snprintf(out, cap, "bad.%u:x|c", series);
    case 3: { /* over max_line */
        n = snprintf(out, cap, "long.");
        while (n < 340)
            out[n++] = 'x';
        return n + snprintf(out + n, cap - (size_t)n, ":1|c");
    }
    default:
        break;
    }
    const char *type = types[series % 6];
    n += snprintf(out + n, cap - (size_t)n, "m%u.%s", series, series % 3 ? "req" : "a-b");
    if (series % 6 == 5) { /* set */
        n += snprintf(out + n, cap - (size_t)n, ":u%u|s", rnd(20));
    } else {
        uint32_t nv = rnd(4) ? 1 : 1 + rnd(12); /* sometimes more than the feeder keeps */
        for (uint32_t i = 0; i < nv; i++) {
            const char *sign = series % 6 == 1 && rnd(2) ? (rnd(2) ? "+" : "-") : "";
            n += snprintf(out + n, cap - (size_t)n, ":%s%u", sign, rnd(50));
        }
        n += snprintf(out + n, cap - (size_t)n, "|%s", type);
        if (rnd(3) == 0)
            n += snprintf(out + n, cap - (size_t)n, "|@0.5");
    }
    if (series % 2) { /* tags, in a random order each time */
        uint32_t pick[3] = {series % 7, (series / 7) % 7, rnd(7)};
        for (uint32_t i = 2; i > 0; i--) {
            uint32_t j = rnd(i + 1), t = pick[i];
            pick[i] = pick[j];
            pick[j] = t;
        }
        n += snprintf(out + n, cap - (size_t)n, "|#%s,%s,%s", tags[pick[0]], tags[pick[1]],
                      tags[pick[2]]);
    }
    return n;
}

struct run_result {
    struct flushed *series;
    size_t n;
    struct sl_statsd_feed_stats st;
    uint64_t records, keyed; /* the shards': applied, and looked up by key (not hinted) */
};

/* How run() hands the traffic over: one ~40-line buffer per sl_statsd_feed() call, or every
 * line as its own buffer (1-line datagrams) in batches through sl_statsd_feed_many. */
enum feed_mode { FEED_BUFFERS, FEED_LINE_BATCHES };

/* Split @buf's lines into 1-line buffers, fed in batches of 1, 2, ... 64 buffers. */
static void feed_line_batches(struct sl_statsd_feed *f, char *buf, size_t used, uint64_t *nbufs)
{
    static uint32_t batch_size;
    struct sl_statsd_buf b[64];
    size_t nb = 0, start = 0;
    for (size_t i = 0; i <= used; i++) {
        if (i < used && buf[i] != '\n')
            continue;
        if (i > start)
            b[nb++] = (struct sl_statsd_buf){buf + start, i - start};
        start = i + 1;
        if (nb == batch_size % 64 + 1 || (i == used && nb)) {
            cr_assert(ge(int, sl_statsd_feed_many_nopublish(f, b, nb), 0));
            sl_statsd_feed_publish(f);
            *nbufs += nb;
            nb = 0;
            batch_size++;
        }
    }
}

static void run_mode(uint32_t cache_entries, uint64_t seed, enum feed_mode mode,
                     struct run_result *res)
{
    static struct collect col;
    pthread_mutex_init(&col.mu, NULL);
    col.out = calloc(MAX_SERIES, sizeof *col.out);
    col.n = 0;
    cr_assert(not(eq(ptr, col.out, NULL)));
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = 2;
    cfg.nproducers = 1;
    cfg.flush_interval_ms = 3600 * 1000;
    cfg.sink = (struct sl_sink_ops){.flush = collect_flush, .ctx = &col};
    struct sl_shardset *set;
    cr_assert(eq(int, sl_shardset_create(&cfg, &set), 0));
    cr_assert(eq(int, sl_shardset_start(set), 0));
    static struct sl_statsd_feed_stats st;
    memset(&st, 0, sizeof st);
    struct sl_statsd_feed f = {.prod = sl_shardset_producer(set, 0),
                               .stats = &st,
                               .listener = "test",
                               .block_when_full = 1,
                               .max_line = 300};
    cr_assert(eq(int, sl_statsd_feed_init(&f, cache_entries), 0));
    rng = seed;
    char buf[1400];
    uint64_t nbufs = 0;
    for (int b = 0; b < 1500; b++) {
        size_t used = 0;
        char line[512];
        for (int k = 0; k < 40; k++) {
            int n = random_line(line, sizeof line);
            if (used + (size_t)n + 1 > sizeof buf)
                break;
            memcpy(buf + used, line, (size_t)n);
            used += (size_t)n;
            buf[used++] = '\n';
        }
        if (mode == FEED_BUFFERS) {
            cr_assert(ge(int, sl_statsd_feed(&f, buf, used), 0));
            nbufs++;
        } else {
            feed_line_batches(&f, buf, used, &nbufs);
        }
    }
    cr_assert(eq(u64, sl_stat_get(&st.packets), nbufs), "one packet per buffer");
    uint64_t want = sl_stat_get(&st.samples);
    for (int spin = 0; spin < 20000; spin++) {
        uint64_t got = 0;
        for (uint32_t i = 0; i < 2; i++)
            got += sl_stat_get(&sl_shardset_stats(set, i)->records);
        if (got >= want)
            break;
        usleep(500);
    }
    sl_shardset_stop(set); /* final flush */
    res->records = res->keyed = 0;
    for (uint32_t i = 0; i < 2; i++) {
        res->records += sl_stat_get(&sl_shardset_stats(set, i)->records);
        res->keyed += sl_stat_get(&sl_shardset_stats(set, i)->records_keyed);
    }
    sl_shardset_destroy(set);
    sl_statsd_feed_fini(&f);
    cr_assert(eq(ptr, (void *)f._cache, NULL));
    qsort(col.out, col.n, sizeof *col.out, cmp_flushed);
    res->series = col.out;
    res->n = col.n;
    res->st = st;
}

static void run(uint32_t cache_entries, uint64_t seed, struct run_result *res)
{
    run_mode(cache_entries, seed, FEED_BUFFERS, res);
}

/* Same flushed series (key, type, values) and same line/sample/error counters. */
static void assert_same_run(const struct run_result *got, const struct run_result *ref)
{
    for (size_t i = 0; i < ref->n; i++) {
        cr_assert(eq(int, cmp_flushed(&got->series[i], &ref->series[i]), 0), "series %zu", i);
        cr_assert(eq(u8, got->series[i].mtype, ref->series[i].mtype));
        cr_assert(eq(dbl, got->series[i].a, ref->series[i].a), "series %zu a", i);
        cr_assert(eq(dbl, got->series[i].b, ref->series[i].b), "series %zu b", i);
    }
#define SAME(fld) cr_assert(eq(u64, sl_stat_get(&got->st.fld), sl_stat_get(&ref->st.fld)), #fld)
    SAME(lines);
    SAME(parsed);
    SAME(samples);
    SAME(tag_errors);
    SAME(events);
    SAME(service_checks);
    SAME(ring_full_drops);
    for (int r = 0; r < SL_STATSD_E__COUNT; r++)
        SAME(malformed[r]);
#undef SAME
}

Test(statsd_feed, cached_feeder_flushes_same_series_as_uncached)
{
    static const uint32_t sizes[] = {4096, 2};
    struct run_result ref, got;
    run(0, 0x1234567887654321u, &ref);
    cr_assert(gt(sz, ref.n, 100));
    cr_assert(eq(u64, sl_stat_get(&ref.st.keycache_hits) + sl_stat_get(&ref.st.keycache_misses) +
                          sl_stat_get(&ref.st.keycache_bypass),
                 0), "no cache, nothing counted");
    cr_assert(eq(u64, ref.keyed, ref.records), "no cache, no route hints");
    for (size_t s = 0; s < 2; s++) {
        run(sizes[s], 0x1234567887654321u, &got);
        cr_assert(eq(sz, got.n, ref.n), "cache %u", sizes[s]);
        assert_same_run(&got, &ref);
        uint64_t hits = sl_stat_get(&got.st.keycache_hits);
        uint64_t metrics = sl_stat_get(&got.st.parsed) - sl_stat_get(&got.st.events) -
                           sl_stat_get(&got.st.service_checks);
        cr_assert(eq(u64, hits + sl_stat_get(&got.st.keycache_misses) +
                              sl_stat_get(&got.st.keycache_bypass),
                     metrics), "every accepted metric line counted once");
        if (sizes[s] == 4096) {
            cr_assert(gt(u64, hits, metrics * 3 / 4), "hits=%llu of %llu",
                      (unsigned long long)hits, (unsigned long long)metrics);
            /* ...and most records named their series by route hint, with the same result */
            cr_assert(lt(u64, got.keyed, got.records / 2), "keyed=%llu of %llu",
                      (unsigned long long)got.keyed, (unsigned long long)got.records);
        }
        free(got.series);
    }
    cr_assert(gt(u64, sl_stat_get(&ref.st.malformed[SL_STATSD_E_TOO_LONG]), 0));
    cr_assert(gt(u64, sl_stat_get(&ref.st.malformed[SL_STATSD_E_BAD_VALUE]), 0));
    cr_assert(gt(u64, sl_stat_get(&ref.st.tag_errors), 0));
    free(ref.series);
}

/* 1-line buffers fed in batches parse ahead across buffer boundaries: the result must be
 * exactly what feeding the same lines packed into large buffers gives. */
Test(statsd_feed, line_batches_flush_same_series_as_buffers)
{
    struct run_result ref, got;
    run_mode(4096, 0x0badc0ffee0ddf00u, FEED_BUFFERS, &ref);
    run_mode(4096, 0x0badc0ffee0ddf00u, FEED_LINE_BATCHES, &got);
    cr_assert(gt(sz, ref.n, 100));
    cr_assert(eq(sz, got.n, ref.n));
    assert_same_run(&got, &ref);
    cr_assert(gt(u64, sl_stat_get(&got.st.packets), sl_stat_get(&ref.st.packets) * 20));
    free(ref.series);
    free(got.series);
}

Test(statsd_feed, init_bad_entries_leaves_feeder_usable)
{
    struct sl_statsd_feed f = {0};
    cr_assert(eq(int, sl_statsd_feed_init(&f, 3), -EINVAL));
    cr_assert(eq(ptr, (void *)f._cache, NULL));
    sl_statsd_feed_fini(&f);
    cr_assert(eq(int, sl_statsd_feed_init(&f, 0), 0));
    cr_assert(eq(ptr, (void *)f._cache, NULL));
    sl_statsd_feed_fini(&f);
}

/* One 64 KiB-ring shard that is never started, and a feeder that waits 1 ms for room. */
static struct sl_shardset *never_draining(struct sl_statsd_feed *f, struct sl_statsd_feed_stats *st)
{
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = 1;
    cfg.nproducers = 1;
    cfg.ring_bytes = 65536;
    cfg.sink = (struct sl_sink_ops){.flush = collect_flush, .ctx = NULL};
    struct sl_shardset *set;
    cr_assert(eq(int, sl_shardset_create(&cfg, &set), 0));
    memset(st, 0, sizeof *st);
    *f = (struct sl_statsd_feed){.prod = sl_shardset_producer(set, 0), .stats = st,
                                 .listener = "test", .block_when_full = 1, .max_wait_ms = 1};
    return set;
}

/* Shards that never drain (not started): once the wait gives up, every line of the buffer
 * is still accounted for: accepted, or counted as dropped, never silently lost. */
Test(statsd_feed, full_shards_count_every_dropped_line)
{
    static struct sl_statsd_feed_stats st;
    struct sl_statsd_feed f;
    struct sl_shardset *set = never_draining(&f, &st);
    char buf[1400];
    size_t used = 0;
    for (int k = 0; k < 40; k++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "full.s%d:1|c\n", k);
    uint64_t fed = 0;
    int gave_up = 0;
    for (int b = 0; b < 200; b++) {
        if (sl_statsd_feed(&f, buf, used) == -EAGAIN)
            gave_up++;
        fed += 40;
    }
    cr_assert(gt(int, gave_up, 0), "a 64 KiB ring never drained must fill");
    cr_assert(eq(u64, sl_stat_get(&st.lines), fed));
    cr_assert(gt(u64, sl_stat_get(&st.lines_dropped_full), 0));
    cr_assert(eq(u64, sl_stat_get(&st.parsed) + sl_stat_get(&st.lines_dropped_full), fed));
    sl_shardset_destroy(set);
}

/* The same through batches of 1-line buffers: a batch cut short by full shards counts the
 * lines of every buffer it did not apply. */
Test(statsd_feed, full_shards_count_every_dropped_line_of_a_batch)
{
    static struct sl_statsd_feed_stats st;
    struct sl_statsd_feed f;
    struct sl_shardset *set = never_draining(&f, &st);
    char lines[32][32];
    struct sl_statsd_buf b[32];
    for (int k = 0; k < 32; k++)
        b[k] = (struct sl_statsd_buf){lines[k],
                                      (size_t)snprintf(lines[k], sizeof lines[k], "fb.s%d:1|c", k)};
    uint64_t fed = 0;
    int gave_up = 0;
    for (int r = 0; r < 200; r++) {
        if (sl_statsd_feed_many_nopublish(&f, b, 32) == -EAGAIN)
            gave_up++;
        sl_statsd_feed_publish(&f);
        fed += 32;
    }
    cr_assert(gt(int, gave_up, 0));
    cr_assert(eq(u64, sl_stat_get(&st.packets), fed));
    cr_assert(eq(u64, sl_stat_get(&st.lines), fed));
    cr_assert(eq(u64, sl_stat_get(&st.parsed) + sl_stat_get(&st.lines_dropped_full), fed));
    sl_shardset_destroy(set);
}

/* Route hints across expiry. Half the "steady" series pause for a few flush intervals at a
 * time and expire, freeing the series records the feeder holds hints to, then come back;
 * a "burst" series sent once per round expires at nearly every flush. Each steady series
 * sends its own value, so a sample applied through a stale hint anywhere but its own
 * series would show in the sums (and a read of a freed record trips ASan). */
#define STEADY 48
static struct {
    pthread_mutex_t mu;
    double sum[STEADY]; /* counter intervals flushed, per steady series */
    double other;       /* every other counter's intervals */
} hx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int sum_intervals(void *ctx, const struct sl_flush_batch *b)
{
    (void)ctx;
    pthread_mutex_lock(&hx.mu);
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_flush_entry *e = &b->entries[i];
        const char *p = memmem(e->key, e->key_len, "steady", 6);
        if (e->mtype != SL_METRIC_COUNTER)
            continue;
        if (p)
            hx.sum[atoi(p + 6)] += e->counter.interval;
        else
            hx.other += e->counter.interval;
    }
    pthread_mutex_unlock(&hx.mu);
    return 0;
}

Test(statsd_feed, route_hints_stay_exact_while_series_expire)
{
    struct sl_shard_cfg cfg;
    sl_shard_cfg_defaults(&cfg);
    cfg.nshards = 2;
    cfg.nproducers = 1;
    cfg.flush_interval_ms = 100; /* the shortest allowed */
    cfg.expire_intervals = 1;
    cfg.sink = (struct sl_sink_ops){.flush = sum_intervals};
    struct sl_shardset *set;
    cr_assert(eq(int, sl_shardset_create(&cfg, &set), 0));
    cr_assert(eq(int, sl_shardset_start(set), 0));
    static struct sl_statsd_feed_stats st;
    struct sl_statsd_feed f = {.prod = sl_shardset_producer(set, 0),
                               .stats = &st,
                               .listener = "test",
                               .block_when_full = 1};
    cr_assert(eq(int, sl_statsd_feed_init(&f, 1024), 0));
    char buf[1400];
    uint32_t rounds = 0, bursts = 0, sent[STEADY] = {0};
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        size_t used = 0;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        for (int i = 0; i < STEADY; i++) {
            /* odd series: 400 ms on, 400 ms off (the off phase spans 3 flushes) */
            if (i % 2 && (ms / 400) % 2)
                continue;
            used += (size_t)snprintf(buf + used, sizeof buf - used, "steady%d:%d|c\n", i, i + 1);
            sent[i]++;
        }
        used += (size_t)snprintf(buf + used, sizeof buf - used, "burst%u:1000|c", bursts++);
        cr_assert(ge(int, sl_statsd_feed(&f, buf, used), 0));
        rounds++;
        nanosleep(&(struct timespec){0, 2 * 1000000}, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (rounds < 4000 &&
             (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 2500);
    sl_shardset_stop(set);
    uint64_t records = 0, keyed = 0, expired = 0;
    for (uint32_t i = 0; i < 2; i++) {
        records += sl_stat_get(&sl_shardset_stats(set, i)->records);
        keyed += sl_stat_get(&sl_shardset_stats(set, i)->records_keyed);
        expired += sl_stat_get(&sl_shardset_stats(set, i)->series_expired);
    }
    sl_shardset_destroy(set);
    sl_statsd_feed_fini(&f);
    uint64_t samples = rounds;
    for (int i = 0; i < STEADY; i++)
        samples += sent[i];
    cr_assert(eq(u64, records, samples), "every sample applied");
    for (int i = 0; i < STEADY; i++)
        cr_assert(eq(dbl, hx.sum[i], (double)sent[i] * (i + 1)), "steady%d", i);
    cr_assert(eq(dbl, hx.other, 1000.0 * rounds));
    cr_assert(gt(u64, expired, rounds / 2 + STEADY), "%llu series expired",
              (unsigned long long)expired); /* bursts, and the pausing ones at least once */
    cr_assert(lt(u64, keyed, records / 2), "hints carried most records (keyed %llu of %llu)",
              (unsigned long long)keyed, (unsigned long long)records);
}
