/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Background steps of the store (sl_store_maintain) and the downsampled read path.
 *
 * Windows: raw blocks are cut per block range R (aligned to multiples of R); compaction and
 * tiers work per compaction window W (aligned multiples of compact_range, a multiple of R),
 * so a window holds raw blocks, at most one compacted raw block once closed, and one block
 * per tier. A window is closed when the head holds nothing in it and in-order appends have
 * moved past it; late samples reopen it by landing in the head, being cut into one more raw
 * block, which compaction merges and which, having a higher sequence number than the tier
 * block's recorded source, makes that tier block stale, so the whole window's buckets are
 * recomputed (and then the tiers above it, in turn).
 *
 * Only the cut holds the append mutex (it must drop from the head exactly what it wrote);
 * purge, compaction, tiers and retention run under the maintenance mutex alone, so a long
 * compaction never stalls a flush.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/codec.h"
#include "storage/store_pvt.h"
#include "storage/tier.h"

static int64_t win_of(const struct sl_store *s, int64_t t)
{
    return sl_agg_bucket(t, s->cfg.compact_range_ms);
}

/* Start of the block range that in-order appends may still write into. */
static int64_t head_boundary(const struct sl_store *s)
{
    int64_t maxt = sl_store__head_maxt(s);
    if (maxt == INT64_MIN)
        return INT64_MIN;
    int64_t r = s->cfg.block_range_ms;
    return sl_agg_bucket(maxt - r / 2, r);
}

/* Oldest timestamp in the head, samples or sketches (O(series)). */
static int64_t head_mint(const struct sl_store *s)
{
    int64_t a = sl_head_mint(&s->head), b = sl_skhead_mint(&s->skhead);
    return a < b ? a : b;
}

/* Uses the head facts cached by sl_store_maintain(): it runs without wmu. */
static int window_closed(const struct sl_store *s, int64_t w0)
{
    int64_t w1 = w0 + s->cfg.compact_range_ms;
    if (s->hbound == INT64_MIN || s->hsealed)
        return 1;
    return w1 <= s->hbound && s->hmint >= w1;
}

struct keyidx {
    const char *key;
    uint32_t len, idx;
};

static int keyidx_cmp(const void *a, const void *b)
{
    const struct keyidx *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* ---- cut -------------------------------------------------------------------------------- */

static int step_cut(struct sl_store *s, int force)
{
    struct sl_head *h = &s->head;
    if (h->nsamples == 0 && s->skhead.nsketches == 0)
        return 0;
    int64_t r = s->cfg.block_range_ms, bound = force ? INT64_MAX : head_boundary(s);
    int64_t hm = head_mint(s);
    if (hm >= bound)
        return 0;
    int64_t w0 = sl_agg_bucket(hm, r), w1 = w0 + r - 1;
    struct keyidx *ki = malloc(h->n * sizeof *ki);
    if (!ki)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->s[i].n)
            ki[n++] = (struct keyidx){h->s[i].key, h->s[i].keylen, (uint32_t)i};
    if (n)
        qsort(ki, n, sizeof *ki, keyidx_cmp);
    char name[64];
    uint64_t seq = sl_store__new_block_name(s, name, sizeof name);
    struct sl_block_writer *w;
    int rc = sl_block_writer_create(s->dir, name, 0, 1, seq, SL_CODEC_LZ4_FAST, &w);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct sl_head_series *hs = &h->s[ki[i].idx];
        size_t a = sl_head_lower(hs, w0), b = sl_head_lower(hs, w1 + 1);
        if (b > a) {
            const double *cols[1] = {hs->v + a};
            rc = sl_block_writer_add(w, hs->key, hs->keylen, hs->t + a, cols, b - a);
        }
    }
    free(ki);
    if (!rc)
        rc = sl_store__cut_sketches(s, w, w0, w1);
    if (rc) {
        if (w)
            sl_block_writer_abort(w);
        SL_ERROR("storage=store event=cut_failed range=%lld..%lld err=\"%s\" (data stays in "
                 "the head and the WAL; retried on the next step)", (long long)w0,
                 (long long)w1, sl_strerror(rc));
        return rc;
    }
    if ((rc = sl_block_writer_commit(w))) {
        SL_ERROR("storage=store event=cut_failed block=%s err=\"%s\"", name, sl_strerror(rc));
        return rc;
    }
    pthread_rwlock_wrlock(&s->cutlock);
    if ((rc = sl_store__add_block(s, name))) {
        pthread_rwlock_unlock(&s->cutlock);
        SL_ERROR("storage=store event=cut_failed block=%s err=\"%s\"", name, sl_strerror(rc));
        return rc;
    }
    pthread_rwlock_wrlock(&s->lock);
    rc = sl_head_drop_range(h, w0, w1);
    int rc2 = sl_skhead_drop_range(&s->skhead, w0, w1);
    pthread_rwlock_unlock(&s->lock);
    pthread_rwlock_unlock(&s->cutlock);
    rc = rc ? rc : rc2;
    if (rc)
        return rc;
    /* The WAL now holds samples that are in a block: rewrite what the head still needs
     * into a fresh segment and drop the older ones. A crash in between only replays
     * samples again, which the read path deduplicates. */
    if ((rc = sl_store__wal_checkpoint(s)))
        SL_ERROR("storage=store event=wal_checkpoint_failed err=\"%s\"", sl_strerror(rc));
    SL_DEBUG("storage=store event=cut block=%s range=%lld..%lld", name, (long long)w0,
             (long long)w1);
    return rc ? rc : 1;
}

