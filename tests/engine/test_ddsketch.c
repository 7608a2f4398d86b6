/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DDSketch: quantiles against exact order statistics for several distributions, exact
 * count/sum/min/max, weights, merge == union (bins and bytes), merge algebra, collapse,
 * encode/decode round trips and rejection of damaged bytes. Every generator is seeded.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"

TestSuite(ddsketch, .timeout = 10);

#define A SL_DDSKETCH_ALPHA
#define N 100000

static const double qs[] = {0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1};
#define NQ (sizeof qs / sizeof qs[0])

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) /* (0, 1) */
{
    return ((double)(splitmix(s) >> 11) + 0.5) * 0x1p-53;
}

static double gauss(uint64_t *s)
{
    return sqrt(-2 * log(unif(s))) * cos(2 * M_PI * unif(s));
}

enum dist { D_UNIFORM, D_EXP, D_LOGNORMAL, D_NORMAL, D_CONST, D_DECADES, D_NEG_DECADES };

static double draw(enum dist d, uint64_t *s)
{
    switch (d) {
    case D_UNIFORM:
        return 1000 * unif(s);
    case D_EXP:
        return -log(unif(s)) * 50;
    case D_LOGNORMAL:
        return exp(3 + 1.5 * gauss(s));
    case D_NORMAL:
        return 100 * gauss(s); /* about half negative */
    case D_CONST:
        return 42.5;
    case D_DECADES:
        return pow(10, -6 + 15 * unif(s)); /* 1e-6 .. 1e9 */
    case D_NEG_DECADES:
        return -pow(10, -3 + 9 * unif(s));
    }
    return 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The header's guarantee, plus rounding slack at bin edges (~1e-13 relative). */
static int within(double got, double want, double alpha)
{
    double tol = alpha * fabs(want) * (1 + 1e-9);
    if (fabs(want) < SL_DDSKETCH_MIN_INDEXABLE)
        tol = SL_DDSKETCH_MIN_INDEXABLE; /* the zero bucket reports 0 */
    return fabs(got - want) <= tol;
}

static double exact_q(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
}

static struct sl_ddsketch *mk(uint32_t max_bins)
{
    struct sl_ddsketch *s = NULL;
    cr_assert(eq(int, sl_ddsketch_create(A, max_bins, &s), 0));
    return s;
}

/* Encoded bytes, malloc'd; *len gets the size. */
static uint8_t *enc(const struct sl_ddsketch *s, size_t *len)
{
    int n = sl_ddsketch_encode(s, NULL, 0);
    cr_assert(gt(int, n, 0));
    uint8_t *b = malloc((size_t)n);
    cr_assert(eq(int, sl_ddsketch_encode(s, b, (size_t)n), n));
    *len = (size_t)n;
    return b;
}

static void assert_same_bytes(const struct sl_ddsketch *x, const struct sl_ddsketch *y)
{
    size_t nx, ny;
    uint8_t *bx = enc(x, &nx), *by = enc(y, &ny);
    cr_assert(eq(sz, nx, ny));
    cr_assert(eq(int, memcmp(bx, by, nx), 0));
    free(bx);
    free(by);
}

static void assert_same_quantiles(const struct sl_ddsketch *x, const struct sl_ddsketch *y)
{
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        double a = sl_ddsketch_quantile(x, q), b = sl_ddsketch_quantile(y, q);
        cr_assert(a == b || (isnan(a) && isnan(b)), "q=%g: %.17g != %.17g", q, a, b);
    }
}

/* ------------------------------------------------------------ accuracy */

struct dist_case {
    enum dist d;
    char name[16];
};

