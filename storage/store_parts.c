/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A selection read in parts (sl_store_select_parts / sl_series_parts_read): the read path
 * of store_read.c cut in two so that query threads can share the decoding of one selector
 * and use each series' samples while they are still in cache.
 *
 * Opening does what needs the store's locks: under one hold of the read lock it takes
 * block references and copies the head's samples in the window into slabs (that copy is
 * what makes the selection a consistent snapshot), then it finds each block's matching
 * series and the chunks of each that overlap the window (recorded as (block, series id)
 * references, nothing decoded) and sorts the candidates by key. Reading a
 * candidate decodes its chunks into the reader's scratch arrays, oldest block first, then
 * appends its head samples, and merges (stable sort, last of equal timestamps wins) only
 * when the sources overlap: the same rules as sl_store_select(), on the same data.
 *
 * Not done here: keys-only selections (sl_store_select() answers those without decoding
 * anyway) and tier blocks. Tombstones are read while decoding, so the selection holds the
 * tombstone lock for reading from open to destroy, as a select holds it for its length.
 * Thread: the opening thread owns the selection; any number of threads may read it.
 */
#include "storage/store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/codec.h"
#include "storage/store_pvt.h"

#define NO_REF UINT32_MAX

/* One block series that has a chunk in the window; refs of a candidate chain in block
 * order (oldest first), which is the order a select reads them in. */
struct part_ref {
    uint32_t blk, id, next;
};

struct part_series {
    const char *key; /* in the selection's slabs */
    uint32_t keylen;
    uint32_t ref0, reflast; /* NO_REF when none */
    const int64_t *ht;      /* head samples [0, hn), in the selection's head slabs */
    const double *hv;
    size_t hn;
};
SL_STORE_KEYED_ELEM(struct part_series);

/* The head copy lives in slabs of about 1 MiB rather than one block: a block the size of
 * a 6 h selection's head part (~70 MB) is a fresh mmap for every query, and its page
 * faults cost more than the copy; slabs this size come back from the allocator's heap. */
#define HEAD_SLAB (1u << 20)
struct head_slab {
    struct head_slab *next;
    size_t used, cap; /* bytes of data[] */
    _Alignas(8) unsigned char data[];
};

struct sl_series_parts {
    struct sl_store *s;
    int64_t mint, maxt;
    struct sl_bref **bl;
    size_t nb;
    struct part_series *ps;
    size_t n, cap;
    struct part_ref *refs;
    size_t nrefs, caprefs;
    struct head_slab *hslabs;
    struct sl_store_keyslab *slabs;
};

static int cand_get(struct sl_series_parts *p, struct sl_keymap *map, const char *key,
                    size_t len, struct part_series **out)
{
    int created;
    uint32_t x;
    void *arr = p->ps;
    int rc = sl_store__keyed_get(map, &p->slabs, &arr, &p->n, &p->cap, sizeof *p->ps, key, len,
                                 &created, &x);
    p->ps = arr;
    if (rc)
        return rc;
    if (created)
        p->ps[x].ref0 = p->ps[x].reflast = NO_REF;
    *out = &p->ps[x];
    return 0;
}

