/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the UDP receive loops; nothing outside ingest/ includes this. */
#ifndef SL_UDP_PVT_H
#define SL_UDP_PVT_H

#include <stdatomic.h>

#include "ingest/statsd_feed.h"

#define SL_UDP_MAX_DGRAM 65536 /* the largest UDP payload; nothing is ever truncated */

struct sl_udp_worker {
    int fd;
    int use_uring; /* 1: io_uring loop, 0: recvmmsg loop */
    uint32_t coalesce_us; /* recvmmsg: pause after a receive that emptied the socket */
    _Atomic int *running; /* BORROWED from the server */
    struct sl_statsd_feed feed;
    struct sl_statsd_feed_stats stats;
    sl_counter truncated; /* datagrams larger than a receive buffer */
};

/** Probe io_uring: 0 when multishot recv with provided buffers works here, else -errno. */
int sl_udp__uring_probe(void);
/** Receive until *running drops to 0. @return 0, or -errno if io_uring failed to set up. */
int sl_udp__uring_loop(struct sl_udp_worker *w);

#endif
