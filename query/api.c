/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus HTTP API v1 handlers (see api.h). Each handler validates its parameters the
 * way Prometheus' web/api/v1/api.go does (same messages, so clients and humans see the
 * same errors), runs the query through sl_promql_parse/sl_promql_eval and writes the JSON
 * envelope by hand into an sl_buf: the shapes are fixed and small, and formatting numbers
 * exactly like Prometheus (jsonutil.MarshalValue / MarshalTimestamp) is the point.
 */
#include "query/api.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "query/promql.h"
#include "query/promql_pvt.h"
#include "sl_config.h"

#define DEFAULT_TIMEOUT_MS (2 * 60 * 1000)
#define MAX_POINTS 11000
/* Prometheus' minTime/maxTime for unset start/end: far enough to cover any sample. */
#define MIN_TIME_MS (INT64_MIN / 4)
#define MAX_TIME_MS (INT64_MAX / 4)

struct sl_query_api {
    struct sl_query_api_cfg cfg;
    struct sl_http_route routes[12];
    size_t nroutes;
};

/* ---- JSON output ----------------------------------------------------------------------- */

/* Label values are written for every series of a response: runs of characters that need no
 * escape are appended whole instead of one byte at a time. */
static void json_str(struct sl_buf *b, const char *s)
{
    sl_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&')
            continue;
        if (p > run)
            sl_buf_append(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case 0: sl_buf_putc(b, '"'); return;
        case '"': sl_buf_puts(b, "\\\""); break;
        case '\\': sl_buf_puts(b, "\\\\"); break;
        case '\n': sl_buf_puts(b, "\\n"); break;
        case '\r': sl_buf_puts(b, "\\r"); break;
        case '\t': sl_buf_puts(b, "\\t"); break;
        /* Go's encoder escapes HTML characters; Prometheus uses it */
        case '<': sl_buf_puts(b, "\\u003c"); break;
        case '>': sl_buf_puts(b, "\\u003e"); break;
        case '&': sl_buf_puts(b, "\\u0026"); break;
        default: sl_buf_printf(b, "\\u%04x", c);
        }
    }
}

/* seconds with the millisecond fraction written only when non-zero, always 3 digits;
 * without printf, as it runs once per point */
static void json_ts(struct sl_buf *b, int64_t t)
{
    uint64_t a = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    char tmp[32];
    int k = (int)sizeof tmp;
    uint64_t ms = a % 1000, sec = a / 1000;
    if (ms) {
        tmp[--k] = (char)('0' + ms % 10);
        tmp[--k] = (char)('0' + ms / 10 % 10);
        tmp[--k] = (char)('0' + ms / 100);
        tmp[--k] = '.';
    }
    do {
        tmp[--k] = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec);
    if (t < 0)
        tmp[--k] = '-';
    sl_buf_append(b, tmp + k, sizeof tmp - (size_t)k);
}

static void json_value(struct sl_buf *b, double v)
{
    sl_buf_putc(b, '"');
    pq_format_json_value(b, v);
    sl_buf_putc(b, '"');
}

static void json_labels(struct sl_buf *b, const struct sl_qlabel *l, size_t n)
{
    sl_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(b, ',');
        json_str(b, l[i].name);
        sl_buf_putc(b, ':');
        json_str(b, l[i].value);
    }
    sl_buf_putc(b, '}');
}

static int finish(struct sl_http_response *resp, struct sl_buf *b, int status)
{
    if (sl_buf_failed(b)) {
        sl_buf_fini(b);
        return -ENOMEM;
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = sl_buf_steal(b, &resp->body_len);
    if (!resp->body) { /* empty buffer: cannot happen for JSON, keep the contract anyway */
        resp->body = strdup("");
        resp->body_len = 0;
    }
    return resp->body ? 0 : -ENOMEM;
}

static int reply_error(struct sl_http_response *resp, int status, const char *type,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int reply_error(struct sl_http_response *resp, int status, const char *type,
                       const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"status\":\"error\",\"errorType\":");
    json_str(&b, type);
    sl_buf_puts(&b, ",\"error\":");
    json_str(&b, msg);
    sl_buf_putc(&b, '}');
    return finish(resp, &b, status);
}

#define BAD_DATA(resp, ...) reply_error((resp), 400, "bad_data", __VA_ARGS__)

/* data is raw JSON */
static int reply_data(struct sl_http_response *resp, const char *data)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":");
    sl_buf_puts(&b, data);
    sl_buf_putc(&b, '}');
    return finish(resp, &b, 200);
}