ParameterizedTestParameters(ddsketch, quantile_of_distribution_within_alpha_of_exact)
{
    static struct dist_case cases[] = {
        {D_UNIFORM, "uniform"},        {D_EXP, "exponential"}, {D_LOGNORMAL, "lognormal"},
        {D_NORMAL, "normal"},          {D_CONST, "constant"},  {D_DECADES, "decades"},
        {D_NEG_DECADES, "negdecades"},
    };
    return cr_make_param_array(struct dist_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct dist_case *c, ddsketch, quantile_of_distribution_within_alpha_of_exact)
{
    uint64_t seed = 12345 + (uint64_t)c->d;
    double *v = malloc(N * sizeof *v);
    struct sl_ddsketch *s = mk(SL_DDSKETCH_MAX_BINS);
    double sum = 0;
    for (size_t i = 0; i < N; i++) {
        v[i] = draw(c->d, &seed);
        sum += v[i];
        cr_assert(eq(int, sl_ddsketch_add(s, v[i], 1), 0));
    }
    qsort(v, N, sizeof *v, cmpd);
    for (size_t i = 0; i < NQ; i++) {
        double want = exact_q(v, N, qs[i]);
        double got = sl_ddsketch_quantile(s, qs[i]);
        cr_assert(within(got, want, A), "%s q=%g got %.17g want %.17g", c->name, qs[i], got, want);
    }
    cr_assert(eq(dbl, sl_ddsketch_quantile(s, 0), v[0]));
    cr_assert(eq(dbl, sl_ddsketch_quantile(s, 1), v[N - 1]));
    cr_assert(eq(dbl, sl_ddsketch_count(s), (double)N));
    cr_assert(eq(dbl, sl_ddsketch_sum(s), sum)); /* same addition order: bit-exact */
    cr_assert(eq(dbl, sl_ddsketch_min(s), v[0]));
    cr_assert(eq(dbl, sl_ddsketch_max(s), v[N - 1]));
    sl_ddsketch_destroy(s);
    free(v);
}

Test(ddsketch, quantile_at_every_percentile_within_alpha_for_lognormal)
{
    uint64_t seed = 99;
    enum { n = 20000 };
    static double v[n];
    struct sl_ddsketch *s = mk(SL_DDSKETCH_MAX_BINS);
    for (size_t i = 0; i < n; i++) {
        v[i] = draw(D_LOGNORMAL, &seed);
        sl_ddsketch_add(s, v[i], 1);
    }
    qsort(v, n, sizeof *v, cmpd);
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        double got = sl_ddsketch_quantile(s, q), want = exact_q(v, n, q);
        cr_assert(within(got, want, A), "q=%g got %.17g want %.17g", q, got, want);
    }
    sl_ddsketch_destroy(s);
}

Test(ddsketch, quantile_with_coarse_alpha_keeps_its_bound)
{
    struct sl_ddsketch *s = NULL;
    cr_assert(eq(int, sl_ddsketch_create(0.05, 512, &s), 0));
    uint64_t seed = 5;
    enum { n = 5000 };
    static double v[n];
    for (size_t i = 0; i < n; i++) {
        v[i] = draw(D_NORMAL, &seed);
        sl_ddsketch_add(s, v[i], 1);
    }
    qsort(v, n, sizeof *v, cmpd);
    for (size_t i = 0; i < NQ; i++)
        cr_assert(within(sl_ddsketch_quantile(s, qs[i]), exact_q(v, n, qs[i]), 0.05));
    sl_ddsketch_destroy(s);
}

Test(ddsketch, quantile_uses_lower_rank)
{
    struct sl_ddsketch *s = mk(SL_DDSKETCH_MAX_BINS);
    for (int i = 1; i <= 4; i++)
        sl_ddsketch_add(s, i * 100.0, 1);
    /* floor(q * 3): q=0.5 -> rank 1 -> 200, q=0.99 -> rank 2 -> 300. */
    cr_assert(within(sl_ddsketch_quantile(s, 0.5), 200, A));
    cr_assert(within(sl_ddsketch_quantile(s, 0.99), 300, A));
    cr_assert(within(sl_ddsketch_quantile(s, 0.34), 200, A));
    cr_assert(within(sl_ddsketch_quantile(s, 0.33), 100, A));
    sl_ddsketch_destroy(s);
}

