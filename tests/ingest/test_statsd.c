/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for ingest/statsd.c: every example datagram of the StatsD metric types doc and the
 * DogStatsD datagram format doc (metrics v1.0-v1.3, events, service checks) with every
 * parsed field, one malformed case per refusal reason path, line splitting, value lists,
 * statsd_exporter's name escaping, series keys, and numbers bit-exact against strtod.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"
#include "ingest/statsd.h"

TestSuite(statsd, .timeout = 10);

/* A borrowed (pointer, length) view as a NUL-terminated copy, for assertions that print. */
static char *view(const char *p, uint32_t n, char *buf, size_t cap)
{
    cr_assert(lt(sz, (size_t)n, cap));
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static void expect_view(const char *what, const char *p, uint32_t n, const char *want)
{
    char buf[512];
    if (!want) {
        cr_assert(eq(ptr, (void *)p, NULL), "%s should be absent", what);
        return;
    }
    cr_assert(ne(ptr, (void *)p, NULL), "%s should be present", what);
    cr_assert(eq(str, view(p, n, buf, sizeof buf), (char *)want), "%s", what);
}

/*
 * Criterion runs each parameter in a fresh process image, so pointers in a parameter table
 * must point into its shared arena (cr_malloc), not into this process' .rodata: the tables
 * below are written with literals and deep-copied there before being handed over.
 */
static const char *shared_bytes(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = cr_malloc(n + 1);
    cr_assert(ne(ptr, d, NULL));
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static const char *shared_str(const char *s)
{
    return s ? shared_bytes(s, strlen(s)) : NULL;
}

static void free_params(struct criterion_test_params *crp)
{
    /* Strings live as long as the run; the arena goes away with the process. */
    cr_free(crp->params);
}

#define SHARED_ARRAY(type, src, n) memcpy(cr_malloc(sizeof(type) * (n)), (src), sizeof(type) * (n))

/* ---- valid lines: every documented example ------------------------------------------ */

struct ok_case {
    const char *line;
    int kind;
    int mtype;
    const char *type;
    const char *name;
    const char *values;
    double rate;  /* 0 means "absent": expect 1.0 */
    const char *tags;
    const char *container;
    int64_t ts;   /* 0 means "absent": expect -1 */
    const char *text, *host, *prio, *alert, *source, *aggkey;
    int status;
    const char *message;
};

#define MET SL_STATSD_METRIC
#define EVT SL_STATSD_EVENT
#define SVC SL_STATSD_SERVICE_CHECK

/* Positional rows read like the docs; trailing fields left out mean "absent". */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
ParameterizedTestParameters(statsd, parse_documented_line_sets_every_field)
{
    static struct ok_case cases[] = {
        /* StatsD docs/metric_types.md */
        {"gorets:1|c", MET, SL_METRIC_COUNTER, "c", "gorets", "1"},
        {"gorets:1|c|@0.1", MET, SL_METRIC_COUNTER, "c", "gorets", "1", 0.1},
        {"glork:320|ms|@0.1", MET, SL_METRIC_TIMER, "ms", "glork", "320", 0.1},
        {"gaugor:333|g", MET, SL_METRIC_GAUGE, "g", "gaugor", "333"},
        {"gaugor:-10|g", MET, SL_METRIC_GAUGE, "g", "gaugor", "-10"},
        {"gaugor:+4|g", MET, SL_METRIC_GAUGE, "g", "gaugor", "+4"},
        {"uniques:765|s", MET, SL_METRIC_SET, "s", "uniques", "765"},
        /* DogStatsD datagram_shell.md, metrics */
        {"page.views:1|c", MET, SL_METRIC_COUNTER, "c", "page.views", "1"},
        {"fuel.level:0.5|g", MET, SL_METRIC_GAUGE, "g", "fuel.level", "0.5"},
        {"song.length:240|h|@0.5", MET, SL_METRIC_TIMER, "h", "song.length", "240", 0.5},
        {"users.uniques:1234|s", MET, SL_METRIC_SET, "s", "users.uniques", "1234"},
        {"users.online:1|c|#country:china", MET, SL_METRIC_COUNTER, "c", "users.online", "1",
         0, "country:china"},
        {"users.online:1|c|@0.5|#country:china", MET, SL_METRIC_COUNTER, "c", "users.online",
         "1", 0.5, "country:china"},
        /* v1.1 value packing */
        {"page.views:1:2:32|d", MET, SL_METRIC_TIMER, "d", "page.views", "1:2:32"},
        {"song.length:240:234|h|@0.5", MET, SL_METRIC_TIMER, "h", "song.length", "240:234",
         0.5},
        /* v1.2 container id */
        {"page.views:1|g|#env:dev|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d",
         MET, SL_METRIC_GAUGE, "g", "page.views", "1", 0, "env:dev",
         "83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d"},
        /* v1.3 timestamp */
        {"page.views:15|c|#env:dev|T1656581400", MET, SL_METRIC_COUNTER, "c", "page.views",
         "15", 0, "env:dev", NULL, 1656581400},
        /* shell examples */
        {"custom_metric:60|g|#shell", MET, SL_METRIC_GAUGE, "g", "custom_metric", "60", 0,
         "shell"},
        {"custom.metric.name:1|c", MET, SL_METRIC_COUNTER, "c", "custom.metric.name", "1"},
        {"custom_metric:123|g|#shell", MET, SL_METRIC_GAUGE, "g", "custom_metric", "123", 0,
         "shell"},
        /* events */
        {"_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|t:warning|#err_type:bad_file",
         EVT, SL_METRIC_EVENT, "", "An exception occurred", NULL, 0, "err_type:bad_file", NULL,
         0, "Cannot parse CSV file from 10.0.0.17", NULL, NULL, "warning"},
        {"_e{21,42}:An exception occurred|Cannot parse JSON request:\\\\n{\"foo: \"bar\"}|p:low|#err_type:bad_request",
         EVT, SL_METRIC_EVENT, "", "An exception occurred", NULL, 0, "err_type:bad_request",
         NULL, 0, "Cannot parse JSON request:\\\\n{\"foo: \"bar\"}", NULL, "low"},
        {"_e{20,24}:Event from the shell|This was sent from Bash!|#shell,bash", EVT,
         SL_METRIC_EVENT, "", "Event from the shell", NULL, 0, "shell,bash", NULL, 0,
         "This was sent from Bash!"},
        /* service checks */
        {"_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s", SVC,
         SL_METRIC_SERVICE_CHECK, "", "Redis connection", NULL, 0, "env:dev", NULL, 0, NULL,
         NULL, NULL, NULL, NULL, NULL, 2, "Redis connection timed out after 10s"},
        /* the shapes in statsd.h */
        {"deploys.api:1|c|@0.1|#env:prod,region:eu|c:abc123|T1700000000", MET,
         SL_METRIC_COUNTER, "c", "deploys.api", "1", 0.1, "env:prod,region:eu", "abc123",
         1700000000},
        {"_e{5,4}:title|text|d:1700000000|h:host|p:low|t:warning|s:src|k:agg|#tags", EVT,
         SL_METRIC_EVENT, "", "title", NULL, 0, "tags", NULL, 1700000000, "text", "host", "low",
         "warning", "src", "agg"},
        {"_sc|name|3|d:1700000000|h:host|#tags|m:message", SVC, SL_METRIC_SERVICE_CHECK, "",
         "name", NULL, 0, "tags", NULL, 1700000000, NULL, "host", NULL, NULL, NULL, NULL, 3,
         "message"},
        /* field order after the type is free; unknown fields are skipped like the agent */
        {"q:2|ms|T5|c:ctr|#a:b|@0.25", MET, SL_METRIC_TIMER, "ms", "q", "2", 0.25, "a:b", "ctr",
         5},
        {"q:1|c|e:ext-data|card:low|#a:b", MET, SL_METRIC_COUNTER, "c", "q", "1", 0, "a:b"},
        {"q:1|c|@1", MET, SL_METRIC_COUNTER, "c", "q", "1", 1.0},
        {"q:-3.5e2|c", MET, SL_METRIC_COUNTER, "c", "q", "-3.5e2"},
        {"q:1|c|#", MET, SL_METRIC_COUNTER, "c", "q", "1"},
        /* set members are opaque bytes, ':' included */
        {"users:user:42|s", MET, SL_METRIC_SET, "s", "users", "user:42"},
        {"ips:fe80::1|s|#env:prod", MET, SL_METRIC_SET, "s", "ips", "fe80::1", 0, "env:prod"},
        /* "_sc" without '|' and "_e" without '{' are ordinary metric names */
        {"_scale:1|g", MET, SL_METRIC_GAUGE, "g", "_scale", "1"},
        {"_e:1|c", MET, SL_METRIC_COUNTER, "c", "_e", "1"},
        /* lengths, not separators, delimit an event's title and text */
        {"_e{3,3}:a|b|c|d|k:x", EVT, SL_METRIC_EVENT, "", "a|b", NULL, 0, NULL, NULL, 0, "c|d",
         NULL, NULL, NULL, NULL, "x"},
        {"_e{1,0}:a|", EVT, SL_METRIC_EVENT, "", "a", NULL, 0, NULL, NULL, 0, ""},
        {"_e{1,1}:a|b|c:ctr", EVT, SL_METRIC_EVENT, "", "a", NULL, 0, NULL, "ctr", 0, "b"},
        /* m: is last and runs to the end of the line */
        {"_sc|db|0|h:web1|m:down|retrying", SVC, SL_METRIC_SERVICE_CHECK, "", "db", NULL, 0,
         NULL, NULL, 0, NULL, "web1", NULL, NULL, NULL, NULL, 0, "down|retrying"},
        {"_sc|db|1", SVC, SL_METRIC_SERVICE_CHECK, "", "db", NULL, 0, NULL, NULL, 0, NULL, NULL,
         NULL, NULL, NULL, NULL, 1},
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct ok_case *sh = SHARED_ARRAY(struct ok_case, cases, n);
    for (size_t i = 0; i < n; i++) {
        struct ok_case *c = &sh[i];
        const char **strs[] = {&c->line, &c->type, &c->name, &c->values, &c->tags,
                               &c->container, &c->text, &c->host, &c->prio, &c->alert,
                               &c->source, &c->aggkey, &c->message};
        for (size_t j = 0; j < sizeof strs / sizeof strs[0]; j++)
            *strs[j] = shared_str(*strs[j]);
    }
    return cr_make_param_array(struct ok_case, sh, n, free_params);
}
#pragma GCC diagnostic pop

ParameterizedTest(struct ok_case *c, statsd, parse_documented_line_sets_every_field)
{
    struct sl_statsd_line l;
    int rc = sl_statsd_parse_line(c->line, strlen(c->line), &l);
    cr_assert(eq(int, rc, SL_STATSD_OK), "%s -> %s", c->line, sl_statsd_reason_name(rc));
    cr_assert(eq(int, (int)l.kind, c->kind));
    cr_assert(eq(int, l.mtype, c->mtype));
    cr_assert(eq(str, l.type_char, (char *)c->type));
    expect_view("name", l.name, l.name_len, c->name);
    expect_view("values", l.values, l.values_len, c->values);
    cr_assert(eq(dbl, l.sample_rate, c->rate != 0 ? c->rate : 1.0));
    expect_view("tags", l.tags, l.tags_len, c->tags);
    expect_view("container", l.container, l.container_len, c->container);
    cr_assert(eq(i64, l.timestamp, c->ts != 0 ? c->ts : -1));
    expect_view("text", l.text, l.text_len, c->text);
    expect_view("hostname", l.hostname, l.hostname_len, c->host);
    expect_view("priority", l.priority, l.priority_len, c->prio);
    expect_view("alert_type", l.alert_type, l.alert_type_len, c->alert);
    expect_view("source_type", l.source_type, l.source_type_len, c->source);
    expect_view("aggregation_key", l.aggregation_key, l.aggregation_key_len, c->aggkey);
    cr_assert(eq(int, l.status, c->status));
    expect_view("message", l.message, l.message_len, c->message);
    /* every borrowed pointer lies inside the line */
    const char *lo = c->line, *hi = c->line + strlen(c->line);
    const char *ptrs[] = {l.name, l.values, l.tags, l.container, l.text, l.hostname,
                          l.priority, l.alert_type, l.source_type, l.aggregation_key, l.message};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        if (ptrs[i])
            cr_assert(ptrs[i] >= lo && ptrs[i] <= hi);
}

Test(statsd, parse_timestamp_zero_is_kept)
{
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line("a:1|g|T0", 8, &l), 0));
    cr_assert(eq(i64, l.timestamp, 0));
}

/* ---- malformed lines: each with its own reason --------------------------------------- */

struct bad_case {
    const char *line;
    size_t len; /* 0: strlen(line); set for lines holding a NUL byte */
    int reason;
};

ParameterizedTestParameters(statsd, parse_malformed_line_returns_its_reason)
{
    static struct bad_case cases[] = {
        {":1|c", 0, SL_STATSD_E_EMPTY_NAME},
        {"", 0, SL_STATSD_E_EMPTY_NAME},
        {"|c", 0, SL_STATSD_E_EMPTY_NAME},
        {":", 0, SL_STATSD_E_EMPTY_NAME},
        {"name", 0, SL_STATSD_E_NO_VALUE},
        {"name|c", 0, SL_STATSD_E_NO_VALUE},
        {"name|c:1", 0, SL_STATSD_E_NO_VALUE},
        {"name:1", 0, SL_STATSD_E_NO_TYPE},
        {"name:1|", 0, SL_STATSD_E_NO_TYPE},
        {"name:1||#a:b", 0, SL_STATSD_E_NO_TYPE},
        {"name:1|x", 0, SL_STATSD_E_BAD_TYPE},
        {"name:1|cc", 0, SL_STATSD_E_BAD_TYPE},
        {"name:1|m", 0, SL_STATSD_E_BAD_TYPE},
        {"name:1|msx", 0, SL_STATSD_E_BAD_TYPE},
        {"name:1|msxy|#a", 0, SL_STATSD_E_BAD_TYPE},
        {"name:1|C", 0, SL_STATSD_E_BAD_TYPE},
        {"name:abc|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:|s", 0, SL_STATSD_E_BAD_VALUE},
        {"name:nan|g", 0, SL_STATSD_E_BAD_VALUE},
        {"name:NaN|g", 0, SL_STATSD_E_BAD_VALUE},
        {"name:inf|g", 0, SL_STATSD_E_BAD_VALUE},
        {"name:-Infinity|g", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1e999|g", 0, SL_STATSD_E_BAD_VALUE},
        {"name:-1e400|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1e1000000|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:0x10|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name: 1|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1 |c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1.2.3|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1e|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1e+|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:.|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:-|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:+-1|c", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1::2|ms", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1:|ms", 0, SL_STATSD_E_BAD_VALUE},
        {"name::1|ms", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1:x|h", 0, SL_STATSD_E_BAD_VALUE},
        {"name:1|c|@0", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@2", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@1.0000001", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@x", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@-0.5", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@nan", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|@0.5x", 0, SL_STATSD_E_BAD_RATE},
        {"name:1|c|#a:b\0c", 15, SL_STATSD_E_BAD_TAGS},
        {"name:1|c||#a:b", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|@0.5|@0.5", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|#a:b|#c:d", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|c:", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|c:a|c:b", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|T1|T2", 0, SL_STATSD_E_BAD_FIELD},
        {"name:1|c|T", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"name:1|c|Tabc", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"name:1|c|T-1", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"name:1|c|T+1", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"name:1|c|T1.5", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"name:1|c|T9223372036854775808", 0, SL_STATSD_E_BAD_TIMESTAMP},
        /* events */
        {"_e{5,4}:title|tex", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,4}:titl|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,5}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,3}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{4,4}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{0,4}:|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{,4}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,4}title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5;4}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{5,4:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{-5,4}:title|text", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{99999999999,1}:a|b", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{18446744073709551617,1}:a|b", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{", 0, SL_STATSD_E_BAD_EVENT},
        {"_e{3,1}:a\0b|c", 13, SL_STATSD_E_BAD_EVENT},
        {"_e{5,4}:title|text|p:urgent", 0, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text|t:fatal", 0, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text|h:", 0, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text|h:a|h:b", 0, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text||", 0, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text|s:a\0b", 24, SL_STATSD_E_BAD_FIELD},
        {"_e{5,4}:title|text|#a\0", 22, SL_STATSD_E_BAD_TAGS},
        {"_e{5,4}:title|text|d:abc", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"_e{5,4}:title|text|d:-1", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"_e{5,4}:title|text|d:1|d:2", 0, SL_STATSD_E_BAD_FIELD},
        /* service checks */
        {"_sc|", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc||0", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|4", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|01", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|x", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|-1", 0, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|na\0me|0", 11, SL_STATSD_E_BAD_SERVICE_CHECK},
        {"_sc|name|0|m:", 0, SL_STATSD_E_BAD_FIELD},
        {"_sc|name|0||", 0, SL_STATSD_E_BAD_FIELD},
        {"_sc|name|0|#a|#b", 0, SL_STATSD_E_BAD_FIELD},
        {"_sc|name|0|d:x", 0, SL_STATSD_E_BAD_TIMESTAMP},
        {"_sc|name|0|d:1|d:1", 0, SL_STATSD_E_BAD_FIELD},
        {"_sc|name|0|h:", 0, SL_STATSD_E_BAD_FIELD},
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct bad_case *sh = SHARED_ARRAY(struct bad_case, cases, n);
    for (size_t i = 0; i < n; i++)
        sh[i].line = shared_bytes(sh[i].line, sh[i].len ? sh[i].len : strlen(sh[i].line));
    return cr_make_param_array(struct bad_case, sh, n, free_params);
}

ParameterizedTest(struct bad_case *c, statsd, parse_malformed_line_returns_its_reason)
{
    struct sl_statsd_line l;
    size_t n = c->len ? c->len : strlen(c->line);
    int rc = sl_statsd_parse_line(c->line, n, &l);
    cr_assert(eq(str, (char *)sl_statsd_reason_name(rc), (char *)sl_statsd_reason_name(c->reason)),
              "line %s", c->line);
    cr_assert(eq(int, rc, -c->reason));
}

Test(statsd, reason_name_accepts_both_signs_and_unknown)
{
    cr_assert(eq(str, (char *)sl_statsd_reason_name(-SL_STATSD_E_NO_TYPE), "no_type"));
    cr_assert(eq(str, (char *)sl_statsd_reason_name(SL_STATSD_E_NO_TYPE), "no_type"));
    cr_assert(eq(str, (char *)sl_statsd_reason_name(0), "ok"));
    cr_assert(eq(str, (char *)sl_statsd_reason_name(SL_STATSD_E__COUNT), "unknown"));
    cr_assert(eq(str, (char *)sl_statsd_reason_name(-1000), "unknown"));
    for (int r = 0; r < SL_STATSD_E__COUNT; r++)
        cr_assert(ne(str, (char *)sl_statsd_reason_name(r), "unknown"));
}

/* ---- lines in a buffer --------------------------------------------------------------- */

Test(statsd, multi_line_buffer_bad_line_in_middle_keeps_the_others)
{
    static const char buf[] = "gorets:1|c\nglork:320|ms\r\nbad line\n\n\r\ngaugor:333|g\r\n"
                              "uniques:765|s";
    static const char *const want[] = {"gorets", "glork", NULL, "gaugor", "uniques"};
    static const int want_rc[] = {0, 0, -SL_STATSD_E_NO_VALUE, 0, 0};
    const char *cur = buf, *end = buf + sizeof buf - 1, *line;
    size_t len;
    int i = 0;
    while (sl_statsd_next_line(&cur, end, &line, &len)) {
        cr_assert(lt(int, i, 5));
        struct sl_statsd_line l;
        int rc = sl_statsd_parse_line(line, len, &l);
        cr_assert(eq(int, rc, want_rc[i]), "line %d", i);
        if (want[i])
            expect_view("name", l.name, l.name_len, want[i]);
        cr_assert(eq(ptr, memchr(line, '\r', len), NULL));
        i++;
    }
    cr_assert(eq(int, i, 5));
    cr_assert(eq(ptr, (void *)cur, (void *)end));
}

Test(statsd, next_line_only_blank_lines_returns_zero)
{
    static const char buf[] = "\n\r\n\n\r";
    const char *cur = buf, *line;
    size_t len;
    cr_assert(eq(int, sl_statsd_next_line(&cur, buf + 5, &line, &len), 0));
    cr_assert(eq(ptr, (void *)cur, (void *)(buf + 5)));
    cur = buf;
    cr_assert(eq(int, sl_statsd_next_line(&cur, buf, &line, &len), 0));
}

Test(statsd, next_line_keeps_inner_cr_and_strips_only_the_last)
{
    static const char buf[] = "a:1|s\r\r\nb:2|c";
    const char *cur = buf, *line;
    size_t len;
    cr_assert(eq(int, sl_statsd_next_line(&cur, buf + sizeof buf - 1, &line, &len), 1));
    cr_assert(eq(sz, len, 6)); /* "a:1|s\r": one '\r' stripped */
    cr_assert(eq(int, sl_statsd_next_line(&cur, buf + sizeof buf - 1, &line, &len), 1));
    cr_assert(eq(sz, len, 5));
    cr_assert(eq(int, sl_statsd_next_line(&cur, buf + sizeof buf - 1, &line, &len), 0));
}

/* ---- value lists --------------------------------------------------------------------- */

static int values_of(const char *text, double *out, char *signs, int max)
{
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(text, strlen(text), &l), 0), "%s", text);
    const char *c = l.values;
    struct sl_statsd_value v;
    int n = 0, rc;
    while ((rc = sl_statsd_next_value(&c, l.values + l.values_len, l.mtype, &v)) > 0) {
        cr_assert(lt(int, n, max));
        out[n] = v.v;
        signs[n] = v.sign;
        n++;
    }
    cr_assert(eq(int, rc, 0));
    return n;
}

