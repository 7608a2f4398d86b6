/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file store_pvt.h
 * Internal to storage/: the store's state shared by store.c (open, append, reads) and
 * maintain.c (cutting, compaction, tiers, retention). Nothing outside storage/ includes it.
 *
 * Locks: `mmu` serialises maintenance and deletes: it is the only thing that changes the
 * block list, the tombstones and next_seq, so code holding it reads those without other
 * locks, and compaction, tier builds and retention run under `mmu` alone, never stalling an
 * append. `wmu` serialises everything that changes the head or the WAL (append, delete, the
 * cut step of maintenance), so code holding it reads the head without `lock`. `lock` (rwlock) is taken for writing
 * only around changes to the head or the block list, and for reading by queries while they
 * copy head samples and take block references. `tlock` guards the tombstones the same way:
 * writers (delete, purge; they hold wmu) take it for writing only while changing them;
 * queries hold it for reading for their whole length (deletes are rare, so a query delaying
 * one is fine; appends never touch it). Code under wmu reads tombstones without it.
 * Lock order: mmu, wmu, tlock, lock.
 */
#ifndef SL_STORE_PVT_H
#define SL_STORE_PVT_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "storage/block.h"
#include "storage/head.h"
#include "storage/keymap.h"
#include "storage/sketchstore.h"
#include "storage/store.h"

enum {
    SL_WAL_REC_SAMPLES = 1,
    SL_WAL_REC_DELETE = 2,
    SL_WAL_REC_SERIES = 3,
    SL_WAL_REC_SKETCHES = 4, /* samples as in SAMPLES, then timer interval sketches */
};

/** A published block; the store holds one reference while it is listed. */
struct sl_bref {
    struct sl_block *b;
    const struct sl_block_meta *m;
    atomic_int refs;
    uint64_t tomb_gen; /* tombstone generation this block is known to be purged for */
};

struct sl_tomb {
    char *key;
    uint32_t keylen;
    uint32_t next; /* next tombstone of the same key, UINT32_MAX at the end */
    int64_t mint, maxt;
    uint64_t seq_limit; /* applies to blocks with seq below this: those that existed at delete */
};

struct sl_store {
    struct sl_store_cfg cfg;
    char *dir;
    pthread_mutex_t mmu;
    int lock_fd; /* <dir>/LOCK, flock(LOCK_EX) held while open; -1 before */
    pthread_mutex_t wmu;
    pthread_rwlock_t lock;
    pthread_rwlock_t tlock;
    /* A cut publishes its block and drops the block's range from the head under cutlock
     * (write); a select holds it (read) from taking its block list to reading the head, so
     * it never sees the range in neither (a block list taken before the publish, a head
     * read after the drop). Appends do not take it. */
    pthread_rwlock_t cutlock;
    struct sl_wal *wal;
    struct sl_head head;
    struct sl_skhead skhead; /* interval sketches of timer series, changed like head */
    struct sl_bref **blocks; /* sorted by seq */
    size_t nblocks, blocks_cap;
    uint64_t next_seq;
    struct sl_tomb *tombs;
    size_t ntombs, tombs_cap;
    struct sl_keymap tomb_map; /* key -> first tombstone */
    uint64_t tomb_gen;         /* bumped by every delete; blocks written later honour it */
    uint64_t corrupt_blocks;
    /* head facts cached under wmu by sl_store_maintain() for the steps that run without it */
    int64_t hmint;  /* oldest head timestamp */
    int64_t hbound; /* start of the block range in-order appends still write into */
    int hsealed;    /* flush_head emptied the head and nothing was appended since */
    int sealed; /* sl_store_flush_head() emptied the head; no append since */
    struct sl_wal_replay_stats replay;
    /* append scratch, reused under wmu */
    uint8_t *rec;
    size_t rec_cap;
    uint32_t *idx;
    size_t idx_cap;
    struct sl_ddsketch *skcheck; /* empty sketch of SL_DDSKETCH_ALPHA: validates appends */
    uint32_t *skidx;             /* sketch head reservations of one append */
    uint8_t **skbuf;             /* their encodings until committed */
    uint32_t *sklen;             /* and their lengths */
    size_t sk_cap;
};

