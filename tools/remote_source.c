/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query fan-out: the raw-read route storage nodes serve and the query source that calls it
 * on every node and merges (see remote_source.h for the format and the failure policy).
 *
 * Why a dedicated route rather than /api/v1/query?query=sel[range]: a range selector
 * leaves the left edge open and drops staleness markers, and its JSON values are decimal
 * text; the raw route hands over exactly what the local source returns, bit for bit, so
 * the query node's engine sees what a single node's engine would.
 */
#include "tools/remote_source.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "tools/http_client.h"

#define RAW_MAGIC "SLRAW1\n"
#define RAW_MAGIC_LEN 7
#define RAW_END 0xffffffffu
#define MAX_NODES 64
#define MAX_MATCHERS 64
#define MAX_LABELS 256

/* ---- wire helpers ------------------------------------------------------------------------ */

static void put_u32(struct sl_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    sl_buf_append(b, x, 4);
}

static void put_u64(struct sl_buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct sl_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    sl_buf_append(b, s, n + 1); /* with the NUL: the reader points into the body */
}

struct rd {
    const unsigned char *p, *end;
};

static int get_u32(struct rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

static uint64_t ld_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int get_str(struct rd *r, const char **s)
{
    uint32_t n;
    if (get_u32(r, &n) || (size_t)(r->end - r->p) < (size_t)n + 1 || r->p[n] != 0 ||
        memchr(r->p, 0, n))
        return -1;
    *s = (const char *)r->p;
    r->p += n + 1;
    return 0;
}

static const char *op_names[] = {[SL_MATCH_EQ] = "eq", [SL_MATCH_NEQ] = "ne",
                                 [SL_MATCH_RE] = "re", [SL_MATCH_NRE] = "nre"};

/* ---- storage side: GET /api/v1/read_raw --------------------------------------------------- */

struct raw_out {
    struct sl_buf b;
    int64_t mint, maxt;
    int keys;
};

static int raw_series_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                         const double *vs, size_t n)
{
    struct raw_out *o = arg;
    size_t lo = 0, hi = n;
    if (!o->keys) {
        /* The source may pass more than asked: send only [mint, maxt]. */
        while (lo < n && ts[lo] < o->mint)
            lo++;
        while (hi > lo && ts[hi - 1] > o->maxt)
            hi--;
        if (lo == hi)
            return 0;
    } else {
        lo = hi = 0;
    }
    put_u32(&o->b, (uint32_t)nls);
    for (size_t i = 0; i < nls; i++) {
        put_str(&o->b, ls[i].name);
        put_str(&o->b, ls[i].value);
    }
    put_u32(&o->b, (uint32_t)(hi - lo));
    for (size_t i = lo; i < hi; i++) {
        uint64_t bits;
        memcpy(&bits, &vs[i], sizeof bits);
        put_u64(&o->b, (uint64_t)ts[i]);
        put_u64(&o->b, bits);
    }
    return sl_buf_failed(&o->b) ? -ENOMEM : 0;
}

static int raw_error(struct sl_http_response *resp, int status, const char *msg)
{
    resp->status = status;
    resp->body = strdup(msg);
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    return resp->body ? 0 : -ENOMEM;
}

static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

