/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage/ <-> engine/ sink and storage/ <-> query/ source.
 *
 * Sink: one flush of one shard becomes one sl_store_append_sketches() batch, so the store's
 * all-or-nothing append makes a flush atomic for queries too. Timer entries also hand over
 * their interval DDSketch, keyed by the timer's own key (kind SL_METRIC_TIMER), so tiers can
 * keep the merged sketch per bucket and answer quantiles over any range (sketch_quantile). Keys are rebuilt as plain
 * series (kind SL_KIND_PLAIN): name + suffix ("_total", "_sum"...), the entry's labels,
 * plus "quantile" for timer quantiles. A failed append (disk full, permission) is counted
 * and logged by the shard; the interval is lost for storage only, never for /metrics.
 *
 * Plain-sample sink: write routes (remote write) hand canonical keys already; the only work
 * is the copy into storage's sample type, kept as two types so ingest/ never sees storage/.
 *
 * Source: query matchers map 1:1 onto storage matchers; each stored key is decoded in
 * place (its strings are already NUL-terminated) into a sorted label array with __name__.
 * The store decodes each series into arrays of its own, which the evaluator may take over
 * (SL_SOURCE_F_TRANSFER) rather than copy. The parts ops hand the evaluator's query threads
 * one selection to decode together (sl_store_select_parts).
 */
#include "tools/store_bridge.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/clock.h"
#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "query/api.h"
#include "query/promql.h"

/* ---- sink -------------------------------------------------------------------------- */

/* Append the store key of point @pt of the series @key to @keys. @scratch holds the
 * quantile's text while the key is built (one buffer for the whole flush: a malloc and a
 * snprintf per quantile point showed in the flusher's profile at 100k series). */
static int append_point(struct sl_buf *keys, struct sl_buf *scratch, const char *key,
                        uint32_t key_len, const struct sl_flush_point *pt, size_t *off,
                        uint32_t *len)
{
    const char *name;
    size_t name_len;
    struct sl_key_iter it;
    sl_key_name(key, key_len, &name, &name_len, &it);
    char full[SL_KEY_MAX];
    size_t sl = strlen(pt->suffix);
    if (name_len + sl >= sizeof full)
        return -ENOSPC;
    memcpy(full, name, name_len);
    memcpy(full + name_len, pt->suffix, sl);
    struct sl_label labels[SL_LABELS_MAX];
    size_t n = 0;
    struct sl_label l;
    while (sl_key_next_label(&it, &l) && n < SL_LABELS_MAX - 1)
        labels[n++] = l;
    if (pt->extra_label) {
        sl_buf_reset(scratch);
        sl_buf_put_double(scratch, pt->extra_value);
        if (sl_buf_failed(scratch))
            return -ENOMEM;
        labels[n++] = (struct sl_label){.name = pt->extra_label,
                                        .name_len = (uint32_t)strlen(pt->extra_label),
                                        .value = scratch->data,
                                        .value_len = (uint32_t)scratch->len};
    }
    char out[SL_KEY_MAX];
    int kl = sl_key_build(SL_KIND_PLAIN, full, name_len + sl, labels, n, out, sizeof out);
    if (kl < 0)
        return kl;
    *off = keys->len;
    *len = (uint32_t)kl;
    sl_buf_append(keys, out, (size_t)kl);
    return sl_buf_failed(keys) ? -ENOMEM : 0;
}

