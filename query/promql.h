/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file promql.h
 * PromQL as Prometheus 2.42 speaks it: parse a query into an expression tree, print it back
 * in canonical form, and evaluate it as an instant or range query against a struct
 * sl_source (see source.h). Native histograms are not supported.
 *
 * Evaluation semantics follow Prometheus: 5 m lookback (configurable), staleness markers end
 * a series, range selectors cover [t - range, t], the metric name is dropped by functions
 * and arithmetic, two output series with the same labels are an error, and the limits
 * (samples held in memory, 11,000 points per series, timeout) end the query with an error
 * of kind SL_PQ_ERR_EXEC or SL_PQ_ERR_TIMEOUT.
 *
 * Memory: an expression and a result each own one arena; everything they point to lives in
 * it and is freed by sl_promql_expr_free() / sl_promql_result_free().
 * Thread: expressions are immutable after parsing except for matcher scratch, so one
 * expression is evaluated by one thread at a time; distinct queries run concurrently.
 */
#ifndef SL_QUERY_PROMQL_H
#define SL_QUERY_PROMQL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "query/source.h"

/** Error kinds; the HTTP API maps them to Prometheus' errorType and status. */
enum sl_pq_err_kind {
    SL_PQ_OK = 0,
    SL_PQ_ERR_PARSE,    /* bad_data, 400 */
    SL_PQ_ERR_EXEC,     /* execution, 422 */
    SL_PQ_ERR_TIMEOUT,  /* timeout, 503 */
    SL_PQ_ERR_INTERNAL, /* internal, 500 (store failures, out of memory) */
};

struct sl_promql_error {
    int kind;      /* enum sl_pq_err_kind */
    int line, col; /* 1-based position of a parse error, 0 otherwise */
    size_t pos;    /* byte offset of a parse error */
    char msg[512]; /* "1:8: parse error: unexpected ..." for parse errors */
};

/** Value types, in Prometheus' words. */
enum sl_pq_vtype { SL_PQ_NONE, SL_PQ_SCALAR, SL_PQ_VECTOR, SL_PQ_MATRIX, SL_PQ_STRING };

struct sl_promql_expr;

/**
 * Parse @input (NUL-terminated).
 * @param[out] out  OWNED expression (sl_promql_expr_free) on success, untouched on failure.
 * @param[out] err  filled on failure.
 * @return 0, SL_E_PROTO for a parse error (err->kind SL_PQ_ERR_PARSE), -ENOMEM.
 */
int sl_promql_parse(const char *input, struct sl_promql_expr **out, struct sl_promql_error *err);
void sl_promql_expr_free(struct sl_promql_expr *e);
/**
 * Parse a series selector as match[] takes it (`up{job="api"}`, `{__name__=~"x.*"}`).
 * @param[out] m, nm  BORROWED matchers of *out, valid until sl_promql_expr_free(*out).
 * @return as sl_promql_parse(); SL_E_PROTO also when the input is not a plain selector.
 */
int sl_promql_parse_selector(const char *input, struct sl_promql_expr **out,
                             const struct sl_matcher **m, size_t *nm,
                             struct sl_promql_error *err);
/** Type of the whole expression (enum sl_pq_vtype). */
int sl_promql_expr_type(const struct sl_promql_expr *e);
/** Append the canonical one-line text of @e to @out (Prometheus' String()). */
void sl_promql_format(const struct sl_promql_expr *e, struct sl_buf *out);
/** Append @e as Prometheus' Pretty(0) prints it (what /api/v1/format_query returns): the
 *  one-line text when it fits in 100 columns, else split per node with two-space indents. */
void sl_promql_format_pretty(const struct sl_promql_expr *e, struct sl_buf *out);

/** Which range functions of a range query may be answered from a downsampled tier of the
 *  source (the rule is in query/tierplan.h and README "Querying"). */
