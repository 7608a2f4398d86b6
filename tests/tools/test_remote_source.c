/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/remote_source: the sample merge, URL parsing, the raw-read route's parameters, and a
 * round trip through two loopback "storage nodes" (a thread that answers one connection
 * with what sl_raw_read_handle produced over a memsource), which checks bit-exact values,
 * cross-node merging of one label set and the error naming a dead node.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/http_client.h"
#include "tools/remote_source.h"

TestSuite(remote_source, .timeout = 20);

/* ---- merge ---------------------------------------------------------------------------- */

Test(remote_source, merge_interleaved_runs_orders_by_time)
{
    int64_t at[] = {1, 3, 5}, bt[] = {2, 4, 6}, ot[6];
    double av[] = {10, 30, 50}, bv[] = {20, 40, 60}, ov[6];
    size_t n = sl_remote_merge_samples(at, av, 3, bt, bv, 3, ot, ov);
    cr_assert(eq(sz, n, 6));
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(i64, ot[i], (int64_t)i + 1));
        cr_assert(eq(dbl, ov[i], 10.0 * (double)(i + 1)));
    }
}

Test(remote_source, merge_overlap_keeps_one_sample_per_timestamp_from_first)
{
    int64_t at[] = {1, 2, 3, 4}, bt[] = {3, 4, 5}, ot[7];
    double av[] = {1, 2, 3, 4}, bv[] = {-3, -4, 5}, ov[7];
    size_t n = sl_remote_merge_samples(at, av, 4, bt, bv, 3, ot, ov);
    cr_assert(eq(sz, n, 5));
    int64_t wt[] = {1, 2, 3, 4, 5};
    double wv[] = {1, 2, 3, 4, 5};
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(i64, ot[i], wt[i]));
        cr_assert(eq(dbl, ov[i], wv[i]));
    }
}

Test(remote_source, merge_with_empty_side_copies_the_other)
{
    int64_t bt[] = {7, 8}, ot[2];
    double bv[] = {0.5, 0.25}, ov[2];
    cr_assert(eq(sz, sl_remote_merge_samples(NULL, NULL, 0, bt, bv, 2, ot, ov), 2));
    cr_assert(eq(i64, ot[1], 8));
    cr_assert(eq(sz, sl_remote_merge_samples(bt, bv, 2, NULL, NULL, 0, ot, ov), 2));
    cr_assert(eq(dbl, ov[0], 0.5));
    cr_assert(eq(sz, sl_remote_merge_samples(NULL, NULL, 0, NULL, NULL, 0, ot, ov), 0));
}

/* ---- URL parsing ---------------------------------------------------------------------- */

/* Inline arrays, not pointers: the table is copied into each test's process. */
struct url_case {
    char in[40];
    int rc;
    char host[16], port[8], prefix[16];
};

