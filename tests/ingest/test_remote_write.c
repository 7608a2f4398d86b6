/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote write receiver: decoding (snappy + protobuf), validation of label sets, canonical
 * keys, bit-exact values, and the route's status codes and all-or-nothing hand-off to the
 * sample sink. Bodies are built with the same generated protobuf-c code and libsnappy's
 * compressor, so the suite exercises real compressed input.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <errno.h>
#include <math.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/record.h"
#include "ingest/remote_write.h"
#include "remote_write.pb-c.h"

TestSuite(remote_write, .timeout = 10);

/* ---- body builder ----------------------------------------------------------------------- */

#define MAXL 80
#define MAXS 8

struct tseries {
    const char *l[MAXL][2]; /* name, value (NULL name ends the list) */
    int64_t t[MAXS];
    double v[MAXS];
    size_t ns;
    size_t nhist;
};

/* Pack @n series into a WriteRequest and snappy-compress it; returns a malloc'd body. */
static char *build_body(const struct tseries *s, size_t n, size_t nmeta, size_t *len)
{
    Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__TimeSeries *ts = calloc(n ? n : 1, sizeof *ts);
    Prometheus__TimeSeries **tsp = calloc(n ? n : 1, sizeof *tsp);
    Prometheus__Label *lab = calloc(n * MAXL + 1, sizeof *lab);
    Prometheus__Label **labp = calloc(n * MAXL + 1, sizeof *labp);
    Prometheus__Sample *smp = calloc(n * MAXS + 1, sizeof *smp);
    Prometheus__Sample **smpp = calloc(n * MAXS + 1, sizeof *smpp);
    ProtobufCBinaryData hist = {3, (uint8_t *)"abc"};
    ProtobufCBinaryData hists[4] = {hist, hist, hist, hist};
    Prometheus__MetricMetadata md = PROMETHEUS__METRIC_METADATA__INIT;
    Prometheus__MetricMetadata *mds[4] = {&md, &md, &md, &md};
    for (size_t i = 0; i < n; i++) {
        prometheus__time_series__init(&ts[i]);
        tsp[i] = &ts[i];
        ts[i].labels = &labp[i * MAXL];
        for (size_t j = 0; j < MAXL && s[i].l[j][0]; j++) {
            Prometheus__Label *l = &lab[i * MAXL + j];
            prometheus__label__init(l);
            l->name = (ProtobufCBinaryData){strlen(s[i].l[j][0]), (uint8_t *)s[i].l[j][0]};
            l->value = (ProtobufCBinaryData){strlen(s[i].l[j][1]), (uint8_t *)s[i].l[j][1]};
            labp[i * MAXL + j] = l;
            ts[i].n_labels++;
        }
        ts[i].samples = &smpp[i * MAXS];
        for (size_t j = 0; j < s[i].ns; j++) {
            Prometheus__Sample *x = &smp[i * MAXS + j];
            prometheus__sample__init(x);
            x->value = s[i].v[j];
            x->timestamp = s[i].t[j];
            smpp[i * MAXS + j] = x;
        }
        ts[i].n_samples = s[i].ns;
        ts[i].n_histograms = s[i].nhist;
        ts[i].histograms = hists;
    }
    wr.n_timeseries = n;
    wr.timeseries = tsp;
    wr.n_metadata = nmeta;
    wr.metadata = mds;
    size_t raw_len = prometheus__write_request__get_packed_size(&wr);
    uint8_t *raw = malloc(raw_len + 1);
    prometheus__write_request__pack(&wr, raw);
    size_t cap = snappy_max_compressed_length(raw_len);
    char *body = malloc(cap);
    cr_assert(eq(int, snappy_compress((char *)raw, raw_len, body, &cap), SNAPPY_OK));
    *len = cap;
    free(raw);
    free(ts), free(tsp), free(lab), free(labp), free(smp), free(smpp);
    return body;
}

static char *snappy_of(const void *raw, size_t raw_len, size_t *len)
{
    size_t cap = snappy_max_compressed_length(raw_len);
    char *body = malloc(cap);
    cr_assert(eq(int, snappy_compress(raw, raw_len, body, &cap), SNAPPY_OK));
    *len = cap;
    return body;
}

