/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file series.h
 * A shard's series table: open addressing with linear probing over (id, pointer) slots,
 * each pointing at a heap record that holds the series' aggregation state and its key
 * inline. Lookup touches the slot array (16 B per slot, huge-page backed where the kernel
 * allows, so 100k series stay within a few TLB entries) and then the one record.
 *
 * Ids are XXH3 hashes and are not trusted to be unique: a slot whose id matches is only a
 * hit if the record's key bytes match too; otherwise probing continues and the event is
 * counted as a collision. Both colliding series live side by side.
 *
 * Memory: a counter series costs one slot (16 B / load factor 0.7 ≈ 23 B) plus its record
 * (48 B + key) plus malloc's header: ~130 B for a 40-byte key. Records are allocated when
 * a series is created and freed when it expires — never on the per-sample path.
 *
 * Thread: owned by one shard; no locking.
 */
#ifndef SL_SERIES_H
#define SL_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ddsketch.h"
#include "engine/hll.h"

struct sl_shard_series {
    uint64_t id;
    uint16_t key_len;
    uint8_t mtype;   /* enum sl_metric_type */
    uint8_t updated; /* data arrived in the current interval */
    uint16_t idle;   /* consecutive flushed intervals without data */
    uint16_t _pad;
    union {
        struct {
            double interval, total;
        } counter;
        struct {
            double value;
        } gauge;
        struct {
            struct sl_ddsketch *sk; /* OWNED */
            double total_count, total_sum;
        } timer;
        struct {
            struct sl_hll *hll; /* OWNED */
        } set;
    };
    char key[]; /* key_len bytes */
};

struct sl_series_slot {
    uint64_t id;
    struct sl_shard_series *s; /* NULL = empty */
};

struct sl_series_table {
    struct sl_series_slot *slots; /* OWNED; mask + 1 entries */
    uint32_t mask;
    uint32_t used;
    uint32_t limit;      /* most series this table accepts; 0 = unlimited */
    uint64_t collisions; /* distinct keys seen sharing an id */
};

/** @return 0, -EINVAL, -ENOMEM. @initial is rounded up to a power of two. */
int sl_series_table_init(struct sl_series_table *t, uint32_t initial, uint32_t limit);
/** Free every record (and its sketch/HLL) and the slots. */
void sl_series_table_fini(struct sl_series_table *t);

/** Find the series with this id and key. @return BORROWED pointer or NULL. */
struct sl_shard_series *sl_series_find(struct sl_series_table *t, uint64_t id, const char *key,
                                 uint16_t key_len);

/**
 * Find or create. A created series has zeroed state and, for timers and sets, a fresh
 * sketch/HLL. @return BORROWED pointer valid until the series is removed;
 * NULL with *@rc = SL_E_LIMIT (limit reached) or -ENOMEM. *@created says which.
 */
struct sl_shard_series *sl_series_upsert(struct sl_series_table *t, uint64_t id, const char *key,
                                   uint16_t key_len, uint8_t mtype, int *created, int *rc);

/** Remove and free @s (which must be in @t). Slot order of other series may change. */
void sl_series_remove(struct sl_series_table *t, struct sl_shard_series *s);
/** Remove @s from @t without freeing it: the caller frees it later with sl_series_free()
 *  (a shard keeps it readable until no route hint to it can still be on a ring).
 *  @return 1, or 0 when @s was not in @t (nothing changed). */
int sl_series_unlink(struct sl_series_table *t, struct sl_shard_series *s);
/** Free a series record (and its sketch/HLL) that is in no table. */
void sl_series_free(struct sl_shard_series *s);

/** Prefetch the slot @id probes first: called a few records ahead to hide the miss. */
static inline void sl_series_prefetch(const struct sl_series_table *t, uint64_t id)
{
    __builtin_prefetch(&t->slots[id & t->mask]);
}

/** Heap bytes held by @s (record + sketch/HLL), for the memory self-metric. */
size_t sl_series_memsize(const struct sl_shard_series *s);

#endif
