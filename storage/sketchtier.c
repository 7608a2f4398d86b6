/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sketch side of the store: timer interval sketches (struct sl_sketch_sample) through
 * every step the samples take. The cut writes the sketch head's range into the new block's
 * sketch section; compaction and tombstone purges merge sketch series like sample series
 * (later source wins on an equal timestamp, tombstoned entries left out); a tier block gets,
 * per bucket, the merge of every interval sketch (first tier) or finer bucket (the others)
 * in it; retention drops them with their blocks; deletes tombstone sketch keys like sample
 * keys. sl_store_read_sketch() mirrors sl_store_read_agg(): tier blocks where maintenance
 * built them, raw sketches (blocks then head) merged on the fly for the rest.
 *
 * Sketches travel encoded (engine/ddsketch.h) and are decoded only to merge, so cutting and
 * compacting never pay for bin arrays. Locks are the callers' (store_pvt.h): maintenance
 * steps hold mmu (and wmu for the cut); reads hold tlock for reading.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/codec.h"
#include "storage/store_pvt.h"
#include "storage/tier.h"

int64_t sl_store__head_maxt(const struct sl_store *s)
{
    return s->head.maxt > s->skhead.maxt ? s->head.maxt : s->skhead.maxt;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

struct skkey {
    const char *key;
    uint32_t len, idx;
};

static int skkey_cmp(const void *a, const void *b)
{
    const struct skkey *x = a, *y = b;
    return key_cmp(x->key, x->len, y->key, y->len);
}

/* ---- appends and replay ------------------------------------------------------------ */

int sl_store__sk_reserve(struct sl_store *s, size_t n)
{
    if (n <= s->sk_cap)
        return 0;
    size_t nc = s->sk_cap ? s->sk_cap : 256;
    while (nc < n)
        nc *= 2;
    uint32_t *ni = realloc(s->skidx, nc * sizeof *ni);
    if (!ni)
        return -ENOMEM;
    s->skidx = ni;
    uint8_t **nb = realloc(s->skbuf, nc * sizeof *nb);
    if (!nb)
        return -ENOMEM;
    s->skbuf = nb;
    uint32_t *nl = realloc(s->sklen, nc * sizeof *nl);
    if (!nl)
        return -ENOMEM;
    s->sklen = nl;
    s->sk_cap = nc;
    return 0;
}

/* Validate @sk and add their WAL bytes to *@need. Merging into an empty
 * sketch of the store's alpha is how a foreign alpha is caught (the merge refuses it). */
int sl_store__sketches_check(struct sl_store *s, const struct sl_sketch_sample *sk, size_t nsk,
                          size_t *need)
{
    for (size_t i = 0; i < nsk; i++) {
        const struct sl_sketch_sample *x = &sk[i];
        if (!x->key || x->key_len < 2 || x->key_len > SL_KEY_MAX || x->key[x->key_len - 1] != 0 ||
            !x->sketch)
            return -EINVAL;
        sl_ddsketch_reset(s->skcheck);
        int rc = sl_ddsketch_merge(s->skcheck, x->sketch);
        if (rc)
            return rc;
        int el = sl_ddsketch_encode(x->sketch, NULL, 0);
        if (el <= 0)
            return el < 0 ? el : -EINVAL;
        s->sklen[i] = (uint32_t)el;
        *need += 10 + x->key_len + 8 + 10 + (size_t)el;
    }
    return 0;
}

static uint64_t get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The sketches part of a SKETCHES record: `varint n`, then n times `varint key_len, key,
 * i64 t, varint len, encoding`. The encodings are kept as they are (the record's CRC
 * vouches for them; every reader decodes strictly). @return 0, 1 (malformed), -ENOMEM. */
/* Walk the sketches part of a SKETCHES record; with @apply 0 only check it: every entry in
 * bounds and every encoding decodable with the store's alpha, so nothing a later merge
 * (tiers, reads) would refuse ever reaches the head. */
static int replay_walk(struct sl_store *s, const uint8_t *p, const uint8_t *end, int apply)
{
    uint64_t n, kl, el;
    size_t m;
    if (!(m = sl_varint_get(p, end, &n)))
        return 1;
    p += m;
    for (uint64_t i = 0; i < n; i++) {
        if (!(m = sl_varint_get(p, end, &kl)) || kl < 2 || kl > SL_KEY_MAX ||
            (size_t)(end - p) - m < kl + 8)
            return 1;
        p += m;
        const char *key = (const char *)p;
        int64_t t = (int64_t)get64le(p + kl);
        p += kl + 8;
        if (!(m = sl_varint_get(p, end, &el)) || el == 0 || el > (uint64_t)(end - p) - m)
            return 1;
        p += m;
        if (!apply) {
            struct sl_ddsketch *sk;
            int rc = sl_ddsketch_decode(p, (size_t)el, &sk);
            if (rc == -ENOMEM)
                return rc;
            if (rc)
                return 1;
            sl_ddsketch_reset(s->skcheck);
            rc = sl_ddsketch_merge(s->skcheck, sk);
            sl_ddsketch_destroy(sk);
            if (rc == -ENOMEM)
                return rc;
            if (rc || key[kl - 1] != 0 || t <= -SL_STORE_T_LIMIT || t >= SL_STORE_T_LIMIT)
                return 1;
            p += el;
            continue;
        }
        uint8_t *enc = malloc((size_t)el);
        uint32_t x;
        if (!enc || sl_skhead_prepare(&s->skhead, key, (uint32_t)kl, &x)) {
            free(enc);
            return -ENOMEM;
        }
        memcpy(enc, p, (size_t)el);
        sl_skhead_commit(&s->skhead, x, t, enc, (uint32_t)el);
        p += el;
    }
    return p == end ? 0 : 1;
}

int sl_store__replay_sketches(struct sl_store *s, const uint8_t *p, const uint8_t *end)
{
    int rc = replay_walk(s, p, end, 0);
    return rc ? rc : replay_walk(s, p, end, 1);
}

/* ---- cut ------------------------------------------------------------------------------ */

int sl_store__cut_sketches(struct sl_store *s, struct sl_block_writer *w, int64_t mint,
                           int64_t maxt)
{
    struct sl_skhead *h = &s->skhead;
    if (h->nsketches == 0)
        return 0;
    struct skkey *ki = malloc(h->n * sizeof *ki);
    if (!ki)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->s[i].n)
            ki[n++] = (struct skkey){h->s[i].key, h->s[i].keylen, (uint32_t)i};
    if (n)
        qsort(ki, n, sizeof *ki, skkey_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct sl_skhead_series *hs = &h->s[ki[i].idx];
        size_t a = sl_skhead_lower(hs, mint);
        size_t b = maxt == INT64_MAX ? hs->n : sl_skhead_lower(hs, maxt + 1);
        if (b > a)
            rc = sl_block_writer_add_sketches(w, hs->key, hs->keylen, hs->t + a,
                                              (const uint8_t *const *)hs->enc + a, hs->len + a,
                                              b - a);
    }
    free(ki);
    return rc;
}

