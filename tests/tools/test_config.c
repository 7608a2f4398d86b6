/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "query/promql.h"
#include "tools/config.h"

static struct sl_daemon_cfg cfg;
static char err[512];
static void setup(void)
{
    sl_daemon_cfg_defaults(&cfg);
    err[0] = 0;
}
TestSuite(config, .init = setup, .timeout = 5);

static int parse(int argc, const char **argv)
{
    return sl_daemon_cfg_parse_args(&cfg, argc, (char **)argv, err, sizeof err);
}

Test(config, defaults_match_the_documented_ones)
{
    cr_assert(eq(str, cfg.statsd.addr, "127.0.0.1:8125"));
    cr_assert(eq(str, cfg.http.addr, "127.0.0.1:8480"));
    cr_assert(eq(str, cfg.data_dir, "./sluice-data"));
    cr_assert(eq(i64, cfg.shard.flush_interval_ms, 10000));
    cr_assert(eq(int, cfg.statsd.rcvbuf, 32 << 20));
    cr_assert(eq(u32, cfg.statsd.udp_coalesce_us, 200));
}

Test(config, udp_coalesce_takes_microseconds_milliseconds_or_zero)
{
    const char *us[] = {"sluiced", "--udp-coalesce", "350us"};
    cr_assert(eq(int, parse(3, us), 0), "%s", err);
    cr_assert(eq(u32, cfg.statsd.udp_coalesce_us, 350));
    const char *ms[] = {"sluiced", "--udp-coalesce", "2ms"};
    cr_assert(eq(int, parse(3, ms), 0), "%s", err);
    cr_assert(eq(u32, cfg.statsd.udp_coalesce_us, 2000));
    const char *off[] = {"sluiced", "--udp-coalesce", "0"};
    cr_assert(eq(int, parse(3, off), 0), "%s", err);
    cr_assert(eq(u32, cfg.statsd.udp_coalesce_us, 0));
    const char *bare[] = {"sluiced", "--udp-coalesce", "5"};
    cr_assert(eq(int, parse(3, bare), -EINVAL), "a number without a unit is ambiguous");
    cr_assert(ne(ptr, strstr(err, "statsd.udp_coalesce"), NULL), "%s", err);
    const char *neg[] = {"sluiced", "--udp-coalesce", "-1us"};
    cr_assert(eq(int, parse(3, neg), -EINVAL));
    const char *big[] = {"sluiced", "--udp-coalesce", "20ms"};
    int rc = parse(3, big);
    if (rc == 0)
        rc = sl_statsd_server_cfg_check(&cfg.statsd, err, sizeof err);
    cr_assert(eq(int, rc, -EINVAL), "over 10 ms is refused");
    cr_assert(ne(ptr, strstr(err, "udp_coalesce"), NULL), "%s", err);
}

Test(config, flags_set_values)
{
    const char *argv[] = {"sluiced", "--flush-interval", "1s", "--shards=3", "--statsd",
                          "[::1]:9125", "--quantiles", "0.5,0.999", "--tcp", "off"};
    cr_assert(eq(int, parse(10, argv), 0), "%s", err);
    cr_assert(eq(i64, cfg.shard.flush_interval_ms, 1000));
    cr_assert(eq(u32, cfg.shard.nshards, 3));
    cr_assert(eq(str, cfg.statsd.addr, "[::1]:9125"));
    cr_assert(eq(int, cfg.shard.flush.nquantiles, 2));
    cr_assert(eq(dbl, cfg.shard.flush.quantiles[1], 0.999));
    cr_assert(eq(int, cfg.statsd.tcp, 0));
}

Test(config, bad_flag_value_names_the_option)
{
    const char *argv[] = {"sluiced", "--flush-interval", "soon"};
    cr_assert(eq(int, parse(3, argv), -EINVAL));
    cr_assert(ne(ptr, strstr(err, "engine.flush_interval"), NULL), "%s", err);
    cr_assert(ne(ptr, strstr(err, "soon"), NULL), "%s", err);
}

