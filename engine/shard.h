/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shard.h
 * The shard runtime: N worker threads, each the single writer of its series table and
 * aggregators, fed by one SPSC ring per (ingest thread, shard) pair.
 *
 *   ingest thread k ── sl_producer_alloc(id) ──▶ ring[k][shard(id)] ──▶ shard worker
 *
 * A record goes to shard (hi32(id) * nshards) >> 32, so one series always lands on one
 * shard and no two shards ever touch the same state. Shards sleep on a futex when every
 * input ring is empty and producers wake them after publishing (a Dekker pair of seq_cst
 * fences, see shard.c), so an idle daemon burns no CPU.
 *
 * At each wall-clock boundary of the flush interval a shard walks its table into an
 * sl_flush_batch, resets interval state and expires idle series, and goes back to its
 * rings while its flusher thread ("sl-flush-N") gives the batch to the sink; the next
 * flush waits for the previous one, so a shard has at most one batch in the sink.
 *
 * Route hints. A feeder that caches its lines' keys (ingest/statsd_keycache.h) can skip the
 * shard's table lookup (probe, key compare, the cache miss on the slot array) and the key
 * copy into the ring:
 *   1. it sends a record flagged SL_REC_F_ROUTE_REQ naming its cache slot and a stamp;
 *   2. the shard applies it as usual and replies on the producer's reply ring with the
 *      series record's address, the stamp and the shard's current epoch (sl_route_reply);
 *   3. later records of that slot are flagged SL_REC_F_HINTED and carry the address, no
 *      id and no key: a 32-byte record. The shard applies them to the series directly.
 * Expiry: a shard that expires series moves its epoch on and unlinks them, but frees them
 * only once every producer has been outside a batch (sl_producer_enter/_quiesce) since and
 * the rings have been drained after that: epoch-based reclamation. So a hinted record
 * always names readable memory. One from the current epoch names a live series; an older
 * one is applied by the key read from the record it names (creating the series anew if it
 * expired). Producers read the epochs (sl_producer_epoch) to stop sending older hints and
 * ask again. The stamp makes a reply reach only the cache entry that asked, never a later
 * occupant of its slot, so each hint was found by a key compare of its own identity.
 * Replies are dropped when a reply ring is full; the producer then asks again.
 *
 * Threads: create/start/stop/destroy from the control plane; sl_producer_* from the one
 * ingest thread that owns the producer; stats readable from any thread.
 */
#ifndef SL_SHARD_H
#define SL_SHARD_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/ring.h"
#include "engine/sink.h"
#include "engine/stats.h"

struct sl_shard_cfg {
    uint32_t nshards;        /* worker threads; default: online CPUs */
    uint32_t nproducers;     /* ingest threads that will feed the shards */
    uint32_t ring_bytes;     /* per (producer, shard) ring; default 4 MiB */
    int64_t flush_interval_ms; /* default 10 000 */
    uint32_t series_limit;   /* per shard; 0 = unlimited; default 1 000 000 */
    uint32_t expire_intervals; /* drop a series after this many idle flushes; default 30 */
    struct sl_flush_cfg flush;
    struct sl_sink_ops sink; /* BORROWED: must outlive the shard set */
};

void sl_shard_cfg_defaults(struct sl_shard_cfg *cfg);
/** @return 0 or -EINVAL with a message naming the bad field in @err. */
int sl_shard_cfg_check(const struct sl_shard_cfg *cfg, char *err, size_t errlen);

/** Per-shard counters, any reader. One writer each: the shard, except flushes,
 *  flush_ns_* and sink_errors, which the thread that ran the sink writes (the shard's
 *  flusher; the shard itself only while its flusher is idle or stopped). */
struct sl_shard_stats {
    alignas(64) sl_counter records;       /* records applied */
    sl_counter series_active;
    sl_counter series_created;
    sl_counter series_expired;
    sl_counter series_refused;            /* new series refused by the series limit */
    sl_counter series_collisions;         /* distinct keys that shared a 64-bit id */
    sl_counter alloc_failures;            /* records dropped because memory ran out */
    sl_counter bad_records;               /* records that failed validation (a bug if > 0) */
    sl_counter flushes;
    sl_counter flush_ns_total;
    sl_counter flush_ns_last;
    sl_counter sink_errors;
    sl_counter memory_bytes;              /* series records + sketches, at last flush */
    sl_counter sleeps;                    /* futex waits entered with nothing to drain */
    sl_counter records_keyed;             /* records looked up by key, not by route hint */
    sl_counter hints_stale;               /* hinted records sent back to the key path */
};

struct sl_shardset;

/** @return 0, -EINVAL, -ENOMEM. *@out OWNED; threads not yet running. */
int sl_shardset_create(const struct sl_shard_cfg *cfg, struct sl_shardset **out);
/** Start the worker threads. @return 0 or -errno from pthread_create. */
int sl_shardset_start(struct sl_shardset *set);
/**
 * Stop: each shard drains its rings, runs a final flush stamped with the current time and
 * exits. Call only after every producer has stopped for good. Blocks until joined.
 */
void sl_shardset_stop(struct sl_shardset *set);
void sl_shardset_destroy(struct sl_shardset *set);

