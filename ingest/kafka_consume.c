/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kafka consumer (contract, commit rule and replay argument in kafka_consume.h).
 *
 *   consumer thread: poll ─▶ value ─┬─ wire batch ─▶ verify whole batch ─▶ records ─▶ rings
 *                                   └─ StatsD text ─▶ sl_statsd_feed (its own feeder)  ─┘
 *                    publish ─▶ pos[p] = offset + 1 ─▶ every interval/16: checkpoint (T, pos[])
 *   shard threads:   flush sink ─▶ sl_kafka_consume_mark_durable(shard, B) ─▶ durable[shard]
 *   consumer thread: oldest checkpoints with T < min(durable) - interval ─▶ commit
 *
 * Checkpoints live in a fixed FIFO of 64 (allocated at open): at interval/16 apart it covers
 * four flush intervals, more than the two a checkpoint waits for. When it is full the newest
 * entry is moved forward instead of adding one, which only delays commits, never makes one
 * early. Partition numbers are tracked up to SL_KAFKA_CONSUME_MAX_PARTITIONS; offsets of
 * higher partitions are consumed but never committed (logged loudly).
 *
 * A wire batch is verified end to end before any of its records is handed off, so a batch
 * applies whole or not at all and a replayed message never half-counts.
 */
#include "ingest/kafka_consume.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/clock.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "ingest/wire.h"

#define SL_KAFKA_CONSUME_MAX_PARTITIONS 4096
#define NCKPT 64
#define SL_KAFKA_HANDOFF_GRACE_MS 1000

struct ckpt {
    int64_t t_ms;  /* wall time after every record up to offs[] was published */
    int64_t *offs; /* OWNED; next offset per partition, -1 = nothing consumed */
};

struct sl_kafka_consumer {
    struct sl_kafka_cfg cfg;
    struct sl_shardset *set;
    struct sl_producer *prod;
    uint32_t nshards;
    rd_kafka_t *rk;
    pthread_t th;
    int started;
    _Atomic int running;
    _Atomic int all_durable;  /* set by close() once the shards have stopped */
    _Atomic int64_t *durable; /* OWNED; per shard: boundary of its last durable flush */

    /* Consumer-thread state (or control thread after the consumer thread has joined). */
    int64_t *pos;       /* OWNED; next offset per partition, -1 = none since assignment */
    int64_t *committed; /* OWNED; last offset committed per partition */
    uint8_t *owned;     /* OWNED; assigned to us now */
    int64_t *deferred;  /* OWNED; durable offsets whose revoke-time commit was refused */
    int has_deferred;
    uint32_t npos; /* partitions 0..npos-1 may hold a position */
    struct ckpt ck[NCKPT];
    uint32_t ck_head, ck_n;
    int64_t last_ck_ms, ck_period_ms;
    int dirty; /* pos changed since the last checkpoint */
    struct sl_statsd_feed feed;
    struct sl_statsd_feed_stats feed_stats;

    sl_counter messages, bytes, wire_batches, statsd_values, records, bad_messages, consume_errors,
        ring_waits, commits, commit_errors, rebalances, revoke_timeouts, assigned, lag, uncommitted;
};

static struct sl_log_limit bad_log, err_log, part_log;

void sl_kafka_consume_mark_durable(struct sl_kafka_consumer *kc, uint32_t shard,
                                   int64_t flush_ts_ms)
{
    if (shard < kc->nshards)
        /* R1: pairs with A1 in min_durable(); the flush's data is durable before this. */
        atomic_store_explicit(&kc->durable[shard], flush_ts_ms, memory_order_release);
}

static int64_t min_durable(struct sl_kafka_consumer *kc)
{
    /* Relaxed: close() sets all_durable after joining the shard threads (a full barrier). */
    if (atomic_load_explicit(&kc->all_durable, memory_order_relaxed)) return INT64_MAX;
    int64_t m = INT64_MAX;
    for (uint32_t s = 0; s < kc->nshards; s++) {
        /* A1: pairs with R1 in sl_kafka_consume_mark_durable(). */
        int64_t d = atomic_load_explicit(&kc->durable[s], memory_order_acquire);
        if (d < m) m = d;
    }
    return m;
}