Test(ddsketch, quantile_when_empty_or_q_out_of_range_returns_nan)
{
    struct sl_ddsketch *s = mk(64);
    cr_assert(isnan(sl_ddsketch_quantile(s, 0.5)));
    cr_assert(isnan(sl_ddsketch_min(s)));
    cr_assert(isnan(sl_ddsketch_max(s)));
    cr_assert(eq(dbl, sl_ddsketch_count(s), 0));
    sl_ddsketch_add(s, 1, 1);
    cr_assert(isnan(sl_ddsketch_quantile(s, -0.1)));
    cr_assert(isnan(sl_ddsketch_quantile(s, 1.1)));
    cr_assert(isnan(sl_ddsketch_quantile(s, NAN)));
    sl_ddsketch_destroy(s);
}

Test(ddsketch, add_zero_and_tiny_values_count_in_zero_bucket)
{
    struct sl_ddsketch *s = mk(64);
    sl_ddsketch_add(s, 0, 1);
    sl_ddsketch_add(s, 1e-12, 1);
    sl_ddsketch_add(s, -1e-12, 1);
    sl_ddsketch_add(s, 5, 3);
    /* count 6: q=0.5 -> rank 2 (zero bucket), q=0.99 -> rank 4 (the 5s). */
    cr_assert(eq(dbl, sl_ddsketch_quantile(s, 0.5), 0));
    cr_assert(within(sl_ddsketch_quantile(s, 0.99), 5, A));
    cr_assert(eq(dbl, sl_ddsketch_min(s), -1e-12));
    sl_ddsketch_destroy(s);
}

/* ------------------------------------------------------------ arguments */

Test(ddsketch, create_with_bad_arguments_returns_einval)
{
    struct sl_ddsketch *s = (struct sl_ddsketch *)0x1;
    cr_assert(eq(int, sl_ddsketch_create(0, 2048, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(1, 2048, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(-0.1, 2048, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(NAN, 2048, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(1e-9, 2048, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(0.01, 15, &s), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_create(0.01, (1u << 20) + 1, &s), -EINVAL));
    cr_assert(eq(ptr, s, (void *)0x1)); /* *out untouched on failure */
    cr_assert(eq(int, sl_ddsketch_create(0.01, 16, &s), 0));
    sl_ddsketch_destroy(s);
    sl_ddsketch_destroy(NULL);
}

Test(ddsketch, add_nan_inf_or_bad_weight_returns_einval_and_changes_nothing)
{
    struct sl_ddsketch *s = mk(64), *e = mk(64);
    sl_ddsketch_add(s, 3, 1);
    sl_ddsketch_add(e, 3, 1);
    cr_assert(eq(int, sl_ddsketch_add(s, NAN, 1), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, INFINITY, 1), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, -INFINITY, 1), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, 1, 0), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, 1, -1), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, 1, NAN), -EINVAL));
    cr_assert(eq(int, sl_ddsketch_add(s, 1, INFINITY), -EINVAL));
    assert_same_bytes(s, e);
    sl_ddsketch_destroy(s);
    sl_ddsketch_destroy(e);
}

Test(ddsketch, merge_with_different_alpha_returns_einval)
{
    struct sl_ddsketch *a = mk(64), *b = NULL;
    cr_assert(eq(int, sl_ddsketch_create(0.02, 64, &b), 0));
    sl_ddsketch_add(b, 1, 1);
    cr_assert(eq(int, sl_ddsketch_merge(a, b), -EINVAL));
    cr_assert(eq(dbl, sl_ddsketch_count(a), 0));
    sl_ddsketch_destroy(a);
    sl_ddsketch_destroy(b);
}

/* ------------------------------------------------------------ weights and stats */

