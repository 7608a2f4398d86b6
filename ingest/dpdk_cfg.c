/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration of the DPDK listener: defaults and validation. Compiled with or without
 * libdpdk, so sluiced parses and checks a [dpdk] section the same way on every build and
 * only opening the server reports a build without DPDK.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ingest/dpdk_server.h"

void sl_dpdk_cfg_defaults(struct sl_dpdk_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->queues = 1;
    snprintf(cfg->addr, sizeof cfg->addr, "0.0.0.0:8125,[::]:8125");
    /* 32 is DPDK's customary burst (l2fwd MAX_PKT_BURST): one rx_burst fills a cache-sized
     * mbuf array, and one publish per burst keeps shard wake-ups rare. */
    cfg->burst = 32;
    /* 16383 = 2^14 - 1 (mempool sizes of 2^n - 1 use memory best): 1024 RX descriptors per
     * queue plus caches and in-flight bursts, with room for net_pcap's infinite_rx copy. */
    cfg->mbufs = 16383;
    cfg->keycache_entries = SL_STATSD_KEYCACHE_DEFAULT;
}

int sl_dpdk_cfg_check(const struct sl_dpdk_cfg *cfg, char *err, size_t errlen)
{
    if (!cfg->enabled)
        return 0;
    struct sl_frame_match m;
    if (!cfg->eal_args[0])
        return snprintf(err, errlen, "dpdk.eal_args: empty; DPDK needs at least its device "
                                     "arguments (e.g. --vdev=... or a PCI allow list)"),
               -EINVAL;
    if (cfg->queues < 1 || cfg->queues > 16)
        return snprintf(err, errlen, "dpdk.queues: %u is outside 1..16", cfg->queues), -EINVAL;
    if (cfg->burst < 1 || cfg->burst > 512)
        return snprintf(err, errlen, "dpdk.burst: %u is outside 1..512", cfg->burst), -EINVAL;
    if (cfg->mbufs < 1023)
        return snprintf(err, errlen, "dpdk.mbufs: %u is below 1023", cfg->mbufs), -EINVAL;
    if (cfg->port > 1023)
        return snprintf(err, errlen, "dpdk.port: %u is not a port id", cfg->port), -EINVAL;
    if (sl_frame_match_parse(cfg->addr, &m))
        return snprintf(err, errlen, "dpdk.address: \"%s\" is not HOST:PORT[,HOST:PORT...]",
                        cfg->addr),
               -EINVAL;
    return 0;
}

uint32_t sl_dpdk_server_producers(const struct sl_dpdk_cfg *cfg)
{
    return cfg->enabled ? cfg->queues : 0;
}
