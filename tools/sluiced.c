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
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/clock.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "engine/shard.h"
#include "ingest/http_server.h"
#include "ingest/remote_write.h"
#include "ingest/statsd_server.h"
#include "query/api.h"
#include "sl_config.h"
#include "storage/store.h"
#include "tools/config.h"
#include "tools/exposition.h"
#include "tools/store_bridge.h"

struct daemon {
    struct sl_daemon_cfg cfg;
    struct sl_shardset *shards;
    struct sl_statsd_server *statsd;
    struct sl_http_server *http;
    struct sl_expo *expo;
    struct sl_store *store;
    struct sl_store_sink store_sink;
    struct sl_rw rw; /* remote write receiver: samples go straight to the store */
    struct sl_query_api *api;
    struct sl_http_route *routes; /* OWNED: daemon routes + the query API's */
    pthread_t maintain_th;
    int maintain_started;
    pthread_mutex_t maintain_mu;
    pthread_cond_t maintain_cv;
    int stopping;
};

/* Every flush goes to /metrics and to the store. The store's error is the one reported:
 * /metrics never fails short of memory, and losing the durable copy is what matters. */
static int tee_flush(void *ctx, const struct sl_flush_batch *b)
{
    struct daemon *d = ctx;
    int rc1 = sl_expo_sink_flush(d->expo, b);
    int rc2 = sl_store_sink_flush(&d->store_sink, b);
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
        {"sluice_statsd_backpressure_waits_total", "Times a stream listener waited for shards.",
         offsetof(struct sl_statsd_feed_stats, ring_waits)},
        {"sluice_statsd_tag_errors_total", "DogStatsD tags ignored (no value).",
         offsetof(struct sl_statsd_feed_stats, tag_errors)},
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
    type_line(b, "sluice_build_info", "gauge", "Build information.");
    sl_buf_printf(b, "sluice_build_info{version=\"%s\",udp_backend=\"%s\"} 1\n", SL_VERSION,
                  sl_statsd_server_backend(d->statsd));
}

static void shutdown_daemon(struct daemon *d)
{
    if (d->statsd)
        sl_statsd_server_stop(d->statsd);
    if (d->shards)
        sl_shardset_stop(d->shards); /* drains rings, final flush into the sinks */
    if (d->maintain_started) {
        pthread_mutex_lock(&d->maintain_mu);
        d->stopping = 1;
        pthread_cond_signal(&d->maintain_cv);
        pthread_mutex_unlock(&d->maintain_mu);
        pthread_join(d->maintain_th, NULL);
    }
    sl_http_server_close(d->http);
    sl_statsd_server_close(d->statsd);
    sl_shardset_destroy(d->shards);
    sl_query_api_destroy(d->api);
    sl_store_close(d->store); /* after the final flush: it is in the WAL */
    sl_expo_destroy(d->expo);
    free(d->routes);
}

int main(int argc, char **argv)
{
    static struct daemon d;
    char err[512] = "";
    sl_daemon_cfg_defaults(&d.cfg);
    int rc = sl_daemon_cfg_parse_args(&d.cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc) {
        fprintf(stderr, "sluiced: %s\n", err);
        return 2;
    }
    sl_log_set_level(d.cfg.log_level);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sl_shard_cfg *sc = &d.cfg.shard;
    sc->nproducers = sl_statsd_server_producers(&d.cfg.statsd);
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
        snprintf(err, sizeof err, "cannot open the store in %.300s: %s", d.cfg.data_dir,
                 sl_strerror(rc));
        goto fail;
    }
    d.store_sink.store = d.store;
    d.store_sink.flush = &sc->flush;
    struct sl_query_api_cfg qcfg = {.src = sl_store_source(d.store)};
    if ((rc = sl_query_api_create(&qcfg, &d.api)))
        goto fail_rc;
    if ((rc = sl_shard_cfg_check(sc, err, sizeof err)) ||
        (rc = sl_statsd_server_cfg_check(&d.cfg.statsd, err, sizeof err)))
        goto fail;
    if ((rc = sl_shardset_create(sc, &d.shards)))
        goto fail_rc;
    if ((rc = sl_statsd_server_open(&d.cfg.statsd, d.shards, 0, &d.statsd, err, sizeof err)))
        goto fail;
    sl_expo_set_self(d.expo, self_metrics, &d);

    d.rw.sink = (struct sl_sample_sink){&sl_store_sample_sink_ops, d.store};
    const struct sl_http_route own[] = {
        {NULL, "/api/v1/write", 0, sl_rw_handle_write, &d.rw},
        {"GET", "/metrics", 0, sl_expo_handle_metrics, d.expo},
        {NULL, "/-/healthy", 0, handle_healthy, NULL},
        {NULL, "/-/ready", 0, handle_ready, NULL},
        {NULL, "/api/v1/admin/tsdb/delete_series", 0, sl_store_handle_delete_series, d.store},
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
    if ((rc = sl_shardset_start(d.shards)) || (rc = sl_statsd_server_start(d.statsd)))
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
