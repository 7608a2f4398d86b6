/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice import`: backfill a store from an exposition file whose samples carry timestamps.
 * Reads the input line by line (expfmt.h parses each line on its own), builds canonical
 * keys, and appends batches of --batch samples through sl_store_append(): each batch is
 * all-or-nothing and durable in the WAL when the call returns, so an interrupted import
 * leaves whole batches behind and the summary says how many samples were written. At the
 * end the head is cut into blocks (sl_store_flush_head) so the data is compact at once.
 *
 * Which format: --format prom|openmetrics says it. With the default --format auto, a
 * seekable input whose last non-blank line is `# EOF` is OpenMetrics (timestamps in decimal
 * seconds) and anything else is Prometheus text (integer milliseconds). A pipe cannot be
 * looked at from the end, so `-` is Prometheus text unless --format openmetrics is given;
 * a decimal timestamp in Prometheus text is reported with that hint.
 *
 * Bad lines are reported as FILE:LINE:COL and counted; the import goes on (--strict stops at
 * the first one, before its batch is written). Samples without a timestamp are bad lines
 * here: an import without times would stamp everything "now", which is never what a
 * backfill means. # HELP / # TYPE / # UNIT are checked and otherwise ignored: the store
 * keeps no metadata.
 *
 * Memory: one batch of keys and samples, and a set of series ids for the summary (8 bytes
 * per distinct series).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/record.h"
#include "tools/cli.h"
#include "tools/expfmt.h"

#define CMD "import"
#define MAX_REPORTED_ERRORS 100
#define DAY_MS (86400LL * 1000)

/* Distinct series ids, open addressing; 0 marks an empty slot (id 0 is remapped to 1: a
 * collision of two ids only makes the series count one short, never loses data). */
struct idset {
    uint64_t *v;
    size_t cap, n;
};

static int idset_add(struct idset *s, uint64_t id)
{
    if (!id)
        id = 1;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nv = calloc(ncap, sizeof *nv);
        if (!nv)
            return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i])
                for (size_t j = s->v[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
                    if (!nv[j]) {
                        nv[j] = s->v[i];
                        break;
                    }
        free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    for (size_t j = id & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (s->v[j] == id)
            return 0;
        if (!s->v[j]) {
            s->v[j] = id;
            s->n++;
            return 0;
        }
    }
}

struct pending {
    size_t key_off;
    uint32_t key_len;
    int64_t t;
    double v;
};

struct import {
    const char *path; /* as given, for messages */
    struct sl_store *store;
    size_t batch_max;
    /* current batch */
    struct pending *pend;
    size_t npend;
    char *keys;
    size_t keys_len, keys_cap;
    struct sl_sample *samples;
    uint64_t batch_first_line;
    size_t last_key_off;
    uint32_t last_key_len;
    /* totals */
    uint64_t written, lines, bad_lines, bytes;
    int64_t mint, maxt;
    struct idset series;
};

static int batch_add(struct import *im, const char *key, uint32_t klen, int64_t t, double v,
                     uint64_t line)
{
    if (!im->npend) {
        im->batch_first_line = line;
        im->keys_len = 0;
        im->last_key_len = 0;
    }
    /* Exposition files list a series' samples together or a family's series together, so
     * comparing with the previous key shares most keys without a hash table. */
    if (!(im->last_key_len == klen && !memcmp(im->keys + im->last_key_off, key, klen))) {
        if (im->keys_len + klen > im->keys_cap) {
            size_t ncap = im->keys_cap * 2 + klen + 4096;
            char *nk = realloc(im->keys, ncap);
            if (!nk)
                return -ENOMEM;
            im->keys = nk;
            im->keys_cap = ncap;
        }
        memcpy(im->keys + im->keys_len, key, klen);
        im->last_key_off = im->keys_len;
        im->last_key_len = klen;
        im->keys_len += klen;
        if (idset_add(&im->series, sl_key_hash(key, klen)))
            return -ENOMEM;
    }
    im->pend[im->npend++] = (struct pending){im->last_key_off, klen, t, v};
    return 0;
}

/* Append the pending batch. On failure nothing of it was written (the store promises it). */
static int batch_flush(struct import *im, uint64_t last_line)
{
    if (!im->npend)
        return 0;
    int64_t bmin = INT64_MAX, bmax = INT64_MIN;
    for (size_t i = 0; i < im->npend; i++) {
        const struct pending *p = &im->pend[i];
        im->samples[i] = (struct sl_sample){im->keys + p->key_off, p->key_len, p->t, p->v};
        bmin = p->t < bmin ? p->t : bmin;
        bmax = p->t > bmax ? p->t : bmax;
    }
    struct sl_sample_batch b = {im->samples, im->npend};
    int rc = sl_store_append(im->store, &b);
    if (rc) {
        if (rc == -ENOSPC || rc == -EDQUOT)
            sl_cli_err(CMD, "disk full while writing the WAL of the store (%s): stopped; %" PRIu64
                       " samples were written, the batch of %zu samples from %s lines %" PRIu64
                       "-%" PRIu64 " and everything after it were not",
                       sl_strerror(rc), im->written, im->npend, im->path, im->batch_first_line,
                       last_line);
        else
            sl_cli_err(CMD, "writing the batch of %zu samples from %s lines %" PRIu64 "-%" PRIu64
                       " failed: %s; stopped with %" PRIu64 " samples written",
                       im->npend, im->path, im->batch_first_line, last_line, sl_strerror(rc),
                       im->written);
        return rc;
    }
    im->written += im->npend;
    im->mint = bmin < im->mint ? bmin : im->mint;
    im->maxt = bmax > im->maxt ? bmax : im->maxt;
    im->npend = 0;
    return 0;
}

/* Is the last non-blank line of the (seekable) file `# EOF`? */
static int ends_with_eof(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    char tail[256];
    off_t off = st.st_size > (off_t)sizeof tail ? st.st_size - (off_t)sizeof tail : 0;
    ssize_t n = pread(fileno(f), tail, sizeof tail, off);
    if (n <= 0)
        return 0;
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' ' || tail[n - 1] == '\t'))
        n--;
    return n >= 5 && !memcmp(tail + n - 5, "# EOF", 5) && (n == 5 || tail[n - 6] == '\n');
}

