/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matcher-based reads of tier buckets (sl_store_select_agg), of raw samples at a list of
 * instants (sl_store_select_at) and the span each tier covers (sl_store_tier_span): what
 * the PromQL engine needs to answer a coarse-step query from a downsampled tier. Kept apart
 * from sl_store_read_agg (one key, maintain.c) because a query selects thousands of series
 * at once: each tier block is searched once through its postings with the query's matchers
 * instead of once per key, the windows that have no fresh tier block (the head, windows not
 * yet closed or whose raw data changed since the tier was built) are computed from raw
 * samples with one select for the whole run of such windows, and the samples at window ends
 * come from one pass that decodes only the raw chunks holding one of them.
 *
 * A tier block of window w is used only when it is fresh - built from the current blocks of
 * the level below, recursively down to raw (the rule maintenance uses to rebuild stale
 * tiers) -, the head holds nothing in w and no deletion since the block was built touches
 * w, so the buckets are always those of the data a raw select would see at that moment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/codec.h"
#include "storage/store_pvt.h"
#include "storage/tier.h"

struct agg_series {
    char *key;
    uint32_t keylen;
    struct sl_agg *b;
    size_t n, cap;
};
SL_STORE_KEYED_ELEM(struct agg_series);

struct agg_coll {
    struct sl_keymap map;
    struct agg_series *s;
    size_t n, cap;
    struct sl_store_keyslab *slabs; /* the keys of s[] */
};

static int coll_series(struct agg_coll *c, const char *key, size_t len, struct agg_series **out)
{
    int created;
    uint32_t x;
    void *arr = c->s;
    int rc = sl_store__keyed_get(&c->map, &c->slabs, &arr, &c->n, &c->cap, sizeof *c->s, key,
                                 len, &created, &x);
    c->s = arr;
    if (rc)
        return rc;
    *out = &c->s[x];
    return 0;
}

static int series_push(struct agg_series *a, const struct sl_agg *b)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        struct sl_agg *nb = realloc(a->b, nc * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        a->b = nb;
        a->cap = nc;
    }
    a->b[a->n++] = *b;
    return 0;
}

static void coll_free(struct agg_coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->s[i].b);
    free(c->s);
    sl_store__slabs_free(c->slabs);
    sl_keymap_fini(&c->map);
}

/* The block of resolution @res in window @w0 of the snapshot (the newest if several), and
 * how many there are and their highest seq. */
static struct sl_bref *snap_block(struct sl_bref **bl, size_t nb, int64_t cr, int64_t res,
                                  int64_t w0, size_t *cnt, uint64_t *maxseq)
{
    struct sl_bref *best = NULL;
    size_t c = 0;
    uint64_t ms = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bl[i]->m->resolution_ms != res || sl_agg_bucket(bl[i]->m->mint, cr) != w0)
            continue;
        c++;
        if (bl[i]->m->seq >= ms) {
            ms = bl[i]->m->seq;
            best = bl[i];
        }
    }
    if (cnt)
        *cnt = c;
    if (maxseq)
        *maxseq = ms;
    return best;
}

/* The tier block of level @k in window @w0 when it and every level below it are built from
 * the current blocks of their source (as maintenance's tier_fresh, on the snapshot). */
static struct sl_bref *fresh_tier(const struct sl_store *s, struct sl_bref **bl, size_t nb,
                                  unsigned k, int64_t w0)
{
    int64_t cr = s->cfg.compact_range_ms;
    int64_t src_res = k == 0 ? 0 : s->cfg.tiers[k - 1].resolution_ms;
    size_t cnt;
    uint64_t maxseq;
    snap_block(bl, nb, cr, src_res, w0, &cnt, &maxseq);
    struct sl_bref *t = snap_block(bl, nb, cr, s->cfg.tiers[k].resolution_ms, w0, NULL, NULL);
    if (!t || (cnt && t->m->src_seq < maxseq))
        return NULL;
    if (k > 0 && cnt && !fresh_tier(s, bl, nb, k - 1, w0))
        return NULL;
    return t;
}

/* Does a deletion hide samples of [w0, w1) that tier block @seq was built with? Its
 * buckets would then mix kept and deleted samples; maintenance purges and rebuilds it, and
 * until then the window is read from raw (caller holds tlock). */
static int window_deleted(const struct sl_store *s, uint64_t seq, int64_t w0, int64_t w1)
{
    for (size_t i = 0; i < s->ntombs; i++)
        if (seq < s->tombs[i].seq_limit && s->tombs[i].mint < w1 && s->tombs[i].maxt >= w0)
            return 1;
    return 0;
}

