/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Canonical series keys. Sorting uses insertion sort: label sets are short (a handful of
 * DogStatsD tags), where it beats qsort's call overhead, and it is stable, which the
 * "last duplicate wins" rule needs.
 */
#include "engine/key.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

static int label_cmp(const struct sl_label *a, const struct sl_label *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

int sl_key_build(uint8_t kind, const char *name, size_t name_len, struct sl_label *labels,
                 size_t n, char *out, size_t cap)
{
    if (n > SL_LABELS_MAX)
        return -EINVAL;
    if (cap > SL_KEY_MAX)
        cap = SL_KEY_MAX;
    for (size_t i = 1; i < n; i++) {
        struct sl_label t = labels[i];
        size_t j = i;
        while (j > 0 && label_cmp(&labels[j - 1], &t) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = t;
    }
    size_t len = 1 + name_len + 1;
    if (len > cap)
        return -ENOSPC;
    if (memchr(name, 0, name_len))
        return -EINVAL;
    out[0] = (char)kind;
    memcpy(out + 1, name, name_len);
    out[1 + name_len] = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sl_label *l = &labels[i];
        if (i + 1 < n && label_cmp(l, &labels[i + 1]) == 0)
            continue; /* a later duplicate overrides this one */
        if (l->value_len == 0)
            continue;
        if (memchr(l->name, 0, l->name_len) || memchr(l->value, 0, l->value_len))
            return -EINVAL;
        size_t need = (size_t)l->name_len + l->value_len + 2;
        if (len + need > cap)
            return -ENOSPC;
        memcpy(out + len, l->name, l->name_len);
        len += l->name_len;
        out[len++] = 0;
        memcpy(out + len, l->value, l->value_len);
        len += l->value_len;
        out[len++] = 0;
    }
    return (int)len;
}

uint64_t sl_key_hash(const char *key, size_t len)
{
    return XXH3_64bits(key, len);
}

void sl_key_name(const char *key, size_t len, const char **name, size_t *name_len,
                 struct sl_key_iter *it)
{
    const char *end = key + len;
    const char *p = key + 1;
    const char *z = memchr(p, 0, (size_t)(end - p));
    if (!z)
        z = end;
    *name = p;
    *name_len = (size_t)(z - p);
    if (it) {
        it->p = z < end ? z + 1 : end;
        it->end = end;
    }
}

int sl_key_next_label(struct sl_key_iter *it, struct sl_label *l)
{
    if (it->p >= it->end)
        return 0;
    const char *z1 = memchr(it->p, 0, (size_t)(it->end - it->p));
    if (!z1)
        return 0;
    const char *v = z1 + 1;
    const char *z2 = v < it->end ? memchr(v, 0, (size_t)(it->end - v)) : NULL;
    if (!z2)
        return 0;
    l->name = it->p;
    l->name_len = (uint32_t)(z1 - it->p);
    l->value = v;
    l->value_len = (uint32_t)(z2 - v);
    it->p = z2 + 1;
    return 1;
}
