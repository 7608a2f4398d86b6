/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The query threads (struct sl_promql_pool): a fixed set of helper threads that evaluations
 * borrow for one parallel piece of work at a time (pq_pool_run).
 *
 * A piece of work is a job on the caller's stack, offered to the helpers with one seat per
 * helper. The caller always runs the job itself too and, when its own run returns, withdraws
 * the seats nobody took and waits only for the helpers that did take one. The job's
 * function shares its work out by claiming chunks from a counter, so a helper that arrives
 * late finds nothing left and returns at once, and a query never waits for a helper that
 * is busy with another query: with every helper taken, a query runs serially on its own
 * thread, as it would without a pool.
 *
 * Synchronisation is one mutex and two condition variables per pool, taken a few times per
 * job (per query), never per series: control-plane cost. The mutex also orders everything
 * a helper wrote during its run before the caller's return from pq_pool_run().
 */
#include "query/promql_pvt.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct pq_job {
    pq_task_fn *fn;
    void *arg;
    unsigned seats;     /* helpers that may still join */
    unsigned next_seat; /* worker index the next helper gets */
    unsigned active;    /* helpers running fn */
    struct pq_job *next;
};

struct sl_promql_pool {
    unsigned threads;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was offered, or stop */
    pthread_cond_t done; /* a helper finished its run of a job */
    struct pq_job *jobs; /* offered jobs with free seats, oldest first */
    int stop;
    unsigned nstarted;
    pthread_t tid[];
};

static void *helper_main(void *arg)
{
    struct sl_promql_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->jobs)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct pq_job *j = p->jobs;
        unsigned seat = j->next_seat++;
        if (--j->seats == 0)
            p->jobs = j->next; /* full: no longer offered */
        j->active++;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg, seat);
        pthread_mutex_lock(&p->mu);
        if (--j->active == 0)
            pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

unsigned sl_promql_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > 16 ? 16 : (unsigned)n;
}

int sl_promql_pool_create(unsigned threads, struct sl_promql_pool **out)
{
    if (threads == 0 || threads > SL_PROMQL_THREADS_MAX)
        return -EINVAL;
    struct sl_promql_pool *p = calloc(1, sizeof *p + threads * sizeof p->tid[0]);
    if (!p)
        return -ENOMEM;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (unsigned i = 0; i + 1 < threads; i++) {
        int rc = pthread_create(&p->tid[i], NULL, helper_main, p);
        if (rc) {
            sl_promql_pool_destroy(p);
            return -rc;
        }
        p->nstarted++;
    }
    *out = p;
    return 0;
}

void sl_promql_pool_destroy(struct sl_promql_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nstarted; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

unsigned sl_promql_pool_threads(const struct sl_promql_pool *p)
{
    return p->threads;
}

void pq_pool_run(struct sl_promql_pool *p, pq_task_fn *fn, void *arg)
{
    struct pq_job j = {.fn = fn, .arg = arg, .seats = p->threads - 1, .next_seat = 1};
    if (j.seats) {
        pthread_mutex_lock(&p->mu);
        struct pq_job **tail = &p->jobs;
        while (*tail)
            tail = &(*tail)->next;
        *tail = &j;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0);
    if (p->threads == 1)
        return; /* never offered */
    pthread_mutex_lock(&p->mu);
    if (j.seats) { /* still offered: withdraw the seats no helper took */
        for (struct pq_job **q = &p->jobs; *q; q = &(*q)->next)
            if (*q == &j) {
                *q = j.next;
                break;
            }
        j.seats = 0;
    }
    while (j.active)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