/* ---- rewriting blocks (compaction, tombstone purge) ------------------------------------- */

struct rows {
    int64_t *t;
    double *c[SL_AGG_COLS];
    size_t n, cap;
    unsigned ncols;
};

static int rows_reserve(struct rows *r, size_t extra)
{
    if (r->n + extra <= r->cap)
        return 0;
    size_t nc = r->cap ? r->cap : 1024;
    while (nc < r->n + extra)
        nc *= 2;
    int64_t *nt = realloc(r->t, nc * sizeof *nt);
    if (!nt)
        return -ENOMEM;
    r->t = nt;
    for (unsigned k = 0; k < r->ncols; k++) {
        double *ncol = realloc(r->c[k], nc * sizeof *ncol);
        if (!ncol)
            return -ENOMEM;
        r->c[k] = ncol;
    }
    r->cap = nc;
    return 0;
}

static void rows_free(struct rows *r)
{
    free(r->t);
    for (unsigned k = 0; k < r->ncols; k++)
        free(r->c[k]);
    memset(r, 0, sizeof *r);
}

/* Append every chunk of series @id of @b to @r, leaving out what a tombstone that applies to
 * @b hides (for tier blocks, a bucket touched by a deletion goes entirely). @s may be NULL:
 * no filtering. */
static int rows_add_series(struct sl_store *s, struct rows *r, const struct sl_block *b,
                           uint32_t id, uint8_t *scratch, size_t scratch_len)
{
    struct sl_store_chunks cs;
    sl_store__chunks_init(&cs);
    const char *key;
    size_t kl;
    int nch = sl_store__block_chunks(&cs, b, id, &key, &kl);
    const struct sl_block_chunk *ch = cs.ch;
    int rc = nch < 0 ? nch : 0;
    for (int k = 0; k < nch && !rc; k++) {
        size_t n;
        unsigned nc;
        if ((rc = sl_codec_chunk_info(ch[k].p, ch[k].len, &n, &nc)))
            break;
        if (nc < r->ncols) {
            rc = SL_E_CORRUPT;
            break;
        }
        if ((rc = rows_reserve(r, n)))
            break;
        double *cols[SL_AGG_COLS];
        for (unsigned c = 0; c < r->ncols; c++)
            cols[c] = r->c[c] + r->n;
        int got = sl_codec_chunk_decode(ch[k].p, ch[k].len, r->t + r->n, cols, r->ncols, n,
                                        scratch, scratch_len);
        if (got < 0) {
            rc = got;
            break;
        }
        const struct sl_block_meta *m = sl_block_meta(b);
        if (s && sl_store__has_tomb(s, key, kl, m->seq)) {
            int64_t span = m->resolution_ms > 0 ? m->resolution_ms - 1 : 0;
            size_t o = r->n;
            for (size_t i = r->n; i < r->n + (size_t)got; i++) {
                if (sl_store__tomb_overlaps(s, key, kl, r->t[i], r->t[i] + span, m->seq))
                    continue;
                r->t[o] = r->t[i];
                for (unsigned c = 0; c < r->ncols; c++)
                    r->c[c][o] = r->c[c][i];
                o++;
            }
            r->n = o;
        } else {
            r->n += (size_t)got;
        }
    }
    if (rc == SL_E_CORRUPT)
        SL_ERROR("storage=store event=chunk_corrupt dir=%s series=%u", sl_block_dir(b), id);
    sl_store__chunks_fini(&cs);
    return rc;
}

