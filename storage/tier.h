/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tier.h
 * Downsampling arithmetic: per-bucket aggregates of a series, from raw samples or from the
 * buckets of a finer tier. Pure functions; the store decides when to build tier blocks.
 *
 * A bucket of width R starting at t (t a multiple of R) keeps, over the samples with
 * t <= ts < t + R: count, sum, min, max, last (value of the latest sample) and incr, the
 * counter increase adjusted for resets: each sample adds v - prev when v >= prev, else v
 * (the counter restarted from zero), where prev is the sample before it, possibly in an
 * earlier bucket. Summing incr over buckets therefore gives exactly the increase over the
 * whole range, which is what keeps rate() and increase() correct on every tier.
 * NaN samples (staleness markers included) are not measurements and are skipped.
 *
 * Merging buckets (count, sum, incr add; min, max combine; last takes the latest) is
 * exact for min, max, last and count, and for sum and incr whenever the additions are exact
 * (integer-valued data below 2^53); otherwise it differs from raw only by float rounding.
 * Timer series also keep, per bucket, the merged DDSketch (engine/ddsketch.h) of every
 * flush interval in it. DDSketch merging adds bin counts, so a bucket merged from the
 * buckets of a finer tier has exactly the bins of one merged from the raw interval
 * sketches; count, min and max are exact too and sum follows the rule above.
 * Thread: any.
 */
#ifndef SL_TIER_H
#define SL_TIER_H

#include <stddef.h>
#include <stdint.h>

#define SL_AGG_COLS 6 /* count, sum, min, max, last, incr: the value columns of a tier chunk */

struct sl_agg {
    int64_t t; /* bucket start, a multiple of the resolution */
    double count, sum, min, max, last, incr;
};

/** Bucket start of @t at resolution @res (floor division, correct for negative t). */
static inline int64_t sl_agg_bucket(int64_t t, int64_t res)
{
    int64_t q = t / res;
    if (t % res < 0)
        q--;
    return q * res;
}

/**
 * Aggregate @n raw samples (sorted by time) into buckets of @res ms.
 * @param prev  value of the sample just before t[0] (the bridge for incr), or NULL.
 * @param out   room for @n buckets (there are never more buckets than samples).
 * @return number of buckets written (0 when every sample is NaN).
 */
size_t sl_agg_from_raw(const int64_t *t, const double *v, size_t n, int64_t res,
                       const double *prev, struct sl_agg *out);

/**
 * Merge @n buckets of a finer tier (sorted) into buckets of @res ms (a multiple of theirs).
 * @param out room for @n buckets. @return number written.
 */
size_t sl_agg_from_aggs(const struct sl_agg *in, size_t n, int64_t res, struct sl_agg *out);

/** One encoded sketch (sl_ddsketch_encode) at time @t; @enc BORROWED. */
struct sl_sketch_ref {
    int64_t t;
    const uint8_t *enc;
    uint32_t len;
};

/** One merged sketch of a bucket; @enc OWNED (sl_sketch_enc_free). */
struct sl_sketch_enc {
    int64_t t; /* bucket start */
    uint8_t *enc;
    uint32_t len;
};

/**
 * Merge @n encoded sketches (sorted by t, interval sketches or the buckets of a finer tier)
 * into one sketch per bucket of @res ms (> 0).
 * @param[out] out OWNED array of the buckets in time order, NULL when none;
 *                 sl_sketch_enc_free(*out, count).
 * @return number of buckets, SL_E_CORRUPT or SL_E_VERSION (an input does not decode),
 *         -EINVAL (inputs of different alpha, res <= 0), -ENOMEM.
 */
int sl_sketch_from_sketches(const struct sl_sketch_ref *in, size_t n, int64_t res,
                            struct sl_sketch_enc **out);

/** Free @n buckets and the array. NULL is a no-op. */
void sl_sketch_enc_free(struct sl_sketch_enc *v, size_t n);

#endif
