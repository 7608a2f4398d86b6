/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file store.h
 * The time-series store: the facade over the WAL (wal.h), the in-memory head, immutable
 * blocks (block.h) with their label index, downsampled tiers (tier.h), tombstones and
 * retention. The daemon's flush sink appends into it; the PromQL engine reads from it.
 * Timer series also bring the DDSketch of each flush interval (sl_store_append_sketches),
 * which the store keeps beside the samples through the same WAL, head, blocks and tiers
 * (merged per bucket) so quantiles over any range come from sl_store_read_sketch().
 *
 * Data directory layout (details in storage/FORMAT.md):
 *     <dir>/wal/NNNNNNNN.wal      WAL segments
 *     <dir>/b-<seq>/data          published blocks (raw and tiers)
 *     <dir>/b-<seq>.tmp/          a block being written (deleted on open)
 *     <dir>/b-<seq>.corrupt/      a block that failed verification (kept for inspection)
 *     <dir>/tombstones            pending deletions, purged by compaction
 *     <dir>/LOCK                  flock(2)ed by the process that has the store open
 *
 * Durability: sl_store_append() returns 0 only after the batch is in the WAL (and fsynced
 * under SL_WAL_FSYNC_BATCH); after a crash, sl_store_open() replays it. A batch is
 * all-or-nothing: validated first, written as one WAL record, applied to the head under one
 * write lock, so no query ever sees half of it.
 *
 * Threads: sl_store_append(), sl_store_delete() and sl_store_maintain() may be called from
 * any number of threads; an internal mutex serialises appends (one lock per flush per shard,
 * never per sample). Maintenance holds that mutex only while it cuts the head (bounded by
 * one block range); compaction, downsampling and retention run beside appends. Readers (select, labels, aggregates) may run concurrently with writers
 * and each other: they copy what they need from the head under a read lock and hold
 * references on the blocks they read, so maintenance can replace blocks underneath them.
 * open/close: one thread, with no other call in flight.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/match.h"
#include "storage/tier.h"
#include "storage/wal.h"

#define SL_TIERS_MAX 6

struct sl_tier_cfg {
    int64_t resolution_ms; /* bucket width; each tier's must be a multiple of the one below */
    int64_t retention_ms;  /* 0 = keep forever */
};

struct sl_store_cfg {
    const char *dir;            /* BORROWED for sl_store_open(); created if missing */
    enum sl_wal_fsync fsync;    /* default SL_WAL_FSYNC_BATCH: one fdatasync per append */
    size_t wal_segment_bytes;   /* default 64 MiB */
    int64_t block_range_ms;     /* raw block width, default 2 h */
    int64_t compact_range_ms;   /* adjacent blocks merge up to this width, default 24 h */
    int64_t ooo_window_ms;      /* oldest accepted sample relative to the newest, default 1 y */
    int64_t raw_retention_ms;   /* default 15 d; 0 = keep forever */
    unsigned ntiers;            /* downsampled tiers, default 4 (1m, 5m, 1h, 1d) */
    struct sl_tier_cfg tiers[SL_TIERS_MAX];
};

/** Fill @cfg with the defaults above (dir = "./sluice-data"). */
void sl_store_cfg_defaults(struct sl_store_cfg *cfg);

/**
 * Validate @cfg. @return 0, or -EINVAL with a message naming the bad key in @errbuf.
 */
int sl_store_cfg_check(const struct sl_store_cfg *cfg, char *errbuf, size_t errlen);

struct sl_store;

/**
 * Open (creating if needed) the store in cfg->dir: take an exclusive flock(2) on
 * `<dir>/LOCK` (held until sl_store_close(); the kernel releases it if the process dies),
 * load and verify every block (a corrupt
 * one is renamed to .corrupt, logged with its file name and skipped), delete leftover .tmp
 * directories, load tombstones, replay the WAL into the head (torn tails are cut and logged).
 * @param[out] out OWNED; sl_store_close(). Untouched on failure.
 * @return 0; -EINVAL (bad cfg); -EBUSY (another process holds `<dir>/LOCK`: a running
 *         sluiced or import; logged with the file, nothing in the directory is touched);
 *         SL_E_VERSION (a block, WAL segment or tombstone file of a
 *         foreign format version: the file is named in the log and nothing is modified);
 *         -errno (mkdir/open/permission, named in the log); -ENOMEM.
 */