/* When the raw samples before window @w0 are gone (retention), the counter bridge comes
 * from the `last` column of the previous window's finest tier block. */
static int tier_prev_last(struct sl_store *s, struct sl_bref *const *bl, size_t nb,
                          const char *key, size_t kl, int64_t w0, double *out)
{
    struct sl_bref *best = NULL;
    for (size_t i = 0; i < nb; i++) {
        const struct sl_block_meta *m = bl[i]->m;
        if (m->resolution_ms == 0 || win_of(s, m->mint) != w0 - s->cfg.compact_range_ms)
            continue;
        if (!best || m->resolution_ms < best->m->resolution_ms ||
            (m->resolution_ms == best->m->resolution_ms && m->seq > best->m->seq))
            best = bl[i];
    }
    uint32_t id;
    if (!best || sl_block_find(best->b, key, kl, &id))
        return 0;
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_CODEC_COLS_MAX);
    uint8_t *scratch = malloc(scratch_len);
    struct rows r = {.ncols = SL_AGG_COLS};
    int found = 0;
    if (scratch && rows_add_series(s, &r, best->b, id, scratch, scratch_len) == 0 && r.n) {
        *out = r.c[4][r.n - 1];
        found = 1;
    }
    rows_free(&r);
    free(scratch);
    return found;
}

/* Sort, deduplicate (later rows win), then add to @w. */
static int rows_write(struct rows *r, const char *key, size_t kl, struct sl_block_writer *w)
{
    if (r->n == 0)
        return 0;
    uint32_t *perm = malloc(r->n * sizeof *perm), *tmp = malloc(r->n * sizeof *tmp);
    struct rows o = {.ncols = r->ncols};
    int rc = perm && tmp ? rows_reserve(&o, r->n) : -ENOMEM;
    if (!rc) {
        sl_store__sort_perm(r->t, perm, tmp, r->n);
        for (size_t i = 0; i < r->n; i++) {
            uint32_t p = perm[i];
            int64_t t = r->t[p];
            size_t at = o.n;
            if (at && o.t[at - 1] == t)
                at--; /* equal timestamp: the later source overwrites */
            else
                o.n++;
            o.t[at] = t;
            for (unsigned c = 0; c < o.ncols; c++)
                o.c[c][at] = r->c[c][p];
        }
        if (o.n) {
            const double *cols[SL_AGG_COLS];
            for (unsigned c = 0; c < o.ncols; c++)
                cols[c] = o.c[c];
            rc = sl_block_writer_add(w, key, kl, o.t, cols, o.n);
        }
    }
    free(perm);
    free(tmp);
    rows_free(&o);
    return rc;
}

/* Merge blocks @src (same resolution, sorted by seq) into one new block, then unlist them. */
static int merge_blocks(struct sl_store *s, struct sl_bref **src, size_t k, const char *why)
{
    const struct sl_block_meta *m0 = src[0]->m;
    unsigned ncols = m0->ncols > SL_AGG_COLS ? SL_AGG_COLS : m0->ncols;
    uint32_t src_seq = 0;
    for (size_t i = 0; i < k; i++)
        if (src[i]->m->src_seq > src_seq)
            src_seq = src[i]->m->src_seq;
    char name[64];
    uint64_t seq = sl_store__new_block_name(s, name, sizeof name);
    struct sl_block_writer *w;
    int rc = sl_block_writer_create(s->dir, name, m0->resolution_ms, ncols, seq,
                                    SL_CODEC_LZ4_HC, &w);
    if (rc)
        return rc;
    sl_block_writer_set_source(w, src_seq);
    uint32_t *cur = calloc(k, sizeof *cur);
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_CODEC_COLS_MAX);
    uint8_t *scratch = malloc(scratch_len);
    struct rows r = {.ncols = ncols};
    if (!cur || !scratch)
        rc = -ENOMEM;
    while (!rc) {
        /* k-way merge over the blocks' key-sorted series */
        const char *mk = NULL;
        size_t mkl = 0;
        for (size_t i = 0; i < k && !rc; i++) {
            if (cur[i] >= src[i]->m->nseries)
                continue;
            const char *key;
            size_t kl;
            int x = sl_block_series(src[i]->b, cur[i], &key, &kl, NULL, 0);
            if (x < 0) {
                rc = x;
                break;
            }
            int c = mk ? memcmp(key, mk, kl < mkl ? kl : mkl) : -1;
            if (!c)
                c = (kl > mkl) - (kl < mkl);
            if (c < 0) {
                mk = key;
                mkl = kl;
            }
        }
        if (rc || !mk)
            break;
        r.n = 0;
        for (size_t i = 0; i < k && !rc; i++) {
            if (cur[i] >= src[i]->m->nseries)
                continue;
            const char *key;
            size_t kl;
            sl_block_series(src[i]->b, cur[i], &key, &kl, NULL, 0);
            if (kl == mkl && memcmp(key, mk, kl) == 0) {
                rc = rows_add_series(s, &r, src[i]->b, cur[i], scratch, scratch_len);
                cur[i]++;
            }
        }
        if (!rc)
            rc = rows_write(&r, mk, mkl, w);
    }
    if (!rc)
        rc = sl_store__merge_sketches(s, src, k, w);
    rows_free(&r);
    free(cur);
    free(scratch);
    if (rc) {
        sl_block_writer_abort(w);
        SL_ERROR("storage=store event=%s_failed first=%s err=\"%s\"", why, sl_block_dir(src[0]->b),
                 sl_strerror(rc));
        return rc;
    }
    rc = sl_block_writer_commit(w);
    if (rc == -ENODATA) {
        rc = 0; /* everything was deleted: just drop the sources */
    } else if (rc || (rc = sl_store__add_block(s, name))) {
        SL_ERROR("storage=store event=%s_failed block=%s err=\"%s\"", why, name, sl_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < k; i++)
        sl_store__remove_block(s, src[i]);
    SL_DEBUG("storage=store event=%s sources=%zu block=%s", why, k, name);
    return 1;
}

