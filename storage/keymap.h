/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keymap.h
 * Internal to storage/: an open-addressing map from canonical series key bytes to a dense
 * uint32 index chosen by the caller. Keys are BORROWED: the caller keeps them alive and
 * unchanged while they are in the map (the head stores them with its series). Ids from
 * sl_key_hash() are not trusted to be unique; lookups compare the bytes.
 * Thread: not thread-safe; the owner serialises access.
 */
#ifndef SL_KEYMAP_H
#define SL_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

struct sl_keymap_slot {
    uint64_t hash;
    const char *key;
    uint32_t len;
    uint32_t idx; /* UINT32_MAX: empty */
};

struct sl_keymap {
    struct sl_keymap_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

void sl_keymap_init(struct sl_keymap *m);
void sl_keymap_fini(struct sl_keymap *m);
/** Index stored for @key, or UINT32_MAX. */
uint32_t sl_keymap_get(const struct sl_keymap *m, const char *key, size_t len, uint64_t hash);
/** Insert @key (must be absent) -> @idx. @return 0 or -ENOMEM. */
int sl_keymap_put(struct sl_keymap *m, const char *key, size_t len, uint64_t hash, uint32_t idx);

#endif
