/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file clock.h
 * Time helpers: wall-clock milliseconds for sample timestamps and flush alignment,
 * monotonic nanoseconds for durations. Thread: any.
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sl_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t sl_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/** First multiple of @interval_ms strictly after @now_ms: flushes land on wall-clock
 *  boundaries (…:00, :10, :20 for 10 s), so every shard and every node agree on them. */
static inline int64_t sl_clock_next_boundary(int64_t now_ms, int64_t interval_ms)
{
    return (now_ms / interval_ms + 1) * interval_ms;
}

/**
 * Parse a duration "250ms", "10s", "1m", "1h30m", "2d" or plain seconds "10".
 * @return 0 with *ms set, -EINVAL on anything else (including 0 and overflow).
 */
int sl_clock_parse_duration(const char *s, int64_t *ms);

#endif
