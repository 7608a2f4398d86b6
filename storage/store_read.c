/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's read path: sl_store_select() and the series sets it returns.
 *
 * A select materialises its result: matching series are gathered per key from every raw
 * block (oldest first) and then the head, each source appending its samples in time order
 * into one array per series sized by a counting pass over chunk headers. A series whose
 * sources overlap in time gets one stable sort followed by "keep the last of equal
 * timestamps", so the most recent write wins; the others need no merge. Copying head
 * samples under the read lock is what makes the snapshot consistent without blocking
 * appends for the length of a query: blocks are immutable and only need a reference.
 *
 * Both the head and the blocks are matched through postings lists: the head keeps an
 * in-memory index in step with its series (storage/postings.h), read under the same read
 * lock as the samples, so a select touches only the series its matchers name.
 */
#include "storage/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/codec.h"
#include "storage/store_pvt.h"

void sl_store__sort_perm(const int64_t *t, uint32_t *perm, uint32_t *tmp, size_t n)
{
    /* bottom-up merge sort: stable, so a later source wins among equal timestamps */
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = t[i - 1] <= t[i];
    if (sorted)
        return;
    uint32_t *a = perm, *b = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = t[a[j]] < t[a[i]] ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        uint32_t *x = a;
        a = b;
        b = x;
    }
    if (a != perm)
        memcpy(perm, a, n * sizeof *perm);
}


/* The keys of a selection are copied into 64 KiB slabs, one malloc per few hundred keys
 * instead of one per series; the slabs go with the series set. */
struct sl_store_keyslab {
    struct sl_store_keyslab *next;
    size_t used, cap;
    char data[];
};

char *sl_store__slab_copy(struct sl_store_keyslab **head, const char *p, size_t n)
{
    struct sl_store_keyslab *s = *head;
    if (!s || s->cap - s->used < n) {
        size_t cap = 65536 - sizeof *s;
        if (cap < n)
            cap = n;
        if (!(s = malloc(sizeof *s + cap)))
            return NULL;
        s->next = *head;
        s->used = 0;
        s->cap = cap;
        *head = s;
    }
    char *q = s->data + s->used;
    memcpy(q, p, n);
    s->used += n;
    return q;
}

void sl_store__slabs_free(struct sl_store_keyslab *s)
{
    while (s) {
        struct sl_store_keyslab *next = s->next;
        free(s);
        s = next;
    }
}


struct coll {
    struct sl_keymap map;
    struct sl_store_acc *a;
    size_t n, cap;
    struct sl_store_keyslab *slabs;
};

int sl_store__keyed_get(struct sl_keymap *map, struct sl_store_keyslab **slabs, void **arr,
                        size_t *n, size_t *cap, size_t elem, const char *key, size_t len,
                        int *created, uint32_t *idx)
{
    uint64_t h = sl_key_hash(key, len);
    uint32_t x = sl_keymap_get(map, key, len, h);
    *created = 0;
    if (x == UINT32_MAX) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            void *na = realloc(*arr, nc * elem);
            if (!na)
                return -ENOMEM;
            *arr = na;
            *cap = nc;
            /* keys live in slabs that never move, so the map's borrowed pointers stay valid */
        }
        char *k = sl_store__slab_copy(slabs, key, len);
        if (!k)
            return -ENOMEM;
        if (sl_keymap_put(map, k, len, h, (uint32_t)*n))
            return -ENOMEM;
        char *e = (char *)*arr + *n * elem;
        memset(e, 0, elem);
        struct sl_store_keyhead kh = {k, (uint32_t)len};
        memcpy(e, &kh, sizeof kh);
        *created = 1;
        x = (uint32_t)(*n)++;
    }
    *idx = x;
    return 0;
}

SL_STORE_KEYED_ELEM(struct sl_store_acc);

static int coll_get(struct coll *c, const char *key, size_t len, struct sl_store_acc **out)
{
    int created;
    uint32_t x;
    void *arr = c->a;
    int rc = sl_store__keyed_get(&c->map, &c->slabs, &arr, &c->n, &c->cap, sizeof *c->a, key,
                                 len, &created, &x);
    c->a = arr;
    if (rc)
        return rc;
    *out = &c->a[x];
    return 0;
}

/* Room for @more samples after a->n. The timestamps and values of a series share one
 * malloc block (v = t + cap): one allocation per series instead of two, which is what an
 * instant query over 10,000 series spends its time on. Later growth (head appends after the
 * sizing pass, tombstoned reads) at least doubles, so a series moves O(log n) times. */
