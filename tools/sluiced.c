/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluiced: wires the rooms together. Configuration → shards (with their sinks) → StatsD
 * listeners → HTTP routes; then waits for SIGINT/SIGTERM and shuts down in dependency
 * order: listeners stop first (nothing new is accepted), shards drain their rings and
 * flush one last time, then the HTTP server closes.
 *
 * Signals are blocked before any thread starts, so only the main thread's sigwait() ever
 * sees them.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/buf.h"
#include "engine/clock.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "engine/shard.h"
#include "ingest/dpdk_server.h"
#include "ingest/http_server.h"
#include "ingest/kafka_consume.h"
#include "ingest/kafka_forward.h"
#include "ingest/remote_write.h"
#include "ingest/statsd_server.h"
#include "query/api.h"
#include "sl_config.h"
#include "storage/store.h"
#include "tools/config.h"
#include "tools/exposition.h"
#include "tools/remote_source.h"
#include "tools/store_bridge.h"

struct daemon {
    struct sl_daemon_cfg cfg;
    struct sl_shardset *shards;
    struct sl_statsd_server *statsd;
    struct sl_dpdk_server *dpdk; /* NULL unless [dpdk] enabled and opened */
    struct sl_http_server *http;
    struct sl_expo *expo;
    struct sl_store *store;
    struct sl_store_sink store_sink;
    struct sl_rw rw; /* remote write receiver: samples go straight to the store */
    struct sl_query_api *api;
    struct sl_promql_pool *qpool; /* query.threads, shared by every query */
    struct sl_http_route *routes; /* OWNED: daemon routes + the query API's */
    pthread_t maintain_th;
    int maintain_started;
    pthread_mutex_t maintain_mu;
    pthread_cond_t maintain_cv;
    int stopping;
    struct sl_kafka_forward *kfwd;  /* kafka.role=forward */
    struct sl_kafka_consumer *kcon; /* kafka.role=consume */
    struct sl_source src;              /* what the query API reads: the store or the nodes */
    struct sl_remote_source *remote;   /* query.role=query */
};

/* Every flush goes to the store and then to /metrics, so a value seen on /metrics can already
 * be queried. The store's error is the one reported: /metrics never fails short of memory,
 * and losing the durable copy is what matters. */
static int tee_flush(void *ctx, const struct sl_flush_batch *b)
{
    struct daemon *d = ctx;
    int rc2 = sl_store_sink_flush(&d->store_sink, b);
    int rc1 = sl_expo_sink_flush(d->expo, b);
    /* A consumer may commit Kafka offsets only once the flush covering them is in the WAL. */
    if (rc2 == 0 && d->kcon)
        sl_kafka_consume_mark_durable(d->kcon, b->shard, b->ts_ms);
    return rc2 ? rc2 : rc1;
}

/* Background storage work: cut blocks, compact, downsample, apply retention. One bounded
 * step per call; when a step did something, the next follows at once. */
static void *maintain_main(void *arg)
{
    struct daemon *d = arg;
    pthread_mutex_lock(&d->maintain_mu);
    while (!d->stopping) {
        pthread_mutex_unlock(&d->maintain_mu);
        int rc, steps = 0;
        while ((rc = sl_store_maintain(d->store, sl_clock_wall_ms())) == 1 && steps++ < 1000)
            ;
        pthread_mutex_lock(&d->maintain_mu);
        if (d->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (d->cfg.maintain_interval_ms % 1000) * 1000000;
        ts.tv_sec += d->cfg.maintain_interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&d->maintain_cv, &d->maintain_mu, &ts);
    }
    pthread_mutex_unlock(&d->maintain_mu);
    return NULL;
}

/* ---- Kafka wiring: flush sink hook, self-metrics, open/close ------------------------- */

