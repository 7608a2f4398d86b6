/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file exposition.h
 * The "latest values" sink behind GET /metrics: at each flush a shard's series and their
 * exposed values are swapped in under a mutex (once per shard per flush: control-plane
 * rate). The first scrape after a flush formats that shard's values into Prometheus text
 * lines, sorted by metric family; a scrape merges the shards' sorted lists so each family
 * is contiguous with one # TYPE line, then appends sluiced's own metrics from a callback.
 * Threads: the sink runs on the shards' flusher threads; the route on HTTP threads.
 */
#ifndef SL_TOOLS_EXPOSITION_H
#define SL_TOOLS_EXPOSITION_H

#include "engine/buf.h"
#include "engine/http.h"
#include "engine/sink.h"

struct sl_expo;

/** Append self-metrics to @out at scrape time. */
typedef void sl_expo_self_fn(void *ctx, struct sl_buf *out);

/** @return 0 or -ENOMEM. *@out OWNED. @flush BORROWED (quantiles to expose). */
int sl_expo_create(uint32_t nshards, const struct sl_flush_cfg *flush, struct sl_expo **out);
void sl_expo_destroy(struct sl_expo *x);
void sl_expo_set_self(struct sl_expo *x, sl_expo_self_fn *fn, void *ctx);

/** The sink to wire into the shard set (ctx = @x). */
sl_sink_flush_fn sl_expo_sink_flush;

/** GET /metrics handler (ctx = struct sl_expo *). */
sl_http_handler_fn sl_expo_handle_metrics;

/** Append @s with Prometheus label-value escaping (\\ \" \n). */
void sl_expo_escape(struct sl_buf *b, const char *s, size_t n);

#endif
