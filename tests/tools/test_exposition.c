/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for tools/exposition.c, the sink behind GET /metrics: what a scrape returns after
 * flushes from several shards (families in order, each contiguous under one # TYPE line;
 * summaries with quantile labels; label values escaped), that a page shows the latest
 * flush of its shard even when flushes were not scraped in between, and that a scrape
 * may be repeated.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ddsketch.h"
#include "engine/key.h"
#include "engine/record.h"
#include "engine/sink.h"
#include "tools/exposition.h"

TestSuite(exposition, .timeout = 20);

/* A key for @name with one label @lname=@lvalue (or none when @lname is NULL). */
struct test_key {
    char b[SL_KEY_MAX];
    int len;
};

static struct test_key key_of(uint8_t kind, const char *name, const char *lname,
                              const char *lvalue)
{
    struct test_key k;
    struct sl_label l = {0};
    size_t n = 0;
    if (lname) {
        l = (struct sl_label){lname, lvalue, (uint32_t)strlen(lname), (uint32_t)strlen(lvalue)};
        n = 1;
    }
    k.len = sl_key_build(kind, name, strlen(name), &l, n, k.b, sizeof k.b);
    cr_assert(gt(int, k.len, 0));
    return k;
}

static char *scrape(struct sl_expo *x)
{
    struct sl_http_request req = {.method = "GET", .path = "/metrics"};
    struct sl_http_response resp = {0};
    cr_assert(eq(int, sl_expo_handle_metrics(x, &req, &resp), 0));
    cr_assert(eq(int, resp.status, 200));
    char *s = malloc(resp.body_len + 1);
    if (resp.body_len)
        memcpy(s, resp.body, resp.body_len);
    s[resp.body_len] = 0;
    free(resp.body);
    return s;
}

static struct sl_flush_entry counter(const struct test_key *k, double total)
{
    return (struct sl_flush_entry){.key = k->b, .key_len = (uint32_t)k->len,
                                   .mtype = SL_METRIC_COUNTER, .updated = 1,
                                   .counter = {.interval = 1, .total = total}};
}

static struct sl_flush_entry gauge(const struct test_key *k, double v)
{
    return (struct sl_flush_entry){.key = k->b, .key_len = (uint32_t)k->len,
                                   .mtype = SL_METRIC_GAUGE, .updated = 1, .gauge = {v}};
}

static void flush(struct sl_expo *x, uint32_t shard, const struct sl_flush_entry *e, size_t n)
{
    struct sl_flush_batch b = {.ts_ms = 1000, .interval_ms = 1000, .shard = shard, .n = n,
                               .entries = e};
    cr_assert(eq(int, sl_expo_sink_flush(x, &b), 0));
}

static struct sl_expo *make(uint32_t nshards)
{
    struct sl_flush_cfg cfg;
    sl_flush_cfg_defaults(&cfg);
    struct sl_expo *x;
    cr_assert(eq(int, sl_expo_create(nshards, &cfg, &x), 0));
    return x;
}

Test(exposition, families_from_several_shards_are_merged_under_one_type_line)
{
    struct sl_expo *x = make(2);
    struct test_key a1 = key_of(SL_METRIC_COUNTER, "req", "host", "b"),
                    a2 = key_of(SL_METRIC_COUNTER, "req", "host", "a"),
                    a3 = key_of(SL_METRIC_COUNTER, "req", "host", "c"),
                    g = key_of(SL_METRIC_GAUGE, "temp", NULL, NULL),
                    z = key_of(SL_METRIC_GAUGE, "aaa", NULL, NULL);
    struct sl_flush_entry s0[] = {gauge(&g, 21.5), counter(&a3, 4), counter(&a1, 5)};
    struct sl_flush_entry s1[] = {counter(&a2, 7), gauge(&z, -3)};
    flush(x, 0, s0, 3);
    flush(x, 1, s1, 2);
    char *out = scrape(x);
    /* Families in name order, one # TYPE line each; inside a family each shard's lines
     * are sorted and the shards' runs follow one another (the exposition format asks only
     * that a family's lines be contiguous). */
    const char *want = "# TYPE aaa gauge\n"
                       "aaa -3\n"
                       "# TYPE req_total counter\n"
                       "req_total{host=\"b\"} 5\n"
                       "req_total{host=\"c\"} 4\n"
                       "req_total{host=\"a\"} 7\n"
                       "# TYPE temp gauge\n"
                       "temp 21.5\n";
    cr_assert(eq(str, out, (char *)want));
    /* a second scrape of the same pages gives the same text */
    char *again = scrape(x);
    cr_assert(eq(str, again, out));
    free(out);
    free(again);
    sl_expo_destroy(x);
}

