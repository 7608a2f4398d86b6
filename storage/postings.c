/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The head's postings index (see postings.h). Two levels of open-addressing tables (label
 * name -> its values, value -> ordinal list), linear probing at load <= 1/2 with
 * backward-shift deletion, so that removing a value whose series were all cut into a block
 * needs no tombstones and no allocation: remap runs under the head's write lock and must
 * not fail. Entries live in dense arrays (a removed one is replaced by the last), which is
 * what a regex matcher walks: the values of one name, never the series.
 *
 * Unions of value lists (regex and `!=` matchers) are built either in a bitmap over all
 * ordinals, when they cover at least 1/16 of the head (one pass over nseries/8 bytes is then
 * cheaper than sorting), or by concatenating and radix-sorting them. The lists of different
 * values of one name are disjoint, so a union never needs deduplication.
 */
#include "storage/postings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"

#define EMPTY UINT32_MAX

struct pkey {
    char *s; /* OWNED copy, not NUL-terminated */
    uint32_t len;
    uint64_t hash;
};

struct pval {
    struct pkey k;
    uint32_t *ids; /* ascending; never empty while listed */
    uint32_t n, cap;
};

struct sl_postings__name {
    struct pkey k;
    struct pval *v;
    size_t nv, cap;
    struct sl_postings__tab tab;
};

/* ---- tables ------------------------------------------------------------------------------ */

/* Entries of both levels start with a struct pkey; tables reach them through base + stride. */
static const struct pkey *ent(const void *base, size_t stride, uint32_t i)
{
    return (const struct pkey *)(const void *)((const char *)base + (size_t)i * stride);
}

static uint32_t tab_find(const struct sl_postings__tab *t, const void *base, size_t stride,
                         const char *s, size_t len, uint64_t hash)
{
    if (!t->cap)
        return EMPTY;
    size_t mask = t->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t x = t->slot[i];
        if (x == EMPTY)
            return EMPTY;
        const struct pkey *k = ent(base, stride, x);
        if (k->hash == hash && k->len == len && memcmp(k->s, s, len) == 0)
            return x;
    }
}

static size_t tab_pos(const struct sl_postings__tab *t, uint64_t hash, uint32_t x)
{
    size_t mask = t->cap - 1, i = hash & mask;
    while (t->slot[i] != x)
        i = (i + 1) & mask;
    return i;
}

static void tab_place(uint32_t *slot, size_t cap, uint64_t hash, uint32_t x)
{
    size_t mask = cap - 1, i = hash & mask;
    while (slot[i] != EMPTY)
        i = (i + 1) & mask;
    slot[i] = x;
}

/* Make room for entry count @n (after the insert); rehashes entries [0, n-1). */
static int tab_reserve(struct sl_postings__tab *t, const void *base, size_t stride, size_t n)
{
    if (n * 2 <= t->cap)
        return 0;
    size_t nc = t->cap ? t->cap * 2 : 8;
    uint32_t *ns = malloc(nc * sizeof *ns);
    if (!ns)
        return -ENOMEM;
    memset(ns, 0xff, nc * sizeof *ns);
    for (size_t i = 0; i + 1 < n; i++)
        tab_place(ns, nc, ent(base, stride, (uint32_t)i)->hash, (uint32_t)i);
    free(t->slot);
    t->slot = ns;
    t->cap = nc;
    return 0;
}

/* Backward-shift deletion: later members of the probe run move up into the hole unless
 * their home slot lies cyclically within (hole, their position]. */
static void tab_erase(struct sl_postings__tab *t, const void *base, size_t stride, size_t pos)
{
    size_t mask = t->cap - 1, i = pos, j = pos;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slot[j] == EMPTY)
            break;
        size_t h = ent(base, stride, t->slot[j])->hash & mask;
        int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!stays) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i] = EMPTY;
}