static void kafka_self_metrics(struct daemon *d, struct sl_buf *b)
{
    if (d->kfwd) {
        struct sl_kafka_forward_stats s;
        sl_kafka_forward_get_stats(d->kfwd, &s);
        sl_buf_printf(b,
                      "# TYPE sluice_kafka_forward_records_total counter\n"
                      "sluice_kafka_forward_records_total{outcome=\"taken\"} %llu\n"
                      "sluice_kafka_forward_records_total{outcome=\"delivered\"} %llu\n"
                      "sluice_kafka_forward_records_total{outcome=\"failed\"} %llu\n"
                      "sluice_kafka_forward_records_total{outcome=\"dropped\"} %llu\n"
                      "sluice_kafka_forward_records_total{outcome=\"invalid\"} %llu\n"
                      "# TYPE sluice_kafka_forward_messages_total counter\n"
                      "sluice_kafka_forward_messages_total %llu\n"
                      "# TYPE sluice_kafka_forward_bytes_total counter\n"
                      "sluice_kafka_forward_bytes_total %llu\n"
                      "# TYPE sluice_kafka_forward_full_waits_total counter\n"
                      "sluice_kafka_forward_full_waits_total %llu\n"
                      "# TYPE sluice_kafka_forward_buffered_messages gauge\n"
                      "sluice_kafka_forward_buffered_messages %llu\n",
                      (unsigned long long)s.records, (unsigned long long)s.records_delivered,
                      (unsigned long long)s.records_failed, (unsigned long long)s.records_dropped,
                      (unsigned long long)s.records_invalid, (unsigned long long)s.messages,
                      (unsigned long long)s.bytes, (unsigned long long)s.full_waits,
                      (unsigned long long)s.buffered_messages);
    }
    if (d->kcon) {
        struct sl_kafka_consume_stats s;
        const struct sl_statsd_feed_stats *f;
        sl_kafka_consume_get_stats(d->kcon, &s, &f);
        sl_buf_printf(b,
                      "# TYPE sluice_kafka_consume_messages_total counter\n"
                      "sluice_kafka_consume_messages_total{format=\"wire\"} %llu\n"
                      "sluice_kafka_consume_messages_total{format=\"statsd\"} %llu\n"
                      "sluice_kafka_consume_messages_total{format=\"bad\"} %llu\n"
                      "# TYPE sluice_kafka_consume_bytes_total counter\n"
                      "sluice_kafka_consume_bytes_total %llu\n"
                      "# TYPE sluice_kafka_consume_records_total counter\n"
                      "sluice_kafka_consume_records_total{format=\"wire\"} %llu\n"
                      "sluice_kafka_consume_records_total{format=\"statsd\"} %llu\n"
                      "# TYPE sluice_kafka_consume_errors_total counter\n"
                      "sluice_kafka_consume_errors_total %llu\n"
                      "# TYPE sluice_kafka_consume_ring_waits_total counter\n"
                      "sluice_kafka_consume_ring_waits_total %llu\n"
                      "# TYPE sluice_kafka_consume_commits_total counter\n"
                      "sluice_kafka_consume_commits_total %llu\n"
                      "# TYPE sluice_kafka_consume_commit_errors_total counter\n"
                      "sluice_kafka_consume_commit_errors_total %llu\n"
                      "# TYPE sluice_kafka_consume_rebalances_total counter\n"
                      "sluice_kafka_consume_rebalances_total %llu\n"
                      "# TYPE sluice_kafka_consume_revoke_timeouts_total counter\n"
                      "sluice_kafka_consume_revoke_timeouts_total %llu\n"
                      "# TYPE sluice_kafka_consume_partitions_assigned gauge\n"
                      "sluice_kafka_consume_partitions_assigned %llu\n"
                      "# TYPE sluice_kafka_consume_lag_messages gauge\n"
                      "sluice_kafka_consume_lag_messages %llu\n"
                      "# TYPE sluice_kafka_consume_uncommitted_partitions gauge\n"
                      "sluice_kafka_consume_uncommitted_partitions %llu\n",
                      (unsigned long long)s.wire_batches, (unsigned long long)s.statsd_values,
                      (unsigned long long)s.bad_messages, (unsigned long long)s.bytes,
                      (unsigned long long)s.records, (unsigned long long)sl_stat_get(&f->samples),
                      (unsigned long long)s.consume_errors, (unsigned long long)s.ring_waits,
                      (unsigned long long)s.commits, (unsigned long long)s.commit_errors,
                      (unsigned long long)s.rebalances, (unsigned long long)s.revoke_timeouts,
                      (unsigned long long)s.assigned, (unsigned long long)s.lag_records,
                      (unsigned long long)s.uncommitted_partitions);
    }
}

/* Open the forwarder (taps on every listener) or the consumer (producer @prod_idx). */
static int kafka_open(struct daemon *d, uint32_t prod_idx, char *err, size_t errlen)
{
    int rc = 0;
    if (d->cfg.kafka.role == SL_KAFKA_ROLE_FORWARD) {
        uint32_t n = sl_statsd_server_feeds(d->statsd);
        if ((rc = sl_kafka_forward_open(&d->cfg.kafka, n, &d->kfwd, err, errlen)))
            return rc;
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = sl_statsd_server_set_tap(d->statsd, i, sl_kafka_forward_tap(d->kfwd, i));
    } else if (d->cfg.kafka.role == SL_KAFKA_ROLE_CONSUME) {
        rc = sl_kafka_consume_open(&d->cfg.kafka, d->shards, prod_idx, &d->kcon, err, errlen);
    }
    return rc;
}

static int handle_healthy(void *ctx, const struct sl_http_request *req,
                          struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->body = strdup("sluice is Healthy.\n");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    return resp->body ? 0 : -ENOMEM;
}

static int handle_ready(void *ctx, const struct sl_http_request *req,
                        struct sl_http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->body = strdup("sluice is Ready.\n");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    return resp->body ? 0 : -ENOMEM;
}

static void put_counter(struct sl_buf *b, const char *name, const char *labels, uint64_t v)
{
    sl_buf_printf(b, "%s%s%s%s %llu\n", name, labels ? "{" : "", labels ? labels : "",
                  labels ? "}" : "", (unsigned long long)v);
}