/* ---- tombstone purge -------------------------------------------------------------------- */

static int block_has_tombs(struct sl_store *s, const struct sl_block *b)
{
    for (size_t i = 0; i < s->ntombs; i++) {
        const struct sl_tomb *t = &s->tombs[i];
        uint32_t id;
        if (t->maxt < sl_block_meta(b)->mint - sl_block_meta(b)->resolution_ms ||
            t->mint > sl_block_meta(b)->maxt + sl_block_meta(b)->resolution_ms)
            continue;
        if (sl_block_meta(b)->seq < t->seq_limit &&
            (sl_block_find(b, t->key, t->keylen, &id) == 0 ||
             sl_store__block_has_sketch(b, t->key, t->keylen)))
            return 1;
    }
    return 0;
}

static int step_purge(struct sl_store *s)
{
    if (!s->ntombs)
        return 0;
    for (size_t i = 0; i < s->nblocks; i++) {
        struct sl_bref *r = s->blocks[i];
        if (r->tomb_gen == s->tomb_gen)
            continue;
        if (!block_has_tombs(s, r->b)) {
            r->tomb_gen = s->tomb_gen;
            continue;
        }
        {
            atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
            int rc = merge_blocks(s, &r, 1, "purge");
            sl_bref_put(r);
            return rc;
        }
    }
    /* no block holds deleted samples any more; the head had them removed at delete time */
    pthread_rwlock_wrlock(&s->tlock);
    size_t n = s->ntombs;
    for (size_t i = 0; i < n; i++)
        free(s->tombs[i].key);
    s->ntombs = 0;
    sl_keymap_fini(&s->tomb_map);
    pthread_rwlock_unlock(&s->tlock);
    int rc = sl_store__tombs_save(s);
    return rc ? rc : 1;
}

/* ---- compaction ------------------------------------------------------------------------- */

static int step_compact(struct sl_store *s)
{
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct sl_block_meta *m = s->blocks[i]->m;
        if (m->resolution_ms != 0)
            continue;
        int64_t w0 = win_of(s, m->mint);
        if (!window_closed(s, w0))
            continue;
        struct sl_bref *src[64];
        size_t k = 0;
        for (size_t j = 0; j < s->nblocks && k < 64; j++) {
            const struct sl_block_meta *mj = s->blocks[j]->m;
            if (mj->resolution_ms == 0 && win_of(s, mj->mint) == w0)
                src[k++] = s->blocks[j];
        }
        if (k < 2)
            continue;
        for (size_t j = 0; j < k; j++)
            atomic_fetch_add_explicit(&src[j]->refs, 1, memory_order_relaxed);
        int rc = merge_blocks(s, src, k, "compact");
        for (size_t j = 0; j < k; j++)
            sl_bref_put(src[j]);
        return rc;
    }
    return 0;
}

/* ---- tiers ------------------------------------------------------------------------------ */

