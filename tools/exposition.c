/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /metrics exposition. Each shard keeps one "page", replaced at every flush. A flush only
 * snapshots numbers: each series' key and its exposed points (sl_flush_expand(), which
 * needs the interval's sketch and so cannot wait). The first scrape that sees a page
 * renders it to text lines with an index of (family, type, line) offsets and sorts them;
 * a scrape is then a k-way merge over nshards pages, O(total · k).
 *
 * Why render on scrape: formatting every value (shortest round-trip digits for each
 * quantile) at every flush was a sixth of the flusher threads' CPU at 100k series and 1 s
 * flushes, and with a 15 s scrape interval 14 of 15 pages were formatted for nobody. Now
 * a page costs its text once at most, whichever comes less often, flushes or scrapes.
 */
#include "tools/exposition.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"

enum fam_type { T_COUNTER, T_GAUGE, T_SUMMARY };
static const char *const type_names[] = {"counter", "gauge", "summary"};

struct line_ref {
    uint32_t fam_off, fam_len; /* family name inside text */
    uint32_t off, len;         /* whole line (with '\n') inside text */
    uint8_t type;
};

/* One series of a snapshot: its key in page.keys, its points in page.pts. */
struct snap_entry {
    uint32_t key_off, key_len;
    uint32_t pt_off;
    uint8_t npts;
    uint8_t mtype;
};

struct page {
    /* snapshot, written by the sink; immutable once published */
    struct sl_buf keys;
    struct snap_entry *ents;
    size_t nents, ents_cap;
    struct sl_flush_point *pts; /* suffix and extra_label are static strings */
    size_t npts, pts_cap;
    /* text, rendered and sorted by the first scrape that sees the page; guarded by
     * sl_expo.mu */
    int rendered;
    struct sl_buf text;
    struct line_ref *lines;
    size_t n, cap;
};

struct sl_expo {
    pthread_mutex_t mu;
    uint32_t nshards;
    struct sl_flush_cfg flush;
    struct page *pages; /* published, one per shard; guarded by mu */
    sl_expo_self_fn *self_fn;
    void *self_ctx;
};

int sl_expo_create(uint32_t nshards, const struct sl_flush_cfg *flush, struct sl_expo **out)
{
    struct sl_expo *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->pages = calloc(nshards, sizeof *x->pages);
    if (!x->pages) {
        free(x);
        return -ENOMEM;
    }
    x->nshards = nshards;
    x->flush = *flush;
    pthread_mutex_init(&x->mu, NULL);
    *out = x;
    return 0;
}

static void page_fini(struct page *p)
{
    sl_buf_fini(&p->keys);
    free(p->ents);
    free(p->pts);
    sl_buf_fini(&p->text);
    free(p->lines);
    memset(p, 0, sizeof *p);
}

void sl_expo_destroy(struct sl_expo *x)
{
    if (!x)
        return;
    for (uint32_t i = 0; i < x->nshards; i++)
        page_fini(&x->pages[i]);
    free(x->pages);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

void sl_expo_set_self(struct sl_expo *x, sl_expo_self_fn *fn, void *ctx)
{
    x->self_fn = fn;
    x->self_ctx = ctx;
}

void sl_expo_escape(struct sl_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            sl_buf_append(b, "\\\\", 2);
        else if (s[i] == '"')
            sl_buf_append(b, "\\\"", 2);
        else if (s[i] == '\n')
            sl_buf_append(b, "\\n", 2);
        else
            sl_buf_putc(b, s[i]);
    }
}