static void type_line(struct sl_buf *b, const char *name, const char *type, const char *help)
{
    sl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- DPDK listener: open (with the configured fallback) and self-metrics ---------------- */

static void dpdk_metrics(struct daemon *d, struct sl_buf *b)
{
    if (!d->dpdk)
        return;
    char lbl[192];
    const char *port = sl_dpdk_server_port_name(d->dpdk);
    uint32_t nq = sl_dpdk_server_queues(d->dpdk);
    static const struct {
        const char *name, *help;
        int feed; /* 1: struct sl_statsd_feed_stats, 0: struct sl_dpdk_queue_stats */
        size_t off;
    } qc[] = {
        {"sluice_dpdk_packets_received_total", "Frames received from the port.", 0,
         offsetof(struct sl_dpdk_queue_stats, packets)},
        {"sluice_dpdk_bytes_received_total", "Frame bytes received from the port.", 0,
         offsetof(struct sl_dpdk_queue_stats, bytes)},
        {"sluice_dpdk_statsd_datagrams_total", "StatsD datagrams parsed in place.", 0,
         offsetof(struct sl_dpdk_queue_stats, datagrams)},
        {"sluice_dpdk_kernel_passed_total", "Frames handed to the kernel (TAP).", 0,
         offsetof(struct sl_dpdk_queue_stats, to_kernel)},
        {"sluice_dpdk_kernel_sent_total", "Frames the kernel sent out through the port.", 0,
         offsetof(struct sl_dpdk_queue_stats, from_kernel)},
        {"sluice_dpdk_multiseg_copied_total", "Multi-segment frames copied before parsing.", 0,
         offsetof(struct sl_dpdk_queue_stats, copied)},
        {"sluice_dpdk_lines_received_total", "StatsD lines received.", 1,
         offsetof(struct sl_statsd_feed_stats, lines)},
        {"sluice_dpdk_lines_parsed_total", "StatsD lines accepted.", 1,
         offsetof(struct sl_statsd_feed_stats, parsed)},
        {"sluice_dpdk_samples_total", "Samples handed to shards.", 1,
         offsetof(struct sl_statsd_feed_stats, samples)},
    };
    for (size_t c = 0; c < sizeof qc / sizeof qc[0]; c++) {
        type_line(b, qc[c].name, "counter", qc[c].help);
        for (uint32_t q = 0; q < nq; q++) {
            const void *st = qc[c].feed ? (const void *)sl_dpdk_server_feed_stats(d->dpdk, q)
                                        : (const void *)sl_dpdk_server_queue_stats(d->dpdk, q);
            snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"%u\"", port, q);
            put_counter(b, qc[c].name, lbl,
                        sl_stat_get((const sl_counter *)(const void *)((const char *)st +
                                                                       qc[c].off)));
        }
    }
    type_line(b, "sluice_dpdk_frames_malformed_total", "counter",
              "Frames for us dropped as malformed, by reason.");
    for (uint32_t q = 0; q < nq; q++)
        for (int r = 1; r < SL_FRAME_E__COUNT; r++) {
            snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"%u\",reason=\"%s\"", port, q,
                     sl_frame_reason_name(r));
            put_counter(b, "sluice_dpdk_frames_malformed_total", lbl,
                        sl_stat_get(&sl_dpdk_server_queue_stats(d->dpdk, q)->malformed[r]));
        }
    type_line(b, "sluice_dpdk_lines_malformed_total", "counter",
              "Malformed StatsD lines by reason.");
    for (uint32_t q = 0; q < nq; q++)
        for (int r = 1; r < SL_STATSD_E__COUNT; r++) {
            snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"%u\",reason=\"%s\"", port, q,
                     sl_statsd_reason_name(r));
            put_counter(b, "sluice_dpdk_lines_malformed_total", lbl,
                        sl_stat_get(&sl_dpdk_server_feed_stats(d->dpdk, q)->malformed[r]));
        }
    type_line(b, "sluice_dpdk_dropped_total", "counter",
              "Frames or samples dropped, by reason (queue=\"all\": port counters).");
    for (uint32_t q = 0; q < nq; q++) {
        const struct sl_dpdk_queue_stats *st = sl_dpdk_server_queue_stats(d->dpdk, q);
        const struct {
            const char *reason;
            uint64_t v;
        } dr[] = {
            {"ring_full", sl_stat_get(&sl_dpdk_server_feed_stats(d->dpdk, q)->ring_full_drops)},
            /* lines of a burst given up after the poller waited 20 ms for ring room */
            {"ring_full_wait",
             sl_stat_get(&sl_dpdk_server_feed_stats(d->dpdk, q)->lines_dropped_full)},
            {"fragment", sl_stat_get(&st->fragments)},
            {"no_kernel_path", sl_stat_get(&st->kernel_drops)},
            {"kernel_tx_full", sl_stat_get(&st->from_kernel_drops)},
        };
        for (size_t i = 0; i < sizeof dr / sizeof dr[0]; i++) {
            snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"%u\",reason=\"%s\"", port, q,
                     dr[i].reason);
            put_counter(b, "sluice_dpdk_dropped_total", lbl, dr[i].v);
        }
    }
    struct sl_dpdk_port_stats ps;
    if (sl_dpdk_server_port_stats(d->dpdk, &ps) == 0) {
        snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"all\",reason=\"rx_missed\"", port);
        put_counter(b, "sluice_dpdk_dropped_total", lbl, ps.imissed);
        snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"all\",reason=\"mbuf_exhausted\"", port);
        put_counter(b, "sluice_dpdk_dropped_total", lbl, ps.rx_nombuf);
        snprintf(lbl, sizeof lbl, "port=\"%s\",queue=\"all\",reason=\"rx_errors\"", port);
        put_counter(b, "sluice_dpdk_dropped_total", lbl, ps.ierrors);
    }
}