/* ---- parameters ------------------------------------------------------------------------ */

static int64_t now_ms(const struct sl_query_api *api)
{
    if (api->cfg.now_ms)
        return api->cfg.now_ms(api->cfg.now_arg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}

/* RFC3339 with optional fraction: 2006-01-02T15:04:05.999999999Z07:00 */
static int parse_rfc3339(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
        digits(&p, 2, &D) || (*p != 'T' && *p != 't') || (p++, digits(&p, 2, &h)) ||
        *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return -1;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        double f = 0, scale = 0.1;
        while (*p >= '0' && *p <= '9') {
            f += (*p++ - '0') * scale;
            scale /= 10;
            nd++;
        }
        if (!nd)
            return -1;
        frac_ms = (int64_t)llround(f * 1000);
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h,
                    .tm_min = m, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - off;
    if (t > 1150000000000000 || t < -1150000000000000)
        return -1;
    *ms = t * 1000 + frac_ms;
    return 0;
}

/* parseTime: float Unix seconds (rounded to ms) or RFC3339 */
static int parse_time(const char *s, int64_t *ms)
{
    char *end;
    double f = strtod(s, &end);
    if (*s && !*end && end != s) {
        if (!isfinite(f) || fabs(f) > 1.15e15) /* 2^60 ms: what the evaluator accepts */
            return -1;
        double ip;
        double frac = modf(f, &ip);
        *ms = (int64_t)ip * 1000 + (int64_t)llround(frac * 1000);
        return 0;
    }
    return parse_rfc3339(s, ms);
}

/* parseDuration: float seconds or a Prometheus duration */
static int parse_dur(const char *s, int64_t *ms)
{
    char *end;
    double f = strtod(s, &end);
    if (*s && !*end && end != s) {
        if (!(fabs(f) * 1000 < 9.2e15))
            return -1;
        *ms = (int64_t)llround(f * 1000);
        return 0;
    }
    return sl_promql_parse_duration(s, strlen(s), ms);
}

static int method_ok(const struct sl_http_request *req, struct sl_http_response *resp)
{
    if (req->method && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "POST") == 0))
        return 1;
    reply_error(resp, 405, "bad_data", "method %s not allowed", req->method ? req->method : "");
    return 0;
}

/* Reads `time`-like parameter @name into *ms (default @def). 0, or an error reply sent. */
static int time_param(const struct sl_http_request *req, struct sl_http_response *resp,
                      const char *name, int64_t def, int64_t *ms, int *rc)
{
    const char *v = sl_http_param(req, name);
    if (!v || !*v) {
        *ms = def;
        return 0;
    }
    if (parse_time(v, ms)) {
        *rc = BAD_DATA(resp, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp",
                       name, v);
        return -1;
    }
    return 0;
}

static int timeout_param(const struct sl_query_api *api, const struct sl_http_request *req,
                         struct sl_http_response *resp, int64_t *ms, int *rc)
{
    const char *v = sl_http_param(req, "timeout");
    *ms = api->cfg.default_timeout_ms > 0 ? api->cfg.default_timeout_ms : DEFAULT_TIMEOUT_MS;
    if (!v || !*v)
        return 0;
    int64_t t;
    if (parse_dur(v, &t)) {
        *rc = BAD_DATA(resp, "invalid parameter \"timeout\": cannot parse \"%s\" to a valid duration",
                       v);
        return -1;
    }
    if (t > 0 && t < *ms)
        *ms = t;
    return 0;
}

/* ---- query ----------------------------------------------------------------------------- */

int sl_query_parse_tiers(const char *s, int *tiers)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "exact"))
        *tiers = SL_PQ_TIERS_EXACT;
    else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "off"))
        *tiers = SL_PQ_TIERS_OFF;
    else if (!strcmp(s, "counters"))
        *tiers = SL_PQ_TIERS_COUNTERS;
    else
        return -EINVAL;
    return 0;
}

