/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file sink.h
 * What a shard hands out at each flush, and the interface outer modules implement to take
 * it. engine/ names no file format or protocol: tools/ wires sinks (the /metrics snapshot,
 * the store, Kafka) to shards through struct sl_sink_ops.
 *
 * One flush = one sl_flush_batch per shard. Entries describe each live series' aggregate
 * for the interval that just closed; sl_flush_expand() turns an entry into the exposed
 * samples (name suffixes, quantile labels) so every sink names series the same way.
 */
#ifndef SL_SINK_H
#define SL_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ddsketch.h"

struct sl_flush_entry {
    const char *key;  /* canonical key (engine/key.h); BORROWED until the sink returns */
    uint32_t key_len;
    uint8_t mtype;    /* enum sl_metric_type */
    uint8_t updated;  /* 1 when the series received data in this interval */
    uint16_t idle;    /* consecutive intervals without data before this one */
    uint64_t id;
    union {
        struct {
            double interval; /* sum of value/rate over the interval */
            double total;    /* cumulative since the series was created (Prometheus counter) */
        } counter;
        struct {
            double value;    /* last value, deltas applied */
        } gauge;
        struct {
            const struct sl_ddsketch *sketch; /* interval's values; BORROWED; NULL if none */
            double count, sum;               /* interval's weighted count and sum */
            double total_count, total_sum;   /* cumulative, for Prometheus summaries */
        } timer;
        struct {
            double distinct; /* distinct members seen in the interval */
        } set;
    };
};

struct sl_flush_batch {
    int64_t ts_ms;    /* interval end (a wall-clock boundary, or the shutdown time) */
    int64_t interval_ms;
    uint32_t shard;
    size_t n;
    const struct sl_flush_entry *entries; /* BORROWED until the sink returns */
};

/**
 * Take one shard's flush. Runs on the shard's flusher thread while the shard keeps
 * aggregating the next interval (the entries are a snapshot), so a slow sink delays only
 * the next flush; several shards call the same sink concurrently, so the sink
 * synchronises its own state. @return 0, or a negative code that the shard counts and logs
 * (the shard's state has already advanced: a failing sink loses that interval for itself only).
 */
typedef int sl_sink_flush_fn(void *ctx, const struct sl_flush_batch *b);

struct sl_sink_ops {
    sl_sink_flush_fn *flush;
    void *ctx;
};

/** Quantiles exposed for timers, set once at start-up (default 0.5 0.9 0.95 0.99). */
#define SL_FLUSH_MAX_QUANTILES 16
struct sl_flush_cfg {
    double quantiles[SL_FLUSH_MAX_QUANTILES];
    int nquantiles;
};
void sl_flush_cfg_defaults(struct sl_flush_cfg *cfg);

/** One exposed sample of an entry. Strings BORROWED (static or from the entry's key). */
struct sl_flush_point {
    const char *suffix;      /* appended to the metric name: "_total", "_sum", "" ... */
    const char *extra_label; /* "quantile" or NULL */
    double extra_value;      /* the quantile, when extra_label is set */
    double value;
};

/**
 * Expose @e the way sluice names StatsD series (statsd_exporter style, documented in the
 * README): counter → name_total (cumulative); gauge → name; timer → name{quantile=…} for
 * each configured quantile plus name_min, name_max (interval) and name_sum, name_count
 * (cumulative); set → name (distinct this interval); event → name_total; service check →
 * name (status). Timers and sets that saw no data expose only their cumulative points.
 * @return number of points written to @out (at most SL_FLUSH_MAX_POINTS).
 */
#define SL_FLUSH_MAX_POINTS (SL_FLUSH_MAX_QUANTILES + 4)
int sl_flush_expand(const struct sl_flush_cfg *cfg, const struct sl_flush_entry *e,
                    struct sl_flush_point *out);

#endif
