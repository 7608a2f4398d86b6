/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file wal.h
 * Write-ahead log: numbered segment files of CRC-32C-protected records. The WAL knows nothing
 * about samples; a record is a type byte and opaque payload (the store defines the types).
 *
 * Durability: sl_wal_append() writes one record with one writev(2) and, under the default
 * SL_WAL_FSYNC_BATCH policy, fdatasync(2)s before returning, so a record is either entirely
 * durable when the call returns 0 or, after a crash, detected as a torn tail on replay.
 *
 * Recovery: sl_wal_open() replays every segment in order through a callback. A record whose
 * header is short, whose length runs past the file or whose checksum fails ends that
 * segment: the file is truncated there and one WARN line reports the segment file, the byte
 * offset, the bytes dropped and how many records were lost. Replay then continues with the
 * next segment, so a torn write in an old segment never hides later acknowledged data.
 * Garbage of any kind never crashes replay. Appends after open go to a fresh segment.
 *
 * Thread: one writer. sl_wal_* calls on one handle must be serialised by the caller (the
 * store holds its append mutex around them).
 */
#ifndef SL_WAL_H
#define SL_WAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum sl_wal_fsync {
    SL_WAL_FSYNC_BATCH = 0, /* fdatasync after every append (one group commit per flush) */
    SL_WAL_FSYNC_NONE = 1,  /* leave it to the OS: survives a process crash, not power loss */
};

struct sl_wal_cfg {
    const char *dir;         /* BORROWED for sl_wal_open(); created if missing */
    enum sl_wal_fsync fsync;
    size_t segment_bytes;    /* start a new segment once one passes this size */
};

/** Counters of the replay done by sl_wal_open(). */
struct sl_wal_replay_stats {
    uint64_t segments;
    uint64_t records;
    uint64_t bytes;
    uint64_t dropped_bytes;   /* cut from torn or corrupt tails */
    uint64_t dropped_records; /* records lost with them (the bad one plus any after it) */
    uint64_t corrupt_segments;
};

/** Largest payload of one record. */
#define SL_WAL_RECORD_MAX (256u << 20)
/* Segments are written in this version; replay reads every version from 1 up to it. */
#define SL_WAL_FORMAT_VERSION 2

/**
 * Replay callback: one valid record. @p BORROWED for the call. Returning non-zero aborts
 * sl_wal_open() with that code.
 */
typedef int sl_wal_replay_fn(void *ctx, uint32_t seg, uint8_t type, const uint8_t *p, size_t len);

struct sl_wal;

/**
 * Open the WAL in cfg->dir, replay every record through @fn (may be NULL) and start a new
 * segment for appends.
 * @param[out] st  replay counters (may be NULL).
 * @param[out] out OWNED; sl_wal_close() it. Untouched on failure.
 * @return 0; -errno from mkdir/open/read/write/fsync; SL_E_VERSION when a segment has a
 *         foreign format version (logged with the file name; nothing is truncated then);
 *         whatever @fn returned.
 */
int sl_wal_open(const struct sl_wal_cfg *cfg, sl_wal_replay_fn *fn, void *ctx,
                struct sl_wal_replay_stats *st, struct sl_wal **out);

/**
 * Append one record made of the concatenation of @iov[0..iovcnt) (BORROWED for the call),
 * durable per the fsync policy when 0 is returned.
 * @return 0; -EMSGSIZE above SL_WAL_RECORD_MAX; -errno from write/fdatasync (then the
 *         record is not in the log: a partial write is cut off again, and if even that fails
 *         the next append starts a new segment).
 */
int sl_wal_append(struct sl_wal *w, uint8_t type, const struct iovec *iov, int iovcnt);

/** Close the current segment and start the next one. @param[out] seg its number. */
int sl_wal_rotate(struct sl_wal *w, uint32_t *seg);

/** Number of the segment appends currently go to. */
uint32_t sl_wal_segment(const struct sl_wal *w);

/** Delete every segment numbered below @seg. @return 0 or -errno (first failure). */
int sl_wal_truncate_before(struct sl_wal *w, uint32_t seg);

/** Bytes in all live segments (for status pages and tests). */
uint64_t sl_wal_size(const struct sl_wal *w);

/** Close; NULL is a no-op. */
void sl_wal_close(struct sl_wal *w);

#endif
