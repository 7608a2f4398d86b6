/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD listeners: the UDP threads (io_uring or recvmmsg) and the TCP thread (epoll).
 *
 * TCP framing: each connection keeps only the partial line left at the end of its last
 * read ("carry"). A read goes into a per-thread buffer right after a copy of the carry,
 * complete lines are fed, the new tail becomes the carry. A line that grows past max_line
 * is skipped up to its newline and counted; a connection that sends garbage_lines
 * malformed lines in a row without one good line is closed and counted.
 */
#include "ingest/statsd_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/log.h"
#include "ingest/net.h"
#include "ingest/udp_pvt.h"

#define RECVMMSG_BATCH 32
#define TCP_READ 262144

struct tcp_conn {
    int fd;
    char *carry; /* OWNED partial line */
    uint32_t carry_len;
    uint32_t bad_run;  /* malformed lines in a row */
    int skipping;      /* inside an over-long line: drop bytes until '\n' */
};

struct sl_statsd_server {
    struct sl_statsd_server_cfg cfg;
    _Atomic int running;
    const char *backend;
    int port;
    uint32_t nudp;
    struct sl_udp_worker *udp; /* OWNED, nudp entries */
    pthread_t *udp_th;
    int tcp_fd;
    pthread_t tcp_th;
    int tcp_started;
    uint32_t udp_started;
    struct sl_statsd_feed tcp_feed;
    struct sl_statsd_feed_stats tcp_feed_stats;
    struct sl_tcp_stats tcp_stats;
};

void sl_statsd_server_cfg_defaults(struct sl_statsd_server_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->addr, sizeof cfg->addr, "127.0.0.1:8125");
    cfg->udp_threads = 1;
    /* recvmmsg by measurement (statsd_udp shapes, this machine): equal CPU per line at
     * ~40-line datagrams, and at 1-line datagrams 0.98-1.15 M lines per sluiced CPU-second
     * (with udp_coalesce) against 0.71-0.76 M for io_uring's one-wake-per-datagram loop. */
    cfg->backend = SL_UDP_RECVMMSG;
    cfg->rcvbuf = 32 << 20;
    cfg->tcp = 1;
    cfg->max_line = 65536;
    cfg->max_conns = 16384;
    cfg->garbage_lines = 100;
    cfg->keycache_entries = SL_STATSD_KEYCACHE_DEFAULT;
    cfg->udp_coalesce_us = 200;
}

int sl_statsd_server_cfg_check(const struct sl_statsd_server_cfg *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (sl_net_parse_addr(cfg->addr, &ss, &len))
        return snprintf(err, errlen, "statsd address: \"%s\" is not HOST:PORT", cfg->addr),
               -EINVAL;
    if (cfg->udp_threads < 1 || cfg->udp_threads > 64)
        return snprintf(err, errlen, "statsd udp_threads: %u is outside 1..64", cfg->udp_threads),
               -EINVAL;
    if (cfg->max_line < 256 || cfg->max_line > (16u << 20))
        return snprintf(err, errlen, "statsd max_line: %u is outside 256..16MiB", cfg->max_line),
               -EINVAL;
    if (cfg->rcvbuf < 0)
        return snprintf(err, errlen, "statsd rcvbuf: must not be negative"), -EINVAL;
    if (cfg->udp_coalesce_us > 10000)
        return snprintf(err, errlen, "statsd udp_coalesce: %u us is over 10000 us (10ms)",
                        cfg->udp_coalesce_us),
               -EINVAL;
    uint32_t kc = cfg->keycache_entries;
    if (kc && (kc < 2 || kc > (1u << 24) || (kc & (kc - 1))))
        return snprintf(err, errlen,
                        "statsd keycache_entries: %u is not 0 or a power of two in 2..2^24",
                        kc),
               -EINVAL;
    return 0;
}

uint32_t sl_statsd_server_producers(const struct sl_statsd_server_cfg *cfg)
{
    return cfg->udp_threads + (cfg->tcp ? 1 : 0);
}

