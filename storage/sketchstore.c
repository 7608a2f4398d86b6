/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sketch head (see sketchstore.h). One flush adds at most one sketch per timer series,
 * so a series grows by one entry per interval: columns double from 16 entries, and each
 * encoding is one allocation made at flush time (per series per interval, never per event).
 */
#include "storage/sketchstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"

void sl_skhead_init(struct sl_skhead *h)
{
    memset(h, 0, sizeof *h);
    sl_keymap_init(&h->map);
    h->maxt = INT64_MIN;
}

static void series_free(struct sl_skhead_series *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->enc[i]);
    free(s->key);
    free(s->t);
    free(s->enc);
    free(s->len);
}

void sl_skhead_fini(struct sl_skhead *h)
{
    for (size_t i = 0; i < h->n; i++)
        series_free(&h->s[i]);
    free(h->s);
    sl_keymap_fini(&h->map);
    memset(h, 0, sizeof *h);
    h->maxt = INT64_MIN;
}

static int series_grow(struct sl_skhead_series *s, size_t want)
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
    uint8_t **ne = realloc(s->enc, nc * sizeof *ne);
    if (!ne)
        return -ENOMEM;
    s->enc = ne;
    uint32_t *nl = realloc(s->len, nc * sizeof *nl);
    if (!nl)
        return -ENOMEM;
    s->len = nl;
    s->cap = (uint32_t)nc;
    return 0;
}

int sl_skhead_prepare(struct sl_skhead *h, const char *key, uint32_t len, uint32_t *idx)
{
    uint64_t hash = sl_key_hash(key, len);
    uint32_t x = sl_keymap_get(&h->map, key, len, hash);
    if (x == UINT32_MAX) {
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 64;
            struct sl_skhead_series *ns = realloc(h->s, nc * sizeof *ns);
            if (!ns)
                return -ENOMEM;
            h->s = ns;
            h->cap = nc;
        }
        struct sl_skhead_series *s = &h->s[h->n];
        memset(s, 0, sizeof *s);
        if (!(s->key = malloc(len)))
            return -ENOMEM;
        memcpy(s->key, key, len);
        s->keylen = len;
        s->hash = hash;
        x = (uint32_t)h->n;
        if (sl_keymap_put(&h->map, s->key, len, hash, x)) {
            free(s->key);
            return -ENOMEM;
        }
        h->n++;
    }
    struct sl_skhead_series *s = &h->s[x];
    if (series_grow(s, (size_t)s->n + s->pending + 1))
        return -ENOMEM;
    s->pending++;
    *idx = x;
    return 0;
}

void sl_skhead_unreserve(struct sl_skhead *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->s[i].pending = 0;
}

size_t sl_skhead_lower(const struct sl_skhead_series *s, int64_t t)
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

void sl_skhead_commit(struct sl_skhead *h, uint32_t idx, int64_t t, uint8_t *enc, uint32_t len)
{
    struct sl_skhead_series *s = &h->s[idx];
    if (s->pending)
        s->pending--;
    if (t > h->maxt)
        h->maxt = t;
    size_t i = s->n == 0 || t > s->t[s->n - 1] ? s->n : sl_skhead_lower(s, t);
    if (i < s->n && s->t[i] == t) {
        h->bytes -= s->len[i];
        free(s->enc[i]); /* last write wins */
        s->enc[i] = enc;
        s->len[i] = len;
        h->bytes += len;
        return;
    }
    memmove(s->t + i + 1, s->t + i, (s->n - i) * sizeof *s->t);
    memmove(s->enc + i + 1, s->enc + i, (s->n - i) * sizeof *s->enc);
    memmove(s->len + i + 1, s->len + i, (s->n - i) * sizeof *s->len);
    s->t[i] = t;
    s->enc[i] = enc;
    s->len[i] = len;
    s->n++;
    h->nsketches++;
    h->bytes += len;
}

const struct sl_skhead_series *sl_skhead_find(const struct sl_skhead *h, const char *key,
                                              size_t len)
{
    uint32_t x = sl_keymap_get(&h->map, key, len, sl_key_hash(key, len));
    return x == UINT32_MAX ? NULL : &h->s[x];
}

static size_t cut_range(struct sl_skhead *h, struct sl_skhead_series *s, int64_t mint,
                        int64_t maxt)
{
    size_t a = sl_skhead_lower(s, mint);
    size_t b = maxt == INT64_MAX ? s->n : sl_skhead_lower(s, maxt + 1);
    if (b <= a)
        return 0;
    for (size_t i = a; i < b; i++) {
        h->bytes -= s->len[i];
        free(s->enc[i]);
    }
    memmove(s->t + a, s->t + b, (s->n - b) * sizeof *s->t);
    memmove(s->enc + a, s->enc + b, (s->n - b) * sizeof *s->enc);
    memmove(s->len + a, s->len + b, (s->n - b) * sizeof *s->len);
    s->n -= (uint32_t)(b - a);
    h->nsketches -= b - a;
    return b - a;
}

size_t sl_skhead_delete(struct sl_skhead *h, const char *key, size_t len, int64_t mint,
                        int64_t maxt)
{
    uint32_t x = sl_keymap_get(&h->map, key, len, sl_key_hash(key, len));
    return x == UINT32_MAX ? 0 : cut_range(h, &h->s[x], mint, maxt);
}

int64_t sl_skhead_mint(const struct sl_skhead *h)
{
    int64_t m = INT64_MAX;
    for (size_t i = 0; i < h->n; i++)
        if (h->s[i].n && h->s[i].t[0] < m)
            m = h->s[i].t[0];
    return m;
}

int sl_skhead_drop_range(struct sl_skhead *h, int64_t mint, int64_t maxt)
{
    size_t live = 0;
    for (size_t i = 0; i < h->n; i++) {
        cut_range(h, &h->s[i], mint, maxt);
        live += h->s[i].n > 0 || h->s[i].pending > 0;
    }
    if (live == h->n)
        return 0;
    /* as in sl_head_drop_range(): the new map first, so a failure keeps a consistent head */
    struct sl_keymap m;
    sl_keymap_init(&m);
    for (size_t i = 0, o = 0; i < h->n; i++) {
        const struct sl_skhead_series *s = &h->s[i];
        if (s->n == 0 && s->pending == 0)
            continue;
        if (sl_keymap_put(&m, s->key, s->keylen, s->hash, (uint32_t)o++)) {
            sl_keymap_fini(&m);
            return -ENOMEM;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < h->n; i++) {
        struct sl_skhead_series *s = &h->s[i];
        if (s->n == 0 && s->pending == 0) {
            series_free(s);
            continue;
        }
        h->s[o++] = *s;
    }
    h->n = o;
    sl_keymap_fini(&h->map);
    h->map = m;
    return 0;
}