static int decode(const struct tseries *s, size_t n, struct sl_rw_batch *b, char *err, size_t el)
{
    size_t len;
    char *body = build_body(s, n, 0, &len);
    int rc = sl_rw_decode(body, len, b, err, el);
    free(body);
    return rc;
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- decoding --------------------------------------------------------------------------- */

Test(remote_write, decode_valid_request_builds_canonical_keys_and_samples)
{
    struct tseries s[2] = {
        {.l = {{"__name__", "http_requests_total"}, {"job", "api"}, {"status", "200"}},
         .t = {1000, 2000}, .v = {1, 2}, .ns = 2},
        {.l = {{"Zone", "eu"}, {"__name__", "up"}}, .t = {-5}, .v = {0.5}, .ns = 1},
    };
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, decode(s, 2, &b, err, sizeof err), 0), "%s", err);
    cr_assert(eq(sz, b.n, 3));
    cr_assert(eq(sz, b.nseries, 2));

    char want[SL_KEY_MAX];
    struct sl_label l[2] = {{"job", "api", 3, 3}, {"status", "200", 6, 3}};
    int wl = sl_key_build(SL_KIND_PLAIN, "http_requests_total", 19, l, 2, want, sizeof want);
    cr_assert(eq(u32, b.samples[0].key_len, (uint32_t)wl));
    cr_assert(eq(int, memcmp(b.samples[0].key, want, (size_t)wl), 0));
    cr_assert(eq(ptr, (void *)b.samples[0].key, (void *)b.samples[1].key));
    cr_assert(eq(i64, b.samples[1].t, 2000));
    cr_assert(eq(dbl, b.samples[1].v, 2.0));

    struct sl_label z[1] = {{"Zone", "eu", 4, 2}};
    wl = sl_key_build(SL_KIND_PLAIN, "up", 2, z, 1, want, sizeof want);
    cr_assert(eq(int, memcmp(b.samples[2].key, want, (size_t)wl), 0));
    cr_assert(eq(i64, b.samples[2].t, -5));
    sl_rw_batch_fini(&b);
}

Test(remote_write, decode_empty_request_gives_no_samples)
{
    struct sl_rw_batch b;
    cr_assert(eq(int, decode(NULL, 0, &b, NULL, 0), 0));
    cr_assert(eq(sz, b.n, 0));
    sl_rw_batch_fini(&b);
}

Test(remote_write, decode_series_without_samples_is_skipped_but_validated)
{
    struct tseries s[2] = {
        {.l = {{"__name__", "a"}}, .ns = 0},
        {.l = {{"__name__", "b"}}, .t = {1}, .v = {1}, .ns = 1},
    };
    struct sl_rw_batch b;
    cr_assert(eq(int, decode(s, 2, &b, NULL, 0), 0));
    cr_assert(eq(sz, b.n, 1));
    cr_assert(eq(sz, b.nseries, 1));
    sl_rw_batch_fini(&b);

    struct tseries bad[1] = {{.l = {{"__name__", "a"}, {"x", ""}}, .ns = 0}};
    cr_assert(eq(int, decode(bad, 1, &b, NULL, 0), SL_E_PROTO));
}

Test(remote_write, decode_metadata_is_counted_and_ignored)
{
    struct tseries s[1] = {{.l = {{"__name__", "a"}}, .t = {1}, .v = {1}, .ns = 1}};
    size_t len;
    char *body = build_body(s, 1, 3, &len);
    struct sl_rw_batch b;
    cr_assert(eq(int, sl_rw_decode(body, len, &b, NULL, 0), 0));
    cr_assert(eq(sz, b.nmetadata, 3));
    cr_assert(eq(sz, b.n, 1));
    sl_rw_batch_fini(&b);
    free(body);
}

