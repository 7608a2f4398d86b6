/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpus for fuzz_ddsketch_decode: one encoded sketch per file, covering
 * each branch of the format (empty, zero bucket only, varint and f64 counts, both stores,
 * collapsed stores, another alpha, extreme values) plus two refused inputs (a truncation
 * and an unknown version). Deterministic: same files on every run.
 * Usage: gen_ddsketch_corpus <dir>
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ddsketch.h"

static uint64_t rng = 42;

static double unif(void) /* (0, 1), splitmix64 */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1p-53;
}

static void put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void emit(const char *dir, const char *name, struct sl_ddsketch *s, long cut, int ver)
{
    int n = sl_ddsketch_encode(s, NULL, 0);
    uint8_t *b = malloc((size_t)n);
    if (!b || sl_ddsketch_encode(s, b, (size_t)n) != n) exit(1);
    if (ver) b[0] = (uint8_t)ver;
    put(dir, name, b, cut >= 0 && cut < n ? (size_t)cut : (size_t)n);
    free(b);
    sl_ddsketch_reset(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    struct sl_ddsketch *s, *small, *coarse;
    if (sl_ddsketch_create(SL_DDSKETCH_ALPHA, SL_DDSKETCH_MAX_BINS, &s) ||
        sl_ddsketch_create(SL_DDSKETCH_ALPHA, 16, &small) || sl_ddsketch_create(0.05, 128, &coarse))
        return 1;

    emit(dir, "empty", s, -1, 0);

    sl_ddsketch_add(s, 0, 5);
    emit(dir, "zero_only", s, -1, 0);

    sl_ddsketch_add(s, 12.5, 1);
    emit(dir, "single", s, -1, 0);

    /* Request latencies in ms: lognormal around 20 ms, sampled at rate 1. */
    for (int i = 0; i < 2000; i++) {
        double g = sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
        sl_ddsketch_add(s, exp(3 + g), 1);
    }
    emit(dir, "latency_ms", s, -1, 0);

    /* Both signs, the zero bucket and sampled weights (f64 counts). */
    for (int i = 0; i < 500; i++) {
        double v = 200 * (unif() - 0.5);
        sl_ddsketch_add(s, fabs(v) < 1 ? 0 : v, unif() < 0.5 ? 1 : 1 / 0.3);
    }
    emit(dir, "mixed_weighted", s, -1, 0);

    for (int i = 0; i < 300; i++) {
        sl_ddsketch_add(small, pow(10, -3 + 9 * unif()), 1);
        sl_ddsketch_add(small, -pow(10, -3 + 9 * unif()), 1);
    }
    emit(dir, "collapsed_16_bins", small, -1, 0);

    for (int i = 0; i < 300; i++)
        sl_ddsketch_add(coarse, -log(unif()) * 1e6, 2);
    emit(dir, "alpha_005", coarse, -1, 0);

    sl_ddsketch_add(s, 1.7e308, 1);
    sl_ddsketch_add(s, -1.7e308, 1);
    sl_ddsketch_add(s, 1e-9, 3);
    emit(dir, "extremes", s, -1, 0);

    sl_ddsketch_add(s, -5, 1e17); /* above 2^53: f64 counts */
    sl_ddsketch_add(s, -7, 1);
    emit(dir, "huge_weight", s, -1, 0);

    for (int i = 0; i < 50; i++)
        sl_ddsketch_add(s, 100 + i, 1);
    emit(dir, "bad_truncated", s, 30, 0);
    for (int i = 0; i < 50; i++)
        sl_ddsketch_add(s, 100 + i, 1);
    emit(dir, "bad_version", s, -1, 2);

    sl_ddsketch_destroy(s);
    sl_ddsketch_destroy(small);
    sl_ddsketch_destroy(coarse);
    return 0;
}
