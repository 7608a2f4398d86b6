/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The head (see head.h). Columns grow by doubling from 16 samples: at 10 s scrapes a 2 h
 * block range is 720 samples per series, so a series reallocates 6 times per block range.
 */
#include "storage/head.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"

void sl_head_init(struct sl_head *h)
{
    memset(h, 0, sizeof *h);
    sl_keymap_init(&h->map);
    sl_postings_init(&h->post);
    h->maxt = INT64_MIN;
}

void sl_head_fini(struct sl_head *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->s[i].key);
        free(h->s[i].t);
        free(h->s[i].v);
    }
    free(h->s);
    sl_keymap_fini(&h->map);
    sl_postings_fini(&h->post);
    memset(h, 0, sizeof *h);
}

static int series_grow(struct sl_head_series *s, size_t want)
{
    if (want <= s->cap)
        return 0;
    size_t nc = s->cap ? s->cap : 16;
    while (nc < want)
        nc *= 2;
    if (nc > UINT32_MAX)
        return -ENOMEM;
    int64_t *nt = realloc(s->t, nc * sizeof *nt);
    if (!nt)
        return -ENOMEM;
    s->t = nt;
    double *nv = realloc(s->v, nc * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    s->v = nv;
    s->cap = (uint32_t)nc;
    return 0;
}

int sl_head_prepare(struct sl_head *h, const char *const *keys, const uint32_t *lens, size_t n,
                    size_t stride, uint32_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        const char *key;
        uint32_t len;
        /* strided access lets the store pass its sample array without copying the keys */
        memcpy(&key, (const char *)keys + i * stride, sizeof key);
        memcpy(&len, (const char *)lens + i * stride, sizeof len);
        uint64_t hash = sl_key_hash(key, len);
        uint32_t x = sl_keymap_get(&h->map, key, len, hash);
        if (x == UINT32_MAX) {
            if (h->n == h->cap) {
                size_t nc = h->cap ? h->cap * 2 : 256;
                struct sl_head_series *ns = realloc(h->s, nc * sizeof *ns);
                if (!ns)
                    goto nomem;
                h->s = ns;
                h->cap = nc;
            }
            struct sl_head_series *s = &h->s[h->n];
            memset(s, 0, sizeof *s);
            if (!(s->key = malloc(len)))
                goto nomem;
            memcpy(s->key, key, len);
            s->keylen = len;
            s->hash = hash;
            x = (uint32_t)h->n;
            if (sl_postings_add(&h->post, x, s->key, len)) {
                free(s->key);
                goto nomem;
            }
            if (sl_keymap_put(&h->map, s->key, len, hash, x)) {
                sl_postings_undo_add(&h->post, x, s->key, len);
                free(s->key);
                goto nomem;
            }
            h->n++;
        }
        struct sl_head_series *s = &h->s[x];
        if (series_grow(s, (size_t)s->n + s->pending + 1))
            goto nomem;
        s->pending++;
        idx[i] = x;
        continue;
    nomem:
        sl_head_unreserve(h, idx, i);
        return -ENOMEM;
    }
    return 0;
}

void sl_head_unreserve(struct sl_head *h, const uint32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h->s[idx[i]].pending = 0;
}

size_t sl_head_lower(const struct sl_head_series *s, int64_t t)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->t[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sl_head_commit(struct sl_head *h, uint32_t idx, int64_t t, double v)
{
    struct sl_head_series *s = &h->s[idx];
    if (s->pending)
        s->pending--;
    if (t > h->maxt)
        h->maxt = t;
    if (s->n == 0 || t > s->t[s->n - 1]) {
        s->t[s->n] = t;
        s->v[s->n] = v;
        s->n++;
        h->nsamples++;
        return;
    }
    size_t i = sl_head_lower(s, t);
    if (i < s->n && s->t[i] == t) {
        s->v[i] = v; /* last write wins */
        return;
    }
    memmove(s->t + i + 1, s->t + i, (s->n - i) * sizeof *s->t);
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
    s->t[i] = t;
    s->v[i] = v;
    s->n++;
    h->nsamples++;
}

static size_t cut_range(struct sl_head_series *s, int64_t mint, int64_t maxt)
{
    size_t a = sl_head_lower(s, mint);
    size_t b = maxt == INT64_MAX ? s->n : sl_head_lower(s, maxt + 1);
    if (b <= a)
        return 0;
    memmove(s->t + a, s->t + b, (s->n - b) * sizeof *s->t);
    memmove(s->v + a, s->v + b, (s->n - b) * sizeof *s->v);
    s->n -= (uint32_t)(b - a);
    return b - a;
}

size_t sl_head_delete(struct sl_head *h, const char *key, size_t len, int64_t mint, int64_t maxt)
{
    uint32_t x = sl_keymap_get(&h->map, key, len, sl_key_hash(key, len));
    if (x == UINT32_MAX)
        return 0;
    size_t r = cut_range(&h->s[x], mint, maxt);
    h->nsamples -= r;
    return r;
}

int64_t sl_head_mint(const struct sl_head *h)
{
    int64_t m = INT64_MAX;
    for (size_t i = 0; i < h->n; i++)
        if (h->s[i].n && h->s[i].t[0] < m)
            m = h->s[i].t[0];
    return m;
}

int sl_head_drop_range(struct sl_head *h, int64_t mint, int64_t maxt)
{
    for (size_t i = 0; i < h->n; i++)
        h->nsamples -= cut_range(&h->s[i], mint, maxt);
    return sl_head_forget_empty(h);
}

int sl_head_forget_empty(struct sl_head *h)
{
    size_t live = 0;
    for (size_t i = 0; i < h->n; i++)
        live += h->s[i].n > 0 || h->s[i].pending > 0;
    if (live == h->n)
        return 0;
    /* The keymap has no delete, so a new map is built with the compacted indices first;
     * only when that and the renumbering table are allocated are the series moved, so a
     * failure leaves a consistent head that merely keeps its empty series. */
    uint32_t *map = malloc(h->n * sizeof *map);
    if (!map)
        return -ENOMEM;
    struct sl_keymap m;
    sl_keymap_init(&m);
    for (size_t i = 0, o = 0; i < h->n; i++) {
        const struct sl_head_series *s = &h->s[i];
        map[i] = UINT32_MAX;
        if (s->n == 0 && s->pending == 0)
            continue;
        map[i] = (uint32_t)o;
        if (sl_keymap_put(&m, s->key, s->keylen, s->hash, (uint32_t)o++)) {
            sl_keymap_fini(&m);
            free(map);
            return -ENOMEM;
        }
    }
    sl_postings_remap(&h->post, map, h->n);
    free(map);
    size_t o = 0;
    for (size_t i = 0; i < h->n; i++) {
        struct sl_head_series *s = &h->s[i];
        if (s->n == 0 && s->pending == 0) {
            free(s->key);
            free(s->t);
            free(s->v);
            continue;
        }
        h->s[o++] = *s;
    }
    h->n = o;
    sl_keymap_fini(&h->map);
    h->map = m;
    return 0;
}

static const char *series_key(void *ctx, uint32_t id, size_t *len)
{
    const struct sl_head *h = ctx;
    *len = h->s[id].keylen;
    return h->s[id].key;
}

int sl_head_match(const struct sl_head *h, const struct sl_matchers *ms, uint32_t **ids,
                  size_t *n)
{
    return sl_postings_select(&h->post, ms, h->n, series_key, (void *)h, ids, n);
}
