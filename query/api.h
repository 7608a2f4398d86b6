/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file api.h
 * The Prometheus HTTP API (v1, as of Prometheus 2.42) as a route table for the daemon's
 * HTTP server: /api/v1/query, /query_range, /series, /labels, /label/<name>/values,
 * /metadata, /status/buildinfo, /format_query, and /query_exemplars, /rules, /alerts (valid
 * empty answers until those features exist; Grafana calls them). Each route answers GET and
 * form POST (the transport decodes the body into params) and refuses other methods with
 * 405. Parameters, JSON envelope, error types and status codes follow Prometheus:
 * bad_data 400, execution 422, timeout 503, internal 500; times are RFC3339 or float Unix
 * seconds, durations float seconds or "5m"-style; sample values are strings ("NaN",
 * "+Inf"), timestamps are seconds with at most three decimals.
 *
 * Not here: /api/v1/admin/tsdb/delete_series and /api/v1/write need the real store and
 * are mounted by the wiring in tools/ (TODO(#4)).
 *
 * Thread: handlers run concurrently on transport threads; the api object is read-only after
 * creation and the source must allow concurrent readers.
 */
#ifndef SL_QUERY_API_H
#define SL_QUERY_API_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http.h"
#include "query/promql.h"
#include "query/source.h"

struct sl_query_api_cfg {
    struct sl_source src;       /* BORROWED; must outlive the api */
    int64_t lookback_ms;        /* 0 = 5 minutes */
    int64_t default_timeout_ms; /* 0 = 2 minutes, Prometheus' default */
    size_t max_samples;         /* 0 = 50,000,000 */
    int tiers; /* enum sl_pq_tiers (promql.h): tier reads of range queries, default EXACT;
                  a request's `use_tiers` parameter (true, false, counters) overrides it */
    /* Query threads shared by every query (promql.h), BORROWED, must outlive the api;
     * NULL = each query evaluates on its handler's thread alone. */
    struct sl_promql_pool *pool;
    /* Current time in ms for queries without `time`; NULL = the real-time clock. */
    int64_t (*now_ms)(void *arg);
    void *now_arg;
};

struct sl_query_api;

/** @return 0 with *out OWNED (sl_query_api_destroy), -ENOMEM. */
int sl_query_api_create(const struct sl_query_api_cfg *cfg, struct sl_query_api **out);
void sl_query_api_destroy(struct sl_query_api *api);
/**
 * The route table (each route's ctx is @api). BORROWED, valid until
 * sl_query_api_destroy(); *n receives the number of routes. Order matters only for the
 * one prefix route (/api/v1/label/), which is last.
 */
const struct sl_http_route *sl_query_api_routes(struct sl_query_api *api, size_t *n);

/**
 * Parse a time parameter the way the Prometheus API does: RFC3339 ("2026-11-28T10:00:00Z",
 * fractional seconds and offsets allowed) or float Unix seconds. @return 0 or -EINVAL.
 */
int sl_query_parse_time(const char *s, int64_t *ms);

/**
 * Parse a tier-read setting (the `use_tiers` parameter, `query.use_tiers` in the config):
 * "true"/"1"/"exact" = SL_PQ_TIERS_EXACT, "false"/"0"/"off" = SL_PQ_TIERS_OFF, "counters" =
 * SL_PQ_TIERS_COUNTERS (enum sl_pq_tiers, promql.h). @return 0 with *tiers, or -EINVAL.
 */
int sl_query_parse_tiers(const char *s, int *tiers);

#endif