static int eval_error(struct sl_http_response *resp, const struct sl_promql_error *err, int rc)
{
    switch (err->kind) {
    case SL_PQ_ERR_TIMEOUT: return reply_error(resp, 503, "timeout", "%s", err->msg);
    case SL_PQ_ERR_EXEC: return reply_error(resp, 422, "execution", "%s", err->msg);
    default:
        return reply_error(resp, 500, "internal", "%s", err->msg[0] ? err->msg : sl_strerror(rc));
    }
}

static void write_result(struct sl_buf *b, const struct sl_promql_result *r)
{
    switch (r->type) {
    case SL_PQ_SCALAR:
        sl_buf_puts(b, "{\"resultType\":\"scalar\",\"result\":[");
        json_ts(b, r->t);
        sl_buf_putc(b, ',');
        json_value(b, r->scalar);
        sl_buf_puts(b, "]}");
        return;
    case SL_PQ_STRING:
        sl_buf_puts(b, "{\"resultType\":\"string\",\"result\":[");
        json_ts(b, r->t);
        sl_buf_putc(b, ',');
        json_str(b, r->str);
        sl_buf_puts(b, "]}");
        return;
    default:
        break;
    }
    int vec = r->type == SL_PQ_VECTOR;
    sl_buf_puts(b, vec ? "{\"resultType\":\"vector\",\"result\":["
                       : "{\"resultType\":\"matrix\",\"result\":[");
    for (size_t i = 0; i < r->nseries; i++) {
        const struct sl_promql_series *s = &r->series[i];
        if (i)
            sl_buf_putc(b, ',');
        sl_buf_puts(b, "{\"metric\":");
        json_labels(b, s->labels, s->nlabels);
        sl_buf_puts(b, vec ? ",\"value\":" : ",\"values\":[");
        for (size_t j = 0; j < s->npts; j++) {
            if (j)
                sl_buf_putc(b, ',');
            sl_buf_putc(b, '[');
            json_ts(b, s->pts[j].t);
            sl_buf_putc(b, ',');
            json_value(b, s->pts[j].v);
            sl_buf_putc(b, ']');
        }
        sl_buf_puts(b, vec ? "}" : "]}");
    }
    sl_buf_puts(b, "]}");
}

static int run_query(struct sl_query_api *api, struct sl_http_response *resp, const char *q,
                     const struct sl_promql_opts *o)
{
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    int rc = sl_promql_parse(q, &e, &err);
    if (rc == -ENOMEM)
        return rc;
    if (rc)
        return BAD_DATA(resp, "invalid parameter \"query\": %s", err.msg);
    struct sl_promql_result *r;
    rc = sl_promql_eval(e, &api->cfg.src, o, &r, &err);
    sl_promql_expr_free(e);
    if (rc)
        return eval_error(resp, &err, rc);
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":");
    write_result(&b, r);
    if (r->nwarnings) {
        /* Prometheus' envelope field for answers that are valid but worth a note: here,
         * which calls a downsampled tier answered and what that means */
        sl_buf_puts(&b, ",\"warnings\":[");
        for (size_t i = 0; i < r->nwarnings; i++) {
            if (i)
                sl_buf_putc(&b, ',');
            json_str(&b, r->warnings[i]);
        }
        sl_buf_putc(&b, ']');
    }
    sl_buf_putc(&b, '}');
    sl_promql_result_free(r);
    return finish(resp, &b, 200);
}

static int h_query(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    struct sl_query_api *api = ctx;
    int rc = 0;
    if (!method_ok(req, resp))
        return 0;
    const char *q = sl_http_param(req, "query");
    struct sl_promql_opts o = {.lookback_ms = api->cfg.lookback_ms,
                               .max_samples = api->cfg.max_samples,
                               .pool = api->cfg.pool};
    if (time_param(req, resp, "time", now_ms(api), &o.start_ms, &rc) ||
        timeout_param(api, req, resp, &o.timeout_ms, &rc))
        return rc;
    o.end_ms = o.start_ms;
    return run_query(api, resp, q ? q : "", &o);
}