Test(statsd, next_value_gauge_sign_marks_delta)
{
    double v[4];
    char s[4];
    cr_assert(eq(int, values_of("g:-10|g", v, s, 4), 1));
    cr_assert(eq(dbl, v[0], -10.0));
    cr_assert(eq(chr, s[0], '-'));
    cr_assert(eq(int, values_of("g:+4|g", v, s, 4), 1));
    cr_assert(eq(dbl, v[0], 4.0));
    cr_assert(eq(chr, s[0], '+'));
    cr_assert(eq(int, values_of("g:333|g", v, s, 4), 1));
    cr_assert(eq(chr, s[0], 0));
}

Test(statsd, next_value_negative_counter_has_no_sign_flag)
{
    double v[4];
    char s[4];
    cr_assert(eq(int, values_of("c:-3|c", v, s, 4), 1));
    cr_assert(eq(dbl, v[0], -3.0));
    cr_assert(eq(chr, s[0], 0));
}

Test(statsd, next_value_packed_values_in_order)
{
    double v[4];
    char s[4];
    cr_assert(eq(int, values_of("page.views:1:2:32|d", v, s, 4), 3));
    cr_assert(eq(dbl, v[0], 1.0));
    cr_assert(eq(dbl, v[1], 2.0));
    cr_assert(eq(dbl, v[2], 32.0));
}

