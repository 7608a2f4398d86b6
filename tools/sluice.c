/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice: the command-line tool. This file holds main() (subcommand dispatch, --help) and
 * the helpers every subcommand shares: opening a store with errors a person can act on, and
 * time parsing and printing. The subcommands live in cli_*.c.
 *
 * Storage logs (key=value lines on stderr) are limited to warnings and errors unless -v is
 * given: a corrupt block or a torn WAL tail is still reported with its file, but a normal
 * run prints only the tool's own output.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "query/api.h"
#include "tools/cli.h"

void sl_cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int sl_cli_open_store(const char *cmd, const char *dir, int create, int64_t ooo_window_ms,
                      struct sl_store **out)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        int rc = -errno;
        if (rc != -ENOENT || !create) {
            sl_cli_err(cmd, "data directory %s: %s", dir,
                       rc == -ENOENT ? "does not exist" : sl_strerror(rc));
            return rc;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        sl_cli_err(cmd, "data directory %s: not a directory", dir);
        return -ENOTDIR;
    } else if (access(dir, R_OK | W_OK | X_OK) < 0) {
        int rc = -errno;
        sl_cli_err(cmd, "data directory %s: %s (the store needs read, write and search "
                   "permission)", dir, sl_strerror(rc));
        return rc;
    }
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    if (ooo_window_ms > 0)
        cfg.ooo_window_ms = ooo_window_ms;
    int rc = sl_store_open(&cfg, out);
    if (rc == 0)
        return 0;
    if (rc == -EBUSY)
        sl_cli_err(cmd, "data directory %s is in use: a running sluiced (or another sluice "
                   "command) holds %s/LOCK; stop it first, or use its HTTP API", dir, dir);
    else if (rc == SL_E_VERSION)
        sl_cli_err(cmd, "data directory %s holds a file of a format version this build does "
                   "not read (named in the error above); nothing was changed", dir);
    else if (rc == -EACCES || rc == -EPERM)
        sl_cli_err(cmd, "data directory %s: permission denied (the file is named above)", dir);
    else if (rc == -ENOENT)
        sl_cli_err(cmd, "cannot create data directory %s: its parent directory does not exist",
                   dir);
    else if (rc == -ENOSPC)
        sl_cli_err(cmd, "data directory %s: no space left on device", dir);
    else
        sl_cli_err(cmd, "cannot open the store in %s: %s", dir, sl_strerror(rc));
    return rc;
}

const char *sl_cli_rfc3339(int64_t ms, char *buf, size_t len)
{
    int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - sec * 1000);
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "%lld", (long long)ms);
        return buf;
    }
    char d[40];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf, len, "%s.%03dZ", d, frac);
    else
        snprintf(buf, len, "%sZ", d);
    return buf;
}

int sl_cli_parse_time(const char *s, int64_t *ms)
{
    if (!strcmp(s, "now")) {
        *ms = sl_cli_now_ms();
        return 0;
    }
    return sl_query_parse_time(s, ms);
}

int64_t sl_cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sl_cli_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char usage[] =
    "usage: sluice [-v] <command> [options]\n"
    "\n"
    "commands:\n"
    "  import  [--data-dir DIR] [--format auto|prom|openmetrics] [--strict] [--batch N]\n"
    "          [--no-progress] FILE|-\n"
    "          backfill samples with timestamps from Prometheus text or OpenMetrics\n"
    "  export  [--data-dir DIR] [--match SELECTOR]... [--start T] [--end T]\n"
    "          [--format openmetrics|prom] [-o FILE]\n"
    "          write the selected series as OpenMetrics (ends with # EOF)\n"
    "  inspect [--no-head] DIR\n"
    "          blocks, tiers, WAL and head of a data directory\n"
    "  query   [--url URL] [--time T | --start T --end T [--step D]] PROMQL\n"
    "          run PromQL through a running sluiced and print a table\n"
    "\n"
    "DIR defaults to ./sluice-data, URL to http://127.0.0.1:8480. Times T are RFC3339,\n"
    "Unix seconds or \"now\". -v shows the store's info logs.\n";

int main(int argc, char **argv)
{
    sl_log_set_level(SL_LOG_WARN);
    int i = 1;
    if (i < argc && !strcmp(argv[i], "-v")) {
        sl_log_set_level(SL_LOG_INFO);
        i++;
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return SL_CLI_USAGE;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    if (!strcmp(cmd, "import"))
        return sl_cli_import(sub_argc, sub_argv);
    if (!strcmp(cmd, "export"))
        return sl_cli_export(sub_argc, sub_argv);
    if (!strcmp(cmd, "inspect"))
        return sl_cli_inspect(sub_argc, sub_argv);
    if (!strcmp(cmd, "query"))
        return sl_cli_query(sub_argc, sub_argv);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return SL_CLI_OK;
    }
    fprintf(stderr, "sluice: unknown command '%s'\n\n%s", cmd, usage);
    return SL_CLI_USAGE;
}
