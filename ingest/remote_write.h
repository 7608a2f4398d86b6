/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file remote_write.h
 * Prometheus remote write 1.0 receiver: `POST /api/v1/write` with a snappy-compressed
 * (block format) protobuf prometheus.WriteRequest (ingest/remote_write.proto).
 *
 * It owns decoding and validation; it writes through a struct sl_sample_sink
 * (engine/sample_sink.h) that tools/ wires to the store, one append per request, so a
 * request is applied entirely or not at all. It never includes storage/.
 *
 * Validation, all before anything is appended (remote write spec, and Prometheus' name
 * rules): every series has a `__name__` matching [a-zA-Z_:][a-zA-Z0-9_:]*; every label
 * name matches [a-zA-Z_][a-zA-Z0-9_]*; names are strictly increasing (sorted bytewise, no
 * repeats); no name or value is empty; names and values are valid UTF-8 without NUL; at
 * most SL_LABELS_MAX labels and a canonical key of at most SL_KEY_MAX bytes; no native
 * histogram samples. Sample values are kept bit-exactly (staleness markers, NaN payloads),
 * timestamps may be anything the sink's time window accepts. Exemplars and metadata are
 * accepted and ignored. Series without samples are skipped.
 *
 * Where this differs from Prometheus 2.42's receiver, on purpose: samples older than a
 * series' newest are stored (backfill) where Prometheus without an out-of-order window
 * answers 400, and a second sample at an existing timestamp replaces the first (the
 * store's last-write-wins) where Prometheus refuses a different value as a duplicate.
 *
 * Responses: 204 success; 400 with a one-line message naming the series and label for a
 * malformed body (bad snappy, bad protobuf, bad labels) or a sample outside the store's
 * window; 415 for a Content-Type other than application/x-protobuf or a Content-Encoding
 * other than snappy (both may be absent); 405 for a method other than POST; 500 when the
 * sink fails (a sender retries it).
 * Thread: any; decoding uses only per-request memory.
 */
#ifndef SL_REMOTE_WRITE_H
#define SL_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http.h"
#include "engine/sample_sink.h"

/* Largest decompressed body accepted: Prometheus sends at most a few MiB per request
 * (max_samples_per_send 500 by default); 256 MiB leaves room for bulk backfill tools while
 * bounding what a bad length prefix can make us allocate. */
#define SL_RW_MAX_DECODED ((size_t)256 << 20)

/** A decoded request. All memory OWNED by the batch; sl_rw_batch_fini(). */
struct sl_rw_batch {
    struct sl_plain_sample *samples; /* keys point into @keys */
    size_t n;
    size_t nseries;     /* series with at least one sample */
    size_t nexemplars;  /* received and ignored */
    size_t nmetadata;   /* received and ignored */
    char *keys;         /* canonical keys, back to back */
};

/**
 * Decompress, unpack and validate a remote write body into @out.
 * @param body BORROWED; @len bytes of snappy block-format data.
 * @param[out] out filled on success (OWNED: sl_rw_batch_fini()); zeroed on failure.
 * @param err receives a one-line reason on SL_E_PROTO (may be NULL).
 * @return 0; SL_E_PROTO (malformed or invalid: nothing in @out); -ENOMEM.
 */
int sl_rw_decode(const void *body, size_t len, struct sl_rw_batch *out, char *err,
                 size_t errlen);

/** Free @b's memory and zero it; a zeroed batch is fine. */
void sl_rw_batch_fini(struct sl_rw_batch *b);

/** The receiver: route context for sl_rw_handle_write. */
struct sl_rw {
    struct sl_sample_sink sink; /* BORROWED ctx; must outlive the route */
    /* Counters (relaxed; for /metrics and tests). */
    _Atomic unsigned long long requests, samples, rejected, sink_failures;
};

/** Route handler for POST /api/v1/write (ctx = struct sl_rw *). */
sl_http_handler_fn sl_rw_handle_write;

#endif
