/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file log.h
 * Levelled key=value logging to stderr. One line per call, written with a single write(2)
 * so lines from different threads never interleave. sl_log_every() rate-limits a call site
 * to one line per interval and reports how many were suppressed: every dropped event has a
 * counter, but never a log line per event (brubeck log_splunk). Thread: any.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/** Set the minimum level written; default SL_LOG_INFO. Control plane only. */
void sl_log_set_level(enum sl_log_level lvl);
/** Parse "debug|info|warn|error"; returns 0 or -EINVAL. */
int sl_log_parse_level(const char *s, enum sl_log_level *out);
int sl_log_enabled(enum sl_log_level lvl);

void sl_log(enum sl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Per-call-site rate limiter state; zero-initialised static storage is ready to use. */
struct sl_log_limit {
    _Atomic int64_t next_ns;
    _Atomic uint64_t suppressed;
};

/**
 * Log at most once per @interval_ms for @lim; suppressed calls are counted and the count is
 * appended (suppressed=N) to the next line that is written.
 */
void sl_log_every(struct sl_log_limit *lim, int interval_ms, enum sl_log_level lvl,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define SL_DEBUG(...) (sl_log_enabled(SL_LOG_DEBUG) ? sl_log(SL_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_ERROR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
