/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK listener on a build without libdpdk: the same API, refusing to open with
 * -ENOTSUP and a message saying how to get it. Chosen by ingest/meson.build as a whole file.
 */
#include <errno.h>
#include <stdio.h>

#include "ingest/dpdk_server.h"

int sl_dpdk_server_open(const struct sl_dpdk_cfg *cfg, struct sl_shardset *set,
                        uint32_t first_producer, struct sl_dpdk_server **out, char *err,
                        size_t errlen)
{
    (void)cfg, (void)set, (void)first_producer, (void)out;
    snprintf(err, errlen, "dpdk: this sluiced was built without DPDK (install libdpdk-dev "
                          "and configure with -Ddpdk=enabled)");
    return -ENOTSUP;
}

int sl_dpdk_server_start(struct sl_dpdk_server *s)
{
    (void)s;
    return -ENOTSUP;
}

void sl_dpdk_server_stop(struct sl_dpdk_server *s)
{
    (void)s;
}

void sl_dpdk_server_close(struct sl_dpdk_server *s)
{
    (void)s;
}

uint32_t sl_dpdk_server_queues(const struct sl_dpdk_server *s)
{
    (void)s;
    return 0;
}

const struct sl_dpdk_queue_stats *sl_dpdk_server_queue_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q)
{
    (void)s, (void)q;
    return NULL;
}

const struct sl_statsd_feed_stats *sl_dpdk_server_feed_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q)
{
    (void)s, (void)q;
    return NULL;
}

int sl_dpdk_server_port_stats(const struct sl_dpdk_server *s, struct sl_dpdk_port_stats *out)
{
    (void)s, (void)out;
    return -ENOTSUP;
}

const char *sl_dpdk_server_port_name(const struct sl_dpdk_server *s)
{
    (void)s;
    return "none";
}