/* store.c */
void sl_bref_put(struct sl_bref *r);
/** Take references on every listed block (under the read lock). @return count, -ENOMEM. */
int sl_store__blocks_snapshot(struct sl_store *s, struct sl_bref ***out);
void sl_store__blocks_release(struct sl_bref **v, size_t n);
/** Publish the block in directory @name (under wmu). */
int sl_store__add_block(struct sl_store *s, const char *name);
/** Unlist and delete block @r (under wmu). */
void sl_store__remove_block(struct sl_store *s, struct sl_bref *r);
/* Tombstones hide data only in blocks older than the deletion (seq below the tombstone's
 * seq_limit): samples written after a delete, even into the deleted range, stay visible. */
/** Does a tombstone of @key that applies to block @seq intersect [a, b]? */
int sl_store__tomb_overlaps(const struct sl_store *s, const char *key, size_t len, int64_t a,
                            int64_t b, uint64_t seq);
/** Does any tombstone of @key apply to block @seq? */
int sl_store__has_tomb(const struct sl_store *s, const char *key, size_t len, uint64_t seq);
int sl_store__tombs_save(struct sl_store *s);
/** Name of a new block directory and its seq. */
uint64_t sl_store__new_block_name(struct sl_store *s, char *buf, size_t len);
/** WAL record of @n samples from the head series (checkpoint). */
int sl_store__wal_checkpoint(struct sl_store *s);
/** sl_store_select() on compiled matchers. */
int sl_store__select(struct sl_store *s, const struct sl_matchers *ms, int64_t mint, int64_t maxt,
                     unsigned flags, struct sl_series_set **out);
/* sketchtier.c: the sketch side of appends, replay, cutting, rewriting, downsampling,
 * deleting and reading */
/** Room for @n sketches in the append scratch (skidx, skbuf, sklen; under wmu). */
int sl_store__sk_reserve(struct sl_store *s, size_t n);
/** Validate @sk (keys, alpha), note each encoding's length in s->sklen and add the WAL bytes
 * they need to *@need (under wmu, after sl_store__sk_reserve). @return 0, -EINVAL. */
int sl_store__sketches_check(struct sl_store *s, const struct sl_sketch_sample *sk, size_t nsk,
                             size_t *need);
/** Apply the sketches part of a SKETCHES WAL record, all or (when any entry is malformed or
 *  does not decode with the store's alpha) none of it. @return 0, 1 (malformed), -ENOMEM. */
int sl_store__replay_sketches(struct sl_store *s, const uint8_t *p, const uint8_t *end);
/** Newest timestamp in the head, samples or sketches; INT64_MIN when empty. */
int64_t sl_store__head_maxt(const struct sl_store *s);
/** Add the head's sketches in [mint, maxt] to @w (after its sample series). */
int sl_store__cut_sketches(struct sl_store *s, struct sl_block_writer *w, int64_t mint,
                           int64_t maxt);
/** k-way merge of the sketch series of @src (sorted by seq; later wins on equal t) into @w,
 * leaving out what tombstones hide. */
int sl_store__merge_sketches(struct sl_store *s, struct sl_bref *const *src, size_t k,
                             struct sl_block_writer *w);
/** Merge the sketches of @src into buckets of @res and add them to @w (a tier block). */
int sl_store__tier_sketches(struct sl_store *s, const struct sl_bref *src, int64_t res,
                            struct sl_block_writer *w);
/** Does @b hold sketches of @key? */
int sl_store__block_has_sketch(const struct sl_block *b, const char *key, size_t len);
/**
 * Keys of sketch series matching @ms with sketches in [mint, maxt] (head and blocks), for
 * deletion. @param[out] keys, lens OWNED: free each key, then both arrays. Caller holds wmu.
 */
int sl_store__sketch_keys(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                          int64_t maxt, char ***keys, uint32_t **lens, size_t *n);
/** WAL SERIES-style checkpoint records of the sketch head (under wmu). */
int sl_store__wal_checkpoint_sketches(struct sl_store *s);

