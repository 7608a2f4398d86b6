/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kafka_consume.h
 * Consuming: a storage node joins a consumer group on the topic and feeds the records of
 * the partitions the group assigns it into its shards through its own sl_producer. Message
 * values are wire batches (ingest/wire.h) or plain StatsD/DogStatsD lines (kafka.format).
 *
 * At-least-once, committed after durability. Offsets are never auto-committed. After a
 * message's records are published to the shard rings, the consumer notes "partition p is
 * handed off up to offset o at wall time T" (a checkpoint). A shard drains its rings before
 * each flush, and the drain before the flush at boundary B starts at or after B - interval
 * (engine/shard.c), so records published before B - interval are in that flush. When every
 * shard has reported, through sl_kafka_consume_mark_durable(), a durable flush at a boundary
 * B with T < B - interval, the checkpoint's offsets are committed. The daemon calls the hook
 * from its flush sink after the flush's data is durable: today after the in-memory
 * exposition took it; with the WAL, after the WAL fsync.
 *
 * Why replays don't double-count:
 *  - Rebalance (a node joins or leaves gracefully): on revocation the consumer stops, waits
 *    until everything it handed off is durable, commits synchronously, and only then gives
 *    the partitions up. The next owner starts exactly after the last record this node
 *    counted. Shutdown does the same (sl_kafka_consume_close()). Apache Kafka accepts that
 *    commit while the rebalance is being prepared; a coordinator that refuses it (librdkafka's
 *    mock cluster answers REBALANCE_IN_PROGRESS) gets it again from the old owner as the
 *    first thing after the new assignment, under the new generation, and every node waits
 *    SL_KAFKA_HANDOFF_GRACE_MS (1 s) after an assignment before reading committed offsets,
 *    so the new owner sees the hand-off commit. That wait is a timing assumption (the old
 *    owner's commit is one round trip after the same SyncGroup round); if it is ever
 *    exceeded the tail is re-read (at-least-once), never lost.
 *  - Crash (kill -9): the records after the last commit were never durable on the dead
 *    node, so nothing of them survives there; the next owner re-reads them from the
 *    committed offset and counts them once. With the WAL, a crashed node may restart with
 *    records that are in its WAL but whose commit did not happen; those come back from Kafka
 *    a second time. Counters stay exact because storage writes are idempotent per
 *    (series, timestamp): every wire sample carries its source timestamp (stamped once by
 *    the forwarder), so a replayed sample lands on the same (series, ts) cell and
 *    overwrites rather than adds. The WAL should also store the committed offsets with each
 *    flush so a restarted node resumes from its own WAL position.
 *
 * Partitions are assigned eagerly (range/roundrobin assignors); the revoke wait is bounded
 * by 2 flush intervals + 5 s, after which the node gives the partitions up uncommitted
 * (at-least-once: the next owner may re-count that tail) and counts it in revoke_timeouts.
 * A malformed message is counted and skipped (its offset is committed like any other:
 * a poison message must not stop a partition).
 *
 * Threads: open/start/stop/close on the control plane; one consumer thread inside;
 * mark_durable from any shard thread; stats from any thread.
 */
#ifndef SL_KAFKA_CONSUME_H
#define SL_KAFKA_CONSUME_H

#include <stdint.h>

#include "engine/shard.h"
#include "ingest/kafka.h"
#include "ingest/statsd_feed.h"

struct sl_kafka_consumer;

struct sl_kafka_consume_stats {
    uint64_t messages; /* message values processed */
    uint64_t bytes;
    uint64_t wire_batches;   /* values decoded as wire batches */
    uint64_t statsd_values;  /* values fed as StatsD lines */
    uint64_t records;        /* wire records handed to the shards */
    uint64_t bad_messages;   /* values refused: corrupt/unknown-version batch, wrong format */
    uint64_t consume_errors; /* consumer errors (not EOF); StatsD values cut by a 5 s stall */
    uint64_t ring_waits;     /* times the consumer waited for shard ring room */
    uint64_t commits;        /* offset commits requested */
    uint64_t commit_errors;
    uint64_t rebalances;             /* assignments + revocations */
    uint64_t revoke_timeouts;        /* revocations given up before the data was durable */
    uint64_t assigned;               /* partitions owned now (gauge) */
    uint64_t lag_records;            /* sum over owned partitions of high watermark - position */
    uint64_t uncommitted_partitions; /* owned partitions with consumed-but-uncommitted data */
};

/**
 * Create the consumer and subscribe (no thread yet).
 * @param cfg BORROWED; copied. cfg->flush_interval_ms must be the shards' interval.
 * @param set BORROWED; must outlive the consumer.
 * @param producer_idx this consumer's sl_producer index (counted in cfg.shard.nproducers).
 * @param[out] out OWNED.
 * @return 0; -EINVAL (bad librdkafka property, named in @err); -ENOMEM; -ENOTSUP.
 */
int sl_kafka_consume_open(const struct sl_kafka_cfg *cfg, struct sl_shardset *set,
                          uint32_t producer_idx, struct sl_kafka_consumer **out, char *err,
                          size_t errlen);

/** Start the consumer thread. @return 0 or -errno. */
int sl_kafka_consume_start(struct sl_kafka_consumer *kc);

/** Stop the consumer thread: nothing more goes to the shards. Call before
 *  sl_shardset_stop(). Safe to call twice. */
void sl_kafka_consume_stop(struct sl_kafka_consumer *kc);

/**
 * The flush at boundary @flush_ts_ms of shard @shard is durable. Call from the flush sink,
 * after the flush's data is durable, for every shard's flush. Cheap (one atomic store).
 * Thread: the shard's thread.
 */
void sl_kafka_consume_mark_durable(struct sl_kafka_consumer *kc, uint32_t shard,
                                   int64_t flush_ts_ms);

/** After sl_shardset_stop() (every record handed off is flushed): commit every offset,
 *  leave the group, free. NULL does nothing. */
void sl_kafka_consume_close(struct sl_kafka_consumer *kc);

/** Snapshot of the counters. The feeder's own StatsD counters are in @feed (may be NULL). */
void sl_kafka_consume_get_stats(struct sl_kafka_consumer *kc, struct sl_kafka_consume_stats *out,
                                const struct sl_statsd_feed_stats **feed);

#endif
