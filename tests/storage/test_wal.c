/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WAL: replay returns exactly the records appended; a segment truncated at every record
 * boundary and in the middle of every record, or with any byte flipped, replays the intact
 * prefix, reports what it dropped and leaves a log that opens cleanly again.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <criterion/new/assert.h>
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
#include "storage/wal.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/sl_wal_XXXXXX");
    cr_assert(not(eq(ptr, mkdtemp(dir), NULL)));
    sl_log_set_level(SL_LOG_ERROR + 1);
}
static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert(eq(int, system(cmd), 0));
}
TestSuite(wal, .init = setup, .fini = teardown, .timeout = 60);

struct seen {
    int n;
    int lens[512];
    uint8_t types[512];
    int bad;
};

/* Record i has type i%7+1, length (i*37)%300 and byte j = (i + j) & 0xff. */
static int check_rec(void *ctx, uint32_t seg, uint8_t type, const uint8_t *p, size_t len)
{
    struct seen *s = ctx;
    int i = s->n;
    if (type != i % 7 + 1 || len != (size_t)((i * 37) % 300))
        s->bad++;
    for (size_t j = 0; j < len; j++)
        if (p[j] != (uint8_t)(i + (int)j))
            s->bad++;
    s->lens[i] = (int)len;
    s->types[i] = type;
    s->n++;
    return 0;
}

static struct sl_wal_cfg cfg(void)
{
    struct sl_wal_cfg c = {.dir = dir, .fsync = SL_WAL_FSYNC_NONE, .segment_bytes = 1 << 20};
    return c;
}

static void write_n(int n)
{
    struct sl_wal *w;
    struct sl_wal_cfg c = cfg();
    cr_assert(eq(int, sl_wal_open(&c, NULL, NULL, NULL, &w), 0));
    uint8_t buf[300];
    for (int i = 0; i < n; i++) {
        size_t len = (size_t)((i * 37) % 300);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)(i + (int)j);
        struct iovec v[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        cr_assert(eq(int, sl_wal_append(w, (uint8_t)(i % 7 + 1), v, 2), 0));
    }
    sl_wal_close(w);
}

static int replay(struct seen *s, struct sl_wal_replay_stats *st)
{
    memset(s, 0, sizeof *s);
    struct sl_wal *w;
    struct sl_wal_cfg c = cfg();
    int rc = sl_wal_open(&c, check_rec, s, st, &w);
    if (rc == 0)
        sl_wal_close(w);
    return rc;
}

