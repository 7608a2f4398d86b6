/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file remote_write.c
 * Prometheus remote write receiver: snappy block decompression, protobuf-c unpacking of
 * prometheus.WriteRequest, validation of every series, canonical keys, one sink append.
 *
 *     POST /api/v1/write
 *     Content-Encoding: snappy            snappy( WriteRequest{ timeseries: [
 *     Content-Type: application/x-protobuf   { labels: [__name__=x, job=a], samples: [(v,t)…] },
 *                                            … ] } )
 *
 * Two passes over the unpacked request: the first validates every series and sizes the
 * sample array and the key arena exactly; the second builds keys and samples into them.
 * Nothing reaches the sink until the whole request has passed, and the sink takes the
 * whole request as one all-or-nothing append, so a rejected request leaves no trace.
 *
 * Memory is per request (the decompressed body, protobuf-c's unpacked tree, the batch):
 * this is the HTTP write path, where a request carries hundreds to millions of samples, not
 * the per-event path. Thread: any; no shared state besides the relaxed counters.
 */
#include "ingest/remote_write.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <snappy-c.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "remote_write.pb-c.h"

#define NAME_LABEL "__name__"
#define NAME_LABEL_LEN 8

/* ---- validation helpers ----------------------------------------------------------------- */

/* Valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) without NUL bytes. */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0)
            k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Prometheus' label name rule [a-zA-Z_][a-zA-Z0-9_]*; metric names also allow ':'. */
static int name_ok(const uint8_t *s, size_t n, int colon)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static int bytes_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

static int is_name_label(const ProtobufCBinaryData *b)
{
    return b->len == NAME_LABEL_LEN && memcmp(b->data, NAME_LABEL, NAME_LABEL_LEN) == 0;
}

/* Append printable text for s[0..n) to a bounded buffer: bytes outside printable ASCII as
 * \xNN, so a message never carries raw control bytes or broken UTF-8. */
static void put_esc(char *buf, size_t cap, size_t *o, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n && *o + 5 < cap; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
            buf[(*o)++] = (char)c;
        else
            *o += (size_t)snprintf(buf + *o, cap - *o, "\\x%02x", c);
    }
    buf[*o < cap ? *o : cap - 1] = 0;
}

static void put_str(char *buf, size_t cap, size_t *o, const char *s)
{
    if (*o >= cap)
        return; /* full (the callers keep *o < cap; this keeps n below from wrapping) */
    size_t n = strlen(s);
    if (*o + n >= cap)
        n = cap - *o - 1;
    memcpy(buf + *o, s, n);
    *o += n;
    buf[*o] = 0;
}

/* "{__name__=\"x\", job=\"a\"}" for error messages, cut to ~200 bytes with "…". */
static void describe_series(const Prometheus__TimeSeries *ts, char *buf, size_t cap)
{
    char tmp[256];
    size_t o = 0;
    put_str(tmp, sizeof tmp, &o, "{");
    for (size_t i = 0; i < ts->n_labels && o < 220; i++) {
        const Prometheus__Label *l = ts->labels[i];
        if (i)
            put_str(tmp, sizeof tmp, &o, ", ");
        put_esc(tmp, sizeof tmp, &o, l->name.data, l->name.len < 64 ? l->name.len : 64);
        put_str(tmp, sizeof tmp, &o, "=\"");
        put_esc(tmp, sizeof tmp, &o, l->value.data, l->value.len < 96 ? l->value.len : 96);
        put_str(tmp, sizeof tmp, &o, "\"");
    }
    put_str(tmp, sizeof tmp, &o, o >= 220 ? " ...}" : "}");
    snprintf(buf, cap, "%s", tmp);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return SL_E_PROTO;
}

/*
 * Check one series and return the size of its canonical key in *keylen.
 * @return 0 or SL_E_PROTO with the reason (naming the series, and the label) in @err.
 */
