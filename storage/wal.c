/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WAL segments (layout in FORMAT.md, "WAL"). Each segment is read whole into memory during
 * replay: segments are bounded by segment_bytes (64 MiB default) and replay happens once at
 * start, so a simple read beats an mmap that a concurrent truncation could turn into SIGBUS.
 *
 * Why continue past a corrupt segment instead of stopping like Prometheus does: a segment is
 * only ever corrupt at its tail after a crash (earlier bytes were fsynced before any later
 * append was acknowledged), so later segments hold acknowledged data that must not be lost.
 */
#include "storage/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "storage/crc32c.h"

#define SEG_MAGIC "SLWAL\0\0\0"
#define SEG_HDR 16
#define REC_HDR 9

struct sl_wal {
    char *dir;
    int dirfd;
    int fd;
    uint32_t seg;
    uint64_t seg_size;
    int broken; /* a failed append could not be cut off: rotate before the next one */
    struct sl_wal_cfg cfg;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(const struct sl_wal *w, uint32_t seg, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%08u.wal", w->dir, seg);
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t r = write(fd, b, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int seg_create(struct sl_wal *w, uint32_t seg)
{
    char path[4096];
    seg_path(w, seg, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        SL_ERROR("storage=wal event=create_failed file=%s err=\"%s\"", path, sl_strerror(rc));
        return rc;
    }
    uint8_t hdr[SEG_HDR];
    memcpy(hdr, SEG_MAGIC, 8);
    put32(hdr + 8, SL_WAL_FORMAT_VERSION);
    put32(hdr + 12, sl_crc32c(0, hdr, 12));
    int rc = write_all(fd, hdr, sizeof hdr);
    if (!rc && fdatasync(fd) < 0)
        rc = -errno;
    if (!rc && fsync(w->dirfd) < 0) /* the new name must survive a crash too */
        rc = -errno;
    if (rc) {
        SL_ERROR("storage=wal event=create_failed file=%s err=\"%s\"", path, sl_strerror(rc));
        close(fd);
        unlink(path);
        return rc;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->seg = seg;
    w->seg_size = SEG_HDR;
    w->broken = 0;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorted segment numbers in the directory. @return count or -errno. */
static int list_segments(struct sl_wal *w, uint32_t **out)
{
    DIR *d = opendir(w->dir);
    if (!d)
        return -errno;
    size_t n = 0, cap = 16;
    uint32_t *v = malloc(cap * sizeof *v);
    if (!v) {
        closedir(d);
        return -ENOMEM;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned seg;
        char tail[8];
        if (strlen(e->d_name) != 12 || sscanf(e->d_name, "%8u.%3s", &seg, tail) != 2 ||
            strcmp(tail, "wal") != 0)
            continue;
        if (n == cap) {
            uint32_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[n++] = seg;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_u32);
    *out = v;
    return (int)n;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
}

/* Is there a well-formed record at @p? Returns its total size or 0. */
static size_t rec_ok(const uint8_t *p, size_t left)
{
    if (left < REC_HDR)
        return 0;
    uint32_t len = get32(p);
    if (len > SL_WAL_RECORD_MAX || len > left - REC_HDR)
        return 0;
    if (sl_crc32c(0, p + 8, (size_t)len + 1) != get32(p + 4))
        return 0;
    return REC_HDR + (size_t)len;
}

static int replay_segment(struct sl_wal *w, uint32_t seg, sl_wal_replay_fn *fn, void *ctx,
                          struct sl_wal_replay_stats *st, int *empty)
{
    char path[4096];
    seg_path(w, seg, path, sizeof path);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc) {
        SL_ERROR("storage=wal event=read_failed file=%s err=\"%s\"", path, sl_strerror(rc));
        return rc;
    }
    *empty = 1;
    size_t off = 0, good_end = 0;
    uint64_t recs = 0;
    if (len >= SEG_HDR && memcmp(buf, SEG_MAGIC, 8) == 0 &&
        get32(buf + 12) == sl_crc32c(0, buf, 12)) {
        /* every earlier version is a subset of this one (version 2 only added a record
         * type), so old segments replay as they are */
        if (get32(buf + 8) < 1 || get32(buf + 8) > SL_WAL_FORMAT_VERSION) {
            SL_ERROR("storage=wal event=foreign_version file=%s version=%u want=1..%u", path,
                     get32(buf + 8), SL_WAL_FORMAT_VERSION);
            free(buf);
            return SL_E_VERSION;
        }
        off = good_end = SEG_HDR;
        size_t r;
        while ((r = rec_ok(buf + off, len - off))) {
            rc = fn ? fn(ctx, seg, buf[off + 8], buf + off + REC_HDR, r - REC_HDR) : 0;
            if (rc) {
                free(buf);
                return rc;
            }
            off += r;
            recs++;
        }
        good_end = off;
    }
    st->segments++;
    st->records += recs;
    st->bytes += good_end;
    if (good_end < len) {
        /* Count what is lost: the bad record, plus any well-formed ones we can still step
         * over after it (only possible when the damage is a flipped byte, not a torn write). */
        uint64_t lost = 1;
        if (len - good_end >= REC_HDR) {
            size_t p = good_end + REC_HDR + get32(buf + good_end);
            size_t r;
            while (p < len && p > good_end && (r = rec_ok(buf + p, len - p))) {
                lost++;
                p += r;
            }
        }
        uint64_t dropped = len - good_end;
        st->dropped_bytes += dropped;
        st->dropped_records += lost;
        st->corrupt_segments++;
        SL_WARN("storage=wal event=torn_tail file=%s offset=%zu dropped_bytes=%llu "
                "dropped_records=%llu", path, good_end, (unsigned long long)dropped,
                (unsigned long long)lost);
        if (good_end == 0) {
            /* not even a valid header: the segment was being created when we crashed */
            if (unlink(path) < 0)
                rc = -errno;
        } else if (truncate(path, (off_t)good_end) < 0) {
            rc = -errno;
        }
        if (rc)
            SL_ERROR("storage=wal event=truncate_failed file=%s err=\"%s\"", path,
                     sl_strerror(rc));
    }
    *empty = recs == 0;
    free(buf);
    return rc;
}

int sl_wal_open(const struct sl_wal_cfg *cfg, sl_wal_replay_fn *fn, void *ctx,
                struct sl_wal_replay_stats *st, struct sl_wal **out)
{
    struct sl_wal_replay_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    struct sl_wal *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    w->dirfd = -1;
    w->cfg = *cfg;
    if (!w->cfg.segment_bytes)
        w->cfg.segment_bytes = 64u << 20;
    uint32_t *segs = NULL;
    int rc = 0;
    if (!(w->dir = strdup(cfg->dir))) {
        rc = -ENOMEM;
        goto fail;
    }
    if (mkdir(w->dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        SL_ERROR("storage=wal event=mkdir_failed dir=%s err=\"%s\"", w->dir, sl_strerror(rc));
        goto fail;
    }
    if ((w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = -errno;
        SL_ERROR("storage=wal event=open_failed dir=%s err=\"%s\"", w->dir, sl_strerror(rc));
        goto fail;
    }
    int n = list_segments(w, &segs);
    if (n < 0) {
        rc = n;
        goto fail;
    }
    uint32_t next = 1;
    for (int i = 0; i < n; i++) {
        int empty;
        rc = replay_segment(w, segs[i], fn, ctx, st, &empty);
        if (rc)
            goto fail;
        next = segs[i] + 1;
        if (empty && i + 1 < n) {
            /* no records and later segments exist: nothing to keep */
            char path[4096];
            seg_path(w, segs[i], path, sizeof path);
            unlink(path);
        }
    }
    if ((rc = seg_create(w, next)))
        goto fail;
    free(segs);
    *out = w;
    return 0;
fail:
    free(segs);
    sl_wal_close(w);
    return rc;
}

int sl_wal_append(struct sl_wal *w, uint8_t type, const struct iovec *iov, int iovcnt)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (len > SL_WAL_RECORD_MAX || iovcnt > 62)
        return -EMSGSIZE;
    int rc;
    if (w->broken || w->seg_size >= w->cfg.segment_bytes) {
        if ((rc = seg_create(w, w->seg + 1)))
            return rc;
    }
    uint8_t hdr[REC_HDR];
    put32(hdr, (uint32_t)len);
    hdr[8] = type;
    uint32_t crc = sl_crc32c(0, &type, 1);
    for (int i = 0; i < iovcnt; i++)
        crc = sl_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
    put32(hdr + 4, crc);
    struct iovec v[64];
    v[0].iov_base = hdr;
    v[0].iov_len = REC_HDR;
    memcpy(v + 1, iov, (size_t)iovcnt * sizeof *iov);
    size_t total = REC_HDR + len, done = 0;
    int cnt = iovcnt + 1;
    struct iovec *cur = v;
    rc = 0;
    while (done < total) {
        ssize_t r = writev(w->fd, cur, cnt);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        done += (size_t)r;
        while (cnt && (size_t)r >= cur->iov_len) {
            r -= (ssize_t)cur->iov_len;
            cur++;
            cnt--;
        }
        if (cnt) {
            cur->iov_base = (uint8_t *)cur->iov_base + r;
            cur->iov_len -= (size_t)r;
        }
    }
    if (!rc && w->cfg.fsync == SL_WAL_FSYNC_BATCH && fdatasync(w->fd) < 0)
        rc = -errno;
    if (rc) {
        char path[4096];
        seg_path(w, w->seg, path, sizeof path);
        SL_ERROR("storage=wal event=append_failed file=%s err=\"%s\"", path, sl_strerror(rc));
        /* take the partial record back out so the segment stays well-formed */
        if (ftruncate(w->fd, (off_t)w->seg_size) < 0 ||
            lseek(w->fd, (off_t)w->seg_size, SEEK_SET) < 0)
            w->broken = 1;
        return rc;
    }
    w->seg_size += total;
    return 0;
}

int sl_wal_rotate(struct sl_wal *w, uint32_t *seg)
{
    int rc = seg_create(w, w->seg + 1);
    if (!rc && seg)
        *seg = w->seg;
    return rc;
}

uint32_t sl_wal_segment(const struct sl_wal *w)
{
    return w->seg;
}

int sl_wal_truncate_before(struct sl_wal *w, uint32_t seg)
{
    uint32_t *segs;
    int n = list_segments(w, &segs);
    if (n < 0)
        return n;
    int rc = 0;
    for (int i = 0; i < n && segs[i] < seg; i++) {
        char path[4096];
        seg_path(w, segs[i], path, sizeof path);
        if (unlink(path) < 0 && errno != ENOENT && !rc)
            rc = -errno;
    }
    free(segs);
    if (!rc && fsync(w->dirfd) < 0)
        rc = -errno;
    return rc;
}

uint64_t sl_wal_size(const struct sl_wal *w)
{
    uint32_t *segs;
    int n = list_segments((struct sl_wal *)w, &segs);
    if (n < 0)
        return 0;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        seg_path(w, segs[i], path, sizeof path);
        if (stat(path, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    free(segs);
    return total;
}

void sl_wal_close(struct sl_wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->dir);
    free(w);
}