Test(remote_write, decode_bad_snappy_is_refused)
{
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, sl_rw_decode("\xff\xff\xff\xff\xff\xff", 6, &b, err, sizeof err),
                 SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, "snappy"), NULL)), "%s", err);
    cr_assert(eq(int, sl_rw_decode("", 0, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(eq(int, sl_rw_decode(NULL, 0, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(eq(ptr, (void *)b.samples, NULL));
}

Test(remote_write, decode_truncated_snappy_is_refused)
{
    struct tseries s[1] = {{.l = {{"__name__", "a"}}, .t = {1}, .v = {1}, .ns = 1}};
    size_t len;
    char *body = build_body(s, 1, 0, &len);
    struct sl_rw_batch b;
    for (size_t cut = 1; cut < len; cut++)
        cr_assert(eq(int, sl_rw_decode(body, cut, &b, NULL, 0), SL_E_PROTO), "cut %zu", cut);
    free(body);
}

Test(remote_write, decode_bad_protobuf_is_refused)
{
    /* field 1, wire type 2, length 100 with 2 bytes behind it */
    static const char raw[] = "\x0a\x64\x01\x02";
    size_t len;
    char *body = snappy_of(raw, sizeof raw - 1, &len);
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, sl_rw_decode(body, len, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, "protobuf"), NULL)), "%s", err);
    free(body);
}

Test(remote_write, decode_oversized_length_prefix_is_refused_without_allocating)
{
    /* a snappy varint claiming 1 GiB */
    static const char body[] = "\x80\x80\x80\x80\x04\x00";
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, sl_rw_decode(body, sizeof body - 1, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, "exceeds"), NULL)), "%s", err);
}

Test(remote_write, decode_staleness_marker_keeps_its_bits)
{
    uint64_t stale = 0x7ff0000000000002ull;
    struct tseries s[1] = {{.l = {{"__name__", "a"}}, .t = {1, 2}, .ns = 2}};
    s[0].v[0] = from_bits(stale);
    s[0].v[1] = NAN;
    struct sl_rw_batch b;
    cr_assert(eq(int, decode(s, 1, &b, NULL, 0), 0));
    cr_assert(eq(u64, bits(b.samples[0].v), stale));
    cr_assert(eq(u64, bits(b.samples[1].v), bits(NAN)));
    sl_rw_batch_fini(&b);
}

/* Any value bit pattern and any timestamp survive decoding exactly. */
TheoryDataPoints(remote_write, decode_values_and_times_roundtrip_exactly) = {
    DataPoints(uint64_t, 0, 1, 0x8000000000000000ull, 0x7ff0000000000002ull,
               0x7ff8000000000001ull, 0xfff0000000000000ull, 0x3ff0000000000000ull,
               UINT64_MAX),
    DataPoints(int64_t, 0, 1, -1, INT64_MIN, INT64_MAX, 1700000000000),
};
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* WriteRequest{timeseries{labels{__name__="a"} samples{value=bits(vb) timestamp=t}}} with
 * both sample fields always present: protobuf-c's packer leaves out a -0.0 value as if it
 * were the proto3 default, so this is encoded by hand to test what a Go sender sends. */
static size_t one_sample_request(uint64_t vb, int64_t t, uint8_t *out)
{
    uint8_t smp[32], ts[64];
    size_t ns = 0, nt = 0, n = 0;
    smp[ns++] = 0x09;
    for (int i = 0; i < 8; i++)
        smp[ns++] = (uint8_t)(vb >> (8 * i));
    smp[ns++] = 0x10;
    ns += put_varint(smp + ns, (uint64_t)t);
    static const uint8_t label[] = {0x0a, 0x0d, 0x0a, 0x08, '_', '_', 'n', 'a', 'm', 'e',
                                    '_', '_', 0x12, 0x01, 'a'};
    memcpy(ts, label, sizeof label);
    nt = sizeof label;
    ts[nt++] = 0x12;
    ts[nt++] = (uint8_t)ns;
    memcpy(ts + nt, smp, ns);
    nt += ns;
    out[n++] = 0x0a;
    out[n++] = (uint8_t)nt;
    memcpy(out + n, ts, nt);
    return n + nt;
}