static void add_ckpt(struct sl_kafka_consumer *kc, int64_t now)
{
    struct ckpt *c;
    if (kc->ck_n == NCKPT)
        c = &kc->ck[(kc->ck_head + NCKPT - 1) % NCKPT]; /* move the newest forward */
    else
        c = &kc->ck[(kc->ck_head + kc->ck_n++) % NCKPT];
    c->t_ms = now;
    /* npos only grows and every entry starts at -1, so entries past it are still -1. */
    memcpy(c->offs, kc->pos, kc->npos * sizeof *kc->pos);
    kc->dirty = 0;
    kc->last_ck_ms = now;
}

static void commit_offs(struct sl_kafka_consumer *kc, const int64_t *offs, int sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    if (!l) return;
    for (uint32_t p = 0; p < kc->npos; p++) {
        if (!kc->owned[p] || offs[p] < 0 || offs[p] == kc->committed[p]) continue;
        rd_kafka_topic_partition_list_add(l, kc->cfg.topic, (int32_t)p)->offset = offs[p];
        kc->committed[p] = offs[p];
    }
    if (l->cnt) {
        sl_stat_add(&kc->commits, 1);
        rd_kafka_resp_err_t e = rd_kafka_commit(kc->rk, l, !sync);
        SL_DEBUG("kafka=consume event=commit partitions=%d sync=%d error=\"%s\"", l->cnt, sync,
                 rd_kafka_err2str(e));
        if (e) {
            for (int i = 0; i < l->cnt; i++) /* not committed: a later commit retries them */
                kc->committed[l->elems[i].partition] = -1;
            sl_stat_add(&kc->commit_errors, 1);
            sl_log_every(&err_log, 1000, SL_LOG_WARN,
                         "kafka=consume event=commit_failed error=\"%s\"", rd_kafka_err2str(e));
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Commit the newest checkpoint that every shard has made durable. @return checkpoints left. */
static uint32_t try_commit(struct sl_kafka_consumer *kc, int sync)
{
    int64_t d = min_durable(kc);
    int64_t limit = d == INT64_MAX ? INT64_MAX : d - kc->cfg.flush_interval_ms;
    const struct ckpt *best = NULL;
    while (kc->ck_n && kc->ck[kc->ck_head].t_ms < limit) {
        best = &kc->ck[kc->ck_head];
        kc->ck_head = (kc->ck_head + 1) % NCKPT;
        kc->ck_n--;
    }
    if (best) /* still intact: only add_ckpt() overwrites, and not before we return */
        commit_offs(kc, best->offs, sync);
    return kc->ck_n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Commit @offs (>= 0 entries; partitions not necessarily owned now) synchronously. */
static int commit_handoff(struct sl_kafka_consumer *kc, const int64_t *offs)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    if (!l) return -ENOMEM;
    for (uint32_t p = 0; p < kc->npos; p++)
        if (offs[p] >= 0)
            rd_kafka_topic_partition_list_add(l, kc->cfg.topic, (int32_t)p)->offset = offs[p];
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(kc->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt) sl_stat_add(&kc->commits, 1);
    rd_kafka_topic_partition_list_destroy(l);
    return e ? SL_E_PROTO : 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct sl_kafka_consumer *kc = opaque;
    /* Eager (the default assignors): every partition is revoked before the member rejoins.
     * Cooperative (if configured through kafka.rdkafka.partition.assignment.strategy):
     * only moving partitions are revoked; the incremental calls below are required then. */
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    sl_stat_add(&kc->rebalances, 1);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Hand-off, old owner's side: offsets whose revoke-time commit the coordinator
         * refused (it was already rebalancing) are committed now, under the new generation,
         * before anyone fetches them (see the grace below). */
        if (kc->has_deferred) {
            if (commit_handoff(kc, kc->deferred)) {
                sl_stat_add(&kc->commit_errors, 1);
                SL_WARN("kafka=consume event=handoff_commit_failed "
                        "note=\"the next owner re-reads the tail\"");
            }
            kc->has_deferred = 0;
            for (uint32_t p = 0; p < kc->npos; p++)
                kc->deferred[p] = -1;
        }
        /* Hand-off, new owner's side: give the previous owner that long to land its
         * deferred commit before our fetch position is read from the committed offsets.
         * Both sides get their assignment from the same SyncGroup round, and a commit is
         * one round trip (~1 ms on a LAN), so 1 s is a wide margin for one stall per
         * rebalance. */
        sleep_ms(SL_KAFKA_HANDOFF_GRACE_MS);
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (p < 0 || p >= SL_KAFKA_CONSUME_MAX_PARTITIONS) {
                SL_ERROR("kafka=consume event=partition_untracked partition=%d max=%d "
                         "note=\"consumed but never committed\"",
                         (int)p, SL_KAFKA_CONSUME_MAX_PARTITIONS);
                continue;
            }
            kc->owned[p] = 1;
            kc->pos[p] = -1;
            kc->committed[p] = -1;
            if ((uint32_t)p >= kc->npos) kc->npos = (uint32_t)p + 1;
        }
        sl_stat_set(&kc->assigned, sl_stat_get(&kc->assigned) + (uint64_t)parts->cnt);
        SL_INFO("kafka=consume event=assigned partitions=%d protocol=%s", parts->cnt,
                coop ? "cooperative" : "eager");
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        return;
    }
    /* Revoke: make everything handed off durable and commit it before letting go. */
    if (kc->dirty) add_ckpt(kc, sl_clock_wall_ms());
    int64_t deadline = sl_clock_mono_ns() / 1000000 + 2 * kc->cfg.flush_interval_ms + 5000;
    int durable = 1;
    while (try_commit(kc, 1) > 0) {
        if (sl_clock_mono_ns() / 1000000 > deadline) {
            sl_stat_add(&kc->revoke_timeouts, 1);
            SL_WARN("kafka=consume event=revoke_timeout checkpoints=%u "
                    "note=\"partitions released uncommitted; the next owner re-reads the tail\"",
                    kc->ck_n);
            kc->ck_n = 0;
            durable = 0;
            break;
        }
        sleep_ms(10);
    }
    /* Everything handed off is durable now. A commit the coordinator refused (Kafka accepts
     * commits while a rebalance is being prepared; stricter coordinators, like librdkafka's
     * mock cluster, refuse them) is kept and made at the next assignment. */
    int lost = rd_kafka_assignment_lost(rk);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= SL_KAFKA_CONSUME_MAX_PARTITIONS) continue;
        if (durable && !lost && kc->pos[p] >= 0 && kc->pos[p] != kc->committed[p]) {
            kc->deferred[p] = kc->pos[p];
            kc->has_deferred = 1;
        }
        kc->owned[p] = 0;
        kc->pos[p] = -1;
    }
    uint64_t a = sl_stat_get(&kc->assigned);
    sl_stat_set(&kc->assigned, a > (uint64_t)parts->cnt ? a - (uint64_t)parts->cnt : 0);
    SL_INFO("kafka=consume event=revoked partitions=%d lost=%d deferred_commit=%d", parts->cnt,
            lost, kc->has_deferred);
    if (coop)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct sl_kafka_consumer *kc = opaque;
    SL_DEBUG("kafka=consume event=commit_done error=\"%s\"", rd_kafka_err2str(err));
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        sl_stat_add(&kc->commit_errors, 1);
        sl_log_every(&err_log, 1000, SL_LOG_WARN, "kafka=consume event=commit_failed error=\"%s\"",
                     rd_kafka_err2str(err));
    }
}