static int check_series(const Prometheus__TimeSeries *ts, size_t idx, size_t *keylen, char *err,
                        size_t errlen)
{
    char desc[256];
    if (ts->n_histograms) {
        describe_series(ts, desc, sizeof desc);
        return fail(err, errlen, "series %zu %s: native histogram samples are not supported",
                    idx, desc);
    }
    if (ts->n_labels == 0)
        return fail(err, errlen, "series %zu has no labels (no __name__)", idx);
    int have_name = 0;
    size_t klen = 1; /* kind byte */
    for (size_t i = 0; i < ts->n_labels; i++) {
        const Prometheus__Label *l = ts->labels[i];
        const char *why = NULL;
        int isname = is_name_label(&l->name);
        if (l->name.len == 0)
            why = "empty label name";
        else if (!utf8_ok(l->name.data, l->name.len))
            why = "label name is not valid UTF-8 or holds a NUL byte";
        else if (!name_ok(l->name.data, l->name.len, 0))
            why = "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)";
        else if (l->value.len == 0)
            why = "empty label value";
        else if (!utf8_ok(l->value.data, l->value.len))
            why = "label value is not valid UTF-8 or holds a NUL byte";
        else if (isname && !name_ok(l->value.data, l->value.len, 1))
            why = "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)";
        else if (i > 0 && bytes_cmp(&ts->labels[i - 1]->name, &l->name) == 0)
            why = "duplicate label name";
        else if (i > 0 && bytes_cmp(&ts->labels[i - 1]->name, &l->name) > 0)
            why = "labels not sorted by name";
        if (why) {
            char lname[80];
            size_t o = 0;
            put_esc(lname, sizeof lname, &o, l->name.data, l->name.len < 64 ? l->name.len : 64);
            describe_series(ts, desc, sizeof desc);
            return fail(err, errlen, "series %zu %s: label %zu \"%s\": %s", idx, desc, i, lname,
                        why);
        }
        have_name |= isname;
        klen += isname ? l->value.len + 1 : l->name.len + l->value.len + 2;
    }
    if (!have_name) {
        describe_series(ts, desc, sizeof desc);
        return fail(err, errlen, "series %zu %s: missing __name__ label", idx, desc);
    }
    if (ts->n_labels - 1 > SL_LABELS_MAX || klen > SL_KEY_MAX) {
        describe_series(ts, desc, sizeof desc);
        return fail(err, errlen, "series %zu %s: too large (%zu labels, %zu key bytes; limits "
                    "%d labels besides __name__, %d bytes)", idx, desc, ts->n_labels - 1, klen,
                    SL_LABELS_MAX, SL_KEY_MAX);
    }
    *keylen = klen;
    return 0;
}

/* Build the canonical key of a checked series into out[0..cap). @return its length. */
static int build_key(const Prometheus__TimeSeries *ts, char *out, size_t cap)
{
    struct sl_label labels[SL_LABELS_MAX];
    const ProtobufCBinaryData *name = NULL;
    size_t n = 0;
    for (size_t i = 0; i < ts->n_labels; i++) {
        const Prometheus__Label *l = ts->labels[i];
        if (is_name_label(&l->name)) {
            name = &l->value;
            continue;
        }
        labels[n++] = (struct sl_label){(const char *)l->name.data, (const char *)l->value.data,
                                        (uint32_t)l->name.len, (uint32_t)l->value.len};
    }
    return sl_key_build(SL_KIND_PLAIN, (const char *)name->data, name->len, labels, n, out, cap);
}

/* ---- decode ----------------------------------------------------------------------------- */

void sl_rw_batch_fini(struct sl_rw_batch *b)
{
    free(b->samples);
    free(b->keys);
    memset(b, 0, sizeof *b);
}

int sl_rw_decode(const void *body, size_t len, struct sl_rw_batch *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = 0;
    size_t raw_len = 0;
    if (!body || len == 0 || snappy_uncompressed_length(body, len, &raw_len) != SNAPPY_OK)
        return fail(err, errlen, "snappy: corrupt input (body must be snappy block format)");
    if (raw_len > SL_RW_MAX_DECODED)
        return fail(err, errlen, "snappy: decompressed size %zu exceeds the limit of %zu bytes",
                    raw_len, SL_RW_MAX_DECODED);
    char *raw = malloc(raw_len ? raw_len : 1);
    if (!raw)
        return -ENOMEM;
    size_t got = raw_len;
    if (snappy_uncompress(body, len, raw, &got) != SNAPPY_OK || got != raw_len) {
        free(raw);
        return fail(err, errlen, "snappy: corrupt input");
    }
    Prometheus__WriteRequest *wr =
        prometheus__write_request__unpack(NULL, raw_len, (const uint8_t *)raw);
    free(raw);
    if (!wr)
        return fail(err, errlen, "protobuf: cannot decode a prometheus.WriteRequest");

    int rc = 0;
    size_t nsamples = 0, keybytes = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        size_t klen;
        if ((rc = check_series(ts, i, &klen, err, errlen)))
            goto done;
        out->nexemplars += ts->n_exemplars;
        if (ts->n_samples == 0)
            continue;
        nsamples += ts->n_samples;
        keybytes += klen;
        out->nseries++;
    }
    out->nmetadata = wr->n_metadata;
    if (nsamples) {
        out->samples = malloc(nsamples * sizeof *out->samples);
        out->keys = malloc(keybytes);
        if (!out->samples || !out->keys) {
            rc = -ENOMEM;
            goto done;
        }
    }
    size_t ko = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        if (ts->n_samples == 0)
            continue;
        int klen = build_key(ts, out->keys + ko, keybytes - ko);
        if (SL_NEVER(klen < 0)) { /* check_series() sized and validated it */
            rc = fail(err, errlen, "series %zu: cannot build its key: %s", i, sl_strerror(klen));
            goto done;
        }
        for (size_t j = 0; j < ts->n_samples; j++)
            out->samples[out->n++] = (struct sl_plain_sample){
                out->keys + ko, (uint32_t)klen, ts->samples[j]->timestamp, ts->samples[j]->value};
        ko += (size_t)klen;
    }