/* Buckets of every matching series in one tier block, those starting in [mint, maxt]. */
static int read_tier_block(struct sl_store *s, const struct sl_block *b,
                           const struct sl_matchers *ms, int64_t mint, int64_t maxt,
                           struct agg_coll *c, int64_t *t, double *const *cols, uint8_t *scratch,
                           size_t scratch_len)
{
    uint32_t *ids;
    size_t n;
    int rc = sl_block_select(b, ms, &ids, &n);
    if (rc)
        return rc;
    const struct sl_block_meta *m = sl_block_meta(b);
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
        int tomb = sl_store__has_tomb(s, key, kl, m->seq);
        struct agg_series *a = NULL;
        for (int k = 0; k < nch && !rc; k++) {
            if (ch[k].maxt < mint || ch[k].mint > maxt)
                continue;
            int got = sl_codec_chunk_decode(ch[k].p, ch[k].len, t, cols, SL_AGG_COLS,
                                            SL_CODEC_CHUNK_MAX, scratch, scratch_len);
            if (got < 0) {
                SL_ERROR("storage=store event=chunk_corrupt dir=%s series=%u", sl_block_dir(b),
                         ids[i]);
                rc = SL_E_CORRUPT;
                break;
            }
            for (int j = 0; j < got && !rc; j++) {
                if (t[j] < mint || t[j] > maxt)
                    continue;
                /* a bucket touching deleted samples is hidden, as sl_store_read_agg does */
                if (tomb && sl_store__tomb_overlaps(s, key, kl, t[j],
                                                    t[j] + m->resolution_ms - 1, m->seq))
                    continue;
                if (!a && (rc = coll_series(c, key, kl, &a)))
                    break;
                struct sl_agg g = {t[j],        cols[0][j], cols[1][j], cols[2][j],
                                   cols[3][j], cols[4][j], cols[5][j]};
                rc = series_push(a, &g);
            }
        }
    }
    sl_store__chunks_fini(&cs);
    free(ids);
    return rc;
}

/* Buckets computed from raw samples for the windows [g0, g1), starting in [mint, maxt].
 * @first: no earlier window was read in this call, so the sample before g0 (the bridge of
 * the increase) is looked for in raw data up to one compaction window back when @incr;
 * otherwise it is the last bucket already collected for the series. */
static int read_raw_run(struct sl_store *s, const struct sl_matchers *ms, int64_t res,
                        int64_t g0, int64_t g1, int64_t mint, int64_t maxt, int first, int incr,
                        struct agg_coll *c)
{
    int64_t lo = g0 > mint ? g0 : mint;
    int64_t hi = sl_agg_bucket(maxt, res) + (res - 1);
    if (hi > g1 - 1)
        hi = g1 - 1;
    if (lo > hi)
        return 0;
    int64_t from = first && incr ? lo - s->cfg.compact_range_ms : lo;
    struct sl_series_set *ss;
    int rc = sl_store__select(s, ms, from, hi, 0, &ss);
    if (rc)
        return rc;
    struct sl_agg *b = NULL;
    size_t bcap = 0;
    for (size_t i = 0; !rc && i < sl_series_set_count(ss); i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        if (x.n + 1 > bcap) {
            free(b);
            bcap = x.n + 1;
            if (!(b = malloc(bcap * sizeof *b))) {
                rc = -ENOMEM;
                break;
            }
        }
        struct agg_series *a = NULL;
        double prev = 0;
        int have_prev = 0;
        uint32_t idx = sl_keymap_get(&c->map, x.key, x.key_len, sl_key_hash(x.key, x.key_len));
        if (!first && idx != UINT32_MAX && c->s[idx].n) {
            prev = c->s[idx].b[c->s[idx].n - 1].last;
            have_prev = 1;
        }
        size_t nb = sl_agg_from_raw(x.t, x.v, x.n, res, have_prev ? &prev : NULL, b);
        for (size_t j = 0; j < nb && !rc; j++) {
            if (b[j].t < lo || b[j].t > maxt)
                continue;
            if (!a && (rc = coll_series(c, x.key, x.key_len, &a)))
                break;
            rc = series_push(a, &b[j]);
        }
    }
    free(b);
    sl_series_set_destroy(ss);
    return rc;
}