/* Hand one verified wire batch to the shards. @return records handed off, or < 0 (refused). */
static int feed_wire(struct sl_kafka_consumer *kc, const void *buf, size_t len)
{
    struct sl_wire_reader rd;
    struct sl_wire_sample s;
    int n = sl_wire_reader_init(&rd, buf, len), rc;
    if (n < 0) return n;
    struct sl_wire_reader check = rd;
    while ((rc = sl_wire_next(&check, &s)) > 0)
        ;
    if (rc < 0) return rc;
    int done = 0;
    while (sl_wire_next(&rd, &s) > 0) {
        uint64_t id = sl_key_hash(s.key, s.key_len);
        uint32_t rlen = (uint32_t)(sizeof(struct sl_record) + s.key_len);
        struct sl_record *r;
        while (!(r = sl_producer_alloc(kc->prod, id, rlen))) {
            /* Shards are behind: wait, which stops us polling Kafka (natural backpressure).
             * The shards outlive this thread, so room always comes. */
            sl_producer_publish(kc->prod);
            sl_stat_add(&kc->ring_waits, 1);
            sl_producer_wait_room(kc->prod, rlen, 100);
        }
        *r = (struct sl_record){.kind = SL_REC_SAMPLE,
                                .mtype = s.mtype,
                                .flags = s.flags,
                                .key_len = s.key_len,
                                .id = id,
                                .rate = s.rate};
        r->member = s.member;
        memcpy(r->key, s.key, s.key_len);
        done++;
    }
    sl_producer_publish(kc->prod);
    return done;
}

