/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for ingest/statsd_keycache.c: a key from the cache is byte-for-byte the key (and
 * id, and tag error count) the uncached path builds, for random lines with escaped names,
 * bad tags and tags in shuffled order; colliding lines in a one-set cache, over-long lines,
 * events and service checks all still get the right key; the replacement keeps a set's
 * entries when more series than ways share it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "ingest/statsd.h"
#include "ingest/statsd_keycache.h"

TestSuite(statsd_keycache, .timeout = 20);

struct ref_key {
    char key[SL_KEY_MAX];
    int len;
    uint64_t id;
    uint32_t tag_errors;
};

static void reference(const struct sl_statsd_line *l, struct ref_key *r)
{
    r->tag_errors = 0;
    r->len = sl_statsd_build_key(l, r->key, sizeof r->key, &r->tag_errors);
    r->id = r->len > 0 ? sl_key_hash(r->key, (size_t)r->len) : 0;
}

/* Parse @text, look it up in @c and check the result against the uncached path.
 * Returns the outcome. */
static int check_line(struct sl_statsd_keycache *c, const char *text)
{
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(text, strlen(text), &l), 0), "parse %s", text);
    struct ref_key want;
    reference(&l, &want);
    char scratch[SL_KEY_MAX];
    const char *key = NULL;
    uint64_t id = 0;
    uint32_t errs = 7; /* incremented, not reset */
    int how = 0;
    struct sl_statsd_route *route;
    /* every other call passes the prefetched hash, as the feeder does; the rest hash here */
    static unsigned calls;
    uint64_t h = calls++ % 2 ? sl_statsd_keycache_prefetch(c, &l) : 0;
    int len = sl_statsd_keycache_key(c, &l, h, scratch, &key, &id, &errs, &how, &route);
    cr_assert(eq(int, len, want.len), "%s", text);
    if (len > 0) {
        cr_assert(eq(int, memcmp(key, want.key, (size_t)len), 0), "key of %s", text);
        cr_assert(eq(u64, id, want.id), "%s", text);
    }
    cr_assert(eq(u32, errs, 7 + want.tag_errors), "%s", text);
    return how;
}

Test(statsd_keycache, create_bad_entries_einval)
{
    struct sl_statsd_keycache *c = (void *)0x1;
    cr_assert(eq(int, sl_statsd_keycache_create(0, &c), -EINVAL));
    cr_assert(eq(int, sl_statsd_keycache_create(1, &c), -EINVAL));
    cr_assert(eq(int, sl_statsd_keycache_create(3, &c), -EINVAL));
    cr_assert(eq(int, sl_statsd_keycache_create(1u << 25, &c), -EINVAL));
    cr_assert(eq(ptr, (void *)c, (void *)0x1), "untouched on failure");
    sl_statsd_keycache_destroy(NULL);
}

Test(statsd_keycache, second_lookup_hits_with_same_key)
{
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(1024, &c), 0));
    const char *line = "api.req-count:1|c|#env:prod,bad,region:eu";
    cr_assert(eq(int, check_line(c, line), SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, line), SL_STATSD_KEYCACHE_HIT));
    /* the value, rate and container are not part of the identity */
    cr_assert(eq(int, check_line(c, "api.req-count:5:6|c|@0.5|#env:prod,bad,region:eu|c:x"),
                 SL_STATSD_KEYCACHE_HIT));
    /* the type and every tag byte are */
    cr_assert(eq(int, check_line(c, "api.req-count:1|g|#env:prod,bad,region:eu"),
                 SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, "api.req-count:1|c|#env:prod,bad,region:e"),
                 SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, "api.req-count:1|c"), SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, "api.req-count:1|c"), SL_STATSD_KEYCACHE_HIT));
    sl_statsd_keycache_destroy(c);
}

