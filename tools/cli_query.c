/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice query`: run PromQL through a running sluiced's Prometheus API and print the result
 * as a table. Instant queries go to /api/v1/query (at --time, default now); --start turns
 * it into a range query on /api/v1/query_range (--end default now, --step default
 * (end - start) / 250 rounded up to a whole second, the Prometheus UI's choice).
 *
 * HTTP goes through tools/http_client.h (one plain HTTP/1.1 GET per query; no libcurl). The JSON response is parsed by a small recursive-descent
 * parser into a tree; only the shapes the API returns are printed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "tools/cli.h"
#include "tools/expfmt.h"
#include "tools/http_client.h"

#define CMD "query"

/* ---- JSON --------------------------------------------------------------------------------- */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jt t;
    char *s;          /* J_STR: unescaped (OWNED); J_NUM: the literal text; J_BOOL: "true"/"false" */
    struct jv **kids; /* J_ARR items, J_OBJ values */
    char **keys;      /* J_OBJ keys */
    size_t n;
};

struct jp {
    const char *p, *end;
    int depth;
};

static void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jv_free(v->kids[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
    free(v);
}

static void jws(struct jp *p)
{
    while (p->p < p->end && (*p->p == ' ' || *p->p == '\n' || *p->p == '\r' || *p->p == '\t'))
        p->p++;
}

static void put_utf8(struct sl_buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sl_buf_append(b, u, n);
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *jstring(struct jp *p)
{
    struct sl_buf b = SL_BUF_INIT;
    p->p++; /* '"' */
    while (p->p < p->end && *p->p != '"') {
        char c = *p->p++;
        if (c != '\\') {
            sl_buf_putc(&b, c);
            continue;
        }
        if (p->p >= p->end)
            break;
        c = *p->p++;
        unsigned cp;
        switch (c) {
        case 'n': sl_buf_putc(&b, '\n'); break;
        case 't': sl_buf_putc(&b, '\t'); break;
        case 'r': sl_buf_putc(&b, '\r'); break;
        case 'b': sl_buf_putc(&b, '\b'); break;
        case 'f': sl_buf_putc(&b, '\f'); break;
        case 'u':
            if (p->end - p->p < 4 || hex4(p->p, &cp))
                goto bad;
            p->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p->end - p->p >= 6 && p->p[0] == '\\' &&
                p->p[1] == 'u') {
                unsigned lo;
                if (!hex4(p->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p->p += 6;
                }
            }
            put_utf8(&b, cp);
            break;
        default: sl_buf_putc(&b, c); break;
        }
    }
    if (p->p >= p->end)
        goto bad;
    p->p++;
    sl_buf_putc(&b, 0);
    if (sl_buf_failed(&b))
        goto bad;
    return sl_buf_steal(&b, NULL);
bad:
    sl_buf_fini(&b);
    return NULL;
}

static struct jv *jvalue(struct jp *p);

static int jpush(struct jv *v, struct jv *kid, char *key)
{
    struct jv **nk = realloc(v->kids, (v->n + 1) * sizeof *nk);
    if (!nk)
        return -1;
    v->kids = nk;
    if (v->t == J_OBJ) {
        char **nkeys = realloc(v->keys, (v->n + 1) * sizeof *nkeys);
        if (!nkeys)
            return -1;
        v->keys = nkeys;
        v->keys[v->n] = key;
    }
    v->kids[v->n++] = kid;
    return 0;
}

static struct jv *jvalue(struct jp *p)
{
    jws(p);
    if (p->p >= p->end || ++p->depth > 64)
        return NULL;
    struct jv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    char c = *p->p;
    if (c == '{' || c == '[') {
        v->t = c == '{' ? J_OBJ : J_ARR;
        char close = c == '{' ? '}' : ']';
        p->p++;
        jws(p);
        if (p->p < p->end && *p->p == close) {
            p->p++;
            goto ok;
        }
        for (;;) {
            char *key = NULL;
            jws(p);
            if (v->t == J_OBJ) {
                if (p->p >= p->end || *p->p != '"' || !(key = jstring(p)))
                    goto bad;
                jws(p);
                if (p->p >= p->end || *p->p != ':') {
                    free(key);
                    goto bad;
                }
                p->p++;
            }
            struct jv *kid = jvalue(p);
            if (!kid || jpush(v, kid, key)) {
                jv_free(kid);
                free(key);
                goto bad;
            }
            jws(p);
            if (p->p < p->end && *p->p == ',') {
                p->p++;
                continue;
            }
            if (p->p < p->end && *p->p == close) {
                p->p++;
                goto ok;
            }
            goto bad;
        }
    }
    if (c == '"') {
        v->t = J_STR;
        if (!(v->s = jstring(p)))
            goto bad;
        goto ok;
    }
    const char *s = p->p;
    while (p->p < p->end && !strchr(",]} \t\r\n", *p->p))
        p->p++;
    size_t n = (size_t)(p->p - s);
    if (!n || !(v->s = strndup(s, n)))
        goto bad;
    v->t = !strcmp(v->s, "null") ? J_NULL
         : (!strcmp(v->s, "true") || !strcmp(v->s, "false")) ? J_BOOL
                                                              : J_NUM;
ok:
    p->depth--;
    return v;
bad:
    jv_free(v);
    return NULL;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->kids[i];
    return NULL;
}

static const char *jstr(const struct jv *v)
{
    return v && (v->t == J_STR || v->t == J_NUM) ? v->s : "";
}

/* ---- printing ----------------------------------------------------------------------------- */

static void series_name(struct sl_buf *b, const struct jv *metric)
{
    sl_buf_reset(b);
    sl_buf_puts(b, jstr(jget(metric, "__name__")));
    size_t nl = 0;
    for (size_t i = 0; metric && metric->t == J_OBJ && i < metric->n; i++) {
        if (!strcmp(metric->keys[i], "__name__"))
            continue;
        sl_buf_puts(b, nl++ ? "," : "{");
        sl_buf_printf(b, "%s=\"", metric->keys[i]);
        for (const char *s = jstr(metric->kids[i]); *s; s++) {
            if (*s == '"' || *s == '\\')
                sl_buf_putc(b, '\\');
            if (*s == '\n')
                sl_buf_puts(b, "\\n");
            else
                sl_buf_putc(b, *s);
        }
        sl_buf_putc(b, '"');
    }
    if (nl)
        sl_buf_putc(b, '}');
    if (!b->len)
        sl_buf_puts(b, "{}");
}

/* A [time, "value"] pair as "value  time". */
static void print_point(const struct jv *pt, const char *indent, const char *series, int w)
{
    if (!pt || pt->t != J_ARR || pt->n != 2)
        return;
    double t = strtod(jstr(pt->kids[0]), NULL);
    char ts[48];
    sl_cli_rfc3339((int64_t)(t * 1000.0 + (t >= 0 ? 0.5 : -0.5)), ts, sizeof ts);
    if (series)
        printf("%s%-*s  %-24s  %s\n", indent, w, series, jstr(pt->kids[1]), ts);
    else
        printf("%s%-24s  %s\n", indent, ts, jstr(pt->kids[1]));
}

static int print_result(const struct jv *data)
{
    const char *type = jstr(jget(data, "resultType"));
    const struct jv *res = jget(data, "result");
    struct sl_buf name = SL_BUF_INIT;
    if (!strcmp(type, "scalar") || !strcmp(type, "string")) {
        printf("%-24s  %s\n", "VALUE", "TIME");
        if (res && res->t == J_ARR && res->n == 2) {
            double t = strtod(jstr(res->kids[0]), NULL);
            char ts[48];
            printf("%-24s  %s\n", jstr(res->kids[1]),
                   sl_cli_rfc3339((int64_t)(t * 1000.0 + 0.5), ts, sizeof ts));
        }
        return 0;
    }
    if (!res || res->t != J_ARR) {
        sl_cli_err(CMD, "unexpected response: no result array");
        return -1;
    }
    if (!strcmp(type, "vector")) {
        int w = 6;
        for (size_t i = 0; i < res->n; i++) {
            series_name(&name, jget(res->kids[i], "metric"));
            if ((int)name.len > w)
                w = (int)name.len;
        }
        printf("%-*s  %-24s  %s\n", w, "SERIES", "VALUE", "TIME");
        for (size_t i = 0; i < res->n; i++) {
            series_name(&name, jget(res->kids[i], "metric"));
            print_point(jget(res->kids[i], "value"), "", name.data, w);
        }
        printf("(%zu series)\n", res->n);
    } else if (!strcmp(type, "matrix")) {
        size_t pts = 0;
        for (size_t i = 0; i < res->n; i++) {
            series_name(&name, jget(res->kids[i], "metric"));
            const struct jv *vals = jget(res->kids[i], "values");
            printf("%s%s\n", i ? "\n" : "", name.data);
            printf("  %-24s  %s\n", "TIME", "VALUE");
            for (size_t j = 0; vals && vals->t == J_ARR && j < vals->n; j++) {
                const struct jv *pt = vals->kids[j];
                if (pt && pt->t == J_ARR && pt->n == 2) {
                    double t = strtod(jstr(pt->kids[0]), NULL);
                    char ts[48];
                    printf("  %-24s  %s\n",
                           sl_cli_rfc3339((int64_t)(t * 1000.0 + (t >= 0 ? 0.5 : -0.5)), ts,
                                          sizeof ts),
                           jstr(pt->kids[1]));
                    pts++;
                }
            }
        }
        printf("(%zu series, %zu points)\n", res->n, pts);
    } else {
        sl_cli_err(CMD, "unexpected resultType '%s'", type);
        sl_buf_fini(&name);
        return -1;
    }
    sl_buf_fini(&name);
    return 0;
}

static const char usage[] =
    "usage: sluice query [--url http://HOST:PORT] [--time T] [--timeout S] PROMQL\n"
    "       sluice query [--url ...] --start T [--end T] [--step DURATION] PROMQL\n";

int sl_cli_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},   {"time", required_argument, NULL, 't'},
        {"start", required_argument, NULL, 's'}, {"end", required_argument, NULL, 'e'},
        {"step", required_argument, NULL, 'p'},  {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *url = "http://127.0.0.1:8480", *at = NULL, *start = NULL, *end = NULL,
               *step = NULL;
    int timeout = 60, c;
    while ((c = getopt_long(argc, argv, "u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 't': at = optarg; break;
        case 's': start = optarg; break;
        case 'e': end = optarg; break;
        case 'p': step = optarg; break;
        case 'T': timeout = atoi(optarg); break;
        case 'h': fputs(usage, stdout); return SL_CLI_OK;
        default: fputs(usage, stderr); return SL_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || timeout <= 0 || (at && start) || ((end || step) && !start)) {
        fputs(usage, stderr);
        return SL_CLI_USAGE;
    }
    struct sl_http_url hu;
    char uerr[640];
    if (sl_http_url_parse(url, &hu, uerr, sizeof uerr)) {
        sl_cli_err(CMD, "--url %s", uerr);
        return SL_CLI_USAGE;
    }
    const char *host = hu.host, *port = hu.port, *prefix = hu.prefix;

    struct sl_buf path = SL_BUF_INIT;
    int64_t t0, t1;
    if (start) {
        if (sl_cli_parse_time(start, &t0) || sl_cli_parse_time(end ? end : "now", &t1)) {
            sl_cli_err(CMD, "--start/--end: not an RFC3339 time, Unix seconds or \"now\"");
            return SL_CLI_USAGE;
        }
        char stepbuf[32];
        if (!step) {
            int64_t s = (t1 - t0) / 250 / 1000 + 1;
            snprintf(stepbuf, sizeof stepbuf, "%llds", (long long)(s > 0 ? s : 1));
            step = stepbuf;
        }
        sl_buf_printf(&path, "%s/api/v1/query_range?query=", prefix);
        sl_http_urlenc(&path, argv[optind]);
        sl_buf_puts(&path, "&start=");
        sl_expfmt_format_seconds(&path, t0);
        sl_buf_puts(&path, "&end=");
        sl_expfmt_format_seconds(&path, t1);
        sl_buf_puts(&path, "&step=");
        sl_http_urlenc(&path, step);
    } else {
        sl_buf_printf(&path, "%s/api/v1/query?query=", prefix);
        sl_http_urlenc(&path, argv[optind]);
        if (at) {
            sl_buf_puts(&path, "&time=");
            sl_http_urlenc(&path, at);
        }
    }
    sl_buf_printf(&path, "&timeout=%ds", timeout);
    int status = SL_CLI_FAIL, http_status = 0;
    char *body = NULL;
    struct jv *doc = NULL;
    size_t body_len = 0;
    if (sl_buf_failed(&path))
        goto out;
    if (sl_http_get(host, port, path.data, (timeout + 5) * 1000, &body, &body_len, &http_status,
                    uerr, sizeof uerr)) {
        sl_cli_err(CMD, "%s%s", uerr,
                   strstr(uerr, "refused") ? " (is sluiced running? --url says where)" : "");
        goto out;
    }
    struct jp jp = {body, body + body_len, 0};
    doc = jvalue(&jp);
    if (!doc || doc->t != J_OBJ) {
        sl_cli_err(CMD, "HTTP %d with a body that is not the Prometheus API's JSON: %.200s",
                   http_status, body);
        goto out;
    }
    if (strcmp(jstr(jget(doc, "status")), "success")) {
        sl_cli_err(CMD, "query failed (HTTP %d, %s): %s", http_status,
                   jstr(jget(doc, "errorType")), jstr(jget(doc, "error")));
        goto out;
    }
    const struct jv *warn = jget(doc, "warnings");
    for (size_t i = 0; warn && warn->t == J_ARR && i < warn->n; i++)
        fprintf(stderr, "warning: %s\n", jstr(warn->kids[i]));
    if (print_result(jget(doc, "data")) == 0)
        status = SL_CLI_OK;
out:
    jv_free(doc);
    free(body);
    sl_buf_fini(&path);
    return status;
}