/* Open the DPDK listener when [dpdk] enabled. A failure stops start-up unless dpdk.fallback
 * is set, in which case the socket listeners carry on alone. @return 0 or -errno. */
static int dpdk_open(struct daemon *d, char *err, size_t errlen)
{
    if (!d->cfg.dpdk.enabled)
        return 0;
    d->cfg.dpdk.keycache_entries = d->cfg.statsd.keycache_entries; /* one setting, all feeders */
    int rc = sl_dpdk_server_open(&d->cfg.dpdk, d->shards,
                                 sl_statsd_server_producers(&d->cfg.statsd), &d->dpdk, err,
                                 errlen);
    if (rc && d->cfg.dpdk.fallback) {
        SL_WARN("listener=dpdk event=fallback reason=\"%s\" note=\"socket listeners only\"", err);
        err[0] = 0;
        return 0;
    }
    return rc;
}

/* Self-metrics, summed per listener kind and shown per shard. */
static void self_metrics(void *ctx, struct sl_buf *b)
{
    struct daemon *d = ctx;
    char lbl[128];
    uint32_t nf = sl_statsd_server_feeds(d->statsd);
    static const struct {
        const char *name, *help;
        size_t off;
    } feed_counters[] = {
        {"sluice_statsd_packets_received_total", "Datagrams (UDP) or reads (TCP) received.",
         offsetof(struct sl_statsd_feed_stats, packets)},
        {"sluice_statsd_bytes_received_total", "Payload bytes received.",
         offsetof(struct sl_statsd_feed_stats, bytes)},
        {"sluice_statsd_lines_received_total", "StatsD lines received.",
         offsetof(struct sl_statsd_feed_stats, lines)},
        {"sluice_statsd_lines_parsed_total", "StatsD lines accepted.",
         offsetof(struct sl_statsd_feed_stats, parsed)},
        {"sluice_statsd_samples_total", "Samples handed to shards.",
         offsetof(struct sl_statsd_feed_stats, samples)},
        {"sluice_statsd_ring_full_drops_total", "Samples dropped because a shard ring was full.",
         offsetof(struct sl_statsd_feed_stats, ring_full_drops)},
        {"sluice_statsd_lines_dropped_full_total",
         "Lines dropped because the shards stayed full past the listener's wait.",
         offsetof(struct sl_statsd_feed_stats, lines_dropped_full)},
        {"sluice_statsd_backpressure_waits_total", "Times a stream listener waited for shards.",
         offsetof(struct sl_statsd_feed_stats, ring_waits)},
        {"sluice_statsd_tag_errors_total", "DogStatsD tags ignored (no value).",
         offsetof(struct sl_statsd_feed_stats, tag_errors)},
        {"sluice_statsd_keycache_hits_total", "Metric lines whose series key came from the cache.",
         offsetof(struct sl_statsd_feed_stats, keycache_hits)},
        {"sluice_statsd_keycache_misses_total", "Metric lines whose series key was built.",
         offsetof(struct sl_statsd_feed_stats, keycache_misses)},
        {"sluice_statsd_keycache_bypass_total", "Metric lines too long for a cache slot.",
         offsetof(struct sl_statsd_feed_stats, keycache_bypass)},
        {"sluice_statsd_events_total", "DogStatsD events accepted.",
         offsetof(struct sl_statsd_feed_stats, events)},
        {"sluice_statsd_service_checks_total", "DogStatsD service checks accepted.",
         offsetof(struct sl_statsd_feed_stats, service_checks)},
    };
    for (size_t c = 0; c < sizeof feed_counters / sizeof feed_counters[0]; c++) {
        type_line(b, feed_counters[c].name, "counter", feed_counters[c].help);
        for (uint32_t i = 0; i < nf; i++) {
            const char *kind;
            const struct sl_statsd_feed_stats *st = sl_statsd_server_feed_stats(d->statsd, i, &kind);
            snprintf(lbl, sizeof lbl, "listener=\"%s\",thread=\"%u\"", kind, i);
            put_counter(b, feed_counters[c].name, lbl,
                        sl_stat_get((const sl_counter *)(const void *)((const char *)st +
                                                                       feed_counters[c].off)));
        }
    }
    type_line(b, "sluice_statsd_lines_malformed_total", "counter",
              "Malformed StatsD lines by reason.");
    for (uint32_t i = 0; i < nf; i++) {
        const char *kind;
        const struct sl_statsd_feed_stats *st = sl_statsd_server_feed_stats(d->statsd, i, &kind);
        for (int r = 1; r < SL_STATSD_E__COUNT; r++) {
            snprintf(lbl, sizeof lbl, "listener=\"%s\",thread=\"%u\",reason=\"%s\"", kind, i,
                     sl_statsd_reason_name(r));
            put_counter(b, "sluice_statsd_lines_malformed_total", lbl,
                        sl_stat_get(&st->malformed[r]));
        }
    }
    type_line(b, "sluice_statsd_udp_socket_drops_total", "counter",
              "Datagrams the kernel dropped because a UDP socket's receive buffer was full.");
    for (uint32_t i = 0; i < nf; i++) {
        const char *kind;
        sl_statsd_server_feed_stats(d->statsd, i, &kind);
        if (strcmp(kind, "udp"))
            continue;
        snprintf(lbl, sizeof lbl, "thread=\"%u\"", i);
        put_counter(b, "sluice_statsd_udp_socket_drops_total", lbl,
                    sl_statsd_server_udp_socket_drops(d->statsd, i));
    }
    const struct sl_tcp_stats *ts = sl_statsd_server_tcp_stats(d->statsd);
    type_line(b, "sluice_tcp_connections_accepted_total", "counter", "TCP connections accepted.");
    put_counter(b, "sluice_tcp_connections_accepted_total", NULL, sl_stat_get(&ts->accepted));
    type_line(b, "sluice_tcp_connections_open", "gauge", "TCP connections open.");
    put_counter(b, "sluice_tcp_connections_open", NULL, sl_stat_get(&ts->open));
    type_line(b, "sluice_tcp_connections_closed_garbage_total", "counter",
              "TCP connections closed for sending only malformed lines.");
    put_counter(b, "sluice_tcp_connections_closed_garbage_total", NULL,
                sl_stat_get(&ts->closed_garbage));
    type_line(b, "sluice_tcp_connections_refused_total", "counter",
              "TCP connections refused at the connection limit.");
    put_counter(b, "sluice_tcp_connections_refused_total", NULL, sl_stat_get(&ts->refused));
    type_line(b, "sluice_tcp_lines_too_long_total", "counter",
              "TCP lines longer than max_line, skipped.");
    put_counter(b, "sluice_tcp_lines_too_long_total", NULL, sl_stat_get(&ts->too_long));

    static const struct {
        const char *name, *help;
        size_t off;
    } rw_counters[] = {
        {"sluice_remote_write_requests_total", "Remote write requests received.",
         offsetof(struct sl_rw, requests)},
        {"sluice_remote_write_samples_total", "Samples stored from remote write.",
         offsetof(struct sl_rw, samples)},
        {"sluice_remote_write_refused_total",
         "Remote write requests refused (malformed, wrong type, outside the window).",
         offsetof(struct sl_rw, rejected)},
        {"sluice_remote_write_store_failures_total",
         "Remote write requests the store failed to write (answered 500).",
         offsetof(struct sl_rw, sink_failures)},
    };
    for (size_t c = 0; c < sizeof rw_counters / sizeof rw_counters[0]; c++) {
        const _Atomic unsigned long long *v =
            (const void *)((const char *)&d->rw + rw_counters[c].off);
        type_line(b, rw_counters[c].name, "counter", rw_counters[c].help);
        put_counter(b, rw_counters[c].name, NULL, atomic_load_explicit(v, memory_order_relaxed));
    }

    static const struct {
        const char *name, *type, *help;
        size_t off;
    } shard_counters[] = {
        {"sluice_shard_records_total", "counter", "Records applied by the shard.",
         offsetof(struct sl_shard_stats, records)},
        {"sluice_series_active", "gauge", "Series held by the shard.",
         offsetof(struct sl_shard_stats, series_active)},
        {"sluice_series_created_total", "counter", "Series created.",
         offsetof(struct sl_shard_stats, series_created)},
        {"sluice_series_expired_total", "counter", "Idle series expired.",
         offsetof(struct sl_shard_stats, series_expired)},
        {"sluice_series_refused_total", "counter", "New series refused by the series limit.",
         offsetof(struct sl_shard_stats, series_refused)},
        {"sluice_series_id_collisions", "gauge", "Distinct series sharing a 64-bit id.",
         offsetof(struct sl_shard_stats, series_collisions)},
        {"sluice_shard_alloc_failures_total", "counter", "Records lost to memory exhaustion.",
         offsetof(struct sl_shard_stats, alloc_failures)},
        {"sluice_shard_bad_records_total", "counter", "Records that failed validation.",
         offsetof(struct sl_shard_stats, bad_records)},
        {"sluice_flushes_total", "counter", "Flushes completed.",
         offsetof(struct sl_shard_stats, flushes)},
        {"sluice_flush_sink_errors_total", "counter", "Flushes a sink refused.",
         offsetof(struct sl_shard_stats, sink_errors)},
        {"sluice_shard_memory_bytes", "gauge", "Bytes held by series state at the last flush.",
         offsetof(struct sl_shard_stats, memory_bytes)},
        {"sluice_shard_records_keyed_total", "counter",
         "Records looked up in the series table by key; the rest named their series by a "
         "route hint from the listener.",
         offsetof(struct sl_shard_stats, records_keyed)},
        {"sluice_shard_route_hints_stale_total", "counter",
         "Records whose route hint was from an earlier epoch (series expired since); they "
         "were looked up by the key of the series the hint named.",
         offsetof(struct sl_shard_stats, hints_stale)},
        {"sluice_shard_sleeps_total", "counter",
         "Times the shard slept with nothing to drain (each wake-up costs a context switch).",
         offsetof(struct sl_shard_stats, sleeps)},
    };
    uint32_t ns = sl_shardset_count(d->shards);
    for (size_t c = 0; c < sizeof shard_counters / sizeof shard_counters[0]; c++) {
        type_line(b, shard_counters[c].name, shard_counters[c].type, shard_counters[c].help);
        for (uint32_t s = 0; s < ns; s++) {
            const struct sl_shard_stats *st = sl_shardset_stats(d->shards, s);
            snprintf(lbl, sizeof lbl, "shard=\"%u\"", s);
            put_counter(b, shard_counters[c].name, lbl,
                        sl_stat_get((const sl_counter *)(const void *)((const char *)st +
                                                                       shard_counters[c].off)));
        }
    }
    type_line(b, "sluice_flush_duration_seconds_total", "counter", "Time spent flushing.");
    for (uint32_t s = 0; s < ns; s++) {
        const struct sl_shard_stats *st = sl_shardset_stats(d->shards, s);
        sl_buf_printf(b, "sluice_flush_duration_seconds_total{shard=\"%u\"} %.9f\n", s,
                      (double)sl_stat_get(&st->flush_ns_total) / 1e9);
    }
    type_line(b, "sluice_flush_duration_seconds_last", "gauge", "Duration of the last flush.");
    for (uint32_t s = 0; s < ns; s++) {
        const struct sl_shard_stats *st = sl_shardset_stats(d->shards, s);
        sl_buf_printf(b, "sluice_flush_duration_seconds_last{shard=\"%u\"} %.9f\n", s,
                      (double)sl_stat_get(&st->flush_ns_last) / 1e9);
    }
    dpdk_metrics(d, b);
    type_line(b, "sluice_build_info", "gauge", "Build information.");
    sl_buf_printf(b, "sluice_build_info{version=\"%s\",udp_backend=\"%s\"} 1\n", SL_VERSION,
                  sl_statsd_server_backend(d->statsd));
    kafka_self_metrics(d, b);
}