Test(statsd_keycache, shuffled_tags_cached_apart_same_key)
{
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(1024, &c), 0));
    const char *a = "m:1|c|#x:1,y:2,z:3", *b = "m:1|c|#z:3,x:1,y:2";
    cr_assert(eq(int, check_line(c, a), SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, b), SL_STATSD_KEYCACHE_MISS));
    cr_assert(eq(int, check_line(c, a), SL_STATSD_KEYCACHE_HIT));
    cr_assert(eq(int, check_line(c, b), SL_STATSD_KEYCACHE_HIT));
    sl_statsd_keycache_destroy(c);
}

/* Events and service checks are built every time; too-long identities and keys bypass. */
/* The line is held inline: Criterion runs each parameter in a fresh process image, where
 * a pointer into this one's .rodata would dangle. */
struct bypass_case {
    char line[200];
};

ParameterizedTestParameters(statsd_keycache, uncacheable_line_bypasses)
{
    static struct bypass_case cases[] = {
        {"_e{5,4}:title|text|#env:prod"},
        {"_sc|db.up|1|#env:prod"},
        /* 150-byte name + tags: raw identity over SL_STATSD_KEYCACHE_DATA */
        {"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
         "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn:1|c|#a:b,c:d"},
        /* identity fits (88 bytes) but identity + key (88 + 91) does not */
        {"ssssssssssssssssssssssssssssssssssssssssssssssssss:1|ms|#tttttttttttttttttt:"
         "uuuuuuuuuuuuuuuuuuu"},
    };
    return cr_make_param_array(struct bypass_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct bypass_case *tc, statsd_keycache, uncacheable_line_bypasses)
{
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(64, &c), 0));
    for (int i = 0; i < 3; i++)
        cr_assert(eq(int, check_line(c, tc->line), SL_STATSD_KEYCACHE_BYPASS), "%s", tc->line);
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(tc->line, strlen(tc->line), &l), 0));
    if (l.kind != SL_STATSD_METRIC || l.name_len + l.tags_len >= SL_STATSD_KEYCACHE_DATA)
        cr_assert(eq(u64, sl_statsd_keycache_prefetch(c, &l), 0), "not cacheable: no hash");
    sl_statsd_keycache_destroy(c);
}

/* One set of two ways and three series sent round-robin: the two cached ones keep hitting
 * instead of all three evicting each other. */
Test(statsd_keycache, one_set_round_robin_keeps_two)
{
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(2, &c), 0));
    const char *lines[3] = {"a:1|c", "b:1|c|#k:v", "c.d:1|g"};
    int hits = 0;
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < 3; i++)
            hits += check_line(c, lines[i]) == SL_STATSD_KEYCACHE_HIT;
    cr_assert(ge(int, hits, 2 * 9), "hits=%d", hits);
    /* a new pair of series replaces the old ones after a few misses */
    const char *next[2] = {"x:1|c", "y:1|c"};
    int late = 0;
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < 2; i++)
        {
            int hit = check_line(c, next[i]) == SL_STATSD_KEYCACHE_HIT;
            late += round >= 5 && hit;
        }
    cr_assert(eq(int, late, 10));
    sl_statsd_keycache_destroy(c);
}

/* Half as many series as entries, sent round-robin: with only its home set, about one
 * series in seven finds that set full of live entries and never gets in (85% hits);
 * spilling into a second set holds nearly all of them (98%). */
Test(statsd_keycache, half_full_cache_holds_nearly_every_series)
{
    enum { ENTRIES = 4096, SERIES = ENTRIES / 2 };
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(ENTRIES, &c), 0));
    int hits = 0;
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < SERIES; i++) {
            char line[64];
            snprintf(line, sizeof line, "app.series.%d:1|c|#env:prod", i);
            int how = check_line(c, line);
            hits += round == 3 && how == SL_STATSD_KEYCACHE_HIT;
        }
    cr_assert(ge(int, hits, SERIES * 96 / 100), "hits=%d of %d", hits, SERIES);
    sl_statsd_keycache_destroy(c);
}

