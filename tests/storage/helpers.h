/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the storage suites: temp directories and series keys. */
#ifndef SL_TEST_STORAGE_HELPERS_H
#define SL_TEST_STORAGE_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"

static inline void tmp_dir(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/sl_%s_XXXXXX", tag);
    if (!mkdtemp(buf))
        abort();
}

static inline void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        abort();
}

/* Canonical key "name{a=va, b=vb}" (NULL values leave the label out) into @out. */
static inline int mkkey(char *out, size_t cap, const char *name, const char *a, const char *va,
                        const char *b, const char *vb)
{
    struct sl_label l[2];
    size_t n = 0;
    if (a && va)
        l[n++] = (struct sl_label){a, va, (uint32_t)strlen(a), (uint32_t)strlen(va)};
    if (b && vb)
        l[n++] = (struct sl_label){b, vb, (uint32_t)strlen(b), (uint32_t)strlen(vb)};
    return sl_key_build(SL_KIND_PLAIN, name, strlen(name), l, n, out, cap);
}

#endif
