/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file head.h
 * Internal to storage/: the head, the mutable in-memory part of the store. Per series, two
 * sorted columns (timestamps, values). In-order samples append; out-of-order ones are
 * inserted at their place (a binary search and a memmove, O(n) in the series length, which
 * is fine for the occasional backfill; imports should come in time order per series); a
 * repeated timestamp overwrites.
 *
 * Appends are two-phase so that a batch never half-applies: sl_head_prepare() finds or
 * creates each sample's series and reserves room (this may fail with -ENOMEM and changes
 * nothing visible), then, after the WAL write, sl_head_commit() inserts the samples and
 * cannot fail. Thread: the store serialises writers and takes its rwlock around every call
 * that changes the series array or columns; readers copy under the read lock.
 *
 * Series are matched through a postings index (storage/postings.h) kept in step with the
 * series array: a new series is indexed when prepare creates it, and when the head forgets
 * series (cut, delete) the survivors keep their order and the index is renumbered in place.
 */
#ifndef SL_HEAD_H
#define SL_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "storage/keymap.h"
#include "storage/match.h"
#include "storage/postings.h"

struct sl_head_series {
    char *key;
    uint32_t keylen;
    uint32_t n, cap;
    uint32_t pending; /* samples reserved by prepare, not yet committed */
    uint64_t hash;
    int64_t *t;
    double *v;
};

struct sl_head {
    struct sl_head_series *s;
    size_t n, cap;
    struct sl_keymap map;
    struct sl_postings post; /* label pairs -> ordinals in s[] */
    uint64_t nsamples;
    int64_t maxt; /* newest timestamp ever appended; INT64_MIN when empty */
};

void sl_head_init(struct sl_head *h);
void sl_head_fini(struct sl_head *h);

/**
 * Resolve the series of each of @n keys (creating empty ones) into @idx[0..n) and reserve
 * room for their samples. @return 0 or -ENOMEM (already created series stay, empty).
 */
int sl_head_prepare(struct sl_head *h, const char *const *keys, const uint32_t *lens, size_t n,
                    size_t stride, uint32_t *idx);
/** Insert sample (t, v) into series @idx; room must have been reserved. */
void sl_head_commit(struct sl_head *h, uint32_t idx, int64_t t, double v);
/** Drop every reservation (after a failed WAL write). */
void sl_head_unreserve(struct sl_head *h, const uint32_t *idx, size_t n);

/** Remove samples of @key in [mint, maxt]. @return samples removed. */
size_t sl_head_delete(struct sl_head *h, const char *key, size_t len, int64_t mint, int64_t maxt);

/** Oldest timestamp in the head, INT64_MAX when empty (O(series)). */
int64_t sl_head_mint(const struct sl_head *h);

/**
 * Remove samples in [mint, maxt] from every series and forget series left empty.
 * @return 0, or -ENOMEM with the samples removed but the empty series kept (invisible).
 */
int sl_head_drop_range(struct sl_head *h, int64_t mint, int64_t maxt);

/**
 * Forget series without samples or reservations; the others keep their relative order.
 * @return 0, or -ENOMEM with nothing changed.
 */
int sl_head_forget_empty(struct sl_head *h);

/**
 * Ordinals (ascending) of the series whose keys satisfy @ms, from the postings index; they
 * may include series without samples in the caller's range, or without samples at all.
 * @param[out] ids OWNED (free()), NULL when *n is 0. @return 0 or -ENOMEM.
 * Thread: under the store's read lock.
 */
int sl_head_match(const struct sl_head *h, const struct sl_matchers *ms, uint32_t **ids,
                  size_t *n);

/** Index of the first sample >= @t in series @s. */
size_t sl_head_lower(const struct sl_head_series *s, int64_t t);

#endif
