/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file ring.h
 * Single-producer/single-consumer ring of variable-length messages, each 8-byte aligned
 * and prefixed by an 8-byte header the ring owns. One ring per (ingest thread, shard) pair,
 * so neither side ever takes a lock or shares a written cache line with a third thread.
 *
 * Bursts: the producer alloc()s any number of messages and makes them visible together with
 * one publish(); the consumer acquire()s a snapshot, walks it with next() and frees it with
 * one release(). One release store per burst instead of one per message is what makes the
 * ring cheap at ~40 lines per datagram.
 *
 * Layout: the producer-written index, the consumer-written index, each side's private
 * state and the read-only geometry live on separate cache lines.
 *
 * Threads: sl_ring_sp_* only from the one producer thread, sl_ring_sc_* only from the one
 * consumer thread; create/destroy/init from the control plane while neither runs.
 */
#ifndef SL_RING_H
#define SL_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_ring {
    alignas(64) _Atomic uint32_t tail; /* written by producer (R1), read by consumer (A1) */
    alignas(64) _Atomic uint32_t head; /* written by consumer (R2), read by producer (A2) */
    alignas(64) uint32_t _prod_tail;   /* producer: next write position, not yet published */
    uint32_t _prod_head_cache;         /* producer: last head seen */
    alignas(64) uint32_t _cons_head;   /* consumer: next read position */
    uint32_t _cons_tail_snap;          /* consumer: tail seen at acquire */
    alignas(64) uint32_t _size;        /* bytes, power of two */
    uint32_t _mask;
    uint8_t *_buf;
};

/** Largest payload a ring of @size bytes accepts in one message. */
#define SL_RING_MSG_MAX(size) ((size) / 4)

/** Bytes sl_ring_init() needs for a ring of @size bytes (power of two, >= 4096). */
size_t sl_ring_memsize(uint32_t size);
/** Initialise caller-provided, 64-byte aligned memory of sl_ring_memsize(size) bytes. */
int sl_ring_init(struct sl_ring *r, uint32_t size);
/**
 * Allocate and initialise a ring. @return 0, -EINVAL (size not a power of two in
 * [4096, 2^30]), -ENOMEM. On success *@out is OWNED by the caller.
 */
int sl_ring_create(uint32_t size, struct sl_ring **out);
void sl_ring_destroy(struct sl_ring *r);

/* Message framing (see ring.c): an 8-byte header { len, flags } before each payload,
 * payloads padded to 8 bytes. In the header so the per-message calls below inline into
 * the per-line paths of the listeners and shards. */
#define SL_RING_HDR 8u
#define SL_RING_F_PAD 1u

static inline uint32_t sl_ring__round8(uint32_t n)
{
    return (n + 7u) & ~7u;
}

static inline void sl_ring__put_hdr(struct sl_ring *r, uint32_t pos, uint32_t len,
                                    uint32_t flags)
{
    uint32_t h[2] = {len, flags};
    memcpy(r->_buf + pos, h, sizeof h);
}

/**
 * Producer: room for a @len-byte message. The memory is the caller's to fill until the next
 * publish(), after which it is TRANSFERRED to the consumer.
 * @return pointer (8-byte aligned), or NULL when the ring is full or @len exceeds
 *         SL_RING_MSG_MAX: the caller drops and counts (UDP) or waits (TCP).
 */
static inline void *sl_ring_sp_alloc(struct sl_ring *r, uint32_t len)
{
    if (len > SL_RING_MSG_MAX(r->_size))
        return NULL;
    uint32_t need = SL_RING_HDR + sl_ring__round8(len);
    uint32_t pos = r->_prod_tail & r->_mask;
    uint32_t contig = r->_size - pos;
    uint32_t total = need > contig ? contig + need : need;
    if (r->_size - (r->_prod_tail - r->_prod_head_cache) < total) {
        /* A2: pairs with R2 in sl_ring_sc_release(); bytes before head are free. */
        r->_prod_head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->_size - (r->_prod_tail - r->_prod_head_cache) < total)
            return NULL;
    }
    if (need > contig) {
        sl_ring__put_hdr(r, pos, contig - SL_RING_HDR, SL_RING_F_PAD);
        r->_prod_tail += contig;
        pos = 0;
    }
    sl_ring__put_hdr(r, pos, len, 0);
    r->_prod_tail += need;
    /* Claim the lines a few records ahead for writing. The consumer read them last, on
     * another core, so the producer's first store to each was a cross-core miss in the
     * middle of filling a record (a third of the DPDK poller's time at 1-line datagrams). */
    __builtin_prefetch(r->_buf + ((pos + need + 256) & r->_mask), 1);
    __builtin_prefetch(r->_buf + ((pos + need + 320) & r->_mask), 1);
    return r->_buf + pos + SL_RING_HDR;
}
/** Producer: make every message alloc()ed since the last publish visible. */
void sl_ring_sp_publish(struct sl_ring *r);
/** Producer: bytes published or allocated and not yet released by the consumer, as last
 *  seen: an upper bound that only grows until the producer next looks at the consumer's
 *  position (when the ring seems full, or in sl_ring_sp_free()). No shared-memory access. */
static inline uint32_t sl_ring_sp_used_cached(const struct sl_ring *r)
{
    return r->_prod_tail - r->_prod_head_cache;
}
/** Producer: bytes currently free (a lower bound; the consumer may free more). */
uint32_t sl_ring_sp_free(struct sl_ring *r);

/** Consumer: snapshot what the producer has published. @return bytes available. */
uint32_t sl_ring_sc_acquire(struct sl_ring *r);
/**
 * Consumer: next message of the snapshot. @return pointer BORROWED until release(), with
 * *@len set; NULL when the snapshot is exhausted.
 */
static inline const void *sl_ring_sc_next(struct sl_ring *r, uint32_t *len)
{
    while (r->_cons_head != r->_cons_tail_snap) {
        uint32_t pos = r->_cons_head & r->_mask;
        uint32_t h[2];
        memcpy(h, r->_buf + pos, sizeof h);
        r->_cons_head += SL_RING_HDR + sl_ring__round8(h[0]);
        if (h[1] & SL_RING_F_PAD)
            continue;
        *len = h[0];
        return r->_buf + pos + SL_RING_HDR;
    }
    return NULL;
}
/** Consumer: give back every message returned by next() so far. */
void sl_ring_sc_release(struct sl_ring *r);

#endif
