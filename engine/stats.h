/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file stats.h
 * Self-metric counters. Each counter has exactly one writer thread, which bumps it with a
 * relaxed load + relaxed store (a plain add, no locked instruction); readers on other threads
 * load it relaxed and sum across threads. A reader may see a value a few increments old,
 * never a torn one, which is all a counter scraped every few seconds needs.
 */
#ifndef SL_STATS_H
#define SL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t sl_counter;

/** Add @n to @c. Thread: the counter's one writer. */
static inline void sl_stat_add(sl_counter *c, uint64_t n)
{
    /* Relaxed: single writer, so load+store cannot lose an update; readers tolerate staleness. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/** Set a gauge-like counter (e.g. active series). Thread: its one writer. */
static inline void sl_stat_set(sl_counter *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

/** Read @c. Thread: any. */
static inline uint64_t sl_stat_get(const sl_counter *c)
{
    /* Relaxed: an approximate, monotonic-per-writer value is all a scrape needs. */
    return atomic_load_explicit((sl_counter *)c, memory_order_relaxed);
}

#endif