/* Remove every segment (cheaper than system("rm") in the loops below). */
static void rm_segments(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".wal")) {
            char p[400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static void seg_file(char *buf, size_t len, unsigned seg)
{
    snprintf(buf, len, "%s/%08u.wal", dir, seg);
}

Test(wal, replay_returns_every_record_in_order)
{
    write_n(200);
    struct seen s;
    struct sl_wal_replay_stats st;
    cr_assert(eq(int, replay(&s, &st), 0));
    cr_assert(eq(int, s.n, 200));
    cr_assert(eq(int, s.bad, 0));
    cr_assert(eq(u64, st.dropped_bytes, 0));
    /* and again: the empty segment started by the first replay is harmless */
    cr_assert(eq(int, replay(&s, &st), 0));
    cr_assert(eq(int, s.n, 200));
}

Test(wal, truncate_at_every_boundary_and_midrecord_keeps_prefix)
{
    const int n = 40;
    write_n(n);
    char path[128];
    seg_file(path, sizeof path, 1);
    int fd = open(path, O_RDONLY);
    struct stat stt;
    fstat(fd, &stt);
    size_t len = (size_t)stt.st_size;
    uint8_t *orig = malloc(len);
    cr_assert(eq(long, read(fd, orig, len), (long)len));
    close(fd);
    /* record boundaries */
    size_t bounds[64];
    size_t off = 16;
    for (int i = 0; i < n; i++) {
        bounds[i] = off;
        off += 9 + (size_t)((i * 37) % 300);
    }
    bounds[n] = off;
    cr_assert(eq(sz, off, len));
    for (int i = 0; i <= n; i++) {
        for (int mid = 0; mid < 2; mid++) {
            if (mid && i == n)
                continue;
            size_t cut = bounds[i] + (mid ? 5 : 0);
            rm_segments();
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            cr_assert(eq(long, write(fd, orig, cut), (long)cut));
            close(fd);
            struct seen s;
            struct sl_wal_replay_stats st;
            cr_assert(eq(int, replay(&s, &st), 0));
            cr_assert(eq(int, s.n, i), "cut=%zu", cut);
            cr_assert(eq(int, s.bad, 0));
            cr_assert(eq(u64, st.dropped_bytes, mid ? 5 : 0));
            cr_assert(eq(u64, st.dropped_records, mid ? 1 : 0));
            /* the tail was cut: a second open sees a clean log */
            cr_assert(eq(int, replay(&s, &st), 0));
            cr_assert(eq(int, s.n, i));
            cr_assert(eq(u64, st.dropped_bytes, 0));
        }
    }
    free(orig);
}

Test(wal, flipped_byte_anywhere_drops_only_from_that_record)
{
    const int n = 12;
    write_n(n);
    char path[128];
    seg_file(path, sizeof path, 1);
    int fd = open(path, O_RDONLY);
    struct stat stt;
    fstat(fd, &stt);
    size_t len = (size_t)stt.st_size;
    uint8_t *orig = malloc(len);
    cr_assert(eq(long, read(fd, orig, len), (long)len));
    close(fd);
    size_t bounds[64], off = 16;
    for (int i = 0; i < n; i++) {
        bounds[i] = off;
        off += 9 + (size_t)((i * 37) % 300);
    }
    bounds[n] = off;
    for (size_t pos = 0; pos < len; pos += 1 + pos % 11) {
        rm_segments();
        orig[pos] ^= 0x41;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert(eq(long, write(fd, orig, len), (long)len));
        close(fd);
        orig[pos] ^= 0x41;
        int want = 0;
        if (pos >= 16)
            while (want < n && bounds[want + 1] <= pos)
                want++;
        struct seen s;
        struct sl_wal_replay_stats st;
        cr_assert(eq(int, replay(&s, &st), 0));
        cr_assert(eq(int, s.n, want), "pos=%zu", pos);
        cr_assert(eq(int, s.bad, 0));
        cr_assert(gt(u64, st.dropped_bytes, 0));
        cr_assert(ge(u64, st.dropped_records, 1));
    }
    free(orig);
}

Test(wal, corrupt_old_segment_does_not_hide_later_segments)
{
    write_n(5); /* segment 1 */
    char path[128];
    seg_file(path, sizeof path, 1);
    struct stat stt;
    stat(path, &stt);
    cr_assert(eq(int, truncate(path, stt.st_size - 3), 0));
    struct seen s;
    cr_assert(eq(int, replay(&s, NULL), 0)); /* opens segment 2, writes nothing */
    cr_assert(eq(int, s.n, 4));
    /* append more records in a later segment; all of them replay */
    struct sl_wal *w;
    struct sl_wal_cfg c = cfg();
    cr_assert(eq(int, sl_wal_open(&c, NULL, NULL, NULL, &w), 0));
    uint8_t b = 4;
    struct iovec v = {&b, 0};
    cr_assert(eq(int, sl_wal_append(w, 5, &v, 1), 0)); /* record index 4: type 5, len 148? */
    sl_wal_close(w);
    cr_assert(eq(int, replay(&s, NULL), 0));
    cr_assert(eq(int, s.n, 5));
    cr_assert(eq(int, s.bad, 1)); /* the added record has length 0, not 148 */
}

Test(wal, garbage_files_never_crash)
{
    srand(5);
    for (int it = 0; it < 50; it++) {
        rm_segments();
        char path[128];
        seg_file(path, sizeof path, 1);
        uint8_t buf[600];
        size_t len = (size_t)(rand() % 600);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        if (it % 2 && len > 16) /* a valid header followed by garbage */
            memcpy(buf, "SLWAL\0\0\0\1\0\0\0", 12), buf[12] = 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert(eq(long, write(fd, buf, len), (long)len));
        close(fd);
        struct seen s;
        cr_assert(eq(int, replay(&s, NULL), 0));
    }
}

Test(wal, foreign_version_refused_with_sl_e_version)
{
    write_n(1);
    char path[128];
    seg_file(path, sizeof path, 1);
    int fd = open(path, O_RDWR);
    uint8_t hdr[16];
    cr_assert(eq(long, read(fd, hdr, 16), 16));
    hdr[8] = 9;
    /* recompute the header checksum so only the version differs */
    uint32_t c = sl_crc32c(0, hdr, 12);
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(c >> (8 * i));
    cr_assert(eq(long, pwrite(fd, hdr, 16, 0), 16));
    close(fd);
    struct seen s;
    cr_assert(eq(int, replay(&s, NULL), SL_E_VERSION));
}

Test(wal, segments_rotate_and_truncate_before)
{
    struct sl_wal *w;
    struct sl_wal_cfg c = cfg();
    cr_assert(eq(int, sl_wal_open(&c, NULL, NULL, NULL, &w), 0));
    uint32_t first = sl_wal_segment(w), seg;
    cr_assert(eq(int, sl_wal_rotate(w, &seg), 0));
    cr_assert(eq(u32, seg, first + 1));
    cr_assert(eq(int, sl_wal_truncate_before(w, seg), 0));
    char path[128];
    seg_file(path, sizeof path, first);
    cr_assert(eq(int, access(path, F_OK), -1));
    seg_file(path, sizeof path, seg);
    cr_assert(eq(int, access(path, F_OK), 0));
    sl_wal_close(w);
}

Test(wal, crc32c_matches_reference_vector)
{
    cr_assert(eq(u32, sl_crc32c(0, "123456789", 9), 0xE3069283u));
    /* incremental == one shot, across the 8-byte fast path */
    const char *s = "the quick brown fox jumps over the lazy dog";
    uint32_t a = sl_crc32c(0, s, 43), b = sl_crc32c(sl_crc32c(0, s, 13), s + 13, 30);
    cr_assert(eq(u32, a, b));
}

Test(wal, version_1_segment_replays_like_version_2)
{
    write_n(5);
    char path[128];
    seg_file(path, sizeof path, 1);
    int fd = open(path, O_RDWR);
    uint8_t hdr[16];
    cr_assert(eq(long, read(fd, hdr, 16), 16));
    cr_assert(eq(u8, hdr[8], SL_WAL_FORMAT_VERSION));
    hdr[8] = 1; /* what builds before the SKETCHES record wrote */
    uint32_t c = sl_crc32c(0, hdr, 12);
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(c >> (8 * i));
    cr_assert(eq(long, pwrite(fd, hdr, 16, 0), 16));
    close(fd);
    struct seen s;
    cr_assert(eq(int, replay(&s, NULL), 0));
    cr_assert(eq(int, s.n, 5));
    cr_assert(eq(int, s.bad, 0));
}
