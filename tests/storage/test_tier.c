/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Downsampling arithmetic. The property: building a tier from the tier below gives the same
 * buckets as building it from raw samples (exactly, on integer-valued data), across counter
 * resets, gaps, NaN staleness markers and negative timestamps.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/theories.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "storage/tier.h"

TestSuite(tier, .timeout = 10);

static void gen(int64_t *t, double *v, size_t n, unsigned seed, int counter)
{
    srand(seed);
    int64_t ts = -3600000 + (rand() % 1000);
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        ts += 1 + rand() % (rand() % 20 == 0 ? 900000 : 15000); /* occasional gaps */
        t[i] = ts;
        if (counter) {
            x += rand() % 100;
            if (rand() % 200 == 0)
                x = rand() % 10; /* reset */
        } else {
            x = (double)(rand() % 2001 - 1000);
        }
        v[i] = rand() % 97 == 0 ? NAN : x;
    }
}

static void same(const struct sl_agg *a, size_t na, const struct sl_agg *b, size_t nb)
{
    cr_assert(eq(sz, na, nb));
    for (size_t i = 0; i < na; i++) {
        cr_assert(eq(i64, a[i].t, b[i].t));
        cr_assert(eq(dbl, a[i].count, b[i].count));
        cr_assert(eq(dbl, a[i].sum, b[i].sum));
        cr_assert(eq(dbl, a[i].min, b[i].min));
        cr_assert(eq(dbl, a[i].max, b[i].max));
        cr_assert(eq(dbl, a[i].last, b[i].last));
        cr_assert(eq(dbl, a[i].incr, b[i].incr), "bucket %zu", i);
    }
}

TheoryDataPoints(tier, tier_from_tier_below_equals_tier_from_raw) = {
    DataPoints(unsigned, 1, 2, 3, 4, 5, 6, 7, 8),
    DataPoints(int, 0, 1),
};

Theory((unsigned seed, int counter), tier, tier_from_tier_below_equals_tier_from_raw)
{
    enum { N = 20000 };
    int64_t *t = malloc(N * sizeof *t);
    double *v = malloc(N * sizeof *v);
    gen(t, v, N, seed, counter);
    static const int64_t res[] = {60000, 300000, 3600000, 86400000};
    struct sl_agg *below = malloc(N * sizeof *below), *raw = malloc(N * sizeof *raw),
                  *up = malloc(N * sizeof *up);
    double prev = 5;
    size_t nb = sl_agg_from_raw(t, v, N, res[0], &prev, below);
    for (int k = 1; k < 4; k++) {
        size_t nr = sl_agg_from_raw(t, v, N, res[k], &prev, raw);
        size_t nu = sl_agg_from_aggs(below, nb, res[k], up);
        same(raw, nr, up, nu);
        memcpy(below, up, nu * sizeof *up);
        nb = nu;
    }
    free(t);
    free(v);
    free(below);
    free(raw);
    free(up);
}

Test(tier, counter_reset_counts_value_after_reset)
{
    int64_t t[] = {0, 10000, 20000, 30000, 70000};
    double v[] = {10, 15, 3, 8, 20};
    struct sl_agg a[5];
    size_t n = sl_agg_from_raw(t, v, 5, 60000, NULL, a);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(dbl, a[0].incr, 5 + 3 + 5)); /* 10->15, reset to 3, 3->8 */
    cr_assert(eq(dbl, a[0].count, 4));
    cr_assert(eq(dbl, a[0].last, 8));
    cr_assert(eq(dbl, a[0].min, 3));
    cr_assert(eq(dbl, a[0].max, 15));
    cr_assert(eq(dbl, a[1].incr, 12)); /* bridged from the previous bucket */
    cr_assert(eq(i64, a[1].t, 60000));
}

Test(tier, nan_samples_are_skipped)
{
    int64_t t[] = {0, 1000, 2000};
    double v[] = {NAN, 4, NAN};
    struct sl_agg a[3];
    cr_assert(eq(sz, sl_agg_from_raw(t, v, 3, 60000, NULL, a), 1));
    cr_assert(eq(dbl, a[0].count, 1));
    cr_assert(eq(dbl, a[0].incr, 0));
    cr_assert(eq(sz, sl_agg_from_raw(t, v, 1, 60000, NULL, a), 0));
}

Test(tier, bucket_of_negative_time_floors)
{
    cr_assert(eq(i64, sl_agg_bucket(-1, 60000), -60000));
    cr_assert(eq(i64, sl_agg_bucket(-60000, 60000), -60000));
    cr_assert(eq(i64, sl_agg_bucket(59999, 60000), 0));
}
