/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kafka_forward.h
 * Forwarding: an ingest node publishes the records its listeners parse to a Kafka topic,
 * and storage nodes consume them (kafka_consume.h).
 *
 * Where it taps: raw records, before aggregation. The forwarder is a record tap
 * (struct sl_record_tap, ingest/statsd_feed.h) that each listener thread's feeder calls
 * instead of writing its shard rings; it is not a flush sink. Forwarding flushed aggregates
 * would need every series' whole interval on one ingest node (it never is: clients spray
 * lines over all ingest nodes), would lose timer samples to pre-computed quantiles that do
 * not merge, and would tie the storage node's interval to the ingest node's clock. Raw
 * records let the node that owns a series (its partition) aggregate it once, with every
 * sample, exactly as a single node would.
 *
 * Partitioning: sluice picks the partition itself, sl_kafka_partition_of(series id), so one
 * series always lands in one partition and so on one consumer. Each listener thread keeps
 * one wire batch (ingest/wire.h) per partition and produces it as one message when it fills
 * (kafka.batch) or when the feeder publishes (end of a TCP read, end of a batch of
 * datagrams). A message holds many series of one partition, so it carries no Kafka key: the
 * explicit partition is the key.
 *
 * Producer: enable.idempotence=true (no duplicates or reordering on retries),
 * compression.type=lz4, linger.ms=5 (librdkafka batches messages per partition into
 * produce requests), message.timeout.ms=0 (never expire: while brokers are unreachable,
 * messages wait). The wait is bounded by kafka.buffer (queue.buffering.max.kbytes); beyond
 * it kafka.on_full decides: drop (the batch's records are counted in records_dropped) or
 * backpressure (the listener thread waits for room, polling delivery reports: TCP clients
 * are then pushed back by their socket buffers, UDP datagrams queue in and overflow the
 * kernel's buffer, which the kernel counts). kafka.rdkafka.* properties are applied last
 * and may override any of these.
 *
 * Delivery reports are served by one poll thread and counted per record: acknowledged
 * (records_delivered) or failed after librdkafka gave up (records_failed).
 *
 * Threads: open/close on the control plane; the tap from its one listener thread
 * (sl_kafka_forward_tap(fw, i) is thread i's); stats from any thread.
 */
#ifndef SL_KAFKA_FORWARD_H
#define SL_KAFKA_FORWARD_H

#include <stdint.h>

#include "engine/stats.h"
#include "ingest/kafka.h"
#include "ingest/statsd_feed.h"

struct sl_kafka_forward;

/** Totals over every listener thread plus the delivery-report thread. */
struct sl_kafka_forward_stats {
    uint64_t records;           /* records taken by the taps */
    uint64_t records_dropped;   /* records dropped: local buffer full with on_full=drop */
    uint64_t records_invalid;   /* records the wire format refused (a bug if > 0) */
    uint64_t messages;          /* messages handed to librdkafka */
    uint64_t bytes;             /* their value bytes, before compression */
    uint64_t full_waits;        /* times a tap waited for buffer room (backpressure) */
    uint64_t records_delivered; /* acknowledged by the brokers */
    uint64_t records_failed;    /* delivery failed permanently */
    uint64_t buffered_messages; /* messages in librdkafka's queue now (gauge) */
    uint32_t partitions;
};

/**
 * Connect (lazily: librdkafka connects in the background) and learn the topic's partition
 * count (kafka.partitions, else broker metadata, waiting up to 10 s).
 * @param cfg BORROWED; copied.
 * @param nthreads listener threads that will each use one tap.
 * @param[out] out OWNED; close with sl_kafka_forward_close().
 * @return 0; -EINVAL (bad librdkafka property: @err names it); -ETIMEDOUT (no metadata);
 *         -ENOENT (topic unknown); -ENOMEM; -ENOTSUP (built without librdkafka).
 */
int sl_kafka_forward_open(const struct sl_kafka_cfg *cfg, uint32_t nthreads,
                          struct sl_kafka_forward **out, char *err, size_t errlen);

/** Tap for listener thread @i (< nthreads). BORROWED; valid until close. NULL if out of range. */
const struct sl_record_tap *sl_kafka_forward_tap(struct sl_kafka_forward *fw, uint32_t i);

/**
 * Wait up to @timeout_ms for every buffered message to be acknowledged.
 * @return 0, or -ETIMEDOUT with messages still buffered.
 * Thread: control plane, after the listeners stopped.
 */
int sl_kafka_forward_drain(struct sl_kafka_forward *fw, int timeout_ms);

/** Drain (up to 10 s), stop the poll thread, free. Call after the listeners stopped.
 *  NULL does nothing. */
void sl_kafka_forward_close(struct sl_kafka_forward *fw);

void sl_kafka_forward_get_stats(struct sl_kafka_forward *fw, struct sl_kafka_forward_stats *out);

#endif