int sl_store__acc_reserve(struct sl_store_acc *a, size_t more)
{
    if (a->cap - a->n >= more)
        return 0;
    /* exact the first time (the sizing pass or the head read knows the count) */
    size_t nc = a->cap ? a->cap * 2 : more;
    if (nc < a->n + more)
        nc = a->n + more;
    if (nc > SIZE_MAX / 16)
        return -ENOMEM;
    int64_t *nt = malloc(nc * (sizeof *nt + sizeof *a->v));
    if (!nt)
        return -ENOMEM;
    double *nv = (double *)(nt + nc);
    if (a->n) {
        memcpy(nt, a->t, a->n * sizeof *nt);
        memcpy(nv, a->v, a->n * sizeof *nv);
    }
    free(a->t);
    a->t = nt;
    a->v = nv;
    a->cap = nc;
    return 0;
}

static void coll_free(struct coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->a[i].t);
    free(c->a);
    sl_store__slabs_free(c->slabs);
    sl_keymap_fini(&c->map);
}

/* lz4 scratch for chunk decoding; samples are decoded straight into the series' arrays */
struct decode_buf {
    uint8_t *scratch;
    size_t scratch_len;
};

static int decode_buf_init(struct decode_buf *d, unsigned ncols)
{
    d->scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, ncols);
    d->scratch = malloc(d->scratch_len);
    return d->scratch ? 0 : -ENOMEM;
}

static void decode_buf_fini(struct decode_buf *d)
{
    free(d->scratch);
}

/* The @got samples just decoded at a->t + a->n: keep those in [mint, maxt] not deleted by a
 * tombstone of @key (NULL: none applies). @inside: the chunk lies within the window. */
void sl_store__keep_window(struct sl_store *s, struct sl_store_acc *a, size_t got, int64_t mint,
                           int64_t maxt, int inside, const char *key, size_t kl, uint64_t seq)
{
    int64_t *t = a->t + a->n;
    double *v = a->v + a->n;
    size_t k = 0;
    if (inside && !key) {
        k = got;
    } else {
        for (size_t j = 0; j < got; j++) {
            if (t[j] < mint || t[j] > maxt)
                continue;
            if (key && sl_store__tomb_overlaps(s, key, kl, t[j], t[j], seq))
                continue;
            t[k] = t[j];
            v[k] = v[j];
            k++;
        }
    }
    /* order checked while the chunk is still in cache, not in a pass over every series */
    int bad = k && a->n && t[0] <= a->t[a->n - 1];
    for (size_t j = 1; j < k; j++)
        bad |= t[j] <= t[j - 1];
    a->unsorted |= bad;
    if (k)
        a->hit = 1;
    a->n += k;
}

int sl_store__block_chunks(struct sl_store_chunks *c, const struct sl_block *b, uint32_t id,
                           const char **key, size_t *kl)
{
    int nch = sl_block_series(b, id, key, kl, c->ch, c->cap);
    if (nch > (int)c->cap) {
        struct sl_block_chunk *nc = malloc((size_t)nch * sizeof *nc);
        if (!nc)
            return -ENOMEM;
        sl_store__chunks_fini(c);
        c->ch = nc;
        c->cap = (size_t)nch;
        nch = sl_block_series(b, id, key, kl, c->ch, c->cap);
    }
    return nch;
}

/* Sizing pass over one block: add each series' sample count in the chunks overlapping
 * [mint, maxt] (read from chunk headers, nothing decoded) to its acc->est, so that its
 * arrays are allocated once at their final size instead of growing chunk by chunk (the
 * reallocs copied each 6 h series about twice and touched fresh pages each time). */
static int count_block(const struct sl_block *b, const uint32_t *ids, size_t n, int64_t mint,
                       int64_t maxt, struct coll *c)
{
    struct sl_store_chunks cs;
    sl_store__chunks_init(&cs);
    const struct sl_block_chunk *ch;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *key;
        size_t kl;
        int nch = sl_store__block_chunks(&cs, b, ids[i], &key, &kl);
        if (nch < 0) {
            rc = nch;
            break;
        }
        ch = cs.ch;
        size_t cnt = 0;
        for (int k = 0; k < nch; k++) {
            size_t cn;
            unsigned ncols;
            if (ch[k].maxt < mint || ch[k].mint > maxt ||
                sl_codec_chunk_info(ch[k].p, ch[k].len, &cn, &ncols))
                continue; /* a corrupt chunk is reported by the read */
            cnt += cn;
        }
        struct sl_store_acc *a;
        if (cnt && !(rc = coll_get(c, key, kl, &a)))
            a->est += cnt;
    }
    sl_store__chunks_fini(&cs);
    return rc;
}