static int h_query_range(void *ctx, const struct sl_http_request *req,
                         struct sl_http_response *resp)
{
    struct sl_query_api *api = ctx;
    int rc = 0;
    if (!method_ok(req, resp))
        return 0;
    struct sl_promql_opts o = {.lookback_ms = api->cfg.lookback_ms,
                               .max_samples = api->cfg.max_samples,
                               .pool = api->cfg.pool};
    const char *s = sl_http_param(req, "start"), *e = sl_http_param(req, "end");
    const char *st = sl_http_param(req, "step");
    if (!s || !*s)
        return BAD_DATA(resp, "invalid parameter \"start\": cannot parse \"\" to a valid timestamp");
    if (time_param(req, resp, "start", 0, &o.start_ms, &rc))
        return rc;
    if (!e || !*e)
        return BAD_DATA(resp, "invalid parameter \"end\": cannot parse \"\" to a valid timestamp");
    if (time_param(req, resp, "end", 0, &o.end_ms, &rc))
        return rc;
    if (o.end_ms < o.start_ms)
        return BAD_DATA(resp, "invalid parameter \"end\": end timestamp must not be before start time");
    if (!st || parse_dur(st, &o.step_ms))
        return BAD_DATA(resp, "invalid parameter \"step\": cannot parse \"%s\" to a valid duration",
                        st ? st : "");
    if (o.step_ms <= 0)
        return BAD_DATA(resp, "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer");
    if ((o.end_ms - o.start_ms) / o.step_ms > MAX_POINTS)
        return BAD_DATA(resp, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
    if (timeout_param(api, req, resp, &o.timeout_ms, &rc))
        return rc;
    o.tiers = api->cfg.tiers;
    const char *ut = sl_http_param(req, "use_tiers");
    if (ut && *ut && sl_query_parse_tiers(ut, &o.tiers))
        return BAD_DATA(resp, "invalid parameter \"use_tiers\": \"%s\" (true, false or counters)", ut);
    const char *q = sl_http_param(req, "query");
    return run_query(api, resp, q ? q : "", &o);
}

/* ---- series, labels, label values ------------------------------------------------------ */

struct strset {
    char **v;
    size_t n, cap;
    int failed;
};

static void strset_add(struct strset *s, const char *str, size_t len)
{
    if (s->failed)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->failed = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) {
        s->failed = 1;
        return;
    }
    memcpy(c, str, len);
    c[len] = 0;
    s->v[s->n++] = c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_sort_unique(struct strset *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
    size_t w = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[w]) == 0)
            free(s->v[i]);
        else
            s->v[++w] = s->v[i];
    }
    s->n = w + 1;
}

static void strset_free(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

enum collect_mode { COLLECT_SERIES, COLLECT_NAMES, COLLECT_VALUES };

struct collect {
    struct strset set;
    int mode;
    const char *label;
};

/* A series is kept as its canonical key: name \1 value \1 ..., which sorts like a label-wise
 * comparison because \1 is below every printable byte. */
static int collect_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                      const double *vs, size_t n)
{
    struct collect *c = arg;
    if (c->mode == COLLECT_NAMES) {
        for (size_t i = 0; i < nls; i++)
            strset_add(&c->set, ls[i].name, strlen(ls[i].name));
    } else if (c->mode == COLLECT_VALUES) {
        for (size_t i = 0; i < nls; i++)
            if (strcmp(ls[i].name, c->label) == 0)
                strset_add(&c->set, ls[i].value, strlen(ls[i].value));
    } else {
        struct sl_buf b = SL_BUF_INIT;
        for (size_t i = 0; i < nls; i++) {
            sl_buf_puts(&b, ls[i].name);
            sl_buf_putc(&b, '\1');
            sl_buf_puts(&b, ls[i].value);
            sl_buf_putc(&b, '\1');
        }
        if (sl_buf_failed(&b))
            c->set.failed = 1;
        else
            strset_add(&c->set, b.data ? b.data : "", b.len);
        sl_buf_fini(&b);
    }
    return c->set.failed ? -ENOMEM : 0;
}