int sl_store_sink_flush(void *ctx, const struct sl_flush_batch *b)
{
    struct sl_store_sink *sk = ctx;
    struct sl_buf keys = SL_BUF_INIT, scratch = SL_BUF_INIT;
    size_t cap = b->n * 4 + 16, n = 0;
    struct sl_sample *samples = malloc(cap * sizeof *samples);
    size_t *offs = malloc(cap * sizeof *offs);
    struct sl_sketch_sample *sks = malloc((b->n + 1) * sizeof *sks);
    size_t nsk = 0;
    int rc = 0;
    if (!samples || !offs || !sks) {
        rc = -ENOMEM;
        goto out;
    }
    struct sl_flush_point pts[SL_FLUSH_MAX_POINTS];
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_flush_entry *e = &b->entries[i];
        if (e->mtype == SL_METRIC_TIMER && e->timer.sketch &&
            sl_ddsketch_count(e->timer.sketch) > 0)
            sks[nsk++] = (struct sl_sketch_sample){e->key, e->key_len, b->ts_ms, e->timer.sketch};
        int np = sl_flush_expand(sk->flush, e, pts);
        for (int k = 0; k < np; k++) {
            if (n == cap) {
                cap *= 2;
                struct sl_sample *ns = realloc(samples, cap * sizeof *ns);
                if (!ns) {
                    rc = -ENOMEM;
                    goto out;
                }
                samples = ns;
                size_t *no = realloc(offs, cap * sizeof *no);
                if (!no) {
                    rc = -ENOMEM;
                    goto out;
                }
                offs = no;
            }
            uint32_t kl;
            int prc = append_point(&keys, &scratch, e->key, e->key_len, &pts[k], &offs[n], &kl);
            if (prc == -ENOMEM) {
                rc = prc; /* the flush fails whole, and the shard counts and logs it */
                goto out;
            }
            if (prc)
                continue; /* a key that no longer fits with its suffix: /metrics still has it */
            samples[n] = (struct sl_sample){.key_len = kl, .t = b->ts_ms, .v = pts[k].value};
            n++;
        }
    }
    if (sl_buf_failed(&keys)) {
        rc = -ENOMEM;
        goto out;
    }
    /* The key buffer has stopped growing: now its offsets can become pointers. */
    for (size_t i = 0; i < n; i++)
        samples[i].key = keys.data + offs[i];
    if (n || nsk) {
        struct sl_sample_batch batch = {.samples = samples, .n = n};
        rc = sl_store_append_sketches(sk->store, &batch, sks, nsk);
    }
    if (rc == 0) {
        atomic_fetch_add_explicit(&sk->samples_written, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&sk->sketches_written, nsk, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&sk->append_failures, 1, memory_order_relaxed);
    }
out:
    free(samples);
    free(offs);
    free(sks);
    sl_buf_fini(&keys);
    sl_buf_fini(&scratch);
    return rc;
}

/* ---- source ------------------------------------------------------------------------ */

static int to_store_matchers(const struct sl_matcher *m, size_t nm, struct sl_store_matcher *out)
{
    if (nm > SL_MATCHERS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < nm; i++) {
        static const enum sl_store_match_op ops[] = {
            [SL_MATCH_EQ] = SL_STORE_MATCH_EQ, [SL_MATCH_NEQ] = SL_STORE_MATCH_NE,
            [SL_MATCH_RE] = SL_STORE_MATCH_RE, [SL_MATCH_NRE] = SL_STORE_MATCH_NRE};
        if (m[i].op < 0 || m[i].op > SL_MATCH_NRE)
            return -EINVAL;
        out[i] = (struct sl_store_matcher){.op = ops[m[i].op], .name = m[i].name,
                                           .value = m[i].value};
    }
    return 0;
}

/* Decode a stored key into sorted labels with __name__; pointers into the key itself. */
static size_t key_labels(const char *key, size_t len, struct sl_qlabel *out)
{
    const char *name;
    size_t name_len;
    struct sl_key_iter it;
    sl_key_name(key, len, &name, &name_len, &it);
    size_t n = 0;
    int placed = name_len == 0;
    struct sl_label l;
    while (sl_key_next_label(&it, &l) && n < SL_LABELS_MAX) {
        if (!placed && strcmp(l.name, "__name__") > 0) {
            out[n++] = (struct sl_qlabel){"__name__", name};
            placed = 1;
        }
        out[n++] = (struct sl_qlabel){l.name, l.value};
    }
    if (!placed)
        out[n++] = (struct sl_qlabel){"__name__", name};
    return n;
}

static int store_walk(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt, unsigned flags, sl_series_fn *fn, void *arg)
{
    struct sl_store *st = ctx;
    struct sl_store_matcher sm[SL_MATCHERS_MAX];
    int rc = to_store_matchers(m, nm, sm);
    if (rc)
        return rc;
    struct sl_series_set *set = NULL;
    char err[256];
    rc = sl_store_select(st, sm, nm, mint, maxt, flags, &set, err, sizeof err);
    if (rc) {
        SL_WARN("query=select error=\"%s\"", err[0] ? err : "store select failed");
        return rc;
    }
    size_t count = sl_series_set_count(set);
    int keys_only = (flags & SL_SELECT_KEYS_ONLY) != 0;
    struct sl_qlabel ls[SL_LABELS_MAX + 1];
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct sl_store_series s;
        sl_series_set_get(set, i, &s);
        size_t nl = key_labels(s.key, s.key_len, ls);
        rc = fn(arg, ls, nl, s.t, s.v, keys_only ? 0 : s.n);
        if (rc == SL_SERIES_TAKEN && !keys_only && s.n) {
            sl_series_set_take(set, i); /* the evaluator keeps the arrays: no copy */
            rc = 0;
        } else if (rc > 0) {
            rc = 0;
        }
    }
    sl_series_set_destroy(set);
    return rc;
}

