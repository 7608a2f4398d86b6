/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file record.h
 * The records ingest threads hand to shards through sl_ring. A record is a fixed 32-byte
 * header followed by the canonical series key (engine/key.h) it applies to; the ring's own
 * 8-byte framing carries its total length. Copying the key (~40 bytes) into the ring is
 * what lets the receive buffer be reused at once: nothing on a shard ever points into an
 * ingest thread's memory. A hinted record (SL_REC_F_HINTED) is the header alone: it names
 * a series the shard itself told the sender about (shard.h, "Route hints").
 */
#ifndef SL_RECORD_H
#define SL_RECORD_H

#include <assert.h>
#include <stdint.h>

/** StatsD metric types. Also used as the key kind byte, so values never change. */
enum sl_metric_type {
    SL_KIND_PLAIN = 0, /* a series with no StatsD type: storage, query, remote write */
    SL_METRIC_COUNTER = 1,
    SL_METRIC_GAUGE = 2,
    SL_METRIC_TIMER = 3, /* ms, h and d all feed one quantile sketch, as in statsd */
    SL_METRIC_SET = 4,
    SL_METRIC_EVENT = 5,         /* DogStatsD _e: counted per (title, tags) */
    SL_METRIC_SERVICE_CHECK = 6, /* DogStatsD _sc: status kept as a gauge */
    SL_METRIC__COUNT
};

enum sl_record_kind {
    SL_REC_SAMPLE = 1,
};

#define SL_REC_F_DELTA 0x01 /* gauge: value is a signed delta, not an absolute set */
/* Route hints (see shard.h, "Route hints"). Only in-process feeders set these; records read
 * from the wire never carry them (ingest/wire.c accepts SL_REC_F_DELTA alone). */
/* id and key as usual, then a 4-byte stamp (the sender's, echoed in the reply); route =
 * the sender's cache slot: reply with the series so that later records can name it */
#define SL_REC_F_ROUTE_REQ 0x02
/* hint = the series (in place of id) and no key (key_len 0); route = the shard epoch the
 * hint was issued in, masked by SL_REC_EPOCH_MASK */
#define SL_REC_F_HINTED 0x04

struct sl_record {
    uint8_t kind;      /* enum sl_record_kind */
    uint8_t mtype;     /* enum sl_metric_type; equals key[0] */
    uint8_t flags;     /* SL_REC_F_* */
    uint8_t route_hi;  /* bits 16..23 of the route word (sl_record_route) */
    uint16_t key_len;  /* bytes of key[] */
    uint16_t route_lo; /* bits 0..15 of the route word */
    union {
        uint64_t id; /* sl_key_hash(key, key_len), computed once on the ingest thread */
        void *hint;  /* SL_REC_F_HINTED: the shard's series record (see shard.h) */
    };
    union {
        double value;    /* counter/gauge/timer value, service check status */
        uint64_t member; /* set: XXH3 of the member string */
    };
    double rate; /* sample rate in (0, 1]; counters and timers weigh by 1/rate */
    char key[];
};
static_assert(sizeof(struct sl_record) == 32, "record header is 32 bytes");

/** Largest route word: 24 bits, spread over the header's spare bytes. */
#define SL_REC_ROUTE_MAX 0xffffffu
/** The epoch bits a hinted record carries: route_lo alone, one store on the per-line path.
 *  A hinted record outlives at most one epoch change (records from before one are drained
 *  before the series they name are freed, shard.h), so 16 bits tell the current epoch
 *  from any it can meet. */
#define SL_REC_EPOCH_MASK 0xffffu

static inline uint32_t sl_record_route(const struct sl_record *r)
{
    return (uint32_t)r->route_hi << 16 | r->route_lo;
}

static inline void sl_record_set_route(struct sl_record *r, uint32_t route)
{
    r->route_hi = (uint8_t)(route >> 16);
    r->route_lo = (uint16_t)route;
}

#endif