/* Walks the series of every match[] (all series when none and !required). */
static int collect_series(struct sl_query_api *api, const struct sl_http_request *req,
                          struct sl_http_response *resp, int required, struct collect *c,
                          int *replied)
{
    int64_t start, end;
    int rc = 0;
    *replied = 1;
    if (time_param(req, resp, "start", MIN_TIME_MS, &start, &rc) ||
        time_param(req, resp, "end", MAX_TIME_MS, &end, &rc))
        return rc;
    size_t nmatch = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, "match[]") == 0)
            nmatch++;
    if (!nmatch && required)
        return BAD_DATA(resp, "no match[] parameter provided");
    *replied = 0;
    if (!nmatch) {
        rc = api->cfg.src.ops->series(api->cfg.src.ctx, NULL, 0, start, end, collect_cb, c);
        return rc;
    }
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, "match[]"))
            continue;
        struct sl_promql_expr *e;
        const struct sl_matcher *m;
        size_t nm;
        struct sl_promql_error err;
        rc = sl_promql_parse_selector(req->params[i].value, &e, &m, &nm, &err);
        if (rc == -ENOMEM)
            return rc;
        if (rc) {
            *replied = 1;
            return BAD_DATA(resp, "invalid parameter \"match[]\": %s", err.msg);
        }
        rc = api->cfg.src.ops->series(api->cfg.src.ctx, m, nm, start, end, collect_cb, c);
        sl_promql_expr_free(e);
        if (rc)
            return rc;
    }
    return 0;
}

static long limit_param(const struct sl_http_request *req, struct sl_http_response *resp,
                        int *rc)
{
    const char *v = sl_http_param(req, "limit");
    if (!v || !*v)
        return 0;
    char *end;
    long l = strtol(v, &end, 10);
    if (*end || l < 0) {
        *rc = BAD_DATA(resp, "invalid parameter \"limit\": cannot parse \"%s\" to a valid limit", v);
        return -1;
    }
    return l;
}

static int reply_strings(struct sl_http_response *resp, struct strset *s, long limit)
{
    struct sl_buf b = SL_BUF_INIT;
    int truncated = limit > 0 && s->n > (size_t)limit;
    size_t n = truncated ? (size_t)limit : s->n;
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(&b, ',');
        json_str(&b, s->v[i]);
    }
    sl_buf_putc(&b, ']');
    if (truncated)
        sl_buf_puts(&b, ",\"warnings\":[\"results truncated due to limit\"]");
    sl_buf_putc(&b, '}');
    return finish(resp, &b, 200);
}

static int collect_and_reply(void *ctx, const struct sl_http_request *req,
                             struct sl_http_response *resp, struct collect *c)
{
    struct sl_query_api *api = ctx;
    int rc = 0, replied;
    long limit = limit_param(req, resp, &rc);
    if (limit < 0)
        return rc;
    rc = collect_series(api, req, resp, c->mode == COLLECT_SERIES, c, &replied);
    if (replied || rc) {
        strset_free(&c->set);
        if (replied)
            return rc;
        const char *why = api->cfg.src.ops->error ? api->cfg.src.ops->error(api->cfg.src.ctx)
                                                  : NULL;
        return reply_error(resp, 500, "internal", "%s", why ? why : sl_strerror(rc));
    }
    if (c->set.failed) {
        strset_free(&c->set);
        return -ENOMEM;
    }
    strset_sort_unique(&c->set);
    if (c->mode != COLLECT_SERIES) {
        rc = reply_strings(resp, &c->set, limit);
        strset_free(&c->set);
        return rc;
    }
    struct sl_buf b = SL_BUF_INIT;
    int truncated = limit > 0 && c->set.n > (size_t)limit;
    size_t n = truncated ? (size_t)limit : c->set.n;
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(&b, ',');
        sl_buf_putc(&b, '{');
        /* split the canonical key back into names and values */
        char *p = c->set.v[i];
        int first = 1;
        while (*p) {
            char *nend = strchr(p, '\1');
            *nend = 0;
            char *val = nend + 1;
            char *vend = strchr(val, '\1');
            *vend = 0;
            if (!first)
                sl_buf_putc(&b, ',');
            first = 0;
            json_str(&b, p);
            sl_buf_putc(&b, ':');
            json_str(&b, val);
            p = vend + 1;
        }
        sl_buf_putc(&b, '}');
    }
    sl_buf_putc(&b, ']');
    if (truncated)
        sl_buf_puts(&b, ",\"warnings\":[\"results truncated due to limit\"]");
    sl_buf_putc(&b, '}');
    strset_free(&c->set);
    return finish(resp, &b, 200);
}

static int h_series(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    if (!method_ok(req, resp))
        return 0;
    struct collect c = {.mode = COLLECT_SERIES};
    return collect_and_reply(ctx, req, resp, &c);
}

static int h_labels(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    if (!method_ok(req, resp))
        return 0;
    struct collect c = {.mode = COLLECT_NAMES};
    return collect_and_reply(ctx, req, resp, &c);
}

