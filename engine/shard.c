/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shard workers. Each worker loops: drain every input ring (one acquire/release per ring
 * per pass), flush when the wall clock crosses the next interval boundary, and sleep on a
 * futex when there is nothing to do.
 *
 * Sleeping without losing a wake-up is a Dekker pair:
 *   shard:    sleeping = mode; fence(seq_cst); look at every ring's tail; futex_wait(mode)
 *   producer: publish tails;  fence(seq_cst); if (sleeping) maybe futex_wake
 * Either the shard sees the new tail, or the producer sees sleeping != 0.
 *
 * Two sleep modes, because a wake-up costs a few microseconds of syscalls and context
 * switches on both sides, which at one datagram per wake-up is more than parsing its lines:
 *   SLEEP_LIGHT (data arrived within the last ~100 ms): the shard naps at most NAP_MS and
 *     producers wake it only once a ring is 1/8 full; a record waits <= NAP_MS, and a
 *     flush always drains the rings first, so a nap never moves a record to a later
 *     interval. Above ~1 M lines/s the fill mark wakes the shard before the nap ends;
 *     below, every nap costs a context switch (~30 us in a VM), so naps are long.
 *   SLEEP_DEEP (idle for longer): every publish wakes the shard, and it sleeps until the
 *     next flush, so an idle daemon does not tick.
 * The producer pays one fence per burst (per datagram), not per record.
 */
#include "engine/shard.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/clock.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "engine/ring.h"
#include "engine/series.h"

struct sl_shard {
    alignas(64) _Atomic int sleeping; /* futex word: written by the shard, read by producers */
    alignas(64) struct sl_shard_stats stats;
    alignas(64) struct sl_shardset *set;
    uint32_t idx;
    pthread_t th;
    int started;
    struct sl_series_table table;
    struct sl_ring **in;             /* nproducers rings, BORROWED from the set */
    struct sl_ring **reply;          /* nproducers reply rings, BORROWED; written here */
    uint64_t epoch;                  /* route hints are valid in this epoch (shard.h) */
    /* Expired series unlinked from the table but not yet freed: hinted records may still
     * name them (shard.h, "Route hints"). limbo_snap[p] is producer p's _active when the
     * latest of them were retired; once every producer has been outside a batch since,
     * limbo_ready is set, and the next drain after that frees them. */
    struct sl_shard_series **limbo; /* OWNED array; the series are OWNED too */
    size_t nlimbo, limbo_cap;
    uint64_t *limbo_snap;           /* OWNED; nproducers */
    int limbo_ready;
    struct sl_flush_entry *entries;  /* OWNED; grown at flush time only */
    size_t entries_cap;
    struct sl_shard_series **expired;      /* OWNED scratch list for expiry */
    size_t expired_cap;
    /* The flusher thread and the batch it is writing (see shard_flush). f_pending and the
     * batch are under fmu; handed[] belongs to the flusher while f_pending, else to the
     * shard, as do entries and the keys they borrow. */
    pthread_t f_th;
    int f_started;
    pthread_mutex_t fmu;
    pthread_cond_t fcv;
    int f_pending, f_quit;
    struct sl_flush_batch f_batch;
    int64_t f_t0;
    struct sl_ddsketch **handed; /* OWNED: timer sketches in the batch, by the flusher reset */
    size_t nhanded, handed_cap;
    struct sl_ddsketch **spare;  /* OWNED: empty sketches to swap in at the next flush */
    size_t nspare, spare_cap;
};

struct sl_shardset {
    struct sl_shard_cfg cfg;
    struct sl_shard *shards;       /* OWNED, cache-line aligned */
    struct sl_producer *producers; /* OWNED */
    struct sl_ring **rings;        /* OWNED; [producer * nshards + shard] */
    struct sl_ring **replies;      /* OWNED; [producer * nshards + shard], shard -> producer */
    struct sl_shard_epoch *epochs; /* OWNED; nshards, the shards' epochs for producers */
    _Atomic int running;
};

/* Replies to route requests (shard.h): 32 bytes each plus framing, so ~1,600 fit; more
 * in flight than that are dropped and asked for again. */
#define REPLY_RING_BYTES (64u << 10)

#define SLEEP_LIGHT 1
#define SLEEP_DEEP 2
#define NAP_MS 10
#define LIGHT_NAPS 10 /* naps without data before sleeping deep: ~100 ms */

static long futex(_Atomic int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, (int *)addr, op, val, ts, NULL, 0);
}

void sl_flush_cfg_defaults(struct sl_flush_cfg *cfg)
{
    static const double q[] = {0.5, 0.9, 0.95, 0.99};
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->quantiles, q, sizeof q);
    cfg->nquantiles = 4;
}