int sl_store_open(const struct sl_store_cfg *cfg, struct sl_store **out);

/** Close: the WAL already holds everything; nothing is flushed. NULL is a no-op. */
void sl_store_close(struct sl_store *s);

/**
 * One sample. @key is a canonical series key (engine/key.h) with its kind byte, e.g.
 * SL_KIND_PLAIN; BORROWED for the call.
 */
/* Largest |timestamp| accepted, ms (about 36 million years): bucket and window arithmetic
 * (floor division times a width of up to a compaction window) never overflows below it. */
#define SL_STORE_T_LIMIT (INT64_C(1) << 60)

struct sl_sample {
    const char *key;
    uint32_t key_len;
    int64_t t; /* milliseconds since the epoch, |t| < SL_STORE_T_LIMIT */
    double v;  /* any bit pattern, stored exactly (NaN payloads included) */
};

struct sl_ddsketch;

/**
 * The quantile sketch (engine/ddsketch.h) of one timer series over one flush interval.
 * @key is the timer's own canonical key (kind SL_METRIC_TIMER: the base series, not one of
 * its expanded _sum/_count/quantile samples); @sketch must use SL_DDSKETCH_ALPHA, so that
 * every sketch of the store merges with every other. Both BORROWED for the call.
 */
struct sl_sketch_sample {
    const char *key;
    uint32_t key_len;
    int64_t t; /* the flush time, ms */
    const struct sl_ddsketch *sketch;
};

struct sl_sample_batch {
    const struct sl_sample *samples; /* BORROWED for the call */
    size_t n;
};

/**
 * Append a batch: WAL first (durable per cfg.fsync), then the head. All-or-nothing: the
 * samples and the sketches of a batch are one WAL record and one head update.
 * Samples (and sketches) with a timestamp already present for their series overwrite it
 * (last write wins).
 * @return 0; -EINVAL (a key that is not canonical: empty, too long, not NUL-terminated;
 *         a NULL sketch or one whose alpha is not SL_DDSKETCH_ALPHA; |t| >= SL_STORE_T_LIMIT);
 *         SL_E_LIMIT (a sample older than newest - ooo_window: nothing is written);
 *         -ENOMEM; -errno from the WAL write or fsync (nothing is applied; retry later).
 * Thread: any; serialised internally.
 */
int sl_store_append(struct sl_store *s, const struct sl_sample_batch *b);

/**
 * sl_store_append() of @b together with @nsk timer interval sketches @sk (BORROWED for the
 * call), as one unit: one WAL record, one head update, so a query sees a flush's samples
 * and sketches together or not at all. @b may hold no samples. Same returns.
 * Thread: any; serialised internally.
 */
int sl_store_append_sketches(struct sl_store *s, const struct sl_sample_batch *b,
                             const struct sl_sketch_sample *sk, size_t nsk);

/** One series of a result set; every pointer BORROWED until sl_series_set_destroy(). */
struct sl_store_series {
    const char *key;
    size_t key_len;
    const int64_t *t; /* strictly increasing */
    const double *v;
    size_t n;
};

struct sl_series_set;

/** sl_store_select() flags. */
#define SL_SELECT_KEYS_ONLY 1u /* series that have samples in range; no samples returned */
#define SL_SELECT_LAST 2u      /* each series' newest sample in range only (instant reads) */

/**
 * Every series matching all of @m[0..nm) with samples in [mint, maxt] (inclusive), sorted
 * by key, each with its samples in time order, merged across the head, raw blocks and
 * out-of-order data; for duplicate timestamps the most recent write wins. Deleted samples
 * are not returned. A consistent snapshot: it sees each append entirely or not at all.
 * @param[out] out OWNED; sl_series_set_destroy().
 * @param errbuf  receives the reason for -EINVAL (bad regex), may be NULL.
 * @return 0, -EINVAL, -ENOMEM, SL_E_CORRUPT (a chunk failed to decode; logged with its block).
 */
int sl_store_select(struct sl_store *s, const struct sl_store_matcher *m, size_t nm, int64_t mint,
                    int64_t maxt, unsigned flags, struct sl_series_set **out, char *errbuf,
                    size_t errlen);

