/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "engine/ring.h"

static struct sl_ring *r;
static void setup(void)
{
    cr_assert(eq(int, sl_ring_create(4096, &r), 0));
}
static void teardown(void)
{
    sl_ring_destroy(r);
}
TestSuite(ring, .init = setup, .fini = teardown, .timeout = 20);

Test(ring, create_rejects_non_power_of_two)
{
    struct sl_ring *x = NULL;
    cr_assert(eq(int, sl_ring_create(5000, &x), -EINVAL));
    cr_assert(eq(ptr, x, NULL));
}

Test(ring, unpublished_messages_are_invisible)
{
    void *p = sl_ring_sp_alloc(r, 16);
    cr_assert(ne(ptr, p, NULL));
    cr_assert(eq(u32, sl_ring_sc_acquire(r), 0));
    sl_ring_sp_publish(r);
    cr_assert(gt(u32, sl_ring_sc_acquire(r), 0));
}

Test(ring, burst_roundtrip_preserves_order_and_bytes)
{
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t *p = sl_ring_sp_alloc(r, 4 + i);
        cr_assert(ne(ptr, p, NULL));
        *p = i;
    }
    sl_ring_sp_publish(r);
    sl_ring_sc_acquire(r);
    uint32_t len, i = 0;
    const uint32_t *m;
    while ((m = sl_ring_sc_next(r, &len))) {
        cr_assert(eq(u32, *m, i));
        cr_assert(eq(u32, len, 4 + i));
        i++;
    }
    cr_assert(eq(u32, i, 10));
    sl_ring_sc_release(r);
}

Test(ring, alloc_when_full_returns_null_then_succeeds_after_release)
{
    int n = 0;
    while (sl_ring_sp_alloc(r, 100))
        n++;
    cr_assert(gt(int, n, 20));
    sl_ring_sp_publish(r);
    sl_ring_sc_acquire(r);
    uint32_t len;
    cr_assert(ne(ptr, (void *)sl_ring_sc_next(r, &len), NULL));
    cr_assert(eq(ptr, sl_ring_sp_alloc(r, 100), NULL)); /* not yet released */
    sl_ring_sc_release(r);
    cr_assert(ne(ptr, sl_ring_sp_alloc(r, 100), NULL));
}

Test(ring, oversized_message_is_refused)
{
    cr_assert(eq(ptr, sl_ring_sp_alloc(r, SL_RING_MSG_MAX(4096) + 1), NULL));
}

Test(ring, wraparound_keeps_messages_intact)
{
    uint32_t next_w = 0, next_r = 0;
    for (int round = 0; round < 1000; round++) {
        uint32_t len = 8 + (uint32_t)(round * 37) % 300;
        uint8_t *p = sl_ring_sp_alloc(r, len);
        if (!p) {
            sl_ring_sp_publish(r);
            sl_ring_sc_acquire(r);
            const uint8_t *m;
            uint32_t ml;
            while ((m = sl_ring_sc_next(r, &ml))) {
                uint32_t v;
                memcpy(&v, m, 4);
                cr_assert(eq(u32, v, next_r));
                for (uint32_t k = 4; k < ml; k++)
                    cr_assert(eq(u8, m[k], (uint8_t)(v + k)));
                next_r++;
            }
            sl_ring_sc_release(r);
            p = sl_ring_sp_alloc(r, len);
            cr_assert(ne(ptr, p, NULL));
        }
        memcpy(p, &next_w, 4);
        for (uint32_t k = 4; k < len; k++)
            p[k] = (uint8_t)(next_w + k);
        next_w++;
    }
    cr_assert(gt(u32, next_r, 100));
}
