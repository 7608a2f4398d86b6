/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: level filter, timestamp, one write(2) per line. The level is a relaxed atomic:
 * it changes only at start-up or on an admin request, and a stale read merely logs one
 * line more or less.
 */
#include "engine/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = SL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_set_level(enum sl_log_level lvl)
{
    atomic_store_explicit(&log_level, (int)lvl, memory_order_relaxed);
}

int sl_log_enabled(enum sl_log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int sl_log_parse_level(const char *s, enum sl_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum sl_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

__attribute__((format(printf, 3, 0))) static void log_write(enum sl_log_level lvl, uint64_t suppressed,
                                                        const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 32, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + ((size_t)m < sizeof line - (size_t)n - 32 ? (size_t)m
                                                                        : sizeof line - (size_t)n - 33);
    if (suppressed)
        len += (size_t)snprintf(line + len, sizeof line - len, " suppressed=%llu",
                                (unsigned long long)suppressed);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}

void sl_log(enum sl_log_level lvl, const char *fmt, ...)
{
    if (!sl_log_enabled(lvl))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_write(lvl, 0, fmt, ap);
    va_end(ap);
}

void sl_log_every(struct sl_log_limit *lim, int interval_ms, enum sl_log_level lvl,
                  const char *fmt, ...)
{
    if (!sl_log_enabled(lvl))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t next = atomic_load_explicit(&lim->next_ns, memory_order_relaxed);
    /* Relaxed is enough: the CAS only elects which thread writes this interval's line. */
    if (now < next || !atomic_compare_exchange_strong_explicit(
                          &lim->next_ns, &next, now + (int64_t)interval_ms * 1000000,
                          memory_order_relaxed, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&lim->suppressed, 1, memory_order_relaxed);
        return;
    }
    uint64_t sup = atomic_exchange_explicit(&lim->suppressed, 0, memory_order_relaxed);
    va_list ap;
    va_start(ap, fmt);
    log_write(lvl, sup, fmt, ap);
    va_end(ap);
}