size_t sl_series_set_count(const struct sl_series_set *ss);
/** Series @i (< count) into @out; pointers BORROWED until destroy. */
void sl_series_set_get(const struct sl_series_set *ss, size_t i, struct sl_store_series *out);
/**
 * Hand series @i's sample arrays (out->t and out->v of sl_series_set_get(), when n > 0) over
 * to the caller: they are TRANSFERRED as ONE malloc() block that starts at out->t (out->v
 * points inside it): free(out->t) releases both. The set no longer frees them; the
 * series' samples must not be read through the set after.
 */
void sl_series_set_take(struct sl_series_set *ss, size_t i);
void sl_series_set_destroy(struct sl_series_set *ss);

/**
 * sl_store_select() in two halves, so that several threads can decode one selection and
 * each can use a series' samples while they are still in its cache instead of the whole
 * selection being materialised first (10,000 series x 6 h is ~350 MB of decoded samples).
 *
 * sl_store_select_parts() matches, takes references on the blocks, copies the head's
 * samples in the window (the consistent snapshot, as sl_store_select() takes it) and
 * sorts the candidate series by key; nothing is decoded. sl_series_parts_read() then
 * decodes candidates [lo, hi) one at a time. A candidate is any series with a chunk or
 * head sample overlapping [mint, maxt]; one whose samples all fall outside (or are
 * deleted) is skipped by the read, so the series a read passes to @fn are exactly those
 * sl_store_select() returns, with the same samples, in the same (key) order.
 * The selection keeps the store's tombstone lock for reading until destroyed, as a select
 * does for its length: destroy it when the query is done with it.
 * @param[out] out OWNED; sl_series_parts_destroy().
 * @return as sl_store_select().
 * Thread: any; the selection belongs to the calling thread, which must also destroy it.
 */
struct sl_series_parts;
/** Threads the caller lends sl_store_select_parts() for the head copy: run(ctx, fn, arg)
 *  must call fn(arg, w) on the calling thread (w = 0) and on any number of other threads
 *  (w = 1, 2, ... distinct, below 64) at once, and return when all have returned. */
struct sl_store_par {
    void (*run)(void *ctx, void (*fn)(void *arg, unsigned w), void *arg);
    void *ctx;
};
/** @param par  NULL, or threads for the head copy (made while the head's read lock is
 *              held: appends wait for it, so more threads make that wait shorter). */
int sl_store_select_parts(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                          int64_t mint, int64_t maxt, const struct sl_store_par *par,
                          struct sl_series_parts **out, char *errbuf, size_t errlen);

/** Number of candidate series of @p (an upper bound on what reads pass on). */
size_t sl_series_parts_count(const struct sl_series_parts *p);

/** Called by sl_series_parts_read() for each series with samples; @s and everything it
 *  points to BORROWED until the callback returns. @return 0 to go on, negative to stop. */
typedef int sl_store_series_fn(void *arg, const struct sl_store_series *s);

/**
 * Decode candidates [lo, hi) (hi <= count) of @p in order, calling @fn for those with
 * samples in the window. Scratch memory is allocated per call and grows with the longest
 * series, never per sample.
 * @return 0; the first negative value @fn returned; -ENOMEM; SL_E_CORRUPT (logged).
 * Thread: any number of threads may read one selection at once (disjoint ranges or not)
 * while the thread that made it keeps it alive.
 */
int sl_series_parts_read(struct sl_series_parts *p, size_t lo, size_t hi,
                         sl_store_series_fn *fn, void *arg);

/** Release @p (block references, head copy, tombstone lock). NULL is a no-op. Thread: the
 *  one that called sl_store_select_parts(). */
void sl_series_parts_destroy(struct sl_series_parts *p);

/**
 * Sorted, unique label names (including "__name__") of the series sl_store_select() would
 * return, or their values of label @name when @name is not NULL.
 * @param[out] out OWNED array of OWNED NUL-terminated strings: sl_strv_free(out, n).
 * @return 0, -EINVAL, -ENOMEM, SL_E_CORRUPT.
 */
int sl_store_labels(struct sl_store *s, const char *name, const struct sl_store_matcher *m, size_t nm,
                    int64_t mint, int64_t maxt, char ***out, size_t *n);
void sl_strv_free(char **v, size_t n);

