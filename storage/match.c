/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matchers. Regexes compile once with PCRE2_ANCHORED | PCRE2_ENDANCHORED so a match must
 * cover the whole value, the Prometheus rule, without rewriting the pattern into ^(?:...)$.
 * Evaluation allocates a match-data block per call: matchers run per label value (block
 * index) or per series (head scan), on the query path, never per ingested sample.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "storage/match.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"

/* Regexes that need no engine: `.*` and `.+` (with DOTALL, every value, or every non-empty
 * one) are what dashboards send to mean "any", and on a selector over every series they
 * were a tenth of an instant query's CPU. */
enum re_shape { RE_GENERAL = 0, RE_ANY, RE_NONEMPTY };

struct sl_matchers {
    size_t n;
    struct sl_store_matcher m[SL_MATCHERS_MAX];
    pcre2_code *re[SL_MATCHERS_MAX];
    unsigned char shape[SL_MATCHERS_MAX]; /* enum re_shape */
};

void sl_matchers_destroy(struct sl_matchers *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        free((char *)ms->m[i].name);
        free((char *)ms->m[i].value);
        pcre2_code_free(ms->re[i]);
    }
    free(ms);
}

int sl_matchers_compile(const struct sl_store_matcher *m, size_t n, struct sl_matchers **out,
                        char *errbuf, size_t errlen)
{
    if (n > SL_MATCHERS_MAX)
        return -EINVAL;
    struct sl_matchers *ms = calloc(1, sizeof *ms);
    if (!ms)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].op > SL_STORE_MATCH_NRE || !m[i].name || !m[i].value) {
            rc = -EINVAL;
            goto fail;
        }
        ms->m[i].op = m[i].op;
        ms->m[i].name = strdup(m[i].name);
        ms->m[i].value = strdup(m[i].value);
        ms->n = i + 1;
        if (!ms->m[i].name || !ms->m[i].value) {
            rc = -ENOMEM;
            goto fail;
        }
        if (m[i].op == SL_STORE_MATCH_RE || m[i].op == SL_STORE_MATCH_NRE) {
            int err;
            PCRE2_SIZE off;
            ms->re[i] = pcre2_compile((PCRE2_SPTR)m[i].value, PCRE2_ZERO_TERMINATED,
                                      PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL, &err,
                                      &off, NULL);
            if (ms->re[i]) {
                if (strcmp(m[i].value, ".*") == 0)
                    ms->shape[i] = RE_ANY;
                else if (strcmp(m[i].value, ".+") == 0)
                    ms->shape[i] = RE_NONEMPTY;
                else /* JIT when the platform has it; pcre2_match() falls back otherwise */
                    (void)pcre2_jit_compile(ms->re[i], PCRE2_JIT_COMPLETE);
            }
            if (!ms->re[i]) {
                if (errbuf) {
                    char msg[128];
                    pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
                    snprintf(errbuf, errlen, "bad regex for label %s at offset %zu: %s",
                             m[i].name, (size_t)off, msg);
                }
                rc = -EINVAL;
                goto fail;
            }
        }
    }
    *out = ms;
    return 0;
fail:
    sl_matchers_destroy(ms);
    return rc;
}

size_t sl_matchers_count(const struct sl_matchers *ms)
{
    return ms->n;
}

const struct sl_store_matcher *sl_matchers_get(const struct sl_matchers *ms, size_t i)
{
    return &ms->m[i];
}

int sl_matchers_value_ok(const struct sl_matchers *ms, size_t i, const char *v, size_t len)
{
    const struct sl_store_matcher *m = &ms->m[i];
    switch (m->op) {
    case SL_STORE_MATCH_EQ:
    case SL_STORE_MATCH_NE: {
        int eq = strlen(m->value) == len && memcmp(m->value, v, len) == 0;
        return m->op == SL_STORE_MATCH_EQ ? eq : !eq;
    }
    default: {
        if (ms->shape[i] != RE_GENERAL) {
            int hit = ms->shape[i] == RE_ANY || len > 0;
            return m->op == SL_STORE_MATCH_RE ? hit : !hit;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(ms->re[i], NULL);
        if (!md)
            return 0; /* out of memory: match nothing rather than everything */
        int r = pcre2_match(ms->re[i], (PCRE2_SPTR)(len ? v : ""), len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return m->op == SL_STORE_MATCH_RE ? r >= 0 : r < 0;
    }
    }
}

int sl_matchers_key_ok(const struct sl_matchers *ms, const char *key, size_t len)
{
    for (size_t i = 0; i < ms->n; i++) {
        const struct sl_store_matcher *m = &ms->m[i];
        const char *val = "";
        size_t vlen = 0;
        const char *name;
        size_t nlen;
        struct sl_key_iter it;
        sl_key_name(key, len, &name, &nlen, &it);
        if (strcmp(m->name, "__name__") == 0) {
            val = name;
            vlen = nlen;
        } else {
            struct sl_label l;
            size_t mlen = strlen(m->name);
            while (sl_key_next_label(&it, &l)) {
                if (l.name_len == mlen && memcmp(l.name, m->name, mlen) == 0) {
                    val = l.value;
                    vlen = l.value_len;
                    break;
                }
            }
        }
        if (!sl_matchers_value_ok(ms, i, val, vlen))
            return 0;
    }
    return 1;
}