Theory((uint64_t vb, int64_t t), remote_write, decode_values_and_times_roundtrip_exactly)
{
    uint8_t raw[128];
    size_t len, rawlen = one_sample_request(vb, t, raw);
    char *body = snappy_of(raw, rawlen, &len);
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, sl_rw_decode(body, len, &b, err, sizeof err), 0), "%s", err);
    cr_assert(eq(sz, b.n, 1));
    cr_assert(eq(u64, bits(b.samples[0].v), vb));
    cr_assert(eq(i64, b.samples[0].t, t));
    sl_rw_batch_fini(&b);
    free(body);
}

/* ---- validation table ------------------------------------------------------------------- */

/* Inline arrays, not pointers: Criterion may run each parameter in a fresh exec of the
 * binary, where pointers into the parent's data would not be valid. */
struct bad_case {
    char l[4][2][16];
    size_t nhist;
    char want[48]; /* substring of the error */
};

static struct bad_case bad_cases[] = {
    {{{"job", "a"}}, 0, "missing __name__"},
    {{{"__name__", "a"}, {"job", "x"}, {"env", "p"}}, 0, "label 2 \"env\": labels not sorted"},
    {{{"__name__", "a"}, {"job", "x"}, {"job", "y"}}, 0, "label 2 \"job\": duplicate label"},
    {{{"__name__", "a"}, {"job", ""}}, 0, "label 1 \"job\": empty label value"},
    {{{"", "v"}, {"__name__", "a"}}, 0, "empty label name"},
    {{{"__name__", "a"}, {"1job", "x"}}, 0, "invalid label name"},
    {{{"__name__", "a"}, {"jo-b", "x"}}, 0, "invalid label name"},
    {{{"__name__", "a"}, {"jo:b", "x"}}, 0, "invalid label name"},
    {{{"__name__", "9a"}}, 0, "invalid metric name"},
    {{{"__name__", "a-b"}}, 0, "invalid metric name"},
    {{{"__name__", ""}}, 0, "empty label value"},
    {{{"__name__", "a"}, {"job", "\xc3\x28"}}, 0, "not valid UTF-8"},
    {{{"__name__", "a"}, {"job", "\xed\xa0\x80"}}, 0, "not valid UTF-8"},  /* surrogate */
    {{{"__name__", "a"}, {"job", "\xc0\xaf"}}, 0, "not valid UTF-8"},      /* overlong */
    {{{"__name__", "a"}, {"job", "\xe2\x82"}}, 0, "not valid UTF-8"},      /* truncated */
    {{{"__name__", "a"}}, 1, "native histogram"},
};

ParameterizedTestParameters(remote_write, decode_invalid_label_set_is_refused_with_reason)
{
    return cr_make_param_array(struct bad_case, bad_cases, sizeof bad_cases / sizeof bad_cases[0]);
}

ParameterizedTest(struct bad_case *c, remote_write, decode_invalid_label_set_is_refused_with_reason)
{
    /* a good series first: one bad series refuses the whole request */
    struct tseries s[2] = {{.l = {{"__name__", "good"}}, .t = {1}, .v = {1}, .ns = 1},
                           {.t = {1}, .v = {1}, .ns = 1, .nhist = c->nhist}};
    /* a label ends the list when both its name and value are empty */
    for (size_t i = 0; i < 4 && (c->l[i][0][0] || c->l[i][1][0]); i++) {
        s[1].l[i][0] = c->l[i][0];
        s[1].l[i][1] = c->l[i][1];
    }
    struct sl_rw_batch b;
    char err[512];
    cr_assert(eq(int, decode(s, 2, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, c->want), NULL)), "error \"%s\" lacks \"%s\"", err,
              c->want);
    cr_assert(not(eq(ptr, strstr(err, "series 1 {"), NULL)), "error \"%s\" names no series", err);
    cr_assert(eq(ptr, (void *)b.samples, NULL));
    cr_assert(eq(sz, b.n, 0));
}