Test(statsd, next_value_set_member_is_whole_raw_list)
{
    struct sl_statsd_line l;
    const char *text = "ips:fe80::1|s";
    cr_assert(eq(int, sl_statsd_parse_line(text, strlen(text), &l), 0));
    const char *c = l.values;
    struct sl_statsd_value v;
    cr_assert(eq(int, sl_statsd_next_value(&c, l.values + l.values_len, l.mtype, &v), 1));
    cr_assert(eq(u32, v.raw_len, 7));
    cr_assert(eq(int, memcmp(v.raw, "fe80::1", 7), 0));
    cr_assert(eq(int, sl_statsd_next_value(&c, l.values + l.values_len, l.mtype, &v), 0));
}

Test(statsd, next_value_bad_number_advances_cursor)
{
    static const char list[] = "1:x:3";
    const char *c = list, *end = list + 5;
    struct sl_statsd_value v;
    cr_assert(eq(int, sl_statsd_next_value(&c, end, SL_METRIC_TIMER, &v), 1));
    cr_assert(eq(dbl, v.v, 1.0));
    cr_assert(eq(int, sl_statsd_next_value(&c, end, SL_METRIC_TIMER, &v), -SL_STATSD_E_BAD_VALUE));
    cr_assert(eq(u32, v.raw_len, 1));
    cr_assert(eq(int, sl_statsd_next_value(&c, end, SL_METRIC_TIMER, &v), 1));
    cr_assert(eq(dbl, v.v, 3.0));
    cr_assert(eq(int, sl_statsd_next_value(&c, end, SL_METRIC_TIMER, &v), 0));
}

