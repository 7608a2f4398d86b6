/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_server.h
 * Kernel-bypass StatsD ingest: DPDK polling threads read bursts of frames from one ethdev
 * port's RX queues, classify each frame (ingest/frame.h), parse StatsD payloads in place
 * from the mbuf through the same feeder, rings and shards as the socket listeners, publish
 * once per burst and free mbufs in bulk.
 *
 *   port rxq i ──▶ poller i ──▶ classify ─┬─ StatsD ──▶ sl_statsd_feed_nopublish ──▶ shards
 *                                         ├─ kernel ──▶ TAP txq i ──▶ host stack
 *                                         └─ malformed / fragment ──▶ counted, freed
 *   TAP rxq 0 ──▶ poller 0 ──▶ port txq 0                (ARP replies, ICMP, TCP, ...)
 *
 * The exception path: when kernel_iface is set, a net_tap interface of that name is created
 * with the port's MAC address. Frames that are not StatsD for us go to it, and what the
 * host stack sends on it goes out of the port, so ARP for the configured address resolves
 * (give the TAP interface that address) and the host stays reachable. Without it those
 * frames are counted as dropped.
 *
 * Threads: one polling thread per RX queue, registered with DPDK (rte_thread_register) so
 * mempool caches work; each owns one sl_producer. Pollers are not pinned: like every other
 * sluiced thread they keep the CPU mask the daemon started with (open() undoes the EAL's
 * pinning of its caller); pin with taskset/cgroups, or -l/--lcores in eal_args for the EAL's
 * own threads. An idle poller backs off to 100 µs sleeps
 * after ~1000 empty polls, so an idle daemon does not spin a core.
 *
 * The EAL is initialised once per process (a DPDK rule): open may be called once.
 *
 * Example sluiced configuration (no hugepages, no NIC: a veth or any Linux interface):
 *
 *   [dpdk]
 *   enabled = true
 *   eal_args = --no-huge --no-pci --no-shconf -m 512 --vdev=net_af_packet0,iface=eth1
 *   address = 10.0.0.5:8125
 *   kernel_iface = sl0        ; then: ip addr add 10.0.0.5/24 dev sl0; ip link set sl0 up
 *   fallback = false
 *
 * With net_af_packet the kernel still sees the interface's frames too; give it no address
 * there (the TAP carries it) and keep it from answering (arp off, rp_filter=1), as
 * tests/integration/test_dpdk_live.py does. A NIC bound to a DPDK driver needs none of that.
 *
 * Built only with libdpdk (meson -Ddpdk); otherwise open() returns -ENOTSUP.
 * Threads: cfg/open/start/stop/close from the control plane; stats readable from any thread.
 */
#ifndef SL_DPDK_SERVER_H
#define SL_DPDK_SERVER_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/shard.h"
#include "engine/stats.h"
#include "ingest/frame.h"
#include "ingest/statsd_feed.h"

struct sl_dpdk_cfg {
    int enabled;           /* 0: the server is not opened (default) */
    char eal_args[1024];   /* whitespace-separated EAL arguments, e.g. "--no-huge --no-pci
                              -m 512 --vdev=net_pcap0,rx_pcap=f.pcap"; required */
    uint32_t port;         /* ethdev port id; default 0 */
    uint32_t queues;       /* RX queues, one polling thread each; RSS spreads when > 1;
                              default 1, at most 16 */
    char addr[256];        /* StatsD endpoints "HOST:PORT[,HOST:PORT]" (sl_frame_match_parse);
                              default "0.0.0.0:8125,[::]:8125" */
    uint32_t burst;        /* frames per rx_burst, 1..512; default 32 */
    uint32_t mbufs;        /* mbuf pool size; default 16383 */
    char kernel_iface[16]; /* TAP interface for the exception path; "" = drop and count */
    int fallback;          /* 1: a start-up failure is logged and the daemon runs on the
                              socket listeners alone; 0 (default): start-up fails */
    uint32_t keycache_entries; /* series key cache slots per poller (a power of two, or 0:
                                  none); default SL_STATSD_KEYCACHE_DEFAULT. sluiced sets
                                  it from statsd.keycache_entries, like every feeder */
};

