/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DPDK listener: EAL and port setup, the kernel exception path (net_tap), and the polling
 * threads. See dpdk_server.h for the picture.
 *
 * Per burst, a poller does: rx_burst -> classify each frame -> feed StatsD payloads straight
 * from the mbuf's data (zero copy; only a multi-segment frame is first copied into the
 * poller's scratch buffer) -> one sl_producer_publish() -> one rte_pktmbuf_free_bulk() of
 * everything consumed -> one tx_burst of the not-ours frames to the TAP. Nothing allocates:
 * the mbuf arrays and scratch live in the poller, sized at open.
 *
 * Checksums: the port is asked for RX checksum offload when it has it; the mbuf's ol_flags
 * then say GOOD/BAD/NONE and classify() trusts them. Virtual devices (pcap, af_packet, tap)
 * report UNKNOWN and classify() sums the IPv4 header and the UDP datagram itself.
 *
 * Threading: pollers are plain pthreads registered with rte_thread_register(), so they get
 * an lcore id and a mempool cache without the EAL's -l core list owning the daemon's
 * threads. Each poller is the single writer of its stats and its producer.
 */
#include "ingest/dpdk_server.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "engine/log.h"

#define MAX_BURST 512
#define MAX_ARGS 64
#define RX_DESC 1024
#define TX_DESC 1024
#define SCRATCH_BYTES 65536 /* the largest frame a multi-segment mbuf chain can carry here */
/* Empty polls before an idle poller starts sleeping: ~1000 polls is well under a
 * millisecond of spinning, so a burst that follows silence finds a hot loop, while an idle
 * daemon sleeps. 100 µs sleeps fill at most 1000 of 1024 RX descriptors at 10 Mpps. */
#define IDLE_SPINS 1024
#define IDLE_SLEEP_NS 100000

struct poller {
    struct sl_dpdk_server *srv;
    uint32_t q;
    pthread_t th;
    struct sl_statsd_feed feed;
    struct sl_statsd_feed_stats feed_stats;
    struct sl_dpdk_queue_stats st;
    uint8_t *scratch; /* OWNED, SCRATCH_BYTES; multi-segment frames only */
};

struct sl_dpdk_server {
    struct sl_dpdk_cfg cfg;
    struct sl_frame_match match;
    _Atomic int running;
    uint16_t port;
    uint16_t tap_port;
    int has_tap;
    int port_started, tap_started;
    uint32_t started; /* pollers running */
    char port_name[RTE_ETH_NAME_MAX_LEN];
    char tap_name[64];
    struct rte_mempool *pool;
    struct poller *pollers; /* OWNED, cfg.queues entries */
};

static int eal_done; /* the EAL may be initialised once per process */

static enum sl_frame_ck ck_ip(uint64_t f)
{
    switch (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
    case RTE_MBUF_F_RX_IP_CKSUM_NONE: /* "no checksum, but integrity verified" */
        return SL_FRAME_CK_GOOD;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
        return SL_FRAME_CK_BAD;
    default:
        return SL_FRAME_CK_UNKNOWN;
    }
}

static enum sl_frame_ck ck_l4(uint64_t f)
{
    switch (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:
        return SL_FRAME_CK_GOOD;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
        return SL_FRAME_CK_BAD;
    default:
        return SL_FRAME_CK_UNKNOWN;
    }
}

static struct sl_log_limit drop_log, frag_log, kernel_log, tx_log;

static void idle_sleep(void)
{
    struct timespec ts = {0, IDLE_SLEEP_NS};
    nanosleep(&ts, NULL);
}

