/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD series key cache: owns a fixed table of slots mapping a metric line's raw
 * identity (type, name bytes, tag bytes) to its canonical key and XXH3 id.
 *
 * Why: building a key is most of a line's ingest cost — escaping the name, splitting and
 * escaping tags, sorting labels, writing the key, hashing it — while real traffic repeats
 * the same few hundred thousand series over and over. Hashing the raw bytes (XXH3,
 * inlined) and comparing them is a fraction of that.
 *
 * A slot holds its raw bytes next to the key, so a hit is checked byte for byte; the
 * 64-bit raw hash is only a filter (0 marks an empty slot). Nothing allocates after create.
 */
#include "ingest/statsd_keycache.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Replacement marks. A hit sets KC_REF_HIT; a miss in the set that finds no empty way and
 * no way at 0 takes one off both ways instead of evicting. So a set with more live series
 * than ways keeps the two it holds (they hit between the others' misses) rather than
 * cycling all of them out, and a series that stopped being sent leaves after a few
 * misses. A new entry starts at KC_REF_NEW: protected from the very next miss only. */
#define KC_REF_HIT 3
#define KC_REF_NEW 1

struct kc_slot {
    uint64_t h;          /* raw-identity hash, never 0; 0 = empty */
    uint64_t id;         /* sl_key_hash(key) */
    struct sl_statsd_route route; /* the feeder's; zeroed on every (re)fill and move */
    uint16_t name_len;
    uint16_t tags_len;
    uint16_t key_len;
    uint8_t mtype;
    uint8_t ref;         /* age mark: KC_REF_HIT on a hit, down one per miss in the set */
    uint8_t tag_errors;  /* tags the key skipped, replayed on a hit (< DATA / 2 fit) */
    char _pad;
    char data[SL_STATSD_KEYCACHE_DATA]; /* name bytes, tag bytes, key */
};
static_assert(sizeof(struct kc_slot) == 192, "three cache lines per slot");

#define KC_HUGE ((size_t)2 << 20)

/* Growth: the table starts at KC_START entries (or the maximum, if smaller) and doubles
 * while, over a window of KC_WINDOW lookups, more than 1/KC_MISS_DIV of them built their key
 * and more than half the slots are in use. So a daemon with a few thousand series keeps a
 * table of a few MiB, and one with 100k series grows to where they fit. */
#define KC_START (1u << 14)
#define KC_WINDOW (1u << 16)
#define KC_MISS_DIV 50

struct sl_statsd_keycache {
    uint32_t mask;         /* sets - 1 */
    uint32_t max_entries;  /* the table never grows past this */
    uint32_t used;         /* slots holding an entry */
    uint64_t lookups;      /* in the current growth window */
    uint32_t misses;
    uint32_t stamps;       /* the last entry stamp handed out (sl_statsd_route.stamp) */
    void *map;             /* the mapping, KC_HUGE longer than the slots when aligned */
    size_t map_bytes;
    struct kc_slot *slots; /* 2 per set, ways adjacent; inside map */
};

/* Map a zeroed table of @entries slots into @c (replacing nothing). */
static int map_table(struct sl_statsd_keycache *c, uint32_t entries)
{
    /* An anonymous mapping, not calloc: its pages are zero and committed only when a
     * slot is first written, whereas calloc may reuse freed heap and zero it all.
     * Lookups land anywhere in it, so when it spans huge pages it is 2 MiB aligned and
     * asks for transparent huge pages: a TLB miss per line costs as much as the cache
     * miss (the shard's series table does the same). */
    size_t bytes = (size_t)entries * sizeof(struct kc_slot);
    size_t align = bytes >= KC_HUGE ? KC_HUGE : 0;
    char *m = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    c->map = m;
    c->map_bytes = bytes + align;
    if (align) {
        m += (KC_HUGE - (uintptr_t)m % KC_HUGE) % KC_HUGE;
        madvise(m, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages work too */
    }
    c->slots = (struct kc_slot *)(void *)m;
    c->mask = entries / 2 - 1;
    c->used = 0;
    return 0;
}

int sl_statsd_keycache_create(uint32_t entries, struct sl_statsd_keycache **out)
{
    if (entries < 2 || entries > SL_STATSD_KEYCACHE_MAX || (entries & (entries - 1)))
        return -EINVAL;
    struct sl_statsd_keycache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->max_entries = entries;
    if (map_table(c, entries < KC_START ? entries : KC_START)) {
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void sl_statsd_keycache_destroy(struct sl_statsd_keycache *c)
{
    if (!c)
        return;
    munmap(c->map, c->map_bytes);
    free(c);
}

uint32_t sl_statsd_keycache_entries(const struct sl_statsd_keycache *c)
{
    return 2 * (c->mask + 1);
}

static inline uint64_t raw_hash(const struct sl_statsd_line *l)
{
    uint64_t h = XXH3_64bits_withSeed(l->name, l->name_len, l->mtype);
    if (l->tags_len)
        h = XXH3_64bits_withSeed(l->tags, l->tags_len, h);
    return h ? h : 1;
}

uint64_t sl_statsd_keycache_prefetch(const struct sl_statsd_keycache *c,
                                     const struct sl_statsd_line *line)
{
    size_t raw = (size_t)line->name_len + line->tags_len;
    if (line->kind != SL_STATSD_METRIC || raw >= SL_STATSD_KEYCACHE_DATA)
        return 0;
    uint64_t h = raw_hash(line);
    const char *set = (const char *)&c->slots[2 * (h & c->mask)];
    /* Of each way, the lines a hit reads: the header (with the route) and the raw bytes
     * compared. The key after them is read only when the line's records carry it, which
     * once the shard has answered a route request (shard.h) they do not. A short line
     * ("api.req:1|c") needs one line per way, a tagged one two. Prefetching a fixed two
     * per way wasted half of them on short lines, and prefetches beyond what is read use
     * up the core's outstanding-miss slots, where the feeder then stalls. */
    size_t need = offsetof(struct kc_slot, data) + raw;
    __builtin_prefetch(set);
    __builtin_prefetch(set + sizeof(struct kc_slot));
    if (need > 64) {
        __builtin_prefetch(set + 64);
        __builtin_prefetch(set + sizeof(struct kc_slot) + 64);
    }
    if (need > 128) {
        __builtin_prefetch(set + 128);
        __builtin_prefetch(set + sizeof(struct kc_slot) + 128);
    }
    return h;
}

/* The set an identity spills into when its home set (h & mask) is full: other hash bits,
 * so identities sharing a home set spread over different spill sets. */
static inline uint32_t spill_set(const struct sl_statsd_keycache *c, uint64_t h)
{
    return (uint32_t)(h >> 32) & c->mask;
}

static inline int slot_matches(const struct kc_slot *s, uint64_t h,
                               const struct sl_statsd_line *l)
{
    return s->h == h && s->mtype == l->mtype && s->name_len == l->name_len &&
           s->tags_len == l->tags_len && memcmp(s->data, l->name, l->name_len) == 0 &&
           (l->tags_len == 0 || memcmp(s->data + l->name_len, l->tags, l->tags_len) == 0);
}

static int build(const struct sl_statsd_line *line, char *scratch, const char **key,
                 uint64_t *id, uint32_t *errs)
{
    int klen = sl_statsd_build_key(line, scratch, SL_KEY_MAX, errs);
    if (klen < 0)
        return klen;
    *key = scratch;
    *id = sl_key_hash(scratch, (size_t)klen);
    return klen;
}

/* Double the table, moving every entry to its home or spill set in the new one (by its
 * stored hash: no key is rebuilt). An entry that finds both full is dropped and will be
 * rebuilt on its next miss. On -ENOMEM the old table stays. */
static void grow(struct sl_statsd_keycache *c)
{
    struct sl_statsd_keycache old = *c;
    uint32_t entries = 2 * sl_statsd_keycache_entries(c);
    if (map_table(c, entries)) {
        *c = old;
        c->max_entries = sl_statsd_keycache_entries(c); /* stop trying */
        return;
    }
    for (uint32_t i = 0; i < 2 * (old.mask + 1); i++) {
        const struct kc_slot *s = &old.slots[i];
        if (!s->h)
            continue;
        struct kc_slot *ways[4] = {&c->slots[2 * (s->h & c->mask)],
                                   &c->slots[2 * (s->h & c->mask) + 1],
                                   &c->slots[2 * spill_set(c, s->h)],
                                   &c->slots[2 * spill_set(c, s->h) + 1]};
        for (int w = 0; w < 4; w++)
            if (!ways[w]->h) {
                memcpy(ways[w], s, sizeof *s);
                /* Replies in flight name the old slot numbers: start over, as a new
                 * entry, so none of them can match. */
                ways[w]->route = (struct sl_statsd_route){.stamp = ++c->stamps};
                c->used++;
                break;
            }
    }
    munmap(old.map, old.map_bytes);
}

/* Count a miss; once a window of lookups has passed, grow if it missed too often while the
 * table was more than half full. Only ever called on a miss, whose key lives in the
 * caller's scratch: a hit's key points into the table, which a grow unmaps. */
static inline void account_miss(struct sl_statsd_keycache *c)
{
    c->misses++;
    if (++c->lookups < KC_WINDOW)
        return;
    uint32_t entries = sl_statsd_keycache_entries(c);
    if ((uint64_t)c->misses * KC_MISS_DIV > c->lookups && c->used > entries / 2 &&
        entries < c->max_entries)
        grow(c);
    c->lookups = c->misses = 0;
}

uint32_t sl_statsd_keycache_slot_of(const struct sl_statsd_keycache *c,
                                    const struct sl_statsd_route *route)
{
    const char *p = (const char *)route - offsetof(struct kc_slot, route);
    return (uint32_t)(((const struct kc_slot *)(const void *)p) - c->slots);
}

int sl_statsd_keycache_set_route(struct sl_statsd_keycache *c, uint32_t slot, uint64_t id,
                                 uint32_t stamp, void *hint, uint32_t epoch)
{
    if (slot >= sl_statsd_keycache_entries(c))
        return 0;
    struct kc_slot *s = &c->slots[slot];
    if (!s->h || s->id != id || s->route.stamp != stamp || s->route.epoch == 0)
        return 0;
    s->route.hint = hint;
    s->route.epoch = epoch;
    return 1;
}

int sl_statsd_keycache_key(struct sl_statsd_keycache *c, const struct sl_statsd_line *line,
                           uint64_t hash, char *scratch, const char **key, uint64_t *id,
                           uint32_t *tag_errors, int *outcome, struct sl_statsd_route **route)
{
    uint32_t errs = 0;
    int dummy;
    if (!outcome)
        outcome = &dummy;
    *route = NULL;
    size_t raw = (size_t)line->name_len + line->tags_len;
    if (line->kind != SL_STATSD_METRIC || raw >= SL_STATSD_KEYCACHE_DATA) {
        *outcome = SL_STATSD_KEYCACHE_BYPASS;
        int klen = build(line, scratch, key, id, &errs);
        if (tag_errors)
            *tag_errors += errs;
        return klen;
    }
    uint64_t h = hash ? hash : raw_hash(line);
    assert(h == raw_hash(line));
    /* The four ways an identity may live in: its home set (prefetched), then its spill set,
     * which takes what a full home set cannot (one extra cache miss beats a rebuild).
     * Probed in that order, the first way alone for most hits. */
    struct kc_slot *home = &c->slots[2 * (h & c->mask)];
    struct kc_slot *spill = &c->slots[2 * spill_set(c, h)];
    struct kc_slot *s = slot_matches(home, h, line)       ? home
                        : slot_matches(home + 1, h, line) ? home + 1
                        : spill == home                   ? NULL
                        : slot_matches(spill, h, line)    ? spill
                        : slot_matches(spill + 1, h, line) ? spill + 1
                                                           : NULL;
    if (s) {
        /* Written only when it changes: at 100k series the table is far larger than the
         * caches, and a store would make every line it touches dirty, to be written back
         * when it is evicted. */
        if (s->ref != KC_REF_HIT)
            s->ref = KC_REF_HIT;
        *key = s->data + raw;
        *id = s->id;
        if (tag_errors)
            *tag_errors += s->tag_errors;
        *outcome = SL_STATSD_KEYCACHE_HIT;
        *route = &s->route;
        c->lookups++; /* the window is judged at the next miss */
        return s->key_len;
    }
    struct kc_slot *ways[4] = {home, home + 1, spill, spill + 1};
    int nways = spill == home ? 2 : 4;
    int klen = build(line, scratch, key, id, &errs);
    if (tag_errors)
        *tag_errors += errs;
    if (klen < 0) {
        *outcome = SL_STATSD_KEYCACHE_BYPASS;
        return klen;
    }
    if (raw + (size_t)klen > SL_STATSD_KEYCACHE_DATA) {
        *outcome = SL_STATSD_KEYCACHE_BYPASS;
        return klen;
    }
    *outcome = SL_STATSD_KEYCACHE_MISS;
    /* Accounted after the insert below: a grow moves entries, so it must not happen while
     * @ways points into the old table (@key points into @scratch). */
    /* Victim: an empty way, else one whose mark ran out, home set first. When all are
     * still marked, age them instead and keep them: an entry must miss its sets' traffic
     * three times in a row without a hit before it goes. */
    struct kc_slot *v = NULL;
    for (int w = 0; w < nways && !v; w++)
        if (ways[w]->h == 0)
            v = ways[w];
    for (int w = 0; w < nways && !v; w++)
        if (ways[w]->ref == 0)
            v = ways[w];
    if (!v) {
        for (int w = 0; w < nways; w++)
            ways[w]->ref--;
        account_miss(c);
        return klen;
    }
    c->used += v->h == 0;
    v->h = h;
    v->id = *id;
    v->tag_errors = (uint8_t)errs;
    v->name_len = (uint16_t)line->name_len;
    v->tags_len = (uint16_t)line->tags_len;
    v->key_len = (uint16_t)klen;
    v->mtype = line->mtype;
    v->ref = KC_REF_NEW;
    v->route = (struct sl_statsd_route){.stamp = ++c->stamps};
    memcpy(v->data, line->name, line->name_len);
    if (line->tags_len)
        memcpy(v->data + line->name_len, line->tags, line->tags_len);
    memcpy(v->data + raw, scratch, (size_t)klen);
    const struct kc_slot *before = c->slots;
    account_miss(c);
    /* Unless account_miss grew the table (moving the slot, with its route zeroed), the
     * new identity's first record can ask for its route at once. */
    if (c->slots == before)
        *route = &v->route;
    return klen;
}
