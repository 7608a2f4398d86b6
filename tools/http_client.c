/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A one-request HTTP/1.1 client over a blocking TCP socket (see http_client.h for why it is
 * this small). The whole response is read to EOF first and then split into headers and
 * body, which is simple and binary-safe: the servers answer with Connection: close.
 */
#include "tools/http_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int sl_http_url_parse(const char *url, struct sl_http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->port, sizeof out->port, "80");
    const char *u = url;
    if (strncmp(u, "http://", 7)) {
        snprintf(err, errlen, "'%s': only http:// URLs are supported", url);
        return -EINVAL;
    }
    u += 7;
    size_t hl = strcspn(u, ":/");
    if (!hl || hl >= sizeof out->host) {
        snprintf(err, errlen, "'%s': no host", url);
        return -EINVAL;
    }
    memcpy(out->host, u, hl);
    u += hl;
    if (*u == ':') {
        size_t pl = strcspn(++u, "/");
        if (!pl || pl >= sizeof out->port || strspn(u, "0123456789") < pl) {
            snprintf(err, errlen, "'%s': bad port", url);
            return -EINVAL;
        }
        memcpy(out->port, u, pl);
        out->port[pl] = 0;
        u += pl;
    }
    if (strlen(u) >= sizeof out->prefix) {
        snprintf(err, errlen, "'%s': path too long", url);
        return -EINVAL;
    }
    snprintf(out->prefix, sizeof out->prefix, "%s", u);
    size_t plen = strlen(out->prefix);
    if (plen && out->prefix[plen - 1] == '/')
        out->prefix[plen - 1] = 0;
    return 0;
}

void sl_http_urlenc(struct sl_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            sl_buf_putc(b, (char)c);
        else
            sl_buf_printf(b, "%%%02X", c);
    }
}

static int dial(const char *host, const char *port, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    int fd = -1, e = ECONNREFUSED;
    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        /* Linux applies SO_SNDTIMEO to connect() as well: one knob bounds every wait. */
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        e = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(e));
        return -e;
    }
    return fd;
}

/* Decode a chunked body in place; @return the decoded length. Stops at the last chunk or
 * at the end of what arrived (a truncated body is returned as far as it goes). */
static size_t dechunk(char *b, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *e;
        unsigned long n = strtoul(b + in, &e, 16);
        char *crlf = memmem(e, len - (size_t)(e - b), "\r\n", 2);
        if (!crlf || n == 0)
            break;
        in = (size_t)(crlf - b) + 2;
        if (n > len - in)
            n = len - in;
        memmove(b + out, b + in, n);
        out += n;
        in += n;
        if (len - in >= 2 && !memcmp(b + in, "\r\n", 2))
            in += 2;
    }
    return out;
}

int sl_http_get(const char *host, const char *port, const char *path, int timeout_ms,
                char **body, size_t *body_len, int *status, char *err, size_t errlen)
{
    int fd = dial(host, port, timeout_ms, err, errlen);
    if (fd < 0)
        return fd;
    struct sl_buf req = SL_BUF_INIT, resp = SL_BUF_INIT;
    sl_buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n"
                  "User-Agent: sluice\r\nConnection: close\r\n\r\n", path, host, port);
    int ret = -ENOMEM;
    if (sl_buf_failed(&req))
        goto out;
    for (size_t off = 0; off < req.len;) {
        ssize_t n = write(fd, req.data + off, req.len - off);
        if (n <= 0) {
            ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
            snprintf(err, errlen, "sending to %s:%s failed: %s", host, port, strerror(-ret));
            goto out;
        }
        off += (size_t)n;
    }
    for (;;) {
        if (sl_buf_reserve(&resp, 65536))
            goto out;
        ssize_t n = read(fd, resp.data + resp.len, 65536);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
            snprintf(err, errlen, "reading from %s:%s failed: %s", host, port,
                     ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
            goto out;
        }
        resp.len += (size_t)n;
    }
    sl_buf_putc(&resp, 0);
    if (sl_buf_failed(&resp))
        goto out;
    resp.len--; /* the NUL stays after the data */
    char *hdr_end = memmem(resp.data, resp.len, "\r\n\r\n", 4);
    if (resp.len < 12 || strncmp(resp.data, "HTTP/1.", 7) || !hdr_end ||
        sscanf(resp.data + 8, " %d", status) != 1) {
        snprintf(err, errlen, "not an HTTP response from %s:%s", host, port);
        ret = -EPROTO;
        goto out;
    }
    *hdr_end = 0;
    char *b = hdr_end + 4;
    size_t blen = resp.len - (size_t)(b - resp.data);
    if (strcasestr(resp.data, "\r\ntransfer-encoding: chunked")) {
        blen = dechunk(b, blen);
    } else {
        const char *cl = strcasestr(resp.data, "\r\ncontent-length:");
        if (cl) {
            unsigned long long n = strtoull(cl + 17, NULL, 10);
            if (n < blen)
                blen = (size_t)n;
        }
    }
    char *copy = malloc(blen + 1);
    if (!copy)
        goto out;
    memcpy(copy, b, blen);
    copy[blen] = 0;
    *body = copy;
    *body_len = blen;
    ret = 0;
out:
    if (ret == -ENOMEM)
        snprintf(err, errlen, "out of memory talking to %s:%s", host, port);
    close(fd);
    sl_buf_fini(&req);
    sl_buf_fini(&resp);
    return ret;
}
