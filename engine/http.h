/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http.h
 * The plain request/response types shared by HTTP route tables. The transport (in
 * ingest/, over libmicrohttpd) fills an sl_http_request, calls the matching route's
 * handler, and sends the sl_http_response; ingest/ (write routes) and query/ (read routes)
 * only ever see these structs, so query/ never depends on ingest/.
 *
 * Thread: handlers run on the transport's worker threads, several at once; a handler must
 * only touch state that is safe to read concurrently (snapshots, locked control state).
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>

/** One parameter, from the query string or an application/x-www-form-urlencoded body,
 *  already percent-decoded. BORROWED until the handler returns. */
struct sl_http_param {
    const char *name;
    const char *value;
};

struct sl_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const struct sl_http_param *params; /* query string first, then form body, in order */
    size_t nparams;
    const char *body; /* raw body of a non-form request (e.g. snappy protobuf); may be NULL */
    size_t body_len;
    const char *content_type;     /* NULL when absent */
    const char *content_encoding; /* NULL when absent */
};

struct sl_http_response {
    int status;                /* defaults to 200 */
    const char *content_type;  /* static string; defaults to "text/plain; charset=utf-8" */
    char *body;                /* OWNED by the response (malloc); the transport frees it */
    size_t body_len;
    int retry_after_s;         /* > 0 adds Retry-After (503 back-pressure) */
};

/**
 * Handle one request. Fill @resp (status, body). @return 0; a negative return makes the
 * transport answer 500 with sl_strerror(rc).
 */
typedef int sl_http_handler_fn(void *ctx, const struct sl_http_request *req,
                               struct sl_http_response *resp);

struct sl_http_route {
    const char *method; /* "GET", "POST", or NULL for any method */
    const char *path;   /* exact path, or a prefix when prefix != 0 */
    int prefix;
    sl_http_handler_fn *fn;
    void *ctx;
};

/** First value of parameter @name, or NULL. */
const char *sl_http_param(const struct sl_http_request *req, const char *name);

#endif
