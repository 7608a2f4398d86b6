/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config.h
 * sluiced's configuration: one table of options, each with its INI section and key, its
 * command-line flag, its default and its help text. The INI file is read first, then
 * flags override it; --help prints the table. A bad value stops start-up with a message
 * naming the option (and the file and line when it came from the file).
 * Thread: control plane only.
 */
#ifndef SL_TOOLS_CONFIG_H
#define SL_TOOLS_CONFIG_H

#include <stdio.h>

#include "engine/log.h"
#include "engine/shard.h"
#include "ingest/dpdk_server.h"
#include "ingest/http_server.h"
#include "ingest/kafka.h"
#include "ingest/statsd_server.h"
#include "storage/store.h"

struct sl_daemon_cfg {
    char data_dir[512];
    enum sl_log_level log_level;
    struct sl_shard_cfg shard;
    struct sl_statsd_server_cfg statsd;
    struct sl_http_server_cfg http;
    struct sl_store_cfg store; /* .dir points at data_dir */
    int64_t maintain_interval_ms;
    struct sl_dpdk_cfg dpdk; /* [dpdk]: kernel-bypass StatsD ingest, off by default */
    struct sl_kafka_cfg kafka;
    /* [query]: role storage (the default: store, ingest, query locally) or query (no store,
     * no ingest; PromQL over the storage nodes, tools/remote_source.h). */
    int query_role; /* enum sl_query_role */
    char query_nodes[4096];   /* comma-separated http://host:port of the storage nodes */
    int64_t query_timeout_ms; /* bound on each wait for a storage node */
    int query_tiers;          /* enum sl_pq_tiers: query.use_tiers */
    uint32_t query_threads;   /* query.threads: 0 = online CPUs (at most 16), 1 = serial */
};

enum sl_query_role { SL_QUERY_ROLE_STORAGE, SL_QUERY_ROLE_QUERY };

void sl_daemon_cfg_defaults(struct sl_daemon_cfg *cfg);
/**
 * Parse argv (and the --config file it names). @return 0; 1 when --help/--version was
 * printed (exit 0); -EINVAL with the reason in @err.
 */
int sl_daemon_cfg_parse_args(struct sl_daemon_cfg *cfg, int argc, char **argv, char *err,
                             size_t errlen);
/** Load an INI file. @return 0, -errno (file), -EINVAL (bad key/value; @err says where). */
int sl_daemon_cfg_load_file(struct sl_daemon_cfg *cfg, const char *path, char *err,
                            size_t errlen);
/** Set one option by "section.key". @return 0 or -EINVAL (@err names the key and value). */
int sl_daemon_cfg_set(struct sl_daemon_cfg *cfg, const char *section, const char *key,
                      const char *value, char *err, size_t errlen);
void sl_daemon_cfg_usage(FILE *out);

#endif
