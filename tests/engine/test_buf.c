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
