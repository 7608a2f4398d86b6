/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the PromQL module shared by its .c files; nothing outside query/ includes
 * this. Everything a query allocates comes from an arena (struct pq_arena) and errors inside
 * the parser and the evaluator unwind with longjmp to the one entry point that owns the
 * arena: the tree walkers then need no cleanup paths, and an out-of-memory, a limit or a
 * type error anywhere ends the query the same way. Objects that hold non-arena resources
 * (compiled regexes) are registered with their owner and released there.
 */
#ifndef SL_QUERY_PROMQL_PVT_H
#define SL_QUERY_PROMQL_PVT_H

#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include "query/promql.h"

/* ---- arena ----------------------------------------------------------------------------- */

struct pq_chunk;
struct pq_arena {
    struct pq_chunk *head;
    size_t used, cap; /* in the head chunk */
    size_t total;     /* bytes held, for the memory limit */
    jmp_buf *oom;     /* where to unwind on allocation failure; NULL = return NULL */
};
struct pq_mark {
    struct pq_chunk *head;
    size_t used;
};
void *pq_alloc(struct pq_arena *a, size_t n); /* zeroed, 16-aligned */
void *pq_alloc_raw(struct pq_arena *a, size_t n); /* uninitialised, 16-aligned */
void *pq_memdup(struct pq_arena *a, const void *p, size_t n);
char *pq_strndup(struct pq_arena *a, const char *s, size_t n);
char *pq_strdup(struct pq_arena *a, const char *s);
struct pq_mark pq_arena_mark(const struct pq_arena *a);
void pq_arena_release(struct pq_arena *a, struct pq_mark m);
void pq_arena_fini(struct pq_arena *a);
/* growable array in an arena: *p has *cap elements of size sz; makes room for one more */
void pq_grow(struct pq_arena *a, void **p, size_t *cap, size_t n, size_t sz);
#define PQ_PUSH(a, arr, n, cap) \
    (((n) == (cap) ? pq_grow((a), (void **)&(arr), &(cap), (n), sizeof *(arr)) : (void)0), \
     &(arr)[(n)++])

/* ---- lexer ----------------------------------------------------------------------------- */

enum pq_tok {
    T_EOF, T_ERROR, T_IDENT, T_METRIC_IDENT, T_NUMBER, T_DURATION, T_STRING,
    T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_COMMA, T_COLON, T_AT,
    T_EQL, /* = */
    T_EQL_REGEX, T_NEQ_REGEX,
    /* binary operators, in the order of pq_binop_names */
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_ATAN2,
    T_EQLC, T_NEQ, T_LSS, T_LTE, T_GTR, T_GTE,
    T_LAND, T_LOR, T_LUNLESS,
    /* aggregators */
    T_SUM, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_STDDEV, T_STDVAR, T_TOPK, T_BOTTOMK,
    T_COUNT_VALUES, T_QUANTILE,
    /* keywords */
    T_OFFSET, T_BY, T_WITHOUT, T_ON, T_IGNORING, T_GROUP_LEFT, T_GROUP_RIGHT, T_BOOL,
    T_START, T_END,
};

struct pq_token {
    int type;
    size_t pos, len;
};

struct pq_lexer {
    const char *in;
    size_t len, pos;
    int brace_depth;   /* inside {...}: identifiers are label names */
    int bracket_depth; /* inside [...]: durations and ':' */
    int paren_depth;
    const char *err; /* message for T_ERROR */
    char errbuf[128];
};
void pq_lex_init(struct pq_lexer *l, const char *in);
struct pq_token pq_lex_next(struct pq_lexer *l);
const char *pq_tok_desc(int type);
int pq_is_binop(int t);
int pq_is_aggregator(int t);
int pq_is_keyword_tok(int t);

/* ---- AST ------------------------------------------------------------------------------- */

enum pq_kind { PQ_NUM, PQ_STR, PQ_VSEL, PQ_MSEL, PQ_SUBQ, PQ_PAREN, PQ_UNARY, PQ_BINARY,
               PQ_AGG, PQ_CALL };
enum pq_card { PQ_CARD_ONE_TO_ONE, PQ_CARD_MANY_TO_ONE, PQ_CARD_ONE_TO_MANY,
               PQ_CARD_MANY_TO_MANY };
enum pq_at { PQ_AT_NONE, PQ_AT_TIME, PQ_AT_START, PQ_AT_END };

struct pq_func;
struct pq_sel_cache;
struct pq_agg_cache;
/* A range function's results for every step of a range query, step-major so that one
 * step's vector is a sequential read: series i at step k is vals[k * n + i] when
 * present[k * n + i]. */
