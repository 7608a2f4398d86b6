/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kafka forwarder (contract and design in kafka_forward.h).
 *
 *   listener thread i:  feeder ──put──▶ parts[partition_of(id)] (wire batch, 64 KiB)
 *                                 └─ full, or feeder publishes ──▶ rd_kafka_produce(p, COPY)
 *   poll thread:        rd_kafka_poll() ──▶ delivery reports ──▶ delivered / failed counters
 *
 * A listener thread owns its batches outright (no locks); librdkafka's produce call is
 * thread-safe and copies the batch (RD_KAFKA_MSG_F_COPY, one copy per ~1 500 records),
 * so the batch buffer is reused at once. Batch buffers are allocated the first time a
 * thread writes to a partition and kept: a steady state allocates nothing.
 *
 * Delivery reports run on whichever thread calls rd_kafka_poll()/rd_kafka_flush() (the poll
 * thread, or close), so those two counters are atomic adds (once per message, not per
 * record); every other counter has one writer, its listener thread.
 */
#include "ingest/kafka_forward.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "ingest/wire.h"

struct fwd_part {
    uint8_t *buf; /* OWNED; NULL until this thread first writes to the partition */
    struct sl_wire_writer w;
    int dirty; /* in the thread's dirty list */
};

struct fwd_thread {
    alignas(64) struct sl_kafka_forward *fw;
    struct sl_record_tap tap;
    struct fwd_part *parts; /* OWNED; nparts */
    uint32_t *dirty;        /* OWNED; partitions written since the last flush */
    uint32_t ndirty;
    sl_counter records, dropped, invalid, messages, bytes, full_waits;
};

struct sl_kafka_forward {
    struct sl_kafka_cfg cfg;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    uint32_t nparts, nthreads;
    struct fwd_thread *th; /* OWNED; nthreads */
    pthread_t poll_th;
    int poll_started;
    _Atomic int running;
    alignas(64) _Atomic uint64_t delivered;
    _Atomic uint64_t failed;
};

static struct sl_log_limit drop_log, fail_log;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct sl_kafka_forward *fw = opaque;
    uint64_t n = (uint64_t)(uintptr_t)m->_private;
    /* Relaxed: counters read by scrapes only; several threads may serve reports. */
    if (m->err) {
        atomic_fetch_add_explicit(&fw->failed, n, memory_order_relaxed);
        sl_log_every(&fail_log, 1000, SL_LOG_WARN,
                     "kafka=forward event=delivery_failed partition=%d records=%llu error=\"%s\"",
                     (int)m->partition, (unsigned long long)n, rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add_explicit(&fw->delivered, n, memory_order_relaxed);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Hand partition @p's batch to librdkafka and start a new one. */
static void produce_part(struct fwd_thread *t, uint32_t p)
{
    struct sl_kafka_forward *fw = t->fw;
    struct fwd_part *pp = &t->parts[p];
    uint32_t n = sl_wire_count(&pp->w);
    if (!n) return;
    size_t len = sl_wire_finish(&pp->w);
    for (;;) {
        if (rd_kafka_produce(fw->rkt, (int32_t)p, RD_KAFKA_MSG_F_COPY, pp->buf, len, NULL, 0,
                             (void *)(uintptr_t)n) == 0) {
            sl_stat_add(&t->messages, 1);
            sl_stat_add(&t->bytes, len);
            break;
        }
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        /* Relaxed: running only goes 1 -> 0 at close; a late look costs one more wait. */
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && fw->cfg.on_full == SL_KAFKA_FULL_BACKPRESSURE &&
            atomic_load_explicit(&fw->running, memory_order_relaxed)) {
            /* The poll thread frees room as deliveries complete; 2 ms is far below a
             * produce round trip, so waiting here costs no throughput. */
            sl_stat_add(&t->full_waits, 1);
            sleep_ms(2);
            continue;
        }
        sl_stat_add(&t->dropped, n);
        sl_log_every(&drop_log, 1000, SL_LOG_WARN,
                     "kafka=forward event=drop reason=\"%s\" partition=%u records=%u",
                     rd_kafka_err2str(e), p, n);
        break;
    }
    sl_wire_writer_init(&pp->w, pp->buf, fw->cfg.batch_bytes, 0);
}

static int tap_put(void *ctx, const struct sl_record *r, int64_t ts_ms)
{
    struct fwd_thread *t = ctx;
    struct sl_kafka_forward *fw = t->fw;
    uint32_t p = sl_kafka_partition_of(r->id, fw->nparts);
    struct fwd_part *pp = &t->parts[p];
    if (!pp->buf) {
        /* First record of this thread for partition p: the one allocation, kept for good. */
        pp->buf = malloc(fw->cfg.batch_bytes);
        if (!pp->buf) {
            sl_stat_add(&t->dropped, 1);
            return -ENOMEM;
        }
        sl_wire_writer_init(&pp->w, pp->buf, fw->cfg.batch_bytes, ts_ms);
    }
    if (!sl_wire_count(&pp->w))
        pp->w.base_ts_ms = ts_ms; /* timestamps in a batch are deltas from its first */
    int rc = sl_wire_put(&pp->w, r, r->key, ts_ms);
    if (rc == -ENOSPC) {
        produce_part(t, p);
        pp->w.base_ts_ms = ts_ms;
        rc = sl_wire_put(&pp->w, r, r->key, ts_ms);
    }
    if (rc) {
        sl_stat_add(&t->invalid, 1);
        return rc;
    }
    if (!pp->dirty) {
        pp->dirty = 1;
        t->dirty[t->ndirty++] = p;
    }
    sl_stat_add(&t->records, 1);
    return 0;
}

static void tap_flush(void *ctx)
{
    struct fwd_thread *t = ctx;
    for (uint32_t i = 0; i < t->ndirty; i++) {
        uint32_t p = t->dirty[i];
        produce_part(t, p);
        t->parts[p].dirty = 0;
    }
    t->ndirty = 0;
}

static void *poll_main(void *arg)
{
    struct sl_kafka_forward *fw = arg;
    /* Relaxed: close() joins this thread after clearing the flag; 100 ms late is fine. */
    while (atomic_load_explicit(&fw->running, memory_order_relaxed))
        rd_kafka_poll(fw->rk, 100);
    return NULL;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.rdkafka.%s=%s: %s", k, v, e);
        return -EINVAL;
    }
    return 0;
}

