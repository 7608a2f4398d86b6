/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file hll.h
 * Distinct counting for StatsD sets: exact while small, HyperLogLog after.
 *
 * Up to SL_HLL_EXACT_MAX distinct 64-bit hashes are kept in a small open-addressing
 * array and counted exactly; past that the set converts to a dense HyperLogLog with
 * 2^precision 6-bit registers (stored one per byte), bias-corrected with linear counting
 * at the low end (Flajolet et al. 2007; Heule et al. 2013 for the small-range switch).
 * Standard error 1.04 / sqrt(2^precision): 1.6% at the default precision 12.
 * Inputs are already well-mixed hashes (XXH3 of the member string).
 * Thread: owned by one shard; no locking.
 */
#ifndef SL_HLL_H
#define SL_HLL_H

#include <stddef.h>
#include <stdint.h>

#define SL_HLL_PRECISION 12
#define SL_HLL_EXACT_MAX 128

struct sl_hll;

/** @return 0, -EINVAL (precision not in [4,18]), -ENOMEM. *@out OWNED. */
int sl_hll_create(uint8_t precision, struct sl_hll **out);
void sl_hll_destroy(struct sl_hll *h);
/** Forget all members, keeping memory. */
void sl_hll_reset(struct sl_hll *h);
/** Add one member hash. @return 0 or -ENOMEM (conversion to dense failed; h unchanged). */
int sl_hll_add(struct sl_hll *h, uint64_t hash);
/** Estimated distinct count (exact while in exact mode). */
double sl_hll_count(const struct sl_hll *h);
/** Fold @src into @dst. @return 0, -EINVAL (precision differs), -ENOMEM. */
int sl_hll_merge(struct sl_hll *dst, const struct sl_hll *src);
size_t sl_hll_memsize(const struct sl_hll *h);

#endif
