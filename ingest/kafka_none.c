/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kafka forwarder and consumer for builds without librdkafka (-Dkafka=disabled, or auto
 * with librdkafka-dev missing): the same API, and every open refuses with -ENOTSUP and a
 * message saying how to get Kafka support, so a [kafka] section never silently does nothing.
 * The other calls cannot be reached without a successful open and do nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ingest/kafka_consume.h"
#include "ingest/kafka_forward.h"

static int refuse(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "kafka: this build has no librdkafka (install librdkafka-dev and "
             "configure with -Dkafka=enabled)");
    return -ENOTSUP;
}

int sl_kafka_forward_open(const struct sl_kafka_cfg *cfg, uint32_t nthreads,
                          struct sl_kafka_forward **out, char *err, size_t errlen)
{
    (void)cfg;
    (void)nthreads;
    (void)out;
    return refuse(err, errlen);
}

const struct sl_record_tap *sl_kafka_forward_tap(struct sl_kafka_forward *fw, uint32_t i)
{
    (void)fw;
    (void)i;
    return NULL;
}

int sl_kafka_forward_drain(struct sl_kafka_forward *fw, int timeout_ms)
{
    (void)fw;
    (void)timeout_ms;
    return -ENOTSUP;
}

void sl_kafka_forward_close(struct sl_kafka_forward *fw)
{
    (void)fw;
}

void sl_kafka_forward_get_stats(struct sl_kafka_forward *fw, struct sl_kafka_forward_stats *out)
{
    (void)fw;
    memset(out, 0, sizeof *out);
}

int sl_kafka_consume_open(const struct sl_kafka_cfg *cfg, struct sl_shardset *set,
                          uint32_t producer_idx, struct sl_kafka_consumer **out, char *err,
                          size_t errlen)
{
    (void)cfg;
    (void)set;
    (void)producer_idx;
    (void)out;
    return refuse(err, errlen);
}

int sl_kafka_consume_start(struct sl_kafka_consumer *kc)
{
    (void)kc;
    return -ENOTSUP;
}

void sl_kafka_consume_stop(struct sl_kafka_consumer *kc)
{
    (void)kc;
}

void sl_kafka_consume_mark_durable(struct sl_kafka_consumer *kc, uint32_t shard,
                                   int64_t flush_ts_ms)
{
    (void)kc;
    (void)shard;
    (void)flush_ts_ms;
}

void sl_kafka_consume_close(struct sl_kafka_consumer *kc)
{
    (void)kc;
}

void sl_kafka_consume_get_stats(struct sl_kafka_consumer *kc, struct sl_kafka_consume_stats *out,
                                const struct sl_statsd_feed_stats **feed)
{
    (void)kc;
    memset(out, 0, sizeof *out);
    if (feed) *feed = NULL;
}