static void shutdown_daemon(struct daemon *d)
{
    sl_dpdk_server_stop(d->dpdk);
    if (d->statsd)
        sl_statsd_server_stop(d->statsd);
    sl_kafka_forward_close(d->kfwd); /* listeners stopped: deliver what they handed off */
    sl_kafka_consume_stop(d->kcon);  /* nothing more into the rings */
    if (d->shards)
        sl_shardset_stop(d->shards); /* drains rings, final flush into the sinks */
    sl_kafka_consume_close(d->kcon); /* all flushed: commit, leave the group */
    if (d->maintain_started) {
        pthread_mutex_lock(&d->maintain_mu);
        d->stopping = 1;
        pthread_cond_signal(&d->maintain_cv);
        pthread_mutex_unlock(&d->maintain_mu);
        pthread_join(d->maintain_th, NULL);
    }
    sl_http_server_close(d->http);
    sl_statsd_server_close(d->statsd);
    sl_dpdk_server_close(d->dpdk);
    sl_shardset_destroy(d->shards);
    sl_query_api_destroy(d->api);
    sl_promql_pool_destroy(d->qpool); /* after the api: no query is running */
    sl_remote_source_destroy(d->remote);
    sl_store_close(d->store); /* after the final flush: it is in the WAL */
    sl_expo_destroy(d->expo);
    free(d->routes);
}