Test(remote_write, decode_nul_in_value_is_refused)
{
    /* strlen() cannot carry a NUL, so this request is encoded by hand:
     * WriteRequest{ timeseries { labels { name "__name__" value "a\0" } samples { 0 } } } */
    static const unsigned char raw[] = {
        0x0a, 0x1b,                                     /* timeseries, 27 bytes */
        0x0a, 0x0e,                                     /*   label, 14 bytes */
        0x0a, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', /* name */
        0x12, 0x02, 'a', 0x00,                          /*   value "a\0" */
        0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0, 0,       /*   sample, value 0 */
    };
    size_t len;
    char *body = snappy_of(raw, sizeof raw, &len);
    struct sl_rw_batch b;
    char err[256];
    cr_assert(eq(int, sl_rw_decode(body, len, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, "NUL"), NULL)), "%s", err);
    free(body);
}

Test(remote_write, decode_too_many_labels_is_refused)
{
    static char names[SL_LABELS_MAX + 1][8];
    struct tseries s[1] = {{.l = {{"__name__", "a"}}, .t = {1}, .v = {1}, .ns = 1}};
    for (int i = 0; i <= SL_LABELS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "l%03d", i);
        s[0].l[i + 1][0] = names[i];
        s[0].l[i + 1][1] = "v";
    }
    struct sl_rw_batch b;
    char err[512];
    cr_assert(eq(int, decode(s, 1, &b, err, sizeof err), SL_E_PROTO));
    cr_assert(not(eq(ptr, strstr(err, "too large"), NULL)), "%s", err);

    s[0].l[SL_LABELS_MAX + 1][0] = NULL; /* exactly SL_LABELS_MAX besides __name__ */
    cr_assert(eq(int, decode(s, 1, &b, err, sizeof err), 0), "%s", err);
    sl_rw_batch_fini(&b);
}

/* ---- the route -------------------------------------------------------------------------- */

struct fake_sink {
    int calls;
    size_t n;
    int rc;
    int64_t first_t;
    uint64_t first_bits;
};

static int fake_append(void *ctx, const struct sl_plain_sample *s, size_t n)
{
    struct fake_sink *f = ctx;
    f->calls++;
    if (f->rc)
        return f->rc;
    f->n += n;
    f->first_t = s[0].t;
    f->first_bits = bits(s[0].v);
    return 0;
}

static const struct sl_sample_sink_ops fake_ops = {.append = fake_append};

static int post(struct fake_sink *f, const char *method, const char *ctype, const char *cenc,
                const char *body, size_t len, struct sl_http_response *resp)
{
    static struct sl_rw rw;
    memset(&rw, 0, sizeof rw);
    rw.sink = (struct sl_sample_sink){&fake_ops, f};
    struct sl_http_request req = {.method = method, .path = "/api/v1/write", .body = body,
                                  .body_len = len, .content_type = ctype,
                                  .content_encoding = cenc};
    memset(resp, 0, sizeof *resp);
    resp->status = 200;
    return sl_rw_handle_write(&rw, &req, resp);
}

static char *two_series_body(size_t *len)
{
    struct tseries s[2] = {
        {.l = {{"__name__", "a"}, {"job", "x"}}, .t = {5000, 6000}, .v = {1, 2}, .ns = 2},
        {.l = {{"__name__", "b"}}, .t = {3000}, .v = {7}, .ns = 1},
    };
    return build_body(s, 2, 0, len);
}

Test(remote_write, post_valid_body_appends_once_and_answers_204)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    size_t len;
    char *body = two_series_body(&len);
    cr_assert(eq(int, post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp), 0));
    cr_assert(eq(int, resp.status, 204));
    cr_assert(eq(int, f.calls, 1));
    cr_assert(eq(sz, f.n, 3));
    cr_assert(eq(i64, f.first_t, 5000));
    free(resp.body);
    free(body);
}

Test(remote_write, post_without_content_headers_is_accepted)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    size_t len;
    char *body = two_series_body(&len);
    post(&f, "POST", NULL, NULL, body, len, &resp);
    cr_assert(eq(int, resp.status, 204));
    free(resp.body);
    post(&f, "POST", "Application/X-Protobuf; proto=prometheus.WriteRequest", "SNAPPY", body,
         len, &resp);
    cr_assert(eq(int, resp.status, 204));
    free(resp.body);
    free(body);
}

