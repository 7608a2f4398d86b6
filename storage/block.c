/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block writer and reader (layout in FORMAT.md, "Blocks").
 *
 * The writer streams chunks to the file through a 1 MiB buffer while it keeps the series
 * section (keys and chunk references) in memory; postings are built at commit by sorting one
 * (label name, label value, series id) triple per label of every series. That sort is the
 * only O(labels log labels) step; for the 1 M-series test it takes about a second.
 *
 * The reader trusts nothing it has not bounds-checked: every varint read is limited to its
 * section, every offset is compared with the section length, so a block whose checksums
 * happen to match but whose contents are inconsistent yields SL_E_CORRUPT, not a fault.
 */
#include "storage/block.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "storage/crc32c.h"

#define BLK_MAGIC "SLBLOCK\0"
#define HDR_LEN 80
#define TOC_MAGIC "SLBT"
#define WBUF (1u << 20)
/* Sketches per sketch chunk: an encoded sketch is at most ~33 KiB (2 x 2048 bins of f64),
 * so a chunk stays under 9 MiB raw; typical latency sketches are a few hundred bytes. */
#define SKETCH_CHUNK_MAX 256

enum {
    SEC_CHUNKS,
    SEC_SERIES,
    SEC_SERIES_OFFS,
    SEC_POSTINGS,
    SEC_POSTINGS_OFFS,
    SEC_SKETCHES,    /* version 3 only */
    SEC_SKETCH_INDEX, /* version 3 only */
    SEC_N
};
#define SEC_N_V1 5
static const char *const sec_name[SEC_N] = {"chunks", "series", "series_offsets", "postings",
                                            "postings_offsets", "sketches", "sketch_index"};

/* Table of contents: 24 bytes per section, then its CRC and magic. Version 1 has five
 * sections (128 bytes), and so has version 2; version 3 adds the two sketch sections (176
 * bytes). */
static size_t toc_len(unsigned nsec)
{
    return 24 * (size_t)nsec + 8;
}
#define TOC_LEN_MAX (24 * SEC_N + 8)

struct sec {
    uint64_t off, len;
    uint32_t crc;
};

struct grow {
    uint8_t *p;
    size_t len, cap;
};

static int grow_need(struct grow *g, size_t extra)
{
    if (g->len + extra <= g->cap)
        return 0;
    size_t nc = g->cap ? g->cap : 4096;
    while (nc < g->len + extra)
        nc *= 2;
    uint8_t *np = realloc(g->p, nc);
    if (!np)
        return -ENOMEM;
    g->p = np;
    g->cap = nc;
    return 0;
}

static int grow_put(struct grow *g, const void *p, size_t n)
{
    if (grow_need(g, n))
        return -ENOMEM;
    memcpy(g->p + g->len, p, n);
    g->len += n;
    return 0;
}