static int store_select(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                        int64_t maxt, sl_series_fn *fn, void *arg)
{
    return store_walk(ctx, m, nm, mint, maxt, 0, fn, arg);
}

static int store_select_last(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                             int64_t maxt, sl_series_fn *fn, void *arg)
{
    return store_walk(ctx, m, nm, mint, maxt, SL_SELECT_LAST, fn, arg);
}

static int store_series(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                        int64_t maxt, sl_series_fn *fn, void *arg)
{
    return store_walk(ctx, m, nm, mint, maxt, SL_SELECT_KEYS_ONLY, fn, arg);
}

static size_t store_tiers(void *ctx, struct sl_source_tier *out, size_t max)
{
    size_t n = 0;
    struct sl_tier_span sp;
    for (unsigned k = 0; sl_store_tier_span(ctx, k, &sp) == 0; k++, n++)
        if (n < max)
            out[n] = (struct sl_source_tier){sp.resolution_ms, sp.mint, sp.maxt,
                                             sp.samples_per_bucket};
    return n;
}

struct agg_walk {
    sl_agg_series_fn *fn;
    void *arg;
};

static int agg_key_cb(void *arg, const char *key, size_t keylen, const struct sl_agg *b,
                      size_t n)
{
    struct agg_walk *w = arg;
    struct sl_qlabel ls[SL_LABELS_MAX + 1];
    size_t nl = key_labels(key, keylen, ls);
    return w->fn(w->arg, ls, nl, b, n);
}

/* Tier buckets of a selector: the store reads fresh tier blocks and computes the rest from
 * raw data (sl_store_select_agg); the incr column always bridges from the previous sample. */
static int store_select_agg(void *ctx, const struct sl_matcher *m, size_t nm, int64_t res,
                            int64_t mint, int64_t maxt, sl_agg_series_fn *fn, void *arg)
{
    struct sl_store_matcher sm[SL_MATCHERS_MAX];
    int rc = to_store_matchers(m, nm, sm);
    if (rc)
        return rc;
    struct agg_walk w = {fn, arg};
    char err[256] = "";
    rc = sl_store_select_agg(ctx, sm, nm, res, mint, maxt, SL_AGG_WITH_INCR, agg_key_cb, &w,
                             NULL, err, sizeof err);
    if (rc && rc != -ENOMEM)
        SL_WARN("query=select_agg error=\"%s\"", err[0] ? err : sl_strerror(rc));
    return rc;
}

struct at_walk {
    sl_series_fn *fn;
    void *arg;
};

static int at_key_cb(void *arg, const char *key, size_t keylen, const int64_t *t,
                     const double *v, size_t n)
{
    struct at_walk *w = arg;
    struct sl_qlabel ls[SL_LABELS_MAX + 1];
    size_t nl = key_labels(key, keylen, ls);
    return w->fn(w->arg, ls, nl, t, v, n);
}

static int store_select_at(void *ctx, const struct sl_matcher *m, size_t nm, const int64_t *at,
                           size_t nat, sl_series_fn *fn, void *arg)
{
    struct sl_store_matcher sm[SL_MATCHERS_MAX];
    int rc = to_store_matchers(m, nm, sm);
    if (rc)
        return rc;
    struct at_walk w = {fn, arg};
    char err[256] = "";
    rc = sl_store_select_at(ctx, sm, nm, at, nat, at_key_cb, &w, err, sizeof err);
    if (rc && rc != -ENOMEM)
        SL_WARN("query=select_at error=\"%s\"", err[0] ? err : sl_strerror(rc));
    return rc;
}

