/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash-safety helper for crash_test.sh.
 *
 *   crash_writer write DIR FIRST   append batches FIRST, FIRST+1, ... forever, printing each
 *                                  batch id after sl_store_append() returned 0, and running
 *                                  maintenance every few batches so kills also land in block
 *                                  cuts, WAL checkpoints and compactions;
 *   crash_writer verify DIR ACKED  open the store (it must open cleanly), check that every
 *                                  batch <= ACKED is fully readable with the right values,
 *                                  and print the highest batch id present (the next run
 *                                  starts after it: a batch may be durable yet unacknowledged).
 *
 * Batch b holds one sample for each of NSER series: t = b * 1000, v = b * 10 + series.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/log.h"
#include "engine/record.h"
#include "storage/store.h"

#define NSER 10

static void cfg_for(struct sl_store_cfg *c, const char *dir)
{
    sl_store_cfg_defaults(c);
    c->dir = dir;
    c->block_range_ms = 10000; /* a cut every 10 batches */
    c->compact_range_ms = 60000;
    c->wal_segment_bytes = 64 * 1024;
    c->ntiers = 1;
    c->tiers[0] = (struct sl_tier_cfg){10000, 0};
    c->raw_retention_ms = 0;
}

static int keys(char k[NSER][64], uint32_t *kl)
{
    for (int i = 0; i < NSER; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        struct sl_label l = {"s", v, 1, (uint32_t)strlen(v)};
        int n = sl_key_build(SL_KIND_PLAIN, "crash", 5, &l, 1, k[i], 64);
        if (n < 0)
            return n;
        kl[i] = (uint32_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: crash_writer write|verify DIR N\n");
        return 2;
    }
    sl_log_set_level(SL_LOG_WARN);
    struct sl_store_cfg cfg;
    cfg_for(&cfg, argv[2]);
    long long n = atoll(argv[3]);
    char k[NSER][64];
    uint32_t kl[NSER];
    if (keys(k, kl))
        return 2;
    struct sl_store *s;
    int rc = sl_store_open(&cfg, &s);
    if (rc) {
        fprintf(stderr, "open failed: %d\n", rc);
        return 1;
    }
    if (strcmp(argv[1], "write") == 0) {
        for (long long b = n;; b++) {
            struct sl_sample x[NSER];
            for (int i = 0; i < NSER; i++)
                x[i] = (struct sl_sample){k[i], kl[i], b * 1000, (double)(b * 10 + i)};
            struct sl_sample_batch bb = {x, NSER};
            if ((rc = sl_store_append(s, &bb))) {
                fprintf(stderr, "append failed: %d\n", rc);
                return 1;
            }
            printf("%lld\n", b);
            fflush(stdout);
            if (b % 5 == 0 && (rc = sl_store_maintain(s, 0)) < 0) {
                fprintf(stderr, "maintain failed: %d\n", rc);
                return 1;
            }
        }
    }
    /* verify */
    struct sl_series_set *ss;
    if ((rc = sl_store_select(s, NULL, 0, INT64_MIN, INT64_MAX, 0, &ss, NULL, 0))) {
        fprintf(stderr, "select failed: %d\n", rc);
        return 1;
    }
    long long maxb = -1;
    int bad = 0;
    size_t cnt = sl_series_set_count(ss);
    if (n >= 0 && cnt != NSER) {
        fprintf(stderr, "expected %d series, found %zu\n", NSER, cnt);
        bad = 1;
    }
    for (size_t i = 0; i < cnt && !bad; i++) {
        struct sl_store_series x;
        sl_series_set_get(ss, i, &x);
        int ser = -1;
        for (int j = 0; j < NSER; j++)
            if (x.key_len == kl[j] && memcmp(x.key, k[j], kl[j]) == 0)
                ser = j;
        if (ser < 0) {
            fprintf(stderr, "unknown series\n");
            bad = 1;
            break;
        }
        /* batches are appended in order from 0, so sample j must be batch j */
        for (size_t j = 0; j < x.n; j++) {
            if (x.t[j] != (int64_t)j * 1000 || x.v[j] != (double)((long long)j * 10 + ser)) {
                fprintf(stderr, "series %d sample %zu: t=%lld v=%g\n", ser, j,
                        (long long)x.t[j], x.v[j]);
                bad = 1;
                break;
            }
        }
        if ((long long)x.n - 1 < n) {
            fprintf(stderr, "series %d: %zu samples, acknowledged up to batch %lld\n", ser, x.n, n);
            bad = 1;
        }
        if (i == 0 || (long long)x.n - 1 < maxb)
            maxb = (long long)x.n - 1; /* the highest batch complete in every series */
    }
    sl_series_set_destroy(ss);
    sl_store_close(s);
    if (bad)
        return 1;
    printf("%lld\n", maxb);
    return 0;
}
