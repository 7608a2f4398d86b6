/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP transport over libmicrohttpd (internal polling thread pool, epoll). Per request we
 * gather the body into a growable buffer (refusing past max_body with 413), then build an
 * sl_http_request: query arguments (in the order MHD reports them, repeats kept, which
 * match[] needs) followed by form-body fields, all percent-decoded.
 */
#include "ingest/http_server.h"

#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "ingest/net.h"

struct sl_http_server {
    struct MHD_Daemon *d;
    const struct sl_http_route *routes;
    size_t nroutes;
    size_t max_body;
    int port;
};

struct req_state {
    struct sl_buf body;
    int too_big;
};

struct param_list {
    struct sl_http_param *v;
    size_t n, cap;
    int failed;
};

void sl_http_server_cfg_defaults(struct sl_http_server_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->addr, sizeof cfg->addr, "127.0.0.1:8480");
    cfg->threads = 2;
    cfg->max_body = 64u << 20;
    cfg->timeout_s = 60;
}

static void params_add(struct param_list *pl, char *name, char *value)
{
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 16;
        struct sl_http_param *nv = realloc(pl->v, nc * sizeof *nv);
        if (!nv) {
            pl->failed = 1;
            free(name);
            free(value);
            return;
        }
        pl->v = nv;
        pl->cap = nc;
    }
    pl->v[pl->n].name = name;
    pl->v[pl->n].value = value;
    pl->n++;
}

static void params_free(struct param_list *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free((char *)pl->v[i].name);
        free((char *)pl->v[i].value);
    }
    free(pl->v);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct param_list *pl = cls;
    char *k = strdup(key), *v = strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        pl->failed = 1;
        return MHD_YES;
    }
    params_add(pl, k, v);
    return MHD_YES;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..n) ('+' is a space in form bodies) into a new string. */
static char *form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

static void parse_form(struct param_list *pl, const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp)
            amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *ke = eq ? eq : amp;
        if (ke > p) {
            char *k = form_decode(p, (size_t)(ke - p));
            char *v = eq ? form_decode(eq + 1, (size_t)(amp - eq - 1)) : strdup("");
            if (!k || !v) {
                free(k);
                free(v);
                pl->failed = 1;
            } else {
                params_add(pl, k, v);
            }
        }
        p = amp + 1;
    }
}

static int path_matches(const struct sl_http_route *r, const char *method, const char *url)
{
    if (r->method && strcmp(r->method, method) != 0)
        return 0;
    if (r->prefix)
        return strncmp(url, r->path, strlen(r->path)) == 0;
    return strcmp(url, r->path) == 0;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result dispatch(struct sl_http_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method, struct req_state *st)
{
    const struct sl_http_route *route = NULL;
    int path_known = 0;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct sl_http_route *r = &srv->routes[i];
        int pm = r->prefix ? strncmp(url, r->path, strlen(r->path)) == 0
                           : strcmp(url, r->path) == 0;
        path_known |= pm;
        if (path_matches(r, method, url)) {
            route = r;
            break;
        }
    }
    if (!route)
        return path_known ? send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n")
                          : send_text(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
    struct param_list pl = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &pl);
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *cenc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    int is_form = ctype && strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0;
    if (is_form && st->body.len)
        parse_form(&pl, st->body.data, st->body.len);
    if (pl.failed) {
        params_free(&pl);
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    struct sl_http_request req = {.method = method,
                                  .path = url,
                                  .params = pl.v,
                                  .nparams = pl.n,
                                  .body = is_form ? NULL : st->body.data,
                                  .body_len = is_form ? 0 : st->body.len,
                                  .content_type = ctype,
                                  .content_encoding = cenc};
    struct sl_http_response out = {.status = 200};
    int rc = route->fn(route->ctx, &req, &out);
    params_free(&pl);
    if (rc < 0) {
        free(out.body);
        char msg[256];
        snprintf(msg, sizeof msg, "internal error: %s\n", sl_strerror(rc));
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        out.body_len, out.body ? out.body : (void *)"", out.body ? MHD_RESPMEM_MUST_FREE
                                                                 : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(out.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            out.content_type ? out.content_type : "text/plain; charset=utf-8");
    if (out.retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", out.retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)(out.status ? out.status : 200), resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct sl_http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (st->body.len + *upload_data_size > srv->max_body)
            st->too_big = 1;
        else
            sl_buf_append(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_big)
        return send_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    if (sl_buf_failed(&st->body))
        return send_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return dispatch(srv, conn, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req_state *st = *con_cls;
    if (st) {
        sl_buf_fini(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

int sl_http_server_open(const struct sl_http_server_cfg *cfg, const struct sl_http_route *routes,
                        size_t nroutes, struct sl_http_server **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sl_net_parse_addr(cfg->addr, &ss, &len)) {
        snprintf(err, errlen, "http address: \"%s\" is not HOST:PORT", cfg->addr);
        return -EINVAL;
    }
    struct sl_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->max_body = cfg->max_body;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                              (unsigned)(cfg->threads ? cfg->threads : 1),
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, errlen, "http: cannot listen on %s (address in use or not permitted)",
                 cfg->addr);
        free(srv);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return 0;
}

void sl_http_server_close(struct sl_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->d);
    free(srv);
}

int sl_http_server_port(const struct sl_http_server *srv)
{
    return srv->port;
}
