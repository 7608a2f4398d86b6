/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file block.h
 * Immutable blocks: every sample of a time range (raw) or every bucket of a downsampled tier,
 * per series in chunk columns (codec.h), plus a label index of postings lists. One block is
 * one directory holding one file, `data`, laid out as in storage/FORMAT.md.
 *
 * Writing: sl_block_writer_create() opens `<parent>/<name>.tmp/data`; series are added in
 * strictly increasing key order; sl_block_writer_commit() writes the index and the table of
 * contents, fdatasyncs the file and the directory, and renames `<name>.tmp` to `<name>` (the
 * atomic publish), then fsyncs the parent. A crash before the rename leaves only a `.tmp`
 * directory, which sl_store_open() deletes.
 *
 * Reading: sl_block_open() mmaps the file and verifies the header, the table of contents and
 * every section checksum before returning, then inflates the two LZ4-packed index sections
 * (series, postings) into memory; chunks are read straight from the mapping. Later reads
 * trust offsets only after bounds checks and never fault on a bad checksum mid-query.
 *
 * Thread: a writer belongs to one thread. An open block is immutable: any thread may read it
 * concurrently; sl_block_close() only after every reader is done (the store refcounts).
 */
#ifndef SL_BLOCK_H
#define SL_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "storage/codec.h"
#include "storage/match.h"

/* Version 2: integer columns of 64+ residuals may use the split Rice layout (FORMAT.md).
 * Version 3: version 2 plus the two timer sketch sections; written only for blocks that
 * hold sketches, so blocks of plain metrics stay version 2. Versions 1 and 2 are read. */
#define SL_BLOCK_FORMAT_VERSION 3
#define SL_BLOCK_FORMAT_VERSION_MIN 1
#define SL_BLOCK_FORMAT_VERSION_SKETCHES 3 /* first version with sketch sections */

/** Fixed facts of a block, from its header and table of contents. */
struct sl_block_meta {
    int64_t mint, maxt;    /* inclusive range of sample timestamps */
    int64_t resolution_ms; /* 0 = raw samples; else the bucket width of a downsampled tier */
    uint64_t seq;          /* writer-chosen sequence number, part of the name */
    uint32_t src_seq;      /* tiers: highest seq among the blocks this one was built from */
    uint32_t ncols;        /* value columns per chunk: 1 raw, SL_AGG_COLS for tiers */
    uint64_t nseries, nsamples, nchunks;
    uint64_t data_bytes;  /* header + chunk section + table of contents */
    uint64_t index_bytes; /* series and postings sections with their offset tables */
    uint64_t sketch_bytes; /* sketch section and sketch index (0 in version 1 blocks) */
    uint64_t nsketch_series, nsketches;
};

/** One chunk of one series in an open block; @p BORROWED from the block's mapping. */
struct sl_block_chunk {
    int64_t mint, maxt;
    const uint8_t *p;
    size_t len;
};

struct sl_block_writer;
struct sl_block;

/**
 * Start a block named @name under @parent (the store names blocks; see FORMAT.md).
 * @param lz4 compression effort for every chunk.
 * @param[out] out OWNED: commit or abort it.
 * @return 0, -errno (mkdir/open, named in an ERROR log line), -ENOMEM, -EINVAL.
 */
int sl_block_writer_create(const char *parent, const char *name, int64_t resolution_ms,
                           unsigned ncols, uint64_t seq, enum sl_codec_lz4 lz4,
                           struct sl_block_writer **out);

/** Record the source sequence number in the header (tier blocks; default 0). */
void sl_block_writer_set_source(struct sl_block_writer *w, uint32_t src_seq);

/**
 * Add one series: @n samples (sorted by time, no duplicates) in @ts and @cols[0..ncols).
 * Keys must come in strictly increasing memcmp order (shorter first on a common prefix).
 * Runs longer than SL_CODEC_CHUNK_MAX are split into several chunks. All BORROWED.
 * @return 0, -EINVAL (order, n == 0), -ENOMEM, -errno from write (the file is named).
 */
int sl_block_writer_add(struct sl_block_writer *w, const char *key, size_t keylen,
                        const int64_t *ts, const double *const *cols, size_t n);