Test(exposition, a_page_shows_its_shards_latest_flush_scraped_or_not)
{
    struct sl_expo *x = make(1);
    struct test_key a = key_of(SL_METRIC_COUNTER, "req", NULL, NULL),
                    b = key_of(SL_METRIC_GAUGE, "gone", NULL, NULL);
    struct sl_flush_entry f1[] = {counter(&a, 1), gauge(&b, 9)};
    flush(x, 0, f1, 2);
    char *out = scrape(x);
    cr_assert(not(eq(ptr, strstr(out, "gone 9\n"), NULL)), "%s", out);
    free(out);
    /* two flushes with no scrape between: only the last one shows */
    struct sl_flush_entry f2[] = {counter(&a, 2)};
    struct sl_flush_entry f3[] = {counter(&a, 3)};
    flush(x, 0, f2, 1);
    flush(x, 0, f3, 1);
    out = scrape(x);
    cr_assert(eq(str, out, (char *)"# TYPE req_total counter\nreq_total 3\n"));
    free(out);
    /* an empty flush empties the page */
    flush(x, 0, NULL, 0);
    out = scrape(x);
    cr_assert(eq(str, out, (char *)""));
    free(out);
    sl_expo_destroy(x);
}

Test(exposition, timers_are_summaries_with_quantile_labels)
{
    struct sl_expo *x = make(1);
    struct test_key t = key_of(SL_METRIC_TIMER, "lat", "path", "/a\"b\\c\nd");
    struct sl_ddsketch *sk;
    cr_assert(eq(int, sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &sk), 0));
    for (int i = 1; i <= 100; i++)
        cr_assert(eq(int, sl_ddsketch_add(sk, i, 1), 0));
    struct sl_flush_entry e = {.key = t.b, .key_len = (uint32_t)t.len,
                               .mtype = SL_METRIC_TIMER, .updated = 1,
                               .timer = {.sketch = sk, .count = 100, .sum = 5050,
                                         .total_count = 100, .total_sum = 5050}};
    flush(x, 0, &e, 1);
    /* the page must not borrow the sketch: the shard reuses it after the flush */
    sl_ddsketch_destroy(sk);
    char *out = scrape(x);
    const char *lbl = "{path=\"/a\\\"b\\\\c\\nd\"";
    char want[256];
    /* each expected line: what comes before the labels, and after them */
    const char *lines[][2] = {{"lat_count", "} 100\n"},
                              {"lat_sum", "} 5050\n"},
                              {"lat", ",quantile=\"0.99\"} 9"},
                              {"lat", ",quantile=\"0.5\"} 49."},
                              {"# TYPE lat_max gauge\nlat_max", "} 100\n"},
                              {"# TYPE lat_min gauge\nlat_min", "} 1\n"}};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        snprintf(want, sizeof want, "%s%s%s", lines[i][0], lbl, lines[i][1]);
        cr_assert(not(eq(ptr, strstr(out, want), NULL)), "%s not in\n%s", want, out);
    }
    cr_assert(eq(ptr, strstr(out, "# TYPE lat summary\nlat_count{"), out), "%s", out);
    /* one TYPE line for the summary family */
    cr_assert(eq(ptr, strstr(strstr(out, "# TYPE lat summary") + 1, "# TYPE lat summary"),
                 NULL));
    free(out);
    sl_expo_destroy(x);
}

static void self_metrics(void *ctx, struct sl_buf *out)
{
    (void)ctx;
    sl_buf_puts(out, "# TYPE sluice_up gauge\nsluice_up 1\n");
}

Test(exposition, self_metrics_follow_the_series_and_stand_alone_before_any_flush)
{
    struct sl_expo *x = make(3);
    sl_expo_set_self(x, self_metrics, NULL);
    char *out = scrape(x);
    cr_assert(eq(str, out, (char *)"# TYPE sluice_up gauge\nsluice_up 1\n"));
    free(out);
    struct test_key g = key_of(SL_METRIC_GAUGE, "temp", NULL, NULL);
    struct sl_flush_entry e = gauge(&g, 1e-7);
    flush(x, 2, &e, 1);
    out = scrape(x);
    cr_assert(eq(str, out,
                 (char *)"# TYPE temp gauge\ntemp 1e-07\n# TYPE sluice_up gauge\nsluice_up 1\n"));
    free(out);
    sl_expo_destroy(x);
}