void sl_dpdk_cfg_defaults(struct sl_dpdk_cfg *cfg);
/** @return 0 or -EINVAL with the offending key ("dpdk.queues: ...") named in @err. */
int sl_dpdk_cfg_check(const struct sl_dpdk_cfg *cfg, char *err, size_t errlen);
/** Producers the server needs: queues when enabled, else 0. */
uint32_t sl_dpdk_server_producers(const struct sl_dpdk_cfg *cfg);

/** Per RX queue counters; the queue's poller is the one writer. */
struct sl_dpdk_queue_stats {
    alignas(64) sl_counter packets;  /* frames received from the port */
    sl_counter bytes;                /* frame bytes received */
    sl_counter datagrams;            /* StatsD datagrams fed to the parser */
    sl_counter to_kernel;            /* frames handed to the TAP interface */
    sl_counter kernel_drops;         /* not-ours frames dropped: no TAP, or its queue full */
    sl_counter from_kernel;          /* frames the host sent out through the port (queue 0) */
    sl_counter from_kernel_drops;    /* of those, refused by the port's TX queue */
    sl_counter fragments;            /* first fragments of StatsD datagrams, dropped */
    sl_counter copied;               /* multi-segment frames copied to a scratch buffer */
    sl_counter malformed[SL_FRAME_E__COUNT]; /* by enum sl_frame_reason */
};

/** Port counters from rte_eth_stats_get(). */
struct sl_dpdk_port_stats {
    uint64_t ipackets, ibytes;
    uint64_t imissed;   /* frames the NIC dropped because RX queues were full */
    uint64_t ierrors;   /* frames the NIC received with errors */
    uint64_t rx_nombuf; /* RX mbuf allocation failures (mbuf exhaustion) */
    uint64_t opackets;
};

struct sl_dpdk_server;

/**
 * Initialise the EAL with cfg->eal_args, configure and set up the port (and the TAP when
 * kernel_iface is set), the mbuf pool and one feeder per queue on producers
 * [@first_producer, first_producer + queues). The port is started by start().
 * @return 0; -ENOTSUP (built without DPDK); -EINVAL (bad config, or the EAL refused its
 *         arguments); -ENODEV (no such port, or fewer RX queues than asked); -ENOMEM (mbuf
 *         pool); -EALREADY (EAL already initialised in this process); other -errno from
 *         DPDK. @err says which, in words an operator can act on.
 *         *@out OWNED on success, untouched on failure.
 */
int sl_dpdk_server_open(const struct sl_dpdk_cfg *cfg, struct sl_shardset *set,
                        uint32_t first_producer, struct sl_dpdk_server **out, char *err,
                        size_t errlen);
/** Start the port(s) and the polling threads. @return 0 or -errno. */
int sl_dpdk_server_start(struct sl_dpdk_server *s);
/** Stop polling and join the threads; what they accepted is already in the rings. */
void sl_dpdk_server_stop(struct sl_dpdk_server *s);
/** Close the ports and release DPDK memory. NULL is a no-op. */
void sl_dpdk_server_close(struct sl_dpdk_server *s);

uint32_t sl_dpdk_server_queues(const struct sl_dpdk_server *s);
/** Queue @q's counters (q < queues). BORROWED until close. */
const struct sl_dpdk_queue_stats *sl_dpdk_server_queue_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q);
/** Queue @q's parser counters (the same struct the socket listeners export). BORROWED. */
const struct sl_statsd_feed_stats *sl_dpdk_server_feed_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q);
/** Read the port's counters now. @return 0 or -errno. Thread: any (control plane). */
int sl_dpdk_server_port_stats(const struct sl_dpdk_server *s, struct sl_dpdk_port_stats *out);
/** The port's device name ("net_pcap0", "0000:01:00.0"), for labels. Static until close. */
const char *sl_dpdk_server_port_name(const struct sl_dpdk_server *s);

#endif
