/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the PromQL parser (and, for what parses, the evaluator on an empty
 * source). Invariants beyond "no crash":
 *   - a rejected input reports kind PARSE, a position inside the input and a message of the
 *     form "L:C: parse error: ..." whose L:C match the reported line and column;
 *   - an accepted input prints to a canonical text that parses again and prints the same
 *     (print . parse is a fixed point after one step), and its pretty (multi-line) form
 *     parses back to the same canonical text;
 *   - evaluation ends (bounded by a 20 ms timeout) with 0 or a classified error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/errors.h"
#include "query/promql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print(struct sl_promql_expr *e)
{
    struct sl_buf b = SL_BUF_INIT;
    sl_promql_format(e, &b);
    size_t len;
    char *s = sl_buf_steal(&b, &len);
    return s ? s : strdup("");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = 0;
    size_t len = strlen(in);
    struct sl_promql_expr *e;
    struct sl_promql_error err;
    int rc = sl_promql_parse(in, &e, &err);
    if (rc == SL_E_PROTO) {
        char head[64];
        snprintf(head, sizeof head, "%d:%d: parse error: ", err.line, err.col);
        if (err.kind != SL_PQ_ERR_PARSE || err.pos > len || err.line < 1 || err.col < 1 ||
            strncmp(err.msg, head, strlen(head)) != 0) {
            fprintf(stderr, "bad parse error for %s: %s\n", in, err.msg);
            abort();
        }
        free(in);
        return 0;
    }
    if (rc) {
        free(in);
        return 0; /* -ENOMEM */
    }
    char *once = print(e);
    struct sl_promql_expr *e2;
    if (sl_promql_parse(once, &e2, &err) != 0) {
        fprintf(stderr, "printed form of %s does not parse: %s: %s\n", in, once, err.msg);
        abort();
    }
    char *twice = print(e2);
    if (strcmp(once, twice) != 0) {
        fprintf(stderr, "print not stable for %s: %s vs %s\n", in, once, twice);
        abort();
    }
    struct sl_buf pb = SL_BUF_INIT;
    sl_promql_format_pretty(e, &pb);
    size_t plen;
    char *pretty = sl_buf_steal(&pb, &plen);
    struct sl_promql_expr *e3;
    if (pretty && sl_promql_parse(pretty, &e3, &err) == 0) {
        char *third = print(e3);
        if (strcmp(third, once) != 0) {
            fprintf(stderr, "pretty form of %s reads back as %s\n", once, third);
            abort();
        }
        free(third);
        sl_promql_expr_free(e3);
    } else if (pretty) {
        fprintf(stderr, "pretty form of %s does not parse: %s\n", once, err.msg);
        abort();
    }
    free(pretty);
    free(once);
    free(twice);
    sl_promql_expr_free(e2);

    struct sl_memsource *ms;
    if (sl_memsource_create(&ms) == 0) {
        struct sl_qlabel l[2] = {{"__name__", "x"}, {"job", "a"}};
        for (int i = 0; i < 10; i++)
            sl_memsource_add(ms, l, 2, i * 15000, i);
        struct sl_source src = sl_memsource_source(ms);
        struct sl_promql_opts o = {.start_ms = 60000, .end_ms = 60000, .timeout_ms = 20,
                                   .max_samples = 100000};
        struct sl_promql_result *r;
        rc = sl_promql_eval(e, &src, &o, &r, &err);
        if (rc == 0)
            sl_promql_result_free(r);
        else if (rc == SL_E_PROTO && (err.kind < SL_PQ_ERR_EXEC || err.kind > SL_PQ_ERR_INTERNAL))
            abort();
        sl_memsource_destroy(ms);
    }
    sl_promql_expr_free(e);
    free(in);
    return 0;
}