void sl_shard_cfg_defaults(struct sl_shard_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->nshards = n > 0 ? (uint32_t)n : 1;
    cfg->nproducers = 1;
    cfg->ring_bytes = 4u << 20;
    cfg->flush_interval_ms = 10000;
    cfg->series_limit = 1000000;
    cfg->expire_intervals = 30;
    sl_flush_cfg_defaults(&cfg->flush);
}

int sl_shard_cfg_check(const struct sl_shard_cfg *cfg, char *err, size_t errlen)
{
    if (cfg->nshards < 1 || cfg->nshards > 256)
        return snprintf(err, errlen, "shards: %u is outside 1..256", cfg->nshards), -EINVAL;
    if (cfg->nproducers < 1 || cfg->nproducers > 256)
        return snprintf(err, errlen, "ingest threads: %u is outside 1..256", cfg->nproducers),
               -EINVAL;
    if (cfg->ring_bytes < 65536 || (cfg->ring_bytes & (cfg->ring_bytes - 1)) ||
        cfg->ring_bytes > (1u << 30))
        return snprintf(err, errlen, "ring size: %u is not a power of two in 64KiB..1GiB",
                        cfg->ring_bytes),
               -EINVAL;
    if (cfg->flush_interval_ms < 100 || cfg->flush_interval_ms > 86400000)
        return snprintf(err, errlen, "flush interval: %lld ms is outside 100ms..24h",
                        (long long)cfg->flush_interval_ms),
               -EINVAL;
    if (cfg->flush.nquantiles < 0 || cfg->flush.nquantiles > SL_FLUSH_MAX_QUANTILES)
        return snprintf(err, errlen, "quantiles: at most %d", SL_FLUSH_MAX_QUANTILES), -EINVAL;
    for (int i = 0; i < cfg->flush.nquantiles; i++)
        if (!(cfg->flush.quantiles[i] >= 0 && cfg->flush.quantiles[i] <= 1))
            return snprintf(err, errlen, "quantiles: %g is outside [0,1]",
                            cfg->flush.quantiles[i]),
                   -EINVAL;
    if (!cfg->sink.flush)
        return snprintf(err, errlen, "no flush sink configured"), -EINVAL;
    return 0;
}

/* ---- applying records ------------------------------------------------------------ */

/* Apply @r to @s, whose key is @r's. Inlined into both paths of shard_apply: the hinted
 * one is the whole per-record cost of a shard, and a call there measured in callgrind. */
static inline __attribute__((always_inline)) void apply_to(struct sl_shard *sh,
                                                           struct sl_shard_series *s,
                                                           const struct sl_record *r)
{
    /* Most lines carry no sample rate: skip the division for them. */
    double w = r->rate == 1.0 ? 1.0 : r->rate > 0 && r->rate < 1 ? 1.0 / r->rate : 1.0;
    switch (r->mtype) {
    case SL_METRIC_COUNTER:
    case SL_METRIC_EVENT:
        s->counter.interval += r->value * w;
        s->counter.total += r->value * w;
        break;
    case SL_METRIC_GAUGE:
    case SL_METRIC_SERVICE_CHECK:
        if (r->flags & SL_REC_F_DELTA)
            s->gauge.value += r->value;
        else
            s->gauge.value = r->value;
        break;
    case SL_METRIC_TIMER:
        if (sl_ddsketch_add(s->timer.sk, r->value, w) != 0) {
            sl_stat_add(&sh->stats.alloc_failures, 1);
            return;
        }
        s->timer.total_count += w;
        s->timer.total_sum += r->value * w;
        break;
    case SL_METRIC_SET:
        if (sl_hll_add(s->set.hll, r->member) != 0) {
            sl_stat_add(&sh->stats.alloc_failures, 1);
            return;
        }
        break;
    }
    s->updated = 1;
    sl_stat_add(&sh->stats.records, 1);
}

/* Tell producer @p which series its request @r (for series @id) went to. A full reply
 * ring drops the reply: the producer keeps asking until one arrives. */
static void route_reply(struct sl_shard *sh, uint32_t p, const struct sl_record *r, uint32_t len,
                        uint64_t id, struct sl_shard_series *s, int *replied)
{
    uint32_t stamp;
    if (len < sizeof *r + r->key_len + sizeof stamp)
        return; /* no stamp: a reply could not be matched to the asking entry */
    memcpy(&stamp, r->key + r->key_len, sizeof stamp);
    struct sl_route_reply *m = sl_ring_sp_alloc(sh->reply[p], sizeof *m);
    if (!m)
        return;
    *m = (struct sl_route_reply){.route = sl_record_route(r),
                                 .epoch = (uint32_t)sh->epoch,
                                 .id = id,
                                 .hint = s,
                                 .stamp = stamp};
    *replied = 1;
}