/**
 * Delete the samples in [mint, maxt] of every series matching @m: they disappear from query
 * results at once (head samples are removed, block samples are hidden by a durable
 * tombstone) and are physically removed when maintenance rewrites the blocks holding them.
 * @param[out] nseries number of series affected (may be NULL).
 * @return 0, -EINVAL, -ENOMEM, -errno (tombstone file or WAL write; nothing deleted).
 */
int sl_store_delete(struct sl_store *s, const struct sl_store_matcher *m, size_t nm, int64_t mint,
                    int64_t maxt, size_t *nseries);

/**
 * Per-bucket aggregates of one series at @resolution_ms (0 < resolution, normally one of the
 * configured tiers) for buckets starting in [mint, maxt]: read from tier blocks where
 * maintenance has built them, computed from the raw data (blocks and head) for the rest.
 * @param[out] out OWNED (free()), sorted by bucket start; NULL when *n == 0.
 * @return 0, -EINVAL, -ENOMEM, SL_E_CORRUPT.
 */
int sl_store_read_agg(struct sl_store *s, const char *key, size_t keylen, int64_t resolution_ms,
                      int64_t mint, int64_t maxt, struct sl_agg **out, size_t *n);

/** sl_store_select_agg() flags. */
#define SL_AGG_WITH_INCR 1u /* the incr column is needed: look back for the sample before mint */

/**
 * Called once per series by sl_store_select_agg(): @key (a canonical key) and @b (@n > 0
 * buckets sorted by start) are BORROWED until the callback returns.
 * @return 0 to continue; a negative value stops the walk and is returned by the caller.
 */
typedef int sl_store_agg_fn(void *arg, const char *key, size_t keylen, const struct sl_agg *b,
                            size_t n);

/**
 * Per-bucket aggregates at @resolution_ms (> 0) of every series matching all of @m[0..nm)
 * (nm >= 1), for the buckets starting in [floor(mint), maxt]: what sl_store_read_agg() gives
 * for one key, for a whole selector at once. A window of the compaction range is read from
 * its tier block when that block is fresh (built from the current blocks below it, and the
 * head holds nothing in the window); every other window is computed from raw samples (one
 * select per run of such windows), so the buckets always equal sl_agg_from_raw() over what
 * sl_store_select() returns, NaN samples excluded. A resolution that is not a configured
 * tier is computed from raw entirely. Series found only in tier blocks (raw past
 * retention) are included. Series order is unspecified.
 * @param flags  SL_AGG_WITH_INCR when the incr column is used: the sample before the first
 *               raw-computed bucket is then looked for up to one compaction window back
 *               (without it, the first such bucket's incr counts no increase into it).
 * @param[out] tier_windows  number of windows answered from tier blocks (may be NULL).
 * @param errbuf  receives the reason for -EINVAL (bad regex), may be NULL.
 * @return 0, the first negative value @fn returned, -EINVAL, -ENOMEM, SL_E_CORRUPT.
 * Thread: any, concurrently with appends and maintenance.
 */
int sl_store_select_agg(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                        int64_t resolution_ms, int64_t mint, int64_t maxt, unsigned flags,
                        sl_store_agg_fn *fn, void *arg, size_t *tier_windows, char *errbuf,
                        size_t errlen);

/**
 * Called once per series by sl_store_select_at(): @key and the @n (> 0) samples @t/@v
 * (ascending, each at one of the asked instants) BORROWED until the callback returns.
 * @return 0 to continue; a negative value stops the walk and is returned by the caller.
 */
typedef int sl_store_at_fn(void *arg, const char *key, size_t keylen, const int64_t *t,
                           const double *v, size_t n);

/**
 * The raw samples sitting exactly at the instants @at[0..nat) (strictly ascending) of every
 * series matching all of @m[0..nm) (nm >= 1): what sl_store_select() would return for those
 * timestamps (blocks and head merged, the latest write of a timestamp wins, deleted samples
 * hidden), but a raw chunk is decoded only if it holds one of the instants, once for all of
 * them, and nothing else is copied. For tier answers that need the samples on bucket
 * boundaries (query/tierplan.h). Series without a sample at any instant are not reported.
 * @return 0, the first negative value @fn returned, -EINVAL (bad regex, unsorted @at),
 *         -ENOMEM, SL_E_CORRUPT.
 * Thread: any, concurrently with appends and maintenance.
 */
