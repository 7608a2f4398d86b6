/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The head's postings index: every matcher op including the empty-value rules, agreement
 * with a brute-force scan (sl_matchers_key_ok over every key) on random label sets before
 * and after renumbering, rollback of an add, and the head keeping the index in step when a
 * cut or a delete forgets series.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdio.h>

#include "engine/log.h"
#include "helpers.h"
#include "storage/head.h"
#include "storage/postings.h"
#include "storage/store.h"

#define MAXK 4096

static char keys[MAXK][160];
static size_t klen[MAXK];
static size_t nkeys;
static struct sl_postings post;

static void setup(void)
{
    sl_postings_init(&post);
    nkeys = 0;
}
static void teardown(void)
{
    sl_postings_fini(&post);
}
TestSuite(postings, .init = setup, .fini = teardown, .timeout = 20);

static const char *key_of(void *ctx, uint32_t id, size_t *len)
{
    (void)ctx;
    *len = klen[id];
    return keys[id];
}

static void add_key(const char *name, const char *a, const char *va, const char *b,
                    const char *vb)
{
    int n = mkkey(keys[nkeys], sizeof keys[nkeys], name, a, va, b, vb);
    cr_assert(gt(int, n, 0));
    klen[nkeys] = (size_t)n;
    cr_assert(eq(int, sl_postings_add(&post, (uint32_t)nkeys, keys[nkeys], klen[nkeys]), 0));
    nkeys++;
}

/* The index's answer, and the brute-force one, as bitmasks over ids (nkeys <= 64). */
static uint64_t sel_mask(const struct sl_store_matcher *m, size_t nm, uint64_t *brute)
{
    struct sl_matchers *ms;
    cr_assert(eq(int, sl_matchers_compile(m, nm, &ms, NULL, 0), 0));
    uint32_t *ids;
    size_t n;
    cr_assert(eq(int, sl_postings_select(&post, ms, nkeys, key_of, NULL, &ids, &n), 0));
    uint64_t got = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(i == 0 || ids[i - 1] < ids[i], "ids not ascending");
        got |= 1ULL << ids[i];
    }
    *brute = 0;
    for (size_t i = 0; i < nkeys; i++)
        if (sl_matchers_key_ok(ms, keys[i], klen[i]))
            *brute |= 1ULL << i;
    free(ids);
    sl_matchers_destroy(ms);
    return got;
}

/* Six series: ids 0..5. */
static void small_set(void)
{
    add_key("up", "job", "api", "env", "prod");   /* 0 */
    add_key("up", "job", "api", "env", "dev");    /* 1 */
    add_key("up", "job", "db", NULL, NULL);       /* 2: no env */
    add_key("cpu", "job", "api", "env", "prod");  /* 3 */
    add_key("cpu", "job", "db", "env", "");       /* 4: empty env is no env */
    add_key("mem", "host", "h1", NULL, NULL);     /* 5: no job, no env */
}

/* Arrays, not pointers: Criterion may run each parameter in a freshly exec'd process. */
struct mcase {
    char name[12];
    enum sl_store_match_op op;
    char value[12];
    char name2[12]; /* second matcher, or "" for none */
    enum sl_store_match_op op2;
    char value2[12];
    uint64_t want;
};

