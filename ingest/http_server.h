/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server.h
 * The daemon's one HTTP server, over libmicrohttpd. It owns sockets, parsing and bodies;
 * routes come from tables (engine/http.h) that ingest/ (writes) and query/ (reads) export
 * and tools/ mounts. Query strings and application/x-www-form-urlencoded bodies are decoded
 * into one ordered parameter list, so every handler serves GET and form POST alike.
 *
 * Threads: open/close from the control plane; handlers run on a small pool of
 * libmicrohttpd worker threads (cfg.threads).
 */
#ifndef SL_HTTP_SERVER_H
#define SL_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http.h"

struct sl_http_server_cfg {
    char addr[128];      /* default "127.0.0.1:8480" */
    uint32_t threads;    /* worker threads; default 2 */
    size_t max_body;     /* bytes; larger bodies get 413; default 64 MiB */
    uint32_t timeout_s;  /* idle connection timeout; default 60 */
};

void sl_http_server_cfg_defaults(struct sl_http_server_cfg *cfg);

struct sl_http_server;

/**
 * Bind and start serving @routes (BORROWED: tables must outlive the server). Routes are
 * tried in order; the first whose method and path match wins. Unknown paths get 404.
 * @return 0, -errno (bind failure is named in @err), -EINVAL, -ENOMEM. *@out OWNED.
 */
int sl_http_server_open(const struct sl_http_server_cfg *cfg, const struct sl_http_route *routes,
                        size_t nroutes, struct sl_http_server **out, char *err, size_t errlen);
/** Stop accepting, finish in-flight requests, free. NULL is a no-op. */
void sl_http_server_close(struct sl_http_server *srv);
/** The bound port (useful with port 0). */
int sl_http_server_port(const struct sl_http_server *srv);

#endif
