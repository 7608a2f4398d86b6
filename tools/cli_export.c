/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice export`: write the series selected by --match (PromQL selectors, as Prometheus'
 * match[] takes them; several are a union) in [--start, --end] as OpenMetrics text, one
 * `# TYPE <name> unknown` per metric family (the store keeps no types), every sample with
 * its timestamp in decimal seconds, and `# EOF`. `--format prom` writes Prometheus text
 * instead (`untyped`, integer milliseconds, no # EOF).
 *
 * Round trip: values are written in the shortest form that reads back to the same double,
 * so `sluice import` of the output restores every value bit for bit, -0.0, denormals and
 * infinities included. Two things the text cannot carry:
 *  - Staleness markers (NaN with payload 0x7ff0000000000002, written when a series
 *    disappears) are not samples: they are left out and counted in the summary. A
 *    re-imported series therefore has no explicit end; queries treat it as stale after
 *    the usual 5 minute lookback, as Prometheus does for imported blocks.
 *  - Any other NaN is written as `NaN` and comes back as the default quiet NaN.
 * Timestamps are milliseconds in the store and at most three decimals in the file: exact.
 *
 * Memory: the selected series with their samples are held at once (the store answers a
 * selector with one consistent snapshot); export a large store in --start/--end slices.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "query/promql.h"
#include "query/source.h"
#include "tools/cli.h"
#include "tools/expfmt.h"

#define CMD "export"
#define STALE_NAN_BITS 0x7ff0000000000002ull

static const char usage[] =
    "usage: sluice export [--data-dir DIR] [--match SELECTOR]... [--start T] [--end T]\n"
    "                     [--format openmetrics|prom] [-o FILE]\n";

struct pick {
    const struct sl_series_set *ss;
    size_t i;
    const char *key;
    size_t key_len;
};

static int pick_cmp(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Compile one --match into store matchers and select. */
static int select_one(struct sl_store *st, const char *sel, int64_t mint, int64_t maxt,
                      struct sl_series_set **out)
{
    struct sl_promql_expr *e = NULL;
    const struct sl_matcher *m;
    size_t nm;
    struct sl_promql_error perr;
    int rc = sl_promql_parse_selector(sel, &e, &m, &nm, &perr);
    if (rc) {
        sl_cli_err(CMD, "--match '%s': %s", sel, rc == -ENOMEM ? "out of memory" : perr.msg);
        return rc;
    }
    struct sl_store_matcher sm[SL_MATCHERS_MAX];
    if (nm > SL_MATCHERS_MAX) {
        sl_cli_err(CMD, "--match '%s': more than %d matchers", sel, SL_MATCHERS_MAX);
        sl_promql_expr_free(e);
        return -EINVAL;
    }
    for (size_t i = 0; i < nm; i++) {
        static const enum sl_store_match_op ops[] = {
            [SL_MATCH_EQ] = SL_STORE_MATCH_EQ, [SL_MATCH_NEQ] = SL_STORE_MATCH_NE,
            [SL_MATCH_RE] = SL_STORE_MATCH_RE, [SL_MATCH_NRE] = SL_STORE_MATCH_NRE};
        sm[i] = (struct sl_store_matcher){ops[m[i].op], m[i].name, m[i].value};
    }
    char err[256] = "";
    rc = sl_store_select(st, sm, nm, mint, maxt, 0, out, err, sizeof err);
    if (rc)
        sl_cli_err(CMD, "selecting '%s' failed: %s%s%s", sel, sl_strerror(rc), *err ? ": " : "",
                   err);
    sl_promql_expr_free(e);
    return rc;
}

int sl_cli_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"match", required_argument, NULL, 'm'},
        {"start", required_argument, NULL, 's'},    {"end", required_argument, NULL, 'e'},
        {"format", required_argument, NULL, 'f'},   {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *dir = "./sluice-data", *outpath = NULL;
    const char *matches[64];
    size_t nmatch = 0;
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    enum sl_expfmt_format fmt = SL_EXPFMT_OPENMETRICS;
    int c;
    while ((c = getopt_long(argc, argv, "d:m:s:e:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'm':
            if (nmatch == sizeof matches / sizeof *matches) {
                sl_cli_err(CMD, "at most 64 --match options");
                return SL_CLI_USAGE;
            }
            matches[nmatch++] = optarg;
            break;
        case 's':
        case 'e':
            if (sl_cli_parse_time(optarg, c == 's' ? &mint : &maxt)) {
                sl_cli_err(CMD, "--%s '%s': not an RFC3339 time, Unix seconds or \"now\"",
                           c == 's' ? "start" : "end", optarg);
                return SL_CLI_USAGE;
            }
            break;
        case 'f':
            if (!strcmp(optarg, "prom"))
                fmt = SL_EXPFMT_PROM;
            else if (strcmp(optarg, "openmetrics")) {
                fputs(usage, stderr);
                return SL_CLI_USAGE;
            }
            break;
        case 'o': outpath = optarg; break;
        case 'h': fputs(usage, stdout); return SL_CLI_OK;
        default: fputs(usage, stderr); return SL_CLI_USAGE;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return SL_CLI_USAGE;
    }
    if (!nmatch)
        matches[nmatch++] = "{__name__=~\".+\"}";
    if (mint > maxt) {
        sl_cli_err(CMD, "--start is after --end");
        return SL_CLI_USAGE;
    }

    int status = SL_CLI_FAIL;
    struct sl_store *st = NULL;
    struct sl_series_set *sets[64] = {0};
    struct pick *picks = NULL;
    FILE *out = stdout;
    if (sl_cli_open_store(CMD, dir, 0, 0, &st))
        return SL_CLI_FAIL;
    size_t total = 0;
    for (size_t i = 0; i < nmatch; i++) {
        if (select_one(st, matches[i], mint, maxt, &sets[i]))
            goto done;
        total += sl_series_set_count(sets[i]);
    }
    /* Several selectors may pick the same series: sort every pick by key, write each key
     * once. Keys sort by name first, so each family comes out contiguous, as OpenMetrics
     * requires. */
    if (total && !(picks = malloc(total * sizeof *picks))) {
        sl_cli_err(CMD, "out of memory");
        goto done;
    }
    size_t np = 0;
    for (size_t i = 0; i < nmatch; i++)
        for (size_t j = 0; j < sl_series_set_count(sets[i]); j++) {
            struct sl_store_series s;
            sl_series_set_get(sets[i], j, &s);
            picks[np++] = (struct pick){sets[i], j, s.key, s.key_len};
        }
    if (np)
        qsort(picks, np, sizeof *picks, pick_cmp);

    if (outpath && !(out = fopen(outpath, "w"))) {
        sl_cli_err(CMD, "cannot create %s: %s", outpath, strerror(errno));
        goto done;
    }
    struct sl_buf b = SL_BUF_INIT;
    uint64_t nseries = 0, nsamples = 0, nstale = 0;
    const char *fam = NULL;
    size_t fam_len = 0;
    for (size_t k = 0; k < np; k++) {
        if (k && !pick_cmp(&picks[k - 1], &picks[k]))
            continue;
        struct sl_store_series s;
        sl_series_set_get(picks[k].ss, picks[k].i, &s);
        const char *name;
        size_t name_len;
        struct sl_key_iter it;
        sl_key_name(s.key, s.key_len, &name, &name_len, &it);
        struct sl_label ls[SL_LABELS_MAX];
        size_t nl = 0;
        while (nl < SL_LABELS_MAX && sl_key_next_label(&it, &ls[nl]))
            nl++;
        if (!fam || fam_len != name_len || memcmp(fam, name, name_len)) {
            sl_buf_printf(&b, "# TYPE %.*s %s\n", (int)name_len, name,
                          fmt == SL_EXPFMT_OPENMETRICS ? "unknown" : "untyped");
            fam = name;
            fam_len = name_len;
        }
        nseries++;
        for (size_t j = 0; j < s.n; j++) {
            uint64_t bits;
            memcpy(&bits, &s.v[j], sizeof bits);
            if (bits == STALE_NAN_BITS) {
                nstale++;
                continue;
            }
            sl_expfmt_format_sample(&b, fmt, name, name_len, ls, nl, s.v[j], s.t[j]);
            nsamples++;
            if (b.len > (1u << 20)) {
                if (fwrite(b.data, 1, b.len, out) != b.len)
                    break;
                sl_buf_reset(&b);
            }
        }
    }
    if (fmt == SL_EXPFMT_OPENMETRICS)
        sl_buf_puts(&b, "# EOF\n");
    int werr = sl_buf_failed(&b) ? ENOMEM : 0;
    if (!werr && b.len && fwrite(b.data, 1, b.len, out) != b.len)
        werr = errno;
    sl_buf_fini(&b);
    if (!werr && fflush(out))
        werr = errno;
    if (werr || ferror(out)) {
        sl_cli_err(CMD, "writing %s failed: %s", outpath ? outpath : "<stdout>",
                   strerror(werr ? werr : EIO));
        goto done;
    }
    struct sl_store_stats sst;
    sl_store_stats(st, &sst);
    if (sst.corrupt_blocks)
        fprintf(stderr, "%s: warning: %" PRIu64 " corrupt block(s) were quarantined as .corrupt "
                "when the store opened (named in the errors above); their samples are not in "
                "this export\n", dir, sst.corrupt_blocks);
    fprintf(stderr, "exported %" PRIu64 " series, %" PRIu64 " samples%s", nseries, nsamples,
            nstale ? "" : "\n");
    if (nstale)
        fprintf(stderr, " (%" PRIu64 " staleness markers left out)\n", nstale);
    status = SL_CLI_OK;
done:
    if (out && out != stdout && fclose(out) && status == SL_CLI_OK) {
        sl_cli_err(CMD, "writing %s failed: %s", outpath, strerror(errno));
        status = SL_CLI_FAIL;
    }
    free(picks);
    for (size_t i = 0; i < nmatch; i++)
        sl_series_set_destroy(sets[i]);
    sl_store_close(st);
    return status;
}
