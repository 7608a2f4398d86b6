/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file errors.h
 * Error codes shared by every module. 0 is success; negative errno values pass through
 * unchanged; sluice's own codes sit in a band below the errno range (as LMDB's sit below
 * BerkeleyDB's) so sl_strerror() can tell them apart. Thread: any.
 */
#ifndef SL_ERRORS_H
#define SL_ERRORS_H

enum {
    SL_E_BASE = -10000,
    SL_E_CORRUPT = -10001, /* data failed its checksum; the section is quarantined */
    SL_E_PROTO = -10002,   /* malformed input; the caller counts it and drops it */
    SL_E_LIMIT = -10003,   /* a configured limit refused the request (series limit, ...) */
    SL_E_VERSION = -10004, /* a file of a format version this build does not read */
    SL_E_LIMIT_SERIES = -10005, /* the series limit refused a new series */
    SL_E_LAST = SL_E_LIMIT_SERIES,
};

/** Handlers that refuse input that is not theirs return this; declining is not an error. */
#define SL_DECLINED 1

/** Text for @rc: sluice's own codes, else strerror(-rc). Never NULL; static storage. */
const char *sl_strerror(int rc);

/** SL_NEVER(x): asserts x is false in debug builds, evaluates x in release (sqlite NEVER). */
#ifdef NDEBUG
#define SL_NEVER(x) (x)
#else
#include <assert.h>
#define SL_NEVER(x) (assert(!(x)), (x))
#endif

#endif