/* ---- runs: sketches gathered from several sources ---------------------------------- */

/* Hand @buf to @r, which frees it in sl_sketch_run_fini(). */
static int run_own(struct sl_sketch_run *r, uint8_t *buf)
{
    if (r->nbufs == r->bufcap) {
        size_t nc = r->bufcap ? r->bufcap * 2 : 8;
        uint8_t **nb = realloc(r->bufs, nc * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        r->bufs = nb;
        r->bufcap = nc;
    }
    r->bufs[r->nbufs++] = buf;
    return 0;
}

/* Read series @key of block @b in [mint, maxt] into @r, leaving out what a tombstone that
 * applies to @b hides (for tier blocks, a bucket touched by a deletion goes entirely). */
static int run_read_block(struct sl_store *s, const struct sl_block *b, const char *key,
                          size_t kl, int64_t mint, int64_t maxt, struct sl_sketch_run *r)
{
    uint32_t id;
    if (sl_block_sketch_find(b, key, kl, &id))
        return 0;
    size_t from = r->n;
    int rc = sl_block_sketch_read(b, id, mint, maxt, r);
    const struct sl_block_meta *m = sl_block_meta(b);
    if (rc || !sl_store__has_tomb(s, key, kl, m->seq))
        return rc;
    int64_t span = m->resolution_ms > 0 ? m->resolution_ms - 1 : 0;
    size_t o = from;
    for (size_t i = from; i < r->n; i++) {
        if (sl_store__tomb_overlaps(s, key, kl, r->t[i], r->t[i] + span, m->seq))
            continue;
        r->t[o] = r->t[i];
        r->enc[o] = r->enc[i];
        r->len[o] = r->len[i];
        o++;
    }
    r->n = o;
    return 0;
}

/* Stable sort by time and keep the last of equal timestamps (later sources were added
 * later, so they win), in place. */
static int run_settle(struct sl_sketch_run *r)
{
    if (r->n < 2)
        return 0;
    uint32_t *perm = malloc(r->n * sizeof *perm), *tmp = malloc(r->n * sizeof *tmp);
    int64_t *t = malloc(r->n * sizeof *t);
    const uint8_t **e = malloc(r->n * sizeof *e);
    uint32_t *l = malloc(r->n * sizeof *l);
    int rc = perm && tmp && t && e && l ? 0 : -ENOMEM;
    if (!rc) {
        sl_store__sort_perm(r->t, perm, tmp, r->n);
        size_t o = 0;
        for (size_t i = 0; i < r->n; i++) {
            uint32_t p = perm[i];
            if (o && t[o - 1] == r->t[p])
                o--;
            t[o] = r->t[p];
            e[o] = r->enc[p];
            l[o] = r->len[p];
            o++;
        }
        memcpy(r->t, t, o * sizeof *t);
        memcpy(r->enc, e, o * sizeof *e);
        memcpy(r->len, l, o * sizeof *l);
        r->n = o;
    }
    free(perm);
    free(tmp);
    free(t);
    free(e);
    free(l);
    return rc;
}

/* ---- compaction and purge ----------------------------------------------------------- */

int sl_store__merge_sketches(struct sl_store *s, struct sl_bref *const *src, size_t k,
                             struct sl_block_writer *w)
{
    uint32_t *cur = calloc(k, sizeof *cur);
    if (!cur)
        return -ENOMEM;
    int rc = 0;
    while (!rc) {
        /* k-way merge over the blocks' key-sorted sketch series */
        const char *mk = NULL;
        size_t mkl = 0;
        for (size_t i = 0; i < k; i++) {
            if (cur[i] >= src[i]->m->nsketch_series)
                continue;
            const char *key;
            size_t kl;
            sl_block_sketch_series(src[i]->b, cur[i], &key, &kl, NULL, 0);
            if (!mk || key_cmp(key, kl, mk, mkl) < 0) {
                mk = key;
                mkl = kl;
            }
        }
        if (!mk)
            break;
        struct sl_sketch_run r = {0};
        for (size_t i = 0; i < k && !rc; i++) {
            if (cur[i] >= src[i]->m->nsketch_series)
                continue;
            const char *key;
            size_t kl;
            sl_block_sketch_series(src[i]->b, cur[i], &key, &kl, NULL, 0);
            if (kl == mkl && memcmp(key, mk, kl) == 0) {
                rc = run_read_block(s, src[i]->b, key, kl, INT64_MIN, INT64_MAX, &r);
                cur[i]++;
            }
        }
        if (!rc)
            rc = run_settle(&r);
        if (!rc && r.n)
            rc = sl_block_writer_add_sketches(w, mk, mkl, r.t, r.enc, r.len, r.n);
        sl_sketch_run_fini(&r);
    }
    free(cur);
    return rc;
}

/* ---- tiers ---------------------------------------------------------------------------- */

/* Merge @r into buckets of @res: @out receives the encoded buckets. */
static int run_buckets(const struct sl_sketch_run *r, int64_t res, struct sl_sketch_enc **out)
{
    if (r->n == 0) {
        *out = NULL;
        return 0;
    }
    struct sl_sketch_ref *refs = malloc(r->n * sizeof *refs);
    if (!refs)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        refs[i] = (struct sl_sketch_ref){r->t[i], r->enc[i], r->len[i]};
    int nb = sl_sketch_from_sketches(refs, r->n, res, out);
    free(refs);
    return nb;
}

int sl_store__tier_sketches(struct sl_store *s, const struct sl_bref *src, int64_t res,
                            struct sl_block_writer *w)
{
    int rc = 0;
    for (uint32_t id = 0; !rc && id < src->m->nsketch_series; id++) {
        const char *key;
        size_t kl;
        sl_block_sketch_series(src->b, id, &key, &kl, NULL, 0);
        struct sl_sketch_run r = {0};
        rc = run_read_block(s, src->b, key, kl, INT64_MIN, INT64_MAX, &r);
        struct sl_sketch_enc *bk = NULL;
        int nb = rc ? 0 : run_buckets(&r, res, &bk);
        if (nb < 0) {
            rc = nb;
            SL_ERROR("storage=store event=sketch_merge_failed dir=%s series=%u err=\"%s\"",
                     sl_block_dir(src->b), id, sl_strerror(rc));
        }
        if (nb > 0) {
            int64_t *t = malloc((size_t)nb * sizeof *t);
            const uint8_t **e = malloc((size_t)nb * sizeof *e);
            uint32_t *l = malloc((size_t)nb * sizeof *l);
            if (!t || !e || !l)
                rc = -ENOMEM;
            for (int i = 0; !rc && i < nb; i++) {
                t[i] = bk[i].t;
                e[i] = bk[i].enc;
                l[i] = bk[i].len;
            }
            if (!rc)
                rc = sl_block_writer_add_sketches(w, key, kl, t, e, l, (size_t)nb);
            free(t);
            free(e);
            free(l);
        }
        sl_sketch_enc_free(bk, nb > 0 ? (size_t)nb : 0);
        sl_sketch_run_fini(&r);
    }
    return rc;
}

int sl_store__block_has_sketch(const struct sl_block *b, const char *key, size_t len)
{
    uint32_t id;
    return sl_block_sketch_find(b, key, len, &id) == 0;
}

/* ---- deletes and checkpoints ------------------------------------------------------------ */

struct keyset {
    char **k;
    uint32_t *l;
    size_t n, cap;
    struct sl_keymap map;
};

static int keyset_add(struct keyset *ks, const char *key, size_t len)
{
    uint64_t h = sl_key_hash(key, len);
    if (sl_keymap_get(&ks->map, key, len, h) != UINT32_MAX)
        return 0;
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 16;
        char **nk = realloc(ks->k, nc * sizeof *nk);
        if (!nk)
            return -ENOMEM;
        ks->k = nk;
        uint32_t *nl = realloc(ks->l, nc * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        ks->l = nl;
        ks->cap = nc;
    }
    char *c = malloc(len);
    if (!c)
        return -ENOMEM;
    memcpy(c, key, len);
    if (sl_keymap_put(&ks->map, c, len, h, (uint32_t)ks->n)) {
        free(c);
        return -ENOMEM;
    }
    ks->k[ks->n] = c;
    ks->l[ks->n] = (uint32_t)len;
    ks->n++;
    return 0;
}

int sl_store__sketch_keys(struct sl_store *s, const struct sl_matchers *ms, int64_t mint,
                          int64_t maxt, char ***keys, uint32_t **lens, size_t *n)
{
    struct keyset ks = {0};
    sl_keymap_init(&ks.map);
    int rc = 0;
    /* O(sketch series) per block: deletes are rare and timer series few next to samples */
    for (size_t i = 0; i < s->skhead.n && !rc; i++) {
        const struct sl_skhead_series *hs = &s->skhead.s[i];
        size_t j = sl_skhead_lower(hs, mint);
        if (j < hs->n && hs->t[j] <= maxt && sl_matchers_key_ok(ms, hs->key, hs->keylen))
            rc = keyset_add(&ks, hs->key, hs->keylen);
    }
    struct sl_bref **bl = NULL;
    int nb = rc ? 0 : sl_store__blocks_snapshot(s, &bl);
    if (nb < 0) {
        rc = nb;
        nb = 0;
        bl = NULL;
    }
    for (int b = 0; b < nb && !rc; b++) {
        const struct sl_block_meta *m = bl[b]->m;
        if (m->maxt + m->resolution_ms < mint || m->mint > maxt)
            continue;
        for (uint32_t id = 0; id < m->nsketch_series && !rc; id++) {
            struct sl_block_chunk ch[16];
            const char *key;
            size_t kl;
            int nch = sl_block_sketch_series(bl[b]->b, id, &key, &kl, ch, 16);
            int hit = nch > 16; /* many chunks: keep it, a tombstone on no data is harmless */
            for (int c = 0; c < nch && c < 16 && !hit; c++)
                hit = ch[c].maxt + m->resolution_ms >= mint && ch[c].mint <= maxt;
            if (hit && sl_matchers_key_ok(ms, key, kl))
                rc = keyset_add(&ks, key, kl);
        }
    }
    if (bl)
        sl_store__blocks_release(bl, (size_t)nb);
    sl_keymap_fini(&ks.map);
    if (rc) {
        for (size_t i = 0; i < ks.n; i++)
            free(ks.k[i]);
        free(ks.k);
        free(ks.l);
        return rc;
    }
    *keys = ks.k;
    *lens = ks.l;
    *n = ks.n;
    return 0;
}

static void put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The sketch head as SKETCHES records with no samples, about 4 MiB each. */
int sl_store__wal_checkpoint_sketches(struct sl_store *s)
{
    const struct sl_skhead *h = &s->skhead;
    if (h->nsketches == 0)
        return 0;
    const size_t rec_bytes = 4u << 20;
    size_t cap = rec_bytes, o = 0, cnt = 0;
    uint8_t *b = malloc(cap);
    if (!b)
        return -ENOMEM;
    int rc = 0;
    /* layout: u8 0 (no samples), then the count prefix in the 10 bytes kept free */
    o = 11;
    for (size_t i = 0; i < h->n && !rc; i++) {
        const struct sl_skhead_series *hs = &h->s[i];
        for (uint32_t j = 0; j < hs->n && !rc; j++) {
            size_t need = o + 10 + hs->keylen + 8 + 10 + hs->len[j];
            if (need > cap) {
                size_t nc = cap;
                while (nc < need)
                    nc *= 2;
                uint8_t *nb = realloc(b, nc);
                if (!nb) {
                    rc = -ENOMEM;
                    break;
                }
                b = nb;
                cap = nc;
            }
            o += sl_varint_put(b + o, hs->keylen);
            memcpy(b + o, hs->key, hs->keylen);
            o += hs->keylen;
            put64le(b + o, (uint64_t)hs->t[j]);
            o += 8;
            o += sl_varint_put(b + o, hs->len[j]);
            memcpy(b + o, hs->enc[j], hs->len[j]);
            o += hs->len[j];
            cnt++;
            int last = i + 1 == h->n && j + 1 == hs->n;
            if (o >= rec_bytes || last) {
                uint8_t pre[10];
                size_t pl = sl_varint_put(pre, cnt);
                memcpy(b + 11 - pl, pre, pl);
                b[10 - pl] = 0; /* varint 0: no samples */
                struct iovec v = {b + 10 - pl, o - 10 + pl};
                rc = sl_wal_append(s->wal, SL_WAL_REC_SKETCHES, &v, 1);
                cnt = 0;
                o = 11;
            }
        }
    }
    if (!rc && cnt) {
        /* the last series were empty: flush what is pending */
        uint8_t pre[10];
        size_t pl = sl_varint_put(pre, cnt);
        memcpy(b + 11 - pl, pre, pl);
        b[10 - pl] = 0;
        struct iovec v = {b + 10 - pl, o - 10 + pl};
        rc = sl_wal_append(s->wal, SL_WAL_REC_SKETCHES, &v, 1);
    }
    free(b);
    return rc;
}

/* ---- reads ------------------------------------------------------------------------------ */

void sl_sketch_buckets_free(struct sl_sketch_bucket *b, size_t n)
{
    if (!b)
        return;
    for (size_t i = 0; i < n; i++)
        sl_ddsketch_destroy(b[i].sketch);
    free(b);
}

struct bucketv {
    struct sl_sketch_bucket *b;
    size_t n, cap;
};

/* Decode @enc and append it as bucket @t. */
static int bucketv_add(struct bucketv *v, int64_t t, const uint8_t *enc, size_t len)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        struct sl_sketch_bucket *nb = realloc(v->b, nc * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        v->b = nb;
        v->cap = nc;
    }
    struct sl_ddsketch *sk;
    int rc = sl_ddsketch_decode(enc, len, &sk);
    if (rc)
        return rc == -ENOMEM ? rc : SL_E_CORRUPT;
    v->b[v->n++] = (struct sl_sketch_bucket){t, sk};
    return 0;
}