/* Host stack -> wire: what the kernel sent on the TAP goes out of the port (queue 0). */
static uint16_t poll_tap(struct poller *p, struct rte_mbuf **pkts)
{
    struct sl_dpdk_server *s = p->srv;
    uint16_t n = rte_eth_rx_burst(s->tap_port, 0, pkts, (uint16_t)s->cfg.burst);
    if (!n)
        return 0;
    uint16_t sent = rte_eth_tx_burst(s->port, 0, pkts, n);
    sl_stat_add(&p->st.from_kernel, n);
    if (sent < n) {
        sl_stat_add(&p->st.from_kernel_drops, n - sent);
        sl_log_every(&tx_log, 1000, SL_LOG_WARN,
                     "listener=dpdk event=kernel_frames_dropped reason=port_tx_full count=%u",
                     n - sent);
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    return n;
}

static void poll_loop(struct poller *p)
{
    struct sl_dpdk_server *s = p->srv;
    struct rte_mbuf *pkts[MAX_BURST], *done[MAX_BURST], *kern[MAX_BURST];
    const uint16_t burst = (uint16_t)s->cfg.burst;
    const uint16_t q = (uint16_t)p->q;
    uint32_t empty = 0;
    while (atomic_load_explicit(&s->running, memory_order_relaxed)) {
        uint16_t n = rte_eth_rx_burst(s->port, q, pkts, burst);
        uint16_t back = (q == 0 && s->has_tap) ? poll_tap(p, done) : 0;
        if (n == 0) {
            if (back == 0 && ++empty >= IDLE_SPINS)
                idle_sleep();
            continue;
        }
        empty = 0;
        uint16_t nd = 0, nk = 0, nb = 0;
        uint32_t dgrams = 0;
        struct sl_statsd_buf batch[MAX_BURST];
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < n; i++) {
            struct rte_mbuf *m = pkts[i];
            if (i + 1 < n)
                rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
            const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
            uint32_t len = rte_pktmbuf_data_len(m);
            bytes += rte_pktmbuf_pkt_len(m);
            int copied = m->nb_segs > 1;
            if (copied) {
                /* Chained mbufs (jumbo frames, some PMDs' small buffers): one copy so
                 * the classifier and parser see contiguous bytes. The scratch is reused
                 * below, so what the batch holds is fed first. */
                sl_statsd_feed_many_nopublish(&p->feed, batch, nb);
                nb = 0;
                uint32_t pl = rte_pktmbuf_pkt_len(m);
                if (pl > SCRATCH_BYTES)
                    pl = SCRATCH_BYTES;
                data = rte_pktmbuf_read(m, 0, pl, p->scratch);
                len = pl;
                sl_stat_add(&p->st.copied, 1);
            }
            struct sl_frame_info fi;
            switch (sl_frame_classify(data, len, &s->match, ck_ip(m->ol_flags),
                                      ck_l4(m->ol_flags), &fi)) {
            case SL_FRAME_STATSD:
                /* Payloads are parsed in place, all of a burst in one batch: lines are
                 * parsed ahead across datagrams so 1-line datagrams overlap their key
                 * cache misses. The mbufs are freed after the batch is fed. */
                batch[nb++] = (struct sl_statsd_buf){(const char *)data + fi.payload_off,
                                                     fi.payload_len};
                if (copied) {
                    sl_statsd_feed_many_nopublish(&p->feed, batch, nb);
                    nb = 0;
                }
                dgrams++;
                done[nd++] = m;
                break;
            case SL_FRAME_KERNEL:
                kern[nk++] = m;
                break;
            case SL_FRAME_FRAGMENT:
                sl_stat_add(&p->st.fragments, 1);
                sl_log_every(&frag_log, 1000, SL_LOG_WARN,
                             "listener=dpdk event=fragment_dropped queue=%u bytes=%u "
                             "note=\"StatsD datagrams must fit the MTU\"",
                             q, len);
                done[nd++] = m;
                break;
            case SL_FRAME_MALFORMED:
                sl_stat_add(&p->st.malformed[fi.reason], 1);
                sl_log_every(&drop_log, 1000, SL_LOG_WARN,
                             "listener=dpdk event=bad_frame queue=%u reason=%s bytes=%u", q,
                             sl_frame_reason_name(fi.reason), len);
                done[nd++] = m;
                break;
            }
        }
        if (nb)
            sl_statsd_feed_many_nopublish(&p->feed, batch, nb);
        if (dgrams)
            sl_statsd_feed_publish(&p->feed);
        if (nd)
            rte_pktmbuf_free_bulk(done, nd);
        if (nk) {
            uint16_t sent = s->has_tap ? rte_eth_tx_burst(s->tap_port, q, kern, nk) : 0;
            sl_stat_add(&p->st.to_kernel, sent);
            if (sent < nk) {
                sl_stat_add(&p->st.kernel_drops, nk - sent);
                sl_log_every(&kernel_log, 1000, SL_LOG_WARN,
                             "listener=dpdk event=frames_dropped queue=%u reason=%s count=%u", q,
                             s->has_tap ? "tap_tx_full" : "no_kernel_iface", nk - sent);
                rte_pktmbuf_free_bulk(kern + sent, nk - sent);
            }
        }
        sl_stat_add(&p->st.packets, n);
        sl_stat_add(&p->st.bytes, bytes);
        sl_stat_add(&p->st.datagrams, dgrams);
    }
}

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    if (rte_thread_register() < 0) {
        SL_ERROR("listener=dpdk event=thread_register_failed queue=%u error=\"%s\"", p->q,
                 rte_strerror(rte_errno));
        return NULL;
    }
    poll_loop(p);
    rte_thread_unregister();
    return NULL;
}

