/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file statsd_feed.h
 * Turns StatsD bytes into shard records: split lines, parse, build the canonical key,
 * route by series id, copy into the shard's ring. Every listener (UDP, TCP, DPDK, Kafka)
 * feeds through here, so they all count and refuse input the same way.
 *
 * A line is applied whole or not at all: a multi-value line with one bad value is refused
 * as a whole, so nothing is half-applied. A malformed line is counted by reason and logged
 * at most once per second with a sample of its bytes; the rest of the buffer still parses.
 *
 * Thread: a feeder belongs to one ingest thread (it owns an sl_producer); its stats may be
 * read from any thread.
 */
#ifndef SL_STATSD_FEED_H
#define SL_STATSD_FEED_H

#include <stdalign.h>
#include <stddef.h>

#include "engine/record.h"
#include "engine/shard.h"
#include "engine/stats.h"
#include "ingest/statsd.h"
#include "ingest/statsd_keycache.h"

struct sl_statsd_feed_stats {
    alignas(64) sl_counter packets; /* datagrams, or reads for streams */
    sl_counter bytes;
    sl_counter lines;               /* lines seen (parsed + malformed) */
    sl_counter parsed;              /* lines accepted */
    sl_counter samples;             /* records handed to shards (a line may carry several) */
    sl_counter ring_full_drops;     /* records dropped because a shard ring was full (UDP) */
    sl_counter ring_waits;          /* times a stream listener waited for ring room (TCP) */
    sl_counter tag_errors;          /* tags ignored (no ':' value) */
    sl_counter events;              /* _e lines accepted */
    sl_counter service_checks;      /* _sc lines accepted */
    sl_counter malformed[SL_STATSD_E__COUNT]; /* by enum sl_statsd_reason */
    sl_counter keycache_hits;       /* accepted metric lines whose key came from the cache */
    sl_counter keycache_misses;     /* accepted metric lines whose key was built */
    sl_counter keycache_bypass;     /* built, too long for a cache slot */
    sl_counter lines_dropped_full;  /* lines not applied because the shards stayed full
                                       past max_wait_ms (the rest of that buffer) */
};

/**
 * A record tap: where a feeder sends its records instead of the shard rings (a forwarding
 * node publishes them to Kafka, ingest/kafka_forward.h). @put gets each record with its key
 * inline (r->key, r->key_len bytes), BORROWED for the call only, and @ts_ms, the time the
 * bytes were received; it returns 0 when it took the record or a negative code when it
 * dropped it (the tap counts its own drops). @flush runs where the feeder publishes (end of
 * a buffer or of a batch of datagrams) so the tap can hand off what it batched.
 * Thread: the feeder's thread.
 */
typedef int sl_record_tap_put_fn(void *ctx, const struct sl_record *r, int64_t ts_ms);
typedef void sl_record_tap_flush_fn(void *ctx);
struct sl_record_tap {
    sl_record_tap_put_fn *put;
    sl_record_tap_flush_fn *flush;
    void *ctx;
};

struct sl_statsd_feed {
    struct sl_producer *prod;           /* BORROWED */
    struct sl_statsd_feed_stats *stats; /* BORROWED; written only by this feeder's thread */
    const char *listener;               /* name for logs: "udp", "tcp", "dpdk", "kafka" */
    int block_when_full;                /* 1: wait for ring room (streams), 0: drop + count */
    int max_wait_ms;                    /* with block_when_full: longest wait before giving up
                                           (0 = 5000). UDP waits a little so the socket
                                           buffer, not a ring, absorbs a burst */
    uint32_t max_line;                  /* longer lines are refused as too_long; 0 = no limit */
    const struct sl_record_tap *tap;    /* BORROWED; NULL: records go to the shards */
    int64_t _now_ms;                    /* private: receive time of the buffer being fed */
    struct sl_statsd_keycache *_cache;  /* OWNED via sl_statsd_feed_init/fini; NULL = none */
};

/**
 * Give a feeder its series key cache (ingest/statsd_keycache.h). Call on the setup thread
 * after filling the fields above; a feeder never passed here (zeroed _cache) works the
 * same, only building every key. Not on the per-line path: this allocates.
 * @param entries  cache slots, a power of two (SL_STATSD_KEYCACHE_DEFAULT), or 0 for none
 * @return 0, -EINVAL for a bad @entries, -ENOMEM. On failure the feeder has no cache and
 *         stays usable.
 */
int sl_statsd_feed_init(struct sl_statsd_feed *f, uint32_t entries);

/** Free what sl_statsd_feed_init() allocated. Safe on a feeder it never saw (zeroed). */
void sl_statsd_feed_fini(struct sl_statsd_feed *f);

/**
 * Feed one buffer of complete lines (a datagram, or the complete-lines prefix of a stream
 * read). Publishes the records before returning.
 * @return number of lines accepted. With block_when_full, -EAGAIN if the shards stayed
 *         full for over 5 s (records already accepted stay accepted).
 */
int sl_statsd_feed(struct sl_statsd_feed *f, const char *buf, size_t len);

/** Same, without publishing: for listeners that publish once per batch of datagrams. */
int sl_statsd_feed_nopublish(struct sl_statsd_feed *f, const char *buf, size_t len);

/** One buffer of complete lines; @p BORROWED for the feed call. */
struct sl_statsd_buf {
    const char *p;
    size_t n;
};

/**
 * Feed a batch of buffers (the datagrams of one recvmmsg, io_uring completion batch or
 * DPDK burst) without publishing. Equivalent to sl_statsd_feed_nopublish() on each in
 * order, but lines are parsed ahead across buffer boundaries, so 1-line datagrams overlap
 * their key cache misses the way the lines of one large datagram do.
 * @return lines accepted over the batch; -EAGAIN as sl_statsd_feed() (the rest of the
 *         batch is counted in lines_dropped_full).
 */
int sl_statsd_feed_many_nopublish(struct sl_statsd_feed *f, const struct sl_statsd_buf *bufs,
                                  size_t nbufs);

/** Publish what sl_statsd_feed_nopublish() produced: the shard rings, or the tap's flush.
 *  Call this, not sl_producer_publish(): it also ends the producer's batch, which lets
 *  shards free the series that expired meanwhile (engine/shard.h, "Route hints"). */
void sl_statsd_feed_publish(struct sl_statsd_feed *f);

#endif