/* Apply record @r of length @len from producer @p's ring. */
static void shard_apply(struct sl_shard *sh, uint32_t p, const struct sl_record *r, uint32_t len,
                        int *replied)
{
    if (len < sizeof *r || r->mtype == 0 || r->mtype >= SL_METRIC__COUNT)
        goto bad;
    uint64_t id;
    const char *key;
    uint16_t key_len;
    if (r->flags & SL_REC_F_HINTED) {
        /* The record names readable memory whatever its epoch (shard.h, expiry): in the
         * current epoch a live series, else one that may have expired since. */
        struct sl_shard_series *s = r->hint;
        if (s->mtype != r->mtype)
            goto bad;
        if (sl_record_route(r) == ((uint32_t)sh->epoch & SL_REC_EPOCH_MASK)) {
            apply_to(sh, s, r);
            return;
        }
        sl_stat_add(&sh->stats.hints_stale, 1);
        id = s->id;
        key = s->key;
        key_len = s->key_len;
    } else {
        if (len < sizeof *r + r->key_len || r->key_len < 2 || (uint8_t)r->key[0] != r->mtype)
            goto bad;
        id = r->id;
        key = r->key;
        key_len = r->key_len;
    }
    sl_stat_add(&sh->stats.records_keyed, 1);
    int created = 0, rc = 0;
    struct sl_shard_series *s =
        sl_series_upsert(&sh->table, id, key, key_len, r->mtype, &created, &rc);
    if (!s) {
        if (rc == SL_E_LIMIT_SERIES)
            sl_stat_add(&sh->stats.series_refused, 1);
        else
            sl_stat_add(&sh->stats.alloc_failures, 1);
        return;
    }
    if (created) {
        sl_stat_add(&sh->stats.series_created, 1);
        sl_stat_set(&sh->stats.series_active, sh->table.used);
        sl_stat_set(&sh->stats.series_collisions, sh->table.collisions);
    }
    if (r->flags & SL_REC_F_ROUTE_REQ)
        route_reply(sh, p, r, len, id, s, replied);
    apply_to(sh, s, r);
    return;
bad:
    sl_stat_add(&sh->stats.bad_records, 1); /* a bug in a producer if it ever counts */
}

/*
 * Records are applied in batches of DRAIN_BATCH with two prefetch passes first: the slot
 * each id hashes to, then the series record that slot points at. At 100k series the table
 * and records outgrow L2, and overlapping those misses measured 1.2-2.4x on the prototype.
 * A hinted record names its series record, so its first pass prefetches that and it needs
 * no second.
 */
#define DRAIN_BATCH 16

static uint32_t shard_drain(struct sl_shard *sh)
{
    uint32_t n = 0;
    int replied = 0;
    const struct sl_record *batch[DRAIN_BATCH];
    uint32_t lens[DRAIN_BATCH];
    struct sl_series_table *t = &sh->table;
    for (uint32_t p = 0; p < sh->set->cfg.nproducers; p++) {
        struct sl_ring *r = sh->in[p];
        if (!sl_ring_sc_acquire(r))
            continue;
        for (;;) {
            uint32_t k = 0, keyed = 0;
            const void *m;
            while (k < DRAIN_BATCH && (m = sl_ring_sc_next(r, &lens[k]))) {
                batch[k] = m;
                if (lens[k] >= sizeof(struct sl_record)) {
                    if (batch[k]->flags & SL_REC_F_HINTED) {
                        __builtin_prefetch(batch[k]->hint);
                    } else {
                        sl_series_prefetch(t, batch[k]->id);
                        keyed++;
                    }
                }
                k++;
            }
            if (!k)
                break;
            for (uint32_t i = 0; keyed && i < k; i++) {
                if (lens[i] < sizeof(struct sl_record) || (batch[i]->flags & SL_REC_F_HINTED))
                    continue;
                const struct sl_series_slot *sl = &t->slots[batch[i]->id & t->mask];
                if (sl->s)
                    __builtin_prefetch(sl->s);
            }
            for (uint32_t i = 0; i < k; i++)
                shard_apply(sh, p, batch[i], lens[i], &replied);
            n += k;
        }
        sl_ring_sc_release(r);
        if (replied) {
            sl_ring_sp_publish(sh->reply[p]);
            replied = 0;
        }
    }
    return n;
}

/* ---- flushing -------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Series a flush snapshot prefetches ahead of the one it copies: the walk is sequential
 * over the slots, but the series records they point to are scattered over the heap. */
#define SNAP_AHEAD 8
#define FLUSHER_NICE 10

/* Wait until the flusher has finished the batch handed to it, then take back the timer
 * sketches that batch carried (the flusher reset them) as spares. Shard thread. */
static void flusher_wait_idle(struct sl_shard *sh)
{
    pthread_mutex_lock(&sh->fmu);
    while (sh->f_pending)
        pthread_cond_wait(&sh->fcv, &sh->fmu);
    pthread_mutex_unlock(&sh->fmu);
    for (size_t i = 0; i < sh->nhanded; i++) {
        if (sh->nspare < sh->spare_cap)
            sh->spare[sh->nspare++] = sh->handed[i];
        else
            sl_ddsketch_destroy(sh->handed[i]);
    }
    sh->nhanded = 0;
}