static int topic_partitions(struct sl_kafka_forward *fw, uint32_t *n, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(fw->rk, 0, fw->rkt, &md, 10000);
    if (e) {
        snprintf(err, errlen, "kafka: no metadata for topic %s from %s: %s", fw->cfg.topic,
                 fw->cfg.brokers, rd_kafka_err2str(e));
        return -ETIMEDOUT;
    }
    int rc = -ENOENT;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, fw->cfg.topic) != 0) continue;
        if (md->topics[i].err == 0 && md->topics[i].partition_cnt > 0) {
            *n = (uint32_t)md->topics[i].partition_cnt;
            rc = 0;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rc)
        snprintf(err, errlen,
                 "kafka: topic %s has no partitions on %s (create it, or set "
                 "kafka.partitions)",
                 fw->cfg.topic, fw->cfg.brokers);
    return rc;
}

int sl_kafka_forward_open(const struct sl_kafka_cfg *cfg, uint32_t nthreads,
                          struct sl_kafka_forward **out, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    char num[32];
    struct sl_kafka_forward *fw = calloc(1, sizeof *fw);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!fw || !conf) goto fail;
    fw->cfg = *cfg;
    fw->nthreads = nthreads;
    snprintf(num, sizeof num, "%llu", (unsigned long long)(cfg->buffer_bytes / 1024));
    if ((rc = conf_set(conf, "bootstrap.servers", cfg->brokers, err, errlen)) ||
        (rc = conf_set(conf, "enable.idempotence", "true", err, errlen)) ||
        (rc = conf_set(conf, "compression.type", "lz4", err, errlen)) ||
        (rc = conf_set(conf, "linger.ms", "5", err, errlen)) ||
        (rc = conf_set(conf, "message.timeout.ms", "0", err, errlen)) ||
        (rc = conf_set(conf, "queue.buffering.max.kbytes", num, err, errlen)) ||
        (rc = conf_set(conf, "queue.buffering.max.messages", "1000000", err, errlen)))
        goto fail;
    for (uint32_t i = 0; i < cfg->nprops; i++)
        if ((rc = conf_set(conf, cfg->props[i].name, cfg->props[i].value, err, errlen))) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, fw);
    char e[512];
    fw->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!fw->rk) {
        snprintf(err, errlen, "kafka: producer: %s", e);
        rc = -EINVAL;
        goto fail;
    }
    conf = NULL; /* TRANSFERRED to rk */
    fw->rkt = rd_kafka_topic_new(fw->rk, cfg->topic, NULL);
    if (!fw->rkt) {
        snprintf(err, errlen, "kafka: topic %s: %s", cfg->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        rc = -EINVAL;
        goto fail;
    }
    fw->nparts = cfg->partitions;
    if (!fw->nparts && (rc = topic_partitions(fw, &fw->nparts, err, errlen))) goto fail;
    rc = -ENOMEM;
    fw->th = calloc(nthreads ? nthreads : 1, sizeof *fw->th);
    if (!fw->th) goto fail;
    for (uint32_t i = 0; i < nthreads; i++) {
        struct fwd_thread *t = &fw->th[i];
        t->fw = fw;
        t->tap = (struct sl_record_tap){tap_put, tap_flush, t};
        t->parts = calloc(fw->nparts, sizeof *t->parts);
        t->dirty = calloc(fw->nparts, sizeof *t->dirty);
        if (!t->parts || !t->dirty) goto fail;
    }
    atomic_store_explicit(&fw->running, 1, memory_order_relaxed);
    if ((rc = -pthread_create(&fw->poll_th, NULL, poll_main, fw))) goto fail;
    fw->poll_started = 1;
    SL_INFO("kafka=forward event=open brokers=%s topic=%s partitions=%u threads=%u "
            "buffer_bytes=%llu on_full=%s",
            cfg->brokers, cfg->topic, fw->nparts, nthreads, (unsigned long long)cfg->buffer_bytes,
            cfg->on_full == SL_KAFKA_FULL_DROP ? "drop" : "backpressure");
    *out = fw;
    return 0;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    sl_kafka_forward_close(fw);
    return rc;
}