enum sl_pq_tiers {
    SL_PQ_TIERS_EXACT = 0, /* default: only where the answer equals the raw one */
    SL_PQ_TIERS_OFF,       /* never: raw samples only */
    SL_PQ_TIERS_COUNTERS,  /* also rate() and increase(), with the tier's bucket semantics */
};

/**
 * Query threads: a fixed pool that evaluations share. A range query's range functions over
 * plain selectors (rate(x[5m]), max_over_time(...)) are then read, decoded and computed in
 * contiguous chunks of series by the calling thread and up to threads - 1 helpers at once,
 * when the source offers the parts ops (source.h); the result is byte-identical to the
 * serial evaluation's. A helper busy with another query is simply not waited for: the
 * calling thread takes every chunk no one else has claimed, so queries never wait on each
 * other for a thread.
 */
struct sl_promql_pool;

#define SL_PROMQL_THREADS_MAX 64

/**
 * Start a pool of @threads participants: the calling thread of each evaluation plus
 * @threads - 1 helper threads (none for 1: evaluations using it run serially).
 * @param[out] out OWNED (sl_promql_pool_destroy), untouched on failure.
 * @return 0, -EINVAL (@threads 0 or above SL_PROMQL_THREADS_MAX), -ENOMEM, or the
 *         negated error of pthread_create().
 * Thread: any.
 */
int sl_promql_pool_create(unsigned threads, struct sl_promql_pool **out);
/** Stop and join the helpers. No evaluation may be using @p. NULL is a no-op. */
void sl_promql_pool_destroy(struct sl_promql_pool *p);
/** Participants of @p (the @threads it was created with). */
unsigned sl_promql_pool_threads(const struct sl_promql_pool *p);
/** A default for `threads`: the online CPUs, at least 1, at most 16. */
unsigned sl_promql_default_threads(void);

struct sl_promql_opts {
    int64_t start_ms, end_ms; /* equal for an instant query */
    int64_t step_ms;          /* > 0 for a range query, 0 for instant */
    int64_t lookback_ms;      /* 0 = 5 minutes */
    int64_t timeout_ms;       /* 0 = no timeout */
    size_t max_samples;       /* 0 = 50,000,000 like Prometheus' default */
    int tiers;                /* enum sl_pq_tiers */
    struct sl_promql_pool *pool; /* BORROWED; NULL (or a 1-thread pool) = serial */
};

struct sl_promql_point {
    int64_t t; /* ms */
    double v;
};

struct sl_promql_series {
    const struct sl_qlabel *labels; /* sorted by name */
    size_t nlabels;
    const struct sl_promql_point *pts;
    size_t npts;
};

/** A query result: for SCALAR/STRING one value at @t; for VECTOR one point per series;
 *  for MATRIX (range queries and range-selector instant queries) many. All BORROWED from
 *  the result until sl_promql_result_free(). */
struct sl_promql_result {
    int type; /* enum sl_pq_vtype */
    int64_t t;
    double scalar;
    const char *str;
    const struct sl_promql_series *series;
    size_t nseries;
    /* warnings for the API's "warnings" array (a tier answered part of the query) */
    const char *const *warnings;
    size_t nwarnings;
    void *_arena;
};

/**
 * Evaluate @e (instant when opts->step_ms == 0, else range from start to end by step).
 * Range queries need a scalar or vector expression.
 * @param[out] out  OWNED result on success.
 * @return 0; SL_E_PROTO with err filled (kind EXEC/TIMEOUT/INTERNAL) for a failed
 *         evaluation; -ENOMEM.
 */
int sl_promql_eval(struct sl_promql_expr *e, const struct sl_source *src,
                   const struct sl_promql_opts *opts, struct sl_promql_result **out,
                   struct sl_promql_error *err);
void sl_promql_result_free(struct sl_promql_result *r);

/** Parse a Prometheus duration ("1h30m", "5m", "250ms"); @return 0 with *ms, or -EINVAL. */
int sl_promql_parse_duration(const char *s, size_t len, int64_t *ms);

#endif
