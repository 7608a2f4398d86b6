/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store facade: configuration, open/close, block list, tombstones, appends through the
 * WAL into the head, labels and delete. The read path (select) lives in store_read.c,
 * background steps in maintain.c.
 */
#include "storage/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "storage/codec.h"
#include "storage/crc32c.h"
#include "storage/store_pvt.h"

#define DAY (86400000LL)
#define TOMB_MAGIC "SLTOMB\0\0"
#define TOMB_VERSION 1

void sl_store_cfg_defaults(struct sl_store_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->dir = "./sluice-data";
    cfg->fsync = SL_WAL_FSYNC_BATCH;
    cfg->wal_segment_bytes = 64u << 20;
    cfg->block_range_ms = 2 * 3600 * 1000LL;
    cfg->compact_range_ms = DAY;
    cfg->ooo_window_ms = 365 * DAY;
    cfg->raw_retention_ms = 15 * DAY;
    cfg->ntiers = 4;
    cfg->tiers[0] = (struct sl_tier_cfg){60 * 1000LL, 90 * DAY};
    cfg->tiers[1] = (struct sl_tier_cfg){300 * 1000LL, 365 * DAY};
    cfg->tiers[2] = (struct sl_tier_cfg){3600 * 1000LL, 5 * 365 * DAY};
    cfg->tiers[3] = (struct sl_tier_cfg){DAY, 7 * 365 * DAY};
}

int sl_store_cfg_check(const struct sl_store_cfg *cfg, char *errbuf, size_t errlen)
{
    const char *bad = NULL;
    char tmp[128];
    if (!cfg->dir || !*cfg->dir)
        bad = "dir: must not be empty";
    else if (strlen(cfg->dir) > 3000)
        bad = "dir: too long";
    else if (cfg->fsync != SL_WAL_FSYNC_BATCH && cfg->fsync != SL_WAL_FSYNC_NONE)
        bad = "fsync: must be batch or none";
    else if (cfg->block_range_ms < 1000)
        bad = "block_range_ms: must be >= 1000";
    else if (cfg->compact_range_ms < cfg->block_range_ms ||
             cfg->compact_range_ms % cfg->block_range_ms)
        bad = "compact_range_ms: must be a multiple of block_range_ms";
    else if (cfg->ooo_window_ms < 0)
        bad = "ooo_window_ms: must be >= 0";
    else if (cfg->raw_retention_ms < 0)
        bad = "raw_retention_ms: must be >= 0";
    else if (cfg->ntiers > SL_TIERS_MAX)
        bad = "tiers: at most 6";
    else if (cfg->wal_segment_bytes && cfg->wal_segment_bytes < 4096)
        bad = "wal_segment_bytes: must be >= 4096";
    for (unsigned i = 0; !bad && i < cfg->ntiers; i++) {
        int64_t r = cfg->tiers[i].resolution_ms, below = i ? cfg->tiers[i - 1].resolution_ms : 0;
        if (r <= 0 || (below && (r <= below || r % below))) {
            snprintf(tmp, sizeof tmp, "tiers[%u].resolution_ms: must be a multiple of the "
                     "tier below", i);
            bad = tmp;
        } else if (cfg->compact_range_ms % r) {
            snprintf(tmp, sizeof tmp, "tiers[%u].resolution_ms: must divide compact_range_ms", i);
            bad = tmp;
        } else if (cfg->tiers[i].retention_ms < 0) {
            snprintf(tmp, sizeof tmp, "tiers[%u].retention_ms: must be >= 0", i);
            bad = tmp;
        }
    }
    if (!bad)
        return 0;
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", bad);
    return -EINVAL;
}

/* ---- blocks ----------------------------------------------------------------------------- */

void sl_bref_put(struct sl_bref *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        sl_block_close(r->b);
        free(r);
    }
}

int sl_store__blocks_snapshot(struct sl_store *s, struct sl_bref ***out)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->nblocks;
    struct sl_bref **v = malloc((n + 1) * sizeof *v);
    if (!v) {
        pthread_rwlock_unlock(&s->lock);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = s->blocks[i];
        /* relaxed: the list itself holds a reference, so the count cannot reach zero here */
        atomic_fetch_add_explicit(&v[i]->refs, 1, memory_order_relaxed);
    }
    pthread_rwlock_unlock(&s->lock);
    *out = v;
    return (int)n;
}

void sl_store__blocks_release(struct sl_bref **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sl_bref_put(v[i]);
    free(v);
}

