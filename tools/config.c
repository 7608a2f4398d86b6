/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Option table and parsers for sluiced. Sizes accept K/M/G suffixes (binary), durations
 * accept ms/s/m/h/d (engine/clock.h). The table is the single source for --help, the INI
 * keys and the README's configuration section.
 */
#include "tools/config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/clock.h"
#include "query/api.h"
#include "sl_config.h"

enum opt_kind {
    K_STR, K_U32, K_SIZE, K_DURATION, K_BOOL, K_LEVEL, K_BACKEND, K_QUANTILES, K_FSYNC,
    K_DURATION_OR_ZERO, K_DURATION_US, K_KAFKA, K_QROLE, K_TIERS
};

struct opt {
    const char *section, *key, *flag, *def, *help;
    enum opt_kind kind;
    size_t off; /* offset into struct sl_daemon_cfg */
    size_t len; /* for K_STR: buffer size */
};

#define OFF(f) offsetof(struct sl_daemon_cfg, f)
static const struct opt opts[] = {
    {"statsd", "address", "statsd", "127.0.0.1:8125", "StatsD UDP and TCP address", K_STR,
     OFF(statsd.addr), sizeof(((struct sl_daemon_cfg *)0)->statsd.addr)},
    {"statsd", "udp_threads", "udp-threads", "1", "UDP ingest threads (SO_REUSEPORT sockets)",
     K_U32, OFF(statsd.udp_threads), 0},
    {"statsd", "backend", "udp-backend", "recvmmsg",
     "UDP receive path: recvmmsg, io_uring, or auto (io_uring where the kernel has it)",
     K_BACKEND, OFF(statsd.backend), 0},
    {"statsd", "rcvbuf", "udp-rcvbuf", "32M", "UDP socket receive buffer", K_SIZE,
     OFF(statsd.rcvbuf), 0},
    {"statsd", "tcp", "tcp", "true", "also accept StatsD over TCP", K_BOOL, OFF(statsd.tcp), 0},
    {"statsd", "max_line", "max-line", "64K", "longest TCP line accepted", K_U32,
     OFF(statsd.max_line), 0},
    {"statsd", "keycache_entries", "keycache-entries", "262144",
     "most series key cache slots per listener thread (power of two; grown to as needed; 0: off)",
     K_U32,
     OFF(statsd.keycache_entries), 0},
    {"statsd", "udp_coalesce", "udp-coalesce", "200us",
     "recvmmsg: pause after a receive that emptied the socket, so batches gather (0: off)",
     K_DURATION_US, OFF(statsd.udp_coalesce_us), 0},
    {"statsd", "max_connections", "max-connections", "16384", "TCP connections at once", K_U32,
     OFF(statsd.max_conns), 0},
    {"http", "address", "http", "127.0.0.1:8480", "HTTP address (query, write, admin)", K_STR,
     OFF(http.addr), sizeof(((struct sl_daemon_cfg *)0)->http.addr)},
    {"http", "threads", "http-threads", "2", "HTTP worker threads", K_U32, OFF(http.threads), 0},
    {"engine", "shards", "shards", "<cpus>", "shard worker threads", K_U32, OFF(shard.nshards),
     0},
    {"engine", "flush_interval", "flush-interval", "10s", "aggregation interval (e.g. 1s, 10s)",
     K_DURATION, OFF(shard.flush_interval_ms), 0},
    {"engine", "series_limit", "series-limit", "1000000", "most series per shard (0: no limit)",
     K_U32, OFF(shard.series_limit), 0},
    {"engine", "expire_intervals", "expire-intervals", "30",
     "drop a series after this many flushes without data", K_U32,
     OFF(shard.expire_intervals), 0},
    {"engine", "ring_size", "ring-size", "4M", "bytes per ingest-to-shard ring", K_SIZE,
     OFF(shard.ring_bytes), 0},
    {"engine", "quantiles", "quantiles", "0.5,0.9,0.95,0.99", "timer quantiles exposed",
     K_QUANTILES, OFF(shard.flush), 0},
    {"storage", "data_dir", "data-dir", "./sluice-data", "where data is stored", K_STR,
     OFF(data_dir), sizeof(((struct sl_daemon_cfg *)0)->data_dir)},
    {"storage", "fsync", "fsync", "batch",
     "WAL durability: batch (fdatasync once per flush) or none (the OS decides)", K_FSYNC,
     OFF(store.fsync), 0},
    {"storage", "block_range", "block-range", "2h", "time range of one raw block",
     K_DURATION, OFF(store.block_range_ms), 0},
    {"storage", "out_of_order_window", "out-of-order-window", "1y",
     "oldest sample accepted, relative to the newest", K_DURATION, OFF(store.ooo_window_ms), 0},
    {"storage", "raw_retention", "retention", "15d", "how long raw samples are kept (0: forever)",
     K_DURATION_OR_ZERO, OFF(store.raw_retention_ms), 0},
    {"storage", "maintain_interval", "maintain-interval", "10s",
     "how often blocks are cut, compacted, downsampled and expired", K_DURATION,
     OFF(maintain_interval_ms), 0},
    {"log", "level", "log-level", "info", "debug, info, warn or error", K_LEVEL, OFF(log_level),
     0},
    /* [dpdk]: kernel-bypass StatsD ingest (ingest/dpdk_server.h). */
    {"dpdk", "enabled", "dpdk", "false", "receive StatsD through DPDK", K_BOOL, OFF(dpdk.enabled),
     0},
    {"dpdk", "eal_args", "dpdk-eal-args", "", "EAL arguments (e.g. --no-huge --vdev=...)", K_STR,
     OFF(dpdk.eal_args), sizeof(((struct sl_daemon_cfg *)0)->dpdk.eal_args)},
    {"dpdk", "port", "dpdk-port", "0", "DPDK ethdev port id", K_U32, OFF(dpdk.port), 0},
    {"dpdk", "queues", "dpdk-queues", "1", "RX queues, one polling thread each (RSS)", K_U32,
     OFF(dpdk.queues), 0},
    {"dpdk", "address", "dpdk-address", "0.0.0.0:8125,[::]:8125",
     "StatsD endpoints on the port (HOST:PORT,...)", K_STR, OFF(dpdk.addr),
     sizeof(((struct sl_daemon_cfg *)0)->dpdk.addr)},
    {"dpdk", "burst", "dpdk-burst", "32", "frames per rx_burst", K_U32, OFF(dpdk.burst), 0},
    {"dpdk", "mbufs", "dpdk-mbufs", "16383", "mbuf pool size", K_U32, OFF(dpdk.mbufs), 0},
    {"dpdk", "kernel_iface", "dpdk-kernel-iface", "", "TAP interface for non-StatsD frames",
     K_STR, OFF(dpdk.kernel_iface), sizeof(((struct sl_daemon_cfg *)0)->dpdk.kernel_iface)},
    {"dpdk", "fallback", "dpdk-fallback", "false",
     "on DPDK start-up failure, run on the socket listeners", K_BOOL, OFF(dpdk.fallback), 0},
    /* [kafka]: parsed by sl_kafka_cfg_set(); kafka.rdkafka.<property> passes through. */
    {"kafka", "role", "kafka-role", "none", "none, forward or consume", K_KAFKA, OFF(kafka), 0},
    {"kafka", "brokers", "kafka-brokers", "", "bootstrap servers host:port,...", K_KAFKA,
     OFF(kafka), 0},
    {"kafka", "topic", "kafka-topic", "sluice", "topic records go through", K_KAFKA, OFF(kafka),
     0},
    {"kafka", "group", "kafka-group", "sluice", "consumer group (consume)", K_KAFKA, OFF(kafka),
     0},
    {"kafka", "format", "kafka-format", "auto", "consume: auto, wire or statsd", K_KAFKA,
     OFF(kafka), 0},
    {"kafka", "buffer", "kafka-buffer", "64M", "forward: local buffer while brokers are away",
     K_KAFKA, OFF(kafka), 0},
    {"kafka", "on_full", "kafka-on-full", "drop", "forward: drop or backpressure", K_KAFKA,
     OFF(kafka), 0},
    {"kafka", "batch", "kafka-batch", "64K", "forward: largest message", K_KAFKA, OFF(kafka), 0},
    {"kafka", "partitions", "kafka-partitions", "0", "forward: partitions (0: ask brokers)",
     K_KAFKA, OFF(kafka), 0},
    /* [query]: a query node fans PromQL out to storage nodes (tools/remote_source.h). */
    {"query", "role", "role", "storage",
     "storage (store and answer locally) or query (no store; ask query.nodes)", K_QROLE,
     OFF(query_role), 0},
    {"query", "nodes", "query-nodes", "", "role query: storage nodes http://HOST:PORT,...",
     K_STR, OFF(query_nodes), sizeof(((struct sl_daemon_cfg *)0)->query_nodes)},
    {"query", "node_timeout", "query-node-timeout", "30s",
     "role query: longest wait for a storage node", K_DURATION, OFF(query_timeout_ms), 0},
    {"query", "use_tiers", "use-tiers", "true",
     "range queries read downsampled tiers where exact: true, false, or counters (also "
     "rate/increase, unextrapolated)",
     K_TIERS, OFF(query_tiers), 0},
    {"query", "threads", "query-threads", "0",
     "threads one query's range functions are read and computed on (0: online CPUs, at most "
     "16; 1: on the handler's thread alone)",
     K_U32, OFF(query_threads), 0},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void sl_daemon_cfg_defaults(struct sl_daemon_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "./sluice-data");
    cfg->log_level = SL_LOG_INFO;
    sl_shard_cfg_defaults(&cfg->shard);
    sl_statsd_server_cfg_defaults(&cfg->statsd);
    sl_http_server_cfg_defaults(&cfg->http);
    sl_store_cfg_defaults(&cfg->store);
    cfg->maintain_interval_ms = 10000;
    sl_dpdk_cfg_defaults(&cfg->dpdk);
    sl_kafka_cfg_defaults(&cfg->kafka);
    cfg->query_role = SL_QUERY_ROLE_STORAGE;
    cfg->query_timeout_ms = 30000;
}