Test(ddsketch, add_with_weight_ten_equals_ten_adds)
{
    struct sl_ddsketch *w = mk(SL_DDSKETCH_MAX_BINS), *u = mk(SL_DDSKETCH_MAX_BINS);
    uint64_t seed = 3;
    for (int i = 0; i < 1000; i++) {
        /* Integers keep the sums exact in either order. */
        double v = floor(draw(D_NORMAL, &seed) * 10);
        sl_ddsketch_add(w, v, 10);
        for (int k = 0; k < 10; k++)
            sl_ddsketch_add(u, v, 1);
    }
    cr_assert(eq(dbl, sl_ddsketch_count(w), 10000));
    assert_same_bytes(w, u);
    assert_same_quantiles(w, u);
    sl_ddsketch_destroy(w);
    sl_ddsketch_destroy(u);
}

Test(ddsketch, add_fractional_weights_tracks_exact_stats)
{
    struct sl_ddsketch *s = mk(SL_DDSKETCH_MAX_BINS);
    /* Sample rate 0.25 -> weight 4; 0.5 -> weight 2 (dyadic, so the sums are exact). */
    sl_ddsketch_add(s, 10, 4);
    sl_ddsketch_add(s, -2.5, 2);
    sl_ddsketch_add(s, 1000, 0.5);
    cr_assert(eq(dbl, sl_ddsketch_count(s), 6.5));
    cr_assert(eq(dbl, sl_ddsketch_sum(s), 40 - 5 + 500));
    cr_assert(eq(dbl, sl_ddsketch_min(s), -2.5));
    cr_assert(eq(dbl, sl_ddsketch_max(s), 1000));
    /* rank floor(0.5 * 5.5) = 2: cumulative weights -2.5:2, 10:6 -> 10. */
    cr_assert(within(sl_ddsketch_quantile(s, 0.5), 10, A));
    cr_assert(within(sl_ddsketch_quantile(s, 0.1), -2.5, A));
    sl_ddsketch_destroy(s);
}

/* ------------------------------------------------------------ merge */

/* Dyadic values (multiples of 2^-24, below 2^12) over ~11 decades with both signs and zeros: sums
 * stay exact in any order. */
static void fill(struct sl_ddsketch **out, size_t n, uint64_t seed, uint32_t max_bins,
                 struct sl_ddsketch *also)
{
    struct sl_ddsketch *s = mk(max_bins);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix(&seed);
        double v = ldexp((double)(r & 0xffff), (int)((r >> 20) % 21) - 24);
        if (r >> 63) v = -v;
        if ((r >> 40) % 50 == 0) v = 0;
        double w = (double)(1 + (r >> 50) % 3);
        cr_assert(eq(int, sl_ddsketch_add(s, v, w), 0));
        if (also) cr_assert(eq(int, sl_ddsketch_add(also, v, w), 0));
    }
    *out = s;
}

Test(ddsketch, merge_of_two_equals_sketch_of_union)
{
    uint32_t bins[] = {SL_DDSKETCH_MAX_BINS, 16};
    for (size_t b = 0; b < 2; b++) {
        struct sl_ddsketch *u = mk(bins[b]), *x, *y;
        fill(&x, 5000, 1, bins[b], u);
        fill(&y, 3000, 2, bins[b], u);
        cr_assert(eq(int, sl_ddsketch_merge(x, y), 0));
        assert_same_bytes(x, u);
        assert_same_quantiles(x, u);
        cr_assert(eq(dbl, sl_ddsketch_count(x), sl_ddsketch_count(u)));
        cr_assert(eq(dbl, sl_ddsketch_sum(x), sl_ddsketch_sum(u)));
        cr_assert(eq(dbl, sl_ddsketch_min(x), sl_ddsketch_min(u)));
        cr_assert(eq(dbl, sl_ddsketch_max(x), sl_ddsketch_max(u)));
        sl_ddsketch_destroy(x);
        sl_ddsketch_destroy(y);
        sl_ddsketch_destroy(u);
    }
}

