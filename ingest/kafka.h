/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kafka.h
 * Configuration shared by the Kafka forwarder (kafka_forward.h) and consumer
 * (kafka_consume.h): brokers, topic, group, what a node does with the topic, and librdkafka
 * properties passed through untouched (security.protocol, sasl.*, ssl.*, ...), so every
 * SASL/TLS setup librdkafka supports works without sluice knowing its names.
 *
 * This file and kafka_cfg.c build without librdkafka: the daemon parses a [kafka] section
 * the same way in every build, and only opening a forwarder or consumer fails (-ENOTSUP)
 * when the build has no Kafka support (SL_HAVE_KAFKA == 0).
 * Thread: control plane only.
 */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include <stddef.h>
#include <stdint.h>

enum sl_kafka_role {
    SL_KAFKA_ROLE_NONE = 0, /* Kafka off (the default) */
    SL_KAFKA_ROLE_FORWARD,  /* publish parsed records instead of aggregating them here */
    SL_KAFKA_ROLE_CONSUME,  /* read the topic as a consumer-group member into the shards */
};

enum sl_kafka_format {
    SL_KAFKA_FMT_AUTO = 0, /* consume: wire batch if the value starts with 0xF5, else StatsD */
    SL_KAFKA_FMT_WIRE,     /* only wire batches (others are counted and skipped) */
    SL_KAFKA_FMT_STATSD,   /* only StatsD/DogStatsD lines */
};

enum sl_kafka_on_full {
    SL_KAFKA_FULL_DROP = 0,     /* forward: drop the batch and count its records */
    SL_KAFKA_FULL_BACKPRESSURE, /* forward: the listener waits for room (TCP stops reading) */
};

#define SL_KAFKA_MAX_PROPS 32

struct sl_kafka_prop {
    char name[96];
    char value[416];
};

struct sl_kafka_cfg {
    enum sl_kafka_role role;
    char brokers[512]; /* bootstrap.servers */
    char topic[256];
    char group[256]; /* group.id; consume only; default "sluice" */
    enum sl_kafka_format format;
    uint64_t buffer_bytes; /* forward: local buffer while brokers are unreachable; 64 MiB */
    enum sl_kafka_on_full on_full;
    uint32_t batch_bytes;      /* forward: largest wire batch per message; 64 KiB */
    uint32_t partitions;       /* forward: topic partitions; 0 = ask the brokers at open */
    int64_t flush_interval_ms; /* consume: the shards' flush interval (set by the daemon) */
    uint32_t nprops;
    struct sl_kafka_prop props[SL_KAFKA_MAX_PROPS]; /* passed to rd_kafka_conf_set last */
};

void sl_kafka_cfg_defaults(struct sl_kafka_cfg *cfg);

/**
 * Set one [kafka] key from text: role (none|forward|consume), brokers, topic, group,
 * format (auto|wire|statsd), buffer (bytes, K/M/G suffixes), on_full (drop|backpressure),
 * batch (bytes), partitions, and rdkafka.<property> (passed through to librdkafka).
 * @return 0; -EINVAL for an unknown key or bad value; -ENOSPC when a string is too long or
 *         more than SL_KAFKA_MAX_PROPS properties are given.
 */
int sl_kafka_cfg_set(struct sl_kafka_cfg *cfg, const char *key, const char *value);

/** @return 0, or -EINVAL with the bad key named in @err (role set but no brokers/topic...). */
int sl_kafka_cfg_check(const struct sl_kafka_cfg *cfg, char *err, size_t errlen);

/** 1 when this build has librdkafka (SL_HAVE_KAFKA), else 0. */
int sl_kafka_available(void);

/** "none", "forward" or "consume". */
const char *sl_kafka_role_name(enum sl_kafka_role role);

/** The partition a series id is published to: one series always maps to one partition.
 *  Uses the id's low 32 bits (shards use the high 32, engine/shard.h), so a node's shard
 *  split and the topic's partition split are independent. */
static inline uint32_t sl_kafka_partition_of(uint64_t id, uint32_t npartitions)
{
    return (uint32_t)(((id & 0xffffffffu) * (uint64_t)npartitions) >> 32);
}

#endif
