/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linear probing at load factor <= 1/2: the head looks up a series per appended sample, and
 * at that load a lookup touches one or two slots, which is what keeps head appends in the
 * millions per second. No deletion: the head rebuilds its map when it drops series.
 */
#include "storage/keymap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sl_keymap_init(struct sl_keymap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void sl_keymap_fini(struct sl_keymap *m)
{
    free(m->slots);
    sl_keymap_init(m);
}

uint32_t sl_keymap_get(const struct sl_keymap *m, const char *key, size_t len, uint64_t hash)
{
    if (!m->cap)
        return UINT32_MAX;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct sl_keymap_slot *s = &m->slots[i];
        if (s->idx == UINT32_MAX)
            return UINT32_MAX;
        if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
            return s->idx;
    }
}

static void put_slot(struct sl_keymap_slot *slots, size_t cap, const struct sl_keymap_slot *e)
{
    size_t mask = cap - 1;
    size_t i = e->hash & mask;
    while (slots[i].idx != UINT32_MAX)
        i = (i + 1) & mask;
    slots[i] = *e;
}

int sl_keymap_put(struct sl_keymap *m, const char *key, size_t len, uint64_t hash, uint32_t idx)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        struct sl_keymap_slot *ns = malloc(ncap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < ncap; i++)
            ns[i].idx = UINT32_MAX;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].idx != UINT32_MAX)
                put_slot(ns, ncap, &m->slots[i]);
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    struct sl_keymap_slot e = {hash, key, (uint32_t)len, idx};
    put_slot(m->slots, m->cap, &e);
    m->n++;
    return 0;
}
