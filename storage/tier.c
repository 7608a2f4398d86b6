/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Downsampling arithmetic (see tier.h for the rules). Kept apart from the store so the
 * property "tier from the tier below == tier from raw" is tested on the functions alone.
 */
#include "storage/tier.h"

#include <math.h>

size_t sl_agg_from_raw(const int64_t *t, const double *v, size_t n, int64_t res,
                       const double *prev, struct sl_agg *out)
{
    size_t o = 0;
    int have_prev = prev != NULL && !isnan(*prev);
    double pv = have_prev ? *prev : 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i]))
            continue;
        int64_t b = sl_agg_bucket(t[i], res);
        if (o == 0 || out[o - 1].t != b) {
            out[o] = (struct sl_agg){b, 0, 0, v[i], v[i], v[i], 0};
            o++;
        }
        struct sl_agg *a = &out[o - 1];
        a->count += 1;
        a->sum += v[i];
        if (v[i] < a->min)
            a->min = v[i];
        if (v[i] > a->max)
            a->max = v[i];
        a->last = v[i];
        if (have_prev)
            a->incr += v[i] >= pv ? v[i] - pv : v[i];
        pv = v[i];
        have_prev = 1;
    }
    return o;
}

size_t sl_agg_from_aggs(const struct sl_agg *in, size_t n, int64_t res, struct sl_agg *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t b = sl_agg_bucket(in[i].t, res);
        if (o == 0 || out[o - 1].t != b) {
            out[o] = in[i];
            out[o].t = b;
            o++;
            continue;
        }
        struct sl_agg *a = &out[o - 1];
        a->count += in[i].count;
        a->sum += in[i].sum;
        if (in[i].min < a->min)
            a->min = in[i].min;
        if (in[i].max > a->max)
            a->max = in[i].max;
        a->last = in[i].last;
        a->incr += in[i].incr;
    }
    return o;
}