/* Split @args on whitespace into @argv (argv[0] = "sluiced"). @buf holds the copies. */
static int split_args(const char *args, char *buf, size_t cap, char **argv, int max)
{
    int argc = 0;
    argv[argc++] = "sluiced";
    snprintf(buf, cap, "%s", args);
    for (char *save = NULL, *t = strtok_r(buf, " \t\n", &save); t;
         t = strtok_r(NULL, " \t\n", &save)) {
        if (argc == max - 1)
            return -E2BIG;
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    return argc;
}

static int setup_port(struct sl_dpdk_server *s, uint16_t port, uint16_t nrx, uint16_t ntx,
                      int rss, char *err, size_t errlen)
{
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc)
        return snprintf(err, errlen, "dpdk: port %u: no device info: %s", port, rte_strerror(-rc)),
               rc;
    if (info.max_rx_queues < nrx || info.max_tx_queues < ntx)
        return snprintf(err, errlen,
                        "dpdk: port %u (%s) has %u RX / %u TX queues; %u / %u are needed "
                        "(lower dpdk.queues)",
                        port, info.driver_name, info.max_rx_queues, info.max_tx_queues, nrx, ntx),
               -ENODEV;
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    uint64_t ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
    conf.rxmode.offloads = info.rx_offload_capa & ck;
    if (rss && nrx > 1) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
        if (!conf.rx_adv_conf.rss_conf.rss_hf)
            SL_WARN("listener=dpdk event=no_rss port=%u driver=%s queues=%u "
                    "note=\"frames will not spread across queues\"",
                    port, info.driver_name, nrx);
        if (!conf.rx_adv_conf.rss_conf.rss_hf)
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
    }
    if ((rc = rte_eth_dev_configure(port, nrx, ntx, &conf)))
        return snprintf(err, errlen, "dpdk: port %u (%s): configure failed: %s", port,
                        info.driver_name, rte_strerror(-rc)),
               rc;
    uint16_t nrxd = RX_DESC, ntxd = TX_DESC;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
    int sock = rte_eth_dev_socket_id(port);
    for (uint16_t i = 0; i < nrx; i++) {
        struct rte_eth_rxconf rxc = info.default_rxconf;
        rxc.offloads = conf.rxmode.offloads;
        if ((rc = rte_eth_rx_queue_setup(port, i, nrxd, sock < 0 ? 0 : (unsigned)sock, &rxc,
                                         s->pool)))
            return snprintf(err, errlen, "dpdk: port %u (%s): RX queue %u setup failed: %s",
                            port, info.driver_name, i, rte_strerror(-rc)),
                   rc;
    }
    for (uint16_t i = 0; i < ntx; i++) {
        if ((rc = rte_eth_tx_queue_setup(port, i, ntxd, sock < 0 ? 0 : (unsigned)sock, NULL)))
            return snprintf(err, errlen, "dpdk: port %u (%s): TX queue %u setup failed: %s",
                            port, info.driver_name, i, rte_strerror(-rc)),
                   rc;
    }
    return 0;
}

static int setup_tap(struct sl_dpdk_server *s, char *err, size_t errlen)
{
    struct rte_ether_addr mac;
    int rc = rte_eth_macaddr_get(s->port, &mac);
    if (rc)
        return snprintf(err, errlen, "dpdk: port %u: no MAC address: %s", s->port,
                        rte_strerror(-rc)),
               rc;
    /* The TAP wears the port's MAC so the host's ARP replies name the port. */
    char devargs[160];
    snprintf(s->tap_name, sizeof s->tap_name, "net_tap_sl%u", s->port);
    snprintf(devargs, sizeof devargs,
             "%s,iface=%s,mac=" RTE_ETHER_ADDR_PRT_FMT, s->tap_name, s->cfg.kernel_iface,
             RTE_ETHER_ADDR_BYTES(&mac));
    if ((rc = rte_dev_probe(devargs)))
        return snprintf(err, errlen,
                        "dpdk: cannot create the TAP interface %s for the kernel path (%s); "
                        "is the net_tap driver installed and /dev/net/tun usable?",
                        s->cfg.kernel_iface, rte_strerror(-rc)),
               rc;
    if ((rc = rte_eth_dev_get_port_by_name(s->tap_name, &s->tap_port)))
        return snprintf(err, errlen, "dpdk: TAP %s created but not found", s->tap_name), rc;
    s->has_tap = 1;
    /* One TX queue per poller (each hands its own not-ours frames to the kernel); one RX
     * queue, polled by poller 0, for what the kernel sends back. */
    return setup_port(s, s->tap_port, 1, (uint16_t)s->cfg.queues, 0, err, errlen);
}