done:
    prometheus__write_request__free_unpacked(wr, NULL);
    if (rc)
        sl_rw_batch_fini(out);
    return rc;
}

/* ---- HTTP route ------------------------------------------------------------------------- */

static int respond(struct sl_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int respond(struct sl_http_response *resp, int status, const char *fmt, ...)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        resp->body = s;
        resp->body_len = (size_t)n;
    }
    return 0;
}

/* "application/x-protobuf", "application/x-protobuf;proto=prometheus.WriteRequest": the
 * media type before any parameter, compared without case and surrounding blanks. */
static int media_is(const char *v, const char *want)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, ";");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* Text form of a canonical key, for the out-of-window message. */
static void describe_key(const char *key, size_t len, char *buf, size_t cap)
{
    const char *name;
    size_t nlen;
    struct sl_key_iter it;
    sl_key_name(key, len, &name, &nlen, &it);
    size_t o = 0;
    buf[0] = 0;
    put_esc(buf, cap, &o, (const uint8_t *)name, nlen);
    put_str(buf, cap, &o, "{");
    struct sl_label l;
    for (int first = 1; sl_key_next_label(&it, &l) && o + 8 < cap; first = 0) {
        if (!first)
            put_str(buf, cap, &o, ", ");
        put_esc(buf, cap, &o, (const uint8_t *)l.name, l.name_len);
        put_str(buf, cap, &o, "=\"");
        put_esc(buf, cap, &o, (const uint8_t *)l.value, l.value_len);
        put_str(buf, cap, &o, "\"");
    }
    put_str(buf, cap, &o, "}");
}

int sl_rw_handle_write(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    static struct sl_log_limit lim;
    struct sl_rw *rw = ctx;
    atomic_fetch_add_explicit(&rw->requests, 1, memory_order_relaxed);
    if (strcmp(req->method, "POST") != 0) {
        atomic_fetch_add_explicit(&rw->rejected, 1, memory_order_relaxed);
        return respond(resp, 405, "remote write takes POST\n");
    }
    if (req->content_type && !media_is(req->content_type, "application/x-protobuf")) {
        atomic_fetch_add_explicit(&rw->rejected, 1, memory_order_relaxed);
        return respond(resp, 415, "unsupported Content-Type \"%.100s\": remote write takes "
                       "application/x-protobuf\n", req->content_type);
    }
    if (req->content_encoding && !media_is(req->content_encoding, "snappy")) {
        atomic_fetch_add_explicit(&rw->rejected, 1, memory_order_relaxed);
        return respond(resp, 415, "unsupported Content-Encoding \"%.100s\": remote write takes "
                       "snappy\n", req->content_encoding);
    }
    char err[512];
    struct sl_rw_batch b;
    int rc = sl_rw_decode(req->body, req->body_len, &b, err, sizeof err);
    if (rc == SL_E_PROTO) {
        atomic_fetch_add_explicit(&rw->rejected, 1, memory_order_relaxed);
        sl_log_every(&lim, 10000, SL_LOG_WARN, "ingest=remote_write event=request_refused "
                     "reason=bad_body detail=\"%s\"", err);
        return respond(resp, 400, "%s\n", err);
    }
    if (rc)
        return rc; /* -ENOMEM: 500 from the transport; the sender retries */
    if (b.n)
        rc = rw->sink.ops->append(rw->sink.ctx, b.samples, b.n);
    if (rc == SL_E_LIMIT) {
        /* The sink refuses a batch whose oldest sample is outside its window: name it. */
        size_t o = 0;
        for (size_t i = 1; i < b.n; i++)
            if (b.samples[i].t < b.samples[o].t)
                o = i;
        char desc[300];
        describe_key(b.samples[o].key, b.samples[o].key_len, desc, sizeof desc);
        atomic_fetch_add_explicit(&rw->rejected, 1, memory_order_relaxed);
        sl_log_every(&lim, 10000, SL_LOG_WARN, "ingest=remote_write event=request_refused "
                     "reason=out_of_window series=\"%s\" t=%" PRId64, desc, b.samples[o].t);
        respond(resp, 400, "out of bounds: sample of series %s at timestamp %" PRId64
                " ms is older than the store's out-of-order window; nothing was written\n",
                desc, b.samples[o].t);
        sl_rw_batch_fini(&b);
        return 0;
    }
    if (rc) {
        atomic_fetch_add_explicit(&rw->sink_failures, 1, memory_order_relaxed);
        sl_log_every(&lim, 10000, SL_LOG_WARN, "ingest=remote_write event=append_failed "
                     "samples=%zu error=\"%s\"", b.n, sl_strerror(rc));
        respond(resp, 500, "storing the samples failed: %s; nothing was written, retry\n",
                sl_strerror(rc));
        sl_rw_batch_fini(&b);
        return 0;
    }
    atomic_fetch_add_explicit(&rw->samples, b.n, memory_order_relaxed);
    sl_rw_batch_fini(&b);
    resp->status = 204;
    return 0;
}
