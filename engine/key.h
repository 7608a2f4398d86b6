/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file key.h
 * Series keys: the one canonical byte form of "metric name + label set" and its 64-bit id.
 *
 *     [kind:1] name \0 ( lname \0 lvalue \0 )*      labels sorted by name, names unique
 *
 * The leading kind byte keeps StatsD namespaces apart (a gauge and a counter may share a
 * name, as in the reference daemon); storage and query use SL_KIND_PLAIN. Because the form
 * is canonical, two keys are the same series iff their bytes are equal, and the id is XXH3
 * of those bytes. Ids are not assumed unique: every table that indexes by id compares the
 * key bytes on a hit and keeps probing on a mismatch (a collision), counting it.
 * Thread: any (pure functions).
 */
#ifndef SL_KEY_H
#define SL_KEY_H

#include <stddef.h>
#include <stdint.h>

#define SL_KEY_MAX 1024 /* longest key accepted, bytes; longer lines are refused and counted */
#define SL_LABELS_MAX 64 /* most labels on one series */

/** One label; both strings BORROWED from whatever the caller parsed. Not NUL-terminated. */
struct sl_label {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
};

/**
 * Build the canonical key into @out. Sorts @labels in place by name; when a name repeats,
 * the last occurrence wins (DogStatsD clients append overrides). Labels with an empty value
 * are left out, as Prometheus treats an empty value as an absent label.
 * @return key length (> 0), or -ENOSPC when it would exceed @cap or SL_KEY_MAX,
 *         -EINVAL when @n > SL_LABELS_MAX or a string holds a NUL byte.
 */
int sl_key_build(uint8_t kind, const char *name, size_t name_len, struct sl_label *labels,
                 size_t n, char *out, size_t cap);

/** 64-bit series id of a canonical key (XXH3). */
uint64_t sl_key_hash(const char *key, size_t len);

/** Kind byte of @key. */
static inline uint8_t sl_key_kind(const char *key)
{
    return (uint8_t)key[0];
}

/** Cursor over a canonical key; all pointers BORROWED from the key. */
struct sl_key_iter {
    const char *p, *end;
};

/** Metric name of @key and start a label cursor at @it (may be NULL). */
void sl_key_name(const char *key, size_t len, const char **name, size_t *name_len,
                 struct sl_key_iter *it);
/** Next label; returns 1 with @l filled, 0 at the end. */
int sl_key_next_label(struct sl_key_iter *it, struct sl_label *l);

#endif