static int list_insert(struct sl_store *s, struct sl_bref *r)
{
    if (s->nblocks == s->blocks_cap) {
        size_t nc = s->blocks_cap ? s->blocks_cap * 2 : 16;
        struct sl_bref **nb = realloc(s->blocks, nc * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        s->blocks = nb;
        s->blocks_cap = nc;
    }
    size_t i = s->nblocks;
    while (i > 0 && s->blocks[i - 1]->m->seq > r->m->seq) {
        s->blocks[i] = s->blocks[i - 1];
        i--;
    }
    s->blocks[i] = r;
    s->nblocks++;
    return 0;
}

static int open_block(struct sl_store *s, const char *name, struct sl_bref **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    struct sl_block *b;
    int rc = sl_block_open(path, &b);
    if (rc)
        return rc;
    struct sl_bref *r = calloc(1, sizeof *r);
    if (!r) {
        sl_block_close(b);
        return -ENOMEM;
    }
    r->b = b;
    r->m = sl_block_meta(b);
    atomic_init(&r->refs, 1);
    *out = r;
    return 0;
}

int sl_store__add_block(struct sl_store *s, const char *name)
{
    struct sl_bref *r;
    int rc = open_block(s, name, &r);
    if (rc)
        return rc;
    /* every block the store writes has the current tombstones applied */
    r->tomb_gen = s->tomb_gen;
    pthread_rwlock_wrlock(&s->lock);
    rc = list_insert(s, r);
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        sl_bref_put(r);
    return rc;
}

/* Remove a block directory that is already out of the store's sight (a leftover .tmp or
 * .del directory): its data file, then the directory. */
static void rm_block_dir(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data", dir);
    if (unlink(p) < 0 && errno != ENOENT)
        SL_ERROR("storage=store event=unlink_failed file=%s err=\"%s\"", p, strerror(errno));
    if (rmdir(dir) < 0 && errno != ENOENT)
        SL_ERROR("storage=store event=rmdir_failed dir=%s err=\"%s\"", dir, strerror(errno));
}

/* Delete a published block so that a crash at any point leaves either the whole block or
 * no block: the directory is first renamed to <name>.del (atomic, and made durable by
 * syncing the parent) and only then emptied. Unlinking the data file first would leave an
 * empty b-<seq> directory behind a kill, which the next open could not read. */
static void delete_block_dir(struct sl_store *s, const char *dir)
{
    char del[4200];
    snprintf(del, sizeof del, "%s.del", dir);
    if (rename(dir, del) < 0) {
        SL_ERROR("storage=store event=rename_failed dir=%s err=\"%s\"", dir, strerror(errno));
        return;
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            SL_ERROR("storage=store event=fsync_failed dir=%s err=\"%s\"", s->dir,
                     strerror(errno));
        close(dfd);
    }
    rm_block_dir(del);
}

void sl_store__remove_block(struct sl_store *s, struct sl_bref *r)
{
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i] == r) {
            memmove(s->blocks + i, s->blocks + i + 1, (s->nblocks - i - 1) * sizeof *s->blocks);
            s->nblocks--;
            break;
        }
    pthread_rwlock_unlock(&s->lock);
    /* the mapping stays valid for readers still holding a reference after the unlink */
    delete_block_dir(s, sl_block_dir(r->b));
    sl_bref_put(r);
}

uint64_t sl_store__new_block_name(struct sl_store *s, char *buf, size_t len)
{
    uint64_t seq = s->next_seq++;
    snprintf(buf, len, "b-%016llx", (unsigned long long)seq);
    return seq;
}

/* ---- tombstones ------------------------------------------------------------------------- */

int sl_store__has_tomb(const struct sl_store *s, const char *key, size_t len, uint64_t seq)
{
    if (!s->ntombs)
        return 0;
    uint32_t i = sl_keymap_get(&s->tomb_map, key, len, sl_key_hash(key, len));
    for (; i != UINT32_MAX; i = s->tombs[i].next)
        if (seq < s->tombs[i].seq_limit)
            return 1;
    return 0;
}

int sl_store__tomb_overlaps(const struct sl_store *s, const char *key, size_t len, int64_t a,
                            int64_t b, uint64_t seq)
{
    if (!s->ntombs)
        return 0;
    uint32_t i = sl_keymap_get(&s->tomb_map, key, len, sl_key_hash(key, len));
    for (; i != UINT32_MAX; i = s->tombs[i].next)
        if (seq < s->tombs[i].seq_limit && a <= s->tombs[i].maxt && b >= s->tombs[i].mint)
            return 1;
    return 0;
}

static int tomb_add(struct sl_store *s, const char *key, size_t len, int64_t mint, int64_t maxt,
                    uint64_t seq_limit)
{
    if (s->ntombs == s->tombs_cap) {
        size_t nc = s->tombs_cap ? s->tombs_cap * 2 : 16;
        struct sl_tomb *nt = realloc(s->tombs, nc * sizeof *nt);
        if (!nt)
            return -ENOMEM;
        s->tombs = nt;
        s->tombs_cap = nc;
    }
    struct sl_tomb *t = &s->tombs[s->ntombs];
    if (!(t->key = malloc(len)))
        return -ENOMEM;
    memcpy(t->key, key, len);
    t->keylen = (uint32_t)len;
    t->mint = mint;
    t->maxt = maxt;
    t->seq_limit = seq_limit;
    uint64_t h = sl_key_hash(key, len);
    uint32_t first = sl_keymap_get(&s->tomb_map, key, len, h);
    if (first == UINT32_MAX) {
        t->next = UINT32_MAX;
        if (sl_keymap_put(&s->tomb_map, t->key, len, h, (uint32_t)s->ntombs)) {
            free(t->key);
            return -ENOMEM;
        }
    } else {
        /* chain behind the first so the map entry stays valid */
        t->next = s->tombs[first].next;
        s->tombs[first].next = (uint32_t)s->ntombs;
    }
    s->ntombs++;
    return 0;
}

