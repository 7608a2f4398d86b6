/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file statsd.h
 * StatsD and DogStatsD line protocol: split, parse, map to canonical series keys.
 *
 * Zero-copy: every pointer in struct sl_statsd_line is BORROWED from the caller's buffer and
 * valid as long as that buffer is. Nothing here allocates. Thread: any (pure functions).
 *
 *     deploys.api:1|c|@0.1|#env:prod,region:eu|c:abc123|T1700000000
 *     ^name       ^values ^rate ^tags            ^container ^timestamp
 *
 *     _e{5,4}:title|text|d:1700000000|h:host|p:low|t:warning|s:src|k:agg|#tags
 *     _sc|name|status|d:1700000000|h:host|#tags|m:message
 *
 * Name mapping (sl_statsd_map_name) follows statsd_exporter's default escaping so every
 * name is a valid Prometheus identifier; the exact rule is documented on the function.
 */
#ifndef SL_STATSD_H
#define SL_STATSD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/key.h"
#include "engine/record.h"

/** Why a line was refused. Values are indexes into the self-metric table; never reorder. */
enum sl_statsd_reason {
    SL_STATSD_OK = 0,
    SL_STATSD_E_EMPTY_NAME,     /* ":1|c" */
    SL_STATSD_E_NO_VALUE,       /* "name" or "name|c": no ':' */
    SL_STATSD_E_NO_TYPE,        /* "name:1" */
    SL_STATSD_E_BAD_TYPE,       /* "name:1|x" */
    SL_STATSD_E_BAD_VALUE,      /* "name:abc|c", "name:|c", NaN/Inf */
    SL_STATSD_E_BAD_RATE,       /* "@0", "@2", "@x" */
    SL_STATSD_E_BAD_TAGS,       /* tag section unparseable */
    SL_STATSD_E_BAD_FIELD,      /* unknown or malformed |-field */
    SL_STATSD_E_BAD_EVENT,      /* _e{...} lengths wrong or truncated */
    SL_STATSD_E_BAD_SERVICE_CHECK, /* _sc with missing name or status outside 0..3 */
    SL_STATSD_E_TOO_LONG,       /* key longer than SL_KEY_MAX after mapping */
    SL_STATSD_E_TOO_MANY_TAGS,  /* more than SL_LABELS_MAX - 1 tags */
    SL_STATSD_E_BAD_TIMESTAMP,  /* |T not a non-negative integer */
    SL_STATSD_E__COUNT
};

/** Stable snake_case name of @reason for metrics and logs ("no_type"); "unknown" otherwise. */
const char *sl_statsd_reason_name(int reason);

enum sl_statsd_line_kind { SL_STATSD_METRIC = 1, SL_STATSD_EVENT, SL_STATSD_SERVICE_CHECK };

struct sl_statsd_line {
    enum sl_statsd_line_kind kind;
    uint8_t mtype;          /* enum sl_metric_type: COUNTER, GAUGE, TIMER (ms/h/d), SET,
                               EVENT for _e, SERVICE_CHECK for _sc */
    char type_char[3];      /* as sent: "c", "g", "ms", "h", "d", "s" ("" for _e/_sc) */
    const char *name;       /* metric name, event title, or service check name; raw bytes */
    uint32_t name_len;
    const char *values;     /* metric: raw value list "1" or "1:2:3"; _e: NULL */
    uint32_t values_len;
    double sample_rate;     /* 1.0 when absent */
    const char *tags;       /* raw tag list after '#', e.g. "env:prod,region:eu"; NULL if none */
    uint32_t tags_len;
    const char *container;  /* DogStatsD |c: field; NULL if absent */
    uint32_t container_len;
    int64_t timestamp;      /* |T (metrics), d: (events/checks), seconds; -1 when absent */
    /* events */
    const char *text;       /* _e text (escaped "\\n" kept as sent) */
    uint32_t text_len;
    const char *hostname;   /* h: */
    uint32_t hostname_len;
    const char *priority;   /* p: "normal"|"low" */
    uint32_t priority_len;
    const char *alert_type; /* t: "error"|"warning"|"info"|"success" */
    uint32_t alert_type_len;
    const char *source_type; /* s: */
    uint32_t source_type_len;
    const char *aggregation_key; /* k: */
    uint32_t aggregation_key_len;
    /* service checks */
    int status;             /* 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN */
    const char *message;    /* m: */
    uint32_t message_len;
};

/**
 * Next line of a datagram or stream buffer. Lines end at '\n' (a trailing '\r' is
 * stripped); the last line needs no terminator. Empty lines are skipped.
 * @param[in,out] cur  position, advanced past the line
 * @return 1 with *line / *len set (BORROWED from the buffer), 0 when the buffer is done.
 */
int sl_statsd_next_line(const char **cur, const char *end, const char **line, size_t *len);

/**
 * Parse one line (no '\n' inside). @return SL_STATSD_OK or a negative
 * enum sl_statsd_reason (-SL_STATSD_E_NO_TYPE, ...). On error *out is unspecified.
 */
int sl_statsd_parse_line(const char *p, size_t n, struct sl_statsd_line *out);

/** One value of a metric line's value list. */
struct sl_statsd_value {
    double v;          /* parsed number (counters, gauges, timers) */
    char sign;         /* gauges: '+' or '-' when sent as a delta, else 0 */
    const char *raw;   /* the value's bytes (set members are strings) */
    uint32_t raw_len;
};

/**
 * Iterate the ':'-separated values of a parsed metric line:
 *     const char *c = line.values; struct sl_statsd_value v;
 *     while ((rc = sl_statsd_next_value(&c, line.values + line.values_len, line.mtype, &v)) > 0)
 * @return 1 with *v set, 0 at the end, -SL_STATSD_E_BAD_VALUE for a bad number (the cursor
 *         still advances past it, so the line's other values can be kept or the line
 *         dropped — the caller decides; sluice drops the whole line so nothing half-applies).
 */
int sl_statsd_next_value(const char **cur, const char *end, uint8_t mtype,
                         struct sl_statsd_value *v);

/**
 * Map a StatsD name to a valid Prometheus metric name into @out.
 * @return mapped length, or -ENOSPC when it does not fit in @cap.
 */
int sl_statsd_map_name(const char *name, size_t len, char *out, size_t cap);

/**
 * Build the canonical series key (engine/key.h) of a parsed line into @out: kind byte =
 * line->mtype, mapped name, labels from the DogStatsD tags (label names mapped like metric
 * names; a tag without ':' is ignored and counted in *@tag_errors, as statsd_exporter does).
 * For _e the name is "statsd_events" with labels title, alert_type, priority, source_type
 * plus the tags; for _sc the name is "statsd_service_check" with label check plus the tags.
 * @return key length > 0, or -SL_STATSD_E_TOO_LONG / -SL_STATSD_E_TOO_MANY_TAGS.
 */
int sl_statsd_build_key(const struct sl_statsd_line *line, char *out, size_t cap,
                        uint32_t *tag_errors);

#endif
