/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file statsd_server.h
 * StatsD listeners: UDP on N ingest threads (one SO_REUSEPORT socket each) and TCP on one
 * epoll thread, all on the same address. UDP receives with io_uring (multishot recv into a
 * provided-buffer ring) or recvmmsg(2), chosen by configuration; "auto" probes io_uring at
 * start and falls back to recvmmsg, logging which it took.
 *
 * Each thread owns one sl_producer (one row of shard rings). UDP never blocks on a full
 * ring: records are dropped and counted. TCP pushes back: it stops reading until the shards
 * make room, so the kernel's TCP window slows the sender down.
 *
 * Threads: open/start/stop/close from the control plane; stats readable from any thread.
 */
#ifndef SL_STATSD_SERVER_H
#define SL_STATSD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/shard.h"
#include "ingest/statsd_feed.h"

enum sl_udp_backend { SL_UDP_AUTO, SL_UDP_URING, SL_UDP_RECVMMSG };

struct sl_statsd_server_cfg {
    char addr[128];        /* UDP and TCP bind address; default "127.0.0.1:8125" */
    uint32_t udp_threads;  /* default 1 */
    enum sl_udp_backend backend;
    int rcvbuf;            /* UDP SO_RCVBUF bytes; default 32 MiB */
    int tcp;               /* 1: also listen on TCP (default) */
    uint32_t max_line;     /* longest TCP line, bytes; default 65536 */
    uint32_t max_conns;    /* TCP connections at once; default 16384 */
    uint32_t garbage_lines; /* close a TCP connection after this many malformed lines in a
                               row with none accepted; default 100 */
    uint32_t keycache_entries; /* series key cache slots per listener thread (a power of
                                  two, 192 bytes each, touched as used) or 0 for none;
                                  default SL_STATSD_KEYCACHE_DEFAULT */    uint32_t udp_coalesce_us; /* recvmmsg: pause this long after a receive that emptied
                                 the socket, so the next one takes a fuller batch; 0: never
                                 pause; default 200, at most 10000 */
};

void sl_statsd_server_cfg_defaults(struct sl_statsd_server_cfg *cfg);
/** @return 0 or -EINVAL with the offending key named in @err. */
int sl_statsd_server_cfg_check(const struct sl_statsd_server_cfg *cfg, char *err, size_t errlen);
/** Producers the server needs: udp_threads (+1 when TCP is on). */
uint32_t sl_statsd_server_producers(const struct sl_statsd_server_cfg *cfg);

struct sl_tcp_stats {
    sl_counter accepted;
    sl_counter open;
    sl_counter closed_garbage; /* closed for sending only malformed lines */
    sl_counter too_long;       /* lines over max_line, skipped */
    sl_counter refused;        /* connections refused at max_conns */
};

struct sl_statsd_server;

/**
 * Bind every socket now, so a taken port fails start-up with a clear message in @err.
 * Uses producers [@first_producer, first_producer + sl_statsd_server_producers()).
 * @return 0, -errno, -EINVAL. *@out OWNED.
 */
int sl_statsd_server_open(const struct sl_statsd_server_cfg *cfg, struct sl_shardset *set,
                          uint32_t first_producer, struct sl_statsd_server **out, char *err,
                          size_t errlen);
int sl_statsd_server_start(struct sl_statsd_server *srv);
/** Stop receiving and join the threads; what they accepted is already in the rings. */
void sl_statsd_server_stop(struct sl_statsd_server *srv);
void sl_statsd_server_close(struct sl_statsd_server *srv);

/** UDP thread @i's counters (i < udp_threads), then TCP's at i == udp_threads. BORROWED. */
const struct sl_statsd_feed_stats *sl_statsd_server_feed_stats(const struct sl_statsd_server *s,
                                                               uint32_t i, const char **name);
uint32_t sl_statsd_server_feeds(const struct sl_statsd_server *s);
/**
 * Send feeder @i's records (same numbering as sl_statsd_server_feed_stats()) to @tap
 * instead of the shards. Call before sl_statsd_server_start(). @tap BORROWED; must outlive
 * the server's threads. @return 0, or -EINVAL when there is no feeder @i.
 */
int sl_statsd_server_set_tap(struct sl_statsd_server *s, uint32_t i,
                             const struct sl_record_tap *tap);
const struct sl_tcp_stats *sl_statsd_server_tcp_stats(const struct sl_statsd_server *s);
/** "io_uring" or "recvmmsg": the UDP backend in use. */
const char *sl_statsd_server_backend(const struct sl_statsd_server *s);
/** Datagrams the kernel dropped on UDP thread @i's socket (receive buffer full), read from
 *  SO_MEMINFO. Thread: any. */
uint64_t sl_statsd_server_udp_socket_drops(const struct sl_statsd_server *s, uint32_t i);
/** The bound UDP/TCP port (useful when configured with port 0). */
int sl_statsd_server_port(const struct sl_statsd_server *s);

#endif