/* First index of head series @hs with t >= @t. Queries mostly read the newest samples
 * (an instant query's 5 minutes, a dashboard's last hour): a short walk back from the end
 * finds those without the binary search's cache misses over the whole series. */
static size_t head_from(const struct sl_head_series *hs, int64_t t)
{
    size_t j = hs->n;
    for (int k = 0; k < 64 && j > 0; k++, j--)
        if (hs->t[j - 1] < t)
            return j;
    return j == 0 ? 0 : sl_head_lower(hs, t);
}

/* The head's part of the sizing pass; under the caller's read lock. */
static int count_head(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                      int64_t maxt, struct coll *c)
{
    uint32_t *ids;
    size_t nids;
    int rc = sl_head_match(&s->head, ms, &ids, &nids); /* the postings index, as read_head */
    for (size_t x = 0; x < nids && !rc; x++) {
        const struct sl_head_series *hs = &s->head.s[ids[x]];
        if (hs->n == 0 || hs->t[0] > maxt || hs->t[hs->n - 1] < mint)
            continue;
        size_t j = head_from(hs, mint);
        size_t e = hs->t[hs->n - 1] <= maxt ? hs->n : head_from(hs, maxt + 1);
        struct sl_store_acc *a;
        if (e > j && !(rc = coll_get(c, hs->key, hs->keylen, &a)))
            a->est += e - j;
    }
    free(ids);
    return rc;
}

static int read_block(struct sl_store *s, const struct sl_block *b, const uint32_t *ids,
                      size_t n, int64_t mint, int64_t maxt, int keys_only, struct coll *c,
                      struct decode_buf *d)
{
    int rc = 0;
    struct sl_store_chunks cs;
    sl_store__chunks_init(&cs);
    for (size_t i = 0; i < n && !rc; i++) {
        const char *key;
        size_t kl;
        int nch = sl_store__block_chunks(&cs, b, ids[i], &key, &kl);
        if (nch < 0) {
            rc = nch;
            break;
        }
        const struct sl_block_chunk *ch = cs.ch;
        uint64_t seq = sl_block_meta(b)->seq;
        int tomb = sl_store__has_tomb(s, key, kl, seq);
        struct sl_store_acc *a = NULL;
        for (int k = 0; k < nch && !rc; k++) {
            if (ch[k].maxt < mint || ch[k].mint > maxt)
                continue;
            if (!a && (rc = coll_get(c, key, kl, &a)))
                break;
            if (keys_only && !tomb) {
                a->hit = 1;
                break;
            }
            /* decoded straight into the series' arrays: no per-sample copy or check
             * unless the chunk sticks out of [mint, maxt] or a tombstone covers part of it */
            size_t cn;
            unsigned ncols;
            if (sl_codec_chunk_info(ch[k].p, ch[k].len, &cn, &ncols) || cn > SL_CODEC_CHUNK_MAX) {
                rc = SL_E_CORRUPT;
            } else if (!(rc = sl_store__acc_reserve(a, cn))) {
                double *cols[1] = {a->v + a->n};
                int got = sl_codec_chunk_decode(ch[k].p, ch[k].len, a->t + a->n, cols, 1,
                                                a->cap - a->n, d->scratch, d->scratch_len);
                rc = got < 0 ? SL_E_CORRUPT : 0;
                if (!rc) {
                    size_t n0 = a->n;
                    sl_store__keep_window(s, a, (size_t)got, mint, maxt,
                                ch[k].mint >= mint && ch[k].maxt <= maxt, tomb ? key : NULL, kl,
                                seq);
                    if (keys_only) /* only whether a sample survives the tombstones */
                        a->n = n0;
                }
            }
            if (rc == SL_E_CORRUPT)
                SL_ERROR("storage=store event=chunk_corrupt dir=%s series=%u",
                         sl_block_dir(b), ids[i]);
        }
    }
    sl_store__chunks_fini(&cs);
    return rc;
}