struct pq_pre {
    size_t n;
    const struct pq_lset **ls;
    double *vals;
    unsigned char *present;
    /* Filled while its selector was read by the query threads (parallel.c), before the
     * other selectors load: `loaded` samples were counted into cur_samples then, and the
     * cells are counted (or the table given up for the per-step path, re-reading the
     * selector over [mint, maxt]) when pq_func_precompute would have run. */
    int fused;
    size_t loaded;
    struct pq_node *sel; /* the selector read (inside the range selector) */
    int64_t mint, maxt;
};

struct pq_node {
    int kind; /* enum pq_kind */
    int type; /* enum sl_pq_vtype */
    size_t pos, end;
    double num;  /* NUM */
    char *str;   /* STR */
    /* VSEL (and the selector inside MSEL), SUBQ: offset and @ */
    const char *name; /* metric name given outside braces, or NULL */
    struct sl_matcher *m;
    size_t nm;
    int64_t offset;
    int at_kind; /* enum pq_at */
    int64_t at;  /* ms, when PQ_AT_TIME */
    int64_t range, step; /* MSEL: range; SUBQ: range and step (0 = default) */
    int want_corr;       /* MSEL under rate/increase: precompute counter corrections */
    /* children */
    struct pq_node *a, *b; /* UNARY/PAREN/SUBQ/MSEL: a; BINARY: a, b; AGG: a = expr, b = param */
    int op;                /* token type for UNARY/BINARY/AGG */
    /* BINARY */
    int return_bool;
    int has_matching, card, on;
    char **mlabels;
    size_t nmlabels;
    char **include;
    size_t ninclude;
    /* AGG */
    char **grouping;
    size_t ngrouping;
    int without, has_grouping;
    /* CALL */
    const struct pq_func *fn;
    struct pq_node **args;
    size_t nargs;
    /* evaluation */
    struct pq_sel_cache *cache;
    struct pq_pre *pre; /* CALL: per top-level step results (pq_func_precompute), or NULL */
    struct pq_agg_cache *agg; /* AGG: groups known so far in this query (aggregate.c) */
};

struct sl_promql_expr {
    struct pq_arena arena;
    struct pq_node *root;
    struct sl_matcher **matchers; /* every matcher, for fini */
    size_t nmatchers, capmatchers;
};

void pq_format_node(const struct pq_node *n, struct sl_buf *b);
void pq_format_double(struct sl_buf *b, double v); /* as Go strconv 'g' -1 */
void pq_format_duration(struct sl_buf *b, int64_t ms);
void pq_format_json_value(struct sl_buf *b, double v); /* Prometheus API value strings */
void pq_format_float_f(struct sl_buf *b, double v);    /* strconv 'f', -1 */

/* ---- functions ------------------------------------------------------------------------- */

struct pq_ev;
struct pq_val;
typedef void pq_func_fn(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                        struct pq_val *out);

struct pq_func {
    const char *name;
    int argtypes[6];
    int nargs;
    int variadic; /* 0, or max extra optional args (-1 = unbounded) */
    int ret;
    pq_func_fn *fn;
};
const struct pq_func *pq_func_lookup(const char *name, size_t len);
/* For a range query: if @call is a range function over a plain range selector (other
 * arguments literals), compute its result for every step series by series - each series'
 * samples are then read once, in order - into call->pre. Returns 1 if it did. */
int pq_func_precompute(struct pq_ev *ev, struct pq_node *call, int64_t nsteps);


/* ---- evaluation values ----------------------------------------------------------------- */

struct pq_lset {
    uint64_t hash;
    /* Caches, set only on label sets that live as long as the query (selector series), so
     * per-step work on them is not repeated: the set without __name__, and the last
     * grouping signature with the node it was computed for. */
    const struct pq_lset *noname;
    const void *sig_owner;
    uint64_t sig;
    /* one more per-node cache on such sets: the aggregation group slot (aux_idx) or the
     * histogram bucket (aux_key, aux_num, aux_ok) computed for node aux_owner */
    const void *aux_owner;
    uint64_t aux_key;
    double aux_num;
    size_t aux_idx;
    int aux_ok;
    uint32_t n;
    int cacheable; /* also: the set, l[] and its strings are in ev->res (the result's arena) */
    struct sl_qlabel l[];
};

struct pq_sample {
    const struct pq_lset *ls;
    double v;
    int64_t t; /* used by timestamp(); otherwise the step time */
};

struct pq_vec {
    struct pq_sample *s;
    size_t n, cap;
};

/* One series of a range value at one step: points are BORROWED from the selector cache or
 * from the arena of the step (subqueries). */
struct pq_mseries {
    const struct pq_lset *ls;
    const int64_t *ts;
    const double *vs;
    size_t n;
    /* counter resets inside the window: corr_sum = corr(last) - corr(first) of the selector
     * series (see pq_sel_series), valid when has_corr */
    int has_corr;
    double corr_sum;
};

