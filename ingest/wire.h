/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file wire.h
 * sluice's compact binary wire format for batches of parsed samples: what a forwarding node
 * publishes to Kafka and what a consuming node reads back. It carries exactly what a shard
 * record (engine/record.h) carries, plus the source timestamp, so a consumer rebuilds the
 * same records the forwarder's parser produced without parsing text again.
 *
 *     batch  := header sample{count}
 *     header := magic:2 (0xF5 'S') version:1 (=1) flags:1 (=0) count:u32le
 *               base_ts_ms:i64le crc32c:u32le                          = 20 bytes
 *     sample := sflags:1 key_len:uvarint key:key_len value:u64le
 *               [rate:f64le if sflags & RATE] ts_delta:zigzag-varint(ts_ms - base_ts_ms)
 *
 * The CRC32C covers every byte after the header (the samples). 0xF5 never starts valid
 * UTF-8, so a message value whose first byte is 0xF5 cannot be a StatsD line: a consumer
 * tells the two formats apart by that byte. The metric type is not stored separately: it
 * is the key's kind byte (key[0]). A sample's rate is stored only when it is not 1.0.
 *
 * Encoding is canonical (one byte form per batch: shortest varints, rate only when != 1,
 * no unknown flag bits), and the decoder accepts only canonical input; so
 * encode(decode(b)) == b, which the fuzz target checks.
 *
 * Version policy: a decoder refuses a version it does not know with SL_E_VERSION (the
 * consumer counts and skips the message); fields are only ever added under a new version.
 * Thread: any (pure functions over caller memory; a writer belongs to one thread).
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/key.h"
#include "engine/record.h"

#define SL_WIRE_MAGIC0 0xF5
#define SL_WIRE_MAGIC1 'S'
#define SL_WIRE_VERSION 1
#define SL_WIRE_HDR_LEN 20
/** Most bytes one sample can take: flags, varint, key, value, rate, ts varint. */
#define SL_WIRE_SAMPLE_MAX (1 + 2 + SL_KEY_MAX + 8 + 8 + 10)

#define SL_WIRE_F_DELTA 0x01 /* gauge delta (SL_REC_F_DELTA) */
#define SL_WIRE_F_RATE 0x02  /* a rate field follows the value */
#define SL_WIRE_F__ALL 0x03

/** One decoded sample. @key BORROWED from the batch buffer. */
struct sl_wire_sample {
    const char *key;
    uint16_t key_len;
    uint8_t mtype; /* == key[0] */
    uint8_t flags; /* SL_REC_F_* */
    union {
        double value;
        uint64_t member;
    };
    double rate;   /* (0, 1] */
    int64_t ts_ms; /* source timestamp, ms since the epoch */
};

/** Encoder state over a caller buffer. Fields are the writer's; read only via functions. */
struct sl_wire_writer {
    uint8_t *buf; /* BORROWED */
    size_t cap, len;
    uint32_t count;
    int64_t base_ts_ms;
};

/**
 * Start a batch in @buf (@cap >= SL_WIRE_HDR_LEN) whose timestamps are stored relative to
 * @base_ts_ms. @return 0, or -EINVAL when @cap is too small for the header.
 */
int sl_wire_writer_init(struct sl_wire_writer *w, void *buf, size_t cap, int64_t base_ts_ms);

/**
 * Append one sample: the record header @r and its canonical key @key (r->key_len bytes),
 * stamped @ts_ms. @return 0; -ENOSPC when it does not fit (the batch is unchanged: finish
 * it and start another); -EINVAL when the record is not a valid sample (kind, key length,
 * key kind byte != mtype, rate outside (0, 1]).
 */
int sl_wire_put(struct sl_wire_writer *w, const struct sl_record *r, const char *key,
                int64_t ts_ms);

/** Samples appended so far. */
static inline uint32_t sl_wire_count(const struct sl_wire_writer *w)
{
    return w->count;
}

/** Write the header (count, CRC). @return the batch length in bytes. The writer may be
 *  re-initialised afterwards. */
size_t sl_wire_finish(struct sl_wire_writer *w);

/** 1 when @buf starts like a wire batch (magic byte), else 0. Does not validate. */
int sl_wire_is_batch(const void *buf, size_t len);

/** Cursor over a verified batch. Fields private. */
struct sl_wire_reader {
    const uint8_t *p, *end; /* BORROWED from the batch */
    uint32_t left;
    int64_t base_ts_ms;
};

/**
 * Verify a batch (magic, version, flags, CRC) and start a cursor over it.
 * @param buf BORROWED; must stay valid while the reader is used.
 * @return sample count (>= 0); SL_E_PROTO (not a batch, truncated, bad flags);
 *         SL_E_VERSION (unknown version); SL_E_CORRUPT (CRC mismatch).
 */
int sl_wire_reader_init(struct sl_wire_reader *rd, const void *buf, size_t len);

/**
 * Decode the next sample into @s (its key BORROWED from the batch).
 * @return 1 with @s filled; 0 at the end of a well-formed batch; SL_E_PROTO when a sample
 *         is malformed or non-canonical, or bytes remain after the last sample (a decoder
 *         stops at the first error: the batch is refused from there on).
 */
int sl_wire_next(struct sl_wire_reader *rd, struct sl_wire_sample *s);

/** CRC32C (Castagnoli) of @len bytes, continuing from @crc (start with 0). */
uint32_t sl_wire_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