static int read_head(struct sl_store *s, const struct sl_matchers *ms, int64_t mint, int64_t maxt,
                     int keys_only, int last_only, struct coll *c)
{
    uint32_t *ids;
    size_t nids;
    int rc = sl_head_match(&s->head, ms, &ids, &nids);
    for (size_t x = 0; x < nids && !rc; x++) {
        const struct sl_head_series *hs = &s->head.s[ids[x]];
        if (hs->n == 0 || hs->t[0] > maxt || hs->t[hs->n - 1] < mint)
            continue;
        size_t j = head_from(hs, mint);
        if (j >= hs->n || hs->t[j] > maxt)
            continue;
        struct sl_store_acc *a;
        if ((rc = coll_get(c, hs->key, hs->keylen, &a)))
            break;
        a->hit = 1;
        if (keys_only)
            continue;
        /* [j, e): the samples in the window, copied in two memcpy */
        size_t e = hs->t[hs->n - 1] <= maxt ? hs->n : head_from(hs, maxt + 1);
        if (last_only && e > j)
            j = e - 1; /* the newest is all an instant read uses; it wins over blocks too */
        if ((rc = sl_store__acc_reserve(a, e - j)))
            break;
        /* head series are sorted and unique; only the junction with blocks can overlap */
        if (e > j && a->n && hs->t[j] <= a->t[a->n - 1])
            a->unsorted = 1;
        memcpy(a->t + a->n, hs->t + j, (e - j) * sizeof *a->t);
        memcpy(a->v + a->n, hs->v + j, (e - j) * sizeof *a->v);
        a->n += e - j;
    }
    free(ids);
    return rc;
}

static int acc_cmp(const void *x, const void *y)
{
    const struct sl_store_acc *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen : b->keylen);
    return c ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

/* Sort and dedupe each series in place, drop series without samples, sort by key. */
static int coll_finish(struct coll *c, int keys_only, int last_only,
                       struct sl_series_set **out)
{
    uint32_t *perm = NULL, *tmp = NULL;
    size_t pcap = 0, o = 0;
    int rc = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct sl_store_acc *a = &c->a[i];
        if (!a->hit || (!keys_only && a->n == 0)) {
            free(a->t);
            continue;
        }
        /* Sources come in time order (blocks by time, head last) and rarely overlap: a
         * series already strictly ascending (checked as it was read) needs no merge, sort
         * or copy. */
        if (a->unsorted && a->n > 1) {
            if (a->n > pcap) {
                free(perm);
                free(tmp);
                pcap = a->n;
                perm = malloc(pcap * sizeof *perm);
                tmp = malloc(pcap * sizeof *tmp);
                if (!perm || !tmp) {
                    rc = -ENOMEM;
                    pcap = 0;
                }
            }
            if (!rc) {
                sl_store__sort_perm(a->t, perm, tmp, a->n);
                int64_t *nt = malloc(a->n * (sizeof *nt + sizeof *a->v));
                double *nv = nt ? (double *)(nt + a->n) : NULL; /* one block, as acc_reserve */
                if (!nt) {
                    rc = -ENOMEM;
                } else {
                    size_t m = 0;
                    for (size_t k = 0; k < a->n; k++) {
                        uint32_t p = perm[k];
                        if (m && nt[m - 1] == a->t[p]) {
                            nv[m - 1] = a->v[p]; /* a later source overwrites */
                            continue;
                        }
                        nt[m] = a->t[p];
                        nv[m] = a->v[p];
                        m++;
                    }
                    free(a->t);
                    a->t = nt;
                    a->v = nv;
                    a->cap = a->n; /* v = t + cap, as acc_reserve lays the block out */
                    a->n = m;
                }
            }
        }
        if (last_only && a->n > 1) {
            /* merged and deduplicated: keep the newest (v lives at t + cap, so it moves
             * within its own array) */
            a->t[0] = a->t[a->n - 1];
            a->v[0] = a->v[a->n - 1];
            a->n = 1;
        }
        c->a[o++] = *a;
    }
    free(perm);
    free(tmp);
    c->n = o;
    sl_keymap_fini(&c->map);
    if (rc) {
        coll_free(c);
        return rc;
    }
    if (c->n)
        qsort(c->a, c->n, sizeof *c->a, acc_cmp);
    struct sl_series_set *ss = malloc(sizeof *ss);
    if (!ss) {
        coll_free(c);
        return -ENOMEM;
    }
    ss->a = c->a;
    ss->n = c->n;
    ss->slabs = c->slabs;
    *out = ss;
    return 0;
}