static void tombs_clear(struct sl_store *s)
{
    for (size_t i = 0; i < s->ntombs; i++)
        free(s->tombs[i].key);
    s->ntombs = 0;
    sl_keymap_fini(&s->tomb_map);
}

static void put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Rewrite <dir>/tombstones atomically (temp file, fsync, rename, fsync dir). */
int sl_store__tombs_save(struct sl_store *s)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/tombstones", s->dir);
    snprintf(tmp, sizeof tmp, "%s/tombstones.tmp", s->dir);
    if (s->ntombs == 0) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    size_t cap = 16 + 4;
    for (size_t i = 0; i < s->ntombs; i++)
        cap += 10 + s->tombs[i].keylen + 24;
    uint8_t *b = malloc(cap);
    if (!b)
        return -ENOMEM;
    size_t o = 0;
    memcpy(b, TOMB_MAGIC, 8);
    b[8] = TOMB_VERSION;
    b[9] = b[10] = b[11] = 0;
    uint32_t n = (uint32_t)s->ntombs;
    for (int i = 0; i < 4; i++)
        b[12 + i] = (uint8_t)(n >> (8 * i));
    o = 16;
    for (size_t i = 0; i < s->ntombs; i++) {
        o += sl_varint_put(b + o, s->tombs[i].keylen);
        memcpy(b + o, s->tombs[i].key, s->tombs[i].keylen);
        o += s->tombs[i].keylen;
        put64le(b + o, (uint64_t)s->tombs[i].mint);
        put64le(b + o + 8, (uint64_t)s->tombs[i].maxt);
        put64le(b + o + 16, s->tombs[i].seq_limit);
        o += 24;
    }
    uint32_t crc = sl_crc32c(0, b, o);
    for (int i = 0; i < 4; i++)
        b[o++] = (uint8_t)(crc >> (8 * i));
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b, o) != (ssize_t)o || fdatasync(fd) < 0)
        rc = errno ? -errno : -EIO;
    if (fd >= 0)
        close(fd);
    free(b);
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (!rc) {
        int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (rc)
        SL_ERROR("storage=store event=tombstones_write_failed file=%s err=\"%s\"", path,
                 sl_strerror(rc));
    return rc;
}

static int tombs_load(struct sl_store *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tombstones", s->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *b = malloc(len + 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    ssize_t got = read(fd, b, len);
    close(fd);
    int rc = 0;
    if (got != (ssize_t)len || len < 20 || memcmp(b, TOMB_MAGIC, 8) != 0) {
        rc = SL_E_CORRUPT;
    } else if (b[8] != TOMB_VERSION) {
        SL_ERROR("storage=store event=foreign_version file=%s version=%u want=%u", path, b[8],
                 TOMB_VERSION);
        free(b);
        return SL_E_VERSION;
    } else {
        uint32_t crc = (uint32_t)b[len - 4] | (uint32_t)b[len - 3] << 8 |
                       (uint32_t)b[len - 2] << 16 | (uint32_t)b[len - 1] << 24;
        if (crc != sl_crc32c(0, b, len - 4))
            rc = SL_E_CORRUPT;
    }
    if (!rc) {
        uint32_t n = (uint32_t)b[12] | (uint32_t)b[13] << 8 | (uint32_t)b[14] << 16 |
                     (uint32_t)b[15] << 24;
        const uint8_t *p = b + 16, *end = b + len - 4;
        for (uint32_t i = 0; i < n && !rc; i++) {
            uint64_t kl;
            size_t m = sl_varint_get(p, end, &kl);
            if (!m || kl > (uint64_t)(end - p) || (size_t)(end - p) - m < kl + 24) {
                rc = SL_E_CORRUPT;
                break;
            }
            p += m;
            rc = tomb_add(s, (const char *)p, (size_t)kl, (int64_t)get64le(p + kl),
                          (int64_t)get64le(p + kl + 8), get64le(p + kl + 16));
            p += kl + 24;
        }
    }
    free(b);
    if (rc == SL_E_CORRUPT)
        SL_ERROR("storage=store event=corrupt file=%s (deletions recorded there are lost; "
                 "the data they hid is visible again)", path);
    return rc == SL_E_CORRUPT ? 0 : rc;
}

/* ---- WAL records ------------------------------------------------------------------------ */

static int rec_reserve(struct sl_store *s, size_t need)
{
    if (need <= s->rec_cap)
        return 0;
    size_t nc = s->rec_cap ? s->rec_cap : 65536;
    while (nc < need)
        nc *= 2;
    uint8_t *nr = realloc(s->rec, nc);
    if (!nr)
        return -ENOMEM;
    s->rec = nr;
    s->rec_cap = nc;
    return 0;
}

static size_t put_sample(uint8_t *p, const char *key, size_t keylen, int64_t t, double v)
{
    size_t o = sl_varint_put(p, keylen);
    memcpy(p + o, key, keylen);
    o += keylen;
    uint64_t u;
    memcpy(&u, &v, 8);
    put64le(p + o, (uint64_t)t);
    put64le(p + o + 8, u);
    return o + 16;
}

