/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"

TestSuite(key, .timeout = 5);

#define L(n, v) {.name = n, .name_len = sizeof(n) - 1, .value = v, .value_len = sizeof(v) - 1}

Test(key, build_sorts_labels_so_order_does_not_matter)
{
    struct sl_label a[] = {L("region", "eu"), L("env", "prod")};
    struct sl_label b[] = {L("env", "prod"), L("region", "eu")};
    char ka[128], kb[128];
    int na = sl_key_build(SL_METRIC_COUNTER, "req", 3, a, 2, ka, sizeof ka);
    int nb = sl_key_build(SL_METRIC_COUNTER, "req", 3, b, 2, kb, sizeof kb);
    cr_assert(gt(int, na, 0));
    cr_assert(eq(int, na, nb));
    cr_assert(eq(int, memcmp(ka, kb, (size_t)na), 0));
    cr_assert(eq(u64, sl_key_hash(ka, (size_t)na), sl_key_hash(kb, (size_t)nb)));
    static const char want[] = "\x01req\0env\0prod\0region\0eu";
    cr_assert(eq(int, na, (int)sizeof want));
    cr_assert(eq(int, memcmp(ka, want, sizeof want), 0));
}

Test(key, build_duplicate_label_last_wins)
{
    struct sl_label a[] = {L("env", "dev"), L("env", "prod")};
    char k[64];
    int n = sl_key_build(SL_KIND_PLAIN, "x", 1, a, 2, k, sizeof k);
    static const char want[] = "\0x\0env\0prod";
    cr_assert(eq(int, n, (int)sizeof want));
    cr_assert(eq(int, memcmp(k, want, sizeof want), 0));
}

Test(key, build_empty_value_drops_label)
{
    struct sl_label a[] = {L("env", "")};
    char k[64];
    cr_assert(eq(int, sl_key_build(SL_KIND_PLAIN, "x", 1, a, 1, k, sizeof k), 3));
}

Test(key, build_too_small_buffer_returns_enospc)
{
    struct sl_label a[] = {L("environment", "production")};
    char k[16];
    cr_assert(eq(int, sl_key_build(SL_KIND_PLAIN, "x", 1, a, 1, k, sizeof k), -ENOSPC));
}

Test(key, kind_byte_separates_namespaces)
{
    char a[16], b[16];
    int na = sl_key_build(SL_METRIC_COUNTER, "x", 1, NULL, 0, a, sizeof a);
    int nb = sl_key_build(SL_METRIC_GAUGE, "x", 1, NULL, 0, b, sizeof b);
    cr_assert(ne(u64, sl_key_hash(a, (size_t)na), sl_key_hash(b, (size_t)nb)));
}

Test(key, iterate_returns_name_and_labels_in_order)
{
    struct sl_label a[] = {L("b", "2"), L("a", "1")};
    char k[64];
    int n = sl_key_build(SL_METRIC_GAUGE, "m", 1, a, 2, k, sizeof k);
    const char *name;
    size_t nl;
    struct sl_key_iter it;
    sl_key_name(k, (size_t)n, &name, &nl, &it);
    cr_assert(eq(sz, nl, 1));
    cr_assert(eq(chr, name[0], 'm'));
    struct sl_label l;
    cr_assert(eq(int, sl_key_next_label(&it, &l), 1));
    cr_assert(eq(int, memcmp(l.name, "a", 1), 0));
    cr_assert(eq(int, memcmp(l.value, "1", 1), 0));
    cr_assert(eq(int, sl_key_next_label(&it, &l), 1));
    cr_assert(eq(int, memcmp(l.name, "b", 1), 0));
    cr_assert(eq(int, sl_key_next_label(&it, &l), 0));
}