Test(ddsketch, merge_into_empty_and_from_empty_is_identity)
{
    struct sl_ddsketch *e = mk(256), *x, *copy;
    fill(&x, 2000, 11, 256, NULL);
    fill(&copy, 2000, 11, 256, NULL);
    cr_assert(eq(int, sl_ddsketch_merge(x, e), 0));
    assert_same_bytes(x, copy);
    cr_assert(eq(int, sl_ddsketch_merge(e, x), 0));
    assert_same_bytes(e, copy);
    sl_ddsketch_destroy(e);
    sl_ddsketch_destroy(x);
    sl_ddsketch_destroy(copy);
}

Test(ddsketch, merge_with_itself_doubles_every_weight)
{
    struct sl_ddsketch *x = mk(SL_DDSKETCH_MAX_BINS), *twice = mk(SL_DDSKETCH_MAX_BINS);
    uint64_t seed = 8;
    for (int i = 0; i < 3000; i++) {
        double v = floor(draw(D_NORMAL, &seed));
        sl_ddsketch_add(x, v, 1);
        sl_ddsketch_add(twice, v, 2);
    }
    cr_assert(eq(int, sl_ddsketch_merge(x, x), 0));
    assert_same_bytes(x, twice);
    sl_ddsketch_destroy(x);
    sl_ddsketch_destroy(twice);
}

TheoryDataPoints(ddsketch, merge_is_associative_and_commutative) = {
    DataPoints(unsigned, 1, 77, 4242),
    DataPoints(unsigned, 2, 99),
    DataPoints(unsigned, 3, 1000),
    DataPoints(unsigned, 16, 100, 2048),
};

Theory((unsigned sa, unsigned sb, unsigned sc, unsigned max_bins), ddsketch,
       merge_is_associative_and_commutative)
{
    cr_assume(sa != sb && sb != sc && sa != sc);
    struct sl_ddsketch *a, *b, *c, *a2, *b2, *c2;
    fill(&a, 700, sa, max_bins, NULL);
    fill(&b, 500, sb, max_bins, NULL);
    fill(&c, 300, sc, max_bins, NULL);
    fill(&a2, 700, sa, max_bins, NULL);
    fill(&b2, 500, sb, max_bins, NULL);
    fill(&c2, 300, sc, max_bins, NULL);
    /* (a + b) + c  vs  a2 + (b2 + c2) */
    cr_assert(eq(int, sl_ddsketch_merge(a, b), 0));
    cr_assert(eq(int, sl_ddsketch_merge(a, c), 0));
    cr_assert(eq(int, sl_ddsketch_merge(b2, c2), 0));
    cr_assert(eq(int, sl_ddsketch_merge(a2, b2), 0));
    assert_same_bytes(a, a2);
    assert_same_quantiles(a, a2);
    /* c + (a + b + c)  vs  (a + b + c) + c: commutative */
    struct sl_ddsketch *c3;
    fill(&c3, 300, sc, max_bins, NULL);
    cr_assert(eq(int, sl_ddsketch_merge(c3, a), 0));
    cr_assert(eq(int, sl_ddsketch_merge(a2, c), 0));
    assert_same_bytes(c3, a2);
    sl_ddsketch_destroy(a);
    sl_ddsketch_destroy(b);
    sl_ddsketch_destroy(c);
    sl_ddsketch_destroy(a2);
    sl_ddsketch_destroy(b2);
    sl_ddsketch_destroy(c2);
    sl_ddsketch_destroy(c3);
}

/* ------------------------------------------------------------ collapse and memory */