static int idx_reserve(struct sl_store *s, size_t n)
{
    if (n <= s->idx_cap)
        return 0;
    size_t nc = s->idx_cap ? s->idx_cap : 4096;
    while (nc < n)
        nc *= 2;
    uint32_t *ni = realloc(s->idx, nc * sizeof *ni);
    if (!ni)
        return -ENOMEM;
    s->idx = ni;
    s->idx_cap = nc;
    return 0;
}

/* The samples part of a SAMPLES or SKETCHES record. @return 0, 1 (malformed), -ENOMEM. */
static int replay_samples(struct sl_store *s, const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint64_t n, kl;
    size_t m;
    if (!(m = sl_varint_get(p, end, &n)))
        return 1;
    p += m;
    for (uint64_t i = 0; i < n; i++) {
        if (!(m = sl_varint_get(p, end, &kl)) || kl < 2 || kl > SL_KEY_MAX ||
            (size_t)(end - p) - m < kl + 16)
            return 1;
        p += m;
        const char *key = (const char *)p;
        uint32_t klen = (uint32_t)kl, x;
        int64_t t = (int64_t)get64le(p + kl);
        uint64_t u = get64le(p + kl + 8);
        double v;
        memcpy(&v, &u, 8);
        p += kl + 16;
        if (t <= -SL_STORE_T_LIMIT || t >= SL_STORE_T_LIMIT)
            return 1; /* appends refuse these: not a record this store wrote */
        if (sl_head_prepare(&s->head, &key, &klen, 1, 0, &x))
            return -ENOMEM;
        sl_head_commit(&s->head, x, t, v);
    }
    *pp = p;
    return 0;
}

/* Apply a WAL record to the head (replay, no WAL write, no window check). */
static int replay_rec(void *ctx, uint32_t seg, uint8_t type, const uint8_t *p, size_t len)
{
    struct sl_store *s = ctx;
    const uint8_t *end = p + len;
    uint64_t n, kl;
    size_t m;
    if (type == SL_WAL_REC_SAMPLES || type == SL_WAL_REC_SKETCHES) {
        int rc = replay_samples(s, &p, end);
        if (rc == 0 && type == SL_WAL_REC_SKETCHES)
            rc = sl_store__replay_sketches(s, p, end);
        if (rc < 0)
            return rc;
        if (rc)
            goto bad;
        return 0;
    }
    if (type == SL_WAL_REC_SERIES) {
        if (!(m = sl_varint_get(p, end, &n)))
            goto bad;
        p += m;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t cnt;
            if (!(m = sl_varint_get(p, end, &kl)) || kl < 2 || kl > SL_KEY_MAX ||
                (size_t)(end - p) - m < kl)
                goto bad;
            p += m;
            const char *key = (const char *)p;
            uint32_t klen = (uint32_t)kl;
            p += kl;
            if (!(m = sl_varint_get(p, end, &cnt)) || cnt > (size_t)(end - p - (ptrdiff_t)m) / 16)
                goto bad;
            p += m;
            for (uint64_t j = 0; j < cnt; j++, p += 16) {
                uint32_t x;
                uint64_t u = get64le(p + 8);
                double v;
                memcpy(&v, &u, 8);
                if (sl_head_prepare(&s->head, &key, &klen, 1, 0, &x))
                    return -ENOMEM;
                sl_head_commit(&s->head, x, (int64_t)get64le(p), v);
            }
        }
        return 0;
    }
    if (type == SL_WAL_REC_DELETE) {
        if (len < 16)
            goto bad;
        int64_t mint = (int64_t)get64le(p), maxt = (int64_t)get64le(p + 8);
        p += 16;
        if (!(m = sl_varint_get(p, end, &n)))
            goto bad;
        p += m;
        for (uint64_t i = 0; i < n; i++) {
            if (!(m = sl_varint_get(p, end, &kl)) || kl > (uint64_t)(end - p) - m)
                goto bad;
            p += m;
            sl_head_delete(&s->head, (const char *)p, (size_t)kl, mint, maxt);
            sl_skhead_delete(&s->skhead, (const char *)p, (size_t)kl, mint, maxt);
            p += kl;
        }
        return 0;
    }
bad:
    /* The CRC matched, so this is a record this build does not understand; skip it. */
    SL_WARN("storage=store event=wal_record_skipped segment=%u type=%u len=%zu", seg, type, len);
    return 0;
}

static int ckpt_flush(struct sl_store *s, size_t cnt, size_t o)
{
    /* the count prefix goes right before the series, in the 10 bytes kept free */
    uint8_t pre[10];
    size_t pl = sl_varint_put(pre, cnt);
    memcpy(s->rec + 10 - pl, pre, pl);
    struct iovec v = {s->rec + 10 - pl, o - 10 + pl};
    return sl_wal_append(s->wal, SL_WAL_REC_SERIES, &v, 1);
}

/* Rewrite the head into a fresh segment as SERIES records (each key once, then 16 bytes per
 * sample; about 4 MiB per record, so one fsync per 4 MiB), then drop the older segments. */
