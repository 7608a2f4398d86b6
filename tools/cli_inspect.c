/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice inspect DIR`: what is in a data directory. One row per block (raw blocks first,
 * then each downsampled tier, each in time order): id, tier, time range, series, samples
 * (buckets for tiers), and bytes per sample split by column — timestamps, values, index —
 * plus the total including headers and tables; then the timer sketches (FORMAT.md "sketch
 * section": interval sketches in raw blocks, merged per bucket in tiers) and the bytes of
 * their two sections, which the sample columns and TOTAL BYTES leave out so bytes per sample
 * mean the same with or without timers; then totals per tier and overall, the WAL segments,
 * and the head.
 *
 * Blocks are read directly with sl_block_open() (which verifies every checksum) and never
 * modified, so a corrupt block is reported with its file and the reason, not moved aside.
 * Column bytes come from each chunk's own header (FORMAT.md "chunks section"): the column
 * lengths are exact for plain chunks; for an lz4-compressed chunk, whose columns are only
 * separable after inflating, the compressed bytes are shared out in proportion to the
 * inflated column sizes.
 *
 * The head lives only in memory, so head stats need the store opened (WAL replay). That
 * takes the directory's lock and may cut a torn WAL tail, exactly as starting sluiced
 * would; it is skipped when a running sluiced holds the lock, when a corrupt block was
 * found (opening would quarantine it) or with --no-head.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/errors.h"
#include "storage/block.h"
#include "storage/codec.h"
#include "tools/cli.h"

#define CMD "inspect"

struct binfo {
    char name[64];
    struct sl_block_meta m;
    uint64_t ts_bytes, val_bytes;
};

struct totals {
    uint64_t blocks, samples, ts_bytes, val_bytes, index_bytes, all_bytes;
    uint64_t sketches, sketch_bytes;
};

/* Add the column bytes of one chunk to @bi. @return 0 or SL_E_CORRUPT. */
static int chunk_columns(const uint8_t *in, size_t len, struct binfo *bi, uint8_t **scratch,
                         size_t *scratch_cap)
{
    uint64_t n;
    size_t m = sl_varint_get(in, in + len, &n);
    if (!m || n == 0 || n > SL_CODEC_CHUNK_MAX || m + 2 > len)
        return SL_E_CORRUPT;
    unsigned ncols = in[m], flags = in[m + 1];
    const uint8_t *p = in + m + 2, *end = in + len;
    size_t comp = 0;
    if (flags & 1u) {
        uint64_t raw;
        size_t k = sl_varint_get(p, end, &raw);
        size_t bound = sl_codec_chunk_bound((size_t)n, ncols);
        if (!k || raw > bound)
            return SL_E_CORRUPT;
        p += k;
        comp = (size_t)(end - p);
        if (*scratch_cap < bound) {
            free(*scratch);
            if (!(*scratch = malloc(bound)))
                return -ENOMEM;
            *scratch_cap = bound;
        }
        int got = LZ4_decompress_safe((const char *)p, (char *)*scratch, (int)comp, (int)raw);
        if (got < 0 || (uint64_t)got != raw)
            return SL_E_CORRUPT;
        p = *scratch;
        end = p + raw;
    }
    const uint8_t *body = p;
    uint64_t cl;
    size_t k = sl_varint_get(p, end, &cl);
    if (!k || cl > (uint64_t)(end - p - k))
        return SL_E_CORRUPT;
    p += k + cl;
    size_t ts_raw = (size_t)(p - body);
    for (unsigned c = 0; c < ncols; c++) {
        k = sl_varint_get(p, end, &cl);
        if (!k || cl > (uint64_t)(end - p - k))
            return SL_E_CORRUPT;
        p += k + cl;
    }
    size_t raw_total = (size_t)(p - body);
    if (!raw_total)
        return SL_E_CORRUPT;
    if (flags & 1u) {
        uint64_t ts = (uint64_t)((double)comp * (double)ts_raw / (double)raw_total + 0.5);
        bi->ts_bytes += ts;
        bi->val_bytes += comp - ts;
    } else {
        bi->ts_bytes += ts_raw;
        bi->val_bytes += raw_total - ts_raw;
    }
    return 0;
}

static int scan_block(const struct sl_block *b, struct binfo *bi)
{
    struct sl_block_chunk chunks[64], *cs = chunks;
    size_t cap = 64;
    uint8_t *scratch = NULL;
    size_t scratch_cap = 0;
    int rc = 0;
    for (uint32_t id = 0; id < bi->m.nseries && !rc; id++) {
        const char *key;
        size_t kl;
        int nc = sl_block_series(b, id, &key, &kl, cs, cap);
        if (nc > (int)cap) {
            struct sl_block_chunk *big = malloc((size_t)nc * sizeof *big);
            if (!big) {
                rc = -ENOMEM;
                break;
            }
            if (cs != chunks)
                free(cs);
            cs = big;
            cap = (size_t)nc;
            nc = sl_block_series(b, id, &key, &kl, cs, cap);
        }
        if (nc < 0) {
            rc = nc;
            break;
        }
        for (int i = 0; i < nc && !rc; i++)
            rc = chunk_columns(cs[i].p, cs[i].len, bi, &scratch, &scratch_cap);
    }
    if (cs != chunks)
        free(cs);
    free(scratch);
    return rc;
}

static int binfo_cmp(const void *a, const void *b)
{
    const struct binfo *x = a, *y = b;
    if (x->m.resolution_ms != y->m.resolution_ms)
        return x->m.resolution_ms < y->m.resolution_ms ? -1 : 1;
    if (x->m.mint != y->m.mint)
        return x->m.mint < y->m.mint ? -1 : 1;
    return x->m.seq < y->m.seq ? -1 : x->m.seq > y->m.seq;
}

static const char *tier_name(int64_t res, char *buf, size_t len)
{
    if (!res)
        return "raw";
    if (res % 86400000 == 0)
        snprintf(buf, len, "%lldd", (long long)(res / 86400000));
    else if (res % 3600000 == 0)
        snprintf(buf, len, "%lldh", (long long)(res / 3600000));
    else if (res % 60000 == 0)
        snprintf(buf, len, "%lldm", (long long)(res / 60000));
    else
        snprintf(buf, len, "%lldms", (long long)res);
    return buf;
}

static double per(uint64_t bytes, uint64_t samples)
{
    return samples ? (double)bytes / (double)samples : 0.0;
}

static void print_totals(const char *label, const struct totals *t)
{
    /* A series spans several blocks, so the sum of block series counts is not a count of
     * series: totals leave that column empty rather than print a misleading number. */
    printf("%-18s %-5s %-24s %-24s %8s %11" PRIu64 " %7.3f %7.3f %7.3f %7.3f %11" PRIu64
           " %12" PRIu64 " %9" PRIu64 " %12" PRIu64 "\n",
           label, "", "", "", "-", t->samples, per(t->ts_bytes, t->samples),
           per(t->val_bytes, t->samples), per(t->index_bytes, t->samples),
           per(t->all_bytes, t->samples), t->index_bytes, t->all_bytes, t->sketches,
           t->sketch_bytes);
}

static void add_totals(struct totals *t, const struct binfo *bi)
{
    t->blocks++;
    t->samples += bi->m.nsamples;
    t->ts_bytes += bi->ts_bytes;
    t->val_bytes += bi->val_bytes;
    t->index_bytes += bi->m.index_bytes;
    t->all_bytes += bi->m.data_bytes + bi->m.index_bytes;
    t->sketches += bi->m.nsketches;
    t->sketch_bytes += bi->m.sketch_bytes;
}

static const char usage[] = "usage: sluice inspect [--no-head] DIR\n";

int sl_cli_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"no-head", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int no_head = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': no_head = 1; break;
        case 'h': fputs(usage, stdout); return SL_CLI_OK;
        default: fputs(usage, stderr); return SL_CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return SL_CLI_USAGE;
    }
    const char *dir = argv[optind];
    DIR *d = opendir(dir);
    if (!d) {
        sl_cli_err(CMD, "data directory %s: %s", dir,
                   errno == ENOENT ? "does not exist" : strerror(errno));
        return SL_CLI_FAIL;
    }
    struct binfo *bs = NULL;
    size_t nb = 0, cap = 0, ncorrupt = 0, nquarantined = 0, ntmp = 0;
    int status = SL_CLI_OK;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, "b-", 2))
            continue;
        size_t len = strlen(nm);
        if (len > 8 && !strcmp(nm + len - 8, ".corrupt")) {
            printf("quarantined: %s/%s (failed verification earlier; kept for inspection)\n",
                   dir, nm);
            nquarantined++;
            continue;
        }
        if (len > 4 && !strcmp(nm + len - 4, ".tmp")) {
            ntmp++;
            continue;
        }
        if (len >= sizeof bs->name)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        struct sl_block *b;
        int rc = sl_block_open(path, &b);
        struct stat gone;
        if (rc == -ENOENT && stat(path, &gone) < 0 && errno == ENOENT)
            continue; /* removed by a running daemon's compaction since readdir() */
        if (rc) {
            sl_cli_err(CMD, "block %s/data: %s%s", path,
                       rc == SL_E_VERSION ? "format version this build does not read"
                                          : sl_strerror(rc),
                       rc == SL_E_CORRUPT ? " (the error above names the section)" : "");
            ncorrupt++;
            status = SL_CLI_FAIL;
            continue;
        }
        if (nb == cap) {
            cap = cap ? cap * 2 : 16;
            struct binfo *nbs = realloc(bs, cap * sizeof *bs);
            if (!nbs) {
                sl_block_close(b);
                sl_cli_err(CMD, "out of memory");
                status = SL_CLI_FAIL;
                break;
            }
            bs = nbs;
        }
        struct binfo *bi = &bs[nb];
        memset(bi, 0, sizeof *bi);
        memcpy(bi->name, nm, len + 1); /* len < sizeof name, checked above */
        bi->m = *sl_block_meta(b);
        rc = scan_block(b, bi);
        sl_block_close(b);
        if (rc) {
            sl_cli_err(CMD, "block %s/data: reading its chunks failed: %s", path, sl_strerror(rc));
            ncorrupt++;
            status = SL_CLI_FAIL;
            continue;
        }
        nb++;
    }
    closedir(d);
    if (nb)
        qsort(bs, nb, sizeof *bs, binfo_cmp);

    printf("%-18s %-5s %-24s %-24s %8s %11s %7s %7s %7s %7s %11s %12s %9s %12s\n", "BLOCK",
           "TIER", "MIN TIME", "MAX TIME", "SERIES", "SAMPLES", "TS B/S", "VAL B/S", "IDX B/S",
           "ALL B/S", "INDEX BYTES", "TOTAL BYTES", "SKETCHES", "SKETCH BYTES");
    struct totals tier = {0}, all = {0};
    char t1[48], t2[48], tn[32];
    for (size_t i = 0; i < nb; i++) {
        const struct binfo *bi = &bs[i];
        printf("%-18s %-5s %-24s %-24s %8" PRIu64 " %11" PRIu64 " %7.3f %7.3f %7.3f %7.3f %11" PRIu64
               " %12" PRIu64 " %9" PRIu64 " %12" PRIu64 "\n",
               bi->name, tier_name(bi->m.resolution_ms, tn, sizeof tn),
               sl_cli_rfc3339(bi->m.mint, t1, sizeof t1), sl_cli_rfc3339(bi->m.maxt, t2, sizeof t2),
               bi->m.nseries, bi->m.nsamples, per(bi->ts_bytes, bi->m.nsamples),
               per(bi->val_bytes, bi->m.nsamples), per(bi->m.index_bytes, bi->m.nsamples),
               per(bi->m.data_bytes + bi->m.index_bytes, bi->m.nsamples), bi->m.index_bytes,
               bi->m.data_bytes + bi->m.index_bytes, bi->m.nsketches, bi->m.sketch_bytes);
        add_totals(&tier, bi);
        add_totals(&all, bi);
        if (i + 1 == nb || bs[i + 1].m.resolution_ms != bi->m.resolution_ms) {
            char label[48];
            snprintf(label, sizeof label, "total %s (%" PRIu64 ")",
                     tier_name(bi->m.resolution_ms, tn, sizeof tn), tier.blocks);
            print_totals(label, &tier);
            memset(&tier, 0, sizeof tier);
        }
    }
    char label[48];
    snprintf(label, sizeof label, "total (%" PRIu64 ")", all.blocks);
    print_totals(label, &all);
    if (ntmp)
        printf("unfinished block writes: %zu .tmp directories (deleted when the store opens)\n",
               ntmp);

    /* WAL: the segment files' sizes, without reading them. */
    uint64_t wal_bytes = 0, wal_segs = 0;
    snprintf(path, sizeof path, "%s/wal", dir);
    if ((d = opendir(path))) {
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".wal"))
                continue;
            char f[4400];
            struct stat st;
            snprintf(f, sizeof f, "%s/%s", path, e->d_name);
            if (stat(f, &st) == 0) {
                wal_bytes += (uint64_t)st.st_size;
                wal_segs++;
            }
        }
        closedir(d);
    }
    printf("wal: %" PRIu64 " segments, %" PRIu64 " bytes (%s)\n", wal_segs, wal_bytes, path);

    if (no_head) {
        printf("head: not read (--no-head)\n");
    } else if (ncorrupt) {
        printf("head: not read (opening the store would quarantine the corrupt block%s above)\n",
               ncorrupt > 1 ? "s" : "");
    } else {
        struct sl_store *st;
        struct sl_store_cfg cfg;
        sl_store_cfg_defaults(&cfg);
        cfg.dir = dir;
        int rc = sl_store_open(&cfg, &st);
        if (rc == -EBUSY) {
            printf("head: not read (a running sluiced holds %s/LOCK)\n", dir);
        } else if (rc) {
            sl_cli_err(CMD, "opening the store in %s failed: %s", dir, sl_strerror(rc));
            status = SL_CLI_FAIL;
        } else {
            struct sl_store_stats s;
            sl_store_stats(st, &s);
            printf("head: %" PRIu64 " series, %" PRIu64 " samples; WAL replay: %" PRIu64
                   " records, %" PRIu64 " bytes, %" PRIu64 " dropped bytes in %" PRIu64
                   " corrupt segments; %" PRIu64 " pending tombstones; %" PRIu64
                   " timer sketches (%" PRIu64 " bytes)\n",
                   s.head_series, s.head_samples, s.replay.records, s.replay.bytes,
                   s.replay.dropped_bytes, s.replay.corrupt_segments, s.tombstones,
                   s.head_sketches, s.head_sketch_bytes);
            sl_store_close(st);
        }
    }
    if (ncorrupt)
        printf("%zu block(s) failed verification (see the errors above)\n", ncorrupt);
    free(bs);
    return status;
}