int sl_store_select_agg(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                        int64_t resolution_ms, int64_t mint, int64_t maxt, unsigned flags,
                        sl_store_agg_fn *fn, void *arg, size_t *tier_windows, char *errbuf,
                        size_t errlen)
{
    if (tier_windows)
        *tier_windows = 0;
    if (resolution_ms <= 0 || mint > maxt || nm == 0)
        return -EINVAL;
    int level = -1;
    for (unsigned k = 0; k < s->cfg.ntiers; k++)
        if (s->cfg.tiers[k].resolution_ms == resolution_ms)
            level = (int)k;
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, errbuf, errlen);
    if (rc)
        return rc;
    mint = sl_agg_bucket(mint, resolution_ms);
    int64_t cr = s->cfg.compact_range_ms;
    /* clamp to the data the store holds, so open-ended ranges do not walk empty windows */
    int64_t dmin = INT64_MAX, dmax = INT64_MIN;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->nblocks; i++) {
        if (s->blocks[i]->m->mint < dmin)
            dmin = s->blocks[i]->m->mint;
        if (s->blocks[i]->m->maxt > dmax)
            dmax = s->blocks[i]->m->maxt;
    }
    int64_t hmin = sl_head_mint(&s->head);
    if (hmin < dmin)
        dmin = hmin;
    if (s->head.maxt > dmax)
        dmax = s->head.maxt;
    pthread_rwlock_unlock(&s->lock);
    struct agg_coll c = {0};
    sl_keymap_init(&c.map);
    struct sl_bref **bl = NULL;
    int nb = 0;
    int64_t *t = NULL;
    double *colv = NULL;
    uint8_t *scratch = NULL;
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_AGG_COLS);
    if (dmin > dmax || sl_agg_bucket(dmax, resolution_ms) < mint || dmin > maxt)
        goto deliver;
    if (mint < sl_agg_bucket(dmin, resolution_ms))
        mint = sl_agg_bucket(dmin, resolution_ms);
    if (maxt > dmax)
        maxt = dmax;
    pthread_rwlock_rdlock(&s->tlock);
    if ((nb = sl_store__blocks_snapshot(s, &bl)) < 0) {
        rc = nb;
        nb = 0;
        goto unlock;
    }
    t = malloc(SL_CODEC_CHUNK_MAX * sizeof *t);
    colv = malloc((size_t)SL_CODEC_CHUNK_MAX * SL_AGG_COLS * sizeof *colv);
    scratch = malloc(scratch_len);
    if (!t || !colv || !scratch) {
        rc = -ENOMEM;
        goto unlock;
    }
    double *cols[SL_AGG_COLS];
    for (unsigned k = 0; k < SL_AGG_COLS; k++)
        cols[k] = colv + (size_t)k * SL_CODEC_CHUNK_MAX;
    int64_t lo = sl_agg_bucket(mint, cr), hi = sl_agg_bucket(maxt, cr);
    int64_t gap = INT64_MIN; /* start of a run of windows answered from raw */
    int first = 1;
    for (int64_t w = lo; !rc && w <= hi + cr; w += cr) {
        struct sl_bref *tb = NULL;
        if (w <= hi && level >= 0 && hmin >= w + cr)
            tb = fresh_tier(s, bl, (size_t)nb, (unsigned)level, w);
        if (tb && window_deleted(s, tb->m->seq, w, w + cr))
            tb = NULL;
        if (!tb && w <= hi) {
            if (gap == INT64_MIN)
                gap = w;
            continue;
        }
        if (gap != INT64_MIN) {
            rc = read_raw_run(s, ms, resolution_ms, gap, w, mint, maxt, first,
                              (flags & SL_AGG_WITH_INCR) != 0, &c);
            gap = INT64_MIN;
        }
        first = 0;
        if (!tb || rc)
            continue;
        rc = read_tier_block(s, tb->b, ms, mint, maxt, &c, t, cols, scratch, scratch_len);
        if (tier_windows)
            (*tier_windows)++;
    }
unlock:
    pthread_rwlock_unlock(&s->tlock);
deliver:
    /* everything is copied: blocks go back before the caller sees a series */
    if (bl)
        sl_store__blocks_release(bl, (size_t)nb);
    free(t);
    free(colv);
    free(scratch);
    sl_matchers_destroy(ms);
    for (size_t i = 0; !rc && i < c.n; i++)
        if (c.s[i].n)
            rc = fn(arg, c.s[i].key, c.s[i].keylen, c.s[i].b, c.s[i].n);
    coll_free(&c);
    return rc;
}