int sl_store__wal_checkpoint(struct sl_store *s)
{
    uint32_t first;
    int rc = sl_wal_rotate(s->wal, &first);
    if (rc)
        return rc;
    const size_t rec_bytes = 4u << 20, run_max = 65536;
    size_t cnt = 0, o = 10;
    for (size_t i = 0; i < s->head.n; i++) {
        const struct sl_head_series *hs = &s->head.s[i];
        for (uint32_t j = 0; j < hs->n;) {
            uint32_t run = hs->n - j < run_max ? hs->n - j : (uint32_t)run_max;
            if ((rc = rec_reserve(s, o + 20 + hs->keylen + (size_t)run * 16)))
                return rc;
            o += sl_varint_put(s->rec + o, hs->keylen);
            memcpy(s->rec + o, hs->key, hs->keylen);
            o += hs->keylen;
            o += sl_varint_put(s->rec + o, run);
            for (uint32_t k = 0; k < run; k++, j++) {
                uint64_t u;
                memcpy(&u, &hs->v[j], 8);
                put64le(s->rec + o, (uint64_t)hs->t[j]);
                put64le(s->rec + o + 8, u);
                o += 16;
            }
            if (++cnt, o >= rec_bytes) {
                if ((rc = ckpt_flush(s, cnt, o)))
                    return rc;
                cnt = 0;
                o = 10;
            }
        }
    }
    if (cnt && (rc = ckpt_flush(s, cnt, o)))
        return rc;
    if ((rc = sl_store__wal_checkpoint_sketches(s)))
        return rc;
    return sl_wal_truncate_before(s->wal, first);
}

/* ---- open / close ----------------------------------------------------------------------- */

static int is_hex_name(const char *n, const char *suffix)
{
    size_t l = strlen(n), sl = strlen(suffix);
    if (l != 2 + 16 + sl || strncmp(n, "b-", 2) != 0 || strcmp(n + 18, suffix) != 0)
        return 0;
    for (int i = 2; i < 18; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return 0;
    return 1;
}

static int load_blocks(struct sl_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        if (is_hex_name(e->d_name, ".tmp") || is_hex_name(e->d_name, ".del")) {
            /* a block write or a block delete that a crash interrupted */
            SL_INFO("storage=store event=remove_partial_block dir=%s", path);
            rm_block_dir(path);
            continue;
        }
        if (!is_hex_name(e->d_name, ""))
            continue;
        uint64_t seq = strtoull(e->d_name + 2, NULL, 16);
        if (seq >= s->next_seq)
            s->next_seq = seq + 1;
        char data[4200];
        struct stat st;
        snprintf(data, sizeof data, "%s/data", path);
        if (stat(data, &st) < 0 && errno == ENOENT && rmdir(path) == 0) {
            /* an empty block directory: a delete interrupted by a crash in versions that
             * unlinked the data file before the directory (publishing is atomic, so a
             * block that was ever visible always has its data file) */
            SL_WARN("storage=store event=remove_empty_block_dir dir=%s", path);
            continue;
        }
        struct sl_bref *r;
        rc = open_block(s, e->d_name, &r);
        if (rc == SL_E_CORRUPT) {
            char q[4200];
            snprintf(q, sizeof q, "%s.corrupt", path);
            if (rename(path, q) == 0)
                SL_ERROR("storage=store event=block_quarantined dir=%s moved_to=%s", path, q);
            s->corrupt_blocks++;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        if ((rc = list_insert(s, r)))
            sl_bref_put(r);
    }
    closedir(d);
    return rc;
}

/* One process at a time owns a data directory: two writers would interleave WAL segments
 * and race block publishing. flock(2) rather than a pid file because the kernel drops the
 * lock when the owner dies (kill -9 included), so a crash never leaves a stale lock behind.
 * The lock is taken before anything in the directory is read or changed. */
static int lock_dir(struct sl_store *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/LOCK", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        SL_ERROR("storage=store event=lock_failed file=%s err=\"%s\"", path, sl_strerror(rc));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        if (rc == -EBUSY)
            SL_ERROR("storage=store event=dir_in_use file=%s reason=\"another process (a running "
                     "sluiced or sluice import) holds the lock on this data directory\"",
                     path);
        else
            SL_ERROR("storage=store event=lock_failed file=%s err=\"%s\"", path,
                     sl_strerror(rc));
        return rc;
    }
    s->lock_fd = fd;
    return 0;
}