struct progress {
    int on;
    uint64_t total; /* 0 when unknown (a pipe) */
    double t0, last;
};

static void progress_show(struct progress *pg, const struct import *im, int final)
{
    double now = sl_cli_mono_s();
    if (!pg->on || (!final && now - pg->last < 0.1))
        return;
    pg->last = now;
    double el = now - pg->t0 > 1e-3 ? now - pg->t0 : 1e-3;
    double rate = (double)(im->written + im->npend) / el;
    double mib = (double)im->bytes / 1048576.0;
    if (pg->total) {
        double frac = (double)im->bytes / (double)pg->total;
        int w = 30, full = (int)(frac * w);
        char bar[31];
        for (int i = 0; i < w; i++)
            bar[i] = i < full ? '#' : ' ';
        bar[w] = 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %.1f / %.1f MiB  %.0f samples/s  %" PRIu64 " errors ",
                bar, frac * 100, mib, (double)pg->total / 1048576.0, rate, im->bad_lines);
    } else {
        fprintf(stderr, "\r%.1f MiB read  %.0f samples/s  %" PRIu64 " errors ", mib, rate,
                im->bad_lines);
    }
    if (final)
        fputc('\n', stderr);
}

static void bad_line(struct import *im, uint64_t line, size_t col, const char *what,
                     struct progress *pg)
{
    im->bad_lines++;
    if (im->bad_lines > MAX_REPORTED_ERRORS)
        return;
    if (pg->on)
        fputc('\n', stderr);
    fprintf(stderr, "%s:%" PRIu64 ":%zu: %s\n", im->path, line, col, what);
    if (im->bad_lines == MAX_REPORTED_ERRORS)
        fprintf(stderr, "%s: further bad lines are counted but not shown\n", im->path);
}

static const char usage[] =
    "usage: sluice import [--data-dir DIR] [--format auto|prom|openmetrics] [--strict]\n"
    "                     [--batch N] [--no-progress] FILE|-\n";

