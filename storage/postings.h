/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file postings.h
 * Internal to storage/: the head's postings index. For every label name, and every value
 * it takes in the head, the sorted list of head series ordinals that carry that pair (the
 * metric name is the label `__name__`). It answers a set of label matchers with the sorted
 * ordinals of the matching series without looking at every series, the way Prometheus'
 * PostingsForMatchers does: the lists of the matchers that do not accept the empty value
 * are intersected first (smallest first), then the matchers that do accept "" (`!=`, `!~`,
 * `=""`, regexes matching "") take away the series whose value they reject. A regex is
 * evaluated once per distinct value of its label, never per series, except when fewer
 * candidate series remain than the label has values: then the candidates' own values are
 * checked, which is cheaper.
 *
 * The head assigns ordinals densely in creation order, so a new series always has the
 * largest ordinal and sl_postings_add() appends to the end of each list: lists stay sorted
 * without a search. When the head forgets series it renumbers the rest keeping their order,
 * and sl_postings_remap() rewrites every list in place with the same mapping (it cannot fail;
 * values and names left without series are removed).
 *
 * Empty label values are never indexed: a canonical key (engine/key.h) has none, and an
 * empty metric name is the same as an absent one for every matcher.
 *
 * Thread: not thread-safe. The head's owner serialises changes (the store's rwlock held for
 * writing) against lookups (the read lock), so a reader sees the index and the series array
 * of one moment.
 */
#ifndef SL_POSTINGS_H
#define SL_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "storage/match.h"

/** Open-addressing table of entry indices (fields private to postings.c). */
struct sl_postings__tab {
    uint32_t *slot; /* entry index, UINT32_MAX empty */
    size_t cap;     /* power of two, or 0 */
};

struct sl_postings__name; /* one label name: its values and their lists */

/** The index. Embed it and sl_postings_init() it; fields are private to postings.c. */
struct sl_postings {
    struct sl_postings__name *_names;
    size_t _n, _cap;
    struct sl_postings__tab _tab;
};

/** Key of series @id, BORROWED until the index changes; used to check few candidates. */
typedef const char *sl_postings_key_fn(void *ctx, uint32_t id, size_t *len);

void sl_postings_init(struct sl_postings *p);
/** Free everything; @p is left initialised and empty. */
void sl_postings_fini(struct sl_postings *p);

/**
 * Index series @id with canonical key @key (BORROWED for the call; the index copies the
 * strings it keeps). @id must be larger than every id already indexed.
 * @return 0, or -ENOMEM with the index unchanged (as far as lookups can tell).
 */
int sl_postings_add(struct sl_postings *p, uint32_t id, const char *key, size_t len);

/** Undo the last sl_postings_add() of @id with the same @key (the head's rollback). */
void sl_postings_undo_add(struct sl_postings *p, uint32_t id, const char *key, size_t len);

/**
 * Renumber after the head dropped series: @map[old] is the new ordinal, or UINT32_MAX for a
 * dropped series; it must keep the order of the survivors. Every indexed id must be < @n.
 * Cannot fail.
 */
void sl_postings_remap(struct sl_postings *p, const uint32_t *map, size_t n);

/**
 * Ordinals, ascending, of the series among [0, @nseries) that satisfy every matcher of @ms.
 * @param keyfn,ctx give a series' key, for checking a few candidates directly.
 * @param[out] ids OWNED by the caller (free()); NULL when *n is 0.
 * @return 0 or -ENOMEM.
 */
int sl_postings_select(const struct sl_postings *p, const struct sl_matchers *ms, size_t nseries,
                       sl_postings_key_fn *keyfn, void *ctx, uint32_t **ids, size_t *n);

/** Number of distinct values of label @name (0 when absent); for tests and planning. */
size_t sl_postings_nvalues(const struct sl_postings *p, const char *name);

/** Check the invariants (sorted lists, no empty entries, tables consistent). @return 1 ok. */
int sl_postings_check(const struct sl_postings *p);

#endif
