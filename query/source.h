/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file source.h
 * What the PromQL evaluator needs from a store, as a small table of function pointers
 * (struct sl_source_ops) that an outer module fills in: tools/ wires storage/ into it, tests
 * and the conformance runner use the in-memory implementation below (sl_memsource_*).
 *
 * Series are handed to a callback one at a time, with BORROWED views of the labels and of
 * the samples: a store can pass pointers into its own decoded chunks and nothing is copied
 * unless the evaluator needs to keep it (it copies only the samples inside the window it
 * asked for). Labels are sorted by name, include __name__, and never hold an empty value.
 * A staleness marker is the NaN with bits 0x7ff0000000000002 (SL_STALE_NAN_BITS).
 *
 * Matchers follow Prometheus: =, !=, =~, !~, where regexes use RE2 syntax, fully anchored
 * (compiled with PCRE2 as ^(?:re)$ without the multi-line or dotall options; the PCRE-only
 * constructs RE2 rejects - lookaround, backreferences, possessive quantifiers, atomic
 * groups - are refused so both engines accept the same language). A matcher against an
 * empty value also matches series without the label, as in Prometheus.
 *
 * Thread: a source is read by many query threads at once; select/series must be safe for
 * concurrent readers. The memsource is safe for concurrent reads once loading is done.
 */
#ifndef SL_QUERY_SOURCE_H
#define SL_QUERY_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/tier.h"

#define SL_STALE_NAN_BITS 0x7ff0000000000002ULL

/** One label of a query-side label set; both strings NUL-terminated. Ownership is stated by
 *  whoever hands out the array. */
struct sl_qlabel {
    const char *name;
    const char *value;
};

enum sl_match_op { SL_MATCH_EQ, SL_MATCH_NEQ, SL_MATCH_RE, SL_MATCH_NRE };

struct sl_matcher {
    int op; /* enum sl_match_op */
    const char *name;  /* OWNED by the matcher (copied at init) */
    const char *value; /* OWNED by the matcher */
    void *_re;         /* compiled pcre2_code for RE/NRE; private */
    void *_md;         /* pcre2 match data; private */
};

/**
 * Initialise @m (copies @name and @value; compiles regexes).
 * @param errbuf  receives a message on -EINVAL (may be NULL), @errlen bytes.
 * @return 0, -EINVAL for an invalid regex, -ENOMEM.
 */
int sl_matcher_init(struct sl_matcher *m, int op, const char *name, const char *value,
                    char *errbuf, size_t errlen);
/** Free what sl_matcher_init() allocated. Safe on a zeroed matcher. */
void sl_matcher_fini(struct sl_matcher *m);
/** 1 if @value (NULL or "" = label absent) satisfies @m, else 0. Thread: the match data is
 *  per matcher, so one matcher must not be used by two threads at once. */
int sl_matcher_matches(const struct sl_matcher *m, const char *value);
/** 1 if the label set (sorted or not) satisfies every matcher. */
int sl_matchers_match(const struct sl_matcher *m, size_t nm, const struct sl_qlabel *ls,
                      size_t nls);

/**
 * Called once per selected series. @ls (@nls labels, sorted) and @ts/@vs (@n samples,
 * timestamps ascending, ms) are BORROWED until the callback returns.
 * @return 0 to continue; SL_SERIES_TAKEN (only from a select of a source with
 *         SL_SOURCE_F_TRANSFER, and only when n > 0) to continue having taken @ts and @vs;
 *         a negative value stops the walk and is returned by the caller.
 */
typedef int sl_series_fn(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                         const double *vs, size_t n);

/**
 * Called once per series by select_agg: labels as for sl_series_fn, @b (@n > 0 buckets,
 * sorted by start; see storage/tier.h for the columns) BORROWED until the callback returns.
 * @return 0 to continue; a negative value stops the walk and is returned by the caller.
 */
typedef int sl_agg_series_fn(void *arg, const struct sl_qlabel *ls, size_t nls,
                             const struct sl_agg *b, size_t n);

/** A downsampled tier a source can answer from: its bucket width, the span of bucket
 *  starts held in tier storage (mint > maxt when none yet; buckets outside it are computed
 *  from raw samples, which costs what a raw read costs) and how many raw samples a bucket
 *  stands for on average (0 = unknown). */
struct sl_source_tier {
    int64_t resolution_ms;
    int64_t mint, maxt;
    double samples_per_bucket;
};

/** The sample arrays a source passes to its callbacks stay valid, unchanged, until the
 *  source itself is modified or destroyed (immutable blocks, a loaded memsource): the
 *  evaluator then reads them in place instead of copying its window. */
#define SL_SOURCE_F_STABLE 1u
/** The sample arrays a source's select passes to its callback live in one malloc() block
 *  that starts at @ts (@vs points inside it), built for this call (the store decodes into
 *  it): the callback may keep it instead of copying, by returning SL_SERIES_TAKEN; the
 *  block is then TRANSFERRED to it (free(ts) releases both arrays). A query over 10,000
 *  series x 6 h otherwise copies ~170 MB it then drops. */
#define SL_SOURCE_F_TRANSFER 2u
#define SL_SERIES_TAKEN 1

