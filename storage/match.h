/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file match.h
 * Label matchers as PromQL writes them: `=`, `!=`, `=~`, `!~`. Regexes are PCRE2, fully
 * anchored (`=~"a.*"` must match the whole value, as in Prometheus). A series without a label
 * has the empty value for it, so `{env=""}` selects series with no env label and
 * `{env!~".+"}` does too. The metric name is the label `__name__`.
 * Thread: a compiled set is immutable; any thread may evaluate it concurrently.
 */
#ifndef SL_MATCH_H
#define SL_MATCH_H

#include <stddef.h>
#include <stdint.h>

enum sl_store_match_op { SL_STORE_MATCH_EQ, SL_STORE_MATCH_NE, SL_STORE_MATCH_RE, SL_STORE_MATCH_NRE };

/** One matcher; strings NUL-terminated and BORROWED for the call they are passed to. */
struct sl_store_matcher {
    enum sl_store_match_op op;
    const char *name;
    const char *value;
};

#define SL_MATCHERS_MAX 32

struct sl_matchers;

/**
 * Compile @n matchers (n may be 0: matches everything).
 * @param[out] out OWNED; sl_matchers_destroy().
 * @param errbuf  receives a message naming the bad regex (may be NULL).
 * @return 0, -EINVAL (bad op, n > SL_MATCHERS_MAX, regex does not compile), -ENOMEM.
 */
int sl_matchers_compile(const struct sl_store_matcher *m, size_t n, struct sl_matchers **out,
                        char *errbuf, size_t errlen);
void sl_matchers_destroy(struct sl_matchers *ms);

size_t sl_matchers_count(const struct sl_matchers *ms);
/** Matcher @i as given (strings now OWNED by @ms). */
const struct sl_store_matcher *sl_matchers_get(const struct sl_matchers *ms, size_t i);

/** Does matcher @i accept label value @v (len @len; "" for an absent label)? */
int sl_matchers_value_ok(const struct sl_matchers *ms, size_t i, const char *v, size_t len);

/** Does the canonical series key (engine/key.h) satisfy every matcher? */
int sl_matchers_key_ok(const struct sl_matchers *ms, const char *key, size_t len);

#endif