int sl_dpdk_server_open(const struct sl_dpdk_cfg *cfg, struct sl_shardset *set,
                        uint32_t first_producer, struct sl_dpdk_server **out, char *err,
                        size_t errlen)
{
    int rc = sl_dpdk_cfg_check(cfg, err, errlen);
    if (rc)
        return rc;
    if (eal_done)
        return snprintf(err, errlen, "dpdk: the EAL is already initialised in this process"),
               -EALREADY;
    struct sl_dpdk_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    sl_frame_match_parse(cfg->addr, &s->match); /* checked by cfg_check */

    char argbuf[sizeof cfg->eal_args];
    char *argv[MAX_ARGS];
    int argc = split_args(cfg->eal_args, argbuf, sizeof argbuf, argv, MAX_ARGS);
    if (argc < 0) {
        snprintf(err, errlen, "dpdk.eal_args: more than %d arguments", MAX_ARGS - 2);
        free(s);
        return -EINVAL;
    }
    eal_done = 1;
    /* rte_eal_init() pins the calling thread to the main lcore's CPU, and every thread the
     * daemon starts afterwards (shards, socket listeners, HTTP, these pollers) would inherit
     * that one CPU. Put the caller's mask back so they spread as they do without DPDK. */
    cpu_set_t mask;
    int have_mask = pthread_getaffinity_np(pthread_self(), sizeof mask, &mask) == 0;
    /* rte_eal_init() may permute argv; argbuf and argv stay ours. */
    int eal_rc = rte_eal_init(argc, argv);
    if (have_mask)
        pthread_setaffinity_np(pthread_self(), sizeof mask, &mask);
    if (eal_rc < 0) {
        int e = rte_errno;
        snprintf(err, errlen, "dpdk: the EAL refused to start with \"%s\": %s (see the EAL "
                              "messages above; without hugepages use --no-huge -m 512 "
                              "--no-shconf)",
                 cfg->eal_args, rte_strerror(e));
        free(s);
        return e == ENOMEM ? -ENOMEM : -EINVAL;
    }
    s->pollers = calloc(cfg->queues, sizeof *s->pollers);
    if (!s->pollers) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < cfg->queues; i++)
        s->pollers[i].scratch = malloc(SCRATCH_BYTES);
    for (uint32_t i = 0; i < cfg->queues; i++)
        if (!s->pollers[i].scratch) {
            rc = -ENOMEM;
            goto fail;
        }
    uint16_t nports = rte_eth_dev_count_avail();
    if (cfg->port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)cfg->port)) {
        snprintf(err, errlen,
                 "dpdk: no port %u (%u port(s) found; give the device with --vdev=... or a "
                 "PCI address bound to a DPDK driver in dpdk.eal_args)",
                 cfg->port, nports);
        rc = -ENODEV;
        goto fail;
    }
    s->port = (uint16_t)cfg->port;
    rte_eth_dev_get_name_by_port(s->port, s->port_name);
    int sock = rte_eth_dev_socket_id(s->port);
    s->pool = rte_pktmbuf_pool_create("sl_rx", cfg->mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                      sock < 0 ? SOCKET_ID_ANY : sock);
    if (!s->pool) {
        snprintf(err, errlen,
                 "dpdk: no memory for %u mbufs (%s); raise -m or the hugepages in "
                 "dpdk.eal_args, or lower dpdk.mbufs",
                 cfg->mbufs, rte_strerror(rte_errno));
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = setup_port(s, s->port, (uint16_t)cfg->queues, 1, 1, err, errlen)))
        goto fail;
    if (cfg->kernel_iface[0] && (rc = setup_tap(s, err, errlen)))
        goto fail;
    for (uint32_t i = 0; i < cfg->queues; i++) {
        struct poller *p = &s->pollers[i];
        p->srv = s;
        p->q = i;
        p->feed.prod = sl_shardset_producer(set, first_producer + i);
        p->feed.stats = &p->feed_stats;
        p->feed.listener = "dpdk";
        /* A full shard ring pauses the poller for up to 20 ms, as it pauses the UDP
         * listener: the port's RX ring and mbuf pool hold the frames meanwhile, and what
         * overflows them is counted by the port (rx missed, mbuf exhaustion). Dropping
         * at once threw away lines already parsed whenever a shard was late to wake or
         * busy with a flush; at 12 M lines/s a 4 MiB ring holds only ~6 ms. */
        p->feed.block_when_full = 1;
        p->feed.max_wait_ms = 20;
        if (!p->feed.prod) {
            snprintf(err, errlen, "internal: no producer %u for dpdk queue %u",
                     first_producer + i, i);
            rc = -EINVAL;
            goto fail;
        }
        if ((rc = sl_statsd_feed_init(&p->feed, cfg->keycache_entries))) {
            if (rc == -EINVAL)
                snprintf(err, errlen, "dpdk: series key cache of %u entries: not a power of "
                         "two in 2..2^24 (statsd.keycache_entries)", cfg->keycache_entries);
            else
                snprintf(err, errlen, "dpdk: no memory for queue %u's series key cache", i);
            goto fail;
        }
    }
    SL_INFO("listener=dpdk event=opened port=%u device=%s queues=%u burst=%u address=%s "
            "kernel_iface=%s",
            s->port, s->port_name, cfg->queues, cfg->burst, cfg->addr,
            cfg->kernel_iface[0] ? cfg->kernel_iface : "none");
    *out = s;
    return 0;
