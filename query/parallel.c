/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Range functions over plain selectors evaluated by the query threads (pq_par_precompute).
 *
 * What the serial path does in three passes over a selector's samples - the source decodes
 * every series into memory, the loader scans each for staleness markers and counter
 * resets, pq_func_precompute() computes its cells for every step - is done here series by
 * series while that series is in cache: a source read in parts (source.h parts ops) hands
 * a participant one series in its own scratch, which is scanned, counted against the
 * sample limit and turned into its column of the step-major table, then dropped. For
 * 4,000 series x 6 h that is 140 MB of samples never written out and read back, and the
 * series are shared out among the threads in contiguous chunks of PAR_CHUNK candidates,
 * claimed from a counter.
 *
 * Identical results: a series' cells are computed by the same code (pq_pre_series) on the
 * same samples as in the serial path, and each lands in the column of its candidate index;
 * afterwards the columns of candidates without samples are dropped and, when the source's
 * order is not label order, the columns are put in label order, which is the order the
 * serial loader gives its series. The sample limit counts the same samples (one shared
 * counter, added to per series) and fails at the same total; the table's own cells are
 * counted later by the caller, where the serial path counts them (eval.c precompute()).
 *
 * Errors: a participant unwinds (pq_fail, out of memory) to its own jump buffer inside the
 * per-series callback, never across the source's read, records the error and raises the
 * job's stop flag, which every participant checks per series; the caller reports the first
 * error recorded once everyone has returned. A query timeout is checked per series by each.
 * Thread: the calling (query) thread and the pool's helpers; each participant writes only
 * its own worker state and the table columns of the chunks it claimed.
 */
#include "query/promql_pvt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/errors.h"

/* Candidates per claim: a chunk's cells of one step fill whole cache lines (64 values, 64
 * present bytes), so participants do not share lines, and 64 series are a few hundred
 * microseconds of work against one atomic add per claim. */
#define PAR_CHUNK 64
#define PAR_STOP (-ECANCELED)

struct par_job;

struct par_worker {
    struct pq_ev ev;       /* the query's, with its own arenas, error and unwind target */
    struct pq_arena keep;  /* label sets of the result: adopted into the query's arena */
    struct pq_arena tmp;   /* one series' scratch */
    struct sl_promql_error err;
    int failed, oom;
    struct par_job *job;
    size_t lo, col, end; /* the chunk being read: first column, next column, end */
    /* The chunk's cells, series-major (column c at c * nsteps), copied into the
     * step-major table once the chunk is done: written straight there, each of a series'
     * steps is a store to another page of a table of tens of MB, one TLB miss per cell. */
    double *cvals;
    unsigned char *cpresent;
};

struct par_job {
    const struct pq_ev *ev;
    const struct pq_pre_plan *pl;
    void *parts;
    size_t n; /* candidates = table columns */
    int want_corr;
    struct pq_pre *pre;
    const struct pq_lset **full; /* each column's series label set (label order sorts it) */
    size_t base;                 /* cur_samples before this selector */
    /* Relaxed atomics throughout: chunks and the counter only need atomicity, and what a
     * participant wrote is published to the caller by pq_pool_run()'s mutex. */
    atomic_size_t next;    /* next chunk to claim */
    atomic_size_t samples; /* samples loaded so far */
    atomic_int stop;
    struct par_worker *w; /* one per participant */
};

static int par_failed(struct par_worker *w)
{
    if (w->err.kind == SL_PQ_OK) { /* the arena unwound: out of memory */
        w->err.kind = SL_PQ_ERR_INTERNAL;
        snprintf(w->err.msg, sizeof w->err.msg, "out of memory");
        w->oom = 1;
    }
    w->failed = 1;
    atomic_store_explicit(&w->job->stop, 1, memory_order_relaxed);
    return PAR_STOP;
}