struct pq_mat {
    struct pq_mseries *s;
    size_t n, cap;
};

struct pq_val {
    int type;
    double scalar;
    const char *str;
    struct pq_vec vec;
    struct pq_mat mat;
};

struct pq_sel_series {
    const struct pq_lset *ls;
    int64_t *ts;
    double *vs;
    size_t n;
    /* Counter resets for rate/increase, when has_corr: the prefix sum corr(i), the sum over
     * j in 1..i of vs[j-1] where vs[j] < vs[j-1] (added in order), kept sparsely since resets
     * are rare: rst[0..nrst) are the resets in index order, rst[r].i the index j and
     * rst[r].cum the sum over resets 0..r. corr(i) = rst[r - 1].cum for the r resets at
     * indexes <= i, 0 if none. */
    int has_corr;
    struct pq_reset {
        size_t i;
        double cum;
    } *rst;
    size_t nrst;
    /* window positions of the previous step: steps mostly move forward, so the next
     * window is found by a short scan instead of two binary searches */
    size_t hint_lo, hint_hi;
    int64_t hint_mint, hint_maxt;
};

struct pq_sel_cache {
    struct pq_sel_series *s;
    size_t n;
};

struct pq_ev {
    struct pq_arena *res; /* lives as long as the result */
    struct pq_arena *tmp; /* per step scratch */
    jmp_buf jb;
    struct sl_promql_error *err;
    const struct sl_source *src;
    int64_t start, end, step, lookback, deadline_ns;
    size_t max_samples, cur_samples;
    unsigned ticks;
    int64_t ts; /* current evaluation time */
    int64_t step_k; /* index of the top-level range step, -1 inside subqueries/instant */
    int tiers;      /* enum sl_pq_tiers */
    const char **warnings; /* in ev->res; see tierplan.h */
    size_t nwarnings, capwarnings;
    struct sl_promql_pool *pool; /* query threads, or NULL */
    int par_ok;                  /* selectors may be read in parallel here (not in subqueries) */
    /* sample blocks taken over from the source (SL_SOURCE_F_TRANSFER: ts and vs in one
     * block starting at ts), free()d when the evaluation ends */
    void **owned;
    size_t nowned, capowned;
};

_Noreturn void pq_fail(struct pq_ev *ev, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* label sets */
const struct pq_lset *pq_lset_make(struct pq_arena *a, const struct sl_qlabel *l, size_t n);
const char *pq_lset_get(const struct pq_lset *ls, const char *name);
const struct pq_lset *pq_lset_drop_name(struct pq_arena *a, const struct pq_lset *ls);
int pq_lset_eq(const struct pq_lset *a, const struct pq_lset *b);
void pq_lset_format(const struct pq_lset *ls, struct sl_buf *b);
/* signature over (on=1) only / (on=0) all but @names; also skips __name__ when !on */
uint64_t pq_lset_sig(const struct pq_lset *ls, char *const *names, size_t nn, int on);
/* the same, cached on long-lived label sets under @owner (the node asking) */
uint64_t pq_lset_sig_cached(const struct pq_lset *ls, const void *owner, char *const *names,
                            size_t nn, int on);
/* the label set restricted the same way */
const struct pq_lset *pq_lset_restrict(struct pq_arena *a, const struct pq_lset *ls,
                                       char *const *names, size_t nn, int on);
int pq_lset_cmp(const struct pq_lset *a, const struct pq_lset *b);

/* simple hash map from 64-bit key to index, in an arena */
struct pq_hmap {
    uint64_t *keys;
    size_t *vals;
    size_t cap, n;
};
void pq_hmap_init(struct pq_arena *a, struct pq_hmap *m, size_t hint);
/* returns pointer to value slot; *found says whether it existed (value untouched) */
size_t *pq_hmap_put(struct pq_arena *a, struct pq_hmap *m, uint64_t key, int *found);
size_t *pq_hmap_get(const struct pq_hmap *m, uint64_t key);

/* evaluator pieces */
/* number of resets of @s at indexes <= i (binary search; resets are few) */
size_t pq_corr_rank(const struct pq_sel_series *s, size_t i);
static inline double pq_corr_at_rank(const struct pq_sel_series *s, size_t r)
{
    return r ? s->rst[r - 1].cum : 0;
}
void pq_window_idx(struct pq_sel_series *s, int64_t mint, int64_t maxt, size_t *lo, size_t *hi);
void pq_eval_node(struct pq_ev *ev, struct pq_node *n, struct pq_val *out);
void pq_eval_binary(struct pq_ev *ev, struct pq_node *n, struct pq_val *l, struct pq_val *r,
                    struct pq_val *out);
void pq_eval_aggregate(struct pq_ev *ev, struct pq_node *n, struct pq_val *arg,
                       struct pq_val *param, struct pq_val *out);
/* In a range query step, sum(...) over a precomputed range function: the step's row of
 * @p aggregated directly, with groups resolved once per series. Returns 1 if it set @out,
 * 0 if the general path must run (not a sum, or the groups cannot be cached). */
int pq_agg_sum_pre(struct pq_ev *ev, struct pq_node *n, const struct pq_pre *p,
                   struct pq_val *out);
void pq_vec_push(struct pq_ev *ev, struct pq_vec *v, const struct pq_lset *ls, double val);
void pq_check_dup(struct pq_ev *ev, const struct pq_vec *v);
void pq_check_deadline(struct pq_ev *ev);
double pq_binop_scalar(int op, double a, double b, int *keep);
int pq_is_comparison(int op);
double pq_quantile(double q, double *vals, size_t n); /* sorts vals */

/* ---- selector loading pieces shared with parallel.c (eval.c) ---------------------- */

static inline int pq_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits == SL_STALE_NAN_BITS;
}
/* Staleness and counter resets of one series' values (see eval.c); resets go to ev->res. */
int pq_scan_values(struct pq_ev *ev, const double *vs, size_t n, int check_stale,
                   struct pq_sel_series *s);