/* An empty sketch to swap in for one whose interval goes to the sink, or NULL. */
static struct sl_ddsketch *spare_sketch(struct sl_shard *sh)
{
    if (sh->nspare)
        return sh->spare[--sh->nspare];
    struct sl_ddsketch *k = NULL;
    if (sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &k))
        return NULL;
    return k;
}

/* Count a finished flush: its sink result and how long it took from the snapshot on.
 * Called by whichever thread ran the sink (the flusher, or the shard when it ran it). */
static void flush_done(struct sl_shard *sh, const struct sl_flush_batch *b, int rc, int64_t t0)
{
    if (rc) {
        sl_stat_add(&sh->stats.sink_errors, 1);
        SL_ERROR("shard=%u event=sink_failed error=\"%s\" series=%zu", sh->idx, sl_strerror(rc),
                 b->n);
    }
    int64_t dt = sl_clock_mono_ns() - t0;
    sl_stat_add(&sh->stats.flushes, 1);
    sl_stat_add(&sh->stats.flush_ns_total, (uint64_t)dt);
    sl_stat_set(&sh->stats.flush_ns_last, (uint64_t)dt);
}

/* Series were just retired into the limbo: move the epoch on, so producers stop sending
 * hints to them, and note where each producer is. The fence pairs with the one in
 * sl_producer_enter(): a producer either shows here as inside a batch (and is waited for)
 * or reads the new epoch in its next batch. */
static void retire_snapshot(struct sl_shard *sh)
{
    sh->epoch++;
    atomic_store_explicit(&sh->set->epochs[sh->idx].v, sh->epoch, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t p = 0; p < sh->set->cfg.nproducers; p++)
        sh->limbo_snap[p] =
            atomic_load_explicit(&sh->set->producers[p]._active, memory_order_relaxed);
    sh->limbo_ready = 0; /* earlier ones wait for the newest: simpler, a little later */
}

/* Called after each drain. Frees the limbo once a drain has run after every producer was
 * seen outside the batch it was in at the last retire (its records from before are then
 * applied), else checks whether that point has come. */
static void limbo_step(struct sl_shard *sh)
{
    if (!sh->nlimbo)
        return;
    if (sh->limbo_ready) {
        for (size_t i = 0; i < sh->nlimbo; i++)
            sl_series_free(sh->limbo[i]);
        sh->nlimbo = 0;
        sh->limbo_ready = 0;
        return;
    }
    for (uint32_t p = 0; p < sh->set->cfg.nproducers; p++) {
        uint64_t snap = sh->limbo_snap[p];
        /* Acquire: pairs with sl_producer_quiesce(), so the next drain sees the records
         * the producer published before it left the batch. */
        if ((snap & 1) &&
            atomic_load_explicit(&sh->set->producers[p]._active, memory_order_acquire) == snap)
            return;
    }
    sh->limbo_ready = 1;
}

/*
 * A flush in two halves. Here, on the shard thread: snapshot every series into an entry
 * (values copied; a timer's sketch handed over whole and replaced by an empty spare),
 * reset interval state and expire idle series. Then the shard's flusher thread gives the
 * batch to the sink (store WAL, /metrics, Kafka) while the shard goes back to its rings.
 *
 * Why: the sink's work for 100k series took 45-165 ms here (the first flush creates them
 * in the store), and a shard that ran it inline stopped draining for that long. A 4 MiB
 * ring holds ~6 ms of 12 M lines/s, so DPDK dropped ~0.7-1.3 M records at every flush
 * and a UDP socket buffer had to absorb the stall.
 *
 * Entries borrow series keys, which stay valid: series are only removed here, and this
 * waits for the previous batch first. When no spare sketch can be had (out of memory)
 * the sink runs inline before the reset, as it always did.
 */