Test(statsd, next_value_of_event_line_is_empty)
{
    struct sl_statsd_line l;
    const char *text = "_e{1,1}:a|b";
    cr_assert(eq(int, sl_statsd_parse_line(text, strlen(text), &l), 0));
    cr_assert(eq(ptr, (void *)l.values, NULL));
    const char *c = l.values; /* NULL: no arithmetic on it, pass NULL as the end too */
    struct sl_statsd_value v;
    cr_assert(eq(int, sl_statsd_next_value(&c, NULL, l.mtype, &v), 0));
}

/* ---- name mapping (statsd_exporter EscapeMetricName) ---------------------------------- */

struct map_case {
    const char *in;
    const char *out;
};

ParameterizedTestParameters(statsd, map_name_matches_statsd_exporter)
{
    static struct map_case cases[] = {
        /* statsd_exporter pkg/mapper/escape_test.go */
        {"clean", "clean"},
        {"0starts_with_digit", "_0starts_with_digit"},
        {"with_underscore", "with_underscore"},
        {"with--doubledash", "with_doubledash"},
        {"with---multiple-dashes", "with_multiple_dashes"},
        {"with.dot", "with_dot"},
        {"with\xf0\x9f\x98\xb1" "emoji", "with_emoji"},
        {"with.*.multiple", "with___multiple"},
        {"test.web-server.foo.bar", "test_web_server_foo_bar"},
        {"", ""},
        /* more of the same rule */
        {"a:b", "a_b"},
        {"-", "_"},
        {"--", "_"},
        {"-a", "_a"},
        {"a.-b", "a__b"},
        {"a-.-b", "a___b"},
        {"9", "_9"},
        {"_9", "_9"},
        {"API.Requests", "API_Requests"},
        {"caf\xc3\xa9", "caf_"},
        {"\xe2\x82\xac" "1", "_1"},
        /* invalid UTF-8: one '_' per byte that does not start a valid sequence */
        {"a\xff" "b", "a_b"},
        {"a\xe9" "b", "a_b"},
        {"a\xc3", "a_"},
        {"\xed\xa0\x80", "___"},      /* encoded surrogate */
        {"\xc0\xaf", "__"},           /* overlong '/' */
        {"\xf4\x90\x80\x80", "____"}, /* above U+10FFFF */
        {"\xf0\x9f\x98", "___"},      /* truncated 4-byte sequence */
        {"\xf0\x9f\x41\x41", "__AA"},  /* bad third byte */
        {"\xe0\xa4\x85x", "_x"},       /* U+0905, E0 lead */
        {"\xe0\x80\x80", "___"},       /* overlong, E0 lead */
    };
    size_t n = sizeof cases / sizeof cases[0];
    struct map_case *sh = SHARED_ARRAY(struct map_case, cases, n);
    for (size_t i = 0; i < n; i++) {
        sh[i].in = shared_str(sh[i].in);
        sh[i].out = shared_str(sh[i].out);
    }
    return cr_make_param_array(struct map_case, sh, n, free_params);
}