/* ---- UDP ------------------------------------------------------------------------- */

static void udp_recvmmsg_loop(struct sl_udp_worker *w)
{
    /* 32 x 64 KiB: untouched pages never become resident, so this costs what is used. */
    char *bufs = malloc((size_t)RECVMMSG_BATCH * SL_UDP_MAX_DGRAM);
    struct mmsghdr msgs[RECVMMSG_BATCH];
    struct iovec iov[RECVMMSG_BATCH];
    if (!bufs) {
        SL_ERROR("listener=udp event=start_failed error=\"out of memory\"");
        return;
    }
    for (int i = 0; i < RECVMMSG_BATCH; i++) {
        iov[i].iov_base = bufs + (size_t)i * SL_UDP_MAX_DGRAM;
        iov[i].iov_len = SL_UDP_MAX_DGRAM;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timeval tv = {0, 200000}; /* wake every 200 ms to notice a stop request */
    setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (atomic_load_explicit(w->running, memory_order_relaxed)) {
        int n = recvmmsg(w->fd, msgs, RECVMMSG_BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                SL_WARN("listener=udp backend=recvmmsg event=recv_error error=\"%s\"",
                        strerror(errno));
            continue;
        }
        struct sl_statsd_buf batch[RECVMMSG_BATCH];
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                sl_stat_add(&w->truncated, 1);
            batch[i] = (struct sl_statsd_buf){iov[i].iov_base, msgs[i].msg_len};
        }
        sl_statsd_feed_many_nopublish(&w->feed, batch, (size_t)n);
        sl_statsd_feed_publish(&w->feed);
        if (n < RECVMMSG_BATCH && w->coalesce_us) {
            /* The socket is empty. Blocking in recvmmsg now would wake this thread for
             * nearly every datagram of a steady stream, and each wake-up costs more than
             * parsing a short datagram; a short pause lets a batch gather in the receive
             * buffer instead (1-line datagrams: 5x fewer wake-ups). A record waits at most
             * this much longer, against flush intervals of seconds. */
            struct timespec ts = {0, (long)w->coalesce_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(bufs);
}

static void *udp_main(void *arg)
{
    struct sl_udp_worker *w = arg;
    if (w->use_uring) {
        int rc = sl_udp__uring_loop(w);
        if (rc == 0)
            return NULL;
        SL_WARN("listener=udp event=io_uring_failed error=\"%s\" fallback=recvmmsg",
                strerror(-rc));
    }
    udp_recvmmsg_loop(w);
    return NULL;
}

/* ---- TCP ------------------------------------------------------------------------- */

static void tcp_close(struct sl_statsd_server *srv, int ep, struct tcp_conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->carry);
    free(c);
    sl_stat_set(&srv->tcp_stats.open, sl_stat_get(&srv->tcp_stats.open) - 1);
}

/* Feed the complete lines in buf[0..len); returns bytes consumed (up to the last '\n'). */
static size_t tcp_feed_lines(struct sl_statsd_server *srv, struct tcp_conn *c, char *buf,
                             size_t len, int *close_it)
{
    char *p = buf, *end = buf + len;
    if (c->skipping) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return len;
        c->skipping = 0;
        p = nl + 1;
    }
    char *last_nl = NULL;
    for (char *q = end; q > p; q--)
        if (q[-1] == '\n') {
            last_nl = q - 1;
            break;
        }
    if (!last_nl)
        return (size_t)(p - buf);
    /* Count good and bad lines of this chunk to spot a garbage-only connection. */
    uint64_t bad_before = 0;
    for (int i = 0; i < SL_STATSD_E__COUNT; i++)
        bad_before += sl_stat_get(&srv->tcp_feed_stats.malformed[i]);
    int accepted = sl_statsd_feed(&srv->tcp_feed, p, (size_t)(last_nl + 1 - p));
    uint64_t bad_after = 0;
    for (int i = 0; i < SL_STATSD_E__COUNT; i++)
        bad_after += sl_stat_get(&srv->tcp_feed_stats.malformed[i]);
    if (accepted > 0)
        c->bad_run = 0;
    else
        c->bad_run += (uint32_t)(bad_after - bad_before);
    if (c->bad_run >= srv->cfg.garbage_lines) {
        sl_stat_add(&srv->tcp_stats.closed_garbage, 1);
        SL_WARN("listener=tcp event=connection_closed reason=garbage malformed_in_a_row=%u",
                c->bad_run);
        *close_it = 1;
    }
    if (accepted == -EAGAIN)
        SL_WARN("listener=tcp event=backpressure_timeout");
    return (size_t)(last_nl + 1 - buf);
}

static void tcp_read(struct sl_statsd_server *srv, int ep, struct tcp_conn *c, char *rbuf)
{
    size_t max_line = srv->cfg.max_line;
    for (int rounds = 0; rounds < 16; rounds++) { /* bounded: one busy peer can't starve others */
        if (c->carry_len)
            memcpy(rbuf, c->carry, c->carry_len);
        size_t have = c->carry_len;
        ssize_t n = recv(c->fd, rbuf + have, TCP_READ, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            /* Peer closed: a final line without '\n' still counts, as in statsd. */
            if (n == 0 && have && !c->skipping)
                sl_statsd_feed(&srv->tcp_feed, rbuf, have);
            tcp_close(srv, ep, c);
            return;
        }
        if (n < 0)
            return;
        have += (size_t)n;
        int close_it = 0;
        size_t used = tcp_feed_lines(srv, c, rbuf, have, &close_it);
        if (close_it) {
            tcp_close(srv, ep, c);
            return;
        }
        size_t rest = have - used;
        if (rest > max_line) {
            sl_stat_add(&srv->tcp_stats.too_long, 1);
            c->skipping = 1;
            rest = 0;
        }
        if (rest > c->carry_len || !c->carry) {
            char *nc = realloc(c->carry, rest ? rest : 1);
            if (!nc) {
                tcp_close(srv, ep, c);
                return;
            }
            c->carry = nc;
        }
        memcpy(c->carry, rbuf + used, rest);
        c->carry_len = (uint32_t)rest;
        if ((size_t)n < TCP_READ)
            return;
    }
}

static void *tcp_main(void *arg)
{
    struct sl_statsd_server *srv = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    char *rbuf = malloc((size_t)srv->cfg.max_line + TCP_READ + 1);
    if (ep < 0 || !rbuf) {
        SL_ERROR("listener=tcp event=start_failed error=\"%s\"", strerror(errno));
        free(rbuf);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, srv->tcp_fd, &ev);
    struct epoll_event evs[256];
    while (atomic_load_explicit(&srv->running, memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 256, 200);
        for (int i = 0; i < n; i++) {
            struct tcp_conn *c = evs[i].data.ptr;
            if (c) {
                tcp_read(srv, ep, c, rbuf);
                continue;
            }
            for (int k = 0; k < 64; k++) {
                int fd = accept4(srv->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                if (sl_stat_get(&srv->tcp_stats.open) >= srv->cfg.max_conns) {
                    sl_stat_add(&srv->tcp_stats.refused, 1);
                    close(fd);
                    continue;
                }
                struct tcp_conn *nc = calloc(1, sizeof *nc);
                if (!nc) {
                    close(fd);
                    continue;
                }
                nc->fd = fd;
                struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev)) {
                    close(fd);
                    free(nc);
                    continue;
                }
                sl_stat_add(&srv->tcp_stats.accepted, 1);
                sl_stat_set(&srv->tcp_stats.open, sl_stat_get(&srv->tcp_stats.open) + 1);
            }
        }
    }
    /* Connections still open at stop: their complete lines were fed; close them. */
    close(ep);
    free(rbuf);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

int sl_statsd_server_open(const struct sl_statsd_server_cfg *cfg, struct sl_shardset *set,
                          uint32_t first_producer, struct sl_statsd_server **out, char *err,
                          size_t errlen)
{
    int rc = sl_statsd_server_cfg_check(cfg, err, errlen);
    if (rc)
        return rc;
    struct sl_statsd_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return -ENOMEM;
    srv->cfg = *cfg;
    srv->tcp_fd = -1;
    srv->nudp = cfg->udp_threads;
    srv->udp = calloc(srv->nudp, sizeof *srv->udp);
    srv->udp_th = calloc(srv->nudp, sizeof *srv->udp_th);
    if (!srv->udp || !srv->udp_th) {
        rc = -ENOMEM;
        goto fail;
    }
    int use_uring = 0;
    if (cfg->backend != SL_UDP_RECVMMSG) {
        int pr = sl_udp__uring_probe();
        if (pr == 0)
            use_uring = 1;
        else if (cfg->backend == SL_UDP_URING) {
            snprintf(err, errlen, "statsd backend io_uring: not available here (%s)",
                     strerror(-pr));
            rc = pr;
            goto fail;
        }
    }
    srv->backend = use_uring ? "io_uring" : "recvmmsg";
    for (uint32_t i = 0; i < srv->nudp; i++)
        srv->udp[i].fd = -1;
    char addr[128];
    snprintf(addr, sizeof addr, "%s", cfg->addr);
    for (uint32_t i = 0; i < srv->nudp; i++) {
        int fd = sl_net_bind(addr, SOCK_DGRAM, 1, cfg->rcvbuf, err, errlen);
        if (fd < 0) {
            rc = fd;
            goto fail;
        }
        if (i == 0) {
            /* Port 0 asks the kernel for one; the other threads and TCP must share it. */
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            sl_net_format_addr((struct sockaddr *)&ss, addr, sizeof addr);
            srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        struct sl_udp_worker *w = &srv->udp[i];
        w->fd = fd;
        w->running = &srv->running;
        w->feed.prod = sl_shardset_producer(set, first_producer + i);
        w->feed.stats = &w->stats;
        w->feed.listener = use_uring ? "udp-io_uring" : "udp-recvmmsg";
        /* A full ring pauses reading for up to 20 ms: the datagrams wait in the (32 MiB)
         * socket buffer instead of being read and dropped. Past that the shard is truly
         * behind; what then overflows is counted (ring drops here, socket drops below). */
        w->feed.block_when_full = 1;
        w->feed.max_wait_ms = 20;
        w->use_uring = use_uring;
        w->coalesce_us = cfg->udp_coalesce_us;
        if (!w->feed.prod) {
            snprintf(err, errlen, "internal: no producer %u for udp thread", first_producer + i);
            rc = -EINVAL;
            goto fail;
        }
        if ((rc = sl_statsd_feed_init(&w->feed, cfg->keycache_entries))) {
            snprintf(err, errlen, "statsd keycache: %s", strerror(-rc));
            goto fail;
        }
    }
    if (cfg->tcp) {
        int fd = sl_net_bind(addr, SOCK_STREAM, 0, 0, err, errlen);
        if (fd < 0) {
            rc = fd;
            goto fail;
        }
        srv->tcp_fd = fd;
        srv->tcp_feed.prod = sl_shardset_producer(set, first_producer + srv->nudp);
        srv->tcp_feed.stats = &srv->tcp_feed_stats;
        srv->tcp_feed.listener = "tcp";
        srv->tcp_feed.block_when_full = 1;
        srv->tcp_feed.max_line = cfg->max_line;
        if (!srv->tcp_feed.prod) {
            snprintf(err, errlen, "internal: no producer for tcp");
            rc = -EINVAL;
            goto fail;
        }
        if ((rc = sl_statsd_feed_init(&srv->tcp_feed, cfg->keycache_entries))) {
            snprintf(err, errlen, "statsd keycache: %s", strerror(-rc));
            goto fail;
        }
    }
    *out = srv;
    return 0;
fail:
    sl_statsd_server_close(srv);
    return rc;
}

int sl_statsd_server_start(struct sl_statsd_server *srv)
{
    atomic_store_explicit(&srv->running, 1, memory_order_relaxed);
    for (uint32_t i = 0; i < srv->nudp; i++) {
        int rc = pthread_create(&srv->udp_th[i], NULL, udp_main, &srv->udp[i]);
        if (rc) {
            sl_statsd_server_stop(srv);
            return -rc;
        }
        pthread_setname_np(srv->udp_th[i], "sl-udp");
        srv->udp_started++;
    }
    if (srv->tcp_fd >= 0) {
        int rc = pthread_create(&srv->tcp_th, NULL, tcp_main, srv);
        if (rc) {
            sl_statsd_server_stop(srv);
            return -rc;
        }
        pthread_setname_np(srv->tcp_th, "sl-tcp");
        srv->tcp_started = 1;
    }
    SL_INFO("listener=statsd event=started address=%s udp_threads=%u backend=%s tcp=%s",
            srv->cfg.addr, srv->nudp, srv->backend, srv->tcp_fd >= 0 ? "on" : "off");
    return 0;
}

void sl_statsd_server_stop(struct sl_statsd_server *srv)
{
    atomic_store_explicit(&srv->running, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < srv->udp_started; i++)
        pthread_join(srv->udp_th[i], NULL);
    srv->udp_started = 0;
    if (srv->tcp_started)
        pthread_join(srv->tcp_th, NULL);
    srv->tcp_started = 0;
}

void sl_statsd_server_close(struct sl_statsd_server *srv)
{
    if (!srv)
        return;
    if (srv->udp)
        for (uint32_t i = 0; i < srv->nudp; i++) {
            if (srv->udp[i].fd >= 0)
                close(srv->udp[i].fd);
            sl_statsd_feed_fini(&srv->udp[i].feed);
        }
    if (srv->tcp_fd >= 0)
        close(srv->tcp_fd);
    sl_statsd_feed_fini(&srv->tcp_feed);
    free(srv->udp);
    free(srv->udp_th);
    free(srv);
}

uint32_t sl_statsd_server_feeds(const struct sl_statsd_server *s)
{
    return s->nudp + (s->tcp_fd >= 0 ? 1 : 0);
}

int sl_statsd_server_set_tap(struct sl_statsd_server *s, uint32_t i,
                             const struct sl_record_tap *tap)
{
    if (i < s->nudp)
        s->udp[i].feed.tap = tap;
    else if (i == s->nudp && s->tcp_fd >= 0)
        s->tcp_feed.tap = tap;
    else
        return -EINVAL;
    return 0;
}

const struct sl_statsd_feed_stats *sl_statsd_server_feed_stats(const struct sl_statsd_server *s,
                                                               uint32_t i, const char **name)
{
    if (i < s->nudp) {
        *name = "udp";
        return &s->udp[i].stats;
    }
    *name = "tcp";
    return &s->tcp_feed_stats;
}

const struct sl_tcp_stats *sl_statsd_server_tcp_stats(const struct sl_statsd_server *s)
{
    return &s->tcp_stats;
}

const char *sl_statsd_server_backend(const struct sl_statsd_server *s)
{
    return s->backend;
}

uint64_t sl_statsd_server_udp_socket_drops(const struct sl_statsd_server *s, uint32_t i)
{
    if (i >= s->nudp || s->udp[i].fd < 0)
        return 0;
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof mem;
    if (getsockopt(s->udp[i].fd, SOL_SOCKET, SO_MEMINFO, mem, &len) || len < sizeof mem)
        return 0;
    return mem[SK_MEMINFO_DROPS];
}

int sl_statsd_server_port(const struct sl_statsd_server *s)
{
    return s->port;
}