static void shard_flush(struct sl_shard *sh, int64_t ts_ms)
{
    int64_t t0 = sl_clock_mono_ns();
    struct sl_series_table *t = &sh->table;
    const struct sl_shard_cfg *cfg = &sh->set->cfg;
    flusher_wait_idle(sh);
    if (grow((void **)&sh->entries, &sh->entries_cap, t->used, sizeof *sh->entries) ||
        grow((void **)&sh->expired, &sh->expired_cap, t->used, sizeof *sh->expired) ||
        grow((void **)&sh->handed, &sh->handed_cap, t->used, sizeof *sh->handed) ||
        grow((void **)&sh->spare, &sh->spare_cap, t->used, sizeof *sh->spare) ||
        grow((void **)&sh->limbo, &sh->limbo_cap, sh->nlimbo + t->used, sizeof *sh->limbo)) {
        /* Keep aggregating; the next flush retries with the combined interval. */
        sl_stat_add(&sh->stats.alloc_failures, 1);
        SL_ERROR("shard=%u event=flush_skipped reason=out_of_memory series=%u", sh->idx, t->used);
        return;
    }
    size_t n = 0, nexp = 0, mem = 0, timers = 0;
    int inline_sink = !sh->f_started;
    for (uint32_t i = 0; i <= t->mask; i++) {
        if (i + SNAP_AHEAD <= t->mask && t->slots[i + SNAP_AHEAD].s)
            __builtin_prefetch(t->slots[i + SNAP_AHEAD].s);
        struct sl_shard_series *s = t->slots[i].s;
        if (!s)
            continue;
        mem += sl_series_memsize(s);
        if (!s->updated && s->idle >= cfg->expire_intervals) {
            sh->expired[nexp++] = s;
            continue;
        }
        struct sl_flush_entry *e = &sh->entries[n++];
        memset(e, 0, sizeof *e);
        e->key = s->key;
        e->key_len = s->key_len;
        e->mtype = s->mtype;
        e->updated = s->updated;
        e->idle = s->idle;
        e->id = s->id;
        switch (s->mtype) {
        case SL_METRIC_COUNTER:
        case SL_METRIC_EVENT:
            e->counter.interval = s->counter.interval;
            e->counter.total = s->counter.total;
            break;
        case SL_METRIC_GAUGE:
        case SL_METRIC_SERVICE_CHECK:
            e->gauge.value = s->gauge.value;
            break;
        case SL_METRIC_TIMER: {
            timers++;
            e->timer.count = sl_ddsketch_count(s->timer.sk);
            e->timer.sum = sl_ddsketch_sum(s->timer.sk);
            e->timer.total_count = s->timer.total_count;
            e->timer.total_sum = s->timer.total_sum;
            if (e->timer.count <= 0)
                break;
            e->timer.sketch = s->timer.sk;
            struct sl_ddsketch *fresh = inline_sink ? NULL : spare_sketch(sh);
            if (fresh) {
                sh->handed[sh->nhanded++] = s->timer.sk;
                s->timer.sk = fresh;
            } else {
                inline_sink = 1; /* this entry reads the live sketch: sink before reset */
            }
            break;
        }
        case SL_METRIC_SET:
            e->set.distinct = sl_hll_count(s->set.hll);
            break;
        }
        /* The entry holds the interval now: start the next one in the same pass. */
        if (s->updated)
            s->idle = 0;
        else if (s->idle < UINT16_MAX)
            s->idle++;
        s->updated = 0;
        if (s->mtype == SL_METRIC_COUNTER || s->mtype == SL_METRIC_EVENT)
            s->counter.interval = 0;
        else if (s->mtype == SL_METRIC_SET)
            sl_hll_reset(s->set.hll);
        /* a timer starts its next interval on the swapped-in empty spare, or, without
         * one, once the inline sink below has read it */
    }
    struct sl_flush_batch b = {.ts_ms = ts_ms,
                               .interval_ms = cfg->flush_interval_ms,
                               .shard = sh->idx,
                               .n = n,
                               .entries = sh->entries};
    if (inline_sink) {
        flush_done(sh, &b, cfg->sink.flush(cfg->sink.ctx, &b), t0);
        for (uint32_t i = 0; i <= t->mask; i++) {
            struct sl_shard_series *s = t->slots[i].s;
            if (s && s->mtype == SL_METRIC_TIMER)
                sl_ddsketch_reset(s->timer.sk);
        }
    }
    for (size_t i = 0; i < nexp; i++)
        if (sl_series_unlink(t, sh->expired[i]))
            sh->limbo[sh->nlimbo++] = sh->expired[i];
    if (nexp)
        retire_snapshot(sh);
    /* Spares beyond the timers still held are memory nobody will ask for back. */
    while (sh->nspare > timers)
        sl_ddsketch_destroy(sh->spare[--sh->nspare]);
    for (size_t i = 0; i < sh->nspare; i++)
        mem += sl_ddsketch_memsize(sh->spare[i]);
    sl_stat_add(&sh->stats.series_expired, nexp);
    sl_stat_set(&sh->stats.series_active, t->used);
    sl_stat_set(&sh->stats.memory_bytes,
                mem + (size_t)(t->mask + 1) * sizeof(struct sl_series_slot));
    if (inline_sink) {
        /* Sketches swapped before a spare ran out were read by the sink above. */
        for (size_t i = 0; i < sh->nhanded; i++)
            sl_ddsketch_reset(sh->handed[i]);
        return;
    }
    pthread_mutex_lock(&sh->fmu);
    sh->f_batch = b;
    sh->f_t0 = t0;
    sh->f_pending = 1;
    pthread_cond_broadcast(&sh->fcv);
    pthread_mutex_unlock(&sh->fmu);
}