static void handle(struct sl_kafka_consumer *kc, const rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            sl_stat_add(&kc->consume_errors, 1);
            sl_log_every(&err_log, 1000, SL_LOG_WARN, "kafka=consume event=error error=\"%s\"",
                         rd_kafka_message_errstr(m));
        }
        return;
    }
    sl_stat_add(&kc->messages, 1);
    sl_stat_add(&kc->bytes, m->len);
    int wire = kc->cfg.format == SL_KAFKA_FMT_WIRE ||
               (kc->cfg.format == SL_KAFKA_FMT_AUTO && sl_wire_is_batch(m->payload, m->len));
    if (wire) {
        int rc = feed_wire(kc, m->payload, m->len);
        if (rc < 0) {
            sl_stat_add(&kc->bad_messages, 1);
            sl_log_every(&bad_log, 1000, SL_LOG_WARN,
                         "kafka=consume event=bad_message partition=%d offset=%lld reason=\"%s\"",
                         (int)m->partition, (long long)m->offset, sl_strerror(rc));
        } else {
            sl_stat_add(&kc->wire_batches, 1);
            sl_stat_add(&kc->records, (uint64_t)rc);
        }
    } else {
        sl_stat_add(&kc->statsd_values, 1);
        /* The feeder waits up to 5 s per record for ring room. Feeding the value again after
         * a timeout would re-apply the lines it had already accepted, so a stall that long
         * loses the rest of this value instead, counted and logged. */
        if (sl_statsd_feed(&kc->feed, m->payload, m->len) == -EAGAIN) {
            sl_stat_add(&kc->consume_errors, 1);
            sl_log_every(&err_log, 1000, SL_LOG_ERROR,
                         "kafka=consume event=shards_stalled partition=%d offset=%lld "
                         "note=\"rest of the StatsD value dropped\"",
                         (int)m->partition, (long long)m->offset);
        }
    }
    int32_t p = m->partition;
    if (p >= 0 && p < SL_KAFKA_CONSUME_MAX_PARTITIONS) {
        kc->pos[p] = m->offset + 1;
        kc->dirty = 1;
    } else {
        sl_log_every(&part_log, 5000, SL_LOG_ERROR,
                     "kafka=consume event=partition_untracked partition=%d", (int)p);
    }
}

static void update_lag(struct sl_kafka_consumer *kc)
{
    uint64_t lag = 0;
    for (uint32_t p = 0; p < kc->npos; p++) {
        int64_t lo, hi;
        if (!kc->owned[p] || kc->pos[p] < 0 ||
            rd_kafka_get_watermark_offsets(kc->rk, kc->cfg.topic, (int32_t)p, &lo, &hi))
            continue;
        if (hi > kc->pos[p]) lag += (uint64_t)(hi - kc->pos[p]);
    }
    sl_stat_set(&kc->lag, lag);
}