static int select_locked(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                         int64_t maxt, unsigned flags, struct sl_series_set **out);

int sl_store__select(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                     int64_t maxt, unsigned flags, struct sl_series_set **out)
{
    /* no cut between the block list and the head read (see cutlock) */
    pthread_rwlock_rdlock(&s->cutlock);
    int rc = select_locked(s, ms, mint, maxt, flags, out);
    pthread_rwlock_unlock(&s->cutlock);
    return rc;
}

static int select_locked(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                         int64_t maxt, unsigned flags, struct sl_series_set **out)
{
    int keys_only = (flags & SL_SELECT_KEYS_ONLY) != 0;
    int last_only = (flags & SL_SELECT_LAST) != 0;
    struct coll c = {0};
    sl_keymap_init(&c.map);
    struct sl_bref **bl;
    int nb = sl_store__blocks_snapshot(s, &bl);
    if (nb < 0)
        return nb;
    struct decode_buf d;
    int rc = decode_buf_init(&d, 1);
    /* each block's matching series, found once for both passes */
    struct {
        uint32_t *ids;
        size_t n;
    } *sel = calloc((size_t)nb + 1, sizeof *sel);
    if (!sel)
        rc = -ENOMEM;
    for (int i = 0; i < nb && !rc; i++) {
        const struct sl_block_meta *m = bl[i]->m;
        if (m->resolution_ms != 0 || m->maxt < mint || m->mint > maxt)
            continue;
        rc = sl_block_select(bl[i]->b, ms, &sel[i].ids, &sel[i].n);
        if (!rc && !keys_only)
            rc = count_block(bl[i]->b, sel[i].ids, sel[i].n, mint, maxt, &c);
    }
    /* With no block in the window (instant queries, recent ranges) the head read sizes
     * each series exactly by itself: no second walk over the head. */
    if (!rc && !keys_only && c.n) {
        if (!last_only) { /* a last-only head read adds one sample per series, not its count */
            pthread_rwlock_rdlock(&s->lock);
            rc = count_head(s, ms, mint, maxt, &c);
            pthread_rwlock_unlock(&s->lock);
        }
        for (size_t i = 0; i < c.n && !rc; i++)
            rc = sl_store__acc_reserve(&c.a[i], c.a[i].est);
    }
    for (int i = 0; i < nb && !rc; i++)
        if (sel[i].ids)
            rc = read_block(s, bl[i]->b, sel[i].ids, sel[i].n, mint, maxt, keys_only, &c, &d);
    for (int i = 0; sel && i < nb; i++)
        free(sel[i].ids);
    free(sel);
    decode_buf_fini(&d);
    sl_store__blocks_release(bl, (size_t)nb);
    if (!rc) {
        /* head last: it holds the most recent writes, which win on equal timestamps */
        pthread_rwlock_rdlock(&s->lock);
        rc = read_head(s, ms, mint, maxt, keys_only, last_only, &c);
        pthread_rwlock_unlock(&s->lock);
    }
    if (rc) {
        coll_free(&c);
        return rc;
    }
    return coll_finish(&c, keys_only, last_only, out);
}

int sl_store_select(struct sl_store *s, const struct sl_store_matcher *m, size_t nm, int64_t mint,
                    int64_t maxt, unsigned flags, struct sl_series_set **out, char *errbuf,
                    size_t errlen)
{
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, errbuf, errlen);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->tlock);
    rc = sl_store__select(s, ms, mint, maxt, flags, out);
    pthread_rwlock_unlock(&s->tlock);
    sl_matchers_destroy(ms);
    return rc;
}

size_t sl_series_set_count(const struct sl_series_set *ss)
{
    return ss->n;
}

void sl_series_set_get(const struct sl_series_set *ss, size_t i, struct sl_store_series *out)
{
    const struct sl_store_acc *a = &ss->a[i];
    out->key = a->key;
    out->key_len = a->keylen;
    out->t = a->t;
    out->v = a->v;
    out->n = a->n;
}

void sl_series_set_take(struct sl_series_set *ss, size_t i)
{
    struct sl_store_acc *a = &ss->a[i];
    a->t = NULL;
    a->v = NULL;
    a->n = 0;
}

void sl_series_set_destroy(struct sl_series_set *ss)
{
    if (!ss)
        return;
    for (size_t i = 0; i < ss->n; i++)
        free(ss->a[i].t);
    free(ss->a);
    sl_store__slabs_free(ss->slabs);
    free(ss);
}