ParameterizedTest(struct map_case *c, statsd, map_name_matches_statsd_exporter)
{
    char out[64];
    int n = sl_statsd_map_name(c->in, strlen(c->in), out, sizeof out);
    cr_assert(ge(int, n, 0));
    out[n] = 0;
    cr_assert(eq(str, out, (char *)c->out), "in: %s", c->in);
}

Test(statsd, map_name_too_small_returns_enospc)
{
    char out[4];
    cr_assert(eq(int, sl_statsd_map_name("abcde", 5, out, sizeof out), -ENOSPC));
    cr_assert(eq(int, sl_statsd_map_name("1abc", 4, out, sizeof out), -ENOSPC));
    cr_assert(eq(int, sl_statsd_map_name("1ab", 3, out, sizeof out), 4));
    cr_assert(eq(int, sl_statsd_map_name("1", 1, out, 0), -ENOSPC));
    cr_assert(eq(int, sl_statsd_map_name("a.bcd", 5, out, 1), -ENOSPC));
}

/* ---- series keys --------------------------------------------------------------------- */

static int key_of(const char *text, char *key, size_t cap, uint32_t *errs)
{
    struct sl_statsd_line l;
    int rc = sl_statsd_parse_line(text, strlen(text), &l);
    cr_assert(eq(int, rc, 0), "%s -> %s", text, sl_statsd_reason_name(rc));
    return sl_statsd_build_key(&l, key, cap, errs);
}