struct status_case {
    char method[8], ctype[32], cenc[16]; /* "" = header absent */
    int status;
    char want[48];
};

static struct status_case status_cases[] = {
    {"GET", "", "", 405, "POST"},
    {"POST", "application/json", "snappy", 415, "Content-Type \"application/json\""},
    {"POST", "application/x-protobuf", "gzip", 415, "Content-Encoding \"gzip\""},
    {"POST", "text/plain", "", 415, "application/x-protobuf"},
};

ParameterizedTestParameters(remote_write, post_wrong_method_or_type_is_refused)
{
    return cr_make_param_array(struct status_case, status_cases,
                               sizeof status_cases / sizeof status_cases[0]);
}

ParameterizedTest(struct status_case *c, remote_write, post_wrong_method_or_type_is_refused)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    size_t len;
    char *body = two_series_body(&len);
    post(&f, c->method, c->ctype[0] ? c->ctype : NULL, c->cenc[0] ? c->cenc : NULL, body, len,
         &resp);
    cr_assert(eq(int, resp.status, c->status));
    cr_assert(not(eq(ptr, resp.body, NULL)));
    cr_assert(not(eq(ptr, strstr(resp.body, c->want), NULL)), "%s", resp.body);
    cr_assert(eq(int, f.calls, 0));
    free(resp.body);
    free(body);
}

Test(remote_write, post_malformed_body_answers_400_and_appends_nothing)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    struct tseries s[2] = {{.l = {{"__name__", "a"}}, .t = {1}, .v = {1}, .ns = 1},
                           {.l = {{"__name__", "b"}, {"bad-name", "v"}}, .t = {1}, .v = {1},
                            .ns = 1}};
    size_t len;
    char *body = build_body(s, 2, 0, &len);
    post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp);
    cr_assert(eq(int, resp.status, 400));
    cr_assert(not(eq(ptr, strstr(resp.body, "bad-name"), NULL)), "%s", resp.body);
    cr_assert(eq(int, f.calls, 0));
    free(resp.body);
    post(&f, "POST", "application/x-protobuf", "snappy", "nonsense", 8, &resp);
    cr_assert(eq(int, resp.status, 400));
    cr_assert(eq(int, f.calls, 0));
    free(resp.body);
    free(body);
}

Test(remote_write, post_sample_outside_window_answers_400_naming_the_oldest)
{
    struct fake_sink f = {.rc = SL_E_LIMIT};
    struct sl_http_response resp;
    size_t len;
    char *body = two_series_body(&len);
    post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp);
    cr_assert(eq(int, resp.status, 400));
    cr_assert(not(eq(ptr, strstr(resp.body, "b{} at timestamp 3000"), NULL)), "%s", resp.body);
    free(resp.body);
    free(body);
}

Test(remote_write, post_sink_failure_answers_500)
{
    struct fake_sink f = {.rc = -EIO};
    struct sl_http_response resp;
    size_t len;
    char *body = two_series_body(&len);
    post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp);
    cr_assert(eq(int, resp.status, 500));
    cr_assert(not(eq(ptr, strstr(resp.body, "retry"), NULL)), "%s", resp.body);
    free(resp.body);
    free(body);
}

Test(remote_write, post_empty_request_answers_204_without_append)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    size_t len;
    char *body = build_body(NULL, 0, 0, &len);
    post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp);
    cr_assert(eq(int, resp.status, 204));
    cr_assert(eq(int, f.calls, 0));
    free(resp.body);
    free(body);
}

Test(remote_write, post_staleness_marker_reaches_sink_bit_exact)
{
    struct fake_sink f = {0};
    struct sl_http_response resp;
    struct tseries s[1] = {{.l = {{"__name__", "a"}}, .t = {9}, .ns = 1}};
    s[0].v[0] = from_bits(0x7ff0000000000002ull);
    size_t len;
    char *body = build_body(s, 1, 0, &len);
    post(&f, "POST", "application/x-protobuf", "snappy", body, len, &resp);
    cr_assert(eq(int, resp.status, 204));
    cr_assert(eq(u64, f.first_bits, 0x7ff0000000000002ull));
    free(resp.body);
    free(body);
}