const struct sl_record_tap *sl_kafka_forward_tap(struct sl_kafka_forward *fw, uint32_t i)
{
    return i < fw->nthreads ? &fw->th[i].tap : NULL;
}

int sl_kafka_forward_drain(struct sl_kafka_forward *fw, int timeout_ms)
{
    /* The listeners have stopped: their unpublished batches (none after a normal publish)
     * can be handed off from here. */
    for (uint32_t i = 0; i < fw->nthreads; i++)
        tap_flush(&fw->th[i]);
    return rd_kafka_flush(fw->rk, timeout_ms) ? -ETIMEDOUT : 0;
}

void sl_kafka_forward_close(struct sl_kafka_forward *fw)
{
    if (!fw) return;
    if (fw->rk && fw->th && sl_kafka_forward_drain(fw, 10000))
        SL_WARN("kafka=forward event=close_undelivered messages=%d", rd_kafka_outq_len(fw->rk));
    atomic_store_explicit(&fw->running, 0, memory_order_relaxed);
    if (fw->poll_started) pthread_join(fw->poll_th, NULL);
    if (fw->th) {
        for (uint32_t i = 0; i < fw->nthreads; i++) {
            if (fw->th[i].parts)
                for (uint32_t p = 0; p < fw->nparts; p++)
                    free(fw->th[i].parts[p].buf);
            free(fw->th[i].parts);
            free(fw->th[i].dirty);
        }
        free(fw->th);
    }
    if (fw->rkt) rd_kafka_topic_destroy(fw->rkt);
    if (fw->rk) rd_kafka_destroy(fw->rk);
    free(fw);
}

void sl_kafka_forward_get_stats(struct sl_kafka_forward *fw, struct sl_kafka_forward_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < fw->nthreads; i++) {
        const struct fwd_thread *t = &fw->th[i];
        out->records += sl_stat_get(&t->records);
        out->records_dropped += sl_stat_get(&t->dropped);
        out->records_invalid += sl_stat_get(&t->invalid);
        out->messages += sl_stat_get(&t->messages);
        out->bytes += sl_stat_get(&t->bytes);
        out->full_waits += sl_stat_get(&t->full_waits);
    }
    /* Relaxed: a scrape tolerates a slightly old value. */
    out->records_delivered = atomic_load_explicit(&fw->delivered, memory_order_relaxed);
    out->records_failed = atomic_load_explicit(&fw->failed, memory_order_relaxed);
    out->buffered_messages = (uint64_t)rd_kafka_outq_len(fw->rk);
    out->partitions = fw->nparts;
}
