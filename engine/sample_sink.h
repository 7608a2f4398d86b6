/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file sample_sink.h
 * Where write routes put plain samples (remote write today; imports later). A write route
 * in ingest/ must not know storage/ exists, so it hands a decoded, validated batch to this
 * interface and tools/ wires it to the store (sl_store_append: WAL first, all-or-nothing).
 *
 * A sample's key is canonical (engine/key.h) with kind SL_KIND_PLAIN: the metric name is
 * the `__name__` label, the other labels are sorted by name, unique and non-empty.
 * Thread: append may be called from several HTTP worker threads at once; implementations
 * serialise internally.
 */
#ifndef SL_SAMPLE_SINK_H
#define SL_SAMPLE_SINK_H

#include <stddef.h>
#include <stdint.h>

/** One sample. @key BORROWED for the append call. */
struct sl_plain_sample {
    const char *key;  /* canonical key, kind SL_KIND_PLAIN, NUL-terminated (key[key_len-1]==0) */
    uint32_t key_len; /* including the final NUL */
    int64_t t;        /* milliseconds since the epoch */
    double v;         /* any bit pattern, kept exactly (staleness markers included) */
};

/**
 * Append @n samples as one unit: either all become durable and visible, or none.
 * @param s BORROWED for the call.
 * @return 0; SL_E_LIMIT when a sample lies outside the accepted time window (the oldest
 *         sample of the batch is the one refused; nothing written); -EINVAL (a key that is
 *         not canonical); -ENOMEM; -errno (write failure; nothing applied, retry later).
 */
typedef int sl_sample_append_fn(void *ctx, const struct sl_plain_sample *s, size_t n);

struct sl_sample_sink_ops {
    sl_sample_append_fn *append;
};

/** A sink: @ops static, @ctx BORROWED by whoever holds the sink. */
struct sl_sample_sink {
    const struct sl_sample_sink_ops *ops;
    void *ctx;
};

#endif
