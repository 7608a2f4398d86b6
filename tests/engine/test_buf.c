/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"

TestSuite(buf, .timeout = 5);

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