static struct mcase mcases[] = {
    {"job", SL_STORE_MATCH_EQ, "api", "", 0, "", 0x0b},
    {"env", SL_STORE_MATCH_EQ, "", "", 0, "", 0x34},       /* absent env */
    {"env", SL_STORE_MATCH_NE, "", "", 0, "", 0x0b},       /* env present */
    {"env", SL_STORE_MATCH_NE, "prod", "", 0, "", 0x36},   /* includes absent env */
    {"env", SL_STORE_MATCH_RE, "pr.*", "", 0, "", 0x09},
    {"env", SL_STORE_MATCH_RE, ".*", "", 0, "", 0x3f},     /* matches "" too */
    {"env", SL_STORE_MATCH_RE, "d.*|", "", 0, "", 0x36},   /* dev or absent */
    {"env", SL_STORE_MATCH_NRE, ".+", "", 0, "", 0x34},    /* absent env */
    {"env", SL_STORE_MATCH_NRE, "prod", "", 0, "", 0x36},
    {"env", SL_STORE_MATCH_NRE, "", "", 0, "", 0x0b},      /* rejects "", so present */
    {"zone", SL_STORE_MATCH_EQ, "", "", 0, "", 0x3f},      /* unknown name: all */
    {"zone", SL_STORE_MATCH_EQ, "a", "", 0, "", 0},
    {"zone", SL_STORE_MATCH_NE, "a", "", 0, "", 0x3f},
    {"zone", SL_STORE_MATCH_RE, "a.*", "", 0, "", 0},
    {"__name__", SL_STORE_MATCH_EQ, "up", "", 0, "", 0x07},
    {"__name__", SL_STORE_MATCH_RE, "up|mem", "", 0, "", 0x27},
    {"job", SL_STORE_MATCH_EQ, "nope", "", 0, "", 0},
    {"__name__", SL_STORE_MATCH_EQ, "up", "env", SL_STORE_MATCH_NE, "prod", 0x06},
    {"__name__", SL_STORE_MATCH_EQ, "up", "env", SL_STORE_MATCH_EQ, "", 0x04},
    {"job", SL_STORE_MATCH_EQ, "api", "env", SL_STORE_MATCH_NRE, "p.*", 0x02},
    {"job", SL_STORE_MATCH_RE, "a.*|d.*", "__name__", SL_STORE_MATCH_NE, "up", 0x18},
    {"env", SL_STORE_MATCH_EQ, "", "job", SL_STORE_MATCH_EQ, "", 0x20},
    {"env", SL_STORE_MATCH_NE, "x", "host", SL_STORE_MATCH_NRE, "h.", 0x1f},
};

ParameterizedTestParameters(postings, select_each_op_matches_expected_and_brute_force)
{
    return cr_make_param_array(struct mcase, mcases, sizeof mcases / sizeof mcases[0]);
}

ParameterizedTest(struct mcase *c, postings, select_each_op_matches_expected_and_brute_force)
{
    small_set();
    struct sl_store_matcher m[2] = {{c->op, c->name, c->value}, {c->op2, c->name2, c->value2}};
    uint64_t brute;
    uint64_t got = sel_mask(m, c->name2[0] ? 2 : 1, &brute);
    cr_assert(eq(u64, got, c->want), "%s op %d \"%s\"", c->name, (int)c->op, c->value);
    cr_assert(eq(u64, brute, c->want), "the table disagrees with sl_matchers_key_ok");
}

Test(postings, no_matchers_select_every_series)
{
    small_set();
    uint64_t brute;
    cr_assert(eq(u64, sel_mask(NULL, 0, &brute), 0x3f));
}

Test(postings, undo_add_restores_the_index)
{
    small_set();
    size_t jobs = sl_postings_nvalues(&post, "job");
    int n = mkkey(keys[nkeys], sizeof keys[nkeys], "new", "job", "fresh", "zone", "z1");
    cr_assert(eq(int, sl_postings_add(&post, (uint32_t)nkeys, keys[nkeys], (size_t)n), 0));
    cr_assert(eq(sz, sl_postings_nvalues(&post, "zone"), 1));
    sl_postings_undo_add(&post, (uint32_t)nkeys, keys[nkeys], (size_t)n);
    cr_assert(eq(sz, sl_postings_nvalues(&post, "zone"), 0));
    cr_assert(eq(sz, sl_postings_nvalues(&post, "job"), jobs));
    cr_assert(sl_postings_check(&post));
    uint64_t brute;
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, "job", "api"};
    cr_assert(eq(u64, sel_mask(&m, 1, &brute), 0x0b));
}