int sl_store_tier_span(struct sl_store *s, unsigned k, struct sl_tier_span *out)
{
    if (k >= s->cfg.ntiers)
        return -ENOENT;
    int64_t res = s->cfg.tiers[k].resolution_ms, cr = s->cfg.compact_range_ms;
    int64_t a = INT64_MAX, b = INT64_MIN;
    double raw = 0, buckets = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct sl_block_meta *m = s->blocks[i]->m;
        if (m->resolution_ms != res)
            continue;
        if (m->mint < a)
            a = m->mint;
        if (m->maxt > b)
            b = m->maxt;
        /* raw samples of the same window; blocks are few, so a nested scan is fine */
        uint64_t n = 0;
        int64_t w = sl_agg_bucket(m->mint, cr);
        for (size_t j = 0; j < s->nblocks; j++)
            if (s->blocks[j]->m->resolution_ms == 0 &&
                sl_agg_bucket(s->blocks[j]->m->mint, cr) == w)
                n += s->blocks[j]->m->nsamples;
        if (n && m->nsamples) {
            raw += (double)n;
            buckets += (double)m->nsamples;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    *out = (struct sl_tier_span){res, a, b, buckets > 0 ? raw / buckets : 0};
    return 0;
}

/* ---- samples at instants ------------------------------------------------------------- */

struct at_hit {
    uint32_t i;   /* index into the instants */
    uint32_t ord; /* write order within the series: the last write of an instant wins */
    double v;
};

struct at_series {
    char *key;
    uint32_t keylen;
    struct at_hit *h; /* in write order: blocks by seq, then the head; the last one wins */
    size_t n, cap;
};
SL_STORE_KEYED_ELEM(struct at_series);

struct at_coll {
    struct sl_keymap map;
    struct at_series *s;
    size_t n, cap;
    struct sl_store_keyslab *slabs; /* the keys of s[] */
};

static int at_record(struct at_coll *c, const char *key, size_t len, uint32_t i, double v)
{
    int created;
    uint32_t x;
    void *arr = c->s;
    int rc = sl_store__keyed_get(&c->map, &c->slabs, &arr, &c->n, &c->cap, sizeof *c->s, key,
                                 len, &created, &x);
    c->s = arr;
    if (rc)
        return rc;
    struct at_series *a = &c->s[x];
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        struct at_hit *nh = realloc(a->h, nc * sizeof *nh);
        if (!nh)
            return -ENOMEM;
        a->h = nh;
        a->cap = nc;
    }
    a->h[a->n] = (struct at_hit){i, (uint32_t)a->n, v};
    a->n++;
    return 0;
}