/* Unlist entry @x of @n by moving the last entry into its place. */
static void tab_remove(struct sl_postings__tab *t, void *base, size_t stride, uint32_t x,
                       size_t n)
{
    tab_erase(t, base, stride, tab_pos(t, ent(base, stride, x)->hash, x));
    uint32_t last = (uint32_t)(n - 1);
    if (x != last) {
        t->slot[tab_pos(t, ent(base, stride, last)->hash, last)] = x;
        memcpy((char *)base + (size_t)x * stride, (char *)base + (size_t)last * stride, stride);
    }
}

/* ---- index ------------------------------------------------------------------------------- */

void sl_postings_init(struct sl_postings *p)
{
    memset(p, 0, sizeof *p);
}

static void name_free(struct sl_postings__name *nm)
{
    for (size_t i = 0; i < nm->nv; i++) {
        free(nm->v[i].k.s);
        free(nm->v[i].ids);
    }
    free(nm->v);
    free(nm->tab.slot);
    free(nm->k.s);
}

void sl_postings_fini(struct sl_postings *p)
{
    for (size_t i = 0; i < p->_n; i++)
        name_free(&p->_names[i]);
    free(p->_names);
    free(p->_tab.slot);
    sl_postings_init(p);
}

static struct sl_postings__name *name_get(const struct sl_postings *p, const char *s, size_t len)
{
    uint32_t x = tab_find(&p->_tab, p->_names, sizeof *p->_names, s, len, sl_key_hash(s, len));
    return x == EMPTY ? NULL : &p->_names[x];
}

static struct pval *val_get(const struct sl_postings__name *nm, const char *s, size_t len)
{
    uint32_t x = tab_find(&nm->tab, nm->v, sizeof *nm->v, s, len, sl_key_hash(s, len));
    return x == EMPTY ? NULL : &nm->v[x];
}

static int key_dup(struct pkey *k, const char *s, size_t len, uint64_t hash)
{
    if (!(k->s = malloc(len ? len : 1)))
        return -ENOMEM;
    memcpy(k->s, s, len);
    k->len = (uint32_t)len;
    k->hash = hash;
    return 0;
}

/* Grow a dense entry array to hold @n entries. */
static int arr_reserve(void **a, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = realloc(*a, nc * size);
    if (!na)
        return -ENOMEM;
    *a = na;
    *cap = nc;
    return 0;
}