/* More series than the starting table holds: it doubles (keeping its entries, and every
 * answer still the uncached one) until they fit, and stops there. */
Test(statsd_keycache, grows_until_the_series_fit)
{
    enum { SERIES = 20000 };
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(1u << 20, &c), 0));
    cr_assert(eq(u32, sl_statsd_keycache_entries(c), 1u << 14));
    int hits = 0;
    for (int round = 0; round < 8; round++)
        for (int i = 0; i < SERIES; i++) {
            char line[64];
            snprintf(line, sizeof line, "grow.series.%d:1|c|#env:prod", i);
            int how = check_line(c, line);
            hits += round == 7 && how == SL_STATSD_KEYCACHE_HIT;
        }
    uint32_t entries = sl_statsd_keycache_entries(c);
    cr_assert(ge(u32, entries, 1u << 15), "entries=%u", entries);
    cr_assert(le(u32, entries, 1u << 16), "entries=%u: grew past what 20k series need", entries);
    cr_assert(ge(int, hits, SERIES * 97 / 100), "hits=%d of %d", hits, SERIES);
    sl_statsd_keycache_destroy(c);
}

/* A working set that fits never grows the table, and the maximum is never passed. */
Test(statsd_keycache, small_working_set_keeps_the_starting_size)
{
    struct sl_statsd_keycache *c, *capped;
    cr_assert(eq(int, sl_statsd_keycache_create(1u << 20, &c), 0));
    cr_assert(eq(int, sl_statsd_keycache_create(1u << 12, &capped), 0));
    for (int round = 0; round < 30; round++)
        for (int i = 0; i < 5000; i++) {
            char line[64];
            snprintf(line, sizeof line, "small.series.%d:1|g", i);
            check_line(c, line);
            check_line(capped, line);
        }
    cr_assert(eq(u32, sl_statsd_keycache_entries(c), 1u << 14));
    cr_assert(eq(u32, sl_statsd_keycache_entries(capped), 1u << 12));
    sl_statsd_keycache_destroy(c);
    sl_statsd_keycache_destroy(capped);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static size_t random_line(char *out, size_t cap, uint32_t series, int shuffle)
{
    static const char *const types[] = {"c", "g", "ms", "h", "d", "s"};
    static const char *const name_bits[] = {"api", ".", "-", "--", "req", "0", "_x",
                                            "\xc3\xa9", "9z", "m"};
    static const char *const tags[] = {"env:prod", "region:eu", "host:web-1", "bad",
                                       "#svc:a", "env:dev", "x.y:1", "k:", ":v", ""};
    uint64_t saved = rng_state;
    rng_state = 0x5bd1e995u + series * 0x9e3779b97f4a7c15u; /* same series, same parts */
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "s%u", series);
    for (uint32_t i = 0, k = rnd(4); i < k; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s", name_bits[rnd(10)]);
    const char *type = types[rnd(6)];
    uint32_t ntags = rnd(5), pick[4];
    for (uint32_t i = 0; i < ntags; i++)
        pick[i] = rnd(10);
    rng_state = saved;
    if (shuffle)
        for (uint32_t i = ntags; i > 1; i--) {
            uint32_t j = rnd(i), t = pick[i - 1];
            pick[i - 1] = pick[j];
            pick[j] = t;
        }
    n += (size_t)snprintf(out + n, cap - n, ":%u|%s", rnd(100), type);
    if (ntags) {
        n += (size_t)snprintf(out + n, cap - n, "|#");
        for (uint32_t i = 0; i < ntags; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", tags[pick[i]]);
    }
    return n;
}

/* Random lines over a few hundred series with tags in shuffled orders, through caches big
 * enough to hit and small enough to collide all the time. */
Test(statsd_keycache, random_lines_match_uncached_path)
{
    static const uint32_t sizes[] = {2, 16, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        struct sl_statsd_keycache *c;
        cr_assert(eq(int, sl_statsd_keycache_create(sizes[s], &c), 0));
        int count[4] = {0};
        for (int i = 0; i < 20000; i++) {
            char line[512];
            random_line(line, sizeof line, rnd(300), rnd(2));
            count[check_line(c, line)]++;
        }
        cr_assert(gt(int, count[SL_STATSD_KEYCACHE_HIT], 0));
        cr_assert(gt(int, count[SL_STATSD_KEYCACHE_MISS], 0));
        if (sizes[s] == 4096)
            cr_assert(gt(int, count[SL_STATSD_KEYCACHE_HIT], 12000), "hits=%d",
                      count[SL_STATSD_KEYCACHE_HIT]);
        sl_statsd_keycache_destroy(c);
    }
}

/* Look @text up and return its route (NULL when not cached) and key id. */
static struct sl_statsd_route *route_of(struct sl_statsd_keycache *c, const char *text,
                                        uint64_t *id)
{
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(text, strlen(text), &l), 0), "parse %s", text);
    char scratch[SL_KEY_MAX];
    const char *key;
    uint32_t errs = 0;
    struct sl_statsd_route *route = (void *)0x1;
    cr_assert(gt(int, sl_statsd_keycache_key(c, &l, 0, scratch, &key, id, &errs, NULL, &route),
                 0));
    return route;
}