/* ---- property: random label sets against a brute-force scan ----------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const lnames[] = {"a", "b", "c", "d"};
static const char *const lvals[] = {"x", "y", "z", "xy", "yx", "zz"};
static const char *const res[] = {"x.*", ".*y", "", ".*", "x|y", "z+", "(xy|yx)?"};

static void random_matcher(struct sl_store_matcher *m, char *buf)
{
    m->op = (enum sl_store_match_op)rnd(4);
    m->name = rnd(8) ? lnames[rnd(4)] : "__name__";
    if (m->op == SL_STORE_MATCH_RE || m->op == SL_STORE_MATCH_NRE) {
        m->value = res[rnd(7)];
    } else if (!strcmp(m->name, "__name__")) {
        snprintf(buf, 8, "m%u", rnd(3));
        m->value = rnd(5) ? buf : "";
    } else {
        m->value = rnd(5) ? lvals[rnd(6)] : "";
    }
}

/* id -> index in keys[] (ids are renumbered when series are dropped) */
static uint32_t live[MAXK];

static const char *live_key(void *ctx, uint32_t id, size_t *len)
{
    (void)ctx;
    *len = klen[live[id]];
    return keys[live[id]];
}

static void check_random_queries(size_t nlive, int rounds)
{
    for (int q = 0; q < rounds; q++) {
        struct sl_store_matcher m[3];
        char bufs[3][8];
        size_t nm = rnd(4);
        for (size_t i = 0; i < nm; i++)
            random_matcher(&m[i], bufs[i]);
        struct sl_matchers *ms;
        cr_assert(eq(int, sl_matchers_compile(m, nm, &ms, NULL, 0), 0));
        uint32_t *ids;
        size_t n;
        cr_assert(eq(int, sl_postings_select(&post, ms, nlive, live_key, NULL, &ids, &n), 0));
        size_t j = 0;
        for (size_t i = 0; i < nlive; i++) {
            int want = sl_matchers_key_ok(ms, keys[live[i]], klen[live[i]]);
            int got = j < n && ids[j] == i;
            cr_assert(eq(int, got, want), "query %d series %zu (%zu matchers, first %s op %d "
                      "\"%s\")", q, i, nm, nm ? m[0].name : "-", nm ? (int)m[0].op : -1,
                      nm ? m[0].value : "");
            j += (size_t)got;
        }
        cr_assert(eq(sz, j, n));
        free(ids);
        sl_matchers_destroy(ms);
    }
}

Test(postings, random_label_sets_agree_with_brute_force_before_and_after_remap)
{
    const size_t N = 3000;
    for (size_t i = 0; i < N; i++) {
        struct sl_label l[4];
        size_t nl = 0;
        for (int x = 0; x < 4; x++)
            if (rnd(3))
                l[nl++] = (struct sl_label){lnames[x], lvals[rnd(6)], 1, 0};
        for (size_t x = 0; x < nl; x++)
            l[x].value_len = (uint32_t)strlen(l[x].value);
        char name[8];
        snprintf(name, sizeof name, "m%u", rnd(3));
        int n = sl_key_build(SL_KIND_PLAIN, name, strlen(name), l, nl, keys[i], sizeof keys[i]);
        cr_assert(gt(int, n, 0));
        klen[i] = (size_t)n;
        cr_assert(eq(int, sl_postings_add(&post, (uint32_t)i, keys[i], klen[i]), 0));
        live[i] = (uint32_t)i;
    }
    cr_assert(sl_postings_check(&post));
    check_random_queries(N, 300);
    /* drop about 2/3 of the series, as a head cut does, twice */
    size_t nlive = N;
    for (int round = 0; round < 2; round++) {
        uint32_t map[MAXK];
        size_t o = 0;
        for (size_t i = 0; i < nlive; i++) {
            if (rnd(3) == 0) {
                map[i] = (uint32_t)o;
                live[o++] = live[i];
            } else {
                map[i] = UINT32_MAX;
            }
        }
        sl_postings_remap(&post, map, nlive);
        nlive = o;
        cr_assert(sl_postings_check(&post));
        check_random_queries(nlive, 300);
    }
    /* drop everything: the index is empty again */
    uint32_t map[MAXK];
    for (size_t i = 0; i < nlive; i++)
        map[i] = UINT32_MAX;
    sl_postings_remap(&post, map, nlive);
    for (int x = 0; x < 4; x++)
        cr_assert(eq(sz, sl_postings_nvalues(&post, lnames[x]), 0));
    cr_assert(eq(sz, sl_postings_nvalues(&post, "__name__"), 0));
}

