/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPSC byte ring. Indices are free-running uint32 byte counters; (tail - head) is the fill
 * level even across wrap-around because the size is a power of two no larger than 2^30.
 *
 *    message:  [ len:u32 | flags:u32 | payload ... pad to 8 ]
 *    wrap:     a message never straddles the end; the producer fills the rest of the
 *              buffer with one PAD message and starts again at offset 0.
 *
 * Memory orders (DPDK rte_ring_c11 style):
 *   R1 release tail in publish()   pairs with A1 acquire tail in acquire():
 *      the consumer sees every payload byte written before the publish.
 *   R2 release head in release()   pairs with A2 acquire head in alloc():
 *      the producer never overwrites bytes the consumer may still be reading.
 */
#include "engine/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


size_t sl_ring_memsize(uint32_t size)
{
    return sizeof(struct sl_ring) + size;
}

int sl_ring_init(struct sl_ring *r, uint32_t size)
{
    if (size < 4096 || size > (1u << 30) || (size & (size - 1)))
        return -EINVAL;
    memset(r, 0, sizeof *r);
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    r->_size = size;
    r->_mask = size - 1;
    r->_buf = (uint8_t *)(r + 1);
    return 0;
}

int sl_ring_create(uint32_t size, struct sl_ring **out)
{
    if (size < 4096 || size > (1u << 30) || (size & (size - 1)))
        return -EINVAL;
    size_t bytes = (sl_ring_memsize(size) + 63) & ~(size_t)63;
    struct sl_ring *r = aligned_alloc(64, bytes);
    if (!r)
        return -ENOMEM;
    int rc = sl_ring_init(r, size);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sl_ring_destroy(struct sl_ring *r)
{
    free(r);
}


void sl_ring_sp_publish(struct sl_ring *r)
{
    /* R1: pairs with A1 in sl_ring_sc_acquire(); publishes every byte written so far. */
    atomic_store_explicit(&r->tail, r->_prod_tail, memory_order_release);
}

uint32_t sl_ring_sp_free(struct sl_ring *r)
{
    /* A2 again: a fresh head so callers waiting for room see the consumer's progress. */
    r->_prod_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
    return r->_size - (r->_prod_tail - r->_prod_head_cache);
}

uint32_t sl_ring_sc_acquire(struct sl_ring *r)
{
    /* A1: pairs with R1 in sl_ring_sp_publish(); messages in [head, tail) are complete. */
    r->_cons_tail_snap = atomic_load_explicit(&r->tail, memory_order_acquire);
    return r->_cons_tail_snap - r->_cons_head;
}

void sl_ring_sc_release(struct sl_ring *r)
{
    /* R2: pairs with A2 in sl_ring_sp_alloc(); we are done reading everything before head. */
    atomic_store_explicit(&r->head, r->_cons_head, memory_order_release);
}
