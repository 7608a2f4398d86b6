/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for sl_ddsketch_decode(). Arbitrary bytes must either be refused with
 * SL_E_CORRUPT / SL_E_VERSION, or decode to a sketch that:
 *   - re-encodes to exactly the input (the decoder accepts canonical encodings only),
 *   - re-encodes identically again after a second decode, with the same count/sum/min/max,
 *   - answers quantiles that are monotone in q, lie in [min, max], and hit min/max at 0/1,
 *   - keeps working: add() and merge() succeed and keep the quantiles monotone.
 * A violated invariant aborts, which libFuzzer and the replay driver both report.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_ddsketch_decode: %s:%d: %s\n", __FILE__, __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint8_t *encode(const struct sl_ddsketch *s, size_t *len)
{
    int n = sl_ddsketch_encode(s, NULL, 0);
    CHECK(n > 0);
    uint8_t *b = malloc((size_t)n);
    CHECK(b != NULL);
    CHECK(sl_ddsketch_encode(s, b, (size_t)n) == n);
    *len = (size_t)n;
    return b;
}

static void check_quantiles(const struct sl_ddsketch *s)
{
    double lo = sl_ddsketch_min(s), hi = sl_ddsketch_max(s);
    if (!(sl_ddsketch_count(s) > 0)) {
        CHECK(isnan(sl_ddsketch_quantile(s, 0.5)));
        return;
    }
    CHECK(sl_ddsketch_quantile(s, 0) == lo);
    CHECK(sl_ddsketch_quantile(s, 1) == hi);
    double prev = -INFINITY;
    for (int i = 0; i <= 256; i++) {
        double v = sl_ddsketch_quantile(s, i / 256.0);
        CHECK(!isnan(v));
        CHECK(v >= prev);
        CHECK(v >= lo && v <= hi);
        prev = v;
    }
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_ddsketch *s = NULL;
    int rc = sl_ddsketch_decode(data, size, &s);
    if (rc) {
        CHECK(rc == SL_E_CORRUPT || rc == SL_E_VERSION || rc == -ENOMEM);
        return 0;
    }
    size_t n1;
    uint8_t *e1 = encode(s, &n1);
    CHECK(n1 == size && memcmp(e1, data, size) == 0);

    struct sl_ddsketch *s2 = NULL;
    CHECK(sl_ddsketch_decode(e1, n1, &s2) == 0);
    size_t n2;
    uint8_t *e2 = encode(s2, &n2);
    CHECK(n2 == n1 && memcmp(e1, e2, n1) == 0);
    CHECK(same_bits(sl_ddsketch_count(s), sl_ddsketch_count(s2)));
    CHECK(same_bits(sl_ddsketch_sum(s), sl_ddsketch_sum(s2)));
    CHECK(same_bits(sl_ddsketch_min(s), sl_ddsketch_min(s2)));
    CHECK(same_bits(sl_ddsketch_max(s), sl_ddsketch_max(s2)));
    check_quantiles(s);

    /* The decoded sketch is a live one: growing and merging must respect the same rules. */
    /* -ENOMEM is allowed (a fine alpha with many bins may ask for megabytes) and must leave
     * the sketch as it was, so the quantile checks hold either way. */
    rc = sl_ddsketch_add(s2, 1.5, 1);
    CHECK(rc == 0 || rc == -ENOMEM);
    rc = sl_ddsketch_add(s2, -3e5, 2);
    CHECK(rc == 0 || rc == -ENOMEM);
    check_quantiles(s2);
    rc = sl_ddsketch_merge(s2, s);
    CHECK(rc == 0 || rc == -ENOMEM);
    check_quantiles(s2);

    free(e1);
    free(e2);
    sl_ddsketch_destroy(s);
    sl_ddsketch_destroy(s2);
    return 0;
}
