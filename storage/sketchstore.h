/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file sketchstore.h
 * Internal to storage/: the sketch head, the mutable in-memory part of the store's quantile
 * sketches. Timer series reach the store twice: as expanded float samples (head.h) and as
 * the DDSketch of each flush interval (engine/ddsketch.h), kept here in encoded form, keyed
 * by the timer's own canonical key (kind SL_METRIC_TIMER), one sketch per flush timestamp.
 *
 * Why encoded bytes and not live sketches: a live sketch holds its bin arrays (16 KiB when
 * it grew to max_bins), the encoding a few hundred bytes; the head is only read to copy
 * sketches out (queries) or write them to a block (cut), both of which want the bytes.
 *
 * Appends are two-phase like the sample head: sl_skhead_prepare() finds or creates the
 * series and reserves room (may fail, changes nothing visible), sl_skhead_commit() inserts
 * and cannot fail. A repeated timestamp replaces the older sketch (last write wins).
 * Thread: the store serialises writers and takes its rwlock around every change; readers
 * copy under the read lock.
 */
#ifndef SL_SKETCHSTORE_H
#define SL_SKETCHSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/keymap.h"

struct sl_skhead_series {
    char *key;
    uint32_t keylen;
    uint32_t n, cap;
    uint32_t pending; /* sketches reserved by prepare, not yet committed */
    uint64_t hash;
    int64_t *t;      /* strictly increasing */
    uint8_t **enc;   /* OWNED encodings (sl_ddsketch_encode) */
    uint32_t *len;
};

struct sl_skhead {
    struct sl_skhead_series *s;
    size_t n, cap;
    struct sl_keymap map;
    uint64_t nsketches;
    uint64_t bytes; /* encoded bytes held */
    int64_t maxt;   /* newest timestamp ever appended; INT64_MIN when empty */
};

void sl_skhead_init(struct sl_skhead *h);
void sl_skhead_fini(struct sl_skhead *h);

/**
 * Resolve the series of @key (creating an empty one) into *@idx and reserve room for one
 * sketch. @return 0 or -ENOMEM (nothing reserved).
 */
int sl_skhead_prepare(struct sl_skhead *h, const char *key, uint32_t len, uint32_t *idx);
/**
 * Insert the sketch encoded in @enc (@len bytes; TRANSFERRED: the head frees it) at @t into
 * series @idx; room must have been reserved.
 */
void sl_skhead_commit(struct sl_skhead *h, uint32_t idx, int64_t t, uint8_t *enc, uint32_t len);
/** Drop every reservation (after a failed WAL write). */
void sl_skhead_unreserve(struct sl_skhead *h);

/** Series of @key, or NULL. BORROWED until the next change. */
const struct sl_skhead_series *sl_skhead_find(const struct sl_skhead *h, const char *key,
                                              size_t len);
/** Index of the first sketch >= @t in @s. */
size_t sl_skhead_lower(const struct sl_skhead_series *s, int64_t t);
/** Remove sketches of @key in [mint, maxt]. @return sketches removed. */
size_t sl_skhead_delete(struct sl_skhead *h, const char *key, size_t len, int64_t mint,
                        int64_t maxt);
/** Oldest timestamp held, INT64_MAX when empty (O(series)). */
int64_t sl_skhead_mint(const struct sl_skhead *h);
/** Remove sketches in [mint, maxt] from every series and forget series left empty. */
int sl_skhead_drop_range(struct sl_skhead *h, int64_t mint, int64_t maxt);

#endif
