/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file store_bridge.h
 * The two adapters that connect storage/ to the rest, kept in tools/ because only tools/
 * may see every room:
 *  - a flush sink that turns each shard's flushed aggregates into samples (the same names
 *    /metrics shows, via sl_flush_expand) and appends them to the store, WAL first;
 *  - a query source (query/source.h) that answers PromQL selectors from the store.
 * Threads: the sink runs on shard threads (the store serialises appends); the source is
 * called from HTTP threads concurrently.
 */
#ifndef SL_TOOLS_STORE_BRIDGE_H
#define SL_TOOLS_STORE_BRIDGE_H

#include "engine/http.h"
#include "engine/sample_sink.h"
#include "engine/sink.h"
#include "query/source.h"
#include "storage/store.h"

struct sl_store_sink {
    struct sl_store *store;          /* BORROWED */
    const struct sl_flush_cfg *flush; /* BORROWED: quantiles to expose */
    _Atomic unsigned long long samples_written, sketches_written, append_failures;
};

/** Sink entry point (ctx = struct sl_store_sink *). */
sl_sink_flush_fn sl_store_sink_flush;

/** POST|PUT /api/v1/admin/tsdb/delete_series (ctx = struct sl_store *): Prometheus'
 *  parameters (match[] required, start/end optional), 204 on success. */
sl_http_handler_fn sl_store_handle_delete_series;

/** POST|PUT /api/v1/admin/tsdb/flush_head (ctx = struct sl_store *): cut the whole head
 *  into blocks (sl_store_flush_head), then run maintenance until it has nothing left to do,
 *  so compaction and every tier are built now (before a backup, in tests). 204 on success,
 *  500 with the store's error otherwise (the data stays in the WAL and head). */
sl_http_handler_fn sl_store_handle_flush_head;

/** GET|POST /api/v1/sketch_quantile (ctx = struct sl_store *): the quantile q of the timer
 *  series `series` (a selector naming one series: metric name and equality matchers, e.g.
 *  `api_latency{route="/x"}`, as sent to StatsD) over [start, end] (Prometheus time
 *  formats, default everything), merged from its interval sketches at `resolution`
 *  (float seconds or a duration; 0 = raw intervals, the default; a configured tier reads the
 *  tier blocks). Answers {"status":"success","data":{"resultType":"sketch","q","quantile",
 *  "count","sum","min","max","relative_accuracy","resolution_ms","buckets"}} with values as
 *  strings (quantile "NaN" when there is no data); 400 bad_data for bad parameters. */
sl_http_handler_fn sl_store_handle_sketch_quantile;

/** Plain-sample sink (engine/sample_sink.h) over the store, for write routes such as remote
 *  write: ctx = struct sl_store * (BORROWED). One sink append = one sl_store_append(), so
 *  it is all-or-nothing and WAL first; SL_E_LIMIT passes through for samples outside the
 *  store's out-of-order window. */
extern const struct sl_sample_sink_ops sl_store_sample_sink_ops;

/** A query source over @store (BORROWED; must outlive the source). */
struct sl_source sl_store_source(struct sl_store *store);

#endif