Test(ddsketch, collapse_with_tiny_max_bins_keeps_high_quantiles_within_alpha)
{
    enum { n = 50000 };
    static double v[n];
    enum dist ds[] = {D_DECADES, D_NEG_DECADES};
    for (size_t k = 0; k < 2; k++) {
        struct sl_ddsketch *s = mk(64);
        uint64_t seed = 21 + k;
        for (size_t i = 0; i < n; i++) {
            v[i] = draw(ds[k], &seed);
            cr_assert(eq(int, sl_ddsketch_add(s, v[i], 1), 0));
        }
        qsort(v, n, sizeof *v, cmpd);
        /* 64 bins of 2% span a factor 3.6: the top ~4% (decades) are kept. */
        const double hi_q[] = {0.97, 0.99, 0.999, 1};
        for (size_t i = 0; i < 4; i++) {
            double got = sl_ddsketch_quantile(s, hi_q[i]), want = exact_q(v, n, hi_q[i]);
            cr_assert(within(got, want, A), "q=%g got %.17g want %.17g", hi_q[i], got, want);
        }
        cr_assert(eq(dbl, sl_ddsketch_min(s), v[0]));
        cr_assert(eq(dbl, sl_ddsketch_count(s), n));
        cr_assert(le(sz, sl_ddsketch_memsize(s), 1024 + 64 * sizeof(double)));
        /* The low quantiles are what collapsing gives up: still ordered, never below min. */
        cr_assert(ge(dbl, sl_ddsketch_quantile(s, 0.01), v[0]));
        sl_ddsketch_destroy(s);
    }
}

Test(ddsketch, add_far_apart_values_grows_and_keeps_every_bin)
{
    struct sl_ddsketch *s = mk(SL_DDSKETCH_MAX_BINS);
    size_t m0 = sl_ddsketch_memsize(s);
    /* Alternate ends so the array has to re-centre and grow on both sides. */
    double vals[] = {1, 1e6, 1e-3, 3e7, 2e-5, 1e-8, 5e8};
    double sorted[7];
    for (size_t i = 0; i < 7; i++) {
        cr_assert(eq(int, sl_ddsketch_add(s, vals[i], 1), 0));
        sorted[i] = vals[i];
    }
    qsort(sorted, 7, sizeof(double), cmpd);
    for (int i = 0; i < 7; i++) {
        double q = i / 6.0;
        cr_assert(within(sl_ddsketch_quantile(s, q), sorted[i], A), "i=%d", i);
    }
    cr_assert(gt(sz, sl_ddsketch_memsize(s), m0));
    sl_ddsketch_destroy(s);
}

Test(ddsketch, reset_empties_and_keeps_memory)
{
    struct sl_ddsketch *s, *fresh = mk(256);
    fill(&s, 5000, 4, 256, NULL);
    size_t m = sl_ddsketch_memsize(s);
    sl_ddsketch_reset(s);
    cr_assert(eq(sz, sl_ddsketch_memsize(s), m));
    cr_assert(eq(dbl, sl_ddsketch_count(s), 0));
    cr_assert(isnan(sl_ddsketch_quantile(s, 0.5)));
    assert_same_bytes(s, fresh);
    /* And it is fully usable again. */
    struct sl_ddsketch *again;
    fill(&again, 1000, 5, 256, s);
    assert_same_bytes(s, again);
    sl_ddsketch_destroy(s);
    sl_ddsketch_destroy(fresh);
    sl_ddsketch_destroy(again);
}

/* ------------------------------------------------------------ encoding */

static void roundtrip(const struct sl_ddsketch *s)
{
    size_t n;
    uint8_t *b = enc(s, &n);
    struct sl_ddsketch *d = NULL;
    cr_assert(eq(int, sl_ddsketch_decode(b, n, &d), 0));
    assert_same_bytes(s, d);
    assert_same_quantiles(s, d);
    cr_assert(eq(dbl, sl_ddsketch_count(s), sl_ddsketch_count(d)));
    cr_assert(eq(dbl, sl_ddsketch_sum(s), sl_ddsketch_sum(d)));
    if (sl_ddsketch_count(s) > 0) {
        cr_assert(eq(dbl, sl_ddsketch_min(s), sl_ddsketch_min(d)));
        cr_assert(eq(dbl, sl_ddsketch_max(s), sl_ddsketch_max(d)));
    }
    /* A decoded sketch keeps working: adding to it matches adding to the original. */
    struct sl_ddsketch *d2 = NULL;
    cr_assert(eq(int, sl_ddsketch_decode(b, n, &d2), 0));
    cr_assert(eq(int, sl_ddsketch_add(d2, 123.0, 1), 0));
    cr_assert(eq(int, sl_ddsketch_add(d2, -1e5, 1), 0));
    cr_assert(eq(int, sl_ddsketch_merge(d, d2), 0));
    free(b);
    sl_ddsketch_destroy(d);
    sl_ddsketch_destroy(d2);
}