static int valid_label_name(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p != s && *p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

static int h_label_values(void *ctx, const struct sl_http_request *req,
                          struct sl_http_response *resp)
{
    if (!method_ok(req, resp))
        return 0;
    /* /api/v1/label/<name>/values */
    const char *p = req->path + strlen("/api/v1/label/");
    const char *slash = strchr(p, '/');
    if (!slash || strcmp(slash, "/values") != 0)
        return reply_error(resp, 404, "bad_data", "not found");
    char name[256];
    size_t len = (size_t)(slash - p);
    if (len >= sizeof name)
        len = sizeof name - 1;
    memcpy(name, p, len);
    name[len] = 0;
    if (!valid_label_name(name))
        return BAD_DATA(resp, "invalid label name: \"%s\"", name);
    struct collect c = {.mode = COLLECT_VALUES, .label = name};
    return collect_and_reply(ctx, req, resp, &c);
}

/* ---- small routes ---------------------------------------------------------------------- */

static int h_format_query(void *ctx, const struct sl_http_request *req,
                          struct sl_http_response *resp)
{
    if (!method_ok(req, resp))
        return 0;
    const char *q = sl_http_param(req, "query");
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    int rc = sl_promql_parse(q ? q : "", &e, &err);
    if (rc == -ENOMEM)
        return rc;
    if (rc)
        return BAD_DATA(resp, "invalid parameter \"query\": %s", err.msg);
    struct sl_buf txt = SL_BUF_INIT, b = SL_BUF_INIT;
    sl_promql_format_pretty(e, &txt);
    sl_promql_expr_free(e);
    sl_buf_puts(&b, "{\"status\":\"success\",\"data\":");
    json_str(&b, txt.data ? txt.data : "");
    sl_buf_putc(&b, '}');
    sl_buf_fini(&txt);
    return finish(resp, &b, 200);
}

static int h_metadata(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    return method_ok(req, resp) ? reply_data(resp, "{}") : 0;
}

static int h_exemplars(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    return method_ok(req, resp) ? reply_data(resp, "[]") : 0;
}

static int h_rules(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    return method_ok(req, resp) ? reply_data(resp, "{\"groups\":[]}") : 0;
}

static int h_alerts(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    return method_ok(req, resp) ? reply_data(resp, "{\"alerts\":[]}") : 0;
}

static int h_buildinfo(void *ctx, const struct sl_http_request *req, struct sl_http_response *resp)
{
    if (!method_ok(req, resp))
        return 0;
    /* `version` is the Prometheus API level we implement: Grafana switches features on it. */
    return reply_data(resp, "{\"version\":\"2.42.0\",\"revision\":\"sluice-" SL_VERSION
                            "\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\","
                            "\"goVersion\":\"\"}");
}

int sl_query_api_create(const struct sl_query_api_cfg *cfg, struct sl_query_api **out)
{
    struct sl_query_api *api = calloc(1, sizeof *api);
    if (!api)
        return -ENOMEM;
    api->cfg = *cfg;
    static const struct {
        const char *path;
        int prefix;
        sl_http_handler_fn *fn;
    } table[] = {
        {"/api/v1/query", 0, h_query},
        {"/api/v1/query_range", 0, h_query_range},
        {"/api/v1/series", 0, h_series},
        {"/api/v1/labels", 0, h_labels},
        {"/api/v1/metadata", 0, h_metadata},
        {"/api/v1/status/buildinfo", 0, h_buildinfo},
        {"/api/v1/format_query", 0, h_format_query},
        {"/api/v1/query_exemplars", 0, h_exemplars},
        {"/api/v1/rules", 0, h_rules},
        {"/api/v1/alerts", 0, h_alerts},
        {"/api/v1/label/", 1, h_label_values},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        api->routes[api->nroutes++] = (struct sl_http_route){
            .method = NULL, .path = table[i].path, .prefix = table[i].prefix,
            .fn = table[i].fn, .ctx = api};
    *out = api;
    return 0;
}

void sl_query_api_destroy(struct sl_query_api *api)
{
    free(api);
}

const struct sl_http_route *sl_query_api_routes(struct sl_query_api *api, size_t *n)
{
    *n = api->nroutes;
    return api->routes;
}

int sl_query_parse_time(const char *s, int64_t *ms)
{
    return parse_time(s, ms);
}