/* ---- the head keeps the index in step ------------------------------------------------- */

static void head_put(struct sl_head *h, const char *key, size_t len, int64_t t)
{
    uint32_t x;
    const char *k = key;
    uint32_t l = (uint32_t)len;
    cr_assert(eq(int, sl_head_prepare(h, &k, &l, 1, 0, &x), 0));
    sl_head_commit(h, x, t, 1.0);
}

static size_t head_sel(struct sl_head *h, const char *name, const char *value, uint32_t *first)
{
    struct sl_store_matcher m = {SL_STORE_MATCH_EQ, name, value};
    struct sl_matchers *ms;
    cr_assert(eq(int, sl_matchers_compile(&m, 1, &ms, NULL, 0), 0));
    uint32_t *ids;
    size_t n;
    cr_assert(eq(int, sl_head_match(h, ms, &ids, &n), 0));
    if (n && first)
        *first = ids[0];
    free(ids);
    sl_matchers_destroy(ms);
    return n;
}

Test(postings, head_cut_drops_series_from_the_index)
{
    struct sl_head h;
    sl_head_init(&h);
    char k[3][64];
    int kl[3];
    kl[0] = mkkey(k[0], sizeof k[0], "m", "inst", "old", NULL, NULL);
    kl[1] = mkkey(k[1], sizeof k[1], "m", "inst", "both", NULL, NULL);
    kl[2] = mkkey(k[2], sizeof k[2], "m", "inst", "new", NULL, NULL);
    head_put(&h, k[0], (size_t)kl[0], 100);
    head_put(&h, k[1], (size_t)kl[1], 100);
    head_put(&h, k[1], (size_t)kl[1], 5000);
    head_put(&h, k[2], (size_t)kl[2], 5000);
    cr_assert(eq(sz, head_sel(&h, "__name__", "m", NULL), 3));
    cr_assert(eq(int, sl_head_drop_range(&h, 0, 999), 0));
    cr_assert(eq(sz, h.n, 2));
    cr_assert(sl_postings_check(&h.post));
    cr_assert(eq(sz, head_sel(&h, "inst", "old", NULL), 0));
    cr_assert(eq(sz, sl_postings_nvalues(&h.post, "inst"), 2));
    uint32_t id = UINT32_MAX;
    cr_assert(eq(sz, head_sel(&h, "inst", "new", &id), 1));
    cr_assert(eq(u32, id, 1)); /* renumbered with the series array */
    cr_assert(eq(int, memcmp(h.s[id].key, k[2], (size_t)kl[2]), 0));
    cr_assert(eq(sz, head_sel(&h, "__name__", "m", NULL), 2));
    /* a new series after the cut gets the next ordinal and is found */
    head_put(&h, k[0], (size_t)kl[0], 6000);
    cr_assert(eq(sz, head_sel(&h, "inst", "old", &id), 1));
    cr_assert(eq(u32, id, 2));
    cr_assert(eq(int, sl_head_drop_range(&h, INT64_MIN, INT64_MAX), 0));
    cr_assert(eq(sz, h.n, 0));
    cr_assert(eq(sz, sl_postings_nvalues(&h.post, "__name__"), 0));
    sl_head_fini(&h);
}