Test(config, unknown_flag_is_refused)
{
    const char *argv[] = {"sluiced", "--frobnicate", "1"};
    cr_assert(eq(int, parse(3, argv), -EINVAL));
    cr_assert(ne(ptr, strstr(err, "--frobnicate"), NULL), "%s", err);
}

Test(config, file_is_read_and_flags_override_it)
{
    char path[] = "/tmp/sluice-cfg-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(ge(int, fd, 0));
    const char *ini = "[engine]\nflush_interval = 5s\nshards = 2\n[log]\nlevel = debug\n";
    cr_assert(eq(long, (long)write(fd, ini, strlen(ini)), (long)strlen(ini)));
    close(fd);
    const char *argv[] = {"sluiced", "--shards", "4", "--config", path};
    int rc = parse(5, argv);
    unlink(path);
    cr_assert(eq(int, rc, 0), "%s", err);
    cr_assert(eq(i64, cfg.shard.flush_interval_ms, 5000));
    cr_assert(eq(u32, cfg.shard.nshards, 4));
    cr_assert(eq(int, (int)cfg.log_level, (int)SL_LOG_DEBUG));
}

Test(config, bad_file_value_names_file_and_line)
{
    char path[] = "/tmp/sluice-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *ini = "[statsd]\naddress = 127.0.0.1:8125\nudp_threads = many\n";
    cr_assert(eq(long, (long)write(fd, ini, strlen(ini)), (long)strlen(ini)));
    close(fd);
    const char *argv[] = {"sluiced", "--config", path};
    int rc = parse(3, argv);
    unlink(path);
    cr_assert(eq(int, rc, -EINVAL));
    cr_assert(ne(ptr, strstr(err, "line 3"), NULL), "%s", err);
    cr_assert(ne(ptr, strstr(err, "statsd.udp_threads"), NULL), "%s", err);
}

Test(config, set_flag_reaches_any_key)
{
    const char *argv[] = {"sluiced", "--set", "statsd.max_line=1024"};
    cr_assert(eq(int, parse(3, argv), 0), "%s", err);
    cr_assert(eq(u32, cfg.statsd.max_line, 1024));
}

Test(config, role_query_and_nodes_are_parsed)
{
    cr_assert(eq(int, cfg.query_role, SL_QUERY_ROLE_STORAGE));
    cr_assert(eq(i64, cfg.query_timeout_ms, 30000));
    const char *argv[] = {"sluiced", "--role", "query", "--query-nodes",
                          "http://127.0.0.1:8481,http://127.0.0.1:8482",
                          "--query-node-timeout", "5s"};
    cr_assert(eq(int, parse(7, argv), 0), "%s", err);
    cr_assert(eq(int, cfg.query_role, SL_QUERY_ROLE_QUERY));
    cr_assert(eq(str, cfg.query_nodes, "http://127.0.0.1:8481,http://127.0.0.1:8482"));
    cr_assert(eq(i64, cfg.query_timeout_ms, 5000));
}

Test(config, unknown_role_is_rejected_naming_the_option)
{
    const char *argv[] = {"sluiced", "--role", "ingest"};
    cr_assert(eq(int, parse(3, argv), -EINVAL));
    cr_assert(not(eq(ptr, strstr(err, "query.role"), NULL)), "%s", err);
}

Test(config, use_tiers_defaults_on_and_takes_false_or_counters)
{
    cr_assert(eq(int, cfg.query_tiers, SL_PQ_TIERS_EXACT));
    const char *a1[] = {"sluiced", "--set", "query.use_tiers=false"};
    cr_assert(eq(int, parse(3, a1), 0), "%s", err);
    cr_assert(eq(int, cfg.query_tiers, SL_PQ_TIERS_OFF));
    const char *a2[] = {"sluiced", "--use-tiers", "counters"};
    cr_assert(eq(int, parse(3, a2), 0), "%s", err);
    cr_assert(eq(int, cfg.query_tiers, SL_PQ_TIERS_COUNTERS));
    const char *a3[] = {"sluiced", "--use-tiers", "sometimes"};
    cr_assert(eq(int, parse(3, a3), -EINVAL));
    cr_assert(not(eq(ptr, strstr(err, "query.use_tiers"), NULL)), "%s", err);
}
