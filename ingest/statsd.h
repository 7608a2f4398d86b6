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
 *
 * Accepted grammar, and where it is stricter or looser than the reference daemons:
 * - Metric types c g ms h d s. Fields after the type come in any order: @rate (0 < r <= 1),
 *   #tags, c:container (DogStatsD v1.2), T<unix seconds> (v1.3). A field this parser does
 *   not know (e.g. "e:" external data, "card:" cardinality) is skipped, as the Datadog agent
 *   skips it. An empty field ("||", trailing '|'), a repeated field, or a known field with
 *   an empty value ("c:") is BAD_FIELD.
 * - Values: decimal numbers [+-]?(d+[.d*]|.d+)([eE][+-]?d+)?, at most 255 bytes, finite,
 *   equal bit-for-bit to strtod's result; several per line separated by ':' (v1.1 value
 *   packing), no empty entries. A set's value is ONE member, colons included (DogStatsD
 *   packs no set values), of arbitrary bytes.
 * - "_e{" starts an event and "_sc|" a service check; anything else is a metric (so
 *   "_scale:1|g" is a metric). Event p: must be normal|low and t: error|warning|info|success
 *   (BAD_FIELD otherwise; the agent warns and keeps its default); d: must be a non-negative
 *   integer (BAD_TIMESTAMP). A service check's m: must come last and runs to the end of the
 *   line, so a message may contain '|'.
 * - Bytes that end up verbatim in a series key must not contain NUL: tags (BAD_TAGS), an
 *   event title (BAD_EVENT) or source type (BAD_FIELD), a service check name
 *   (BAD_SERVICE_CHECK). Names are escaped, so they may hold any byte. Input is otherwise
 *   not checked for valid UTF-8.
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

/**
 * Stable snake_case name of @reason for metrics and logs ("no_type"); "unknown" otherwise.
 * @reason may be given as returned (negative) or as the enum value.
 */
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
 * Every value of a metric line is validated here, so sl_statsd_next_value() over an
 * accepted line never fails. Fields absent from the line are NULL / 0, sample_rate 1.0,
 * timestamp -1. Lines longer than UINT32_MAX bytes are refused with TOO_LONG.
 */
int sl_statsd_parse_line(const char *p, size_t n, struct sl_statsd_line *out);

/**
 * sl_statsd_parse_line(), also handing back the numbers it validated, so a caller does not
 * scan them a second time with sl_statsd_next_value() (the feeder's per-line path).
 * @param vals    room for @cap numbers (1 <= @cap <= 64): the first @cap values of a
 *                counter, gauge or timer line, in order, as sl_statsd_next_value() gives v
 * @param[out] signs  bit i set when value i was sent with a leading '+' or '-'
 * @param[out] nvals  how many values the line carries; 0 for sets (one member: iterate
 *                with sl_statsd_next_value()), events and service checks. When it exceeds
 *                @cap only the first @cap are in @vals: iterate instead.
 * @return as sl_statsd_parse_line(); *vals, *signs, *nvals are meaningful only on success.
 */
int sl_statsd_parse_line_values(const char *p, size_t n, struct sl_statsd_line *out,
                                double *vals, uint64_t *signs, uint32_t cap, uint32_t *nvals);

/** One value of a metric line's value list. */
struct sl_statsd_value {
    double v;          /* parsed number (counters, gauges, timers), sign included:
                          "-3" is -3.0 for every type; 0 for sets */
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
 *         For SL_METRIC_SET the whole list is one member (raw bytes, ':' included) and v = 0.
 *         Meant for the value list of a line sl_statsd_parse_line() accepted; on an
 *         unchecked list an empty trailing value after a final ':' is not reported.
 */
int sl_statsd_next_value(const char **cur, const char *end, uint8_t mtype,
                         struct sl_statsd_value *v);

/**
 * Map a StatsD name to a valid Prometheus metric name into @out (not NUL-terminated),
 * exactly as statsd_exporter's EscapeMetricName (pkg/mapper/escape.go) does:
 * - a name starting with an ASCII digit gets a '_' prepended ("0ops" -> "_0ops");
 * - [a-zA-Z0-9_] are kept;
 * - a '-' right after another '-' (after a run of them) is dropped, so "a--b" and "a---b"
 *   give "a_b" (double dashes are legal in exporter mappings);
 * - every other character becomes one '_': each ASCII byte, and each whole UTF-8 sequence
 *   ("with😱emoji" -> "with_emoji"), so "a.b-c" -> "a_b_c", "with.*.multiple" ->
 *   "with___multiple". ':' is replaced too, although Prometheus allows it in names.
 * Bytes that are not valid UTF-8 (statsd_exporter refuses such lines before escaping) each
 * become one '_', the way Go's range loop yields one RuneError per invalid byte.
 * An empty name maps to an empty name; any other output is non-empty, matches
 * [a-zA-Z_][a-zA-Z0-9_]* and is at most len + 1 bytes.
 * @return mapped length, or -ENOSPC when it does not fit in @cap.
 */
int sl_statsd_map_name(const char *name, size_t len, char *out, size_t cap);

/**
 * Build the canonical series key (engine/key.h) of a parsed line into @out: kind byte =
 * line->mtype, mapped name, labels from the DogStatsD tags (label names mapped like metric
 * names; a tag without ':' is ignored and counted in *@tag_errors, as statsd_exporter does).
 * For _e the name is "statsd_events" with labels title, alert_type, priority, source_type
 * plus the tags; for _sc the name is "statsd_service_check" with label check plus the tags.
 *
 * Tags follow statsd_exporter's parseTag: "#env:prod,region:eu" -> env="prod",
 * region="eu"; a leading '#' on a tag is dropped; an empty tag, a tag without ':', or one
 * with an empty name or value is skipped and counted; values are kept as sent; a repeated
 * name keeps the last value; a trailing ',' is not an empty tag. Events default
 * alert_type="info" and priority="normal" (the agent's defaults, so an explicit default and
 * an absent field are one series); source_type is left out when absent. Built-in labels
 * (title, alert_type, priority, source_type, check) win over tags of the same name. The
 * container (|c:) and timestamp are not part of the key.
 *
 * @param line        a line sl_statsd_parse_line() accepted
 * @param tag_errors  incremented (not reset) by the number of skipped tags; may be NULL
 * @return key length > 0, or -SL_STATSD_E_TOO_LONG (key longer than @cap or SL_KEY_MAX) /
 *         -SL_STATSD_E_TOO_MANY_TAGS (more than SL_LABELS_MAX - 1 labels, built-in ones
 *         included; one slot stays free for a label the server adds).
 */
int sl_statsd_build_key(const struct sl_statsd_line *line, char *out, size_t cap,
                        uint32_t *tag_errors);

#endif