int sl_raw_read_handle(void *ctx, const struct sl_http_request *req,
                       struct sl_http_response *resp)
{
    const struct sl_source *src = ctx;
    struct raw_out o = {.b = SL_BUF_INIT};
    if (strcmp(req->method, "GET") && strcmp(req->method, "POST"))
        return raw_error(resp, 405, "method not allowed\n");
    if (parse_ms(sl_http_param(req, "start"), &o.mint) ||
        parse_ms(sl_http_param(req, "end"), &o.maxt) || o.mint > o.maxt)
        return raw_error(resp, 400, "start and end must be integer milliseconds, start <= end\n");
    const char *k = sl_http_param(req, "keys");
    o.keys = k && !strcmp(k, "1");
    struct sl_matcher m[MAX_MATCHERS];
    size_t nm = 0;
    int rc = 0, status = 400;
    char msg[512] = "";
    for (size_t i = 0; i < req->nparams && !rc; i++) {
        if (strcmp(req->params[i].name, "m"))
            continue;
        const char *v = req->params[i].value, *c1 = strchr(v, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        int op = -1;
        for (int j = 0; c1 && j < 4; j++)
            if ((size_t)(c1 - v) == strlen(op_names[j]) &&
                !strncmp(v, op_names[j], (size_t)(c1 - v)))
                op = j;
        if (op < 0 || !c2 || c2 == c1 + 1 || nm == MAX_MATCHERS) {
            snprintf(msg, sizeof msg, "bad matcher \"%.200s\" (want op:name:value, at most %d)\n",
                     v, MAX_MATCHERS);
            rc = -EINVAL;
            break;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        char why[256] = "";
        if ((rc = sl_matcher_init(&m[nm], op, name, c2 + 1, why, sizeof why)) == 0)
            nm++;
        else
            snprintf(msg, sizeof msg, "bad matcher \"%.200s\": %.200s\n", v, why);
    }
    if (!rc && !nm && !o.keys) {
        snprintf(msg, sizeof msg, "at least one matcher (m=op:name:value) is required\n");
        rc = -EINVAL;
    }
    if (!rc) {
        sl_buf_append(&o.b, RAW_MAGIC, RAW_MAGIC_LEN);
        rc = o.keys ? src->ops->series(src->ctx, m, nm, o.mint, o.maxt, raw_series_cb, &o)
                    : src->ops->select(src->ctx, m, nm, o.mint, o.maxt, raw_series_cb, &o);
        put_u32(&o.b, RAW_END);
        if (!rc && sl_buf_failed(&o.b))
            rc = -ENOMEM;
        if (rc && rc != -ENOMEM) {
            status = 500;
            const char *why = src->ops->error ? src->ops->error(src->ctx) : NULL;
            snprintf(msg, sizeof msg, "reading series failed: %.400s\n",
                     why ? why : sl_strerror(rc));
        }
    }
    for (size_t i = 0; i < nm; i++)
        sl_matcher_fini(&m[i]);
    if (rc == -ENOMEM) {
        sl_buf_fini(&o.b);
        return rc;
    }
    if (rc) {
        sl_buf_fini(&o.b);
        return raw_error(resp, status, msg);
    }
    resp->status = 200;
    resp->content_type = "application/x-sluice-raw";
    resp->body = sl_buf_steal(&o.b, &resp->body_len);
    return 0;
}

/* ---- merging ------------------------------------------------------------------------------ */

size_t sl_remote_merge_samples(const int64_t *at, const double *av, size_t an,
                               const int64_t *bt, const double *bv, size_t bn, int64_t *ot,
                               double *ov)
{
    size_t i = 0, j = 0, k = 0;
    while (i < an || j < bn) {
        if (j == bn || (i < an && at[i] <= bt[j])) {
            if (j < bn && at[i] == bt[j])
                j++; /* same timestamp on both: keep a's */
            ot[k] = at[i];
            ov[k++] = av[i++];
        } else {
            ot[k] = bt[j];
            ov[k++] = bv[j++];
        }
    }
    return k;
}

/* ---- query side ---------------------------------------------------------------------------- */

struct node {
    char url[600];
    struct sl_http_url u;
};

struct sl_remote_source {
    struct node *nodes;
    size_t n;
    int timeout_ms;
};

static _Thread_local char tl_err[768];

/* One node's share of a call: the request path in, the raw body (or an error) out. */
struct fetch {
    const struct node *node;
    const char *path;
    int timeout_ms;
    char *body;
    size_t len;
    int rc;
    char err[512];
};

static void *fetch_main(void *arg)
{
    struct fetch *f = arg;
    int status = 0;
    struct sl_buf full = SL_BUF_INIT;
    sl_buf_printf(&full, "%s%s", f->node->u.prefix, f->path);
    if (sl_buf_failed(&full)) {
        f->rc = -ENOMEM;
        snprintf(f->err, sizeof f->err, "out of memory");
        return NULL;
    }
    f->rc = sl_http_get(f->node->u.host, f->node->u.port, full.data, f->timeout_ms, &f->body,
                        &f->len, &status, f->err, sizeof f->err);
    sl_buf_fini(&full);
    if (f->rc == 0 && status != 200) {
        snprintf(f->err, sizeof f->err, "HTTP %d: %.300s", status, f->body ? f->body : "");
        for (char *p = f->err; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        f->rc = -EPROTO;
    } else if (f->rc == 0 &&
               (f->len < RAW_MAGIC_LEN || memcmp(f->body, RAW_MAGIC, RAW_MAGIC_LEN))) {
        snprintf(f->err, sizeof f->err, "answer is not a sluice raw read (an older sluiced?)");
        f->rc = -EPROTO;
    }
    return NULL;
}

/* One series of one node's answer, pointing into that node's body. */
struct rseries {
    const unsigned char *lab; /* the encoded label section */
    size_t lab_len;
    uint32_t nl;
    const unsigned char *smp; /* n x 16 bytes */
    uint32_t n;
    size_t node;
};

static int cmp_rseries(const void *a, const void *b)
{
    const struct rseries *x = a, *y = b;
    size_t n = x->lab_len < y->lab_len ? x->lab_len : y->lab_len;
    int c = memcmp(x->lab, y->lab, n);
    if (c)
        return c;
    if (x->lab_len != y->lab_len)
        return x->lab_len < y->lab_len ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node; /* first-listed node first */
}

/* Split one body into series; @return 0 or -EPROTO (malformed or truncated). */
static int split_body(const char *body, size_t len, size_t node, struct rseries **v,
                      size_t *n, size_t *cap)
{
    struct rd r = {(const unsigned char *)body + RAW_MAGIC_LEN,
                   (const unsigned char *)body + len};
    for (;;) {
        uint32_t nl, ns;
        if (get_u32(&r, &nl))
            return -EPROTO;
        if (nl == RAW_END)
            return r.p == r.end ? 0 : -EPROTO;
        if (nl > MAX_LABELS)
            return -EPROTO;
        struct rseries s = {.lab = r.p, .nl = nl, .node = node};
        for (uint32_t i = 0; i < 2 * nl; i++) {
            const char *str;
            if (get_str(&r, &str))
                return -EPROTO;
        }
        s.lab_len = (size_t)(r.p - s.lab);
        if (get_u32(&r, &ns) || (size_t)(r.end - r.p) / 16 < ns)
            return -EPROTO;
        s.smp = r.p;
        s.n = ns;
        r.p += (size_t)ns * 16;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            struct rseries *nv = realloc(*v, nc * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = s;
    }
}

static void decode_samples(const struct rseries *s, int64_t *t, double *v)
{
    for (uint32_t i = 0; i < s->n; i++) {
        t[i] = (int64_t)ld_u64(s->smp + 16 * (size_t)i);
        uint64_t bits = ld_u64(s->smp + 16 * (size_t)i + 8);
        memcpy(&v[i], &bits, sizeof bits);
    }
}

static int remote_call(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt, int keys, sl_series_fn *fn, void *arg)
{
    struct sl_remote_source *rs = ctx;
    tl_err[0] = 0;
    struct sl_buf path = SL_BUF_INIT, mv = SL_BUF_INIT;
    sl_buf_printf(&path, "/api/v1/read_raw?start=%" PRId64 "&end=%" PRId64 "%s", mint, maxt,
                  keys ? "&keys=1" : "");
    for (size_t i = 0; i < nm; i++) {
        sl_buf_reset(&mv);
        sl_buf_printf(&mv, "%s:%s:%s", op_names[m[i].op], m[i].name, m[i].value);
        sl_buf_putc(&mv, 0);
        if (sl_buf_failed(&mv))
            break;
        sl_buf_puts(&path, "&m=");
        sl_http_urlenc(&path, mv.data);
    }
    sl_buf_putc(&path, 0);
    int rc = 0;
    struct fetch *f = calloc(rs->n, sizeof *f);
    pthread_t *th = calloc(rs->n, sizeof *th);
    char *started = calloc(rs->n, 1);
    struct rseries *all = NULL;
    size_t nall = 0, cap = 0;
    int64_t *t = NULL, *t2 = NULL, *tm = NULL;
    double *v = NULL, *v2 = NULL, *vm = NULL;
    if (sl_buf_failed(&path) || sl_buf_failed(&mv) || !f || !th || !started) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < rs->n; i++) {
        f[i] = (struct fetch){.node = &rs->nodes[i], .path = path.data,
                              .timeout_ms = rs->timeout_ms};
        /* The first node is fetched on this thread; the others each on their own. */
        if (i > 0 && pthread_create(&th[i], NULL, fetch_main, &f[i]) == 0)
            started[i] = 1;
    }
    fetch_main(&f[0]);
    for (size_t i = 1; i < rs->n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fetch_main(&f[i]);
    }
    for (size_t i = 0; i < rs->n && !rc; i++) {
        if (!f[i].rc && (f[i].rc = split_body(f[i].body, f[i].len, i, &all, &nall, &cap)) ==
                            -EPROTO)
            snprintf(f[i].err, sizeof f[i].err, "malformed or truncated raw-read answer");
        if (f[i].rc) {
            rc = f[i].rc;
            snprintf(tl_err, sizeof tl_err, "storage node %.300s failed: %.400s", rs->nodes[i].url,
                     f[i].err);
        }
    }
    if (rc)
        goto out;
    if (nall > 1)
        qsort(all, nall, sizeof *all, cmp_rseries);
    size_t tcap = 0;
    struct sl_qlabel ls[MAX_LABELS];
    for (size_t i = 0; i < nall && !rc;) {
        size_t j = i + 1;
        while (j < nall && all[j].lab_len == all[i].lab_len &&
               !memcmp(all[j].lab, all[i].lab, all[i].lab_len))
            j++;
        size_t need = 0;
        for (size_t k = i; k < j; k++)
            need += all[k].n;
        if (need > tcap) {
            tcap = need * 2;
            free(t), free(t2), free(tm), free(v), free(v2), free(vm);
            t = malloc(tcap * sizeof *t), t2 = malloc(tcap * sizeof *t2);
            tm = malloc(tcap * sizeof *tm), v = malloc(tcap * sizeof *v);
            v2 = malloc(tcap * sizeof *v2), vm = malloc(tcap * sizeof *vm);
            if (!t || !t2 || !tm || !v || !v2 || !vm) {
                rc = -ENOMEM;
                break;
            }
        }
        /* Merge the copies from each node, first-listed node first (it wins ties). */
        size_t n = all[i].n;
        if (n)
            decode_samples(&all[i], t, v);
        for (size_t k = i + 1; k < j && !keys; k++) {
            decode_samples(&all[k], t2, v2);
            n = sl_remote_merge_samples(t, v, n, t2, v2, all[k].n, tm, vm);
            memcpy(t, tm, n * sizeof *t);
            memcpy(v, vm, n * sizeof *v);
        }
        struct rd r = {all[i].lab, all[i].lab + all[i].lab_len};
        for (uint32_t k = 0; k < all[i].nl; k++) {
            get_str(&r, &ls[k].name);
            get_str(&r, &ls[k].value);
        }
        rc = fn(arg, ls, all[i].nl, t, v, keys ? 0 : n);
        i = j;
    }
out:
    if (rc == -ENOMEM && !tl_err[0])
        snprintf(tl_err, sizeof tl_err, "out of memory merging storage node answers");
    for (size_t i = 0; f && i < rs->n; i++)
        free(f[i].body);
    free(f), free(th), free(started), free(all);
    free(t), free(t2), free(tm), free(v), free(v2), free(vm);
    sl_buf_fini(&path);
    sl_buf_fini(&mv);
    return rc;
}

static int remote_select(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                         int64_t maxt, sl_series_fn *fn, void *arg)
{
    return remote_call(ctx, m, nm, mint, maxt, 0, fn, arg);
}

static int remote_series(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                         int64_t maxt, sl_series_fn *fn, void *arg)
{
    return remote_call(ctx, m, nm, mint, maxt, 1, fn, arg);
}

static const char *remote_error(void *ctx)
{
    (void)ctx;
    return tl_err[0] ? tl_err : NULL;
}

static const struct sl_source_ops remote_ops = {
    .select = remote_select, .series = remote_series, .error = remote_error};

int sl_remote_source_create(const char *nodes, int timeout_ms, struct sl_remote_source **out,
                            char *err, size_t errlen)
{
    if (timeout_ms <= 0) {
        snprintf(err, errlen, "query node timeout must be positive");
        return -EINVAL;
    }
    struct sl_remote_source *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->nodes = calloc(MAX_NODES, sizeof *rs->nodes))) {
        free(rs);
        return -ENOMEM;
    }
    rs->timeout_ms = timeout_ms;
    const char *p = nodes ? nodes : "";
    while (*p) {
        size_t l = strcspn(p, ",");
        while (l && (*p == ' ' || *p == '\t'))
            p++, l--;
        size_t e = l;
        while (e && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        if (e) {
            if (rs->n == MAX_NODES || e >= sizeof rs->nodes[0].url) {
                snprintf(err, errlen, "too many query nodes (at most %d) or a URL too long",
                         MAX_NODES);
                goto bad;
            }
            struct node *nd = &rs->nodes[rs->n];
            memcpy(nd->url, p, e);
            nd->url[e] = 0;
            char why[700];
            if (sl_http_url_parse(nd->url, &nd->u, why, sizeof why)) {
                snprintf(err, errlen, "query node %s", why);
                goto bad;
            }
            rs->n++;
        }
        p += l;
        if (*p == ',')
            p++;
    }
    if (!rs->n) {
        snprintf(err, errlen, "role query needs at least one storage node (query.nodes)");
        goto bad;
    }
    *out = rs;
    return 0;
bad:
    sl_remote_source_destroy(rs);
    return -EINVAL;
}

void sl_remote_source_destroy(struct sl_remote_source *rs)
{
    if (!rs)
        return;
    free(rs->nodes);
    free(rs);
}

struct sl_source sl_remote_source(struct sl_remote_source *rs)
{
    return (struct sl_source){.ops = &remote_ops, .ctx = rs};
}

size_t sl_remote_source_nodes(const struct sl_remote_source *rs)
{
    return rs->n;
}