static void *consume_main(void *arg)
{
    struct sl_kafka_consumer *kc = arg;
    /* Relaxed: stop() joins us after clearing the flag; one more poll (50 ms) is fine. */
    while (atomic_load_explicit(&kc->running, memory_order_relaxed)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kc->rk, 50);
        if (m) {
            handle(kc, m);
            rd_kafka_message_destroy(m);
        }
        int64_t now = sl_clock_wall_ms();
        if (kc->dirty && (!m || now - kc->last_ck_ms >= kc->ck_period_ms)) {
            add_ckpt(kc, now);
            update_lag(kc);
        }
        if (kc->ck_n) try_commit(kc, 0);
        uint64_t unc = 0;
        for (uint32_t p = 0; p < kc->npos; p++)
            unc += kc->owned[p] && kc->pos[p] >= 0 && kc->pos[p] != kc->committed[p];
        sl_stat_set(&kc->uncommitted, unc);
    }
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

int sl_kafka_consume_open(const struct sl_kafka_cfg *cfg, struct sl_shardset *set,
                          uint32_t producer_idx, struct sl_kafka_consumer **out, char *err,
                          size_t errlen)
{
    int rc = -ENOMEM;
    struct sl_kafka_consumer *kc = calloc(1, sizeof *kc);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *sub = NULL;
    if (!kc || !conf) goto fail;
    kc->cfg = *cfg;
    kc->set = set;
    kc->prod = sl_shardset_producer(set, producer_idx);
    if (!kc->prod) {
        snprintf(err, errlen, "kafka: no shard producer %u", producer_idx);
        rc = -EINVAL;
        goto fail;
    }
    kc->nshards = sl_shardset_count(set);
    kc->durable = calloc(kc->nshards, sizeof *kc->durable);
    kc->pos = malloc(SL_KAFKA_CONSUME_MAX_PARTITIONS * sizeof *kc->pos);
    kc->committed = malloc(SL_KAFKA_CONSUME_MAX_PARTITIONS * sizeof *kc->committed);
    kc->owned = calloc(SL_KAFKA_CONSUME_MAX_PARTITIONS, 1);
    kc->deferred = malloc(SL_KAFKA_CONSUME_MAX_PARTITIONS * sizeof *kc->deferred);
    if (!kc->durable || !kc->pos || !kc->committed || !kc->owned || !kc->deferred) goto fail;
    for (uint32_t s = 0; s < kc->nshards; s++)
        atomic_init(&kc->durable[s], INT64_MIN);
    for (uint32_t p = 0; p < SL_KAFKA_CONSUME_MAX_PARTITIONS; p++)
        kc->pos[p] = kc->committed[p] = kc->deferred[p] = -1;
    for (int i = 0; i < NCKPT; i++) {
        kc->ck[i].offs = malloc(SL_KAFKA_CONSUME_MAX_PARTITIONS * sizeof *kc->ck[i].offs);
        if (!kc->ck[i].offs) goto fail;
        for (uint32_t p = 0; p < SL_KAFKA_CONSUME_MAX_PARTITIONS; p++)
            kc->ck[i].offs[p] = -1;
    }
    kc->ck_period_ms = cfg->flush_interval_ms / 16 > 10 ? cfg->flush_interval_ms / 16 : 10;
    kc->feed = (struct sl_statsd_feed){
        .prod = kc->prod, .stats = &kc->feed_stats, .listener = "kafka", .block_when_full = 1};
    if ((rc = conf_set(conf, "bootstrap.servers", cfg->brokers, err, errlen)) ||
        (rc = conf_set(conf, "group.id", cfg->group, err, errlen)) ||
        (rc = conf_set(conf, "enable.auto.commit", "false", err, errlen)) ||
        (rc = conf_set(conf, "enable.auto.offset.store", "false", err, errlen)) ||
        (rc = conf_set(conf, "auto.offset.reset", "earliest", err, errlen)))
        goto fail;
    for (uint32_t i = 0; i < cfg->nprops; i++)
        if ((rc = conf_set(conf, cfg->props[i].name, cfg->props[i].value, err, errlen))) goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_opaque(conf, kc);
    char e[512];
    kc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!kc->rk) {
        snprintf(err, errlen, "kafka: consumer: %s", e);
        rc = -EINVAL;
        goto fail;
    }
    conf = NULL; /* TRANSFERRED to rk */
    rd_kafka_poll_set_consumer(kc->rk);
    rc = -ENOMEM;
    sub = rd_kafka_topic_partition_list_new(1);
    if (!sub) goto fail;
    rd_kafka_topic_partition_list_add(sub, cfg->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(kc->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se) {
        snprintf(err, errlen, "kafka: subscribe %s: %s", cfg->topic, rd_kafka_err2str(se));
        rc = -EINVAL;
        goto fail;
    }
    SL_INFO("kafka=consume event=open brokers=%s topic=%s group=%s format=%s", cfg->brokers,
            cfg->topic, cfg->group,
            cfg->format == SL_KAFKA_FMT_WIRE     ? "wire"
            : cfg->format == SL_KAFKA_FMT_STATSD ? "statsd"
                                                 : "auto");
    *out = kc;
    return 0;
fail:
    if (conf) rd_kafka_conf_destroy(conf);
    if (kc && kc->rk) {
        rd_kafka_destroy(kc->rk);
        kc->rk = NULL;
    }
    sl_kafka_consume_close(kc);
    return rc;
}