int sl_store_open(const struct sl_store_cfg *cfg, struct sl_store **out)
{
    char err[160];
    if (sl_store_cfg_check(cfg, err, sizeof err)) {
        SL_ERROR("storage=store event=bad_config reason=\"%s\"", err);
        return -EINVAL;
    }
    struct sl_store *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    s->lock_fd = -1;
    s->next_seq = 1;
    sl_head_init(&s->head);
    sl_skhead_init(&s->skhead);
    sl_keymap_init(&s->tomb_map);
    pthread_mutex_init(&s->mmu, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_rwlock_init(&s->lock, NULL);
    pthread_rwlock_init(&s->tlock, NULL);
    pthread_rwlock_init(&s->cutlock, NULL);
    int rc = 0;
    if (!(s->dir = strdup(cfg->dir))) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &s->skcheck)))
        goto fail;
    s->cfg.dir = s->dir;
    if (mkdir(s->dir, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        SL_ERROR("storage=store event=mkdir_failed dir=%s err=\"%s\"", s->dir, sl_strerror(rc));
        goto fail;
    }
    if ((rc = lock_dir(s)))
        goto fail;
    if ((rc = load_blocks(s))) {
        SL_ERROR("storage=store event=open_failed dir=%s err=\"%s\"", s->dir, sl_strerror(rc));
        goto fail;
    }
    if ((rc = tombs_load(s)))
        goto fail;
    s->tomb_gen = s->ntombs ? 1 : 0; /* loaded blocks have generation 0: maybe not purged */
    char wdir[4096];
    snprintf(wdir, sizeof wdir, "%s/wal", s->dir);
    struct sl_wal_cfg wc = {wdir, cfg->fsync, cfg->wal_segment_bytes};
    if ((rc = sl_wal_open(&wc, replay_rec, s, &s->replay, &s->wal)))
        goto fail;
    SL_INFO("storage=store event=open dir=%s blocks=%zu head_series=%zu head_samples=%llu "
            "wal_records=%llu wal_dropped_bytes=%llu", s->dir, s->nblocks, s->head.n,
            (unsigned long long)s->head.nsamples, (unsigned long long)s->replay.records,
            (unsigned long long)s->replay.dropped_bytes);
    *out = s;
    return 0;
fail:
    sl_store_close(s);
    return rc;
}

void sl_store_close(struct sl_store *s)
{
    if (!s)
        return;
    sl_wal_close(s->wal);
    for (size_t i = 0; i < s->nblocks; i++)
        sl_bref_put(s->blocks[i]);
    free(s->blocks);
    sl_head_fini(&s->head);
    sl_skhead_fini(&s->skhead);
    sl_ddsketch_destroy(s->skcheck);
    free(s->skidx);
    free(s->skbuf);
    free(s->sklen);
    tombs_clear(s);
    free(s->tombs);
    free(s->rec);
    free(s->idx);
    pthread_mutex_destroy(&s->mmu);
    pthread_mutex_destroy(&s->wmu);
    pthread_rwlock_destroy(&s->lock);
    pthread_rwlock_destroy(&s->tlock);
    pthread_rwlock_destroy(&s->cutlock);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s->dir);
    free(s);
}

/* ---- append ----------------------------------------------------------------------------- */

int sl_store_append(struct sl_store *s, const struct sl_sample_batch *b)
{
    return sl_store_append_sketches(s, b, NULL, 0);
}

