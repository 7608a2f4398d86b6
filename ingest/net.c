/* SPDX-License-Identifier: Apache-2.0 */
/* Address parsing and socket setup for listeners. */
#include "ingest/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/log.h"

int sl_net_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon;
    memset(ss, 0, sizeof *ss);
    if (!s)
        return -EINVAL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host)
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = 0;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == 0)
        return -EINVAL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (host[0] == 0 || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        if (host[0] == 0)
            v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -EINVAL;
}

void sl_net_format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, ntohs(v4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, ntohs(v6->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

int sl_net_bind(const char *addr, int type, int reuseport, int rcvbuf, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sl_net_parse_addr(addr, &ss, &len)) {
        snprintf(err, errlen, "bad address \"%s\" (want HOST:PORT, [V6]:PORT or :PORT)", addr);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket() for %s: %s", addr, strerror(e));
        return -e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) {
        int e = errno;
        snprintf(err, errlen, "SO_REUSEPORT on %s: %s", addr, strerror(e));
        close(fd);
        return -e;
    }
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (type == SOCK_DGRAM && rcvbuf > 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        int got = 0;
        socklen_t gl = sizeof got;
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        /* Linux reports twice the requested size (it counts bookkeeping overhead). */
        if (got / 2 < rcvbuf)
            SL_WARN("listener=%s event=rcvbuf_capped wanted=%d got=%d hint=\"raise "
                    "net.core.rmem_max (sysctl -w net.core.rmem_max=%d) or run as root\"",
                    addr, rcvbuf, got / 2, rcvbuf);
    }
    if (bind(fd, (struct sockaddr *)&ss, len)) {
        int e = errno;
        snprintf(err, errlen, "bind %s %s: %s", type == SOCK_DGRAM ? "udp" : "tcp", addr,
                 strerror(e));
        close(fd);
        return -e;
    }
    if (type == SOCK_STREAM && listen(fd, 4096)) {
        int e = errno;
        snprintf(err, errlen, "listen tcp %s: %s", addr, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}