/* Latest block of resolution @res in window @w0, or NULL. Also counts them. */
static struct sl_bref *window_block(struct sl_store *s, int64_t res, int64_t w0, size_t *count,
                                    uint64_t *maxseq)
{
    struct sl_bref *best = NULL;
    size_t c = 0;
    uint64_t ms = 0;
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct sl_block_meta *m = s->blocks[i]->m;
        if (m->resolution_ms != res || win_of(s, m->mint) != w0)
            continue;
        c++;
        if (m->seq > ms)
            ms = m->seq;
        best = s->blocks[i]; /* sorted by seq: the last is the latest */
    }
    if (count)
        *count = c;
    if (maxseq)
        *maxseq = ms;
    return best;
}

/* Last sample before @t of @key in the raw blocks of the window before @t's. */
static int prev_sample(struct sl_store *s, const char *key, size_t kl, int64_t w0, double *out,
                       uint8_t *scratch, size_t scratch_len)
{
    int64_t best_t = INT64_MIN;
    int64_t *t = malloc(SL_CODEC_CHUNK_MAX * sizeof *t);
    double *v = malloc(SL_CODEC_CHUNK_MAX * sizeof *v);
    int found = 0;
    for (size_t i = 0; t && v && i < s->nblocks; i++) {
        const struct sl_block_meta *m = s->blocks[i]->m;
        if (m->resolution_ms != 0 || win_of(s, m->mint) != w0 - s->cfg.compact_range_ms)
            continue;
        uint32_t id;
        if (sl_block_find(s->blocks[i]->b, key, kl, &id))
            continue;
        struct sl_block_chunk ch[64];
        const char *k2;
        size_t kl2;
        int nch = sl_block_series(s->blocks[i]->b, id, &k2, &kl2, ch, 64);
        if (nch <= 0 || nch > 64)
            continue;
        double *cols[1] = {v};
        int n = sl_codec_chunk_decode(ch[nch - 1].p, ch[nch - 1].len, t, cols, 1,
                                      SL_CODEC_CHUNK_MAX, scratch, scratch_len);
        if (n > 0 && t[n - 1] > best_t) {
            best_t = t[n - 1];
            *out = v[n - 1];
            found = 1;
        }
    }
    free(t);
    free(v);
    return found;
}

static int build_tier(struct sl_store *s, unsigned k, struct sl_bref *src, int64_t w0,
                      uint32_t src_seq)
{
    int64_t res = s->cfg.tiers[k].resolution_ms;
    char name[64];
    uint64_t seq = sl_store__new_block_name(s, name, sizeof name);
    struct sl_block_writer *w;
    int rc = sl_block_writer_create(s->dir, name, res, SL_AGG_COLS, seq, SL_CODEC_LZ4_HC, &w);
    if (rc)
        return rc;
    sl_block_writer_set_source(w, src_seq);
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_CODEC_COLS_MAX);
    uint8_t *scratch = malloc(scratch_len);
    unsigned src_cols = k == 0 ? 1 : SL_AGG_COLS;
    struct rows r = {.ncols = src_cols};
    struct sl_agg *agg = NULL, *out = NULL;
    size_t aggcap = 0;
    double *cols[SL_AGG_COLS] = {0};
    if (!scratch)
        rc = -ENOMEM;
    for (uint32_t id = 0; !rc && id < src->m->nseries; id++) {
        r.n = 0;
        const char *key;
        size_t kl;
        int x = sl_block_series(src->b, id, &key, &kl, NULL, 0);
        if (x < 0) {
            rc = x;
            break;
        }
        if ((rc = rows_add_series(s, &r, src->b, id, scratch, scratch_len)))
            break;
        if (r.n == 0)
            continue;
        if (r.n > aggcap) {
            free(agg);
            free(out);
            for (unsigned c = 0; c < SL_AGG_COLS; c++)
                free(cols[c]);
            aggcap = r.n;
            agg = malloc(aggcap * sizeof *agg);
            out = malloc(aggcap * sizeof *out);
            int ok = agg && out;
            for (unsigned c = 0; c < SL_AGG_COLS; c++)
                ok &= (cols[c] = malloc(aggcap * sizeof(double))) != NULL;
            if (!ok) {
                rc = -ENOMEM;
                break;
            }
        }
        size_t nb;
        if (k == 0) {
            double pv;
            int hp = prev_sample(s, key, kl, w0, &pv, scratch, scratch_len) ||
                     tier_prev_last(s, s->blocks, s->nblocks, key, kl, w0, &pv);
            nb = sl_agg_from_raw(r.t, r.c[0], r.n, res, hp ? &pv : NULL, out);
        } else {
            for (size_t i = 0; i < r.n; i++)
                agg[i] = (struct sl_agg){r.t[i], r.c[0][i], r.c[1][i], r.c[2][i],
                                         r.c[3][i], r.c[4][i], r.c[5][i]};
            nb = sl_agg_from_aggs(agg, r.n, res, out);
        }
        if (nb == 0)
            continue;
        int64_t *bt = (int64_t *)(void *)agg; /* reuse: agg is free now, as large as needed */
        for (size_t i = 0; i < nb; i++) {
            bt[i] = out[i].t;
            cols[0][i] = out[i].count;
            cols[1][i] = out[i].sum;
            cols[2][i] = out[i].min;
            cols[3][i] = out[i].max;
            cols[4][i] = out[i].last;
            cols[5][i] = out[i].incr;
        }
        const double *cc[SL_AGG_COLS];
        for (unsigned c = 0; c < SL_AGG_COLS; c++)
            cc[c] = cols[c];
        rc = sl_block_writer_add(w, key, kl, bt, cc, nb);
    }
    if (!rc)
        rc = sl_store__tier_sketches(s, src, res, w);
    rows_free(&r);
    free(scratch);
    free(agg);
    free(out);
    for (unsigned c = 0; c < SL_AGG_COLS; c++)
        free(cols[c]);
    if (rc) {
        sl_block_writer_abort(w);
        SL_ERROR("storage=store event=downsample_failed source=%s err=\"%s\"",
                 sl_block_dir(src->b), sl_strerror(rc));
        return rc;
    }
    rc = sl_block_writer_commit(w);
    if (rc == -ENODATA)
        return 0;
    if (rc || (rc = sl_store__add_block(s, name)))
        return rc;
    /* replace older tier blocks of this window */
    for (size_t i = 0; i < s->nblocks;) {
        struct sl_bref *b = s->blocks[i];
        if (b->m->resolution_ms == res && win_of(s, b->m->mint) == w0 && b->m->seq != seq) {
            sl_store__remove_block(s, b);
            continue;
        }
        i++;
    }
    SL_DEBUG("storage=store event=downsample tier=%lld window=%lld block=%s", (long long)res,
             (long long)w0, name);
    return 1;
}

