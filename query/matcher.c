/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label matchers (=, !=, =~, !~) with Prometheus semantics. Regexes are RE2 syntax, fully
 * anchored; we compile them with PCRE2 using PCRE2_ANCHORED | PCRE2_ENDANCHORED (so "$" and
 * newlines play no part in anchoring) and UTF mode, after refusing the PCRE-only constructs
 * RE2 does not have, so a query valid here is valid in Prometheus and the other way round.
 * Match data is allocated once per matcher: a matcher belongs to one query on one thread.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "query/source.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RE2 has no lookaround, backreferences, atomic groups, possessive quantifiers, recursion
 * or conditionals; PCRE2 has all of them. Scan outside character classes and refuse. */
static const char *re2_unsupported(const char *re)
{
    int in_class = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            if (p[1] == 0)
                return NULL; /* PCRE2 reports the trailing backslash */
            if (!in_class && ((p[1] >= '1' && p[1] <= '9') || p[1] == 'g' || p[1] == 'k'))
                return "backreference";
            p++;
            continue;
        }
        if (in_class) {
            if (*p == ']')
                in_class = 0;
            continue;
        }
        if (*p == '[') {
            in_class = 1;
            if (p[1] == '^')
                p++;
            if (p[1] == ']')
                p++;
            continue;
        }
        if (*p == '(' && p[1] == '?') {
            char c = p[2];
            if (c == '=' || c == '!' || c == '>' || c == '|' || c == '(' || c == 'R' ||
                (c >= '0' && c <= '9') || c == '&' || (c == '<' && (p[3] == '=' || p[3] == '!')))
                return "lookaround or special group";
        }
        if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '+')
            return "possessive quantifier";
    }
    return NULL;
}

int sl_matcher_init(struct sl_matcher *m, int op, const char *name, const char *value,
                    char *errbuf, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->op = op;
    m->name = strdup(name);
    m->value = strdup(value);
    if (!m->name || !m->value)
        goto nomem;
    if (op != SL_MATCH_RE && op != SL_MATCH_NRE)
        return 0;
    const char *bad = re2_unsupported(value);
    if (bad) {
        if (errbuf)
            snprintf(errbuf, errlen, "error parsing regexp: invalid or unsupported Perl syntax (%s)",
                     bad);
        sl_matcher_fini(m);
        return -EINVAL;
    }
    int ec;
    PCRE2_SIZE eo;
    /* MATCH_INVALID_UTF: a label value with bad UTF-8 is matched (as Go's regexp does,
     * reading U+FFFD), not an error */
    uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED, opts, &ec, &eo,
                                   NULL);
    if (!re) {
        if (errbuf) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(errbuf, errlen, "error parsing regexp: %s at offset %zu", (char *)msg,
                     (size_t)eo);
        }
        sl_matcher_fini(m);
        return -EINVAL;
    }
    /* JIT is an optimisation only; a failure (no executable memory) keeps the interpreter. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    m->_re = re;
    m->_md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!m->_md)
        goto nomem;
    return 0;
nomem:
    sl_matcher_fini(m);
    return -ENOMEM;
}

void sl_matcher_fini(struct sl_matcher *m)
{
    free((void *)m->name);
    free((void *)m->value);
    if (m->_md)
        pcre2_match_data_free(m->_md);
    if (m->_re)
        pcre2_code_free(m->_re);
    memset(m, 0, sizeof *m);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && p[0] < 0xC2) || (n == 4 && p[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0)))
        return 0; /* overlong, surrogate */
    if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90)))
        return 0;
    return n;
}

/* Go's regexp reads each invalid byte as U+FFFD, which '.' and [^x] match; PCRE2 treats
 * invalid bytes as unmatchable. Returns a malloc'd copy with the replacement, or NULL when
 * @v is valid UTF-8 (the common case, checked without allocating). */
static char *utf8_sanitize(const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t bad = 0, len = 0;
    for (size_t i = 0; p[i];) {
        size_t n = utf8_len(p + i);
        bad += n == 0;
        i += n ? n : 1;
        len = i;
    }
    if (!bad)
        return NULL;
    char *out = malloc(len + 2 * bad + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; p[i];) {
        size_t n = utf8_len(p + i);
        if (n) {
            memcpy(o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    return out;
}

int sl_matcher_matches(const struct sl_matcher *m, const char *v)
{
    if (!v)
        v = "";
    switch (m->op) {
    case SL_MATCH_EQ:
        return strcmp(v, m->value) == 0;
    case SL_MATCH_NEQ:
        return strcmp(v, m->value) != 0;
    default: {
        char *fixed = utf8_sanitize(v);
        const char *subj = fixed ? fixed : v;
        int rc = pcre2_match(m->_re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, m->_md, NULL);
        free(fixed);
        int hit = rc >= 0;
        return m->op == SL_MATCH_RE ? hit : !hit;
    }
    }
}

int sl_matchers_match(const struct sl_matcher *m, size_t nm, const struct sl_qlabel *ls,
                      size_t nls)
{
    for (size_t i = 0; i < nm; i++) {
        const char *v = NULL;
        for (size_t j = 0; j < nls; j++)
            if (strcmp(ls[j].name, m[i].name) == 0) {
                v = ls[j].value;
                break;
            }
        if (!sl_matcher_matches(&m[i], v))
            return 0;
    }
    return 1;
}