fail:
    sl_dpdk_server_close(s);
    return rc;
}

int sl_dpdk_server_start(struct sl_dpdk_server *s)
{
    int rc = rte_eth_dev_start(s->port);
    if (rc) {
        SL_ERROR("listener=dpdk event=port_start_failed port=%u error=\"%s\"", s->port,
                 rte_strerror(-rc));
        return rc;
    }
    s->port_started = 1;
    if (s->has_tap) {
        if ((rc = rte_eth_dev_start(s->tap_port))) {
            SL_ERROR("listener=dpdk event=tap_start_failed iface=%s error=\"%s\"",
                     s->cfg.kernel_iface, rte_strerror(-rc));
            return rc;
        }
        s->tap_started = 1;
    }
    atomic_store_explicit(&s->running, 1, memory_order_relaxed);
    for (uint32_t i = 0; i < s->cfg.queues; i++) {
        rc = pthread_create(&s->pollers[i].th, NULL, poller_main, &s->pollers[i]);
        if (rc) {
            sl_dpdk_server_stop(s);
            return -rc;
        }
        char name[16];
        snprintf(name, sizeof name, "sl-dpdk-%u", i & 0xffu);
        pthread_setname_np(s->pollers[i].th, name);
        s->started++;
    }
    SL_INFO("listener=dpdk event=started port=%u device=%s queues=%u", s->port, s->port_name,
            s->cfg.queues);
    return 0;
}

void sl_dpdk_server_stop(struct sl_dpdk_server *s)
{
    if (!s)
        return;
    atomic_store_explicit(&s->running, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < s->started; i++)
        pthread_join(s->pollers[i].th, NULL);
    s->started = 0;
    if (s->port_started)
        rte_eth_dev_stop(s->port);
    if (s->tap_started)
        rte_eth_dev_stop(s->tap_port);
    s->port_started = s->tap_started = 0;
}

void sl_dpdk_server_close(struct sl_dpdk_server *s)
{
    if (!s)
        return;
    sl_dpdk_server_stop(s);
    if (s->has_tap) {
        rte_eth_dev_close(s->tap_port);
        rte_eal_hotplug_remove("vdev", s->tap_name);
    }
    if (s->pool)
        rte_eth_dev_close(s->port);
    rte_mempool_free(s->pool);
    if (s->pollers)
        for (uint32_t i = 0; i < s->cfg.queues; i++) {
            free(s->pollers[i].scratch);
            sl_statsd_feed_fini(&s->pollers[i].feed);
        }
    free(s->pollers);
    free(s);
    rte_eal_cleanup();
}

uint32_t sl_dpdk_server_queues(const struct sl_dpdk_server *s)
{
    return s ? s->cfg.queues : 0;
}

const struct sl_dpdk_queue_stats *sl_dpdk_server_queue_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q)
{
    return &s->pollers[q].st;
}

const struct sl_statsd_feed_stats *sl_dpdk_server_feed_stats(const struct sl_dpdk_server *s,
                                                             uint32_t q)
{
    return &s->pollers[q].feed_stats;
}

int sl_dpdk_server_port_stats(const struct sl_dpdk_server *s, struct sl_dpdk_port_stats *out)
{
    struct rte_eth_stats st;
    int rc = rte_eth_stats_get(s->port, &st);
    if (rc)
        return rc;
    out->ipackets = st.ipackets;
    out->ibytes = st.ibytes;
    out->imissed = st.imissed;
    out->ierrors = st.ierrors;
    out->rx_nombuf = st.rx_nombuf;
    out->opackets = st.opackets;
    return 0;
}

const char *sl_dpdk_server_port_name(const struct sl_dpdk_server *s)
{
    return s->port_name;
}