uint32_t sl_shardset_count(const struct sl_shardset *set);
/** BORROWED pointer to shard @i's counters, valid until destroy. */
const struct sl_shard_stats *sl_shardset_stats(const struct sl_shardset *set, uint32_t i);

/** The shard that owns series @id. */
static inline uint32_t sl_shard_of(uint64_t id, uint32_t nshards)
{
    return (uint32_t)(((id >> 32) * (uint64_t)nshards) >> 32);
}

/**
 * An ingest thread's handle on its row of rings. The fields are the shard set's; they are
 * in this header only so that sl_producer_alloc(), called once per record, inlines into
 * the listeners' per-line loops (as liburing exposes its rings for its inline helpers).
 */
struct sl_producer {
    alignas(64) _Atomic uint64_t _active; /* odd inside a batch; read by shards (shard.c) */
    alignas(64) struct sl_shardset *_set;
    struct sl_ring **_out; /* nshards rings, BORROWED from the set */
    struct sl_ring **_replies; /* nshards reply rings (shard -> this producer), BORROWED */
    const struct sl_shard_epoch *_epochs; /* nshards, BORROWED */
    uint32_t _nshards;
    uint32_t _ndirty;
    uint32_t *_dirty;      /* shards with unpublished records */
    uint8_t *_is_dirty;
};

/** Producer @idx (< cfg.nproducers). BORROWED; one thread may use it. */
struct sl_producer *sl_shardset_producer(struct sl_shardset *set, uint32_t idx);

/**
 * Room for a @len-byte record for series @id in the right shard's ring. @return pointer
 * to fill, TRANSFERRED at the next sl_producer_publish(); NULL when that ring is full (the
 * caller drops and counts, or publishes and waits).
 */
static inline void *sl_producer_alloc(struct sl_producer *p, uint64_t id, uint32_t len)
{
    uint32_t s = sl_shard_of(id, p->_nshards);
    void *m = sl_ring_sp_alloc(p->_out[s], len);
    if (m && !p->_is_dirty[s]) {
        p->_is_dirty[s] = 1;
        p->_dirty[p->_ndirty++] = s;
    }
    return m;
}
/** A shard's epoch as producers read it: one per cache line, written at most once a flush. */
struct sl_shard_epoch {
    alignas(64) _Atomic uint64_t v;
};

/** The epoch shard sl_shard_of(@id) issues hints in now. Relaxed: safety never depends on
 *  it (the shard checks every hinted record itself); it only keeps stale hints off rings. */
static inline uint32_t sl_producer_epoch(const struct sl_producer *p, uint64_t id)
{
    return (uint32_t)atomic_load_explicit(&p->_epochs[sl_shard_of(id, p->_nshards)].v,
                                          memory_order_relaxed);
}

/** A shard's answer to a SL_REC_F_ROUTE_REQ record (see "Route hints" above). */
struct sl_route_reply {
    uint32_t route;  /* the request's route word: the producer's cache slot */
    uint32_t epoch;  /* low 32 bits of the shard epoch the hint is valid in */
    uint64_t id;     /* the request's series id */
    void *hint;      /* the series record, for SL_REC_F_HINTED records */
    uint32_t stamp;  /* the request's stamp */
    uint32_t _pad;
};

/**
 * A producer that sends hinted records brackets each batch: enter() before it reads the
 * first epoch, quiesce() after the publish that makes the batch's records visible. A
 * shard frees expired series only after each producer has been outside a batch since
 * the expiry. Producers that never send hints need neither. Producer's thread.
 */
static inline void sl_producer_enter(struct sl_producer *p)
{
    uint64_t a = atomic_load_explicit(&p->_active, memory_order_relaxed);
    if (a & 1)
        return;
    atomic_store_explicit(&p->_active, a + 1, memory_order_relaxed);
    /* Pairs with the fence after a shard's epoch store (shard.c, retire): either the shard
     * sees this batch open and waits for it, or the batch reads the new epoch. */
    atomic_thread_fence(memory_order_seq_cst);
}
static inline void sl_producer_quiesce(struct sl_producer *p)
{
    uint64_t a = atomic_load_explicit(&p->_active, memory_order_relaxed);
    if (a & 1) /* release: the batch's records were published before */
        atomic_store_explicit(&p->_active, a + 1, memory_order_release);
}

/**
 * Hand every reply the shards have published for @p to @fn, in order per shard.
 * @return the number handed over. Producer's thread.
 */
uint32_t sl_producer_poll_replies(struct sl_producer *p,
                                  void (*fn)(void *ctx, const struct sl_route_reply *r),
                                  void *ctx);

/** Publish every record alloc()ed since the last call and wake sleeping shards. */
void sl_producer_publish(struct sl_producer *p);
/**
 * Wait (sleeping in short steps, at most @max_wait_ms) until every ring of this producer
 * has at least @len bytes free. For stream listeners (TCP) that push back instead of
 * dropping. @return 0, or -EAGAIN on timeout.
 */
int sl_producer_wait_room(struct sl_producer *p, uint32_t len, int max_wait_ms);

#endif