int sl_kafka_consume_start(struct sl_kafka_consumer *kc)
{
    atomic_store_explicit(&kc->running, 1, memory_order_relaxed);
    int rc = pthread_create(&kc->th, NULL, consume_main, kc);
    if (rc) return -rc;
    kc->started = 1;
    return 0;
}

void sl_kafka_consume_stop(struct sl_kafka_consumer *kc)
{
    if (!kc || !kc->started) return;
    atomic_store_explicit(&kc->running, 0, memory_order_relaxed);
    pthread_join(kc->th, NULL);
    kc->started = 0;
}

void sl_kafka_consume_close(struct sl_kafka_consumer *kc)
{
    if (!kc) return;
    sl_kafka_consume_stop(kc);
    if (kc->rk) {
        /* The shards have stopped and flushed: everything handed off is durable. */
        atomic_store_explicit(&kc->all_durable, 1, memory_order_relaxed);
        if (kc->dirty) add_ckpt(kc, sl_clock_wall_ms());
        try_commit(kc, 1);
        rd_kafka_consumer_close(kc->rk); /* revokes through rebalance_cb; leaves the group */
        rd_kafka_destroy(kc->rk);
    }
    for (int i = 0; i < NCKPT; i++)
        free(kc->ck[i].offs);
    free(kc->durable);
    free(kc->pos);
    free(kc->committed);
    free(kc->owned);
    free(kc->deferred);
    free(kc);
}

void sl_kafka_consume_get_stats(struct sl_kafka_consumer *kc, struct sl_kafka_consume_stats *out,
                                const struct sl_statsd_feed_stats **feed)
{
    out->messages = sl_stat_get(&kc->messages);
    out->bytes = sl_stat_get(&kc->bytes);
    out->wire_batches = sl_stat_get(&kc->wire_batches);
    out->statsd_values = sl_stat_get(&kc->statsd_values);
    out->records = sl_stat_get(&kc->records);
    out->bad_messages = sl_stat_get(&kc->bad_messages);
    out->consume_errors = sl_stat_get(&kc->consume_errors);
    out->ring_waits = sl_stat_get(&kc->ring_waits);
    out->commits = sl_stat_get(&kc->commits);
    out->commit_errors = sl_stat_get(&kc->commit_errors);
    out->rebalances = sl_stat_get(&kc->rebalances);
    out->revoke_timeouts = sl_stat_get(&kc->revoke_timeouts);
    out->assigned = sl_stat_get(&kc->assigned);
    out->lag_records = sl_stat_get(&kc->lag);
    out->uncommitted_partitions = sl_stat_get(&kc->uncommitted);
    if (feed) *feed = &kc->feed_stats;
}
