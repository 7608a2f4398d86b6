/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

TestSuite(buf, .timeout = 30);

struct fmt_case {
    double v;
    char want[32]; /* inline: Criterion may run each case in a fresh process image */
};

/* Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints. */
static struct fmt_case cases[] = {
    {0, "0"},          {1, "1"},           {10, "10"},           {-2.5, "-2.5"},
    {100000, "100000"}, {1e6, "1e+06"},    {1234567, "1.234567e+06"}, {0.0001, "0.0001"},
    {0.00001, "1e-05"}, {0.1, "0.1"},      {1.0 / 3, "0.3333333333333333"},
    {123456.5, "123456.5"}, {1e21, "1e+21"}, {5e-324, "5e-324"},
    {0.1 + 0.2, "0.30000000000000004"}, {-0.0, "-0"}, {999999, "999999"},
    {-123.25, "-123.25"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
    {2.5e-5, "2.5e-05"}, {0.000123, "0.000123"}, {12345678.9, "1.23456789e+07"},
    {-7, "-7"},        {-999999, "-999999"}, {42, "42"},      {-1e6, "-1e+06"},
};

ParameterizedTestParameters(buf, put_double_matches_go_shortest_g)
{
    return cr_make_param_array(struct fmt_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct fmt_case *c, buf, put_double_matches_go_shortest_g)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_put_double(&b, c->v);
    cr_assert(eq(str, b.data, c->want), "value %.17g", c->v);
    sl_buf_fini(&b);
}

Test(buf, put_double_special_values_use_prometheus_spelling)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_put_double(&b, NAN);
    sl_buf_putc(&b, ' ');
    sl_buf_put_double(&b, INFINITY);
    sl_buf_putc(&b, ' ');
    sl_buf_put_double(&b, -INFINITY);
    cr_assert(eq(str, b.data, "NaN +Inf -Inf"));
    sl_buf_fini(&b);
}

Test(buf, printf_longer_than_stack_buffer_is_complete)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_printf(&b, "%0300d", 7);
    cr_assert(eq(sz, b.len, 300));
    cr_assert(eq(chr, b.data[299], '7'));
    char *p = sl_buf_steal(&b, NULL);
    cr_assert(eq(ptr, b.data, NULL));
    free(p);
}

/* Against a brute-force shortest search over many random doubles: same text. */
Test(buf, put_double_equals_bruteforce_shortest_on_random_values)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 50000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 3 == 0)
            v = (double)(int64_t)(x % 2000000) / 100.0; /* short decimals */
        else {
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                continue;
        }
        char want[48];
        int prec = 1;
        for (; prec <= 17; prec++) {
            snprintf(want, sizeof want, "%.*e", prec - 1, v);
            if (strtod(want, NULL) == v)
                break;
        }
        struct sl_buf b = SL_BUF_INIT;
        sl_buf_put_double(&b, v);
        if (strtod(b.data, NULL) != v)
            cr_fatal("%s does not read back as %.17g", b.data, v);
        /* same number of significant digits as the brute-force shortest */
        int nd = 0, seen = 0;
        const char *p = b.data;
        for (; *p && *p != 'e'; p++) {
            if (*p >= '1' && *p <= '9')
                seen = 1;
            if (*p >= '0' && *p <= '9' && seen)
                nd++;
        }
        const char *q = b.data + strlen(b.data);
        if (!strchr(b.data, 'e') && strchr(b.data, '.') == NULL)
            while (q > b.data && q[-1] == '0' && nd > 1)
                q--, nd--;
        cr_assert(le(int, nd, prec), "%s has %d digits, shortest is %d", b.data, nd, prec);
        sl_buf_fini(&b);
    }
}

