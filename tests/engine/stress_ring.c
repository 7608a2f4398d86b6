/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two-thread ring stress without Criterion, so it runs under ThreadSanitizer (Criterion's
 * runtime is not TSan-instrumented and crashes under it). It checks the R1/A1 and R2/A2
 * pairs in engine/ring.c: every message arrives once, in order, with its bytes intact.
 * Exit 0 on success, 1 with a message on the first mismatch.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/ring.h"

#define N_MSG 2000000u

static void *producer(void *arg)
{
    struct sl_ring *q = arg;
    for (uint32_t i = 0; i < N_MSG;) {
        uint32_t len = 8 + (i % 61);
        uint8_t *p = sl_ring_sp_alloc(q, len);
        if (!p) {
            sl_ring_sp_publish(q);
            continue;
        }
        memcpy(p, &i, 4);
        memset(p + 4, (int)(i & 0xff), len - 4);
        i++;
        if ((i & 31) == 0)
            sl_ring_sp_publish(q);
    }
    sl_ring_sp_publish(q);
    return NULL;
}

int main(void)
{
    struct sl_ring *r;
    if (sl_ring_create(8192, &r)) {
        fprintf(stderr, "ring create failed\n");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, producer, r);
    uint32_t want = 0;
    int bad = 0;
    while (want < N_MSG && !bad) {
        sl_ring_sc_acquire(r);
        const uint8_t *m;
        uint32_t len;
        while ((m = sl_ring_sc_next(r, &len))) {
            uint32_t got;
            memcpy(&got, m, 4);
            if (got != want || len != 8 + (want % 61)) {
                fprintf(stderr, "message %u: got id %u len %u\n", want, got, len);
                bad = 1;
                break;
            }
            for (uint32_t k = 4; k < len; k++)
                if (m[k] != (uint8_t)(want & 0xff)) {
                    fprintf(stderr, "message %u: byte %u corrupt\n", want, k);
                    bad = 1;
                    break;
                }
            want++;
        }
        sl_ring_sc_release(r);
    }
    pthread_join(t, NULL);
    sl_ring_destroy(r);
    if (bad)
        return 1;
    printf("1 passed, 0 failed\n");
    return 0;
}