/* A selector series' label set in @a as the loader builds it: strings copied, sorted,
 * cacheable, with its __name__-less twin cached. */
struct pq_lset *pq_sel_lset(struct pq_arena *a, const struct sl_qlabel *ls, size_t nls);
/* The window a range selector reads when its call is evaluated at times in [mint, maxt]. */
void pq_msel_window(struct pq_ev *ev, const struct pq_node *msel, int64_t mint, int64_t maxt,
                    int64_t *lo, int64_t *hi);
/* Load @sel (an instant selector node, or the one inside a range selector) over
 * [mint, maxt] into sel->cache. */
void pq_load_selector(struct pq_ev *ev, struct pq_node *sel, int64_t mint, int64_t maxt,
                      int drop_stale);
/* The same; @last_only: @sel is an instant selector evaluated at one time, so the source
 * may hand over only each series' newest sample (sl_source_ops.select_last). */
void pq_load_selector_last(struct pq_ev *ev, struct pq_node *sel, int64_t mint, int64_t maxt,
                           int drop_stale, int last_only);
/* Move every chunk of @src into @dst (which then frees them); @src is left empty. */
void pq_arena_adopt(struct pq_arena *dst, struct pq_arena *src);

/* ---- query threads (pool.c, parallel.c) ------------------------------------------------ */

/* Runs on each participant: @worker is 0 for the calling thread, 1.. for helpers (below
 * the pool's thread count); several participants run it at once. */
typedef void pq_task_fn(void *arg, unsigned worker);
/* Run @fn on the calling thread and on every helper that is free, and return once all
 * that started have returned. */
void pq_pool_run(struct sl_promql_pool *p, pq_task_fn *fn, void *arg);
/* In a range query, before its selector loads: read the range selector of precomputable
 * call @call with the query threads, each series decoded, scanned and computed while in
 * cache, into call->pre (fused). @mint/@maxt: the times the call is evaluated at. Returns
 * 1 if it did, 0 if the caller must load the selector as usual. */
int pq_par_precompute(struct pq_ev *ev, struct pq_node *call, int64_t mint, int64_t maxt);

/* ---- range functions series by series (functions.c) ----------------------------- */

typedef int pq_range_fn(struct pq_ev *ev, struct pq_node *call, struct pq_val *args,
                        const struct pq_mseries *s, double *out);
/* What evaluating range function @call series by series needs, set up once per query:
 * its function, literal arguments and every step's window (in ev->tmp). */
struct pq_pre_plan {
    struct pq_node *call, *msel;
    pq_range_fn *fn;
    int keep, ex;
    struct pq_val args[3];
    int64_t nsteps;
    const int64_t *wstart, *wend;
    double range_s;
};
/* 1 with @pl set if @call can be precomputed (a range function over a plain range
 * selector, other arguments literals), else 0. */
int pq_pre_plan(struct pq_ev *ev, struct pq_node *call, int64_t nsteps, struct pq_pre_plan *pl);
/* 1 if the function is sure to fail on its arguments (the serial path then reports it). */
int pq_pre_fails(const struct pq_pre_plan *pl);
/* One series' cells for every step: vals/present point at its column of step 0, @ns cells
 * per step. Reads @s only; scratch in ev->tmp. */
void pq_pre_series(struct pq_ev *ev, const struct pq_pre_plan *pl, const struct pq_sel_series *s,
                   const struct pq_lset *ls, double *vals, unsigned char *present, size_t ns);

#endif