int sl_store_select_at(struct sl_store *s, const struct sl_store_matcher *m, size_t nm,
                       const int64_t *at, size_t nat, sl_store_at_fn *fn, void *arg,
                       char *errbuf, size_t errlen);

/** What sl_store_tier_span() reports about one tier. */
struct sl_tier_span {
    int64_t resolution_ms;     /* the tier's bucket width */
    int64_t mint, maxt;        /* first and last bucket start held in tier blocks; mint > maxt
                                  when maintenance has built none yet */
    double samples_per_bucket; /* raw samples per bucket, over the windows that hold both a
                                  raw and a tier block (0 when none do): how much smaller
                                  than raw the tier is */
};

/**
 * Configured tier @k (0 = finest) and the data its blocks hold now, into @out.
 * @return 0, or -ENOENT when k >= the number of configured tiers.
 */
int sl_store_tier_span(struct sl_store *s, unsigned k, struct sl_tier_span *out);

/** One bucket of sl_store_read_sketch(). */
struct sl_sketch_bucket {
    int64_t t;                  /* bucket start (the flush time at resolution 0) */
    struct sl_ddsketch *sketch; /* OWNED by the array: sl_sketch_buckets_free() */
};

/**
 * Per-bucket merged quantile sketches of the timer series @key (kind SL_METRIC_TIMER, as
 * appended) for buckets starting in [mint, maxt]. @resolution_ms 0 returns each flush
 * interval's sketch as it was appended; > 0 merges every interval sketch of each bucket
 * (a bucket starting in range includes all of its intervals). For a configured tier the
 * buckets come from tier blocks where maintenance built them and are merged from the raw
 * sketches (blocks and head) for the rest, like sl_store_read_agg(); the two give the same
 * bins. Deleted intervals are left out (a tier bucket touched by a deletion goes entirely).
 * @param[out] out OWNED, sorted by t; NULL when *n == 0.
 * @return 0, -EINVAL (resolution < 0, mint > maxt, empty key), -ENOMEM, SL_E_CORRUPT.
 * Thread: any.
 */
int sl_store_read_sketch(struct sl_store *s, const char *key, size_t keylen,
                         int64_t resolution_ms, int64_t mint, int64_t maxt,
                         struct sl_sketch_bucket **out, size_t *n);

/** Free what sl_store_read_sketch() returned. NULL is a no-op. */
void sl_sketch_buckets_free(struct sl_sketch_bucket *b, size_t n);

/**
 * One bounded step of background work, the first that applies, in this order: cut the
 * oldest complete block range out of the head (then checkpoint and trim the WAL); rewrite a
 * block holding tombstoned samples; merge the blocks of one compaction window; build one
 * missing or stale tier block; delete one block past retention (raw only once every tier
 * covers it).
 * @param now_ms wall clock used for retention.
 * @return 1 if it did something (call again soon), 0 if there was nothing to do, -errno or
 *         SL_E_* on failure (logged with the file; the head and WAL keep the data and the
 *         step is retried on the next call).
 * Thread: any; serialised with appends.
 */
int sl_store_maintain(struct sl_store *s, int64_t now_ms);

/**
 * Cut everything in the head into blocks now, whatever the time (end of an import, before a
 * backup, benchmarks), checkpoint the WAL, and treat every window as closed until the next
 * append, so the following sl_store_maintain() calls compact and downsample all of it.
 * @return 0 or the error of the failing cut (logged; the data stays in head and WAL).
 * Thread: any; serialised with appends.
 */
int sl_store_flush_head(struct sl_store *s);

/** Counters for status pages, tests and benchmarks. */
struct sl_store_stats {
    uint64_t head_series, head_samples;
    uint64_t blocks, block_samples, block_data_bytes, block_index_bytes;
    uint64_t tier_blocks, tier_bytes;
    uint64_t head_sketches, head_sketch_bytes; /* timer interval sketches in the head */
    uint64_t block_sketches, block_sketch_bytes; /* in raw blocks (sections, compressed) */
    uint64_t tier_sketch_bytes;
    uint64_t wal_bytes;
    uint64_t tombstones;
    uint64_t corrupt_blocks; /* quarantined since open */
    struct sl_wal_replay_stats replay;
};

void sl_store_stats(struct sl_store *s, struct sl_store_stats *st);

#endif