static int line_cmp(const void *a, const void *b, void *text)
{
    const struct line_ref *x = a, *y = b;
    const char *sort_text = text;
    size_t n = x->fam_len < y->fam_len ? x->fam_len : y->fam_len;
    int c = memcmp(sort_text + x->fam_off, sort_text + y->fam_off, n);
    if (c)
        return c;
    if (x->fam_len != y->fam_len)
        return x->fam_len < y->fam_len ? -1 : 1;
    n = x->len < y->len ? x->len : y->len;
    c = memcmp(sort_text + x->off, sort_text + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Room for @more elements in the array *@p of *@cap (doubling). */
static int reserve(void **p, size_t *cap, size_t used, size_t more, size_t elem)
{
    if (used + more <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 1024;
    while (nc < used + more)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

static int add_line(struct page *pg, const char *name, size_t name_len, const char *suffix,
                    uint8_t type, const char *fam_suffix, const char *key, size_t key_len,
                    const struct sl_flush_point *pt)
{
    if (reserve((void **)&pg->lines, &pg->cap, pg->n, 1, sizeof *pg->lines))
        return -ENOMEM;
    struct sl_buf *b = &pg->text;
    struct line_ref *r = &pg->lines[pg->n];
    r->type = type;
    /* Family name first (not part of the line), then the line itself. */
    r->fam_off = (uint32_t)b->len;
    sl_buf_append(b, name, name_len);
    sl_buf_puts(b, fam_suffix);
    r->fam_len = (uint32_t)(b->len - r->fam_off);
    r->off = (uint32_t)b->len;
    sl_buf_append(b, name, name_len);
    sl_buf_puts(b, suffix);
    const char *n0;
    size_t nl0;
    struct sl_key_iter it;
    sl_key_name(key, key_len, &n0, &nl0, &it);
    struct sl_label l;
    int first = 1;
    while (sl_key_next_label(&it, &l)) {
        sl_buf_putc(b, first ? '{' : ',');
        first = 0;
        sl_buf_append(b, l.name, l.name_len);
        sl_buf_append(b, "=\"", 2);
        sl_expo_escape(b, l.value, l.value_len);
        sl_buf_putc(b, '"');
    }
    if (pt->extra_label) {
        sl_buf_putc(b, first ? '{' : ',');
        first = 0;
        sl_buf_puts(b, pt->extra_label);
        sl_buf_append(b, "=\"", 2);
        sl_buf_put_double(b, pt->extra_value);
        sl_buf_putc(b, '"');
    }
    if (!first)
        sl_buf_putc(b, '}');
    sl_buf_putc(b, ' ');
    sl_buf_put_double(b, pt->value);
    sl_buf_putc(b, '\n');
    r->len = (uint32_t)(b->len - r->off);
    if (sl_buf_failed(b))
        return -ENOMEM;
    pg->n++;
    return 0;
}

int sl_expo_sink_flush(void *ctx, const struct sl_flush_batch *batch)
{
    struct sl_expo *x = ctx;
    struct page pg = {0};
    if (reserve((void **)&pg.ents, &pg.ents_cap, 0, batch->n, sizeof *pg.ents))
        return -ENOMEM;
    for (size_t i = 0; i < batch->n; i++) {
        const struct sl_flush_entry *e = &batch->entries[i];
        if (reserve((void **)&pg.pts, &pg.pts_cap, pg.npts, SL_FLUSH_MAX_POINTS,
                    sizeof *pg.pts)) {
            page_fini(&pg);
            return -ENOMEM;
        }
        int np = sl_flush_expand(&x->flush, e, pg.pts + pg.npts);
        pg.ents[pg.nents++] = (struct snap_entry){.key_off = (uint32_t)pg.keys.len,
                                                  .key_len = e->key_len,
                                                  .pt_off = (uint32_t)pg.npts,
                                                  .npts = (uint8_t)np,
                                                  .mtype = e->mtype};
        pg.npts += (size_t)np;
        sl_buf_append(&pg.keys, e->key, e->key_len);
    }
    if (sl_buf_failed(&pg.keys)) {
        page_fini(&pg);
        return -ENOMEM;
    }
    pthread_mutex_lock(&x->mu);
    struct page old = x->pages[batch->shard];
    x->pages[batch->shard] = pg;
    pthread_mutex_unlock(&x->mu);
    page_fini(&old);
    return 0;
}

/* Format @pg's snapshot into sorted text lines. Scrape thread, under mu. On -ENOMEM the
 * page stays unrendered (and the next scrape tries again). */
static int render(struct page *pg)
{
    for (size_t i = 0; i < pg->nents; i++) {
        const struct snap_entry *e = &pg->ents[i];
        const char *key = pg->keys.data + e->key_off;
        const char *name;
        size_t name_len;
        sl_key_name(key, e->key_len, &name, &name_len, NULL);
        for (int k = 0; k < e->npts; k++) {
            const struct sl_flush_point *pt = &pg->pts[e->pt_off + (size_t)k];
            uint8_t type = T_GAUGE;
            const char *fam_suffix = pt->suffix;
            if (e->mtype == SL_METRIC_COUNTER || e->mtype == SL_METRIC_EVENT)
                type = T_COUNTER;
            else if (e->mtype == SL_METRIC_TIMER &&
                     (pt->extra_label || !strcmp(pt->suffix, "_sum") ||
                      !strcmp(pt->suffix, "_count"))) {
                type = T_SUMMARY;
                fam_suffix = "";
            }
            if (add_line(pg, name, name_len, pt->suffix, type, fam_suffix, key, e->key_len,
                         pt)) {
                sl_buf_fini(&pg->text);
                free(pg->lines);
                pg->lines = NULL;
                pg->n = pg->cap = 0;
                return -ENOMEM;
            }
        }
    }
    if (pg->n)
        qsort_r(pg->lines, pg->n, sizeof *pg->lines, line_cmp, pg->text.data);
    pg->rendered = 1;
    return 0;
}

static int fam_cmp(const struct page *a, const struct line_ref *x, const struct page *b,
                   const struct line_ref *y)
{
    size_t n = x->fam_len < y->fam_len ? x->fam_len : y->fam_len;
    int c = memcmp(a->text.data + x->fam_off, b->text.data + y->fam_off, n);
    if (c)
        return c;
    return (x->fam_len > y->fam_len) - (x->fam_len < y->fam_len);
}

int sl_expo_handle_metrics(void *ctx, const struct sl_http_request *req,
                           struct sl_http_response *resp)
{
    (void)req;
    struct sl_expo *x = ctx;
    struct sl_buf out = SL_BUF_INIT;
    size_t *pos = calloc(x->nshards, sizeof *pos);
    if (!pos)
        return -ENOMEM;
    pthread_mutex_lock(&x->mu);
    for (uint32_t s = 0; s < x->nshards; s++) {
        if (!x->pages[s].rendered && render(&x->pages[s])) {
            pthread_mutex_unlock(&x->mu);
            free(pos);
            return -ENOMEM;
        }
    }
    const struct page *prev_pg = NULL;
    const struct line_ref *prev = NULL;
    for (;;) {
        int best = -1;
        for (uint32_t s = 0; s < x->nshards; s++) {
            const struct page *pg = &x->pages[s];
            if (pos[s] >= pg->n)
                continue;
            if (best < 0 || fam_cmp(pg, &pg->lines[pos[s]], &x->pages[best],
                                    &x->pages[best].lines[pos[best]]) < 0)
                best = (int)s;
        }
        if (best < 0)
            break;
        const struct page *pg = &x->pages[best];
        const struct line_ref *r = &pg->lines[pos[best]++];
        if (!prev || fam_cmp(prev_pg, prev, pg, r) != 0) {
            sl_buf_puts(&out, "# TYPE ");
            sl_buf_append(&out, pg->text.data + r->fam_off, r->fam_len);
            sl_buf_putc(&out, ' ');
            sl_buf_puts(&out, type_names[r->type]);
            sl_buf_putc(&out, '\n');
        }
        sl_buf_append(&out, pg->text.data + r->off, r->len);
        prev_pg = pg;
        prev = r;
    }
    pthread_mutex_unlock(&x->mu);
    free(pos);
    if (x->self_fn)
        x->self_fn(x->self_ctx, &out);
    if (sl_buf_failed(&out)) {
        sl_buf_fini(&out);
        return -ENOMEM;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = sl_buf_steal(&out, &resp->body_len);
    return 0;
}