static int store_parts_open(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                            int64_t maxt,
                            void (*run)(void *rctx, void (*fn)(void *arg, unsigned w),
                                        void *arg),
                            void *rctx, void **parts, size_t *n)
{
    struct sl_store_par par = {run, rctx};
    struct sl_store_matcher sm[SL_MATCHERS_MAX];
    int rc = to_store_matchers(m, nm, sm);
    if (rc)
        return rc;
    struct sl_series_parts *p = NULL;
    char err[256] = "";
    rc = sl_store_select_parts(ctx, sm, nm, mint, maxt, run ? &par : NULL, &p, err,
                               sizeof err);
    if (rc) {
        SL_WARN("query=select error=\"%s\"", err[0] ? err : sl_strerror(rc));
        return rc;
    }
    *parts = p;
    *n = sl_series_parts_count(p);
    return 0;
}

struct parts_walk {
    sl_series_fn *fn;
    void *arg;
};

static int parts_series_cb(void *arg, const struct sl_store_series *s)
{
    struct parts_walk *w = arg;
    struct sl_qlabel ls[SL_LABELS_MAX + 1];
    size_t nl = key_labels(s->key, s->key_len, ls);
    int rc = w->fn(w->arg, ls, nl, s->t, s->v, s->n);
    return rc > 0 ? 0 : rc; /* the samples are the reader's scratch: nothing can be taken */
}

static int store_parts_read(void *ctx, void *parts, size_t lo, size_t hi, sl_series_fn *fn,
                            void *arg)
{
    (void)ctx;
    struct parts_walk w = {fn, arg};
    return sl_series_parts_read(parts, lo, hi, parts_series_cb, &w); /* corruption is logged */
}

static void store_parts_close(void *ctx, void *parts)
{
    (void)ctx;
    sl_series_parts_destroy(parts);
}

static const struct sl_source_ops store_source_ops = {.flags = SL_SOURCE_F_TRANSFER,
                                                      .parts_open = store_parts_open,
                                                      .parts_read = store_parts_read,
                                                      .parts_close = store_parts_close,
                                                      .select = store_select,
                                                      .select_last = store_select_last,
                                                      .series = store_series,
                                                      .tiers = store_tiers,
                                                      .select_agg = store_select_agg,
                                                      .select_at = store_select_at};

struct sl_source sl_store_source(struct sl_store *store)
{
    return (struct sl_source){.ops = &store_source_ops, .ctx = store};
}

/* ---- admin: delete series ---------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int
api_error(struct sl_http_response *resp, int status, const char *type, const char *fmt, ...)
{
    struct sl_buf b = SL_BUF_INIT;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sl_buf_printf(&b, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":\"", type);
    for (const char *p = msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            sl_buf_putc(&b, '\\');
        sl_buf_putc(&b, (unsigned char)*p < 0x20 ? ' ' : *p);
    }
    sl_buf_puts(&b, "\"}");
    if (sl_buf_failed(&b)) {
        sl_buf_fini(&b);
        return -ENOMEM;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = sl_buf_steal(&b, &resp->body_len);
    return 0;
}

int sl_store_handle_delete_series(void *ctx, const struct sl_http_request *req,
                                  struct sl_http_response *resp)
{
    struct sl_store *st = ctx;
    if (strcmp(req->method, "POST") && strcmp(req->method, "PUT"))
        return api_error(resp, 405, "bad_data", "method %s not allowed (use POST or PUT)",
                         req->method);
    int64_t start = INT64_MIN, end = INT64_MAX;
    const char *s = sl_http_param(req, "start"), *e = sl_http_param(req, "end");
    if (s && sl_query_parse_time(s, &start))
        return api_error(resp, 400, "bad_data", "invalid parameter \"start\": \"%s\"", s);
    if (e && sl_query_parse_time(e, &end))
        return api_error(resp, 400, "bad_data", "invalid parameter \"end\": \"%s\"", e);
    size_t nmatch = 0;
    for (size_t i = 0; i < req->nparams; i++)
        nmatch += strcmp(req->params[i].name, "match[]") == 0;
    if (!nmatch)
        return api_error(resp, 400, "bad_data", "%s", "no match[] parameter provided");
    /* Parse every selector before deleting anything: a bad one rejects the whole request. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < req->nparams; i++) {
            if (strcmp(req->params[i].name, "match[]"))
                continue;
            struct sl_promql_expr *x;
            const struct sl_matcher *m;
            size_t nm;
            struct sl_promql_error perr;
            int rc = sl_promql_parse_selector(req->params[i].value, &x, &m, &nm, &perr);
            if (rc == -ENOMEM)
                return rc;
            if (rc)
                return api_error(resp, 400, "bad_data", "invalid parameter \"match[]\": %s",
                                 perr.msg);
            if (pass == 1) {
                struct sl_store_matcher sm[SL_MATCHERS_MAX];
                rc = to_store_matchers(m, nm, sm);
                if (rc == 0)
                    rc = sl_store_delete(st, sm, nm, start, end, NULL);
            }
            sl_promql_expr_free(x);
            if (rc)
                return api_error(resp, 500, "internal", "delete failed: %s", sl_strerror(rc));
        }
    }
    resp->status = 204;
    return 0;
}

/* ---- admin: flush head ------------------------------------------------------------ */

