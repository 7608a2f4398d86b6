/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file ddsketch.h
 * Mergeable relative-error quantile sketch (DDSketch, Masson et al., VLDB 2019) for timers,
 * histograms and distributions.
 *
 * Guarantee: for alpha = SL_DDSKETCH_ALPHA (1%), any quantile q returned is within
 * alpha * |x_q| of the exact value x_q of the rank-q element (lower rank definition:
 * x_q is the element of rank floor(q * (count - 1)) in sorted order), as long as no bins
 * were collapsed. Bins are logarithmic, index = ceil(log_gamma(|v|)), gamma = (1+a)/(1-a).
 * Positive and negative values have separate stores; |v| < SL_DDSKETCH_MIN_INDEXABLE
 * counts as zero. When a store exceeds max_bins, its lowest bins collapse into one, so the
 * bound keeps holding for the upper quantiles (the ones people ask for). For the negative
 * store "lowest" means the most negative values (its highest |v| bins), for the same reason.
 * count, sum, min and max are tracked exactly alongside the bins.
 *
 * Merging: merge(A, B) yields the same bins (and so the same quantiles) as a sketch fed
 * the union of both inputs, provided both use the same alpha.
 *
 * Memory: bins grow on demand (amortised realloc, never per value once warm).
 * Thread: a sketch belongs to one thread (its shard); no internal locking.
 */
#ifndef SL_DDSKETCH_H
#define SL_DDSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define SL_DDSKETCH_ALPHA 0.01
#define SL_DDSKETCH_MAX_BINS 2048
#define SL_DDSKETCH_MIN_INDEXABLE 1e-9

struct sl_ddsketch;

/**
 * @return 0, -EINVAL (alpha not in (0,1) or max_bins < 16; also alpha below 1e-6, whose
 *         bin indices would overflow 32 bits, and max_bins above 2^20, 8 MiB per store),
 *         -ENOMEM. *@out OWNED.
 */
int sl_ddsketch_create(double alpha, uint32_t max_bins, struct sl_ddsketch **out);
void sl_ddsketch_destroy(struct sl_ddsketch *s);
/** Empty the sketch, keeping its memory. */
void sl_ddsketch_reset(struct sl_ddsketch *s);

/**
 * Add @v with @weight (> 0; 1/sample_rate for sampled timers). NaN and ±Inf are refused.
 * @return 0, -EINVAL (NaN/Inf value, weight <= 0 or not finite), -ENOMEM (bins could not
 *         grow; the sketch is unchanged).
 */
int sl_ddsketch_add(struct sl_ddsketch *s, double v, double weight);
/** Fold @src into @dst. @return 0, -EINVAL (different alpha), -ENOMEM (dst unchanged). */
int sl_ddsketch_merge(struct sl_ddsketch *dst, const struct sl_ddsketch *src);

/** Value at quantile @q in [0,1]; NaN when empty or q outside [0,1]. q=0 returns min, q=1 max. */
double sl_ddsketch_quantile(const struct sl_ddsketch *s, double q);
double sl_ddsketch_count(const struct sl_ddsketch *s); /* total weight */
double sl_ddsketch_sum(const struct sl_ddsketch *s);
double sl_ddsketch_min(const struct sl_ddsketch *s); /* NaN when empty */
double sl_ddsketch_max(const struct sl_ddsketch *s); /* NaN when empty */
/** Bytes the sketch holds on the heap, for the memory self-metric. */
size_t sl_ddsketch_memsize(const struct sl_ddsketch *s);

/**
 * Serialise into @buf (little-endian, versioned, self-describing; documented in the .c).
 * @return bytes written, or -ENOSPC when @cap is too small. With @cap 0 (@buf may be NULL)
 *         nothing is written and the return value is the size needed.
 */
int sl_ddsketch_encode(const struct sl_ddsketch *s, uint8_t *buf, size_t cap);
/** Rebuild from sl_ddsketch_encode() output. @return 0, SL_E_CORRUPT, SL_E_VERSION, -ENOMEM. */
int sl_ddsketch_decode(const uint8_t *buf, size_t len, struct sl_ddsketch **out);

#endif