TheoryDataPoints(ddsketch, encode_then_decode_gives_same_sketch) = {
    DataPoints(unsigned, 0, 1, 2, 5000),
    DataPoints(unsigned, 16, 2048),
    DataPoints(int, 0, 1),
};

Theory((unsigned n, unsigned max_bins, int fractional), ddsketch,
       encode_then_decode_gives_same_sketch)
{
    struct sl_ddsketch *s;
    fill(&s, n, n + max_bins, max_bins, NULL);
    if (fractional)
        sl_ddsketch_add(s, 17, 1.0 / 3); /* forces the f64 count form for the positives */
    roundtrip(s);
    sl_ddsketch_destroy(s);
}

Test(ddsketch, encode_zero_only_and_huge_values_round_trip)
{
    struct sl_ddsketch *s = mk(64);
    sl_ddsketch_add(s, 0, 3);
    roundtrip(s);
    sl_ddsketch_add(s, 1.7e308, 1);
    sl_ddsketch_add(s, -1.7e308, 1);
    sl_ddsketch_add(s, 1e-9, 1); /* 317 decades: the positive store collapses to 64 bins */
    roundtrip(s);
    cr_assert(eq(dbl, sl_ddsketch_quantile(s, 1), 1.7e308));
    sl_ddsketch_destroy(s);

    s = mk(SL_DDSKETCH_MAX_BINS);
    sl_ddsketch_add(s, 1e-9, 1e16); /* a count above 2^53 takes the f64 form */
    sl_ddsketch_add(s, 1000, 1);
    roundtrip(s);
    cr_assert(within(sl_ddsketch_quantile(s, 0.99999), 1e-9, A));
    cr_assert(eq(dbl, sl_ddsketch_quantile(s, 1), 1000));
    sl_ddsketch_destroy(s);
}

Test(ddsketch, encode_with_small_cap_returns_enospc)
{
    struct sl_ddsketch *s;
    fill(&s, 100, 1, 256, NULL);
    int n = sl_ddsketch_encode(s, NULL, 0);
    uint8_t *b = malloc((size_t)n);
    cr_assert(eq(int, sl_ddsketch_encode(s, b, (size_t)n - 1), -ENOSPC));
    cr_assert(eq(int, sl_ddsketch_encode(s, b, 1), -ENOSPC));
    free(b);
    sl_ddsketch_destroy(s);
}

Test(ddsketch, decode_every_truncation_returns_corrupt)
{
    struct sl_ddsketch *s;
    fill(&s, 3000, 9, SL_DDSKETCH_MAX_BINS, NULL);
    sl_ddsketch_add(s, 2, 0.75);
    size_t n;
    uint8_t *b = enc(s, &n);
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size, so ASan sees any over-read */
        memcpy(cut, b, len);
        struct sl_ddsketch *d = (struct sl_ddsketch *)0x1;
        cr_assert(eq(int, sl_ddsketch_decode(cut, len, &d), SL_E_CORRUPT), "len=%zu", len);
        cr_assert(eq(ptr, d, (void *)0x1));
        free(cut);
    }
    /* One trailing byte is corrupt too. */
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    struct sl_ddsketch *d;
    cr_assert(eq(int, sl_ddsketch_decode(longer, n + 1, &d), SL_E_CORRUPT));
    free(longer);
    free(b);
    sl_ddsketch_destroy(s);
}

Test(ddsketch, decode_unknown_version_returns_version_error)
{
    struct sl_ddsketch *s = mk(64);
    sl_ddsketch_add(s, 1, 1);
    size_t n;
    uint8_t *b = enc(s, &n);
    struct sl_ddsketch *d;
    b[0] = 2;
    cr_assert(eq(int, sl_ddsketch_decode(b, n, &d), SL_E_VERSION));
    b[0] = 0;
    cr_assert(eq(int, sl_ddsketch_decode(b, n, &d), SL_E_VERSION));
    free(b);
    sl_ddsketch_destroy(s);
}

