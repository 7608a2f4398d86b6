/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tierplan.h
 * Internal to query/: answering range functions of a range query from a downsampled tier of
 * the source (source.h select_agg) instead of raw samples.
 *
 * THE RULE. A tier of resolution R holds, per series, buckets [b, b + R) (b a multiple of R)
 * with count, sum, min, max, last and incr (reset-adjusted increase, storage/tier.h). A call
 * f(sel[W] offset o) of a range query with start s, end e and step S is answered from the
 * coarsest tier R of the source for which all of these hold:
 *   1. it is not under a subquery, sel has no @ modifier, and its other arguments are none;
 *   2. R divides S and W, and s - o is a multiple of R: every window end E = t - o is then a
 *      bucket start and every window holds whole buckets;
 *   3. f is sum_over_time, count_over_time, min_over_time, max_over_time, last_over_time or
 *      avg_over_time (always), or rate or increase (only with SL_PQ_TIERS_COUNTERS);
 *   4. the tier's stored span covers at least half of the buckets the query reads (the rest
 *      would be computed from raw samples, which is no cheaper than the raw path);
 *   5. for the functions of 3 that need the window end (all but rate/increase), the source
 *      reads samples at many instants in one pass (select_at, as the store does), or the
 *      query has at most PQ_TIER_MAX_INSTANTS steps (see below);
 *   6. the tier holds at least PQ_TIER_MIN_DENSITY raw samples per bucket on average (when
 *      the source knows): a bucket is six values and every window end still needs its raw
 *      sample, so a tier of buckets not much wider than the sample interval costs more to
 *      read than raw (measured with 10 s samples, query_latency tier phase, once raw reads
 *      decoded straight into the evaluator's arrays: 5m buckets 21% slower than raw, 1h
 *      buckets 17% faster).
 * Otherwise the call reads raw samples exactly as before.
 *
 * Windows. Range selectors follow Prometheus 2.42: [E - W, E], closed at BOTH ends. The
 * buckets starting in [E - W, E) cover [E - W, E) exactly - a sample at E - W sits at the
 * start of the first bucket, inside - but the sample at E itself, if any, opens the bucket
 * [E, E + R), whose other samples are outside the window. No bucket can separate it, and
 * samples on bucket boundaries are the rule for aligned flushes (StatsD intervals, scrapes
 * at round times). So the window is answered as the buckets of [E - W, E) plus the raw
 * samples at exactly E, for all steps at once through the source's select_at (the store
 * decodes only the raw chunks holding some E, once), skipping the ends where no series has
 * a sample in the bucket starting at E. A source without select_at is asked one select at
 * [E, E] per step, each decoding a chunk, which is why rule 5 bounds the steps then.
 *   sum   = sum of bucket sums + v(E)     count = sum of counts + [v(E) exists]
 *   min/max over bucket min/max and v(E)  last  = v(E), else the last non-empty bucket's last
 *   avg   = sum / count
 * These equal the raw answer exactly for count, min, max and last; sum and avg add in a
 * different order (per bucket, then across buckets) and so can differ by float rounding
 * (never for integer-valued data below 2^53); avg_over_time in raw mode is an incremental
 * mean, so it too differs by rounding only. Tiers skip NaN samples: a series holding NaN
 * values that are not staleness markers (raw range selectors drop markers too) answers as
 * if those samples were absent - except a NaN exactly at a window end, which is read raw
 * when the bucket it opens holds a number too. Past raw retention only tier blocks remain: a raw query
 * finds nothing, a tier answer has no sample at E to add and so covers [E - W, E).
 *
 * rate and increase (SL_PQ_TIERS_COUNTERS only) are NOT Prometheus' extrapolated rate. From a
 * tier, increase(x[W]) at t is the sum of incr over the buckets of [E - W, E): the counter's
 * increase, resets adjusted (a drop counts as a restart from zero), from the last sample
 * before E - W to the last sample before E, with no extrapolation to the window edges;
 * rate is that divided by W in seconds. A series with a sample in the window answers (0 for
 * a series whose first sample is there). Consecutive windows with W = S tile the time line,
 * so their increases add up to the counter's total increase.
 *
 * Every call answered from a tier adds one warning to the result, naming the call, the tier
 * and which of the two meanings above applies.
 */
#ifndef SL_QUERY_TIERPLAN_H
#define SL_QUERY_TIERPLAN_H

#include "query/promql_pvt.h"

/* Beyond this many steps the raw reads at window ends cost more than reading raw. */
#define PQ_TIER_MAX_INSTANTS 64
/* Fewest raw samples per bucket for a tier to be worth reading (rule 6). */
#define PQ_TIER_MIN_DENSITY 64

/**
 * For a range query (ev->step > 0, ev->tiers != SL_PQ_TIERS_OFF), find the calls under
 * @root that the rule allows and compute their per-step results from the source's tier into
 * call->pre (as pq_func_precompute() would), adding a warning for each; their selectors are
 * then never loaded. Errors unwind through ev (pq_fail). Call after the caches are reset and
 * before the selectors are prepared.
 */
void pq_tier_plan(struct pq_ev *ev, struct pq_node *root);

#endif