static int grow_varint(struct grow *g, uint64_t v)
{
    if (grow_need(g, 10))
        return -ENOMEM;
    g->len += sl_varint_put(g->p + g->len, v);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- writer ----------------------------------------------------------------------------- */

struct sl_block_writer {
    char *parent, *tmpdir, *finaldir, *file;
    int fd;
    uint8_t *wbuf;
    size_t wlen;
    uint64_t fpos;
    uint32_t crc; /* of the section being written */
    int64_t mint, maxt, res;
    unsigned ncols;
    uint64_t seq, nsamples, nchunks;
    uint32_t src_seq;
    enum sl_codec_lz4 lz4;
    struct grow ser;  /* series section */
    struct grow offs; /* series offsets, u32 each */
    struct grow keys; /* every key, back to back, for the postings */
    struct grow keyoff; /* u32 start of each key in keys, plus its length */
    uint64_t nseries;
    uint8_t *cbuf;
    size_t cbuf_len;
    /* sketches: written after every sample chunk, as their own section */
    int sk_started;
    uint64_t sk_off;          /* start of the sketch section */
    uint32_t chunks_crc;      /* the sample chunk section, closed when sketches start */
    uint64_t chunks_len;
    struct grow skidx;        /* sketch index entries (unpacked) */
    struct grow sklast;       /* key of the last sketch series, for the order check */
    struct grow skraw;        /* one sketch chunk before compression */
    uint64_t sk_nseries, sk_count;
};

static int w_flush(struct sl_block_writer *w)
{
    size_t off = 0;
    while (off < w->wlen) {
        ssize_t r = write(w->fd, w->wbuf + off, w->wlen - off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int rc = -errno;
            SL_ERROR("storage=block event=write_failed file=%s err=\"%s\"", w->file,
                     sl_strerror(rc));
            return rc;
        }
        off += (size_t)r;
    }
    w->wlen = 0;
    return 0;
}

static int w_write(struct sl_block_writer *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    w->crc = sl_crc32c(w->crc, p, n);
    w->fpos += n;
    while (n) {
        size_t room = WBUF - w->wlen, k = n < room ? n : room;
        memcpy(w->wbuf + w->wlen, b, k);
        w->wlen += k;
        b += k;
        n -= k;
        if (w->wlen == WBUF) {
            int rc = w_flush(w);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static void rm_tree_shallow(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/data", dir);
    unlink(p);
    rmdir(dir);
}

void sl_block_writer_abort(struct sl_block_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmpdir)
        rm_tree_shallow(w->tmpdir);
    free(w->parent);
    free(w->tmpdir);
    free(w->finaldir);
    free(w->file);
    free(w->wbuf);
    free(w->ser.p);
    free(w->offs.p);
    free(w->keys.p);
    free(w->keyoff.p);
    free(w->cbuf);
    free(w->skidx.p);
    free(w->sklast.p);
    free(w->skraw.p);
    free(w);
}

int sl_block_writer_create(const char *parent, const char *name, int64_t resolution_ms,
                           unsigned ncols, uint64_t seq, enum sl_codec_lz4 lz4,
                           struct sl_block_writer **out)
{
    if (ncols == 0 || ncols > SL_CODEC_COLS_MAX || resolution_ms < 0)
        return -EINVAL;
    struct sl_block_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    w->ncols = ncols;
    w->res = resolution_ms;
    w->seq = seq;
    w->lz4 = lz4;
    w->mint = INT64_MAX;
    w->maxt = INT64_MIN;
    w->cbuf_len = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, ncols);
    size_t pl = strlen(parent) + strlen(name) + 16;
    w->parent = strdup(parent);
    w->tmpdir = malloc(pl);
    w->finaldir = malloc(pl);
    w->file = malloc(pl + 8);
    w->wbuf = malloc(WBUF);
    w->cbuf = malloc(w->cbuf_len);
    if (!w->parent || !w->tmpdir || !w->finaldir || !w->file || !w->wbuf || !w->cbuf) {
        free(w->tmpdir);
        w->tmpdir = NULL;
        sl_block_writer_abort(w);
        return -ENOMEM;
    }
    snprintf(w->tmpdir, pl, "%s/%s.tmp", parent, name);
    snprintf(w->finaldir, pl, "%s/%s", parent, name);
    snprintf(w->file, pl + 8, "%s/data", w->tmpdir);
    int rc;
    if (mkdir(w->tmpdir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        SL_ERROR("storage=block event=mkdir_failed dir=%s err=\"%s\"", w->tmpdir,
                 sl_strerror(rc));
        free(w->tmpdir);
        w->tmpdir = NULL;
        sl_block_writer_abort(w);
        return rc;
    }
    w->fd = open(w->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = -errno;
        SL_ERROR("storage=block event=open_failed file=%s err=\"%s\"", w->file, sl_strerror(rc));
        sl_block_writer_abort(w);
        return rc;
    }
    uint8_t hdr[HDR_LEN] = {0}; /* rewritten at commit */
    if ((rc = w_write(w, hdr, HDR_LEN))) {
        sl_block_writer_abort(w);
        return rc;
    }
    w->crc = 0; /* the chunk section starts here */
    *out = w;
    return 0;
}

void sl_block_writer_set_source(struct sl_block_writer *w, uint32_t src_seq)
{
    w->src_seq = src_seq;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

int sl_block_writer_add(struct sl_block_writer *w, const char *key, size_t keylen,
                        const int64_t *ts, const double *const *cols, size_t n)
{
    if (n == 0 || keylen == 0 || keylen > UINT32_MAX || w->sk_started)
        return -EINVAL;
    if (w->nseries) {
        const uint8_t *ko = w->keyoff.p + (w->nseries - 1) * 8;
        const char *pk = (const char *)w->keys.p + get32(ko);
        if (key_cmp(pk, get32(ko + 4), key, keylen) >= 0)
            return -EINVAL;
    }
    if (w->ser.len > UINT32_MAX || w->keys.len > UINT32_MAX)
        return -E2BIG;
    uint8_t o[8];
    put32(o, (uint32_t)w->ser.len);
    int rc = grow_put(&w->offs, o, 4);
    put32(o, (uint32_t)w->keys.len);
    put32(o + 4, (uint32_t)keylen);
    rc = rc ? rc : grow_put(&w->keyoff, o, 8);
    rc = rc ? rc : grow_put(&w->keys, key, keylen);
    size_t nch = (n + SL_CODEC_CHUNK_MAX - 1) / SL_CODEC_CHUNK_MAX;
    rc = rc ? rc : grow_varint(&w->ser, keylen);
    rc = rc ? rc : grow_put(&w->ser, key, keylen);
    rc = rc ? rc : grow_varint(&w->ser, nch);
    rc = rc ? rc : grow_varint(&w->ser, w->fpos - HDR_LEN);
    if (rc)
        return rc;
    for (size_t c = 0; c < nch; c++) {
        size_t s = c * SL_CODEC_CHUNK_MAX, m = n - s < SL_CODEC_CHUNK_MAX ? n - s : SL_CODEC_CHUNK_MAX;
        const double *cc[SL_CODEC_COLS_MAX];
        for (unsigned k = 0; k < w->ncols; k++)
            cc[k] = cols[k] + s;
        for (size_t i = s + 1; i < s + m; i++)
            if (ts[i] <= ts[i - 1])
                return -EINVAL;
        int len = sl_codec_chunk_encode(ts + s, cc, w->ncols, m, w->lz4, w->cbuf, w->cbuf_len);
        if (len < 0)
            return len;
        if ((rc = w_write(w, w->cbuf, (size_t)len)))
            return rc;
        int64_t cmin = ts[s], cmax = ts[s + m - 1];
        rc = grow_varint(&w->ser, sl_zigzag(cmin));
        rc = rc ? rc : grow_varint(&w->ser, (uint64_t)(cmax - cmin));
        rc = rc ? rc : grow_varint(&w->ser, (uint64_t)len);
        if (rc)
            return rc;
        if (cmin < w->mint)
            w->mint = cmin;
        if (cmax > w->maxt)
            w->maxt = cmax;
        w->nchunks++;
    }
    w->nsamples += n;
    w->nseries++;
    return 0;
}

/* One sketch chunk of @n entries into the file (format in FORMAT.md, "sketch section"). */
static int write_sketch_chunk(struct sl_block_writer *w, const int64_t *ts,
                              const uint8_t *const *enc, const uint32_t *len, size_t n,
                              uint64_t *clen)
{
    w->skraw.len = 0;
    int64_t prev = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = grow_varint(&w->skraw, sl_zigzag((int64_t)((uint64_t)ts[i] - (uint64_t)prev)));
        rc = rc ? rc : grow_varint(&w->skraw, len[i]);
        rc = rc ? rc : grow_put(&w->skraw, enc[i], len[i]);
        prev = ts[i];
    }
    if (rc)
        return rc;
    uint8_t hdr[24];
    size_t h = sl_varint_put(hdr, n);
    char *z = NULL;
    int zl = 0;
    if (w->lz4 != SL_CODEC_LZ4_OFF && w->skraw.len <= (size_t)LZ4_MAX_INPUT_SIZE) {
        int bound = LZ4_compressBound((int)w->skraw.len);
        if (!(z = malloc((size_t)bound)))
            return -ENOMEM;
        zl = w->lz4 == SL_CODEC_LZ4_HC
                 ? LZ4_compress_HC((const char *)w->skraw.p, z, (int)w->skraw.len, bound, 9)
                 : LZ4_compress_default((const char *)w->skraw.p, z, (int)w->skraw.len, bound);
    }
    uint64_t start = w->fpos;
    if (zl > 0 && (size_t)zl + 10 < w->skraw.len) {
        hdr[h++] = 1;
        h += sl_varint_put(hdr + h, w->skraw.len);
        rc = w_write(w, hdr, h);
        rc = rc ? rc : w_write(w, z, (size_t)zl);
    } else {
        hdr[h++] = 0;
        rc = w_write(w, hdr, h);
        rc = rc ? rc : w_write(w, w->skraw.p, w->skraw.len);
    }
    free(z);
    *clen = w->fpos - start;
    return rc;
}

int sl_block_writer_add_sketches(struct sl_block_writer *w, const char *key, size_t keylen,
                                 const int64_t *ts, const uint8_t *const *enc,
                                 const uint32_t *len, size_t n)
{
    if (n == 0 || keylen == 0 || keylen > UINT32_MAX)
        return -EINVAL;
    if (w->sk_nseries && key_cmp((const char *)w->sklast.p, w->sklast.len, key, keylen) >= 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((i && ts[i] <= ts[i - 1]) || len[i] == 0)
            return -EINVAL;
    if (!w->sk_started) {
        /* the sample chunk section ends here and the sketch section begins */
        w->chunks_len = w->fpos - HDR_LEN;
        w->chunks_crc = w->crc;
        w->sk_off = w->fpos;
        w->crc = 0;
        w->sk_started = 1;
    }
    w->sklast.len = 0;
    int rc = grow_put(&w->sklast, key, keylen);
    size_t nch = (n + SKETCH_CHUNK_MAX - 1) / SKETCH_CHUNK_MAX;
    rc = rc ? rc : grow_varint(&w->skidx, keylen);
    rc = rc ? rc : grow_put(&w->skidx, key, keylen);
    rc = rc ? rc : grow_varint(&w->skidx, nch);
    rc = rc ? rc : grow_varint(&w->skidx, w->fpos - w->sk_off);
    for (size_t c = 0; c < nch && !rc; c++) {
        size_t s0 = c * SKETCH_CHUNK_MAX, m = n - s0 < SKETCH_CHUNK_MAX ? n - s0 : SKETCH_CHUNK_MAX;
        uint64_t clen;
        rc = write_sketch_chunk(w, ts + s0, enc + s0, len + s0, m, &clen);
        int64_t cmin = ts[s0], cmax = ts[s0 + m - 1];
        rc = rc ? rc : grow_varint(&w->skidx, sl_zigzag(cmin));
        rc = rc ? rc : grow_varint(&w->skidx, (uint64_t)(cmax - cmin));
        rc = rc ? rc : grow_varint(&w->skidx, clen);
        if (cmin < w->mint)
            w->mint = cmin;
        if (cmax > w->maxt)
            w->maxt = cmax;
    }
    if (rc)
        return rc;
    w->sk_nseries++;
    w->sk_count += n;
    return 0;
}

struct pair {
    const char *n, *v;
    uint32_t nl, vl, id;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = key_cmp(x->n, x->nl, y->n, y->nl);
    if (!c)
        c = key_cmp(x->v, x->vl, y->v, y->vl);
    if (!c)
        c = (x->id > y->id) - (x->id < y->id);
    return c;
}

/* Write an index section as `u8 codec, varint raw_len, bytes`: LZ4HC (codec 1) when that is
 * smaller, else raw (codec 0). Keys and label strings repeat heavily across series, so this
 * takes the index of a 2 h block of the benchmark from 0.30 to under 0.1 bytes/sample. */
static int write_packed(struct sl_block_writer *w, const uint8_t *p, size_t len, struct sec *sec)
{
    uint8_t hdr[11];
    size_t h = 1 + sl_varint_put(hdr + 1, len);
    int bound = len <= (size_t)LZ4_MAX_INPUT_SIZE ? LZ4_compressBound((int)len) : 0;
    char *z = bound > 0 ? malloc((size_t)bound) : NULL;
    int zl = z ? LZ4_compress_HC((const char *)p, z, (int)len, bound, 9) : 0;
    sec->off = w->fpos;
    w->crc = 0;
    int rc;
    if (zl > 0 && (size_t)zl < len) {
        hdr[0] = 1;
        rc = w_write(w, hdr, h);
        rc = rc ? rc : w_write(w, z, (size_t)zl);
    } else {
        hdr[0] = 0;
        rc = w_write(w, hdr, h);
        rc = rc ? rc : w_write(w, p, len);
    }
    free(z);
    sec->len = w->fpos - sec->off;
    sec->crc = w->crc;
    return rc;
}

static int write_postings(struct sl_block_writer *w, struct sec *post, struct sec *poffs)
{
    size_t cap = 1024, np = 0;
    struct pair *ps = malloc(cap * sizeof *ps);
    if (!ps)
        return -ENOMEM;
    for (uint64_t id = 0; id < w->nseries; id++) {
        const uint8_t *ko = w->keyoff.p + id * 8;
        const char *key = (const char *)w->keys.p + get32(ko);
        size_t kl = get32(ko + 4);
        const char *name;
        size_t nl;
        struct sl_key_iter it;
        sl_key_name(key, kl, &name, &nl, &it);
        struct sl_label l = {"__name__", name, 8, (uint32_t)nl};
        int more = 1;
        while (more) {
            if (np == cap) {
                struct pair *nps = realloc(ps, 2 * cap * sizeof *ps);
                if (!nps) {
                    free(ps);
                    return -ENOMEM;
                }
                ps = nps;
                cap *= 2;
            }
            ps[np++] = (struct pair){l.name, l.value, l.name_len, l.value_len, (uint32_t)id};
            more = sl_key_next_label(&it, &l);
        }
    }
    if (np)
        qsort(ps, np, sizeof *ps, pair_cmp);
    struct grow offs = {0}, pb = {0};
    int rc = 0;
    uint8_t tmp[32];
    for (size_t i = 0; i < np && !rc;) {
        size_t j = i;
        while (j < np && ps[j].nl == ps[i].nl && ps[j].vl == ps[i].vl &&
               memcmp(ps[j].n, ps[i].n, ps[i].nl) == 0 && memcmp(ps[j].v, ps[i].v, ps[i].vl) == 0)
            j++;
        put32(tmp, (uint32_t)pb.len);
        rc = grow_put(&offs, tmp, 4);
        rc = rc ? rc : grow_varint(&pb, ps[i].nl);
        rc = rc ? rc : grow_put(&pb, ps[i].n, ps[i].nl);
        rc = rc ? rc : grow_varint(&pb, ps[i].vl);
        rc = rc ? rc : grow_put(&pb, ps[i].v, ps[i].vl);
        rc = rc ? rc : grow_varint(&pb, j - i);
        uint32_t prev = 0;
        for (size_t k = i; k < j && !rc; k++) {
            rc = grow_varint(&pb, ps[k].id - prev);
            prev = ps[k].id;
        }
        i = j;
    }
    if (!rc && pb.len > UINT32_MAX)
        rc = -E2BIG;
    rc = rc ? rc : write_packed(w, pb.p, pb.len, post);
    if (!rc) {
        poffs->off = w->fpos;
        w->crc = 0;
        rc = w_write(w, offs.p, offs.len);
        poffs->len = offs.len;
        poffs->crc = w->crc;
    }
    free(offs.p);
    free(pb.p);
    free(ps);
    return rc;
}

int sl_block_writer_commit(struct sl_block_writer *w)
{
    struct sec s[SEC_N];
    int rc = 0;
    if (!w->nseries && !w->sk_nseries) {
        sl_block_writer_abort(w);
        return -ENODATA;
    }
    /* Blocks without sketches are version 2, without the sketch sections: plain metrics
     * pay nothing for them. */
    unsigned version = w->sk_nseries ? SL_BLOCK_FORMAT_VERSION_SKETCHES : 2;
    unsigned nsec = w->sk_nseries ? SEC_N : SEC_N_V1;
    if (w->sk_started) {
        s[SEC_CHUNKS] = (struct sec){HDR_LEN, w->chunks_len, w->chunks_crc};
        s[SEC_SKETCHES] = (struct sec){w->sk_off, w->fpos - w->sk_off, w->crc};
    } else {
        s[SEC_CHUNKS] = (struct sec){HDR_LEN, w->fpos - HDR_LEN, w->crc};
    }
    rc = write_packed(w, w->ser.p, w->ser.len, &s[SEC_SERIES]);
    s[SEC_SERIES_OFFS].off = w->fpos;
    w->crc = 0;
    rc = rc ? rc : w_write(w, w->offs.p, w->offs.len);
    s[SEC_SERIES_OFFS].len = w->offs.len;
    s[SEC_SERIES_OFFS].crc = w->crc;
    rc = rc ? rc : write_postings(w, &s[SEC_POSTINGS], &s[SEC_POSTINGS_OFFS]);
    if (!rc && w->sk_nseries) {
        /* sketch index: `varint nseries, varint nsketches`, then the entries */
        struct grow ix = {0};
        rc = grow_varint(&ix, w->sk_nseries);
        rc = rc ? rc : grow_varint(&ix, w->sk_count);
        rc = rc ? rc : grow_put(&ix, w->skidx.p, w->skidx.len);
        if (!rc && ix.len > UINT32_MAX)
            rc = -E2BIG;
        rc = rc ? rc : write_packed(w, ix.p, ix.len, &s[SEC_SKETCH_INDEX]);
        free(ix.p);
    }
    if (rc)
        goto fail;
    uint8_t toc[TOC_LEN_MAX] = {0};
    size_t tl = toc_len(nsec);
    for (unsigned i = 0; i < nsec; i++) {
        put64(toc + 24 * i, s[i].off);
        put64(toc + 24 * i + 8, s[i].len);
        put32(toc + 24 * i + 16, s[i].crc);
    }
    put32(toc + tl - 8, sl_crc32c(0, toc, tl - 8));
    memcpy(toc + tl - 4, TOC_MAGIC, 4);
    if ((rc = w_write(w, toc, tl)) || (rc = w_flush(w)))
        goto fail;
    uint8_t hdr[HDR_LEN] = {0};
    memcpy(hdr, BLK_MAGIC, 8);
    put32(hdr + 8, version);
    put32(hdr + 12, w->ncols);
    put64(hdr + 16, (uint64_t)w->mint);
    put64(hdr + 24, (uint64_t)w->maxt);
    put64(hdr + 32, (uint64_t)w->res);
    put64(hdr + 40, w->seq);
    put64(hdr + 48, w->nsamples);
    put64(hdr + 56, w->nseries);
    put64(hdr + 64, w->nchunks);
    put32(hdr + 72, w->src_seq);
    put32(hdr + 76, sl_crc32c(0, hdr, 76));
    if (pwrite(w->fd, hdr, HDR_LEN, 0) != HDR_LEN) {
        rc = errno ? -errno : -EIO;
        SL_ERROR("storage=block event=write_failed file=%s err=\"%s\"", w->file, sl_strerror(rc));
        goto fail;
    }
    if (fdatasync(w->fd) < 0 || (rc = fsync_path(w->tmpdir))) {
        rc = rc ? rc : -errno;
        SL_ERROR("storage=block event=fsync_failed file=%s err=\"%s\"", w->file, sl_strerror(rc));
        goto fail;
    }
    if (rename(w->tmpdir, w->finaldir) < 0) {
        rc = -errno;
        SL_ERROR("storage=block event=rename_failed dir=%s err=\"%s\"", w->tmpdir,
                 sl_strerror(rc));
        goto fail;
    }
    free(w->tmpdir);
    w->tmpdir = NULL; /* published: abort must not remove it */
    if ((rc = fsync_path(w->parent)))
        SL_ERROR("storage=block event=fsync_failed dir=%s err=\"%s\"", w->parent,
                 sl_strerror(rc));
    sl_block_writer_abort(w);
    return rc;
fail:
    sl_block_writer_abort(w);
    return rc;
}

/* ---- reader ----------------------------------------------------------------------------- */

struct sl_block {
    char *dir;
    const uint8_t *map;
    size_t maplen;
    struct sl_block_meta meta;
    const uint8_t *sec[SEC_N];
    size_t seclen[SEC_N];
    uint8_t *unpacked[SEC_N]; /* OWNED: decompressed index sections */
    size_t nentries;
    uint32_t *skoffs; /* OWNED: offset of each sketch index entry (built at open) */
};

/* Replace packed section @i (see write_packed) by its contents. */
static int unpack(struct sl_block *b, int i)
{
    const uint8_t *p = b->sec[i], *end = p + b->seclen[i];
    uint64_t raw;
    size_t m;
    if (b->seclen[i] < 2 || p[0] > 1 || !(m = sl_varint_get(p + 1, end, &raw)))
        return SL_E_CORRUPT;
    const uint8_t *body = p + 1 + m;
    size_t blen = (size_t)(end - body);
    if (p[0] == 0) {
        if (raw != blen)
            return SL_E_CORRUPT;
        b->sec[i] = body;
        b->seclen[i] = blen;
        return 0;
    }
    /* lz4 never expands more than 255x: a larger claim is corrupt, not a reason to allocate */
    if (raw == 0 || raw > (uint64_t)blen * 255 + 16 || raw > (uint64_t)LZ4_MAX_INPUT_SIZE ||
        blen > (size_t)INT_MAX)
        return SL_E_CORRUPT;
    uint8_t *u = malloc((size_t)raw);
    if (!u)
        return -ENOMEM;
    if (LZ4_decompress_safe((const char *)body, (char *)u, (int)blen, (int)raw) != (int)raw) {
        free(u);
        return SL_E_CORRUPT;
    }
    b->unpacked[i] = u;
    b->sec[i] = u;
    b->seclen[i] = (size_t)raw;
    return 0;
}

void sl_block_close(struct sl_block *b)
{
    if (!b)
        return;
    if (b->map)
        munmap((void *)b->map, b->maplen);
    for (int i = 0; i < SEC_N; i++)
        free(b->unpacked[i]);
    free(b->skoffs);
    free(b->dir);
    free(b);
}

const struct sl_block_meta *sl_block_meta(const struct sl_block *b)
{
    return &b->meta;
}

const char *sl_block_dir(const struct sl_block *b)
{
    return b->dir;
}

/* Walk the unpacked sketch index once: check every entry's bounds and note its offset, so
 * lookups binary-search like the series section does with its offset table. */
static int sketch_index_load(struct sl_block *b)
{
    const uint8_t *base = b->sec[SEC_SKETCH_INDEX], *p = base, *end = p + b->seclen[SEC_SKETCH_INDEX];
    uint64_t ns, nsk, total = 0;
    size_t m;
    if (!(m = sl_varint_get(p, end, &ns)) || ns > (uint64_t)(end - p))
        return SL_E_CORRUPT;
    p += m;
    if (!(m = sl_varint_get(p, end, &nsk)))
        return SL_E_CORRUPT;
    p += m;
    if (!(b->skoffs = malloc((ns + 1) * sizeof *b->skoffs)))
        return -ENOMEM;
    const size_t clen = b->seclen[SEC_SKETCHES];
    for (uint64_t i = 0; i < ns; i++) {
        b->skoffs[i] = (uint32_t)(p - base);
        uint64_t kl, nch, coff;
        if (!(m = sl_varint_get(p, end, &kl)) || kl == 0 || kl > (uint64_t)(end - p - (ptrdiff_t)m))
            return SL_E_CORRUPT;
        p += m + kl;
        if (!(m = sl_varint_get(p, end, &nch)) || nch == 0 || nch > INT_MAX)
            return SL_E_CORRUPT;
        p += m;
        if (!(m = sl_varint_get(p, end, &coff)))
            return SL_E_CORRUPT;
        p += m;
        int64_t prev_max = 0;
        for (uint64_t c = 0; c < nch; c++) {
            uint64_t zmin, span, len;
            size_t m1, m2, m3;
            if (!(m1 = sl_varint_get(p, end, &zmin)) ||
                !(m2 = sl_varint_get(p + m1, end, &span)) ||
                !(m3 = sl_varint_get(p + m1 + m2, end, &len)))
                return SL_E_CORRUPT;
            p += m1 + m2 + m3;
            if (coff > clen || len > clen - coff)
                return SL_E_CORRUPT;
            /* chunks in strictly increasing, non-overlapping time ranges: readers rely on
             * a series' sketches coming out in time order */
            int64_t cmin = sl_unzigzag(zmin);
            if (span > (uint64_t)INT64_MAX - (uint64_t)(cmin < 0 ? 0 : cmin) ||
                (c && cmin <= prev_max))
                return SL_E_CORRUPT;
            prev_max = (int64_t)((uint64_t)cmin + span);
            coff += len;
            total++;
        }
    }
    if (p != end || total > nsk)
        return SL_E_CORRUPT;
    b->meta.nsketch_series = ns;
    b->meta.nsketches = nsk;
    return 0;
}

int sl_block_open(const char *dir, struct sl_block **out)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/data", dir);
    struct sl_block *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        return -ENOMEM;
    }
    int rc = 0;
    const char *why = NULL;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        SL_ERROR("storage=block event=open_failed file=%s err=\"%s\"", file, sl_strerror(rc));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        goto fail;
    }
    if ((size_t)st.st_size < HDR_LEN + toc_len(SEC_N_V1)) {
        close(fd);
        why = "file too short";
        goto corrupt;
    }
    b->maplen = (size_t)st.st_size;
    void *m = mmap(NULL, b->maplen, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rc = -errno;
        SL_ERROR("storage=block event=mmap_failed file=%s err=\"%s\"", file, sl_strerror(rc));
        goto fail;
    }
    b->map = m;
    const uint8_t *h = b->map;
    if (memcmp(h, BLK_MAGIC, 8) != 0) {
        why = "bad magic";
        goto corrupt;
    }
    uint32_t version = get32(h + 8);
    if (version < SL_BLOCK_FORMAT_VERSION_MIN || version > SL_BLOCK_FORMAT_VERSION) {
        SL_ERROR("storage=block event=foreign_version file=%s version=%u want=%u..%u", file,
                 version, SL_BLOCK_FORMAT_VERSION_MIN, SL_BLOCK_FORMAT_VERSION);
        rc = SL_E_VERSION;
        goto fail;
    }
    if (get32(h + 76) != sl_crc32c(0, h, 76)) {
        why = "header checksum";
        goto corrupt;
    }
    unsigned nsec = version >= SL_BLOCK_FORMAT_VERSION_SKETCHES ? SEC_N : SEC_N_V1;
    size_t tl = toc_len(nsec);
    if (b->maplen < HDR_LEN + tl) {
        why = "file too short";
        goto corrupt;
    }
    const uint8_t *toc = b->map + b->maplen - tl;
    if (memcmp(toc + tl - 4, TOC_MAGIC, 4) != 0 ||
        get32(toc + tl - 8) != sl_crc32c(0, toc, tl - 8)) {
        why = "table of contents checksum";
        goto corrupt;
    }
    b->meta.ncols = get32(h + 12);
    b->meta.mint = (int64_t)get64(h + 16);
    b->meta.maxt = (int64_t)get64(h + 24);
    b->meta.resolution_ms = (int64_t)get64(h + 32);
    b->meta.seq = get64(h + 40);
    b->meta.nsamples = get64(h + 48);
    b->meta.nseries = get64(h + 56);
    b->meta.nchunks = get64(h + 64);
    b->meta.src_seq = get32(h + 72);
    if (b->meta.ncols == 0 || b->meta.ncols > SL_CODEC_COLS_MAX || b->meta.nseries > UINT32_MAX) {
        why = "header fields";
        goto corrupt;
    }
    size_t limit = b->maplen - tl;
    for (unsigned i = 0; i < nsec; i++) {
        uint64_t off = get64(toc + 24 * i), len = get64(toc + 24 * i + 8);
        if (off < HDR_LEN || off > limit || len > limit - off) {
            why = sec_name[i];
            goto corrupt;
        }
        b->sec[i] = b->map + off;
        b->seclen[i] = (size_t)len;
        if (sl_crc32c(0, b->sec[i], len) != get32(toc + 24 * i + 16)) {
            why = sec_name[i];
            goto corrupt;
        }
    }
    if (b->seclen[SEC_SERIES_OFFS] != b->meta.nseries * 4 || b->seclen[SEC_POSTINGS_OFFS] % 4) {
        why = "offset tables";
        goto corrupt;
    }
    b->nentries = b->seclen[SEC_POSTINGS_OFFS] / 4;
    b->meta.index_bytes = b->seclen[SEC_SERIES] + b->seclen[SEC_SERIES_OFFS] +
                          b->seclen[SEC_POSTINGS] + b->seclen[SEC_POSTINGS_OFFS];
    if (nsec > SEC_SKETCHES)
        b->meta.sketch_bytes = b->seclen[SEC_SKETCHES] + b->seclen[SEC_SKETCH_INDEX];
    b->meta.data_bytes = b->maplen - b->meta.index_bytes - b->meta.sketch_bytes;
    if ((rc = unpack(b, SEC_SERIES)))
        why = "series (unpack)";
    else if ((rc = unpack(b, SEC_POSTINGS)))
        why = "postings (unpack)";
    else if (nsec > SEC_SKETCHES && (rc = unpack(b, SEC_SKETCH_INDEX)))
        why = "sketch_index (unpack)";
    else if (nsec > SEC_SKETCHES && (rc = sketch_index_load(b)))
        why = "sketch_index";
    if (rc == SL_E_CORRUPT)
        goto corrupt;
    if (rc)
        goto fail;
    *out = b;
    return 0;
corrupt:
    SL_ERROR("storage=block event=corrupt file=%s section=\"%s\"", file, why);
    rc = SL_E_CORRUPT;
fail:
    sl_block_close(b);
    return rc;
}

/* Parse postings entry @i: label name/value and the start of its id list. */
struct entry {
    const char *n, *v;
    size_t nl, vl;
    uint64_t count;
    const uint8_t *ids, *end;
};

static int entry_at(const struct sl_block *b, size_t i, struct entry *e)
{
    const uint8_t *base = b->sec[SEC_POSTINGS], *end = base + b->seclen[SEC_POSTINGS];
    uint32_t off = get32(b->sec[SEC_POSTINGS_OFFS] + 4 * i);
    if (off >= b->seclen[SEC_POSTINGS])
        return SL_E_CORRUPT;
    const uint8_t *p = base + off;
    uint64_t v;
    size_t m;
    if (!(m = sl_varint_get(p, end, &v)) || v > (uint64_t)(end - p - (ptrdiff_t)m))
        return SL_E_CORRUPT;
    p += m;
    e->n = (const char *)p;
    e->nl = (size_t)v;
    p += v;
    if (!(m = sl_varint_get(p, end, &v)) || v > (uint64_t)(end - p - (ptrdiff_t)m))
        return SL_E_CORRUPT;
    p += m;
    e->v = (const char *)p;
    e->vl = (size_t)v;
    p += v;
    if (!(m = sl_varint_get(p, end, &e->count)) || e->count > b->meta.nseries)
        return SL_E_CORRUPT;
    e->ids = p + m;
    e->end = end;
    return 0;
}

/* Append the ids of @e to @out (growable). */
static int entry_ids(const struct sl_block *b, const struct entry *e, uint32_t **out, size_t *n,
                     size_t *cap)
{
    if (*n + e->count > *cap) {
        size_t nc = (*n + e->count) * 2 + 16;
        uint32_t *np = realloc(*out, nc * sizeof *np);
        if (!np)
            return -ENOMEM;
        *out = np;
        *cap = nc;
    }
    const uint8_t *p = e->ids;
    uint64_t id = 0;
    for (uint64_t k = 0; k < e->count; k++) {
        uint64_t d;
        size_t m = sl_varint_get(p, e->end, &d);
        if (!m)
            return SL_E_CORRUPT;
        p += m;
        id += d;
        if (id >= b->meta.nseries)
            return SL_E_CORRUPT;
        (*out)[(*n)++] = (uint32_t)id;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t sort_unique(uint32_t *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, cmp_u32);
    size_t o = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[o - 1])
            v[o++] = v[i];
    return o;
}

/* First entry whose name is >= (@upper: >) @name. */
static int name_bound(const struct sl_block *b, const char *name, size_t nl, int upper,
                      size_t *out)
{
    size_t lo = 0, hi = b->nentries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct entry e;
        int rc = entry_at(b, mid, &e);
        if (rc)
            return rc;
        int c = key_cmp(e.n, e.nl, name, nl);
        if (c < 0 || (upper && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

/* Ids of series whose value of matcher @i's label satisfies it. */
static int select_one(const struct sl_block *b, const struct sl_matchers *ms, size_t i,
                      uint32_t **out, size_t *n)
{
    const struct sl_store_matcher *m = sl_matchers_get(ms, i);
    size_t nl = strlen(m->name), lo, hi;
    int rc = name_bound(b, m->name, nl, 0, &lo);
    rc = rc ? rc : name_bound(b, m->name, nl, 1, &hi);
    if (rc)
        return rc;
    uint32_t *ids = NULL, *have = NULL;
    size_t nids = 0, cap = 0, nhave = 0, hcap = 0;
    int absent_ok = sl_matchers_value_ok(ms, i, "", 0);
    for (size_t k = lo; k < hi && !rc; k++) {
        struct entry e;
        if ((rc = entry_at(b, k, &e)))
            break;
        if (sl_matchers_value_ok(ms, i, e.v, e.vl))
            rc = entry_ids(b, &e, &ids, &nids, &cap);
        if (!rc && absent_ok)
            rc = entry_ids(b, &e, &have, &nhave, &hcap);
    }
    if (!rc && absent_ok) {
        /* series without the label: every id not in @have */
        nhave = sort_unique(have, nhave);
        size_t extra = b->meta.nseries - nhave;
        if (nids + extra > cap) {
            uint32_t *np = realloc(ids, (nids + extra + 1) * sizeof *np);
            if (!np)
                rc = -ENOMEM;
            else
                ids = np;
        }
        for (uint32_t id = 0, h = 0; !rc && id < b->meta.nseries; id++) {
            while (h < nhave && have[h] < id)
                h++;
            if (h < nhave && have[h] == id)
                continue;
            ids[nids++] = id;
        }
    }
    free(have);
    if (rc) {
        free(ids);
        return rc;
    }
    *n = sort_unique(ids, nids);
    *out = ids;
    return 0;
}

int sl_block_select(const struct sl_block *b, const struct sl_matchers *ms, uint32_t **ids,
                    size_t *n)
{
    size_t nm = sl_matchers_count(ms);
    uint32_t *acc = NULL;
    size_t nacc = 0;
    if (nm == 0) {
        nacc = b->meta.nseries;
        acc = malloc((nacc + 1) * sizeof *acc);
        if (!acc)
            return -ENOMEM;
        for (size_t i = 0; i < nacc; i++)
            acc[i] = (uint32_t)i;
    }
    for (size_t i = 0; i < nm; i++) {
        uint32_t *s;
        size_t ns;
        int rc = select_one(b, ms, i, &s, &ns);
        if (rc) {
            free(acc);
            return rc;
        }
        if (i == 0) {
            acc = s;
            nacc = ns;
        } else {
            size_t o = 0, x = 0, y = 0;
            while (x < nacc && y < ns) {
                if (acc[x] < s[y])
                    x++;
                else if (acc[x] > s[y])
                    y++;
                else {
                    acc[o++] = acc[x];
                    x++;
                    y++;
                }
            }
            nacc = o;
            free(s);
        }
        if (nacc == 0)
            break;
    }
    if (nacc == 0) {
        free(acc);
        acc = NULL;
    }
    *ids = acc;
    *n = nacc;
    return 0;
}

int sl_block_series(const struct sl_block *b, uint32_t id, const char **key, size_t *keylen,
                    struct sl_block_chunk *chunks, size_t cap)
{
    if (id >= b->meta.nseries)
        return -EINVAL;
    const uint8_t *base = b->sec[SEC_SERIES], *end = base + b->seclen[SEC_SERIES];
    uint32_t off = get32(b->sec[SEC_SERIES_OFFS] + 4 * (size_t)id);
    if (off >= b->seclen[SEC_SERIES])
        return SL_E_CORRUPT;
    const uint8_t *p = base + off;
    uint64_t kl, nch, coff;
    size_t m;
    if (!(m = sl_varint_get(p, end, &kl)) || kl == 0 || kl > (uint64_t)(end - p - (ptrdiff_t)m))
        return SL_E_CORRUPT;
    p += m;
    *key = (const char *)p;
    *keylen = (size_t)kl;
    p += kl;
    if (!(m = sl_varint_get(p, end, &nch)) || nch > INT_MAX)
        return SL_E_CORRUPT;
    p += m;
    if (!(m = sl_varint_get(p, end, &coff)))
        return SL_E_CORRUPT;
    p += m;
    const size_t clen = b->seclen[SEC_CHUNKS];
    for (uint64_t c = 0; c < nch; c++) {
        uint64_t zmin, span, len;
        size_t m1, m2, m3;
        if (!(m1 = sl_varint_get(p, end, &zmin)) ||
            !(m2 = sl_varint_get(p + m1, end, &span)) ||
            !(m3 = sl_varint_get(p + m1 + m2, end, &len)))
            return SL_E_CORRUPT;
        p += m1 + m2 + m3;
        if (coff > clen || len > clen - coff)
            return SL_E_CORRUPT;
        if (c < cap) {
            chunks[c].mint = sl_unzigzag(zmin);
            chunks[c].maxt = (int64_t)((uint64_t)chunks[c].mint + span);
            chunks[c].p = b->sec[SEC_CHUNKS] + coff;
            chunks[c].len = (size_t)len;
        }
        coff += len;
    }
    return (int)nch;
}

int sl_block_find(const struct sl_block *b, const char *key, size_t keylen, uint32_t *id)
{
    size_t lo = 0, hi = b->meta.nseries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k;
        size_t kl;
        int rc = sl_block_series(b, (uint32_t)mid, &k, &kl, NULL, 0);
        if (rc < 0)
            return rc;
        int c = key_cmp(k, kl, key, keylen);
        if (c == 0) {
            *id = (uint32_t)mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

/* ---- sketches ------------------------------------------------------------------------ */

int sl_block_sketch_series(const struct sl_block *b, uint32_t id, const char **key,
                           size_t *keylen, struct sl_block_chunk *chunks, size_t cap)
{
    if (id >= b->meta.nsketch_series)
        return -EINVAL;
    const uint8_t *base = b->sec[SEC_SKETCH_INDEX], *end = base + b->seclen[SEC_SKETCH_INDEX];
    const uint8_t *p = base + b->skoffs[id];
    uint64_t kl, nch, coff;
    /* bounds were checked by sketch_index_load(); varints are re-read with the same limits */
    size_t m = sl_varint_get(p, end, &kl);
    p += m;
    *key = (const char *)p;
    *keylen = (size_t)kl;
    p += kl;
    p += sl_varint_get(p, end, &nch);
    p += sl_varint_get(p, end, &coff);
    for (uint64_t c = 0; c < nch; c++) {
        uint64_t zmin, span, len;
        p += sl_varint_get(p, end, &zmin);
        p += sl_varint_get(p, end, &span);
        p += sl_varint_get(p, end, &len);
        if (c < cap) {
            chunks[c].mint = sl_unzigzag(zmin);
            chunks[c].maxt = (int64_t)((uint64_t)chunks[c].mint + span);
            chunks[c].p = b->sec[SEC_SKETCHES] + coff;
            chunks[c].len = (size_t)len;
        }
        coff += len;
    }
    return (int)nch;
}

int sl_block_sketch_find(const struct sl_block *b, const char *key, size_t keylen, uint32_t *id)
{
    size_t lo = 0, hi = b->meta.nsketch_series;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k;
        size_t kl;
        sl_block_sketch_series(b, (uint32_t)mid, &k, &kl, NULL, 0);
        int c = key_cmp(k, kl, key, keylen);
        if (c == 0) {
            *id = (uint32_t)mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

int sl_sketch_run_push(struct sl_sketch_run *r, int64_t t, const uint8_t *enc, uint32_t len)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        int64_t *nt = realloc(r->t, nc * sizeof *nt);
        if (!nt)
            return -ENOMEM;
        r->t = nt;
        const uint8_t **ne = realloc(r->enc, nc * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        r->enc = ne;
        uint32_t *nl = realloc(r->len, nc * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        r->len = nl;
        r->cap = nc;
    }
    r->t[r->n] = t;
    r->enc[r->n] = enc;
    r->len[r->n] = len;
    r->n++;
    return 0;
}

/* Decode sketch chunk @c, appending the entries in [mint, maxt] to @r. Every timestamp must
 * lie in the chunk's range from the index, which keeps a series in time order. */
static int sketch_chunk_read(const struct sl_block_chunk *c, int64_t mint, int64_t maxt,
                             struct sl_sketch_run *r)
{
    const uint8_t *p = c->p;
    size_t len = c->len;
    const uint8_t *end = p + len;
    uint64_t n, raw;
    size_t m;
    if (!(m = sl_varint_get(p, end, &n)) || n == 0 || n > SKETCH_CHUNK_MAX || m >= len)
        return SL_E_CORRUPT;
    p += m;
    uint8_t flags = *p++;
    if (flags > 1)
        return SL_E_CORRUPT;
    if (flags & 1) {
        if (!(m = sl_varint_get(p, end, &raw)))
            return SL_E_CORRUPT;
        p += m;
        size_t blen = (size_t)(end - p);
        if (raw == 0 || raw > (uint64_t)blen * 255 + 16 || raw > (uint64_t)LZ4_MAX_INPUT_SIZE ||
            blen > (size_t)INT_MAX)
            return SL_E_CORRUPT;
        if (r->nbufs == r->bufcap) {
            size_t nc = r->bufcap ? r->bufcap * 2 : 8;
            uint8_t **nb = realloc(r->bufs, nc * sizeof *nb);
            if (!nb)
                return -ENOMEM;
            r->bufs = nb;
            r->bufcap = nc;
        }
        uint8_t *u = malloc((size_t)raw);
        if (!u)
            return -ENOMEM;
        if (LZ4_decompress_safe((const char *)p, (char *)u, (int)blen, (int)raw) != (int)raw) {
            free(u);
            return SL_E_CORRUPT;
        }
        r->bufs[r->nbufs++] = u;
        p = u;
        end = u + raw;
    }
    int64_t t = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t zd, l;
        if (!(m = sl_varint_get(p, end, &zd)))
            return SL_E_CORRUPT;
        p += m;
        if (!(m = sl_varint_get(p, end, &l)) || l == 0 || l > (uint64_t)(end - p - (ptrdiff_t)m))
            return SL_E_CORRUPT;
        p += m;
        int64_t nt = (int64_t)((uint64_t)t + (uint64_t)sl_unzigzag(zd));
        if ((i && nt <= t) || nt < c->mint || nt > c->maxt)
            return SL_E_CORRUPT;
        t = nt;
        if (t >= mint && t <= maxt) {
            int rc = sl_sketch_run_push(r, t, p, (uint32_t)l);
            if (rc)
                return rc;
        }
        p += l;
    }
    return p == end ? 0 : SL_E_CORRUPT;
}

int sl_block_sketch_read(const struct sl_block *b, uint32_t id, int64_t mint, int64_t maxt,
                         struct sl_sketch_run *r)
{
    struct sl_block_chunk stack[8], *ch = stack;
    const char *key;
    size_t kl;
    int nch = sl_block_sketch_series(b, id, &key, &kl, ch, 8);
    if (nch > 8) {
        if (!(ch = malloc((size_t)nch * sizeof *ch)))
            return -ENOMEM;
        nch = sl_block_sketch_series(b, id, &key, &kl, ch, (size_t)nch);
    }
    int rc = nch < 0 ? nch : 0;
    for (int c = 0; c < nch && !rc; c++) {
        if (ch[c].maxt < mint || ch[c].mint > maxt)
            continue;
        rc = sketch_chunk_read(&ch[c], mint, maxt, r);
    }
    if (rc == SL_E_CORRUPT)
        SL_ERROR("storage=block event=sketch_chunk_corrupt dir=%s series=%u", b->dir, id);
    if (ch != stack)
        free(ch);
    return rc;
}

void sl_sketch_run_fini(struct sl_sketch_run *r)
{
    for (size_t i = 0; i < r->nbufs; i++)
        free(r->bufs[i]);
    free(r->bufs);
    free(r->t);
    free(r->enc);
    free(r->len);
    memset(r, 0, sizeof *r);
}