/* A shard's reply reaches a slot only while it holds the entry that asked: not before it
 * asked, not for another id or stamp, not after the slot took another entry. */
Test(statsd_keycache, route_reply_reaches_only_the_entry_that_asked)
{
    struct sl_statsd_keycache *c;
    cr_assert(eq(int, sl_statsd_keycache_create(2, &c), 0)); /* one set: lines share it */
    uint64_t id;
    struct sl_statsd_route *r = route_of(c, "a:1|c", &id);
    cr_assert(ne(ptr, r, NULL), "a miss that was inserted has a route");
    cr_assert(eq(u32, r->epoch, 0));
    uint32_t slot = sl_statsd_keycache_slot_of(c, r), stamp = r->stamp;
    cr_assert(lt(u32, slot, 2));
    int x;
    void *hint = &x;
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, slot, id, stamp, hint, 5), 0),
              "not asked yet");
    r->epoch = SL_STATSD_ROUTE_ASKED;
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, slot, id + 1, stamp, hint, 5), 0),
              "other id");
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, slot, id, stamp + 1, hint, 5), 0),
              "other stamp");
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, 7, id, stamp, hint, 5), 0), "no slot");
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, slot, id, stamp, hint, 5), 1));
    uint64_t id2;
    r = route_of(c, "a:2|c", &id2);
    cr_assert(eq(u64, id2, id));
    cr_assert(eq(ptr, r->hint, hint), "a hit sees the route");
    cr_assert(eq(u32, r->epoch, 5));
    /* Two more identities in the one set evict "a" after aging; a slot that takes another
     * entry starts without a route and with a stamp of its own. */
    for (int i = 0; i < 8; i++) {
        uint64_t idb, idc;
        struct sl_statsd_route *rb = route_of(c, "b:1|c", &idb);
        struct sl_statsd_route *rc = route_of(c, "c:1|c", &idc);
        if (rb)
            cr_assert(eq(u32, rb->epoch, 0), "b inherited a route");
        if (rc)
            cr_assert(eq(u32, rc->epoch, 0), "c inherited a route");
        if (rb && rc)
            cr_assert(ne(u32, rb->stamp, rc->stamp));
        if (rb)
            cr_assert(ne(u32, rb->stamp, stamp), "b took a's stamp");
    }
    struct sl_statsd_route *again = route_of(c, "a:1|c", &id2);
    cr_assert(eq(ptr, again, NULL), "a was evicted (both ways now hold b and c)");
    cr_assert(eq(int, sl_statsd_keycache_set_route(c, slot, id, stamp, hint, 6), 0),
              "a late reply for a does not reach the slot that holds another entry");
    sl_statsd_keycache_destroy(c);
}
