/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Downsampling arithmetic (see tier.h for the rules). Kept apart from the store so the
 * property "tier from the tier below == tier from raw" is tested on the functions alone.
 */
#include "storage/tier.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"

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

void sl_sketch_enc_free(struct sl_sketch_enc *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].enc);
    free(v);
}

/* Encode @acc as bucket @t into out[*o]. */
static int sketch_emit(const struct sl_ddsketch *acc, int64_t t, struct sl_sketch_enc *out,
                       size_t *o)
{
    int need = sl_ddsketch_encode(acc, NULL, 0);
    if (need < 0)
        return need;
    uint8_t *b = malloc((size_t)need);
    if (!b)
        return -ENOMEM;
    int len = sl_ddsketch_encode(acc, b, (size_t)need);
    if (len < 0) {
        free(b);
        return len;
    }
    out[*o] = (struct sl_sketch_enc){t, b, (uint32_t)len};
    (*o)++;
    return 0;
}

int sl_sketch_from_sketches(const struct sl_sketch_ref *in, size_t n, int64_t res,
                            struct sl_sketch_enc **out)
{
    *out = NULL;
    if (res <= 0)
        return -EINVAL;
    if (n == 0)
        return 0;
    struct sl_sketch_enc *v = malloc(n * sizeof *v);
    if (!v)
        return -ENOMEM;
    /* Accumulate into a sketch decoded from the bucket's first input: it carries that
     * input's alpha and max_bins, so a bucket of one sketch re-encodes to the same bytes. */
    struct sl_ddsketch *acc = NULL;
    int64_t cur = 0;
    size_t o = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t b = sl_agg_bucket(in[i].t, res);
        if (acc && b != cur) {
            rc = sketch_emit(acc, cur, v, &o);
            sl_ddsketch_destroy(acc);
            acc = NULL;
            if (rc)
                break;
        }
        struct sl_ddsketch *x;
        if ((rc = sl_ddsketch_decode(in[i].enc, in[i].len, &x)))
            break;
        if (!acc) {
            acc = x;
            cur = b;
            continue;
        }
        rc = sl_ddsketch_merge(acc, x);
        sl_ddsketch_destroy(x);
    }
    if (!rc && acc)
        rc = sketch_emit(acc, cur, v, &o);
    sl_ddsketch_destroy(acc);
    if (rc) {
        sl_sketch_enc_free(v, o);
        return rc;
    }
    *out = v;
    return (int)o;
}