/* query.role=query: no store, no ingest, no shards; the query API over the storage nodes
 * (tools/remote_source.h). Returns the exit status once a signal in @sigs arrives. */
static int run_query_node(struct daemon *d, sigset_t *sigs)
{
    char err[512] = "";
    int rc;
    if (d->cfg.kafka.role != SL_KAFKA_ROLE_NONE || d->cfg.dpdk.enabled) {
        /* A query node ingests nothing: refuse rather than silently ignore these. */
        snprintf(err, sizeof err, "query.role=query takes no ingest: unset kafka.role and "
                 "dpdk.enabled (they belong on storage or ingest nodes)");
        goto fail;
    }
    rc = sl_remote_source_create(d->cfg.query_nodes, (int)d->cfg.query_timeout_ms,
                                     &d->remote, err, sizeof err);
    if (rc)
        goto fail;
    d->src = sl_remote_source(d->remote);
    struct sl_query_api_cfg qcfg = {.src = d->src};
    if ((rc = sl_query_api_create(&qcfg, &d->api)))
        goto fail_rc;
    const struct sl_http_route own[] = {
        {NULL, "/-/healthy", 0, handle_healthy, NULL},
        {NULL, "/-/ready", 0, handle_ready, NULL},
        {"GET", "/api/v1/read_raw", 0, sl_raw_read_handle, &d->src},
    };
    size_t nown = sizeof own / sizeof own[0], napi = 0;
    const struct sl_http_route *api_routes = sl_query_api_routes(d->api, &napi);
    if (!(d->routes = calloc(nown + napi, sizeof *d->routes))) {
        rc = -ENOMEM;
        goto fail_rc;
    }
    memcpy(d->routes, own, sizeof own);
    memcpy(d->routes + nown, api_routes, napi * sizeof *api_routes);
    if ((rc = sl_http_server_open(&d->cfg.http, d->routes, nown + napi, &d->http, err,
                                  sizeof err)))
        goto fail;
    SL_INFO("event=ready role=query http=%s http_port=%d nodes=%zu", d->cfg.http.addr,
            sl_http_server_port(d->http), sl_remote_source_nodes(d->remote));
    printf("sluiced %s ready (role query over %zu storage nodes)\n"
           "  query:        curl 'http://127.0.0.1:%d/api/v1/query?query=up'\n",
           SL_VERSION, sl_remote_source_nodes(d->remote), sl_http_server_port(d->http));
    fflush(stdout);
    int sig = 0;
    sigwait(sigs, &sig);
    SL_INFO("event=shutdown signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    shutdown_daemon(d);
    SL_INFO("event=stopped");
    return 0;
fail_rc:
    snprintf(err, sizeof err, "start-up failed: %s", strerror(rc < 0 ? -rc : rc));
fail:
    fprintf(stderr, "sluiced: %s\n", err);
    shutdown_daemon(d);
    return 1;
}

int main(int argc, char **argv)
{
    static struct daemon d;
    char err[512] = "";
    /* A query's big buffers (a range query's step table, the head copy of a selection:
     * tens of MB) would otherwise be fresh mmaps, or heap the allocator trims, at every
     * query: their page faults measured ~15% of a 6 h range query's CPU. Kept below
     * these sizes, freed memory stays in the process for the next query. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    sl_daemon_cfg_defaults(&d.cfg);
    int rc = sl_daemon_cfg_parse_args(&d.cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc) {
        fprintf(stderr, "sluiced: %s\n", err);
        return 2;
    }
    sl_log_set_level(d.cfg.log_level);
    /* Thousands of TCP clients need thousands of descriptors: take the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (d.cfg.query_role == SL_QUERY_ROLE_QUERY)
        return run_query_node(&d, &sigs);

    struct sl_shard_cfg *sc = &d.cfg.shard;
    sc->nproducers = sl_statsd_server_producers(&d.cfg.statsd) +
                     sl_dpdk_server_producers(&d.cfg.dpdk);
    uint32_t kafka_prod = sc->nproducers; /* the Kafka consumer's producer, if any */
    if (d.cfg.kafka.role == SL_KAFKA_ROLE_CONSUME)
        sc->nproducers++;
    d.cfg.kafka.flush_interval_ms = sc->flush_interval_ms;
    if ((rc = sl_expo_create(sc->nshards ? sc->nshards : 1, &sc->flush, &d.expo)))
        goto fail_rc;
    sc->sink.flush = tee_flush;
    sc->sink.ctx = &d;
    pthread_mutex_init(&d.maintain_mu, NULL);
    pthread_cond_init(&d.maintain_cv, NULL);

    d.cfg.store.dir = d.cfg.data_dir;
    if ((rc = sl_store_cfg_check(&d.cfg.store, err, sizeof err)))
        goto fail;
    if ((rc = sl_store_open(&d.cfg.store, &d.store))) {
        if (rc == -EBUSY)
            snprintf(err, sizeof err,
                     "data directory %.200s is in use: another sluiced or a sluice import "
                     "holds %.200s/LOCK", d.cfg.data_dir, d.cfg.data_dir);
        else
            snprintf(err, sizeof err, "cannot open the store in %.300s: %s", d.cfg.data_dir,
                     sl_strerror(rc));
        goto fail;
    }
    d.store_sink.store = d.store;
    d.store_sink.flush = &sc->flush;
    d.src = sl_store_source(d.store);
    unsigned qthreads = d.cfg.query_threads ? d.cfg.query_threads : sl_promql_default_threads();
    if ((rc = sl_promql_pool_create(qthreads, &d.qpool)))
        goto fail_rc;
    struct sl_query_api_cfg qcfg = {.src = d.src, .tiers = d.cfg.query_tiers, .pool = d.qpool};
    if ((rc = sl_query_api_create(&qcfg, &d.api)))
        goto fail_rc;
    if ((rc = sl_shard_cfg_check(sc, err, sizeof err)) ||
        (rc = sl_statsd_server_cfg_check(&d.cfg.statsd, err, sizeof err)) ||
        (rc = sl_dpdk_cfg_check(&d.cfg.dpdk, err, sizeof err)) ||
        (rc = sl_kafka_cfg_check(&d.cfg.kafka, err, sizeof err)))
        goto fail;
    if ((rc = sl_shardset_create(sc, &d.shards)))
        goto fail_rc;
    if ((rc = sl_statsd_server_open(&d.cfg.statsd, d.shards, 0, &d.statsd, err, sizeof err)) ||
        (rc = dpdk_open(&d, err, sizeof err)) ||
        (rc = kafka_open(&d, kafka_prod, err, sizeof err)))
        goto fail;
    sl_expo_set_self(d.expo, self_metrics, &d);

    d.rw.sink = (struct sl_sample_sink){&sl_store_sample_sink_ops, d.store};
    const struct sl_http_route own[] = {
        {NULL, "/api/v1/write", 0, sl_rw_handle_write, &d.rw},
        {"GET", "/metrics", 0, sl_expo_handle_metrics, d.expo},
        {NULL, "/-/healthy", 0, handle_healthy, NULL},
        {NULL, "/-/ready", 0, handle_ready, NULL},
        {NULL, "/api/v1/admin/tsdb/delete_series", 0, sl_store_handle_delete_series, d.store},
        {NULL, "/api/v1/sketch_quantile", 0, sl_store_handle_sketch_quantile, d.store},
        {NULL, "/api/v1/admin/tsdb/flush_head", 0, sl_store_handle_flush_head, d.store},
        {"GET", "/api/v1/read_raw", 0, sl_raw_read_handle, &d.src},
    };
    size_t nown = sizeof own / sizeof own[0], napi = 0;
    const struct sl_http_route *api_routes = sl_query_api_routes(d.api, &napi);
    d.routes = calloc(nown + napi, sizeof *d.routes);
    if (!d.routes) {
        rc = -ENOMEM;
        goto fail_rc;
    }
    memcpy(d.routes, own, sizeof own);
    memcpy(d.routes + nown, api_routes, napi * sizeof *api_routes);
    if ((rc = sl_http_server_open(&d.cfg.http, d.routes, nown + napi, &d.http, err,
                                  sizeof err)))
        goto fail;
    if ((rc = sl_shardset_start(d.shards)) || (rc = sl_statsd_server_start(d.statsd)) ||
        (d.dpdk && (rc = sl_dpdk_server_start(d.dpdk))) ||
        (d.kcon && (rc = sl_kafka_consume_start(d.kcon))))
        goto fail_rc;
    if ((rc = -pthread_create(&d.maintain_th, NULL, maintain_main, &d)))
        goto fail_rc;
    d.maintain_started = 1;

    char http_addr[160];
    snprintf(http_addr, sizeof http_addr, "%s", d.cfg.http.addr);
    SL_INFO("event=ready statsd=%s statsd_port=%d http=%s http_port=%d shards=%u "
            "flush_interval_ms=%lld udp_backend=%s",
            d.cfg.statsd.addr, sl_statsd_server_port(d.statsd), http_addr,
            sl_http_server_port(d.http), sc->nshards, (long long)sc->flush_interval_ms,
            sl_statsd_server_backend(d.statsd));
    printf("sluiced %s ready\n"
           "  send StatsD:  echo \"deploys:1|c\" | nc -u -w0 %s %d   (UDP; TCP on the same port)\n"
           "  read values:  curl http://127.0.0.1:%d/metrics   (after the %llds flush)\n"
           "  query:        curl 'http://127.0.0.1:%d/api/v1/query?query=rate(deploys_total[1m])'\n"
           "  data in:      %s\n",
           SL_VERSION, "127.0.0.1", sl_statsd_server_port(d.statsd), sl_http_server_port(d.http),
           (long long)(sc->flush_interval_ms / 1000), sl_http_server_port(d.http),
           d.cfg.data_dir);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    SL_INFO("event=shutdown signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    shutdown_daemon(&d);
    SL_INFO("event=stopped");
    return 0;

fail_rc:
    snprintf(err, sizeof err, "start-up failed: %s", strerror(rc < 0 ? -rc : rc));
fail:
    fprintf(stderr, "sluiced: %s\n", err);
    shutdown_daemon(&d);
    return 1;
}