static void assert_monotone(const struct sl_ddsketch *d)
{
    double prev = -INFINITY;
    for (int i = 0; i <= 200; i++) {
        double v = sl_ddsketch_quantile(d, i / 200.0);
        cr_assert(eq(int, isnan(v) ? 1 : 0, 0));
        cr_assert(ge(dbl, v, prev));
        prev = v;
    }
}

Test(ddsketch, decode_every_bit_flip_errors_or_yields_a_canonical_sketch)
{
    struct sl_ddsketch *s;
    fill(&s, 400, 13, 128, NULL);
    size_t n;
    uint8_t *b = enc(s, &n);
    uint8_t *f = malloc(n);
    int rejected = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(f, b, n);
            f[i] ^= (uint8_t)(1u << bit);
            struct sl_ddsketch *d = NULL;
            int rc = sl_ddsketch_decode(f, n, &d);
            if (i == 0) cr_assert(eq(int, rc, SL_E_VERSION));
            if (i == 1 && bit >= 4) cr_assert(eq(int, rc, SL_E_CORRUPT)); /* reserved flag bits */
            if (rc) {
                cr_assert(rc == SL_E_CORRUPT || rc == SL_E_VERSION, "rc=%d", rc);
                rejected++;
                continue;
            }
            /* A flip can land on a value (a count, the sum): then the result must still be
             * a well-formed sketch whose bytes are exactly the input. */
            size_t m;
            uint8_t *again = enc(d, &m);
            cr_assert(eq(sz, m, n));
            cr_assert(eq(int, memcmp(again, f, n), 0));
            assert_monotone(d);
            free(again);
            sl_ddsketch_destroy(d);
        }
    }
    cr_assert(gt(int, rejected, 12));
    free(f);
    free(b);
    sl_ddsketch_destroy(s);
}

Test(ddsketch, decode_handcrafted_bad_fields_returns_corrupt)
{
    struct sl_ddsketch *d;
    /* version 1, flags 0 (empty), alpha 0.01, max_bins 2048: valid. */
    uint8_t ok[] = {1, 0, 0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x84, 0x3f, 0x80, 0x10};
    cr_assert(eq(int, sl_ddsketch_decode(ok, sizeof ok, &d), 0));
    cr_assert(eq(dbl, sl_ddsketch_count(d), 0));
    sl_ddsketch_destroy(d);

    uint8_t bad[sizeof ok];
    memcpy(bad, ok, sizeof ok);
    bad[1] = 0x10; /* reserved flag bit */
    cr_assert(eq(int, sl_ddsketch_decode(bad, sizeof bad, &d), SL_E_CORRUPT));
    memcpy(bad, ok, sizeof ok);
    bad[1] = 0x04; /* a store without the non-empty flag */
    cr_assert(eq(int, sl_ddsketch_decode(bad, sizeof bad, &d), SL_E_CORRUPT));
    memcpy(bad, ok, sizeof ok);
    bad[9] = 0x40; /* alpha 0.01 -> ~32: invalid */
    cr_assert(eq(int, sl_ddsketch_decode(bad, sizeof bad, &d), SL_E_CORRUPT));
    memcpy(bad, ok, sizeof ok);
    bad[10] = 0x0f; /* max_bins 15 */
    bad[11] = 0x00;
    cr_assert(eq(int, sl_ddsketch_decode(bad, sizeof bad - 1, &d), SL_E_CORRUPT));
    /* overlong varint for max_bins: 0x80 0x90 0x00 */
    uint8_t over[] = {1, 0, 0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x84, 0x3f, 0x80, 0x90, 0x00};
    cr_assert(eq(int, sl_ddsketch_decode(over, sizeof over, &d), SL_E_CORRUPT));
}