/* Is tier @k of window @w0 present and built from the current sources? */
static int tier_fresh(struct sl_store *s, unsigned k, int64_t w0)
{
    int64_t src_res = k == 0 ? 0 : s->cfg.tiers[k - 1].resolution_ms;
    uint64_t maxseq;
    size_t cnt;
    window_block(s, src_res, w0, &cnt, &maxseq);
    struct sl_bref *t = window_block(s, s->cfg.tiers[k].resolution_ms, w0, NULL, NULL);
    return t && (cnt == 0 || t->m->src_seq >= maxseq);
}

static int step_tiers(struct sl_store *s)
{
    for (unsigned k = 0; k < s->cfg.ntiers; k++) {
        int64_t src_res = k == 0 ? 0 : s->cfg.tiers[k - 1].resolution_ms;
        for (size_t i = 0; i < s->nblocks; i++) {
            const struct sl_block_meta *m = s->blocks[i]->m;
            if (m->resolution_ms != src_res)
                continue;
            int64_t w0 = win_of(s, m->mint);
            size_t cnt;
            uint64_t maxseq;
            struct sl_bref *src = window_block(s, src_res, w0, &cnt, &maxseq);
            if (cnt != 1 || src != s->blocks[i])
                continue; /* compaction of this window still pending */
            if (k == 0 && !window_closed(s, w0))
                continue;
            if (k > 0 && !tier_fresh(s, k - 1, w0))
                continue;
            if (tier_fresh(s, k, w0))
                continue;
            atomic_fetch_add_explicit(&src->refs, 1, memory_order_relaxed);
            int rc = build_tier(s, k, src, w0, (uint32_t)maxseq);
            sl_bref_put(src);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- retention -------------------------------------------------------------------------- */

static int step_retention(struct sl_store *s, int64_t now)
{
    for (size_t i = 0; i < s->nblocks; i++) {
        struct sl_bref *b = s->blocks[i];
        const struct sl_block_meta *m = b->m;
        int64_t ret;
        int tier = -1;
        if (m->resolution_ms == 0) {
            ret = s->cfg.raw_retention_ms;
        } else {
            for (unsigned k = 0; k < s->cfg.ntiers; k++)
                if (s->cfg.tiers[k].resolution_ms == m->resolution_ms)
                    tier = (int)k;
            if (tier < 0)
                continue; /* a tier no longer configured: kept, never silently dropped */
            ret = s->cfg.tiers[tier].retention_ms;
        }
        if (ret <= 0 || m->maxt >= now - ret)
            continue;
        int64_t w0 = win_of(s, m->mint);
        /* never drop data before the next coarser tier holds it */
        unsigned next = (unsigned)(tier + 1);
        if (next < s->cfg.ntiers && !tier_fresh(s, next, w0))
            continue;
        SL_INFO("storage=store event=retention_drop dir=%s resolution_ms=%lld maxt=%lld",
                sl_block_dir(b->b), (long long)m->resolution_ms, (long long)m->maxt);
        sl_store__remove_block(s, b);
        return 1;
    }
    return 0;
}

int sl_store_maintain(struct sl_store *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->mmu);
    pthread_mutex_lock(&s->wmu);
    int rc = step_cut(s, 0);
    /* The steps below work on immutable blocks and need from the head only these facts,
     * taken once (sl_head_mint is O(series)), so appends go on while they write. */
    s->hmint = head_mint(s);
    s->hbound = head_boundary(s);
    s->hsealed = s->sealed && s->head.nsamples == 0 && s->skhead.nsketches == 0;
    pthread_mutex_unlock(&s->wmu);
    if (!rc)
        rc = step_purge(s);
    if (!rc)
        rc = step_compact(s);
    if (!rc)
        rc = step_tiers(s);
    if (!rc)
        rc = step_retention(s, now_ms);
    pthread_mutex_unlock(&s->mmu);
    return rc;
}

/* ---- downsampled reads ------------------------------------------------------------------ */

struct aggv {
    struct sl_agg *a;
    size_t n, cap;
};

static int aggv_push(struct aggv *v, const struct sl_agg *a)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        struct sl_agg *na = realloc(v->a, nc * sizeof *na);
        if (!na)
            return -ENOMEM;
        v->a = na;
        v->cap = nc;
    }
    v->a[v->n++] = *a;
    return 0;
}