int sl_cli_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"format", required_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},         {"batch", required_argument, NULL, 'b'},
        {"no-progress", no_argument, NULL, 'P'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = "./sluice-data", *fmt_arg = "auto";
    int strict = 0, no_progress = 0, c;
    long batch = 8192;
    while ((c = getopt_long(argc, argv, "d:f:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'f': fmt_arg = optarg; break;
        case 's': strict = 1; break;
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 'P': no_progress = 1; break;
        case 'h': fputs(usage, stdout); return SL_CLI_OK;
        default: fputs(usage, stderr); return SL_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || batch < 1 || batch > 1000000 ||
        (strcmp(fmt_arg, "auto") && strcmp(fmt_arg, "prom") && strcmp(fmt_arg, "openmetrics"))) {
        fputs(usage, stderr);
        return SL_CLI_USAGE;
    }
    const char *path = argv[optind];
    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f) {
        sl_cli_err(CMD, "cannot open %s: %s", path, strerror(errno));
        return SL_CLI_FAIL;
    }
    enum sl_expfmt_format fmt = SL_EXPFMT_PROM;
    if (!strcmp(fmt_arg, "openmetrics") || (!strcmp(fmt_arg, "auto") && ends_with_eof(f)))
        fmt = SL_EXPFMT_OPENMETRICS;

    struct import im = {.path = is_stdin ? "<stdin>" : path, .batch_max = (size_t)batch,
                        .mint = INT64_MAX, .maxt = INT64_MIN};
    struct progress pg = {.on = !no_progress && isatty(STDERR_FILENO), .t0 = sl_cli_mono_s()};
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
        pg.total = (uint64_t)st.st_size;

    int status = SL_CLI_FAIL, rc;
    char *line = NULL, *scratch = NULL;
    size_t line_cap = 0, scratch_cap = 0;
    struct sl_expfmt_line *pl = malloc(sizeof *pl);
    im.pend = malloc(im.batch_max * sizeof *im.pend);
    im.samples = malloc(im.batch_max * sizeof *im.samples);
    if (!pl || !im.pend || !im.samples) {
        sl_cli_err(CMD, "out of memory");
        goto out;
    }
    /* A backfill may reach far behind data already in the store; the window only guards
     * the daemon's live ingest against clock mistakes. 100 years covers any real history. */
    if (sl_cli_open_store(CMD, dir, 1, 100 * 365 * DAY_MS, &im.store))
        goto out;

    uint64_t lineno = 0;
    int saw_eof = 0, stopped = 0;
    ssize_t n;
    while ((n = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        im.bytes += (uint64_t)n;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (scratch_cap < len + 1) {
            free(scratch);
            scratch_cap = line_cap;
            if (!(scratch = malloc(scratch_cap))) {
                sl_cli_err(CMD, "out of memory");
                goto out_store;
            }
        }
        const char *why = NULL;
        size_t col = 1;
        rc = sl_expfmt_parse_line(line, len, fmt, pl, scratch, scratch_cap);
        if (rc) {
            why = pl->err;
            col = pl->err_col;
        } else if (saw_eof && pl->kind != SL_EXPFMT_BLANK) {
            why = "content after # EOF";
        } else if (pl->kind == SL_EXPFMT_EOF) {
            saw_eof = 1;
        } else if (pl->kind == SL_EXPFMT_SAMPLE && !pl->has_ts) {
            why = "sample without a timestamp: import backfills, so every sample needs one";
            col = len + 1;
        } else if (pl->kind == SL_EXPFMT_SAMPLE) {
            char key[SL_KEY_MAX];
            int kl = sl_key_build(SL_KIND_PLAIN, pl->name, pl->name_len, pl->labels,
                                  pl->nlabels, key, sizeof key);
            if (kl < 0) {
                why = kl == -ENOSPC ? "series key longer than 1024 bytes"
                                    : "label value holds a NUL byte";
            } else {
                if ((rc = batch_add(&im, key, (uint32_t)kl, pl->ts_ms, pl->value, lineno))) {
                    sl_cli_err(CMD, "out of memory");
                    goto out_store;
                }
                if (im.npend == im.batch_max && batch_flush(&im, lineno)) {
                    stopped = 1;
                    break;
                }
            }
        }
        if (why) {
            bad_line(&im, lineno, col, why, &pg);
            if (strict) {
                sl_cli_err(CMD, "stopped at the first bad line (--strict); the %zu samples "
                           "read since the last written batch were not written",
                           im.npend);
                im.npend = 0;
                stopped = 1;
                break;
            }
        }
        progress_show(&pg, &im, 0);
    }
    if (!stopped && ferror(f)) {
        sl_cli_err(CMD, "reading %s failed at line %" PRIu64 ": %s", im.path, lineno + 1,
                   strerror(errno));
        stopped = 1;
    }
    if (!stopped && batch_flush(&im, lineno))
        stopped = 1;
    progress_show(&pg, &im, 1);
    if (!stopped && fmt == SL_EXPFMT_OPENMETRICS && !saw_eof)
        fprintf(stderr, "%s: warning: OpenMetrics input without # EOF (truncated?)\n", im.path);

    /* Cut what was written into blocks now, so the directory is compact and `inspect`
     * shows it. Failing here loses nothing: every batch is already in the WAL. */
    if (im.written && (rc = sl_store_flush_head(im.store)))
        fprintf(stderr, "%s: warning: cutting blocks failed (%s); the samples are safe in the "
                "WAL and sluiced cuts them when it runs\n", dir, sl_strerror(rc));
    struct sl_store_stats sst;
    sl_store_stats(im.store, &sst);
    if (sst.corrupt_blocks)
        fprintf(stderr, "%s: warning: %" PRIu64 " corrupt block(s) were quarantined as "
                ".corrupt when the store opened (named in the errors above)\n", dir,
                sst.corrupt_blocks);

    double el = sl_cli_mono_s() - pg.t0;
    char a[48] = "-", b[48] = "-";
    if (im.written) {
        sl_cli_rfc3339(im.mint, a, sizeof a);
        sl_cli_rfc3339(im.maxt, b, sizeof b);
    }
    printf("imported %s into %s (%s): %zu series, %" PRIu64 " samples, %s .. %s, %.2f s "
           "(%.0f samples/s), %" PRIu64 " bad lines of %" PRIu64 "%s\n",
           im.path, dir, fmt == SL_EXPFMT_PROM ? "prometheus text" : "openmetrics",
           im.series.n, im.written, a, b, el, el > 0 ? (double)im.written / el : 0.0,
           im.bad_lines, lineno, stopped ? " (stopped early)" : "");
    status = stopped ? SL_CLI_FAIL : im.bad_lines ? SL_CLI_PARTIAL : SL_CLI_OK;
out_store:
    sl_store_close(im.store);
out:
    if (f && !is_stdin)
        fclose(f);
    free(line);
    free(scratch);
    free(pl);
    free(im.pend);
    free(im.samples);
    free(im.keys);
    free(im.series.v);
    return status;
}