#define KEY_EQ(got_len, key, lit)                                                          \
    do {                                                                                   \
        static const char want_[] = lit;                                                   \
        cr_assert(eq(int, (got_len), (int)sizeof want_));                                  \
        cr_assert(eq(int, memcmp((key), want_, sizeof want_), 0));                         \
    } while (0)

Test(statsd, build_key_sorts_tags_and_maps_names)
{
    char k1[SL_KEY_MAX], k2[SL_KEY_MAX];
    uint32_t errs = 0;
    int n1 = key_of("api.requests:1|c|#region:eu,env:prod", k1, sizeof k1, &errs);
    int n2 = key_of("api.requests:7|c|@0.5|#env:prod,region:eu", k2, sizeof k2, &errs);
    KEY_EQ(n1, k1, "\x01" "api_requests\0env\0prod\0region\0eu");
    cr_assert(eq(int, n1, n2));
    cr_assert(eq(int, memcmp(k1, k2, (size_t)n1), 0));
    cr_assert(eq(u32, errs, 0));
}

Test(statsd, build_key_tag_without_value_is_counted_and_skipped)
{
    char k[SL_KEY_MAX];
    uint32_t errs = 5; /* incremented, not reset */
    int n = key_of("m:1|g|#shell,env:prod,,:x,y:,#dc:fra", k, sizeof k, &errs);
    KEY_EQ(n, k, "\x02m\0dc\0fra\0env\0prod");
    cr_assert(eq(u32, errs, 5 + 4)); /* "shell", "", ":x", "y:" */
}

Test(statsd, build_key_trailing_comma_is_not_an_error)
{
    char k[SL_KEY_MAX];
    uint32_t errs = 0;
    int n = key_of("m:1|g|#a:1,", k, sizeof k, &errs);
    KEY_EQ(n, k, "\x02m\0a\0" "1");
    cr_assert(eq(u32, errs, 0));
}

Test(statsd, build_key_label_name_escaped_value_kept)
{
    char k[SL_KEY_MAX];
    int n = key_of("m:1|c|#k8s.pod-name:web-1.a:b", k, sizeof k, NULL);
    KEY_EQ(n, k, "\x01m\0k8s_pod_name\0web-1.a:b");
    n = key_of("m:1|c|#1st:x", k, sizeof k, NULL);
    KEY_EQ(n, k, "\x01m\0_1st\0x");
}

Test(statsd, build_key_repeated_tag_last_wins)
{
    char k[SL_KEY_MAX];
    int n = key_of("m:1|c|#env:dev,env:prod", k, sizeof k, NULL);
    KEY_EQ(n, k, "\x01m\0env\0prod");
}

Test(statsd, build_key_kind_byte_is_mtype_and_timers_share_it)
{
    char a[SL_KEY_MAX], b[SL_KEY_MAX], c[SL_KEY_MAX], g[SL_KEY_MAX];
    int na = key_of("t:1|ms", a, sizeof a, NULL);
    int nb = key_of("t:1|h", b, sizeof b, NULL);
    int nc = key_of("t:1|d", c, sizeof c, NULL);
    int ng = key_of("t:1|g", g, sizeof g, NULL);
    cr_assert(eq(int, sl_key_kind(a), SL_METRIC_TIMER));
    cr_assert(eq(int, sl_key_kind(g), SL_METRIC_GAUGE));
    cr_assert(eq(int, na, nb));
    cr_assert(eq(int, na, nc));
    cr_assert(eq(int, memcmp(a, b, (size_t)na), 0));
    cr_assert(eq(int, memcmp(a, c, (size_t)na), 0));
    cr_assert(ne(u64, sl_key_hash(a, (size_t)na), sl_key_hash(g, (size_t)ng)));
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line("t:1|h", 5, &l), 0));
    cr_assert(eq(str, l.type_char, "h")); /* the sent type survives in type_char */
}

Test(statsd, build_key_event_has_title_and_defaults)
{
    char k[SL_KEY_MAX];
    int n = key_of("_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17", k,
                   sizeof k, NULL);
    KEY_EQ(n, k, "\x05statsd_events\0alert_type\0info\0priority\0normal\0title\0An exception occurred");
    char k2[SL_KEY_MAX];
    int n2 = key_of("_e{21,3}:An exception occurred|xyz|t:info|p:normal", k2, sizeof k2, NULL);
    cr_assert(eq(int, n, n2));
    cr_assert(eq(int, memcmp(k, k2, (size_t)n), 0));
}

Test(statsd, build_key_event_tags_cannot_override_title)
{
    char k[SL_KEY_MAX];
    int n = key_of("_e{1,1}:a|b|s:src|t:error|p:low|#title:fake,zone:x", k, sizeof k, NULL);
    KEY_EQ(n, k, "\x05statsd_events\0alert_type\0error\0priority\0low\0source_type\0src\0"
                 "title\0a\0zone\0x");
}

Test(statsd, build_key_service_check_has_check_label)
{
    char k[SL_KEY_MAX];
    int n = key_of("_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s", k,
                   sizeof k, NULL);
    KEY_EQ(n, k, "\x06statsd_service_check\0check\0Redis connection\0env\0dev");
}

