/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_client.h
 * The smallest HTTP/1.1 client the tools need: one GET per TCP connection with
 * `Connection: close`, the body read to EOF (Content-Length or chunked), plain http:// only.
 * `sluice query` and the query role's remote source (tools/remote_source.h) both talk to a
 * sluiced on the loopback or a private network, so TLS, redirects, keep-alive and proxies
 * are deliberately absent, and libcurl stays out of the dependencies.
 *
 * Thread: every function is reentrant; nothing is shared between calls.
 */
#ifndef SL_TOOLS_HTTP_CLIENT_H
#define SL_TOOLS_HTTP_CLIENT_H

#include <stddef.h>

#include "engine/buf.h"

/** A parsed http://host[:port][/prefix] URL. */
struct sl_http_url {
    char host[256];
    char port[16];    /* "80" when absent */
    char prefix[512]; /* path prefix without a trailing '/', "" when absent */
};

/**
 * Parse @url ("http://host[:port][/prefix]").
 * @param err  receives a reason on failure (@errlen bytes).
 * @return 0, or -EINVAL (not http://, no host, bad port, too long).
 */
int sl_http_url_parse(const char *url, struct sl_http_url *out, char *err, size_t errlen);

/** Append @s percent-encoded (everything but RFC 3986 unreserved characters) to @b. */
void sl_http_urlenc(struct sl_buf *b, const char *s);

/**
 * GET @path (already encoded, starting with '/') from @host:@port.
 * @param timeout_ms  bound on connect and on each send/receive wait (SO_SNDTIMEO/RCVTIMEO).
 * @param body        receives the decoded body, OWNED by the caller (free()); always
 *                    NUL-terminated one byte past @body_len, so text can be used as a string;
 *                    binary bodies are kept whole.
 * @param status      receives the HTTP status code.
 * @param err         receives a one-line reason on failure (@errlen bytes).
 * @return 0 (any HTTP status), -ECONNREFUSED / -ETIMEDOUT / other -errno for transport
 *         failures, -EPROTO for a response that is not HTTP, -ENOMEM.
 */
int sl_http_get(const char *host, const char *port, const char *path, int timeout_ms,
                char **body, size_t *body_len, int *status, char *err, size_t errlen);

#endif