int sl_store_append_sketches(struct sl_store *s, const struct sl_sample_batch *b,
                             const struct sl_sketch_sample *sk, size_t nsk)
{
    if (!sk)
        nsk = 0;
    if (b->n == 0 && nsk == 0)
        return 0;
    size_t need = 10;
    int64_t bmin = INT64_MAX, bmax = INT64_MIN;
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_sample *x = &b->samples[i];
        if (!x->key || x->key_len < 2 || x->key_len > SL_KEY_MAX ||
            x->key[x->key_len - 1] != 0 || x->t <= -SL_STORE_T_LIMIT || x->t >= SL_STORE_T_LIMIT)
            return -EINVAL;
        need += 10 + x->key_len + 16;
        if (x->t < bmin)
            bmin = x->t;
        if (x->t > bmax)
            bmax = x->t;
    }
    for (size_t i = 0; i < nsk; i++) {
        if (sk[i].t <= -SL_STORE_T_LIMIT || sk[i].t >= SL_STORE_T_LIMIT)
            return -EINVAL;
        if (sk[i].t < bmin)
            bmin = sk[i].t;
        if (sk[i].t > bmax)
            bmax = sk[i].t;
    }
    pthread_mutex_lock(&s->wmu);
    size_t nreserved = 0;
    int rc = 0;
    if (nsk && ((rc = sl_store__sk_reserve(s, nsk)) ||
                (need += 10, rc = sl_store__sketches_check(s, sk, nsk, &need))))
        goto out;
    int64_t hmax = sl_store__head_maxt(s);
    int64_t newest = hmax > bmax ? hmax : bmax;
    pthread_rwlock_rdlock(&s->lock); /* maintenance changes the block list without wmu */
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i]->m->resolution_ms == 0 && s->blocks[i]->m->maxt > newest)
            newest = s->blocks[i]->m->maxt;
    pthread_rwlock_unlock(&s->lock);
    if (newest - bmin > s->cfg.ooo_window_ms && bmin < newest - s->cfg.ooo_window_ms) {
        static struct sl_log_limit lim;
        sl_log_every(&lim, 10000, SL_LOG_WARN, "storage=store event=batch_refused "
                     "reason=out_of_order_window oldest=%lld newest=%lld samples=%zu",
                     (long long)bmin, (long long)newest, b->n);
        rc = SL_E_LIMIT;
        goto out;
    }
    if ((rc = rec_reserve(s, need)) || (rc = idx_reserve(s, b->n)))
        goto out;
    size_t o = sl_varint_put(s->rec, b->n);
    for (size_t i = 0; i < b->n; i++) {
        const struct sl_sample *x = &b->samples[i];
        o += put_sample(s->rec + o, x->key, x->key_len, x->t, x->v);
    }
    if (nsk) {
        /* SKETCHES record: the samples as above, then `varint n` and per sketch
         * `varint key_len, key, i64 t, varint len, encoding` */
        o += sl_varint_put(s->rec + o, nsk);
        for (size_t i = 0; i < nsk; i++) {
            const struct sl_sketch_sample *x = &sk[i];
            o += sl_varint_put(s->rec + o, x->key_len);
            memcpy(s->rec + o, x->key, x->key_len);
            o += x->key_len;
            put64le(s->rec + o, (uint64_t)x->t);
            o += 8;
            int el = (int)s->sklen[i];
            o += sl_varint_put(s->rec + o, (uint64_t)el);
            uint8_t *enc = malloc((size_t)el);
            if (!enc) {
                rc = -ENOMEM;
                goto out;
            }
            s->skbuf[nreserved++] = enc;
            sl_ddsketch_encode(x->sketch, s->rec + o, (size_t)el);
            memcpy(enc, s->rec + o, (size_t)el);
            o += (size_t)el;
        }
    }
    /* Reserve head room first (may create empty series, invisible to queries), so the
     * commit after the WAL write cannot fail. */
    pthread_rwlock_wrlock(&s->lock);
    rc = b->n ? sl_head_prepare(&s->head, &b->samples[0].key, &b->samples[0].key_len, b->n,
                                sizeof(struct sl_sample), s->idx)
              : 0;
    for (size_t i = 0; i < nsk && !rc; i++)
        if ((rc = sl_skhead_prepare(&s->skhead, sk[i].key, sk[i].key_len,
                                    &s->skidx[i]))) {
            sl_head_unreserve(&s->head, s->idx, b->n);
            sl_skhead_unreserve(&s->skhead);
        }
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        goto out;
    struct iovec v = {s->rec, o};
    if ((rc = sl_wal_append(s->wal, nsk ? SL_WAL_REC_SKETCHES : SL_WAL_REC_SAMPLES, &v, 1))) {
        sl_head_unreserve(&s->head, s->idx, b->n);
        sl_skhead_unreserve(&s->skhead);
        goto out;
    }
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < b->n; i++)
        sl_head_commit(&s->head, s->idx[i], b->samples[i].t, b->samples[i].v);
    for (size_t i = 0; i < nsk; i++)
        sl_skhead_commit(&s->skhead, s->skidx[i], sk[i].t, s->skbuf[i], s->sklen[i]);
    pthread_rwlock_unlock(&s->lock);
    nreserved = 0; /* the head owns the encodings now */
    s->sealed = 0;
out:
    for (size_t i = 0; i < nreserved; i++)
        free(s->skbuf[i]);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

