/* SPDX-License-Identifier: Apache-2.0 */
/*
 * StatsD feeder: the per-line hot path of every listener.
 *
 *   "api.req:1:2|ms|@0.5|#env:prod"  --parse-->  line  --build_key-->  \3api_req\0env\0prod\0
 *        --XXH3--> id --sl_shard_of--> ring --copy--> [sl_record | key]   (one per value)
 *
 * Costs per line measured on the prototype: split ~13 ns, parse ~27 ns, XXH3 ~7 ns; the
 * key copy into the ring is a ~40-byte memcpy. Nothing here allocates per line.
 *
 * build_key + XXH3 of the key were the largest share of a line (~1,070 instructions of
 * ~1,830 for the loadgen mix), so a feeder given a cache by sl_statsd_feed_init() looks the
 * line's raw identity up first (ingest/statsd_keycache.h) and builds the key only on a miss.
 * Once the shard has said where a cached identity's series lives, its records are the
 * 32-byte header alone, naming the series (engine/shard.h, "Route hints"): no key copy.
 */
#include "ingest/statsd_feed.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "engine/clock.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "engine/record.h"

static struct sl_log_limit bad_line_log;

static void log_bad_line(const struct sl_statsd_feed *f, int reason, const char *p, size_t n)
{
    char sample[81];
    size_t k = n < 80 ? n : 80;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        sample[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    sample[k] = 0;
    sl_log_every(&bad_line_log, 1000, SL_LOG_WARN,
                 "ingest=statsd listener=%s event=bad_line reason=%s bytes=%zu sample=\"%s\"",
                 f->listener, sl_statsd_reason_name(reason), n, sample);
}

/* Scratch record for a tap: records are built here instead of in a ring slot. */
union tap_slot {
    struct sl_record r;
    char bytes[sizeof(struct sl_record) + SL_KEY_MAX];
};

static void *record_alloc(struct sl_statsd_feed *f, union tap_slot *slot, uint64_t id,
                          uint32_t len, int *gave_up)
{
    if (f->tap)
        return slot;
    void *m = sl_producer_alloc(f->prod, id, len);
    if (m || !f->block_when_full)
        return m;
    /* Stream listener: publish what we have so the shard can drain, then wait for room. */
    sl_producer_publish(f->prod);
    sl_stat_add(&f->stats->ring_waits, 1);
    if (sl_producer_wait_room(f->prod, len, f->max_wait_ms ? f->max_wait_ms : 5000)) {
        *gave_up = 1;
        return NULL;
    }
    return sl_producer_alloc(f->prod, id, len);
}

/* A record that found its ring full. A route request among them may not have gone out,
 * so no reply is taken for the slot until one has: a reply meant for the slot's previous
 * identity must never be taken for the new one without the request that checks the key
 * first (engine/shard.h, "Route hints"). */
static void record_dropped(struct sl_statsd_feed *f, struct sl_statsd_route *route)
{
    sl_stat_add(&f->stats->ring_full_drops, 1);
    if (route)
        route->epoch = 0;
}

static_assert(SL_STATSD_KEYCACHE_MAX - 1 <= SL_REC_ROUTE_MAX,
              "every cache slot number fits a route request's route word");

/* After the header: @tail key bytes, then @route's stamp when the record asks for a route
 * (a hinted record carries neither). */
static inline void put_tail(struct sl_record *r, const char *key, uint32_t tail,
                            const struct sl_statsd_route *route)
{
    if (tail) /* a variable-length memcpy is a call, and hinted records have no key */
        memcpy(r->key, key, tail);
    if (route)
        memcpy(r->key + tail, &route->stamp, sizeof route->stamp);
}

/* 1 when the record is on its way (ring slot filled, or taken by the tap), else 0. */
static uint64_t tap_put(struct sl_statsd_feed *f, const struct sl_record *r)
{
    if (!f->tap)
        return 1;
    return f->tap->put(f->tap->ctx, r, f->_now_ms) == 0;
}

/* Values per line kept from the parse; a line with more is iterated a second time. Value
 * packing (v1.1) is rare and short, and each pending line carries this array. */
#define FEED_VALS 8

/* A line split and parsed ahead of being applied (see sl_statsd_feed_nopublish). */
struct feed_pending {
    const char *p;
    size_t n;
    int rc;          /* parse result, or -SL_STATSD_E_TOO_LONG over max_line */
    uint64_t hash;   /* raw-identity hash from sl_statsd_keycache_prefetch(), 0 if none */
    uint32_t nvals;  /* values of a numeric metric line; 0 for sets, events, checks */
    uint64_t signs;  /* bit i: value i was sent with a sign (gauge deltas) */
    double vals[FEED_VALS]; /* the first FEED_VALS values, as parse_line scanned them */
    struct sl_statsd_line line;
};

/* Apply one parsed line. The parse validated every value of a metric line before accepting
 * it, so nothing below meets a bad value: a line applies whole or not at all. */
static int feed_line(struct sl_statsd_feed *f, struct feed_pending *e, int *gave_up)
{
    const char *p = e->p;
    size_t n = e->n;
    int rc = e->rc;
    const struct sl_statsd_line *lp = &e->line;
    char scratch[SL_KEY_MAX];
    const char *key = scratch;
    uint64_t id = 0;
    uint32_t tag_errors = 0;
    int klen = 0;
    struct sl_statsd_route *route = NULL;
    if (rc == 0) {
        if (f->_cache) {
            int how;
            klen = sl_statsd_keycache_key(f->_cache, lp, e->hash, scratch, &key, &id,
                                          &tag_errors, &how, &route);
            if (f->tap)
                route = NULL; /* no shard to name series to */
            if (klen > 0 && lp->kind == SL_STATSD_METRIC)
                sl_stat_add(how == SL_STATSD_KEYCACHE_HIT    ? &f->stats->keycache_hits
                            : how == SL_STATSD_KEYCACHE_MISS ? &f->stats->keycache_misses
                                                             : &f->stats->keycache_bypass,
                            1);
        } else {
            klen = sl_statsd_build_key(lp, scratch, sizeof scratch, &tag_errors);
            if (klen > 0)
                id = sl_key_hash(scratch, (size_t)klen);
        }
        if (klen < 0)
            rc = klen;
    }
    if (rc < 0) {
        int reason = -rc;
        if (reason <= 0 || reason >= SL_STATSD_E__COUNT)
            reason = SL_STATSD_E_BAD_FIELD;
        sl_stat_add(&f->stats->malformed[reason], 1);
        log_bad_line(f, reason, p, n);
        return 0;
    }
    if (tag_errors)
        sl_stat_add(&f->stats->tag_errors, tag_errors);
    struct sl_record hdr = {.kind = SL_REC_SAMPLE,
                            .mtype = lp->mtype,
                            .key_len = (uint16_t)klen,
                            .id = id,
                            .rate = lp->sample_rate};
    /* What follows the header: the key, and after it a route request's stamp. */
    uint32_t tail = (uint32_t)klen, stamp_len = 0;
    if (route) {
        /* Name the series to the shard when it told us where it is and has retired
         * nothing since; otherwise ask (engine/shard.h, "Route hints"). */
        if (route->epoch == sl_producer_epoch(f->prod, id)) {
            hdr.flags = SL_REC_F_HINTED;
            hdr.hint = route->hint;
            hdr.route_lo = (uint16_t)(route->epoch & SL_REC_EPOCH_MASK);
            hdr.key_len = 0;
            tail = 0;
        } else {
            hdr.flags = SL_REC_F_ROUTE_REQ;
            sl_record_set_route(&hdr, sl_statsd_keycache_slot_of(f->_cache, route));
            stamp_len = sizeof route->stamp;
            /* A reply may be taken from now on; a dropped record takes that back below. */
            route->epoch = SL_STATSD_ROUTE_ASKED;
        }
    }
    uint32_t rlen = (uint32_t)sizeof(struct sl_record) + tail + stamp_len;
    uint64_t emitted = 0;
    union tap_slot slot;
    if (e->nvals && e->nvals <= FEED_VALS) {
        /* numbers parse_line already scanned while validating them */
        for (uint32_t i = 0; i < e->nvals; i++) {
            struct sl_record *r = record_alloc(f, &slot, id, rlen, gave_up);
            if (!r) {
                record_dropped(f, route);
                continue;
            }
            *r = hdr;
            r->value = e->vals[i];
            if (lp->mtype == SL_METRIC_GAUGE && (e->signs >> i & 1))
                r->flags |= SL_REC_F_DELTA;
            put_tail(r, key, tail, stamp_len ? route : NULL);
            emitted += tap_put(f, r);
        }
    } else if (lp->kind == SL_STATSD_METRIC) {
        /* a set's member, or more values than FEED_VALS: iterate the list */
        const char *c = lp->values, *end = lp->values + lp->values_len;
        struct sl_statsd_value v;
        int vr;
        while ((vr = sl_statsd_next_value(&c, end, lp->mtype, &v)) > 0) {
            struct sl_record *r = record_alloc(f, &slot, id, rlen, gave_up);
            if (!r) {
                record_dropped(f, route);
                continue;
            }
            *r = hdr;
            if (lp->mtype == SL_METRIC_SET) {
                r->member = XXH3_64bits(v.raw, v.raw_len);
            } else {
                r->value = v.v;
                if (lp->mtype == SL_METRIC_GAUGE && v.sign)
                    r->flags |= SL_REC_F_DELTA;
            }
            put_tail(r, key, tail, stamp_len ? route : NULL);
            emitted += tap_put(f, r);
        }
        (void)SL_NEVER(vr < 0); /* parse_line accepted every value */
    } else {
        struct sl_record *r = record_alloc(f, &slot, id, rlen, gave_up);
        if (!r) {
            record_dropped(f, route);
        } else {
            *r = hdr;
            r->rate = 1.0;
            r->value = lp->kind == SL_STATSD_EVENT ? 1.0 : (double)lp->status;
            put_tail(r, key, tail, stamp_len ? route : NULL);
            emitted += tap_put(f, r);
        }
        sl_stat_add(lp->kind == SL_STATSD_EVENT ? &f->stats->events : &f->stats->service_checks,
                    1);
    }
    sl_stat_add(&f->stats->samples, emitted);
    return 1;
}

/* A shard's reply to a route request: the cache keeps it if the slot still holds the
 * identity that asked. */
static void take_route(void *ctx, const struct sl_route_reply *r)
{
    sl_statsd_keycache_set_route(ctx, r->route, r->id, r->stamp, r->hint, r->epoch);
}

int sl_statsd_feed_init(struct sl_statsd_feed *f, uint32_t entries)
{
    f->_cache = NULL;
    if (entries == 0)
        return 0;
    return sl_statsd_keycache_create(entries, &f->_cache);
}

void sl_statsd_feed_fini(struct sl_statsd_feed *f)
{
    sl_statsd_keycache_destroy(f->_cache);
    f->_cache = NULL;
}

/*
 * Lines go through in groups of FEED_AHEAD: split and parse the group, hashing each
 * line's raw identity and prefetching its key cache set, then apply the group in order.
 * The cache is far larger than L2, so without this every lookup waits for memory; with
 * it the misses of a group overlap (the shard's drain does the same with its series
 * table). Applying in order keeps records of one series in the order they were sent.
 *
 * A group spans buffers: with one line per datagram (the common StatsD client shape) a
 * per-buffer group would hold one line and every lookup would wait for memory alone,
 * which measured 2.3x the CPU per line of ~40-line datagrams.
 */
#define FEED_AHEAD 8

/* Lines of a list of buffers, in order. */
struct line_iter {
    const struct sl_statsd_buf *b;
    size_t nb, i;
    const char *cur, *end;
};

static inline int iter_next(struct line_iter *it, const char **p, size_t *n)
{
    for (;;) {
        if (it->cur && sl_statsd_next_line(&it->cur, it->end, p, n))
            return 1;
        if (it->i == it->nb)
            return 0;
        it->cur = it->b[it->i].p;
        it->end = it->cur + it->b[it->i].n;
        it->i++;
    }
}

int sl_statsd_feed_many_nopublish(struct sl_statsd_feed *f, const struct sl_statsd_buf *bufs,
                                  size_t nbufs)
{
    struct line_iter it = {.b = bufs, .nb = nbufs};
    struct feed_pending q[FEED_AHEAD];
    int accepted = 0, lines = 0, gave_up = 0;
    if (nbufs == 0)
        return 0;
    if (f->tap) {
        f->_now_ms = sl_clock_wall_ms(); /* one receive time per batch, not per line */
    } else if (f->_cache) {
        sl_producer_enter(f->prod); /* before the first epoch is read; see feed_publish */
        sl_producer_poll_replies(f->prod, take_route, f->_cache);
    }
    while (!gave_up) {
        int k = 0;
        while (k < FEED_AHEAD && iter_next(&it, &q[k].p, &q[k].n)) {
            struct feed_pending *e = &q[k++];
            e->hash = 0;
            e->nvals = 0;
            if (f->max_line && e->n > f->max_line) {
                e->rc = -SL_STATSD_E_TOO_LONG;
                continue;
            }
            e->rc = sl_statsd_parse_line_values(e->p, e->n, &e->line, e->vals, &e->signs,
                                                FEED_VALS, &e->nvals);
            if (e->rc == 0 && f->_cache)
                e->hash = sl_statsd_keycache_prefetch(f->_cache, &e->line);
        }
        if (k == 0)
            break;
        for (int i = 0; i < k; i++) {
            lines++;
            if (f->max_line && q[i].n > f->max_line) {
                sl_stat_add(&f->stats->malformed[SL_STATSD_E_TOO_LONG], 1);
                log_bad_line(f, SL_STATSD_E_TOO_LONG, q[i].p, q[i].n);
                continue;
            }
            accepted += feed_line(f, &q[i], &gave_up);
            if (gave_up) {
                /* The shards stayed full past max_wait_ms: the rest of this batch is
                 * dropped without waiting again for each line, and counted. */
                uint64_t rest = (uint64_t)(k - i - 1);
                const char *p;
                size_t n;
                while (iter_next(&it, &p, &n))
                    rest++;
                lines += (int)rest;
                sl_stat_add(&f->stats->lines_dropped_full, rest);
                break;
            }
        }
    }
    size_t bytes = 0;
    for (size_t i = 0; i < nbufs; i++)
        bytes += bufs[i].n;
    sl_stat_add(&f->stats->packets, nbufs);
    sl_stat_add(&f->stats->bytes, bytes);
    sl_stat_add(&f->stats->lines, (uint64_t)lines);
    sl_stat_add(&f->stats->parsed, (uint64_t)accepted);
    return gave_up ? -EAGAIN : accepted;
}

int sl_statsd_feed_nopublish(struct sl_statsd_feed *f, const char *buf, size_t len)
{
    struct sl_statsd_buf b = {buf, len};
    return sl_statsd_feed_many_nopublish(f, &b, 1);
}

void sl_statsd_feed_publish(struct sl_statsd_feed *f)
{
    if (f->tap) {
        f->tap->flush(f->tap->ctx);
        return;
    }
    sl_producer_publish(f->prod);
    /* The batch's hinted records are visible now: shards may free series it could name. */
    sl_producer_quiesce(f->prod);
}

int sl_statsd_feed(struct sl_statsd_feed *f, const char *buf, size_t len)
{
    int rc = sl_statsd_feed_nopublish(f, buf, len);
    sl_statsd_feed_publish(f);
    return rc;
}