/**
 * Room for one block series' chunk list while a read walks a block's series: a small
 * array inside the struct (on the reader's stack) until a series has more chunks, then a
 * heap array kept for the series after. Not to be copied once initialised (ch may point
 * into it).
 */
#define SL_STORE_CHUNKS_INLINE 16
struct sl_store_chunks {
    struct sl_block_chunk *ch; /* the list: inline or OWNED heap */
    size_t cap;
    struct sl_block_chunk inline_ch[SL_STORE_CHUNKS_INLINE];
};

static inline void sl_store__chunks_init(struct sl_store_chunks *c)
{
    c->ch = c->inline_ch;
    c->cap = SL_STORE_CHUNKS_INLINE;
}

static inline void sl_store__chunks_fini(struct sl_store_chunks *c)
{
    if (c->ch != c->inline_ch)
        free(c->ch);
    sl_store__chunks_init(c);
}

/**
 * The chunks of block series @id into c->ch, growing it when the series has more.
 * @return the number of chunks, -ENOMEM, or what sl_block_series() returns.
 */
int sl_store__block_chunks(struct sl_store_chunks *c, const struct sl_block *b, uint32_t id,
                           const char **key, size_t *kl);

/** Stable sort of a permutation by timestamp. */
void sl_store__sort_perm(const int64_t *t, uint32_t *perm, uint32_t *tmp, size_t n);

/* One series of a selection being gathered (store_read.c): its key, and samples appended
 * by every source in turn. */
struct sl_store_acc {
    char *key;
    uint32_t keylen;
    int hit;
    size_t est; /* samples the sizing pass counted (an upper bound, minus head appends) */
    int unsorted; /* some timestamp is not above the one before it: coll_finish merges */
    int64_t *t;
    double *v;
    size_t n, cap;
};

/** Room for @more samples after a->n in a's one block (v = t + cap); grows at least
 *  twofold after the first, exact, reservation. @return 0, -ENOMEM. */
int sl_store__acc_reserve(struct sl_store_acc *a, size_t more);
/** Of the @got samples just decoded at a->t + a->n, keep those in [mint, maxt] that no
 *  tombstone of @key (NULL: none applies) hides from block @seq; @inside: the chunk lies
 *  within the window. Notes a->unsorted and a->hit; advances a->n. */
void sl_store__keep_window(struct sl_store *s, struct sl_store_acc *a, size_t got, int64_t mint,
                           int64_t maxt, int inside, const char *key, size_t kl, uint64_t seq);

struct sl_store_keyslab;
/** Copy @n bytes of @p into the slab list *@head (64 KiB slabs, never moved). @return the
 *  copy, NULL on -ENOMEM. */
char *sl_store__slab_copy(struct sl_store_keyslab **head, const char *p, size_t n);
/** How every element type passed to sl_store__keyed_get() begins (checked with
 *  SL_STORE_KEYED_ELEM where the type is defined). */
struct sl_store_keyhead {
    char *key;
    uint32_t keylen;
};
#define SL_STORE_KEYED_ELEM(T)                                                                 \
    static_assert(offsetof(T, key) == offsetof(struct sl_store_keyhead, key) &&               \
                      offsetof(T, keylen) == offsetof(struct sl_store_keyhead, keylen),       \
                  #T " begins like struct sl_store_keyhead")

/**
 * The element of a read's per-series array for @key: found through @map, or appended to
 * the growable array (*arr, *n, *cap of @elem-byte elements) zeroed but for its key and
 * keylen (the key copied into @slabs), and entered in @map; *created says which. Element
 * pointers move when the array grows; keys do not. @return 0 with *idx set, or -ENOMEM.
 */
int sl_store__keyed_get(struct sl_keymap *map, struct sl_store_keyslab **slabs, void **arr,
                        size_t *n, size_t *cap, size_t elem, const char *key, size_t len,
                        int *created, uint32_t *idx);
void sl_store__slabs_free(struct sl_store_keyslab *s);

/* A select's result; delete walks its keys (store.c). */
struct sl_series_set {
    struct sl_store_acc *a;
    size_t n;
    struct sl_store_keyslab *slabs; /* the keys of a[] */
};

#endif
