/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for ingest/remote_write.c. The input is fed twice: as a request body as-is
 * (exercising snappy's decoder on arbitrary bytes) and snappy-compressed (so the fuzzer
 * explores the protobuf and validation layers directly; seeds are raw WriteRequests).
 * Beyond "no crash" (ASan), it checks what the header promises:
 * - the result is 0, SL_E_PROTO with a non-empty reason, or -ENOMEM; on failure the batch
 *   is empty;
 * - on success every sample's key lies inside the batch's key arena, starts with
 *   SL_KIND_PLAIN, ends with NUL, is at most SL_KEY_MAX bytes, has a valid metric name and
 *   labels with valid, strictly increasing names and non-empty values, and sl_key_build()
 *   over its own labels reproduces it byte for byte (canonical); n >= nseries.
 * Failed checks print what failed and abort(), in release builds too.
 */
#include <errno.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "engine/key.h"
#include "engine/record.h"
#include "ingest/remote_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                             \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_remote_write: check failed at line %d: %s\n", __LINE__,    \
                    #c);                                                                     \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static int valid_name(const char *s, size_t n, int colon)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (colon && c == ':')))
            return 0;
    }
    return 1;
}

static void check_key(const struct sl_rw_batch *b, const struct sl_plain_sample *s)
{
    CHECK(s->key_len >= 3 && s->key_len <= SL_KEY_MAX);
    CHECK(s->key >= b->keys);
    CHECK(s->key[0] == SL_KIND_PLAIN && s->key[s->key_len - 1] == 0);
    const char *name;
    size_t nlen;
    struct sl_key_iter it;
    sl_key_name(s->key, s->key_len, &name, &nlen, &it);
    CHECK(valid_name(name, nlen, 1));
    struct sl_label l[SL_LABELS_MAX + 1];
    size_t n = 0;
    while (n <= SL_LABELS_MAX && sl_key_next_label(&it, &l[n])) {
        CHECK(valid_name(l[n].name, l[n].name_len, 0));
        CHECK(l[n].value_len > 0);
        if (n > 0) {
            size_t m = l[n - 1].name_len < l[n].name_len ? l[n - 1].name_len : l[n].name_len;
            int c = memcmp(l[n - 1].name, l[n].name, m);
            CHECK(c < 0 || (c == 0 && l[n - 1].name_len < l[n].name_len));
        }
        n++;
    }
    CHECK(n <= SL_LABELS_MAX);
    static char again[SL_KEY_MAX];
    int len = sl_key_build(SL_KIND_PLAIN, name, nlen, l, n, again, sizeof again);
    CHECK(len == (int)s->key_len && memcmp(again, s->key, s->key_len) == 0);
}

static void run(const void *body, size_t len)
{
    struct sl_rw_batch b;
    char err[512];
    int rc = sl_rw_decode(body, len, &b, err, sizeof err);
    CHECK(rc == 0 || rc == SL_E_PROTO || rc == -ENOMEM);
    if (rc) {
        CHECK(rc != SL_E_PROTO || err[0] != 0);
        CHECK(b.n == 0 && b.samples == NULL && b.keys == NULL);
        return;
    }
    CHECK(b.n >= b.nseries);
    CHECK((b.n == 0) == (b.nseries == 0));
    for (size_t i = 0; i < b.n; i++)
        if (i == 0 || b.samples[i].key != b.samples[i - 1].key)
            check_key(&b, &b.samples[i]);
    sl_rw_batch_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    size_t cap = snappy_max_compressed_length(size);
    char *z = malloc(cap);
    if (!z)
        return 0;
    if (snappy_compress((const char *)data, size, z, &cap) == SNAPPY_OK)
        run(z, cap);
    free(z);
    return 0;
}