static int parse_size(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v)
        return -EINVAL;
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1024ull * 1024 * 1024, end++;
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || n > UINT64_MAX / mult)
        return -EINVAL;
    *out = n * mult;
    return 0;
}

static int apply(struct sl_daemon_cfg *cfg, const struct opt *o, const char *v, char *err,
                 size_t errlen)
{
    char *base = (char *)cfg + o->off;
    uint64_t n;
    switch (o->kind) {
    case K_STR:
        if (strlen(v) >= o->len)
            goto bad;
        snprintf(base, o->len, "%s", v);
        return 0;
    case K_U32:
    case K_SIZE:
        if (parse_size(v, &n) || n > INT32_MAX)
            goto bad;
        if (o->off == OFF(query_threads) && n > SL_PROMQL_THREADS_MAX)
            goto bad;
        if (o->kind == K_SIZE && o->off == OFF(statsd.rcvbuf))
            *(int *)(void *)base = (int)n;
        else
            *(uint32_t *)(void *)base = (uint32_t)n;
        return 0;
    case K_DURATION: {
        int64_t ms;
        if (sl_clock_parse_duration(v, &ms))
            goto bad;
        *(int64_t *)(void *)base = ms;
        return 0;
    }
    case K_DURATION_OR_ZERO: {
        int64_t ms = 0;
        if (strcmp(v, "0") != 0 && sl_clock_parse_duration(v, &ms))
            goto bad;
        *(int64_t *)(void *)base = ms;
        return 0;
    }
    case K_DURATION_US: {
        /* "0", or a whole number of microseconds or milliseconds: "200us", "1ms" */
        char *e;
        errno = 0;
        unsigned long long x = strtoull(v, &e, 10);
        if (errno || e == v || *v == '-')
            goto bad;
        if (!strcmp(e, "ms") && x <= UINT32_MAX / 1000)
            x *= 1000;
        else if (strcmp(e, "us") != 0 && !(x == 0 && *e == 0))
            goto bad;
        if (x > UINT32_MAX)
            goto bad;
        *(uint32_t *)(void *)base = (uint32_t)x;
        return 0;
    }
    case K_FSYNC:
        if (!strcmp(v, "batch"))
            cfg->store.fsync = SL_WAL_FSYNC_BATCH;
        else if (!strcmp(v, "none"))
            cfg->store.fsync = SL_WAL_FSYNC_NONE;
        else
            goto bad;
        return 0;
    case K_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1") ||
            !strcasecmp(v, "yes"))
            *(int *)(void *)base = 1;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0") ||
                 !strcasecmp(v, "no"))
            *(int *)(void *)base = 0;
        else
            goto bad;
        return 0;
    case K_LEVEL:
        if (sl_log_parse_level(v, (enum sl_log_level *)(void *)base))
            goto bad;
        return 0;
    case K_BACKEND:
        if (!strcmp(v, "auto"))
            cfg->statsd.backend = SL_UDP_AUTO;
        else if (!strcmp(v, "io_uring"))
            cfg->statsd.backend = SL_UDP_URING;
        else if (!strcmp(v, "recvmmsg"))
            cfg->statsd.backend = SL_UDP_RECVMMSG;
        else
            goto bad;
        return 0;
    case K_QUANTILES: {
        struct sl_flush_cfg f = {0};
        const char *p = v;
        while (*p) {
            char *end;
            double q = strtod(p, &end);
            if (end == p || !(q >= 0 && q <= 1) || f.nquantiles == SL_FLUSH_MAX_QUANTILES)
                goto bad;
            f.quantiles[f.nquantiles++] = q;
            p = end;
            if (*p == ',')
                p++;
            else if (*p)
                goto bad;
        }
        cfg->shard.flush = f;
        return 0;
    }
    case K_KAFKA:
        if (sl_kafka_cfg_set(&cfg->kafka, o->key, v))
            goto bad;
        return 0;
    case K_TIERS:
        if (sl_query_parse_tiers(v, &cfg->query_tiers))
            goto bad;
        return 0;
    case K_QROLE:
        if (!strcmp(v, "storage"))
            cfg->query_role = SL_QUERY_ROLE_STORAGE;
        else if (!strcmp(v, "query"))
            cfg->query_role = SL_QUERY_ROLE_QUERY;
        else
            goto bad;
        return 0;
    }