/* Buckets of @key in [mint, maxt] computed from raw samples in windows [w0, w1). */
static int agg_from_raw(struct sl_store *s, const char *key, size_t kl, int64_t res, int64_t w0,
                        int64_t w1, int64_t mint, int64_t maxt, struct aggv *out)
{
    /* select by the key's own labels, then keep the exact key (others may carry more labels) */
    char *copy = malloc(kl);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, kl);
    struct sl_store_matcher m[SL_MATCHERS_MAX];
    size_t nm = 0;
    const char *name;
    size_t nl;
    struct sl_key_iter it;
    sl_key_name(copy, kl, &name, &nl, &it);
    m[nm++] = (struct sl_store_matcher){SL_STORE_MATCH_EQ, "__name__", name};
    struct sl_label l;
    while (nm < SL_MATCHERS_MAX && sl_key_next_label(&it, &l))
        m[nm++] = (struct sl_store_matcher){SL_STORE_MATCH_EQ, l.name, l.value};
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, NULL, 0);
    struct sl_series_set *ss = NULL;
    if (!rc) {
        /* one window of look-back supplies the sample before w0 for the increase */
        rc = sl_store__select(s, ms, w0 - s->cfg.compact_range_ms, w1 - 1, 0, &ss);
        sl_matchers_destroy(ms);
    }
    for (size_t i = 0; !rc && i < sl_series_set_count(ss); i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        if (x.key_len != kl || memcmp(x.key, key, kl) != 0)
            continue;
        struct sl_agg *b = malloc((x.n + 1) * sizeof *b);
        if (!b) {
            rc = -ENOMEM;
            break;
        }
        double pv;
        int hp = 0;
        if (x.n == 0 || x.t[0] >= w0) {
            struct sl_bref **bl;
            int nbl = sl_store__blocks_snapshot(s, &bl);
            if (nbl >= 0) {
                hp = tier_prev_last(s, bl, (size_t)nbl, key, kl, w0, &pv);
                sl_store__blocks_release(bl, (size_t)nbl);
            }
        }
        size_t nb = sl_agg_from_raw(x.t, x.v, x.n, res, hp ? &pv : NULL, b);
        for (size_t j = 0; j < nb && !rc; j++)
            if (b[j].t >= w0 && b[j].t >= mint && b[j].t <= maxt)
                rc = aggv_push(out, &b[j]);
        free(b);
    }
    sl_series_set_destroy(ss);
    free(copy);
    return rc;
}