/**
 * Add the quantile sketches of one timer series: @n encodings (engine/ddsketch.h) @enc[i]
 * of @len[i] bytes at strictly increasing @ts[i] (flush times for raw blocks, bucket starts
 * for tiers). Sketch series come after every sample series (sl_block_writer_add() fails
 * once this was called) in strictly increasing key order of their own. All BORROWED.
 * A block with sketches is written in format version 2 (FORMAT.md, "sketch section").
 * @return 0, -EINVAL (order, n == 0, an empty encoding), -ENOMEM, -errno from write.
 */
int sl_block_writer_add_sketches(struct sl_block_writer *w, const char *key, size_t keylen,
                                 const int64_t *ts, const uint8_t *const *enc,
                                 const uint32_t *len, size_t n);

/**
 * Write the index, make everything durable, publish the block. Frees @w in every case.
 * @return 0, -ENODATA when no series was added (nothing is published), -errno, -ENOMEM.
 */
int sl_block_writer_commit(struct sl_block_writer *w);

/** Remove the temp directory and free @w. NULL is a no-op. */
void sl_block_writer_abort(struct sl_block_writer *w);

/**
 * Open and verify the block in directory @dir.
 * @param[out] out OWNED; sl_block_close().
 * @return 0; SL_E_CORRUPT (bad magic, size, header/TOC/section checksum, out-of-range
 *         offsets; an ERROR line names the file and the section); SL_E_VERSION (a format
 *         version this build does not read; the file is named); -errno; -ENOMEM.
 */
int sl_block_open(const char *dir, struct sl_block **out);
void sl_block_close(struct sl_block *b);

const struct sl_block_meta *sl_block_meta(const struct sl_block *b);
/** Directory the block was opened from. BORROWED until close. */
const char *sl_block_dir(const struct sl_block *b);

/**
 * Series ids (sorted, unique) satisfying every matcher, evaluated on the postings lists:
 * each matcher costs a binary search for its label name plus one check per distinct value
 * of that name, never a scan of the series.
 * @param[out] ids OWNED (free()); NULL when *n == 0.
 * @return 0, -ENOMEM, SL_E_CORRUPT.
 */
int sl_block_select(const struct sl_block *b, const struct sl_matchers *ms, uint32_t **ids,
                    size_t *n);

/**
 * Key and chunks of series @id (< nseries).
 * @param[out] key BORROWED until close. @param chunks room for @cap entries.
 * @return number of chunks (may exceed @cap: call again with more room), SL_E_CORRUPT.
 */
int sl_block_series(const struct sl_block *b, uint32_t id, const char **key, size_t *keylen,
                    struct sl_block_chunk *chunks, size_t cap);

/**
 * Id of the series with exactly this key (binary search over the sorted series).
 * @return 0 with *id set, -ENOENT, SL_E_CORRUPT.
 */
int sl_block_find(const struct sl_block *b, const char *key, size_t keylen, uint32_t *id);

/**
 * Key and sketch chunks of sketch series @id (< meta.nsketch_series); as sl_block_series().
 * @return number of chunks, -EINVAL (id out of range).
 */
int sl_block_sketch_series(const struct sl_block *b, uint32_t id, const char **key,
                           size_t *keylen, struct sl_block_chunk *chunks, size_t cap);

/** Id of the sketch series with exactly this key. @return 0, -ENOENT. */
int sl_block_sketch_find(const struct sl_block *b, const char *key, size_t keylen, uint32_t *id);

/**
 * Sketches read from blocks, in time order per series. enc[i] is BORROWED from the block's
 * mapping (valid while the block is open) or from buffers the run owns (valid until
 * sl_sketch_run_fini()). Zero-initialise before the first read.
 */
struct sl_sketch_run {
    size_t n, cap;
    int64_t *t;
    const uint8_t **enc;
    uint32_t *len;
    uint8_t **bufs; /* inflated lz4 chunks */
    size_t nbufs, bufcap;
};

/**
 * Append the sketches of series @id with mint <= t <= maxt to @r.
 * @return 0, -ENOMEM, SL_E_CORRUPT (a chunk does not decode; logged with the block).
 */
int sl_block_sketch_read(const struct sl_block *b, uint32_t id, int64_t mint, int64_t maxt,
                         struct sl_sketch_run *r);
/**
 * Append one entry (@enc BORROWED: it must outlive @r's use) to @r, growing its arrays.
 * @return 0, or -ENOMEM with @r unchanged.
 */
int sl_sketch_run_push(struct sl_sketch_run *r, int64_t t, const uint8_t *enc, uint32_t len);
void sl_sketch_run_fini(struct sl_sketch_run *r);

#endif
