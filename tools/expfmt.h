/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file expfmt.h
 * Exposition-format lines for `sluice import` and `sluice export`: the Prometheus text format
 * (0.0.4) and OpenMetrics 1.0 text, one line at a time. The parser is a pure function over one
 * line (no state, no allocation, no I/O): what a line means never depends on the lines around
 * it, so the importer can report file:line for every error and keep going, and the fuzz target
 * can check each line on its own. Whole-file rules (the format of a file, `# EOF` being last)
 * belong to the caller.
 *
 * The two formats differ, for our purposes, only in the sample timestamp:
 *  - Prometheus text: an integer of milliseconds since the epoch (`... 1700000000123`);
 *  - OpenMetrics: seconds since the epoch as a decimal (`... 1700000000.123`); digits below
 *    the millisecond are rounded to the nearest millisecond (ties away from zero), because
 *    the store keeps milliseconds.
 * OpenMetrics exemplars (` # {trace_id="x"} 1 1.5` after a sample) are accepted and ignored.
 *
 * Values: decimal numbers as strtod(3) reads them in the C locale (correctly rounded, so the
 * shortest round-trip text of a double parses back to the same bits), `NaN`, `+Inf`, `-Inf`,
 * `Inf` and `infinity` (any case). Hex floats and Go's digit separators are refused. Every NaN
 * parses to the default quiet NaN (0x7ff8000000000000): the text has no way to carry a
 * payload, so the staleness marker (0x7ff0000000000002) cannot come from a file.
 *
 * Thread: any (pure functions).
 */
#ifndef SL_TOOLS_EXPFMT_H
#define SL_TOOLS_EXPFMT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"
#include "engine/key.h"

enum sl_expfmt_format {
    SL_EXPFMT_PROM = 0,        /* Prometheus text: timestamps in integer milliseconds */
    SL_EXPFMT_OPENMETRICS = 1, /* OpenMetrics: timestamps in decimal seconds */
};

enum sl_expfmt_kind {
    SL_EXPFMT_BLANK,   /* empty or only spaces and tabs */
    SL_EXPFMT_COMMENT, /* `#` followed by anything that is not HELP/TYPE/UNIT/EOF */
    SL_EXPFMT_HELP,    /* `# HELP name text`: name, text (escapes left as written) */
    SL_EXPFMT_TYPE,    /* `# TYPE name type`: name, text = the type (a known one) */
    SL_EXPFMT_UNIT,    /* `# UNIT name unit`: name, text = the unit (may be empty) */
    SL_EXPFMT_EOF,     /* `# EOF` */
    SL_EXPFMT_SAMPLE,  /* `name{labels} value [timestamp]` */
};

/** One parsed line. Pointers are BORROWED from the line, or from @scratch for label values
 *  that held escapes; valid while both are. */
struct sl_expfmt_line {
    enum sl_expfmt_kind kind;
    const char *name; /* metric name (SAMPLE) or family (HELP/TYPE/UNIT) */
    uint32_t name_len;
    const char *text; /* HELP/TYPE/UNIT argument */
    uint32_t text_len;
    struct sl_label labels[SL_LABELS_MAX]; /* SAMPLE: in the order written, names unique */
    size_t nlabels;
    double value;
    int has_ts;    /* SAMPLE: 1 when a timestamp was given */
    int64_t ts_ms; /* milliseconds since the epoch when has_ts */
    const char *err; /* on SL_E_PROTO: what is wrong (static string) */
    size_t err_col;  /* on SL_E_PROTO: 1-based byte column where it was noticed */
};

/**
 * Parse one line (@len bytes, without its '\n'; a trailing '\r' is not allowed, as in both
 * formats; need not be NUL-terminated).
 *
 *     http_requests_total{method="post",path="/a\"b"} 1027 1395066363000
 *     ^^^^^^^^^^^^^^^^^^^ ^^^^^^ ^^^^^^ ^^^^^^^^^^^^  ^^^^ ^^^^^^^^^^^^^
 *     name                label  value (unescaped)    value timestamp (ms | s in OpenMetrics)
 *
 * @param scratch room for unescaped label values; @scratch_cap >= @len always suffices.
 * @return 0 with @out filled; SL_E_PROTO with out->err and out->err_col set (malformed line,
 *         more than SL_LABELS_MAX labels, duplicate label name, the reserved label
 *         `__name__`, unknown TYPE, timestamp out of range, -ENOSPC never: a too small
 *         @scratch is reported as SL_E_PROTO "label values too long for the buffer").
 */
int sl_expfmt_parse_line(const char *line, size_t len, enum sl_expfmt_format fmt,
                         struct sl_expfmt_line *out, char *scratch, size_t scratch_cap);

/**
 * Append one sample line (with its '\n') that sl_expfmt_parse_line() reads back to the same
 * name, labels, value bits (NaN payloads excepted: they become the default NaN) and time:
 * label values escaped (\\ \" \n), the value in the shortest round-trip form (the same
 * text as sl_buf_put_double(), computed with a binary search over the precision), the time as
 * integer milliseconds (PROM) or decimal seconds with at most three decimals (OPENMETRICS).
 * All inputs BORROWED. Allocation failures are sticky in @b (sl_buf_failed()).
 */
void sl_expfmt_format_sample(struct sl_buf *b, enum sl_expfmt_format fmt, const char *name,
                             size_t name_len, const struct sl_label *labels, size_t n, double v,
                             int64_t ts_ms);

/** Append @ms as OpenMetrics seconds: "1700000000", "1700000000.5", "-0.001". */
void sl_expfmt_format_seconds(struct sl_buf *b, int64_t ms);

#endif