/* End the flusher once it has written what it was given. Shard thread, or the control
 * thread when the shard thread never started. */
static void flusher_stop(struct sl_shard *sh)
{
    if (!sh->f_started)
        return;
    pthread_mutex_lock(&sh->fmu);
    sh->f_quit = 1;
    pthread_cond_broadcast(&sh->fcv);
    pthread_mutex_unlock(&sh->fmu);
    pthread_join(sh->f_th, NULL);
    sh->f_started = 0;
}

/* The flusher: runs each batch the shard hands over through the sink, then resets the
 * sketches it carried so the shard can reuse them. */
static void *flusher_main(void *arg)
{
    struct sl_shard *sh = arg;
    const struct sl_shard_cfg *cfg = &sh->set->cfg;
    /* Below the shard in the scheduler: where they share a core (two cores, one taken by
     * a DPDK poller) the sink's 50-150 ms of work at a flush otherwise halves the shard's
     * share and its rings overflow. The flusher runs in the shard's naps instead; should
     * it fall a whole interval behind, the shard's next flush waits for it. Advice only:
     * a refusal leaves the default priority. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), FLUSHER_NICE);
    pthread_mutex_lock(&sh->fmu);
    for (;;) {
        while (!sh->f_pending && !sh->f_quit)
            pthread_cond_wait(&sh->fcv, &sh->fmu);
        if (!sh->f_pending)
            break; /* quit, with nothing left to write */
        struct sl_flush_batch b = sh->f_batch;
        int64_t t0 = sh->f_t0;
        pthread_mutex_unlock(&sh->fmu);
        int rc = cfg->sink.flush(cfg->sink.ctx, &b);
        for (size_t i = 0; i < sh->nhanded; i++)
            sl_ddsketch_reset(sh->handed[i]);
        flush_done(sh, &b, rc, t0);
        pthread_mutex_lock(&sh->fmu);
        sh->f_pending = 0;
        pthread_cond_broadcast(&sh->fcv);
    }
    pthread_mutex_unlock(&sh->fmu);
    return NULL;
}

/* ---- the worker ------------------------------------------------------------------ */

static int rings_empty(struct sl_shard *sh)
{
    for (uint32_t p = 0; p < sh->set->cfg.nproducers; p++)
        if (sl_ring_sc_acquire(sh->in[p]))
            return 0;
    return 1;
}