void sl_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sl_store_labels(struct sl_store *s, const char *name, const struct sl_store_matcher *m, size_t nm,
                    int64_t mint, int64_t maxt, char ***out, size_t *n)
{
    struct sl_series_set *ss;
    int rc = sl_store_select(s, m, nm, mint, maxt, SL_SELECT_KEYS_ONLY, &ss, NULL, 0);
    if (rc)
        return rc;
    size_t cnt = 0, cap = 64;
    char **v = malloc(cap * sizeof *v);
    if (!v)
        rc = -ENOMEM;
    for (size_t i = 0; i < ss->n && !rc; i++) {
        const char *mn;
        size_t mnl;
        struct sl_key_iter it;
        sl_key_name(ss->a[i].key, ss->a[i].keylen, &mn, &mnl, &it);
        struct sl_label l = {"__name__", mn, 8, (uint32_t)mnl};
        int more = 1;
        while (more && !rc) {
            const char *str = NULL;
            size_t sl = 0;
            if (!name) {
                str = l.name;
                sl = l.name_len;
            } else if (strlen(name) == l.name_len && memcmp(name, l.name, l.name_len) == 0) {
                str = l.value;
                sl = l.value_len;
            }
            if (str) {
                if (cnt == cap) {
                    char **nv = realloc(v, 2 * cap * sizeof *nv);
                    if (!nv) {
                        rc = -ENOMEM;
                        break;
                    }
                    v = nv;
                    cap *= 2;
                }
                if (!(v[cnt] = strndup(str, sl)))
                    rc = -ENOMEM;
                else
                    cnt++;
            }
            more = sl_key_next_label(&it, &l);
        }
    }
    sl_series_set_destroy(ss);
    if (rc) {
        sl_strv_free(v, cnt);
        return rc;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, str_cmp);
    size_t o = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (o && strcmp(v[o - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[o++] = v[i];
    }
    *out = v;
    *n = o;
    return 0;
}

int sl_store_delete(struct sl_store *s, const struct sl_store_matcher *m, size_t nm, int64_t mint,
                    int64_t maxt, size_t *nseries)
{
    if (mint > maxt)
        return -EINVAL;
    struct sl_matchers *ms;
    int rc = sl_matchers_compile(m, nm, &ms, NULL, 0);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->mmu);
    pthread_mutex_lock(&s->wmu);
    struct sl_series_set *ss = NULL;
    char **skeys = NULL;
    uint32_t *sklens = NULL;
    size_t nsk = 0;
    rc = sl_store__select(s, ms, mint, maxt, SL_SELECT_KEYS_ONLY, &ss);
    /* timer sketches are series of their own (kind SL_METRIC_TIMER keys): same matchers */
    if (!rc)
        rc = sl_store__sketch_keys(s, ms, mint, maxt, &skeys, &sklens, &nsk);
    sl_matchers_destroy(ms);
    if (rc)
        goto out;
    size_t old = s->ntombs;
    size_t need = 16 + 10;
    for (size_t i = 0; i < ss->n; i++)
        need += 10 + ss->a[i].keylen;
    for (size_t i = 0; i < nsk; i++)
        need += 10 + sklens[i];
    /* The WAL record comes first: if we crash before the tombstone file is written, replay
     * still removes the samples from the head, and the caller, who got no answer, retries. */
    if (!(rc = rec_reserve(s, need))) {
        put64le(s->rec, (uint64_t)mint);
        put64le(s->rec + 8, (uint64_t)maxt);
        size_t o = 16 + sl_varint_put(s->rec + 16, ss->n + nsk);
        for (size_t i = 0; i < ss->n; i++) {
            o += sl_varint_put(s->rec + o, ss->a[i].keylen);
            memcpy(s->rec + o, ss->a[i].key, ss->a[i].keylen);
            o += ss->a[i].keylen;
        }
        for (size_t i = 0; i < nsk; i++) {
            o += sl_varint_put(s->rec + o, sklens[i]);
            memcpy(s->rec + o, skeys[i], sklens[i]);
            o += sklens[i];
        }
        struct iovec v = {s->rec, o};
        rc = sl_wal_append(s->wal, SL_WAL_REC_DELETE, &v, 1);
    }
    pthread_rwlock_wrlock(&s->tlock);
    for (size_t i = 0; i < ss->n && !rc; i++)
        rc = tomb_add(s, ss->a[i].key, ss->a[i].keylen, mint, maxt, s->next_seq);
    for (size_t i = 0; i < nsk && !rc; i++)
        rc = tomb_add(s, skeys[i], sklens[i], mint, maxt, s->next_seq);
    if (!rc)
        rc = sl_store__tombs_save(s);
    if (rc) {
        /* roll the in-memory tombstones back */
        while (s->ntombs > old)
            free(s->tombs[--s->ntombs].key);
        sl_keymap_fini(&s->tomb_map);
        size_t n = s->ntombs;
        s->ntombs = 0;
        for (size_t i = 0; i < n; i++) {
            struct sl_tomb t = s->tombs[i];
            tomb_add(s, t.key, t.keylen, t.mint, t.maxt, t.seq_limit);
            free(t.key);
        }
        pthread_rwlock_unlock(&s->tlock);
        goto out;
    }
    pthread_rwlock_unlock(&s->tlock);
    s->tomb_gen++;
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < ss->n; i++)
        sl_head_delete(&s->head, ss->a[i].key, ss->a[i].keylen, mint, maxt);
    /* Series emptied by the delete leave the head and its postings now, not at the next
     * cut. Out of memory only keeps them (empty, so no query returns them) until then. */
    if (sl_head_forget_empty(&s->head))
        SL_WARN("storage=store event=head_forget_failed err=\"%s\"", sl_strerror(-ENOMEM));
    for (size_t i = 0; i < nsk; i++)
        sl_skhead_delete(&s->skhead, skeys[i], sklens[i], mint, maxt);
    pthread_rwlock_unlock(&s->lock);
    if (nseries)
        *nseries = ss->n + nsk;
out:
    for (size_t i = 0; i < nsk; i++)
        free(skeys[i]);
    free(skeys);
    free(sklens);
    sl_series_set_destroy(ss);
    pthread_mutex_unlock(&s->wmu);
    pthread_mutex_unlock(&s->mmu);
    return rc;
}

void sl_store_stats(struct sl_store *s, struct sl_store_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_rwlock_rdlock(&s->lock);
    st->head_series = s->head.n;
    st->head_samples = s->head.nsamples;
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct sl_block_meta *m = s->blocks[i]->m;
        if (m->resolution_ms == 0) {
            st->blocks++;
            st->block_samples += m->nsamples;
            st->block_data_bytes += m->data_bytes;
            st->block_index_bytes += m->index_bytes;
            st->block_sketches += m->nsketches;
            st->block_sketch_bytes += m->sketch_bytes;
        } else {
            st->tier_blocks++;
            st->tier_bytes += m->data_bytes + m->index_bytes + m->sketch_bytes;
            st->tier_sketch_bytes += m->sketch_bytes;
        }
    }
    st->head_sketches = s->skhead.nsketches;
    st->head_sketch_bytes = s->skhead.bytes;
    st->corrupt_blocks = s->corrupt_blocks;
    st->replay = s->replay;
    pthread_rwlock_unlock(&s->lock);
    pthread_rwlock_rdlock(&s->tlock);
    st->tombstones = s->ntombs;
    pthread_rwlock_unlock(&s->tlock);
    st->wal_bytes = s->wal ? sl_wal_size(s->wal) : 0;
}