/* Brute force: the fewest printf digits that read back, trailing zeros dropped. */
static int brute_digits(double v, char *d, int *exp10)
{
    char m[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(m, sizeof m, "%.*e", prec - 1, fabs(v));
        if (strtod(m, NULL) == fabs(v))
            break;
    }
    int n = 0;
    const char *p = m;
    for (; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            d[n++] = *p;
    while (n > 1 && d[n - 1] == '0')
        n--;
    d[n] = 0;
    *exp10 = atoi(p + 1);
    return n;
}

static void check_digits(double v)
{
    char got[18], want[48];
    int ge, we;
    int gn = sl_shortest_digits(v, got, &ge);
    int wn = brute_digits(v, want, &we);
    if (gn != wn || ge != we || strcmp(got, want))
        cr_fatal("%.17g: got %s e%d, want %s e%d", v, got, ge, want, we);
}

/* The integer path covers [1e-6, 2^53); its edges, powers of two (lopsided rounding
 * intervals), decades and values whose 17th digit is a tie-prone 5. */
Test(buf, shortest_digits_equal_bruteforce_on_edges)
{
    static const double v[] = {
        1e-6, 9.99999e-7, 1.0000000000000002e-6, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 0.5, 0.25,
        1, 2, 3, 7, 10, 1e15, 1e16, 9007199254740991.0, 9007199254740992.0,
        9007199254740990.0, 4503599627370496.0, 4503599627370497.0, 123456789012345.67,
        999999999999999.9, 9.999999999999999e14, 0.30000000000000004, 1.7976931348623157e308,
        5e-324, 2.2250738585072014e-308, 1e21, 1e22, 1e23, 123.456, 0.000123456, 1.5, 2.5,
        0.1 + 0.7, 1e-5, 3.0517578125e-05, 9.5367431640625e-07, 0.95367431640625,
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        check_digits(v[i]);
        check_digits(-v[i]);
    }
    for (int e = -30; e <= 60; e++) {
        double p = ldexp(1, e);
        check_digits(p);
        check_digits(nextafter(p, 0));
        check_digits(nextafter(p, INFINITY));
    }
    for (int e = -7; e <= 16; e++) { /* around each decade */
        double p = pow(10, e);
        check_digits(p);
        check_digits(nextafter(p, 0));
        check_digits(nextafter(p, INFINITY));
    }
}

/* Uniform in the exponent over the integer path's range and just outside it. */
Test(buf, shortest_digits_equal_bruteforce_on_random_values)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* mantissa from x, binary exponent in [-25, 56] */
        double v = ldexp((double)(x >> 11) / 9007199254740992.0 + 0.5, (int)(x % 82) - 25);
        if (i % 4 == 0) /* short decimals, as rates and quantiles of integer counters are */
            v = (double)(x % 100000000) / pow(10, (double)(x % 13));
        if (v == 0)
            continue;
        check_digits(v);
    }
}

/* The inline fast paths must honour a sticky failure even when the bytes would fit. */
Test(buf, appends_after_failure_are_noops_even_with_room)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_buf_puts(&b, "ab");
    cr_assert(gt(sz, b.cap, 8));
    b.failed = -12;
    sl_buf_putc(&b, 'c');
    sl_buf_append(&b, "de", 2);
    sl_buf_puts(&b, "f");
    cr_assert(eq(sz, b.len, 2));
    cr_assert(eq(str, b.data, "ab"));
    sl_buf_fini(&b);
}

/* Growth across the inline/out-of-line boundary keeps every byte and the terminator. */
Test(buf, byte_appends_across_growth_keep_contents)
{
    struct sl_buf b = SL_BUF_INIT;
    char want[10000];
    size_t n = 0;
    for (int i = 0; i < 5000; i++) {
        if (i % 3) {
            sl_buf_putc(&b, (char)('a' + i % 26));
            want[n++] = (char)('a' + i % 26);
        } else {
            sl_buf_append(&b, "xyz", 3);
            memcpy(want + n, "xyz", 3);
            n += 3;
        }
    }
    want[n] = 0;
    cr_assert(eq(sz, b.len, n));
    cr_assert(eq(str, b.data, want));
    sl_buf_fini(&b);
}