static void *shard_main(void *arg)
{
    struct sl_shard *sh = arg;
    struct sl_shardset *set = sh->set;
    int64_t interval = set->cfg.flush_interval_ms;
    int64_t next_flush = sl_clock_next_boundary(sl_clock_wall_ms(), interval);
    int naps = LIGHT_NAPS; /* start deep: nothing has arrived yet */
    for (;;) {
        uint32_t n = shard_drain(sh);
        limbo_step(sh);
        int64_t now = sl_clock_wall_ms();
        if (now >= next_flush) {
            shard_flush(sh, next_flush);
            next_flush = sl_clock_next_boundary(now, interval);
        }
        if (n) {
            naps = 0;
            continue;
        }
        /* Relaxed: running only goes 1 -> 0, and the futex wake after it is the fence. */
        if (!atomic_load_explicit(&set->running, memory_order_relaxed)) {
            if (shard_drain(sh) == 0)
                break;
            continue;
        }
        int mode = naps < LIGHT_NAPS ? SLEEP_LIGHT : SLEEP_DEEP;
        atomic_store_explicit(&sh->sleeping, mode, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (rings_empty(sh) && atomic_load_explicit(&set->running, memory_order_relaxed)) {
            int64_t wait_ms = next_flush - sl_clock_wall_ms();
            if (mode == SLEEP_LIGHT && wait_ms > NAP_MS)
                wait_ms = NAP_MS;
            if (wait_ms > 0) {
                struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
                sl_stat_add(&sh->stats.sleeps, 1);
                futex(&sh->sleeping, FUTEX_WAIT_PRIVATE, mode, &ts);
            }
        }
        atomic_store_explicit(&sh->sleeping, 0, memory_order_relaxed);
        if (naps < LIGHT_NAPS)
            naps++;
    }
    /* Shutdown: everything accepted is in the table; flush it stamped with now, and wait
     * until the sink has it before the thread (and so sl_shardset_stop) returns. */
    shard_flush(sh, sl_clock_wall_ms());
    flusher_wait_idle(sh);
    flusher_stop(sh);
    return NULL;
}

/* ---- set up and tear down -------------------------------------------------------- */

int sl_shardset_create(const struct sl_shard_cfg *cfg, struct sl_shardset **out)
{
    char err[128];
    if (sl_shard_cfg_check(cfg, err, sizeof err))
        return -EINVAL;
    uint32_t ns = cfg->nshards, np = cfg->nproducers;
    struct sl_shardset *set = calloc(1, sizeof *set);
    if (!set)
        return -ENOMEM;
    set->cfg = *cfg;
    size_t shards_bytes = ((sizeof(struct sl_shard) * ns) + 63) & ~(size_t)63;
    set->shards = aligned_alloc(64, shards_bytes);
    set->producers = aligned_alloc(64, ((sizeof(struct sl_producer) * np) + 63) & ~(size_t)63);
    set->rings = calloc((size_t)ns * np, sizeof *set->rings);
    set->replies = calloc((size_t)ns * np, sizeof *set->replies);
    set->epochs = aligned_alloc(64, sizeof(struct sl_shard_epoch) * ns);
    if (!set->shards || !set->producers || !set->rings || !set->replies || !set->epochs)
        goto fail;
    for (uint32_t s = 0; s < ns; s++)
        atomic_init(&set->epochs[s].v, 1); /* never 0: producers read 0 as "not asked" */
    memset(set->shards, 0, shards_bytes);
    memset(set->producers, 0, sizeof(struct sl_producer) * np);
    for (size_t i = 0; i < (size_t)ns * np; i++)
        if (sl_ring_create(cfg->ring_bytes, &set->rings[i]) ||
            sl_ring_create(REPLY_RING_BYTES, &set->replies[i]))
            goto fail;
    uint32_t per_shard_initial = 1024;
    for (uint32_t s = 0; s < ns; s++) {
        struct sl_shard *sh = &set->shards[s];
        sh->set = set;
        sh->idx = s;
        sh->epoch = 1;
        pthread_mutex_init(&sh->fmu, NULL);
        pthread_cond_init(&sh->fcv, NULL);
        sh->in = calloc(np, sizeof *sh->in);
        sh->reply = calloc(np, sizeof *sh->reply);
        sh->limbo_snap = calloc(np, sizeof *sh->limbo_snap);
        if (!sh->in || !sh->reply || !sh->limbo_snap ||
            sl_series_table_init(&sh->table, per_shard_initial, cfg->series_limit))
            goto fail;
        for (uint32_t p = 0; p < np; p++) {
            sh->in[p] = set->rings[(size_t)p * ns + s];
            sh->reply[p] = set->replies[(size_t)p * ns + s];
        }
    }
    for (uint32_t p = 0; p < np; p++) {
        struct sl_producer *pr = &set->producers[p];
        pr->_set = set;
        pr->_out = &set->rings[(size_t)p * ns];
        pr->_replies = &set->replies[(size_t)p * ns];
        atomic_init(&pr->_active, 0);
        pr->_epochs = set->epochs;
        pr->_nshards = ns;
        pr->_dirty = calloc(ns, sizeof *pr->_dirty);
        pr->_is_dirty = calloc(ns, 1);
        if (!pr->_dirty || !pr->_is_dirty)
            goto fail;
    }
    *out = set;
    return 0;
fail:
    sl_shardset_destroy(set);
    return -ENOMEM;
}

int sl_shardset_start(struct sl_shardset *set)
{
    atomic_store_explicit(&set->running, 1, memory_order_relaxed);
    for (uint32_t s = 0; s < set->cfg.nshards; s++) {
        struct sl_shard *sh = &set->shards[s];
        sh->f_quit = 0;
        int rc = pthread_create(&sh->f_th, NULL, flusher_main, sh);
        if (rc == 0) {
            sh->f_started = 1;
            rc = pthread_create(&sh->th, NULL, shard_main, sh);
        }
        if (rc) {
            sl_shardset_stop(set);
            return -rc;
        }
        sh->started = 1;
        char name[32];
        snprintf(name, sizeof name, "sl-shard-%u", s);
        name[15] = 0; /* the kernel keeps 15 bytes of a thread name */
        pthread_setname_np(sh->th, name);
        snprintf(name, sizeof name, "sl-flush-%u", s);
        name[15] = 0;
        pthread_setname_np(sh->f_th, name);
    }
    return 0;
}

void sl_shardset_stop(struct sl_shardset *set)
{
    atomic_store_explicit(&set->running, 0, memory_order_seq_cst);
    for (uint32_t s = 0; s < set->cfg.nshards; s++) {
        struct sl_shard *sh = &set->shards[s];
        if (!sh->started) {
            /* Start failed after this shard's flusher began: the shard thread that would
             * have stopped it never ran. */
            flusher_stop(sh);
            continue;
        }
        atomic_store_explicit(&sh->sleeping, 0, memory_order_seq_cst);
        futex(&sh->sleeping, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
        pthread_join(sh->th, NULL);
        sh->started = 0;
    }
}

void sl_shardset_destroy(struct sl_shardset *set)
{
    if (!set)
        return;
    if (set->shards) {
        for (uint32_t s = 0; s < set->cfg.nshards; s++) {
            struct sl_shard *sh = &set->shards[s];
            sl_series_table_fini(&sh->table);
            free(sh->in);
            free(sh->reply);
            for (size_t i = 0; i < sh->nlimbo; i++)
                sl_series_free(sh->limbo[i]); /* every producer has stopped */
            free(sh->limbo);
            free(sh->limbo_snap);
            free(sh->entries);
            free(sh->expired);
            for (size_t i = 0; i < sh->nhanded; i++)
                sl_ddsketch_destroy(sh->handed[i]);
            for (size_t i = 0; i < sh->nspare; i++)
                sl_ddsketch_destroy(sh->spare[i]);
            free(sh->handed);
            free(sh->spare);
            pthread_mutex_destroy(&sh->fmu);
            pthread_cond_destroy(&sh->fcv);
        }
    }
    if (set->producers) {
        for (uint32_t p = 0; p < set->cfg.nproducers; p++) {
            free(set->producers[p]._dirty);
            free(set->producers[p]._is_dirty);
        }
    }
    for (size_t i = 0; i < (size_t)set->cfg.nshards * set->cfg.nproducers; i++) {
        if (set->rings)
            sl_ring_destroy(set->rings[i]);
        if (set->replies)
            sl_ring_destroy(set->replies[i]);
    }
    free(set->rings);
    free(set->replies);
    free(set->epochs);
    free(set->shards);
    free(set->producers);
    free(set);
}

uint32_t sl_shardset_count(const struct sl_shardset *set)
{
    return set->cfg.nshards;
}

const struct sl_shard_stats *sl_shardset_stats(const struct sl_shardset *set, uint32_t i)
{
    return &set->shards[i].stats;
}

struct sl_producer *sl_shardset_producer(struct sl_shardset *set, uint32_t idx)
{
    return idx < set->cfg.nproducers ? &set->producers[idx] : NULL;
}

/* ---- producer side --------------------------------------------------------------- */

void sl_producer_publish(struct sl_producer *p)
{
    if (!p->_ndirty)
        return;
    for (uint32_t i = 0; i < p->_ndirty; i++)
        sl_ring_sp_publish(p->_out[p->_dirty[i]]);
    /* Pairs with the fence in shard_main(): see the file comment. */
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t i = 0; i < p->_ndirty; i++) {
        uint32_t s = p->_dirty[i];
        struct sl_shard *sh = &p->_set->shards[s];
        /* Relaxed load is enough after the seq_cst fence above. */
        int mode = atomic_load_explicit(&sh->sleeping, memory_order_relaxed);
        /* Napping: it will look within NAP_MS anyway, unless the ring is filling up. The
         * cached fill only grows between the producer's looks at the consumer, so past the
         * mark it is re-read before waking: a stale figure woke a napping shard on every
         * publish (20k futex wake-ups per second per shard with 1-line datagrams). */
        uint32_t wake_fill = p->_set->cfg.ring_bytes / 8;
        if (mode == SLEEP_LIGHT && (sl_ring_sp_used_cached(p->_out[s]) < wake_fill ||
                                    p->_set->cfg.ring_bytes - sl_ring_sp_free(p->_out[s]) <
                                        wake_fill))
            mode = 0;
        if (mode && atomic_exchange_explicit(&sh->sleeping, 0, memory_order_relaxed) != 0)
            /* Clearing the word first makes a wake that lands before the shard's
             * futex_wait() still count: the wait sees 0 and returns at once. */
            futex(&sh->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL);
        p->_is_dirty[s] = 0;
    }
    p->_ndirty = 0;
}

uint32_t sl_producer_poll_replies(struct sl_producer *p,
                                  void (*fn)(void *ctx, const struct sl_route_reply *r),
                                  void *ctx)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < p->_nshards; s++) {
        struct sl_ring *r = p->_replies[s];
        if (!sl_ring_sc_acquire(r))
            continue;
        const void *m;
        uint32_t len;
        while ((m = sl_ring_sc_next(r, &len)))
            if (len == sizeof(struct sl_route_reply)) {
                fn(ctx, m);
                n++;
            }
        sl_ring_sc_release(r);
    }
    return n;
}

int sl_producer_wait_room(struct sl_producer *p, uint32_t len, int max_wait_ms)
{
    int64_t deadline = sl_clock_mono_ns() + (int64_t)max_wait_ms * 1000000;
    for (;;) {
        int ok = 1;
        for (uint32_t s = 0; s < p->_set->cfg.nshards; s++)
            if (sl_ring_sp_free(p->_out[s]) < len + 64) {
                ok = 0;
                break;
            }
        if (ok)
            return 0;
        if (sl_clock_mono_ns() >= deadline)
            return -EAGAIN;
        struct timespec ts = {0, 200000}; /* 200 µs: a shard drains MBs in that time */
        nanosleep(&ts, NULL);
    }
}