ParameterizedTestParameters(remote_source, url_parse_table_matches)
{
    static struct url_case cases[] = {
        {"http://127.0.0.1:8481", 0, "127.0.0.1", "8481", ""},
        {"http://node-a", 0, "node-a", "80", ""},
        {"http://h:9/prom/", 0, "h", "9", "/prom"},
        {"http://h/x/y", 0, "h", "80", "/x/y"},
        {"https://h:1", -EINVAL, "", "", ""},
        {"http://:80", -EINVAL, "", "", ""},
        {"http://h:/x", -EINVAL, "", "", ""},
        {"http://h:8a", -EINVAL, "", "", ""},
        {"127.0.0.1:8481", -EINVAL, "", "", ""},
    };
    return cr_make_param_array(struct url_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct url_case *c, remote_source, url_parse_table_matches)
{
    struct sl_http_url u;
    char err[256];
    int rc = sl_http_url_parse(c->in, &u, err, sizeof err);
    cr_assert(eq(int, rc, c->rc), "%s", c->in);
    if (rc == 0) {
        cr_assert(eq(str, u.host, c->host));
        cr_assert(eq(str, u.port, c->port));
        cr_assert(eq(str, u.prefix, c->prefix));
    } else {
        cr_assert(ne(sz, strlen(err), 0));
    }
}

/* ---- the raw-read route ----------------------------------------------------------------- */

static int raw(struct sl_source *src, const struct sl_http_param *p, size_t np,
               struct sl_http_response *resp)
{
    struct sl_http_request req = {.method = "GET", .path = "/api/v1/read_raw", .params = p,
                                  .nparams = np};
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    return sl_raw_read_handle(src, &req, resp);
}

Test(remote_source, raw_read_bad_parameters_answer_400)
{
    struct sl_memsource *ms;
    cr_assert(eq(int, sl_memsource_create(&ms), 0));
    struct sl_source src = sl_memsource_source(ms);
    struct sl_http_response r;
    struct sl_http_param no_end[] = {{"start", "0"}, {"m", "eq:__name__:x"}};
    struct sl_http_param bad_op[] = {{"start", "0"}, {"end", "9"}, {"m", "like:a:b"}};
    struct sl_http_param bad_re[] = {{"start", "0"}, {"end", "9"}, {"m", "re:a:(x"}};
    struct sl_http_param none[] = {{"start", "0"}, {"end", "9"}};
    struct sl_http_param keys[] = {{"start", "0"}, {"end", "9"}, {"keys", "1"}};
    cr_assert(eq(int, raw(&src, no_end, 2, &r), 0));
    cr_assert(eq(int, r.status, 400));
    free(r.body);
    cr_assert(eq(int, raw(&src, bad_op, 3, &r), 0));
    cr_assert(eq(int, r.status, 400));
    free(r.body);
    cr_assert(eq(int, raw(&src, bad_re, 3, &r), 0));
    cr_assert(eq(int, r.status, 400));
    free(r.body);
    cr_assert(eq(int, raw(&src, none, 2, &r), 0)); /* select needs a matcher */
    cr_assert(eq(int, r.status, 400));
    free(r.body);
    cr_assert(eq(int, raw(&src, keys, 3, &r), 0)); /* series does not */
    cr_assert(eq(int, r.status, 200));
    free(r.body);
    sl_memsource_destroy(ms);
}

/* ---- round trip through loopback nodes --------------------------------------------------- */

struct fake_node {
    int lfd, port;
    char *body;
    size_t len;
    pthread_t th;
};

/* Answer one connection with the canned raw body (the request itself is not parsed: the
 * body was produced for the same window the test then asks for). */
static void *fake_main(void *arg)
{
    struct fake_node *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[8192];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", f->len);
    (void)!write(fd, hdr, (size_t)hl);
    (void)!write(fd, f->body, f->len);
    close(fd);
    return NULL;
}

static void fake_start(struct fake_node *f, struct sl_memsource *ms, int64_t mint, int64_t maxt)
{
    struct sl_source src = sl_memsource_source(ms);
    char s[32], e[32];
    snprintf(s, sizeof s, "%lld", (long long)mint);
    snprintf(e, sizeof e, "%lld", (long long)maxt);
    struct sl_http_param p[] = {{"start", s}, {"end", e}, {"m", "eq:__name__:m"}};
    struct sl_http_response r;
    cr_assert(eq(int, raw(&src, p, 3, &r), 0));
    cr_assert(eq(int, r.status, 200));
    f->body = r.body;
    f->len = r.body_len;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert(eq(int, bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0));
    cr_assert(eq(int, listen(f->lfd, 4), 0));
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->th, NULL, fake_main, f);
}

static void fake_stop(struct fake_node *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
    free(f->body);
}

struct got {
    size_t nseries;
    char labels[4][128];
    int64_t t[4][16];
    uint64_t bits[4][16];
    size_t n[4];
};

static int collect(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                   const double *vs, size_t n)
{
    struct got *g = arg;
    if (g->nseries == 4 || n > 16)
        return -E2BIG;
    size_t i = g->nseries++;
    char *p = g->labels[i];
    for (size_t k = 0; k < nls; k++)
        p += sprintf(p, "%s=%s;", ls[k].name, ls[k].value);
    for (size_t k = 0; k < n; k++) {
        g->t[i][k] = ts[k];
        memcpy(&g->bits[i][k], &vs[k], 8);
    }
    g->n[i] = n;
    return 0;
}

static void add(struct sl_memsource *ms, const char *inst, int64_t t, double v)
{
    struct sl_qlabel ls[] = {{"__name__", "m"}, {"instance", inst}};
    cr_assert(eq(int, sl_memsource_add(ms, ls, 2, t, v), 0));
}

