/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file statsd_keycache.h
 * Per-ingest-thread cache from a StatsD metric line's raw identity to its canonical series
 * key and id, so a series seen before skips name escaping, tag splitting, label sorting,
 * key building and the XXH3 of the key.
 *
 * The raw identity of a metric line is (metric type, name bytes, tag bytes) exactly as
 * sent: sl_statsd_build_key() depends on nothing else for a metric line, so two lines with
 * equal raw identities have equal keys. The cache compares the raw bytes on every hit (the
 * hash only picks the slot), so a hash collision can never hand back another series' key.
 * Lines whose tags are sent in another order are different raw identities: each gets its
 * own slot and both map to the same canonical key.
 *
 * Layout: 2-way sets of fixed 192-byte slots allocated once at create, so a lookup
 * allocates nothing. An identity lives in its home set or, when that was full, in a spill
 * set picked by other hash bits: the home set is prefetched and holds most identities, and
 * the spill set lifts the hit ratio at 100k series in 2^17 entries from 71% to 91%.
 * Replacement ages entries: a hit marks its way, a miss takes an empty way or one whose
 * mark has run out (home set first), and otherwise only ages the four ways and does not
 * insert. A working set larger than the cache (many series sent round-robin) then keeps
 * the entries it holds hitting instead of evicting each one just before its next use, as
 * plain LRU would; a series that stops being sent ages out after a few misses.
 *
 * Thread: a cache belongs to one thread (the feeder's); nothing here locks.
 */
#ifndef SL_STATSD_KEYCACHE_H
#define SL_STATSD_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/statsd.h"

/** Default largest number of entries: 2^18, 48 MiB of slots at most. A cache starts at
 *  2^14 entries (3 MiB) and grows only while its series do not fit (see create). */
#define SL_STATSD_KEYCACHE_DEFAULT (1u << 18)
/** Most slots a cache may have: a slot number is a route request's 24-bit route word. */
#define SL_STATSD_KEYCACHE_MAX (1u << 24)
/** Raw name + raw tags + canonical key bytes that fit in one slot; longer lines bypass. */
#define SL_STATSD_KEYCACHE_DATA 150

/**
 * What the feeder keeps per cached identity so its records can name their series to the
 * shard directly (engine/shard.h, "Route hints"). Zeroed whenever the slot takes another
 * identity or moves (growth), so a route only ever describes the slot's current identity.
 *
 * @epoch is one word for three states, so the per-line test is a single compare:
 *   0                      nothing asked for this identity yet (or the request was lost);
 *   SL_STATSD_ROUTE_ASKED  a request went out and no reply was taken since;
 *   anything else          @hint is valid while the shard is in this epoch (shard epochs
 *                          start at 1 and are never 0 or SL_STATSD_ROUTE_ASKED in practice:
 *                          the latter would take 2^32 expiring flushes).
 */
struct sl_statsd_route {
    void *hint;     /* the shard's series record; meaningful only as above */
    uint32_t epoch;
    uint32_t stamp; /* this entry's, unique among the cache's entries: a reply carries it */
};
#define SL_STATSD_ROUTE_ASKED UINT32_MAX

struct sl_statsd_keycache;

/** How sl_statsd_keycache_key() found the key. */
enum sl_statsd_keycache_outcome {
    SL_STATSD_KEYCACHE_HIT = 1, /* raw identity matched a slot: no key was built */
    SL_STATSD_KEYCACHE_MISS,    /* built; inserted unless both ways were recently hit */
    SL_STATSD_KEYCACHE_BYPASS,  /* built; too long to cache, or not a metric line */
};

/**
 * Allocate a cache of at most @entries slots (a power of two, 2 .. 2^24). It starts at
 * 2^14 slots (or @entries if smaller) and doubles, moving its entries, when over 65,536
 * lookups more than 2% built their key while more than half the slots were in use: a few
 * thousand series keep a 3 MiB table, 100k series grow it to 2^18.
 * @param[out] out  Owned by the caller; free with sl_statsd_keycache_destroy().
 * @return 0, -EINVAL for a bad @entries, -ENOMEM. On failure *out is untouched.
 */
int sl_statsd_keycache_create(uint32_t entries, struct sl_statsd_keycache **out);

/** Slots the cache has now (it grows up to the @entries given to create). */
uint32_t sl_statsd_keycache_entries(const struct sl_statsd_keycache *c);

/** Free @c. NULL does nothing. */
void sl_statsd_keycache_destroy(struct sl_statsd_keycache *c);

/**
 * Hash @line's raw identity and prefetch its set, so the lookup a few lines later finds
 * it in cache: a 24 MiB table is missed on nearly every line, and a feeder that parses a
 * few lines ahead overlaps those misses (as the shard does for its series table).
 * @return the hash to pass to sl_statsd_keycache_key(), or 0 when the line is not
 *         cacheable (not a metric, or too long). Reads @c only.
 */
uint64_t sl_statsd_keycache_prefetch(const struct sl_statsd_keycache *c,
                                     const struct sl_statsd_line *line);

/**
 * Canonical key and id of a parsed line, from the cache when its raw identity is there.
 * The result is byte-for-byte what sl_statsd_build_key() and sl_key_hash() give.
 * @param line        a line sl_statsd_parse_line() accepted (events and service checks
 *                    are built every time and reported as BYPASS)
 * @param hash        what sl_statsd_keycache_prefetch() returned for @line, or 0 to hash
 *                    it here
 * @param scratch     SL_KEY_MAX bytes the key is built into on a miss
 * @param[out] key    BORROWED: points into @scratch or into the cache; valid until the next
 *                    call on @c
 * @param[out] id     sl_key_hash() of the key
 * @param tag_errors  incremented by the tags the key skipped, as sl_statsd_build_key does
 *                    (replayed on a hit); may be NULL
 * @param[out] outcome  enum sl_statsd_keycache_outcome; may be NULL
 * @param[out] route  BORROWED: the slot's route when the identity is in the cache after
 *                    the call (a hit, or a miss that was inserted), else NULL; valid until
 *                    the next call on @c.
 * @return key length > 0, or the negative reason sl_statsd_build_key() returns (nothing
 *         is cached then).
 */
int sl_statsd_keycache_key(struct sl_statsd_keycache *c, const struct sl_statsd_line *line,
                           uint64_t hash, char *scratch, const char **key, uint64_t *id,
                           uint32_t *tag_errors, int *outcome, struct sl_statsd_route **route);

/** The slot number of @route (from sl_statsd_keycache_key): the route word of a request. */
uint32_t sl_statsd_keycache_slot_of(const struct sl_statsd_keycache *c,
                                    const struct sl_statsd_route *route);

/**
 * Take a shard's reply: slot @slot gets @hint issued in @epoch, if it still holds the
 * entry that asked (same @stamp and series id @id, and its request went out: route epoch
 * not 0). Anything else (the slot took another entry, the table grew) ignores the reply.
 * @return 1 if taken, else 0.
 */
int sl_statsd_keycache_set_route(struct sl_statsd_keycache *c, uint32_t slot, uint64_t id,
                                 uint32_t stamp, void *hint, uint32_t epoch);

#endif