int sl_store_handle_flush_head(void *ctx, const struct sl_http_request *req,
                               struct sl_http_response *resp)
{
    struct sl_store *st = ctx;
    if (strcmp(req->method, "POST") && strcmp(req->method, "PUT"))
        return api_error(resp, 405, "bad_data", "method %s not allowed (use POST or PUT)",
                         req->method);
    int rc = sl_store_flush_head(st);
    /* then the maintenance the daemon's thread would do over the next intervals: compaction,
     * tiers and retention of every window the cut closed; bounded like that thread's loop */
    for (int steps = 0; rc == 0 && steps < 100000; steps++) {
        int m = sl_store_maintain(st, sl_clock_wall_ms());
        if (m <= 0) {
            rc = m;
            break;
        }
    }
    if (rc)
        return api_error(resp, 500, "internal", "flushing the head failed: %s", sl_strerror(rc));
    resp->status = 204;
    return 0;
}

/* ---- sketch quantiles ------------------------------------------------------------------- */

/* "1h", "90s" or float seconds, as Prometheus' step parameter. */
static int parse_resolution(const char *s, int64_t *ms)
{
    char *end;
    double f = strtod(s, &end);
    if (*s && !*end && end != s) {
        if (!(f >= 0) || !(f * 1000 < 9.2e15))
            return -1;
        *ms = (int64_t)llround(f * 1000);
        return 0;
    }
    return sl_promql_parse_duration(s, strlen(s), ms);
}

static void json_num(struct sl_buf *b, const char *name, double v)
{
    /* values as strings, as Prometheus writes sample values (NaN and Inf stay valid JSON) */
    sl_buf_printf(b, ",\"%s\":\"", name);
    sl_buf_put_double(b, v);
    sl_buf_putc(b, '"');
}

/* The timer key of @sel: `name{l="v",...}` with equality matchers only. */
static int selector_key(const char *sel, char *key, size_t cap, char *why, size_t whylen)
{
    struct sl_promql_expr *x;
    const struct sl_matcher *m;
    size_t nm;
    struct sl_promql_error perr;
    int rc = sl_promql_parse_selector(sel, &x, &m, &nm, &perr);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        /* the parser's message, cut to the caller's buffer */
        size_t k = strnlen(perr.msg, whylen ? whylen - 1 : 0);
        if (whylen) {
            memcpy(why, perr.msg, k);
            why[k] = 0;
        }
        return -EINVAL;
    }
    struct sl_label l[SL_LABELS_MAX];
    size_t n = 0;
    const char *name = NULL;
    for (size_t i = 0; i < nm && !rc; i++) {
        if (m[i].op != SL_MATCH_EQ) {
            snprintf(why, whylen, "only equality matchers name one series (label %s)",
                     m[i].name);
            rc = -EINVAL;
        } else if (strcmp(m[i].name, "__name__") == 0) {
            name = m[i].value;
        } else if (n < SL_LABELS_MAX) {
            l[n++] = (struct sl_label){m[i].name, m[i].value, (uint32_t)strlen(m[i].name),
                                       (uint32_t)strlen(m[i].value)};
        }
    }
    if (!rc && (!name || !*name)) {
        snprintf(why, whylen, "%s", "the series needs a metric name");
        rc = -EINVAL;
    }
    int kl = rc ? rc : sl_key_build(SL_METRIC_TIMER, name, strlen(name), l, n, key, cap);
    if (!rc && kl < 0) {
        snprintf(why, whylen, "%s", "series key too long");
        rc = -EINVAL;
    }
    sl_promql_expr_free(x);
    return rc ? rc : kl;
}