bad:
    snprintf(err, errlen, "%s.%s (--%s): invalid value \"%s\" (%s; default %s)", o->section,
             o->key, o->flag, v, o->help, o->def);
    return -EINVAL;
}

int sl_daemon_cfg_set(struct sl_daemon_cfg *cfg, const char *section, const char *key,
                      const char *value, char *err, size_t errlen)
{
    if (!strcmp(section, "kafka") && !strncmp(key, "rdkafka.", 8)) {
        if (!sl_kafka_cfg_set(&cfg->kafka, key, value))
            return 0;
        snprintf(err, errlen, "kafka.%s: invalid (empty name, too long, or over %d properties)",
                 key, SL_KAFKA_MAX_PROPS);
        return -EINVAL;
    }
    for (size_t i = 0; i < NOPTS; i++)
        if (!strcmp(opts[i].section, section) && !strcmp(opts[i].key, key))
            return apply(cfg, &opts[i], value, err, errlen);
    snprintf(err, errlen, "unknown option %s.%s", section, key);
    return -EINVAL;
}

struct ini_ctx {
    struct sl_daemon_cfg *cfg;
    char *err;
    size_t errlen;
    int failed;
};

static int cfg_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->failed)
        return 0;
    if (sl_daemon_cfg_set(c->cfg, section, name, value, c->err, c->errlen)) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int sl_daemon_cfg_load_file(struct sl_daemon_cfg *cfg, const char *path, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "config file %s: %s", path, strerror(e));
        return -e;
    }
    char inner[384] = "";
    struct ini_ctx c = {cfg, inner, sizeof inner, 0};
    int line = ini_parse_file(f, cfg_ini_entry, &c);
    fclose(f);
    if (line) {
        if (c.failed)
            snprintf(err, errlen, "config file %s line %d: %s", path, line, inner);
        else
            snprintf(err, errlen, "config file %s line %d: syntax error", path, line);
        return -EINVAL;
    }
    return 0;
}