Test(postings, store_delete_and_cut_forget_head_series)
{
    char dir[64];
    tmp_dir(dir, sizeof dir, "post");
    sl_log_set_level(SL_LOG_ERROR + 1);
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.block_range_ms = 60000;
    cfg.compact_range_ms = 600000;
    cfg.raw_retention_ms = 0;
    cfg.ntiers = 1;
    cfg.tiers[0] = (struct sl_tier_cfg){60000, 0};
    struct sl_store *s;
    cr_assert(eq(int, sl_store_open(&cfg, &s), 0));
    char k[4][64];
    struct sl_sample smp[4];
    const char *insts[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        int n = mkkey(k[i], sizeof k[i], "m", "inst", insts[i], NULL, NULL);
        smp[i] = (struct sl_sample){.key = k[i], .key_len = (uint32_t)n, .t = 1000, .v = i};
    }
    struct sl_sample_batch b = {smp, 4};
    cr_assert(eq(int, sl_store_append(s, &b), 0));
    struct sl_store_matcher del = {SL_STORE_MATCH_RE, "inst", "a|b"};
    size_t nd = 0;
    cr_assert(eq(int, sl_store_delete(s, &del, 1, INT64_MIN, INT64_MAX, &nd), 0));
    cr_assert(eq(sz, nd, 2));
    struct sl_store_stats st;
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_series, 2), "deleted series leave the head at once");
    struct sl_store_matcher all = {SL_STORE_MATCH_EQ, "__name__", "m"};
    struct sl_series_set *ss;
    cr_assert(eq(int, sl_store_select(s, &all, 1, 0, 10000, 0, &ss, NULL, 0), 0));
    cr_assert(eq(sz, sl_series_set_count(ss), 2));
    sl_series_set_destroy(ss);
    /* move everything into blocks: the head forgets the rest, reads come from blocks */
    cr_assert(eq(int, sl_store_flush_head(s), 0));
    sl_store_stats(s, &st);
    cr_assert(eq(u64, st.head_series, 0));
    struct sl_store_matcher c = {SL_STORE_MATCH_NE, "inst", "d"};
    cr_assert(eq(int, sl_store_select(s, &c, 1, 0, 10000, 0, &ss, NULL, 0), 0));
    cr_assert(eq(sz, sl_series_set_count(ss), 1));
    struct sl_store_series one;
    sl_series_set_get(ss, 0, &one);
    cr_assert(eq(int, memcmp(one.key, k[2], one.key_len), 0));
    cr_assert(eq(dbl, one.v[0], 2.0));
    sl_series_set_destroy(ss);
    sl_store_close(s);
    rm_rf(dir);
}

/* `.*` and `.+` skip the regex engine; they must answer exactly as the engine would, with
 * DOTALL (a newline is any character) and for the empty value (a missing label). */
Test(postings, any_and_nonempty_regex_shapes_match_like_the_engine)
{
    static const char *const pats[] = {".*", ".+", "(?:.*)", "(?:.+)"};
    static const char *const vals[] = {"", "a", "\n", "x\ny", "long value"};
    for (int op = SL_STORE_MATCH_RE; op <= SL_STORE_MATCH_NRE; op++) {
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            int got[4];
            for (size_t p = 0; p < 4; p++) {
                struct sl_store_matcher m = {.op = op, .name = "l", .value = pats[p]};
                struct sl_matchers *ms;
                cr_assert(eq(int, sl_matchers_compile(&m, 1, &ms, NULL, 0), 0));
                got[p] = sl_matchers_value_ok(ms, 0, vals[v], strlen(vals[v]));
                sl_matchers_destroy(ms);
            }
            /* the shortcut (p < 2) and the engine (the same pattern in a group) agree */
            cr_assert(eq(int, got[0], got[2]), "op %d value %zu", op, v);
            cr_assert(eq(int, got[1], got[3]), "op %d value %zu", op, v);
            int nonempty = vals[v][0] != 0;
            cr_assert(eq(int, got[1], op == SL_STORE_MATCH_RE ? nonempty : !nonempty));
            cr_assert(eq(int, got[0], op == SL_STORE_MATCH_RE));
        }
    }
}