/* Raw interval sketches of @key in [lo, hi]: raw blocks oldest first, then the head (most
 * recent writes, which win on equal timestamps). Head encodings are copied under the read
 * lock; block ones stay borrowed from @bl, which the caller keeps referenced. */
static int gather_raw(struct sl_store *s, struct sl_bref *const *bl, size_t nb, const char *key,
                      size_t kl, int64_t lo, int64_t hi, struct sl_sketch_run *r)
{
    int rc = 0;
    for (size_t i = 0; i < nb && !rc; i++) {
        const struct sl_block_meta *m = bl[i]->m;
        if (m->resolution_ms != 0 || m->nsketch_series == 0 || m->maxt < lo || m->mint > hi)
            continue;
        rc = run_read_block(s, bl[i]->b, key, kl, lo, hi, r);
    }
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->lock);
    const struct sl_skhead_series *hs = sl_skhead_find(&s->skhead, key, kl);
    if (hs) {
        size_t a = sl_skhead_lower(hs, lo), b = hi == INT64_MAX ? hs->n : sl_skhead_lower(hs, hi + 1);
        size_t bytes = 0;
        for (size_t j = a; j < b; j++)
            bytes += hs->len[j];
        uint8_t *copy = b > a ? malloc(bytes) : NULL;
        if (b > a && (!copy || run_own(r, copy))) {
            free(copy);
            rc = -ENOMEM;
        }
        for (size_t j = a, o = 0; j < b && !rc; j++) {
            memcpy(copy + o, hs->enc[j], hs->len[j]);
            rc = sl_sketch_run_push(r, hs->t[j], copy + o, hs->len[j]);
            o += hs->len[j];
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc ? rc : run_settle(r);
}

/* Buckets of @res over the raw sketches in [lo, hi] whose start lies in [mint, maxt]. */
static int buckets_from_raw(struct sl_store *s, struct sl_bref *const *bl, size_t nb,
                            const char *key, size_t kl, int64_t res, int64_t lo, int64_t hi,
                            int64_t mint, int64_t maxt, struct bucketv *v)
{
    struct sl_sketch_run r = {0};
    int rc = gather_raw(s, bl, nb, key, kl, lo, hi, &r);
    if (!rc && res == 0) {
        for (size_t i = 0; i < r.n && !rc; i++)
            rc = bucketv_add(v, r.t[i], r.enc[i], r.len[i]);
    } else if (!rc) {
        struct sl_sketch_enc *bk = NULL;
        int n = run_buckets(&r, res, &bk);
        if (n < 0)
            rc = n == -ENOMEM ? n : SL_E_CORRUPT;
        for (int i = 0; i < n && !rc; i++)
            if (bk[i].t >= mint && bk[i].t <= maxt)
                rc = bucketv_add(v, bk[i].t, bk[i].enc, bk[i].len);
        sl_sketch_enc_free(bk, n > 0 ? (size_t)n : 0);
    }
    sl_sketch_run_fini(&r);
    return rc;
}

static int bucket_cmp(const void *a, const void *b)
{
    const struct sl_sketch_bucket *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

static int read_sketch_locked(struct sl_store *s, const char *key, size_t kl, int64_t res,
                              int64_t mint, int64_t maxt, struct bucketv *v)
{
    int64_t cr = s->cfg.compact_range_ms;
    int tiered = 0;
    for (unsigned k = 0; res > 0 && k < s->cfg.ntiers; k++)
        tiered |= s->cfg.tiers[k].resolution_ms == res;
    /* clamp to the data the store holds, so open-ended ranges do not walk empty windows */
    int64_t dmin = INT64_MAX, dmax = INT64_MIN;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->nblocks; i++) {
        if (s->blocks[i]->m->nsketch_series == 0)
            continue;
        if (s->blocks[i]->m->mint < dmin)
            dmin = s->blocks[i]->m->mint;
        if (s->blocks[i]->m->maxt > dmax)
            dmax = s->blocks[i]->m->maxt;
    }
    int64_t hmin = sl_skhead_mint(&s->skhead);
    if (hmin < dmin)
        dmin = hmin;
    if (s->skhead.nsketches && s->skhead.maxt > dmax)
        dmax = s->skhead.maxt;
    pthread_rwlock_unlock(&s->lock);
    if (dmin > dmax)
        return 0;
    int64_t lo = res > 0 ? sl_agg_bucket(dmin, res) : dmin;
    if (mint < lo)
        mint = lo;
    if (maxt > dmax)
        maxt = dmax;
    if (mint > maxt)
        return 0;
    struct sl_bref **bl;
    int nb = sl_store__blocks_snapshot(s, &bl);
    if (nb < 0)
        return nb;
    int rc = 0;
    if (!tiered) {
        /* raw intervals, or a resolution that is not a tier: everything from raw data */
        int64_t hi = res > 0 ? sl_agg_bucket(maxt, res) + res - 1 : maxt;
        rc = buckets_from_raw(s, bl, (size_t)nb, key, kl, res, mint, hi, mint, maxt, v);
        sl_store__blocks_release(bl, (size_t)nb);
        return rc;
    }
    /* per compaction window: its tier block when maintenance built one, else raw */
    int64_t wlast = sl_agg_bucket(maxt, cr);
    for (int64_t w = sl_agg_bucket(mint, cr); !rc; w += cr) {
        struct sl_bref *best = NULL;
        for (int i = 0; i < nb; i++)
            if (bl[i]->m->resolution_ms == res && sl_agg_bucket(bl[i]->m->mint, cr) == w)
                best = bl[i]; /* sorted by seq: the last is the latest */
        if (!best) {
            rc = buckets_from_raw(s, bl, (size_t)nb, key, kl, res, w, w + (cr - 1), mint, maxt,
                                  v);
        } else {
            struct sl_sketch_run r = {0};
            rc = run_read_block(s, best->b, key, kl, mint, maxt, &r);
            for (size_t i = 0; i < r.n && !rc; i++)
                rc = bucketv_add(v, r.t[i], r.enc[i], r.len[i]);
            sl_sketch_run_fini(&r);
        }
        if (w >= wlast)
            break;
    }
    sl_store__blocks_release(bl, (size_t)nb);
    return rc;
}

int sl_store_read_sketch(struct sl_store *s, const char *key, size_t keylen,
                         int64_t resolution_ms, int64_t mint, int64_t maxt,
                         struct sl_sketch_bucket **out, size_t *n)
{
    if (resolution_ms < 0 || mint > maxt || keylen < 2 || !key)
        return -EINVAL;
    struct bucketv v = {0};
    pthread_rwlock_rdlock(&s->tlock);
    int rc = read_sketch_locked(s, key, keylen, resolution_ms, mint, maxt, &v);
    pthread_rwlock_unlock(&s->tlock);
    if (rc) {
        sl_sketch_buckets_free(v.b, v.n);
        return rc;
    }
    if (v.n > 1)
        qsort(v.b, v.n, sizeof *v.b, bucket_cmp);
    if (v.n == 0) {
        free(v.b);
        v.b = NULL;
    }
    *out = v.b;
    *n = v.n;
    return 0;
}
