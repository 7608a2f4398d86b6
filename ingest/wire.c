/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire batches (format in wire.h). The encoder is on the forwarding hot path: one call per
 * sample, no allocation, a few stores plus the key memcpy. The decoder trusts nothing: every
 * length is checked against the end of the buffer before it is used, and anything that
 * would not re-encode to the same bytes is refused, so a batch has exactly one meaning.
 *
 * CRC32C rather than CRC32 because storage uses the same polynomial for its WAL and blocks
 * (one implementation to trust); the table is built once, on first use.
 */
#include "ingest/wire.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/errors.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1; /* reflected Castagnoli */
        crc_table[i] = c;
    }
}

uint32_t sl_wire_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* @return bytes consumed, or 0 when truncated, longer than 10 bytes or not the shortest form. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        uint64_t b = p[i];
        if (i == 9 && b > 1) return 0; /* would overflow 64 bits */
        v |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0) return 0; /* a trailing zero group: not the shortest encoding */
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static uint64_t zigzag(int64_t d)
{
    /* Shifts on the unsigned bits: no signed overflow for any input. */
    uint64_t u = (uint64_t)d;
    return (u << 1) ^ (0 - (u >> 63));
}

static int64_t unzigzag(uint64_t z)
{
    uint64_t u = (z >> 1) ^ (0 - (z & 1));
    int64_t d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int64_t ts_sub(int64_t a, int64_t b)
{
    uint64_t u = (uint64_t)a - (uint64_t)b; /* wraps; unzigzag + ts_add undo it exactly */
    int64_t d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int64_t ts_add(int64_t a, int64_t d)
{
    uint64_t u = (uint64_t)a + (uint64_t)d;
    int64_t r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* The rules both sides enforce, so whatever the encoder writes the decoder reads back. */
static int sample_valid(const char *key, size_t key_len, uint8_t mtype, uint8_t rflags, double rate)
{
    if (key_len < 2 || key_len > SL_KEY_MAX || (uint8_t)key[0] != mtype ||
        mtype >= SL_METRIC__COUNT || key[key_len - 1] != '\0')
        return 0;
    if (rflags & ~SL_REC_F_DELTA) return 0;
    if ((rflags & SL_REC_F_DELTA) && mtype != SL_METRIC_GAUGE) return 0;
    return rate > 0 && rate <= 1;
}

int sl_wire_writer_init(struct sl_wire_writer *w, void *buf, size_t cap, int64_t base_ts_ms)
{
    if (cap < SL_WIRE_HDR_LEN) return -EINVAL;
    w->buf = buf;
    w->cap = cap;
    w->len = SL_WIRE_HDR_LEN;
    w->count = 0;
    w->base_ts_ms = base_ts_ms;
    return 0;
}

int sl_wire_put(struct sl_wire_writer *w, const struct sl_record *r, const char *key, int64_t ts_ms)
{
    if (r->kind != SL_REC_SAMPLE || !sample_valid(key, r->key_len, r->mtype, r->flags, r->rate))
        return -EINVAL;
    if (w->count == UINT32_MAX) return -ENOSPC;
    size_t need = 1 + 3 + r->key_len + 8 + (r->rate != 1.0 ? 8 : 0) + 10;
    if (w->cap - w->len < need) {
        /* The bound above is loose; compute the exact size before refusing. */
        uint8_t tmp[10];
        need = 1 + put_varint(tmp, r->key_len) + r->key_len + 8 + (r->rate != 1.0 ? 8 : 0) +
               put_varint(tmp, zigzag(ts_sub(ts_ms, w->base_ts_ms)));
        if (w->cap - w->len < need) return -ENOSPC;
    }
    uint8_t *p = w->buf + w->len;
    uint8_t f = (r->flags & SL_REC_F_DELTA) ? SL_WIRE_F_DELTA : 0;
    if (r->rate != 1.0) f |= SL_WIRE_F_RATE;
    *p++ = f;
    p += put_varint(p, r->key_len);
    memcpy(p, key, r->key_len);
    p += r->key_len;
    put_u64(p, r->member); /* the union's bits: double or set member hash alike */
    p += 8;
    if (f & SL_WIRE_F_RATE) {
        uint64_t bits;
        memcpy(&bits, &r->rate, sizeof bits);
        put_u64(p, bits);
        p += 8;
    }
    p += put_varint(p, zigzag(ts_sub(ts_ms, w->base_ts_ms)));
    w->len = (size_t)(p - w->buf);
    w->count++;
    return 0;
}

size_t sl_wire_finish(struct sl_wire_writer *w)
{
    uint8_t *h = w->buf;
    h[0] = SL_WIRE_MAGIC0;
    h[1] = SL_WIRE_MAGIC1;
    h[2] = SL_WIRE_VERSION;
    h[3] = 0;
    put_u32(h + 4, w->count);
    put_u64(h + 8, (uint64_t)w->base_ts_ms);
    put_u32(h + 16, sl_wire_crc32c(0, h + SL_WIRE_HDR_LEN, w->len - SL_WIRE_HDR_LEN));
    return w->len;
}

int sl_wire_is_batch(const void *buf, size_t len)
{
    return len >= 1 && ((const uint8_t *)buf)[0] == SL_WIRE_MAGIC0;
}

int sl_wire_reader_init(struct sl_wire_reader *rd, const void *buf, size_t len)
{
    const uint8_t *h = buf;
    if (len < SL_WIRE_HDR_LEN || h[0] != SL_WIRE_MAGIC0 || h[1] != SL_WIRE_MAGIC1)
        return SL_E_PROTO;
    if (h[2] != SL_WIRE_VERSION) return SL_E_VERSION;
    if (h[3] != 0) return SL_E_PROTO;
    uint32_t count = get_u32(h + 4);
    /* Each sample takes at least 1 + 1 + 2 + 8 + 1 bytes: refuse counts the bytes can't hold. */
    if (count > INT32_MAX || (uint64_t)count * 13 > len - SL_WIRE_HDR_LEN) return SL_E_PROTO;
    if (sl_wire_crc32c(0, h + SL_WIRE_HDR_LEN, len - SL_WIRE_HDR_LEN) != get_u32(h + 16))
        return SL_E_CORRUPT;
    uint64_t base = get_u64(h + 8);
    memcpy(&rd->base_ts_ms, &base, sizeof base);
    rd->p = h + SL_WIRE_HDR_LEN;
    rd->end = h + len;
    rd->left = count;
    return (int)count;
}

int sl_wire_next(struct sl_wire_reader *rd, struct sl_wire_sample *s)
{
    if (!rd->left) return rd->p == rd->end ? 0 : SL_E_PROTO;
    const uint8_t *p = rd->p, *end = rd->end;
    if (p >= end) return SL_E_PROTO;
    uint8_t f = *p++;
    if (f & ~SL_WIRE_F__ALL) return SL_E_PROTO;
    uint64_t klen, z;
    size_t n = get_varint(p, end, &klen);
    if (!n || klen > SL_KEY_MAX) return SL_E_PROTO;
    p += n;
    if ((size_t)(end - p) < klen + 8) return SL_E_PROTO;
    s->key = (const char *)p;
    s->key_len = (uint16_t)klen;
    p += klen;
    s->member = get_u64(p);
    p += 8;
    s->rate = 1.0;
    if (f & SL_WIRE_F_RATE) {
        if (end - p < 8) return SL_E_PROTO;
        uint64_t bits = get_u64(p);
        memcpy(&s->rate, &bits, sizeof bits);
        p += 8;
        if (s->rate == 1.0) return SL_E_PROTO; /* canonical: a rate of 1 is never stored */
    }
    n = get_varint(p, end, &z);
    if (!n) return SL_E_PROTO;
    p += n;
    s->ts_ms = ts_add(rd->base_ts_ms, unzigzag(z));
    s->flags = (f & SL_WIRE_F_DELTA) ? SL_REC_F_DELTA : 0;
    s->mtype = (uint8_t)s->key[0];
    if (!sample_valid(s->key, s->key_len, s->mtype, s->flags, s->rate)) return SL_E_PROTO;
    rd->p = p;
    rd->left--;
    return 1;
}
