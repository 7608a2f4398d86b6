/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Concurrent API handlers without Criterion, so it runs under ThreadSanitizer: four threads
 * send instant, range, series and label requests through one sl_query_api over one loaded
 * memsource, as the transport's worker threads do, and every answer must equal the answer
 * computed alone beforehand; the handlers share two query threads (query/pool.c). Checks
 * api.h's claim that handlers share only read-only state.
 * Exit 0 on success, 1 with a message on the first mismatch.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/api.h"

#define THREADS 4
#define ROUNDS 60

static struct sl_query_api *api;

struct req {
    const char *path;
    struct sl_http_param p[4];
    size_t np;
    char *want;
};

static struct req reqs[] = {
    {"/api/v1/query", {{"query", "sum by (job) (rate(m[1m]))"}, {"time", "600"}}, 2, NULL},
    {"/api/v1/query_range", {{"query", "max_over_time(m[2m]) > 3"}, {"start", "0"}, {"end", "600"},
                             {"step", "30"}}, 4, NULL},
    {"/api/v1/query_range", {{"query", "max_over_time(rate(m{job=~\"j[01]\"}[1m])[3m:1m])"}, {"start", "300"},
                             {"end", "600"}, {"step", "60"}}, 4, NULL},
    {"/api/v1/series", {{"match[]", "m{job=\"j2\"}"}}, 1, NULL},
    {"/api/v1/label/job/values", {{"match[]", "m"}}, 1, NULL},
};
#define NREQ (sizeof reqs / sizeof reqs[0])

static char *call(const struct req *r)
{
    struct sl_http_request hr = {.method = "GET", .path = r->path, .params = r->p,
                                 .nparams = r->np};
    struct sl_http_response resp = {.status = 200};
    size_t n;
    const struct sl_http_route *rt = sl_query_api_routes(api, &n);
    for (size_t i = 0; i < n; i++) {
        int hit = rt[i].prefix ? strncmp(r->path, rt[i].path, strlen(rt[i].path)) == 0
                               : strcmp(r->path, rt[i].path) == 0;
        if (hit) {
            if (rt[i].fn(rt[i].ctx, &hr, &resp) != 0)
                return NULL;
            if (resp.status != 200) {
                fprintf(stderr, "%d %s\n", resp.status, resp.body);
                free(resp.body);
                return NULL;
            }
            return resp.body;
        }
    }
    return NULL;
}

static void *worker(void *arg)
{
    size_t off = (size_t)(uintptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        const struct req *r = &reqs[(off + (size_t)round) % NREQ];
        char *got = call(r);
        if (!got || strcmp(got, r->want) != 0) {
            fprintf(stderr, "mismatch for %s %s\n", r->path, r->p[0].value);
            exit(1);
        }
        free(got);
    }
    return NULL;
}

int main(void)
{
    struct sl_memsource *ms;
    if (sl_memsource_create(&ms))
        return 1;
    for (int s = 0; s < 30; s++) {
        char job[8], inst[8];
        snprintf(job, sizeof job, "j%d", s % 3);
        snprintf(inst, sizeof inst, "i%d", s);
        struct sl_qlabel l[3] = {{"__name__", "m"}, {"job", job}, {"instance", inst}};
        for (int t = 0; t <= 600; t += 15)
            sl_memsource_add(ms, l, 3, (int64_t)t * 1000, (double)((t / 15 * (s + 1)) % 97));
    }
    /* answers computed one request at a time first, then by four handlers at once that
     * share two query threads: both must agree */
    struct sl_promql_pool *pool;
    if (sl_promql_pool_create(2, &pool))
        return 1;
    struct sl_query_api_cfg cfg = {.src = sl_memsource_source(ms), .pool = pool};
    if (sl_query_api_create(&cfg, &api))
        return 1;
    for (size_t i = 0; i < NREQ; i++) {
        reqs[i].want = call(&reqs[i]);
        if (!reqs[i].want) {
            fprintf(stderr, "request %zu failed alone\n", i);
            return 1;
        }
    }
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < NREQ; i++)
        free(reqs[i].want);
    sl_query_api_destroy(api);
    sl_promql_pool_destroy(pool);
    sl_memsource_destroy(ms);
    printf("%d threads x %d requests: all answers identical\n", THREADS, ROUNDS);
    return 0;
}