struct sl_source_ops {
    unsigned flags; /* SL_SOURCE_F_* */
    /**
     * Call @fn for every series matching all @nm matchers (nm >= 1) that has at least one
     * sample in [mint, maxt], with the samples in [mint, maxt] (it may pass more; the caller
     * trims). Order of series is unspecified.
     * @return 0, the first negative value @fn returned, or a negative store error.
     */
    int (*select)(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                  sl_series_fn *fn, void *arg);
    /**
     * Optional (may be NULL): as select, but each series may come with only its newest
     * sample in [mint, maxt]. Used for an instant vector selector evaluated at one time,
     * which reads nothing else (an instant query over 10k series otherwise copies the
     * whole lookback window of each).
     */
    int (*select_last)(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt, sl_series_fn *fn, void *arg);
    /**
     * As select, but only labels are needed: @fn gets n == 0. @nm may be 0 (all series).
     */
    int (*series)(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                  sl_series_fn *fn, void *arg);
    /**
     * Optional (may be NULL): a one-line description of why the last select/series call
     * made on this thread failed, or NULL when there is none. A source whose data lives
     * elsewhere (tools/remote_source.h) says which node failed; the API puts it in the
     * error it returns. BORROWED, valid until the next call on this thread.
     */
    const char *(*error)(void *ctx);
    /**
     * Optional (may be NULL; then no tier is ever used): the source's tiers, finest first,
     * into @out (room for @max). @return how many there are (may exceed @max).
     */
    size_t (*tiers)(void *ctx, struct sl_source_tier *out, size_t max);
    /**
     * Optional (NULL when tiers is): per-bucket aggregates at @resolution_ms of every series
     * select() would return for [mint, maxt + resolution_ms - 1], for the buckets starting
     * in [mint, maxt] (mint a multiple of the resolution). Buckets equal sl_agg_from_raw()
     * over the series' samples (NaN samples, staleness markers included, are not counted);
     * the incr of the first bucket bridges from the sample before mint. Series without a
     * bucket in range may be omitted.
     * @return 0, the first negative value @fn returned, or a negative store error.
     */
    int (*select_agg)(void *ctx, const struct sl_matcher *m, size_t nm, int64_t resolution_ms,
                      int64_t mint, int64_t maxt, sl_agg_series_fn *fn, void *arg);
    /**
     * Optional (may be NULL; then select() is called once per instant): every matching
     * series' samples at exactly the instants @at[0..nat) (strictly ascending), passed to
     * @fn as select() passes samples; series with none may be omitted. A store answers it
     * in one pass over the chunks that hold an instant.
     * @return 0, the first negative value @fn returned, or a negative store error.
     */
    int (*select_at)(void *ctx, const struct sl_matcher *m, size_t nm, const int64_t *at,
                     size_t nat, sl_series_fn *fn, void *arg);
    /**
     * Optional (all three or none; NULL: only select() is used): select() split so that
     * several query threads can share the reading of one selector. parts_open matches on
     * the calling thread and fixes the snapshot; *@n receives the number of candidate
     * series, *@parts an OWNED handle (parts_close, on the same thread).
     * parts_read passes candidates [lo, hi) to @fn as select() would pass them (series
     * without samples in [mint, maxt] are skipped; never SL_SERIES_TAKEN; the samples
     * passed are the same as select()'s, trimmed to the window). Candidates come in one
     * order fixed for the handle; over [0, n) a read passes the series select() passes.
     * Any number of threads may call parts_read on one handle at once.
     * parts_open may use the caller's threads for its own work: @run (NULL: none) calls
     * fn(arg, w) on the calling thread (w = 0) and on other threads (w = 1, 2, ...) at
     * once and returns when all have returned.
     * @return 0, the first negative value @fn returned, or a negative store error.
     */
    int (*parts_open)(void *ctx, const struct sl_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt, void (*run)(void *rctx, void (*fn)(void *arg, unsigned w),
                                                void *arg),
                      void *rctx, void **parts, size_t *n);
    int (*parts_read)(void *ctx, void *parts, size_t lo, size_t hi, sl_series_fn *fn,
                      void *arg);
    void (*parts_close)(void *ctx, void *parts);
};

struct sl_source {
    const struct sl_source_ops *ops;
    void *ctx;
};

/* ---- in-memory source ------------------------------------------------------------------ */

struct sl_memsource;

/** @return 0 with *out OWNED (sl_memsource_destroy), or -ENOMEM. */
int sl_memsource_create(struct sl_memsource **out);
void sl_memsource_destroy(struct sl_memsource *ms);
/* Sample arrays are handed out in place (SL_SOURCE_F_STABLE): do not add, reset or clear
 * while a query is running against the source. */
/** Drop every series (the conformance `clear`). */
void sl_memsource_clear(struct sl_memsource *ms);
/**
 * Append one sample to the series with labels @ls (any order; copied; empty values are
 * dropped). Samples of a series must come in ascending time; an equal or older timestamp
 * replaces/is refused: @return 0, -EINVAL for out-of-order, -ENOMEM.
 */
int sl_memsource_add(struct sl_memsource *ms, const struct sl_qlabel *ls, size_t nls, int64_t t,
                     double v);
/** Remove every sample of series @ls (so a re-defined series starts over). */
void sl_memsource_reset_series(struct sl_memsource *ms, const struct sl_qlabel *ls, size_t nls);
/**
 * Let @ms answer select_agg at these resolutions (ms, each > 0; at most 8 are kept), as a
 * store with fully built tiers would: buckets are computed from the samples with
 * sl_agg_from_raw(). @n == 0 (the default) turns tiers off. For tests.
 */
void sl_memsource_set_tiers(struct sl_memsource *ms, const int64_t *res, size_t n);
/** The source view of @ms; BORROWED, valid until sl_memsource_destroy(). */
struct sl_source sl_memsource_source(struct sl_memsource *ms);

#endif