void sl_daemon_cfg_usage(FILE *out)
{
    fprintf(out, "usage: sluiced [--config FILE] [--OPTION VALUE]... [--set SECTION.KEY=VALUE]\n\n"
                 "sluice " SL_VERSION ": StatsD/DogStatsD ingest, aggregation and query.\n\n"
                 "Options (config file key in brackets; flags override the file):\n");
    fprintf(out, "  %-24s %s\n", "--config FILE", "INI file read before the flags");
    for (size_t i = 0; i < NOPTS; i++) {
        char flag[64], key[64];
        snprintf(flag, sizeof flag, "--%s", opts[i].flag);
        snprintf(key, sizeof key, "[%s] %s", opts[i].section, opts[i].key);
        fprintf(out, "  %-24s %s (default %s) %s\n", flag, opts[i].help, opts[i].def, key);
    }
    fprintf(out, "  %-24s %s\n", "--set kafka.rdkafka.P=V",
            "librdkafka property P (security.protocol, sasl.*, ssl.*...) [kafka] rdkafka.P");
    fprintf(out, "  %-24s %s\n  %-24s %s\n", "--help", "print this and exit", "--version",
            "print the version and exit");
}

int sl_daemon_cfg_parse_args(struct sl_daemon_cfg *cfg, int argc, char **argv, char *err,
                             size_t errlen)
{
    /* First pass: --config, so flags override the file wherever they appear. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *path = NULL;
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a file name");
                return -EINVAL;
            }
            path = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            path = a + 9;
        }
        if (path) {
            int rc = sl_daemon_cfg_load_file(cfg, path, err, errlen);
            if (rc)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            sl_daemon_cfg_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("sluiced %s\n", SL_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return -EINVAL;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) {
            snprintf(err, errlen, "unknown flag %s (see --help)", a);
            return -EINVAL;
        }
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val) {
            snprintf(err, errlen, "flag --%s needs a value", name);
            return -EINVAL;
        }
        if (!strcmp(name, "config"))
            continue;
        if (!strcmp(name, "set")) {
            const char *dot = strchr(val, '.'), *e2 = strchr(val, '=');
            if (!dot || !e2 || dot > e2) {
                snprintf(err, errlen, "--set wants SECTION.KEY=VALUE, got \"%s\"", val);
                return -EINVAL;
            }
            char sec[64], key[64];
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - val), val);
            snprintf(key, sizeof key, "%.*s", (int)(e2 - dot - 1), dot + 1);
            int rc = sl_daemon_cfg_set(cfg, sec, key, e2 + 1, err, errlen);
            if (rc)
                return rc;
            continue;
        }
        size_t k;
        for (k = 0; k < NOPTS; k++)
            if (!strcmp(opts[k].flag, name))
                break;
        if (k == NOPTS) {
            snprintf(err, errlen, "unknown flag --%s (see --help)", name);
            return -EINVAL;
        }
        int rc = apply(cfg, &opts[k], val, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}