int sl_store_handle_sketch_quantile(void *ctx, const struct sl_http_request *req,
                                    struct sl_http_response *resp)
{
    struct sl_store *st = ctx;
    if (strcmp(req->method, "GET") && strcmp(req->method, "POST"))
        return api_error(resp, 405, "bad_data", "method %s not allowed", req->method);
    const char *ser = sl_http_param(req, "series"), *qs = sl_http_param(req, "q");
    const char *s = sl_http_param(req, "start"), *e = sl_http_param(req, "end");
    const char *r = sl_http_param(req, "resolution");
    if (!ser)
        return api_error(resp, 400, "bad_data", "%s", "missing parameter \"series\"");
    if (!qs)
        return api_error(resp, 400, "bad_data", "%s", "missing parameter \"q\"");
    char *qend;
    double q = strtod(qs, &qend);
    if (!*qs || *qend || !(q >= 0 && q <= 1))
        return api_error(resp, 400, "bad_data",
                         "invalid parameter \"q\": \"%s\" (a quantile in [0, 1])", qs);
    int64_t start = INT64_MIN, end = INT64_MAX, res = 0;
    if (s && sl_query_parse_time(s, &start))
        return api_error(resp, 400, "bad_data", "invalid parameter \"start\": \"%s\"", s);
    if (e && sl_query_parse_time(e, &end))
        return api_error(resp, 400, "bad_data", "invalid parameter \"end\": \"%s\"", e);
    if (r && parse_resolution(r, &res))
        return api_error(resp, 400, "bad_data", "invalid parameter \"resolution\": \"%s\"", r);
    if (start > end)
        return api_error(resp, 400, "bad_data", "%s",
                         "invalid parameter \"end\": end timestamp must not be before start time");
    char key[SL_KEY_MAX], why[256] = "";
    int kl = selector_key(ser, key, sizeof key, why, sizeof why);
    if (kl == -ENOMEM)
        return kl;
    if (kl < 0)
        return api_error(resp, 400, "bad_data", "invalid parameter \"series\": %s", why);
    struct sl_sketch_bucket *bk = NULL;
    size_t nb = 0;
    int rc = sl_store_read_sketch(st, key, (size_t)kl, res, start, end, &bk, &nb);
    struct sl_ddsketch *m = NULL;
    if (rc == 0)
        rc = sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &m);
    for (size_t i = 0; i < nb && rc == 0; i++)
        rc = sl_ddsketch_merge(m, bk[i].sketch);
    sl_sketch_buckets_free(bk, nb);
    if (rc) {
        sl_ddsketch_destroy(m);
        if (rc == -ENOMEM)
            return rc;
        return api_error(resp, 500, "internal", "reading sketches failed: %s", sl_strerror(rc));
    }
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"sketch\"");
    json_num(&b, "q", q);
    json_num(&b, "quantile", sl_ddsketch_quantile(m, q));
    json_num(&b, "count", sl_ddsketch_count(m));
    json_num(&b, "sum", sl_ddsketch_sum(m));
    json_num(&b, "min", sl_ddsketch_min(m));
    json_num(&b, "max", sl_ddsketch_max(m));
    json_num(&b, "relative_accuracy", SL_DDSKETCH_ALPHA);
    sl_buf_printf(&b, ",\"resolution_ms\":%lld,\"buckets\":%zu}}", (long long)res, nb);
    sl_ddsketch_destroy(m);
    if (sl_buf_failed(&b)) {
        sl_buf_fini(&b);
        return -ENOMEM;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = sl_buf_steal(&b, &resp->body_len);
    return 0;
}

/* ---- plain-sample sink ------------------------------------------------------------------ */

static int store_sample_append(void *ctx, const struct sl_plain_sample *s, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(struct sl_sample))
        return -ENOMEM;
    struct sl_sample *v = malloc(n * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (struct sl_sample){s[i].key, s[i].key_len, s[i].t, s[i].v};
    struct sl_sample_batch b = {v, n};
    int rc = sl_store_append(ctx, &b);
    free(v);
    return rc;
}

const struct sl_sample_sink_ops sl_store_sample_sink_ops = {.append = store_sample_append};