Test(remote_source, select_over_two_nodes_merges_and_keeps_bits)
{
    struct sl_memsource *a, *b;
    cr_assert(eq(int, sl_memsource_create(&a), 0));
    cr_assert(eq(int, sl_memsource_create(&b), 0));
    double stale;
    uint64_t sb = 0x7ff0000000000002ULL;
    memcpy(&stale, &sb, 8);
    add(a, "x", 1000, 0.1);      /* node a only */
    add(a, "x", 2000, stale);    /* a staleness marker must survive bit for bit */
    add(a, "moved", 1000, 1);    /* split across the nodes with an overlap at 2000 */
    add(a, "moved", 2000, 2);
    add(b, "moved", 2000, 2);
    add(b, "moved", 3000, 3);
    add(b, "y", 500, -0.0);      /* before the window: trimmed, so the series is absent */
    add(b, "z", 3000, 1e-300);
    struct fake_node fa, fb;
    fake_start(&fa, a, 1000, 3000);
    fake_start(&fb, b, 1000, 3000);
    char nodes[128], err[256];
    snprintf(nodes, sizeof nodes, "http://127.0.0.1:%d, http://127.0.0.1:%d", fa.port, fb.port);
    struct sl_remote_source *rs;
    cr_assert(eq(int, sl_remote_source_create(nodes, 5000, &rs, err, sizeof err), 0), "%s", err);
    cr_assert(eq(sz, sl_remote_source_nodes(rs), 2));
    struct sl_source src = sl_remote_source(rs);
    struct sl_matcher m;
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_EQ, "__name__", "m", NULL, 0), 0));
    struct got g = {0};
    int rc = src.ops->select(src.ctx, &m, 1, 1000, 3000, collect, &g);
    fake_stop(&fa);
    fake_stop(&fb);
    cr_assert(eq(int, rc, 0), "%s", src.ops->error(src.ctx));
    cr_assert(eq(sz, g.nseries, 3));
    /* The order of series is unspecified: look each one up. */
    size_t im = 9, ix = 9, iz = 9;
    for (size_t i = 0; i < g.nseries; i++) {
        if (!strcmp(g.labels[i], "__name__=m;instance=moved;"))
            im = i;
        else if (!strcmp(g.labels[i], "__name__=m;instance=x;"))
            ix = i;
        else if (!strcmp(g.labels[i], "__name__=m;instance=z;"))
            iz = i;
    }
    cr_assert(ne(sz, im, 9));
    cr_assert(ne(sz, ix, 9));
    cr_assert(ne(sz, iz, 9));
    cr_assert(eq(sz, g.n[im], 3));
    cr_assert(eq(i64, g.t[im][0], 1000));
    cr_assert(eq(i64, g.t[im][1], 2000));
    cr_assert(eq(i64, g.t[im][2], 3000));
    cr_assert(eq(sz, g.n[ix], 2));
    cr_assert(eq(u64, g.bits[ix][1], sb));
    double v;
    memcpy(&v, &g.bits[ix][0], 8);
    cr_assert(eq(dbl, v, 0.1));
    memcpy(&v, &g.bits[iz][0], 8);
    cr_assert(eq(dbl, v, 1e-300));
    sl_matcher_fini(&m);
    sl_remote_source_destroy(rs);
    sl_memsource_destroy(a);
    sl_memsource_destroy(b);
}

Test(remote_source, select_with_dead_node_fails_naming_it)
{
    /* Bind and close to get a port nothing listens on. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof a), 0));
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char nodes[64], err[256], want[64];
    snprintf(nodes, sizeof nodes, "http://127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(want, sizeof want, "storage node http://127.0.0.1:%d failed", ntohs(a.sin_port));
    struct sl_remote_source *rs;
    cr_assert(eq(int, sl_remote_source_create(nodes, 2000, &rs, err, sizeof err), 0));
    struct sl_source src = sl_remote_source(rs);
    struct got g = {0};
    int rc = src.ops->series(src.ctx, NULL, 0, 0, 1, collect, &g);
    cr_assert(lt(int, rc, 0));
    cr_assert(not(eq(ptr, (void *)strstr(src.ops->error(src.ctx), want), NULL)), "%s",
              src.ops->error(src.ctx));
    sl_remote_source_destroy(rs);
}

Test(remote_source, create_with_no_or_bad_nodes_is_einval)
{
    struct sl_remote_source *rs = NULL;
    char err[256];
    cr_assert(eq(int, sl_remote_source_create("", 1000, &rs, err, sizeof err), -EINVAL));
    cr_assert(eq(int, sl_remote_source_create(" , ", 1000, &rs, err, sizeof err), -EINVAL));
    cr_assert(eq(int, sl_remote_source_create("ftp://x", 1000, &rs, err, sizeof err), -EINVAL));
    cr_assert(eq(int, sl_remote_source_create("http://x:1", 0, &rs, err, sizeof err), -EINVAL));
}

Test(remote_source, select_with_silent_node_times_out_naming_it)
{
    /* A listener that never accepts: the kernel completes the handshake, nobody answers. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert(eq(int, bind(lfd, (struct sockaddr *)&a, sizeof a), 0));
    cr_assert(eq(int, listen(lfd, 4), 0));
    getsockname(lfd, (struct sockaddr *)&a, &al);
    char nodes[64], err[256], want[64];
    snprintf(nodes, sizeof nodes, "http://127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(want, sizeof want, "127.0.0.1:%d", ntohs(a.sin_port));
    struct sl_remote_source *rs;
    cr_assert(eq(int, sl_remote_source_create(nodes, 300, &rs, err, sizeof err), 0));
    struct sl_source src = sl_remote_source(rs);
    struct sl_matcher m;
    cr_assert(eq(int, sl_matcher_init(&m, SL_MATCH_EQ, "__name__", "m", NULL, 0), 0));
    struct got g = {0};
    int rc = src.ops->select(src.ctx, &m, 1, 0, 1, collect, &g);
    cr_assert(eq(int, rc, -ETIMEDOUT));
    const char *why = src.ops->error(src.ctx);
    cr_assert(not(eq(ptr, (void *)strstr(why, want), NULL)), "%s", why);
    cr_assert(not(eq(ptr, (void *)strstr(why, "timed out"), NULL)), "%s", why);
    sl_matcher_fini(&m);
    sl_remote_source_destroy(rs);
    close(lfd);
}