/* first index with at[i] >= t */
static size_t at_lower(const int64_t *at, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Samples at the instants in one raw block: only chunks holding an instant are decoded. */
static int at_block(struct sl_store *s, const struct sl_block *b, const struct sl_matchers *ms,
                    const int64_t *at, size_t nat, struct at_coll *c, int64_t *t, double *v,
                    uint8_t *scratch, size_t scratch_len)
{
    uint32_t *ids;
    size_t n;
    int rc = sl_block_select(b, ms, &ids, &n);
    if (rc)
        return rc;
    const struct sl_block_meta *m = sl_block_meta(b);
    struct sl_store_chunks cs;
    sl_store__chunks_init(&cs);
    for (size_t k = 0; k < n && !rc; k++) {
        const char *key;
        size_t kl;
        int nch = sl_store__block_chunks(&cs, b, ids[k], &key, &kl);
        if (nch < 0) {
            rc = nch;
            break;
        }
        const struct sl_block_chunk *ch = cs.ch;
        int tomb = sl_store__has_tomb(s, key, kl, m->seq);
        for (int q = 0; q < nch && !rc; q++) {
            size_t i = at_lower(at, nat, ch[q].mint);
            if (i == nat || at[i] > ch[q].maxt)
                continue;
            double *cols[1] = {v};
            int got = sl_codec_chunk_decode(ch[q].p, ch[q].len, t, cols, 1, SL_CODEC_CHUNK_MAX,
                                            scratch, scratch_len);
            if (got < 0) {
                SL_ERROR("storage=store event=chunk_corrupt dir=%s series=%u", sl_block_dir(b),
                         ids[k]);
                rc = SL_E_CORRUPT;
                break;
            }
            for (int j = 0; j < got && i < nat && !rc; j++) {
                while (i < nat && at[i] < t[j])
                    i++;
                if (i == nat || at[i] != t[j])
                    continue;
                if (tomb && sl_store__tomb_overlaps(s, key, kl, t[j], t[j], m->seq))
                    continue;
                rc = at_record(c, key, kl, (uint32_t)i, v[j]);
            }
        }
    }
    sl_store__chunks_fini(&cs);
    free(ids);
    return rc;
}

static int at_head(struct sl_store *s, const struct sl_matchers *ms, const int64_t *at,
                   size_t nat, struct at_coll *c)
{
    int rc = 0;
    for (size_t k = 0; k < s->head.n && !rc; k++) {
        const struct sl_head_series *hs = &s->head.s[k];
        if (hs->n == 0 || hs->t[0] > at[nat - 1] || hs->t[hs->n - 1] < at[0])
            continue;
        if (!sl_matchers_key_ok(ms, hs->key, hs->keylen))
            continue;
        for (size_t i = at_lower(at, nat, hs->t[0]); i < nat && !rc; i++) {
            if (at[i] > hs->t[hs->n - 1])
                break;
            size_t j = sl_head_lower(hs, at[i]);
            if (j < hs->n && hs->t[j] == at[i])
                rc = at_record(c, hs->key, hs->keylen, (uint32_t)i, hs->v[j]);
        }
    }
    return rc;
}

static int hit_cmp(const void *a, const void *b)
{
    const struct at_hit *x = a, *y = b;
    if (x->i != y->i)
        return (x->i > y->i) - (x->i < y->i);
    return (x->ord > y->ord) - (x->ord < y->ord);
}

int sl_store_select_at(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                       const int64_t *at, size_t nat, sl_store_at_fn *fn, void *arg,
                       char *errbuf, size_t errlen)
{
    if (nm == 0)
        return -EINVAL;
    for (size_t i = 1; i < nat; i++)
        if (at[i] <= at[i - 1])
            return -EINVAL;
    if (nat == 0)
        return 0;
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, errbuf, errlen);
    if (rc)
        return rc;
    struct at_coll c = {0};
    sl_keymap_init(&c.map);
    int64_t *t = malloc(SL_CODEC_CHUNK_MAX * sizeof *t);
    double *v = malloc(SL_CODEC_CHUNK_MAX * sizeof *v);
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1);
    uint8_t *scratch = malloc(scratch_len);
    struct sl_bref **bl = NULL;
    int nb = 0;
    pthread_rwlock_rdlock(&s->tlock);
    if (!t || !v || !scratch)
        rc = -ENOMEM;
    else if ((nb = sl_store__blocks_snapshot(s, &bl)) < 0) {
        rc = nb;
        bl = NULL;
    }
    /* blocks in seq order, then the head: a later write of a timestamp replaces an earlier
     * one, as in sl_store_select() */
    for (int i = 0; !rc && i < nb; i++) {
        const struct sl_block_meta *bm = bl[i]->m;
        if (bm->resolution_ms != 0 || bm->maxt < at[0] || bm->mint > at[nat - 1])
            continue;
        rc = at_block(s, bl[i]->b, ms, at, nat, &c, t, v, scratch, scratch_len);
    }
    if (!rc) {
        pthread_rwlock_rdlock(&s->lock);
        rc = at_head(s, ms, at, nat, &c);
        pthread_rwlock_unlock(&s->lock);
    }
    pthread_rwlock_unlock(&s->tlock);
    if (bl)
        sl_store__blocks_release(bl, (size_t)(nb > 0 ? nb : 0));
    free(scratch);
    sl_matchers_destroy(ms);
    int64_t *ot = NULL;
    double *ov = NULL;
    if (!rc && c.n && (!(ot = malloc(nat * sizeof *ot)) || !(ov = malloc(nat * sizeof *ov))))
        rc = -ENOMEM;
    for (size_t k = 0; !rc && k < c.n; k++) {
        struct at_series *a = &c.s[k];
        qsort(a->h, a->n, sizeof *a->h, hit_cmp);
        size_t o = 0;
        for (size_t x = 0; x < a->n; x++) {
            if (o && a->h[o - 1].i == a->h[x].i) {
                a->h[o - 1] = a->h[x];
                continue;
            }
            a->h[o++] = a->h[x];
        }
        for (size_t x = 0; x < o; x++) {
            ot[x] = at[a->h[x].i];
            ov[x] = a->h[x].v;
        }
        rc = fn(arg, a->key, a->keylen, ot, ov, o);
    }
    for (size_t k = 0; k < c.n; k++)
        free(c.s[k].h);
    free(c.s);
    sl_store__slabs_free(c.slabs);
    sl_keymap_fini(&c.map);
    free(ot);
    free(ov);
    free(t);
    free(v);
    return rc;
}