static int agg_cmp(const void *a, const void *b)
{
    const struct sl_agg *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

static int read_agg_locked(struct sl_store *s, const char *key, size_t keylen,
                           int64_t resolution_ms, int64_t mint, int64_t maxt, struct sl_agg **out,
                           size_t *n);

int sl_store_read_agg(struct sl_store *s, const char *key, size_t keylen, int64_t resolution_ms,
                      int64_t mint, int64_t maxt, struct sl_agg **out, size_t *n)
{
    pthread_rwlock_rdlock(&s->tlock);
    int rc = read_agg_locked(s, key, keylen, resolution_ms, mint, maxt, out, n);
    pthread_rwlock_unlock(&s->tlock);
    return rc;
}

static int read_agg_locked(struct sl_store *s, const char *key, size_t keylen,
                           int64_t resolution_ms, int64_t mint, int64_t maxt, struct sl_agg **out,
                           size_t *n)
{
    if (resolution_ms <= 0 || mint > maxt || keylen < 2)
        return -EINVAL;
    int64_t cr = s->cfg.compact_range_ms;
    int tiered = 0;
    for (unsigned k = 0; k < s->cfg.ntiers; k++)
        tiered |= s->cfg.tiers[k].resolution_ms == resolution_ms;
    struct aggv v = {0};
    int rc = 0;
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
    if (dmin > dmax) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (mint < sl_agg_bucket(dmin, resolution_ms))
        mint = sl_agg_bucket(dmin, resolution_ms);
    if (maxt > dmax)
        maxt = dmax;
    if (mint > maxt) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    int64_t lo = tiered ? win_of(s, mint) : sl_agg_bucket(mint, resolution_ms);
    int64_t hi = tiered ? win_of(s, maxt) + cr : sl_agg_bucket(maxt, resolution_ms) + resolution_ms;
    if (!tiered) {
        /* not a configured tier: every bucket comes from the raw data */
        if ((rc = agg_from_raw(s, key, keylen, resolution_ms, lo, hi, mint, maxt, &v))) {
            free(v.a);
            return rc;
        }
        *out = v.a;
        *n = v.n;
        return 0;
    }
    struct sl_bref **bl;
    int nb = sl_store__blocks_snapshot(s, &bl);
    if (nb < 0)
        return nb;
    size_t scratch_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, SL_CODEC_COLS_MAX);
    uint8_t *scratch = malloc(scratch_len);
    struct rows r = {.ncols = SL_AGG_COLS};
    if (!scratch)
        rc = -ENOMEM;
    int64_t gap = INT64_MIN; /* start of a run of windows with no tier block */
    for (int64_t w = lo; !rc && w <= hi; w += cr) {
        struct sl_bref *best = NULL;
        for (int i = 0; w < hi && i < nb; i++)
            if (bl[i]->m->resolution_ms == resolution_ms && win_of(s, bl[i]->m->mint) == w)
                best = bl[i];
        if (!best) {
            if (gap == INT64_MIN && w < hi)
                gap = w;
            if (w < hi)
                continue;
        }
        if (gap != INT64_MIN) {
            rc = agg_from_raw(s, key, keylen, resolution_ms, gap, w, mint, maxt, &v);
            gap = INT64_MIN;
        }
        if (!best || rc)
            continue;
        uint32_t id;
        if (sl_block_find(best->b, key, keylen, &id))
            continue;
        r.n = 0;
        if ((rc = rows_add_series(s, &r, best->b, id, scratch, scratch_len)))
            break;
        for (size_t i = 0; i < r.n && !rc; i++) {
            struct sl_agg a = {r.t[i], r.c[0][i], r.c[1][i], r.c[2][i], r.c[3][i], r.c[4][i],
                               r.c[5][i]};
            if (a.t >= mint && a.t <= maxt &&
                !sl_store__tomb_overlaps(s, key, keylen, a.t, a.t + resolution_ms - 1,
                                         best->m->seq))
                rc = aggv_push(&v, &a);
        }
    }
    rows_free(&r);
    free(scratch);
    sl_store__blocks_release(bl, (size_t)nb);
    if (rc) {
        free(v.a);
        return rc;
    }
    if (v.n)
        qsort(v.a, v.n, sizeof *v.a, agg_cmp);
    *out = v.a;
    *n = v.n;
    return 0;
}

int sl_store_flush_head(struct sl_store *s)
{
    pthread_mutex_lock(&s->mmu);
    pthread_mutex_lock(&s->wmu);
    int rc;
    while ((rc = step_cut(s, 1)) == 1)
        ;
    if (rc == 0)
        s->sealed = 1;
    pthread_mutex_unlock(&s->wmu);
    pthread_mutex_unlock(&s->mmu);
    return rc;
}