static int par_series_cb(void *arg, const struct sl_qlabel *ls, size_t nls, const int64_t *ts,
                         const double *vs, size_t n)
{
    struct par_worker *w = arg;
    struct par_job *j = w->job;
    struct pq_ev *ev = &w->ev;
    if (atomic_load_explicit(&j->stop, memory_order_relaxed) || w->col >= w->end)
        return PAR_STOP;
    if (setjmp(ev->jb))
        return par_failed(w); /* unwound from below: the source's read is left normally */
    pq_check_deadline(ev);
    size_t nsteps = (size_t)j->pl->nsteps;
    if (!w->cvals) { /* once per participant, below every series' mark */
        w->cvals = pq_alloc_raw(&w->tmp, PAR_CHUNK * nsteps * sizeof *w->cvals);
        w->cpresent = pq_alloc_raw(&w->tmp, PAR_CHUNK * nsteps);
    }
    struct pq_mark mk = pq_arena_mark(&w->tmp);
    struct pq_sel_series s;
    memset(&s, 0, sizeof s);
    s.ls = pq_sel_lset(&w->keep, ls, nls);
    s.has_corr = j->want_corr;
    /* as the loader does (eval.c load_cb), with the resets in this series' scratch */
    ev->res = &w->tmp;
    int stale = pq_scan_values(ev, vs, n, 1, j->want_corr ? &s : NULL);
    if (!stale) {
        s.ts = (int64_t *)ts; /* read only */
        s.vs = (double *)vs;
        s.n = n;
    } else {
        s.ts = pq_alloc_raw(&w->tmp, n * sizeof *s.ts);
        s.vs = pq_alloc_raw(&w->tmp, n * sizeof *s.vs);
        for (size_t i = 0; i < n; i++)
            if (!pq_is_stale(vs[i])) {
                s.ts[s.n] = ts[i];
                s.vs[s.n] = vs[i];
                s.n++;
            }
        s.rst = NULL;
        s.nrst = 0;
        if (j->want_corr)
            pq_scan_values(ev, s.vs, s.n, 0, &s);
    }
    ev->res = &w->keep;
    size_t total =
        atomic_fetch_add_explicit(&j->samples, s.n, memory_order_relaxed) + s.n + j->base;
    if (total > ev->max_samples)
        pq_fail(ev, SL_PQ_ERR_EXEC,
                "query processing would load too many samples into memory in query execution");
    const struct pq_lset *out = j->pl->keep ? s.ls : pq_lset_drop_name(&w->keep, s.ls);
    size_t col = w->col++, c = col - w->lo;
    j->pre->ls[col] = out;
    j->full[col] = s.ls;
    memset(w->cpresent + c * nsteps, 0, nsteps);
    pq_pre_series(ev, j->pl, &s, out, w->cvals + c * nsteps, w->cpresent + c * nsteps, 1);
    pq_arena_release(&w->tmp, mk);
    return 0;
}

/* The chunk's columns [lo, col) into the step-major table: per step, one run of
 * adjacent cells. */
static void flush_chunk(struct par_job *j, const struct par_worker *w)
{
    size_t nsteps = (size_t)j->pl->nsteps, cols = w->col - w->lo;
    /* eight steps at a time: a column's eight cells are one cache line read, and the
     * eight rows being written stay in L1 */
    for (size_t k0 = 0; k0 < nsteps; k0 += 8) {
        size_t k1 = nsteps - k0 < 8 ? nsteps : k0 + 8;
        for (size_t c = 0; c < cols; c++)
            for (size_t k = k0; k < k1; k++) {
                j->pre->vals[k * j->n + w->lo + c] = w->cvals[c * nsteps + k];
                j->pre->present[k * j->n + w->lo + c] = w->cpresent[c * nsteps + k];
            }
    }
}

static void par_task(void *arg, unsigned wi)
{
    struct par_job *j = arg;
    struct par_worker *w = &j->w[wi];
    w->ev = *j->ev;
    w->ev.res = &w->keep;
    w->ev.tmp = &w->tmp;
    w->ev.err = &w->err;
    w->ev.owned = NULL;
    w->ev.nowned = w->ev.capowned = 0;
    w->ev.warnings = NULL;
    w->ev.nwarnings = w->ev.capwarnings = 0;
    w->keep.oom = &w->ev.jb;
    w->tmp.oom = &w->ev.jb;
    w->job = j;
    const struct sl_source *src = j->ev->src;
    while (!atomic_load_explicit(&j->stop, memory_order_relaxed)) {
        size_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= (j->n + PAR_CHUNK - 1) / PAR_CHUNK)
            break;
        w->lo = w->col = c * PAR_CHUNK;
        w->end = w->col + PAR_CHUNK < j->n ? w->col + PAR_CHUNK : j->n;
        int rc = src->ops->parts_read(src->ctx, j->parts, w->col, w->end, par_series_cb, w);
        flush_chunk(j, w);
        if (rc && rc != PAR_STOP && !w->failed) {
            const char *why = src->ops->error ? src->ops->error(src->ctx) : NULL;
            snprintf(w->err.msg, sizeof w->err.msg, "reading series: %s",
                     why ? why : sl_strerror(rc));
            w->err.kind = SL_PQ_ERR_INTERNAL;
            par_failed(w);
        }
    }
}

static int cmp_col(const void *a, const void *b, void *full)
{
    const struct pq_lset **f = full;
    return pq_lset_cmp(f[*(const size_t *)a], f[*(const size_t *)b]);
}

/* Drop the columns of candidates without samples and put the rest in label order, as the
 * serial loader orders its series. Usually nothing moves. */