static void line_with_tags(char *buf, size_t cap, int ntags)
{
    int o = snprintf(buf, cap, "m:1|c|#");
    for (int i = 0; i < ntags; i++)
        o += snprintf(buf + o, cap - (size_t)o, "%st%02d:v", i ? "," : "", i);
}

Test(statsd, build_key_too_many_tags_refused)
{
    char line[2048], k[SL_KEY_MAX];
    line_with_tags(line, sizeof line, SL_LABELS_MAX - 1);
    cr_assert(gt(int, key_of(line, k, sizeof k, NULL), 0));
    line_with_tags(line, sizeof line, SL_LABELS_MAX);
    cr_assert(eq(int, key_of(line, k, sizeof k, NULL), -SL_STATSD_E_TOO_MANY_TAGS));
    line_with_tags(line, sizeof line, SL_LABELS_MAX + 1);
    cr_assert(eq(int, key_of(line, k, sizeof k, NULL), -SL_STATSD_E_TOO_MANY_TAGS));
}

/* Built-in labels count: an event has title, alert_type, priority (+ source_type). */
static int key_with_tags(const char *head, int ntags, char *k)
{
    char line[2048];
    int o = snprintf(line, sizeof line, "%s|#", head);
    for (int i = 0; i < ntags; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "%st%02d:v", i ? "," : "", i);
    return key_of(line, k, SL_KEY_MAX, NULL);
}

Test(statsd, build_key_builtin_labels_count_toward_the_limit)
{
    char k[SL_KEY_MAX];
    const int room = SL_LABELS_MAX - 1;
    cr_assert(gt(int, key_with_tags("_e{1,1}:a|b", room - 3, k), 0));
    cr_assert(eq(int, key_with_tags("_e{1,1}:a|b", room - 2, k), -SL_STATSD_E_TOO_MANY_TAGS));
    cr_assert(eq(int, key_with_tags("_e{1,1}:a|b", room - 1, k), -SL_STATSD_E_TOO_MANY_TAGS));
    cr_assert(eq(int, key_with_tags("_e{1,1}:a|b", room, k), -SL_STATSD_E_TOO_MANY_TAGS));
    cr_assert(gt(int, key_with_tags("_e{1,1}:a|b|s:src", room - 4, k), 0));
    cr_assert(eq(int, key_with_tags("_e{1,1}:a|b|s:src", room - 3, k),
                 -SL_STATSD_E_TOO_MANY_TAGS));
    cr_assert(gt(int, key_with_tags("_sc|db|0", room - 1, k), 0));
    cr_assert(eq(int, key_with_tags("_sc|db|0", room, k), -SL_STATSD_E_TOO_MANY_TAGS));
}

Test(statsd, build_key_too_long_refused)
{
    char line[SL_KEY_MAX + 64], k[SL_KEY_MAX];
    memset(line, 'a', SL_KEY_MAX);
    strcpy(line + SL_KEY_MAX, ":1|c");
    cr_assert(eq(int, key_of(line, k, sizeof k, NULL), -SL_STATSD_E_TOO_LONG));
    memset(line, 'a', SL_KEY_MAX + 8); /* the escaped name alone does not fit */
    strcpy(line + SL_KEY_MAX + 8, ":1|c");
    cr_assert(eq(int, key_of(line, k, sizeof k, NULL), -SL_STATSD_E_TOO_LONG));
    /* fits in SL_KEY_MAX but not in the caller's buffer */
    cr_assert(eq(int, key_of("abcdef:1|c", k, 4, NULL), -SL_STATSD_E_TOO_LONG));
    /* long tag value */
    char tl[SL_KEY_MAX + 64];
    int o = snprintf(tl, sizeof tl, "m:1|c|#k:");
    memset(tl + o, 'v', SL_KEY_MAX);
    tl[o + SL_KEY_MAX] = 0;
    cr_assert(eq(int, key_of(tl, k, sizeof k, NULL), -SL_STATSD_E_TOO_LONG));
    /* long tag name: the escaped names alone overflow */
    o = snprintf(tl, sizeof tl, "m:1|c|#");
    memset(tl + o, 'k', SL_KEY_MAX);
    strcpy(tl + o + SL_KEY_MAX, ":v");
    cr_assert(eq(int, key_of(tl, k, sizeof k, NULL), -SL_STATSD_E_TOO_LONG));
}

/* ---- numbers: bit-exact against strtod ------------------------------------------------ */

static void expect_same_as_strtod(const char *num)
{
    char line[600];
    snprintf(line, sizeof line, "m:%s|g", num);
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(line, strlen(line), &l), 0), "%s", line);
    const char *c = l.values;
    struct sl_statsd_value v;
    cr_assert(eq(int, sl_statsd_next_value(&c, l.values + l.values_len, l.mtype, &v), 1));
    double want = strtod(num, NULL);
    uint64_t a, b;
    memcpy(&a, &v.v, 8);
    memcpy(&b, &want, 8);
    cr_assert(eq(u64, a, b), "%s: got %a want %a", num, v.v, want);
}

TheoryDataPoints(statsd, value_printed_any_precision_matches_strtod) = {
    DataPoints(double, 0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 123.456, 1e22, 1e23, 9007199254740992.0,
               9007199254740993.0, 0.30000000000000004, 1e-5, 3.141592653589793, DBL_MAX,
               -DBL_MAX, DBL_MIN, 4.9406564584124654e-324, 2.2250738585072009e-308, 1e300,
               123456789012345678.0, 0.001, 2.5e-7, 17.25, -99.99),
    DataPoints(int, 1, 3, 6, 9, 15, 16, 17, 25),
};

