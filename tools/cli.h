/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file cli.h
 * The `sluice` command-line tool: one entry point per subcommand (cli_import.c,
 * cli_export.c, cli_inspect.c, cli_query.c) and the helpers they share (sluice.c). Each
 * subcommand gets argv with its own name in argv[0], prints what went wrong on stderr
 * prefixed with "sluice <command>: " and returns the process exit status:
 *   0 success; 1 failure (the message says what was and was not done); 2 bad usage;
 *   3 (import only) finished, but bad input lines were skipped.
 * Thread: the CLI is single-threaded.
 */
#ifndef SL_TOOLS_CLI_H
#define SL_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

enum { SL_CLI_OK = 0, SL_CLI_FAIL = 1, SL_CLI_USAGE = 2, SL_CLI_PARTIAL = 3 };

int sl_cli_import(int argc, char **argv);
int sl_cli_export(int argc, char **argv);
int sl_cli_inspect(int argc, char **argv);
int sl_cli_query(int argc, char **argv);

/** Print "sluice <cmd>: <message>\n" on stderr. */
void sl_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Open the store in @dir for command @cmd with sluice's defaults, turning every failure into
 * one message that names the directory or file and what to do: missing directory (unless
 * @create), not a directory, permission denied, in use by a running sluiced (-EBUSY on
 * <dir>/LOCK), foreign format version, and anything else with its errno text.
 * @param ooo_window_ms out-of-order window (imports backfill, so they widen it); 0 = default.
 * @param[out] out OWNED; sl_store_close().
 * @return 0 or the store's error code (already reported).
 */
int sl_cli_open_store(const char *cmd, const char *dir, int create, int64_t ooo_window_ms,
                      struct sl_store **out);

/** "2026-11-28T04:21:31.123Z" (milliseconds shown only when non-zero) into @buf. */
const char *sl_cli_rfc3339(int64_t ms, char *buf, size_t len);

/** Parse a time the way the Prometheus API takes one: RFC3339 or Unix seconds, or "now".
 *  @return 0 or -EINVAL. */
int sl_cli_parse_time(const char *s, int64_t *ms);

/** Current wall-clock time in ms, and a monotonic clock in seconds. */
int64_t sl_cli_now_ms(void);
double sl_cli_mono_s(void);

#endif