static int add_one(struct sl_postings *p, const struct sl_label *l, uint32_t id)
{
    uint64_t h = sl_key_hash(l->name, l->name_len);
    uint32_t x = tab_find(&p->_tab, p->_names, sizeof *p->_names, l->name, l->name_len, h);
    if (x == EMPTY) {
        void *a = p->_names;
        int rc = arr_reserve(&a, &p->_cap, p->_n + 1, sizeof *p->_names);
        p->_names = a;
        if (rc || (rc = tab_reserve(&p->_tab, p->_names, sizeof *p->_names, p->_n + 1)))
            return rc;
        struct sl_postings__name *nm = &p->_names[p->_n];
        memset(nm, 0, sizeof *nm);
        if (key_dup(&nm->k, l->name, l->name_len, h))
            return -ENOMEM;
        x = (uint32_t)p->_n++;
        tab_place(p->_tab.slot, p->_tab.cap, h, x);
    }
    struct sl_postings__name *nm = &p->_names[x];
    h = sl_key_hash(l->value, l->value_len);
    uint32_t y = tab_find(&nm->tab, nm->v, sizeof *nm->v, l->value, l->value_len, h);
    if (y == EMPTY) {
        void *a = nm->v;
        int rc = arr_reserve(&a, &nm->cap, nm->nv + 1, sizeof *nm->v);
        nm->v = a;
        if (rc || (rc = tab_reserve(&nm->tab, nm->v, sizeof *nm->v, nm->nv + 1)))
            return rc;
        struct pval *pv = &nm->v[nm->nv];
        memset(pv, 0, sizeof *pv);
        if (key_dup(&pv->k, l->value, l->value_len, h))
            return -ENOMEM;
        y = (uint32_t)nm->nv++;
        tab_place(nm->tab.slot, nm->tab.cap, h, y);
    }
    struct pval *pv = &nm->v[y];
    if (pv->n && pv->ids[pv->n - 1] == id)
        return 0; /* a key naming a label `__name__` too: keep the list strictly ascending */
    if (pv->n == pv->cap) {
        /* doubling from 4: most values of high-cardinality labels hold one series */
        size_t nc = pv->cap ? (size_t)pv->cap * 2 : 4;
        if (nc > UINT32_MAX)
            return -ENOMEM;
        uint32_t *ni = realloc(pv->ids, nc * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        pv->ids = ni;
        pv->cap = (uint32_t)nc;
    }
    pv->ids[pv->n++] = id;
    return 0;
}

static void val_remove(struct sl_postings__name *nm, uint32_t y)
{
    free(nm->v[y].k.s);
    free(nm->v[y].ids);
    tab_remove(&nm->tab, nm->v, sizeof *nm->v, y, nm->nv);
    nm->nv--;
}

static void name_remove(struct sl_postings *p, uint32_t x)
{
    name_free(&p->_names[x]);
    tab_remove(&p->_tab, p->_names, sizeof *p->_names, x, p->_n);
    p->_n--;
}

/* Cursor over the indexed pairs of a key: the metric name as `__name__`, then each label;
 * empty values are skipped. */
struct lit {
    struct sl_key_iter it;
    struct sl_label name;
    int first;
};

static void lit_init(struct lit *c, const char *key, size_t len)
{
    const char *nm;
    size_t nml;
    sl_key_name(key, len, &nm, &nml, &c->it);
    c->name = (struct sl_label){"__name__", nm, 8, (uint32_t)nml};
    c->first = 1;
}

static int lit_next(struct lit *c, struct sl_label *l)
{
    if (c->first) {
        c->first = 0;
        if (c->name.value_len) {
            *l = c->name;
            return 1;
        }
    }
    while (sl_key_next_label(&c->it, l))
        if (l->value_len)
            return 1;
    return 0;
}

void sl_postings_undo_add(struct sl_postings *p, uint32_t id, const char *key, size_t len)
{
    struct lit c;
    struct sl_label l;
    lit_init(&c, key, len);
    while (lit_next(&c, &l)) {
        uint32_t x = tab_find(&p->_tab, p->_names, sizeof *p->_names, l.name, l.name_len,
                              sl_key_hash(l.name, l.name_len));
        if (x != EMPTY) {
            struct sl_postings__name *nm = &p->_names[x];
            uint32_t y = tab_find(&nm->tab, nm->v, sizeof *nm->v, l.value, l.value_len,
                                  sl_key_hash(l.value, l.value_len));
            if (y != EMPTY) {
                struct pval *pv = &nm->v[y];
                if (pv->n && pv->ids[pv->n - 1] == id)
                    pv->n--;
                if (!pv->n)
                    val_remove(nm, y);
            }
            if (!nm->nv)
                name_remove(p, x);
        }
    }
}

int sl_postings_add(struct sl_postings *p, uint32_t id, const char *key, size_t len)
{
    int rc = 0;
    struct lit c;
    struct sl_label l;
    lit_init(&c, key, len);
    while (!rc && lit_next(&c, &l))
        rc = add_one(p, &l, id);
    if (rc)
        sl_postings_undo_add(p, id, key, len);
    return rc;
}

void sl_postings_remap(struct sl_postings *p, const uint32_t *map, size_t n)
{
    /* backwards, so that the entry moved into a removed one's place was already done */
    for (size_t x = p->_n; x-- > 0;) {
        struct sl_postings__name *nm = &p->_names[x];
        for (size_t y = nm->nv; y-- > 0;) {
            struct pval *pv = &nm->v[y];
            uint32_t o = 0;
            for (uint32_t i = 0; i < pv->n; i++) {
                uint32_t to = pv->ids[i] < n ? map[pv->ids[i]] : EMPTY;
                if (to != EMPTY)
                    pv->ids[o++] = to;
            }
            pv->n = o;
            if (!o)
                val_remove(nm, (uint32_t)y);
        }
        if (!nm->nv)
            name_remove(p, (uint32_t)x);
    }
}

size_t sl_postings_nvalues(const struct sl_postings *p, const char *name)
{
    const struct sl_postings__name *nm = name_get(p, name, strlen(name));
    return nm ? nm->nv : 0;
}

int sl_postings_check(const struct sl_postings *p)
{
    for (size_t x = 0; x < p->_n; x++) {
        const struct sl_postings__name *nm = &p->_names[x];
        if (!nm->nv || name_get(p, nm->k.s, nm->k.len) != nm)
            return 0;
        for (size_t y = 0; y < nm->nv; y++) {
            const struct pval *pv = &nm->v[y];
            if (!pv->n || val_get(nm, pv->k.s, pv->k.len) != pv)
                return 0;
            for (uint32_t i = 1; i < pv->n; i++)
                if (pv->ids[i - 1] >= pv->ids[i])
                    return 0;
        }
    }
    return 1;
}

/* ---- set operations ----------------------------------------------------------------------- */

/* First index >= @lo with b[index] >= x (or n): exponential then binary search, so that
 * intersecting a short list with a long one costs O(short * log(long / short)). */
static size_t gallop(const uint32_t *b, size_t lo, size_t n, uint32_t x)
{
    if (lo >= n || b[lo] >= x)
        return lo;
    size_t step = 1, hi = lo + 1;
    while (hi < n && b[hi] < x) {
        lo = hi;
        step <<= 1;
        hi = lo + step;
    }
    if (hi > n)
        hi = n;
    lo++;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* a := a ∩ b in place; the shorter list drives. @return new length of a. */
static size_t intersect(uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t o = 0;
    if (na <= nb) {
        for (size_t i = 0, j = 0; i < na; i++) {
            j = gallop(b, j, nb, a[i]);
            if (j == nb)
                break;
            if (b[j] == a[i])
                a[o++] = a[i];
        }
    } else {
        /* a match a[j] sits at j >= o, and later searches start after j: writing a[o] is safe */
        for (size_t i = 0, j = 0; i < nb; i++) {
            j = gallop(a, j, na, b[i]);
            if (j == na)
                break;
            if (a[j] == b[i])
                a[o++] = b[i];
        }
    }
    return o;
}

/* a := a \ b in place. */
static size_t subtract(uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t o = 0;
    for (size_t i = 0, j = 0; i < na; i++) {
        j = gallop(b, j, nb, a[i]);
        if (j == nb || b[j] != a[i])
            a[o++] = a[i];
    }
    return o;
}

/* LSD radix sort, 11 bits per pass, only as many passes as the largest id needs. */
static void radix_sort(uint32_t *a, uint32_t *tmp, size_t n)
{
    uint32_t mx = 0;
    for (size_t i = 0; i < n; i++)
        mx |= a[i];
    uint32_t *src = a, *dst = tmp;
    for (unsigned sh = 0; sh < 32 && (sh == 0 || (mx >> sh)); sh += 11) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[(src[i] >> sh) & 2047]++;
        size_t sum = 0;
        for (size_t i = 0; i < 2048; i++) {
            size_t c = cnt[i];
            cnt[i] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> sh) & 2047]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

struct lists {
    const struct pval **l;
    size_t n, cap, total;
};

static int lists_push(struct lists *ls, const struct pval *pv)
{
    void *a = (void *)ls->l;
    if (arr_reserve(&a, &ls->cap, ls->n + 1, sizeof *ls->l))
        return -ENOMEM;
    ls->l = a;
    ls->l[ls->n++] = pv;
    ls->total += pv->n;
    return 0;
}

/* Sorted union of disjoint lists into a new array (*out NULL when empty). */
static int lists_union(const struct lists *ls, size_t nseries, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!ls->total)
        return 0;
    uint32_t *u = malloc(ls->total * sizeof *u);
    if (!u)
        return -ENOMEM;
    if (ls->total * 16 >= nseries && ls->n > 1) {
        size_t words = (nseries + 63) / 64;
        uint64_t *bm = calloc(words, sizeof *bm);
        if (!bm) {
            free(u);
            return -ENOMEM;
        }
        for (size_t i = 0; i < ls->n; i++)
            for (uint32_t j = 0; j < ls->l[i]->n; j++)
                bm[ls->l[i]->ids[j] >> 6] |= 1ULL << (ls->l[i]->ids[j] & 63);
        size_t o = 0;
        for (size_t w = 0; w < words; w++)
            for (uint64_t b = bm[w]; b; b &= b - 1)
                u[o++] = (uint32_t)(w * 64 + (unsigned)__builtin_ctzll(b));
        free(bm);
        *n = o;
    } else {
        size_t o = 0;
        for (size_t i = 0; i < ls->n; i++) {
            memcpy(u + o, ls->l[i]->ids, ls->l[i]->n * sizeof *u);
            o += ls->l[i]->n;
        }
        if (ls->n > 1) {
            uint32_t *tmp = malloc(o * sizeof *tmp);
            if (!tmp) {
                free(u);
                return -ENOMEM;
            }
            radix_sort(u, tmp, o);
            free(tmp);
        }
        *n = o;
    }
    *out = u;
    return 0;
}

/* ---- select ------------------------------------------------------------------------------ */

/* The candidate set: every ordinal while `all`, else ids[0..n). */
struct cand {
    int all;
    uint32_t *ids;
    size_t n;
};

/* Value of label @name in @key ("" when absent). */
static void key_value(const char *key, size_t kl, const char *name, size_t nl, const char **v,
                      size_t *vl)
{
    const char *mn;
    size_t mnl;
    struct sl_key_iter it;
    sl_key_name(key, kl, &mn, &mnl, &it);
    *v = "";
    *vl = 0;
    if (nl == 8 && memcmp(name, "__name__", 8) == 0) {
        *v = mn;
        *vl = mnl;
        return;
    }
    struct sl_label l;
    while (sl_key_next_label(&it, &l)) {
        if (l.name_len == nl && memcmp(l.name, name, nl) == 0) {
            *v = l.value;
            *vl = l.value_len;
            return;
        }
    }
}

/* Keep the candidates whose own value passes matcher @i. */
static void filter_keys(struct cand *c, const struct sl_matchers *ms, size_t i,
                        sl_postings_key_fn *keyfn, void *ctx)
{
    const char *name = sl_matchers_get(ms, i)->name;
    size_t nl = strlen(name), o = 0;
    for (size_t j = 0; j < c->n; j++) {
        size_t kl;
        const char *k = keyfn(ctx, c->ids[j], &kl);
        const char *v;
        size_t vl;
        key_value(k, kl, name, nl, &v, &vl);
        if (sl_matchers_value_ok(ms, i, v, vl))
            c->ids[o++] = c->ids[j];
    }
    c->n = o;
}

/* Lists of the values of @nm whose verdict under matcher @i is @want. */
static int collect(const struct sl_postings__name *nm, const struct sl_matchers *ms, size_t i,
                   int want, struct lists *ls)
{
    const struct sl_store_matcher *m = sl_matchers_get(ms, i);
    int eq = m->op == SL_STORE_MATCH_EQ, ne = m->op == SL_STORE_MATCH_NE;
    if ((eq || ne) && (eq == want) && m->value[0]) {
        /* exactly one value has this verdict */
        const struct pval *pv = val_get(nm, m->value, strlen(m->value));
        return pv ? lists_push(ls, pv) : 0;
    }
    for (size_t y = 0; y < nm->nv; y++) {
        const struct pval *pv = &nm->v[y];
        if (!!sl_matchers_value_ok(ms, i, pv->k.s, pv->k.len) == want && lists_push(ls, pv))
            return -ENOMEM;
    }
    return 0;
}

static int cand_all(struct cand *c, size_t nseries)
{
    c->all = 0;
    c->n = nseries;
    if (!nseries)
        return 0;
    if (!(c->ids = malloc(nseries * sizeof *c->ids)))
        return -ENOMEM;
    for (size_t i = 0; i < nseries; i++)
        c->ids[i] = (uint32_t)i;
    return 0;
}

/* Apply matcher @i, which accepts "" exactly when @neg. */
static int apply(struct cand *c, const struct sl_postings *p, const struct sl_matchers *ms,
                 size_t i, int neg, size_t nseries, sl_postings_key_fn *keyfn, void *ctx)
{
    const struct sl_store_matcher *m = sl_matchers_get(ms, i);
    const struct sl_postings__name *nm = name_get(p, m->name, strlen(m->name));
    if (!nm) {
        /* every series has the empty value for this name */
        if (!neg) {
            free(c->ids);
            *c = (struct cand){0, NULL, 0};
        }
        return 0;
    }
    int direct = (m->op == SL_STORE_MATCH_EQ && !neg) || (m->op == SL_STORE_MATCH_NE && neg);
    if (!c->all && !direct && c->n <= nm->nv) {
        /* fewer candidates than values to test: look at the candidates instead */
        filter_keys(c, ms, i, keyfn, ctx);
        return 0;
    }
    struct lists ls = {0};
    uint32_t *u;
    size_t nu;
    int rc = collect(nm, ms, i, !neg, &ls);
    if (!rc)
        rc = lists_union(&ls, nseries, &u, &nu);
    free((void *)ls.l);
    if (rc)
        return rc;
    if (!neg) {
        if (c->all) {
            *c = (struct cand){0, u, nu};
            return 0;
        }
        c->n = intersect(c->ids, c->n, u, nu);
    } else {
        if (c->all && (rc = cand_all(c, nseries))) {
            free(u);
            return rc;
        }
        c->n = subtract(c->ids, c->n, u, nu);
    }
    free(u);
    return 0;
}

static int by_size(const void *a, const void *b)
{
    const struct pval *x = *(const struct pval *const *)a, *y = *(const struct pval *const *)b;
    return (x->n > y->n) - (x->n < y->n);
}

int sl_postings_select(const struct sl_postings *p, const struct sl_matchers *ms, size_t nseries,
                       sl_postings_key_fn *keyfn, void *ctx, uint32_t **ids, size_t *n)
{
    size_t nm = sl_matchers_count(ms);
    int neg[SL_MATCHERS_MAX];
    const struct pval *eqs[SL_MATCHERS_MAX];
    size_t neq = 0;
    struct cand c = {1, NULL, 0};
    *ids = NULL;
    *n = 0;
    if (!nseries)
        return 0;
    /* 1. `=` matchers with a non-empty value: one list each, intersected shortest first */
    for (size_t i = 0; i < nm; i++) {
        const struct sl_store_matcher *m = sl_matchers_get(ms, i);
        neg[i] = sl_matchers_value_ok(ms, i, "", 0);
        if (m->op != SL_STORE_MATCH_EQ || neg[i])
            continue;
        const struct sl_postings__name *x = name_get(p, m->name, strlen(m->name));
        const struct pval *pv = x ? val_get(x, m->value, strlen(m->value)) : NULL;
        if (!pv)
            return 0; /* no head series has this value */
        eqs[neq++] = pv;
    }
    if (neq) {
        qsort(eqs, neq, sizeof *eqs, by_size);
        if (!(c.ids = malloc(eqs[0]->n * sizeof *c.ids)))
            return -ENOMEM;
        memcpy(c.ids, eqs[0]->ids, eqs[0]->n * sizeof *c.ids);
        c.n = eqs[0]->n;
        c.all = 0;
        for (size_t i = 1; i < neq && c.n; i++)
            c.n = intersect(c.ids, c.n, eqs[i]->ids, eqs[i]->n);
    }
    /* 2. the other matchers that reject "" (regexes, `!=""`), then 3. those accepting "" */
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < nm && !rc && (c.all || c.n); i++) {
            const struct sl_store_matcher *m = sl_matchers_get(ms, i);
            if (neg[i] != pass || (!pass && m->op == SL_STORE_MATCH_EQ))
                continue;
            rc = apply(&c, p, ms, i, pass, nseries, keyfn, ctx);
        }
    }
    if (!rc && c.all)
        rc = cand_all(&c, nseries); /* only matchers accepting everything, or none */
    if (rc || !c.n) {
        free(c.ids);
        return rc;
    }
    *ids = c.ids;
    *n = c.n;
    return 0;
}