static int add_ref(struct sl_series_parts *p, struct part_series *c, uint32_t blk, uint32_t id)
{
    if (p->nrefs == p->caprefs) {
        size_t nc = p->caprefs ? p->caprefs * 2 : 256;
        struct part_ref *nr = realloc(p->refs, nc * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        p->refs = nr;
        p->caprefs = nc;
    }
    uint32_t r = (uint32_t)p->nrefs++;
    p->refs[r] = (struct part_ref){blk, id, NO_REF};
    if (c->reflast == NO_REF)
        c->ref0 = r;
    else
        p->refs[c->reflast].next = r;
    c->reflast = r;
    return 0;
}

/* The candidates of block @blk: series matching @ms with a chunk overlapping the window. */
static int plan_block(struct sl_series_parts *p, struct sl_keymap *map, uint32_t blk,
                      const struct sl_matchers *ms)
{
    const struct sl_block *b = p->bl[blk]->b;
    uint32_t *ids = NULL;
    size_t nids = 0;
    int rc = sl_block_select(b, ms, &ids, &nids);
    struct sl_store_chunks cs;
    sl_store__chunks_init(&cs);
    for (size_t i = 0; i < nids && !rc; i++) {
        const char *key;
        size_t kl;
        int nch = sl_store__block_chunks(&cs, b, ids[i], &key, &kl);
        if (nch < 0) {
            rc = nch;
            break;
        }
        int overlap = 0;
        for (int k = 0; k < nch && !overlap; k++)
            overlap = !(cs.ch[k].maxt < p->mint || cs.ch[k].mint > p->maxt);
        struct part_series *c;
        if (overlap && !(rc = cand_get(p, map, key, kl, &c)))
            rc = add_ref(p, c, blk, ids[i]);
    }
    sl_store__chunks_fini(&cs);
    free(ids);
    return rc;
}

/* First index of head series @hs with t >= @t. */
static size_t head_first(const struct sl_head_series *hs, int64_t t)
{
    return hs->n && hs->t[hs->n - 1] < t ? hs->n : sl_head_lower(hs, t);
}

/* One past the last index of @hs with t <= @maxt (maxt may be INT64_MAX). */
static size_t head_end(const struct sl_head_series *hs, int64_t maxt)
{
    return hs->t[hs->n - 1] <= maxt ? hs->n : sl_head_lower(hs, maxt + 1);
}

/* Room for @n samples (timestamps then values) in the slab list *@list. */
static int64_t *head_room(struct head_slab **list, size_t n)
{
    size_t need = n * (sizeof(int64_t) + sizeof(double));
    struct head_slab *h = *list;
    if (!h || h->cap - h->used < need) {
        size_t cap = need > HEAD_SLAB - sizeof *h ? need : HEAD_SLAB - sizeof *h;
        if (!(h = malloc(sizeof *h + cap)))
            return NULL;
        h->next = *list;
        h->used = 0;
        h->cap = cap;
        *list = h;
    }
    int64_t *t = (int64_t *)(void *)(h->data + h->used);
    h->used += need;
    return t;
}

/* One head series' part of the copy: [j, e) of @hs into candidate @c. */
struct head_task {
    const struct sl_head_series *hs;
    struct part_series *c;
    size_t j, e;
};

#define HEAD_CHUNK 64 /* head series per claim of the parallel copy */
#define HEAD_WORKERS_MAX 64

struct head_copy {
    const struct head_task *task;
    size_t n;
    atomic_size_t next; /* relaxed: claims only; the caller's run() publishes the writes */
    atomic_int failed;
    struct head_slab *slabs[HEAD_WORKERS_MAX]; /* one list per participant */
};

static void head_copy_run(void *arg, unsigned worker)
{
    struct head_copy *hc = arg;
    if (worker >= HEAD_WORKERS_MAX)
        return;
    for (;;) {
        size_t k0 = atomic_fetch_add_explicit(&hc->next, 1, memory_order_relaxed) * HEAD_CHUNK;
        if (k0 >= hc->n || atomic_load_explicit(&hc->failed, memory_order_relaxed))
            return;
        size_t k1 = hc->n - k0 < HEAD_CHUNK ? hc->n : k0 + HEAD_CHUNK;
        for (size_t k = k0; k < k1; k++) {
            const struct head_task *x = &hc->task[k];
            size_t n = x->e - x->j;
            int64_t *t = head_room(&hc->slabs[worker], n);
            if (!t) {
                atomic_store_explicit(&hc->failed, 1, memory_order_relaxed);
                return;
            }
            double *v = (double *)(void *)(t + n);
            memcpy(t, x->hs->t + x->j, n * sizeof *t);
            memcpy(v, x->hs->v + x->j, n * sizeof *v);
            x->c->ht = t;
            x->c->hv = v;
            x->c->hn = n;
        }
    }
}

/* The head's samples in the window (the caller holds the read lock): the candidates first
 * (the key map is not shared), then the copy, by the caller's threads when it has some (a
 * 6 h selection's head part is ~70 MB, the longest stretch of a query on one thread). */
static int plan_head(struct sl_series_parts *p, struct sl_keymap *map,
                     const struct sl_matchers *ms, const struct sl_store_par *par)
{
    struct sl_store *s = p->s;
    uint32_t *ids = NULL;
    size_t nids = 0, nt = 0;
    struct head_task *task = NULL;
    struct head_copy *hc = calloc(1, sizeof *hc);
    if (!hc)
        return -ENOMEM;
    int rc = sl_head_match(&s->head, ms, &ids, &nids);
    if (!rc && nids && !(task = malloc(nids * sizeof *task)))
        rc = -ENOMEM;
    for (size_t x = 0; x < nids && !rc; x++) {
        const struct sl_head_series *hs = &s->head.s[ids[x]];
        if (hs->n == 0 || hs->t[0] > p->maxt || hs->t[hs->n - 1] < p->mint)
            continue;
        size_t j = head_first(hs, p->mint), e = head_end(hs, p->maxt);
        if (e <= j)
            continue;
        struct part_series *c;
        if ((rc = cand_get(p, map, hs->key, hs->keylen, &c)))
            break;
        task[nt++] = (struct head_task){hs, NULL, j, e};
        task[nt - 1].c = (struct part_series *)(uintptr_t)(c - p->ps); /* index: ps may move */
    }
    if (!rc && nt) {
        for (size_t k = 0; k < nt; k++) /* the candidate array has stopped growing */
            task[k].c = &p->ps[(uintptr_t)task[k].c];
        hc->task = task;
        hc->n = nt;
        atomic_init(&hc->next, 0);
        atomic_init(&hc->failed, 0);
        if (par && par->run && nt > HEAD_CHUNK)
            par->run(par->ctx, head_copy_run, hc);
        else
            head_copy_run(hc, 0);
        if (atomic_load_explicit(&hc->failed, memory_order_relaxed))
            rc = -ENOMEM;
    }
    for (unsigned w = 0; w < HEAD_WORKERS_MAX; w++)
        while (hc->slabs[w]) { /* every list joins the selection's, to be freed with it */
            struct head_slab *h = hc->slabs[w];
            hc->slabs[w] = h->next;
            h->next = p->hslabs;
            p->hslabs = h;
        }
    free(hc);
    free(task);
    free(ids);
    return rc;
}

static int part_cmp(const void *x, const void *y)
{
    const struct part_series *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen : b->keylen);
    return c ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

int sl_store_select_parts(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                          int64_t mint, int64_t maxt, const struct sl_store_par *par,
                          struct sl_series_parts **out, char *errbuf, size_t errlen)
{
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, errbuf, errlen);
    if (rc)
        return rc;
    struct sl_series_parts *p = calloc(1, sizeof *p);
    if (!p) {
        sl_matchers_destroy(ms);
        return -ENOMEM;
    }
    p->s = s;
    p->mint = mint;
    p->maxt = maxt;
    pthread_rwlock_rdlock(&s->tlock);
    struct sl_keymap map;
    sl_keymap_init(&map);
    /* The block list and the head are read under one hold of the read lock: a cut publishes
     * its block before it drops the range from the head, so a list taken earlier than the
     * head could miss a range that a cut moved in between. */
    pthread_rwlock_rdlock(&s->lock);
    if (!(p->bl = malloc((s->nblocks + 1) * sizeof *p->bl))) {
        rc = -ENOMEM;
    } else {
        for (size_t i = 0; i < s->nblocks; i++) {
            p->bl[i] = s->blocks[i];
            /* relaxed: the list holds a reference, so the count cannot reach zero here */
            atomic_fetch_add_explicit(&p->bl[i]->refs, 1, memory_order_relaxed);
        }
        p->nb = s->nblocks;
        rc = plan_head(p, &map, ms, par); /* read after the blocks: its writes win */
    }
    pthread_rwlock_unlock(&s->lock);
    for (size_t i = 0; i < p->nb && !rc; i++) {
        const struct sl_block_meta *bm = p->bl[i]->m;
        if (bm->resolution_ms != 0 || bm->maxt < mint || bm->mint > maxt)
            continue;
        rc = plan_block(p, &map, (uint32_t)i, ms);
    }
    sl_keymap_fini(&map);
    sl_matchers_destroy(ms);
    if (!rc && p->n > 1) {
        /* stores hand series out in key order; refs are indexes, so sorting moves nothing
         * they point at */
        int sorted = 1;
        for (size_t i = 1; i < p->n && sorted; i++)
            sorted = part_cmp(&p->ps[i - 1], &p->ps[i]) < 0;
        if (!sorted)
            qsort(p->ps, p->n, sizeof *p->ps, part_cmp);
    }
    if (rc) {
        sl_series_parts_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

size_t sl_series_parts_count(const struct sl_series_parts *p)
{
    return p->n;
}

/* Per-read scratch: the series being assembled, lz4 scratch, merge permutation. */
struct part_scratch {
    struct sl_store_acc a, m; /* m: the merged copy when sources overlap */
    uint8_t *lz;
    size_t lzlen;
    uint32_t *perm, *tmp;
    size_t pcap;
    struct sl_store_chunks chunks;
};

/* Sort a's samples by time, keeping the last of equal timestamps (a later source wins),
 * into sc->m; then swap so that sc->a holds the result. */
static int merge_sources(struct part_scratch *sc)
{
    struct sl_store_acc *a = &sc->a;
    if (a->n > sc->pcap) {
        free(sc->perm);
        free(sc->tmp);
        sc->perm = malloc(a->n * sizeof *sc->perm);
        sc->tmp = malloc(a->n * sizeof *sc->tmp);
        sc->pcap = sc->perm && sc->tmp ? a->n : 0;
        if (!sc->pcap)
            return -ENOMEM;
    }
    sl_store__sort_perm(a->t, sc->perm, sc->tmp, a->n);
    sc->m.n = 0;
    int rc = sl_store__acc_reserve(&sc->m, a->n);
    if (rc)
        return rc;
    size_t k = 0;
    for (size_t j = 0; j < a->n; j++) {
        uint32_t q = sc->perm[j];
        if (k && sc->m.t[k - 1] == a->t[q]) {
            sc->m.v[k - 1] = a->v[q];
            continue;
        }
        sc->m.t[k] = a->t[q];
        sc->m.v[k] = a->v[q];
        k++;
    }
    sc->m.n = k;
    struct sl_store_acc x = *a;
    *a = sc->m;
    sc->m = x;
    return 0;
}

static int read_one(struct sl_series_parts *p, const struct part_series *c,
                    struct part_scratch *sc)
{
    struct sl_store_acc *a = &sc->a;
    a->n = 0;
    a->unsorted = 0;
    a->hit = 0;
    int rc = 0;
    for (uint32_t r = c->ref0; r != NO_REF && !rc; r = p->refs[r].next) {
        const struct sl_block *b = p->bl[p->refs[r].blk]->b;
        const char *key;
        size_t kl;
        int nch = sl_store__block_chunks(&sc->chunks, b, p->refs[r].id, &key, &kl);
        if (nch < 0)
            return nch;
        uint64_t seq = sl_block_meta(b)->seq;
        int tomb = sl_store__has_tomb(p->s, key, kl, seq);
        for (int k = 0; k < nch && !rc; k++) {
            const struct sl_block_chunk *ck = &sc->chunks.ch[k];
            if (ck->maxt < p->mint || ck->mint > p->maxt)
                continue;
            size_t cn;
            unsigned ncols;
            if (sl_codec_chunk_info(ck->p, ck->len, &cn, &ncols) || cn > SL_CODEC_CHUNK_MAX) {
                rc = SL_E_CORRUPT;
            } else if (!(rc = sl_store__acc_reserve(a, cn))) {
                double *cols[1] = {a->v + a->n};
                int got = sl_codec_chunk_decode(ck->p, ck->len, a->t + a->n, cols, 1,
                                                a->cap - a->n, sc->lz, sc->lzlen);
                if (got < 0)
                    rc = SL_E_CORRUPT;
                else
                    sl_store__keep_window(p->s, a, (size_t)got, p->mint, p->maxt,
                                          ck->mint >= p->mint && ck->maxt <= p->maxt,
                                          tomb ? key : NULL, kl, seq);
            }
            if (rc == SL_E_CORRUPT)
                SL_ERROR("storage=store event=chunk_corrupt dir=%s series=%u",
                         sl_block_dir(b), p->refs[r].id);
        }
    }
    if (!rc && c->hn) {
        if ((rc = sl_store__acc_reserve(a, c->hn)))
            return rc;
        if (a->n && c->ht[0] <= a->t[a->n - 1])
            a->unsorted = 1; /* head series are sorted and unique; only the junction overlaps */
        memcpy(a->t + a->n, c->ht, c->hn * sizeof *a->t);
        memcpy(a->v + a->n, c->hv, c->hn * sizeof *a->v);
        a->n += c->hn;
    }
    if (!rc && a->unsorted && a->n > 1)
        rc = merge_sources(sc);
    return rc;
}

int sl_series_parts_read(struct sl_series_parts *p, size_t lo, size_t hi,
                         sl_store_series_fn *fn, void *arg)
{
    struct part_scratch sc;
    memset(&sc, 0, sizeof sc);
    sl_store__chunks_init(&sc.chunks);
    sc.lzlen = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1);
    if (!(sc.lz = malloc(sc.lzlen)))
        return -ENOMEM;
    int rc = 0;
    for (size_t i = lo; i < hi && i < p->n && !rc; i++) {
        const struct part_series *c = &p->ps[i];
        if ((rc = read_one(p, c, &sc)))
            break;
        if (sc.a.n == 0)
            continue; /* every sample outside the window or deleted: select skips it too */
        struct sl_store_series s = {c->key, c->keylen, sc.a.t, sc.a.v, sc.a.n};
        rc = fn(arg, &s);
    }
    free(sc.a.t);
    free(sc.m.t);
    free(sc.lz);
    free(sc.perm);
    free(sc.tmp);
    sl_store__chunks_fini(&sc.chunks);
    return rc;
}

void sl_series_parts_destroy(struct sl_series_parts *p)
{
    if (!p)
        return;
    sl_store__blocks_release(p->bl, p->nb); /* frees the array, also when it is NULL */
    pthread_rwlock_unlock(&p->s->tlock);
    free(p->ps);
    free(p->refs);
    for (struct head_slab *h = p->hslabs, *nx; h; h = nx) {
        nx = h->next;
        free(h);
    }
    sl_store__slabs_free(p->slabs);
    free(p);
}