Theory((double x, int prec), statsd, value_printed_any_precision_matches_strtod)
{
    char num[512];
    snprintf(num, sizeof num, "%.*g", prec, x);
    /* rounding to few digits can carry DBL_MAX past the largest double: that is inf,
     * which is refused (tested with the malformed lines) */
    cr_assume(isfinite(strtod(num, NULL)));
    expect_same_as_strtod(num);
    snprintf(num, sizeof num, "%.*f", prec, x);
    cr_assume(strlen(num) < 255); /* longer spellings are refused by design */
    expect_same_as_strtod(num);
}

TheoryDataPoints(statsd, value_spelling_matches_strtod) = {
    DataPoints(const char *, "0", "-0", "+7", ".5", "5.", "-.5e1", "0.1e1", "1E5", "1e-5",
               "007", "9007199254740993", "9007199254740992", "18446744073709551616",
               "123456789012345678901234567890", "0.000000000000000000000000001",
               "1.7976931348623157e308", "4.9e-324", "2.4703282292062327e-324",
               "2.2250738585072011e-308", "1e-400", "0.1000000000000000055511151231257827",
               "0.10000000000000000555111512312578270211815834045410156250", "1e22", "1e23",
               "8.98846567431158e307", "1448997445238699", "22.222222222222222",
               "3.00000000000000000000001", "1000000000000000000000000e-3", "12345e-22",
               "12345e22", "0e999999", "0e1000000", "1e-1000000", "1e+0", "1.5e-0"),
};

Theory((const char *num), statsd, value_spelling_matches_strtod)
{
    expect_same_as_strtod(num);
}

Test(statsd, value_random_short_decimals_match_strtod)
{
    /* The fast path's domain: up to 19 digits with a point anywhere, optional exponent. */
    uint64_t s = 0x9E3779B97F4A7C15u;
    char num[64];
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int digits = 1 + (int)(s % 19);
        int point = (int)((s >> 8) % (uint64_t)(digits + 1));
        int o = 0;
        if ((s >> 16) & 1)
            num[o++] = '-';
        uint64_t r = s >> 20;
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                num[o++] = '.';
            num[o++] = (char)('0' + (r % 10));
            r = r / 10 ? r / 10 : s * 2654435761u;
        }
        if (((s >> 24) & 3) == 0)
            o += snprintf(num + o, sizeof num - (size_t)o, "e%d", (int)((s >> 30) % 61) - 30);
        num[o] = 0;
        expect_same_as_strtod(num);
    }
}

Test(statsd, value_too_long_spelling_refused_on_both_paths)
{
    /* 256 bytes that the exact fast path could take ("000…1") and 256 that need strtod */
    char line[400];
    int o = snprintf(line, sizeof line, "m:");
    memset(line + o, '0', 255);
    strcpy(line + o + 255, "1|c");
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(line, strlen(line), &l), -SL_STATSD_E_BAD_VALUE));
    strcpy(line + o + 254, "1|c"); /* 254 zeros and a 1: 255 bytes, accepted */
    cr_assert(eq(int, sl_statsd_parse_line(line, strlen(line), &l), 0));
    o = snprintf(line, sizeof line, "m:0.");
    memset(line + o, '0', 253);
    strcpy(line + o + 253, "1|c"); /* 0.000…1: 256 bytes */
    cr_assert(eq(int, sl_statsd_parse_line(line, strlen(line), &l), -SL_STATSD_E_BAD_VALUE));
}

Test(statsd, value_long_fraction_refused)
{
    char line[400];
    int o = snprintf(line, sizeof line, "m:1.");
    memset(line + o, '0', 300);
    strcpy(line + o + 300, "|c");
    struct sl_statsd_line l;
    cr_assert(eq(int, sl_statsd_parse_line(line, strlen(line), &l), -SL_STATSD_E_BAD_VALUE));
}

/* ---- parse_line_values ---------------------------------------------------------------- */

/* Same verdict as sl_statsd_parse_line, and the numbers sl_statsd_next_value would give,
 * for single, packed, signed, over-capacity, set, event and malformed lines. */
Test(statsd, parse_line_values_matches_next_value)
{
    static const char *const lines[] = {
        "a:1|c", "a:-3|c", "g:+4:-2:7|g", "t:1.5:2e3:.25:-0|ms|@0.5", "s:u:1|s",
        "p:1:2:3:4:5|h", "q:1:2|d|#x:y", "_e{1,1}:t|x", "_sc|c|0", "bad:1:|c",
        "bad:1x|c", "bad:|g", "nan:nan|g", "big:1e999|g", "m:1|c|@2",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        for (uint32_t cap = 1; cap <= 4; cap++) {
            const char *t = lines[i];
            struct sl_statsd_line a, b;
            double vals[4];
            uint64_t signs = 0;
            uint32_t nvals = 0;
            int ra = sl_statsd_parse_line(t, strlen(t), &a);
            int rb = sl_statsd_parse_line_values(t, strlen(t), &b, vals, &signs, cap, &nvals);
            cr_assert(eq(int, rb, ra), "%s", t);
            if (ra != 0)
                continue;
            cr_assert(eq(int, memcmp(&a, &b, sizeof a), 0), "%s: same line", t);
            if (a.kind != SL_STATSD_METRIC || a.mtype == SL_METRIC_SET) {
                cr_assert(eq(u32, nvals, 0), "%s", t);
                continue;
            }
            const char *c = a.values, *end = a.values + a.values_len;
            struct sl_statsd_value v;
            uint32_t k = 0;
            while (sl_statsd_next_value(&c, end, a.mtype, &v) > 0) {
                if (k < cap) {
                    cr_assert(eq(int, memcmp(&vals[k], &v.v, sizeof v.v), 0), "%s #%u", t, k);
                    int sgn = v.raw[0] == '+' || v.raw[0] == '-';
                    cr_assert(eq(int, (int)(signs >> k & 1), sgn), "%s #%u sign", t, k);
                }
                k++;
            }
            cr_assert(eq(u32, nvals, k), "%s", t);
        }
    }
}