static void finish_table(struct pq_ev *ev, struct par_job *j, int64_t nsteps)
{
    struct pq_pre *pre = j->pre;
    size_t n = j->n, *idx = pq_alloc_raw(ev->tmp, (n ? n : 1) * sizeof *idx), ns = 0;
    for (size_t i = 0; i < n; i++)
        if (pre->ls[i])
            idx[ns++] = i;
    int sorted = 1;
    for (size_t k = 1; k < ns && sorted; k++)
        sorted = pq_lset_cmp(j->full[idx[k - 1]], j->full[idx[k]]) <= 0;
    if (!sorted) /* label sets are unique: the order does not depend on stability */
        qsort_r(idx, ns, sizeof *idx, cmp_col, (void *)j->full);
    if (sorted && ns == n)
        return;
    size_t cols = ns ? ns : 1, cells = (size_t)nsteps * cols;
    const struct pq_lset **ls = pq_alloc(ev->res, cols * sizeof *ls);
    double *vals = pq_alloc_raw(ev->res, cells * sizeof *vals);
    unsigned char *present = pq_alloc(ev->res, cells);
    for (size_t c = 0; c < ns; c++)
        ls[c] = pre->ls[idx[c]];
    for (int64_t k = 0; k < nsteps; k++) {
        const double *ov = pre->vals + (size_t)k * n;
        const unsigned char *op = pre->present + (size_t)k * n;
        for (size_t c = 0; c < ns; c++) {
            vals[(size_t)k * ns + c] = ov[idx[c]];
            present[(size_t)k * ns + c] = op[idx[c]];
        }
    }
    pre->n = ns;
    pre->ls = ls;
    pre->vals = vals;
    pre->present = present;
}

/* The pool as the source's parts_open borrows it (for the store: the head copy). */
static void pool_run(void *pool, void (*fn)(void *arg, unsigned w), void *arg)
{
    pq_pool_run(pool, fn, arg);
}

int pq_par_precompute(struct pq_ev *ev, struct pq_node *call, int64_t mint, int64_t maxt)
{
    int64_t nsteps = (ev->end - ev->start) / ev->step + 1;
    struct pq_pre_plan pl;
    if (!pq_pre_plan(ev, call, nsteps, &pl) || pq_pre_fails(&pl))
        return 0;
    const struct sl_source *src = ev->src;
    struct pq_node *sel = pl.msel->a;
    int64_t lo, hi;
    pq_msel_window(ev, pl.msel, mint, maxt, &lo, &hi);
    unsigned nt = sl_promql_pool_threads(ev->pool);
    /* Everything the query threads need, allocated before the source holds anything, so
     * that an allocation failure unwinds with nothing to release. The candidate count is
     * needed first: the parts are opened, sized, and closed again if memory is short. */
    void *parts = NULL;
    size_t n = 0;
    int rc = src->ops->parts_open(src->ctx, sel->m, sel->nm, lo, hi, pool_run, ev->pool,
                                  &parts, &n);
    if (rc) {
        const char *why = src->ops->error ? src->ops->error(src->ctx) : NULL;
        pq_fail(ev, SL_PQ_ERR_INTERNAL, "reading series: %s", why ? why : sl_strerror(rc));
    }
    size_t cols = n ? n : 1, cells = (size_t)nsteps * cols;
    if (cells / (size_t)nsteps != cols || ev->cur_samples + cells > ev->max_samples) {
        src->ops->parts_close(src->ctx, parts); /* the serial path decides this one */
        return 0;
    }
    jmp_buf oom, *saved_oom = ev->res->oom, *saved_tmp_oom = ev->tmp->oom;
    if (setjmp(oom)) {
        ev->res->oom = saved_oom;
        ev->tmp->oom = saved_tmp_oom;
        src->ops->parts_close(src->ctx, parts);
        longjmp(*saved_oom, 1);
    }
    ev->res->oom = &oom;
    ev->tmp->oom = &oom;
    struct pq_pre *pre = pq_alloc(ev->res, sizeof *pre);
    pre->n = n;
    pre->ls = pq_alloc(ev->res, cols * sizeof *pre->ls);
    pre->vals = pq_alloc_raw(ev->res, cells * sizeof *pre->vals);
    pre->present = pq_alloc(ev->res, cells);
    struct par_job *j = pq_alloc(ev->tmp, sizeof *j);
    j->full = pq_alloc(ev->tmp, cols * sizeof *j->full);
    j->w = pq_alloc(ev->tmp, nt * sizeof *j->w);
    ev->res->oom = saved_oom;
    ev->tmp->oom = saved_tmp_oom;
    j->ev = ev;
    j->pl = &pl;
    j->parts = parts;
    j->n = n;
    j->want_corr = sel->want_corr;
    j->pre = pre;
    j->base = ev->cur_samples;
    atomic_init(&j->next, 0);
    atomic_init(&j->samples, 0);
    atomic_init(&j->stop, 0);
    pq_pool_run(ev->pool, par_task, j);
    src->ops->parts_close(src->ctx, parts);
    const struct par_worker *bad = NULL;
    for (unsigned i = 0; i < nt; i++) {
        pq_arena_adopt(ev->res, &j->w[i].keep);
        pq_arena_fini(&j->w[i].tmp);
        if (j->w[i].failed && !bad)
            bad = &j->w[i];
    }
    if (bad && bad->oom)
        longjmp(*ev->res->oom, 1);
    if (bad)
        pq_fail(ev, bad->err.kind, "%s", bad->err.msg);
    size_t loaded = atomic_load_explicit(&j->samples, memory_order_relaxed);
    ev->cur_samples += loaded;
    finish_table(ev, j, nsteps);
    pre->fused = 1;
    pre->loaded = loaded;
    pre->sel = sel;
    pre->mint = lo;
    pre->maxt = hi;
    call->pre = pre;
    return 1;
}
