/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpus for fuzz_wire: valid batches of every metric type (rates, deltas,
 * set members, timestamps far before and after the base, a long key), an empty batch, and
 * damaged copies (truncated, bad CRC, unknown version, trailing garbage). Run once by hand;
 * its output is committed:  gen_wire_corpus tests/fuzz/corpus/wire
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/key.h"
#include "engine/record.h"
#include "ingest/wire.h"

static const char *dir;

static void save(const char *name, const void *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void put(struct sl_wire_writer *w, uint8_t mtype, const char *name, const char *tag,
                double v, double rate, uint8_t flags, int64_t ts)
{
    union {
        struct sl_record r;
        char b[sizeof(struct sl_record) + SL_KEY_MAX];
    } s;
    struct sl_label l = {"tag", tag, 3, (uint32_t)strlen(tag)};
    int n = sl_key_build(mtype, name, strlen(name), &l, tag[0] ? 1 : 0, s.r.key, SL_KEY_MAX);
    s.r = (struct sl_record){.kind = SL_REC_SAMPLE,
                             .mtype = mtype,
                             .flags = flags,
                             .key_len = (uint16_t)n,
                             .rate = rate};
    s.r.value = v;
    if (sl_wire_put(w, &s.r, s.r.key, ts)) {
        fprintf(stderr, "put %s failed\n", name);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    static uint8_t buf[8192], tmp[8192];
    struct sl_wire_writer w;

    sl_wire_writer_init(&w, buf, sizeof buf, 0);
    save("empty", buf, sl_wire_finish(&w));

    sl_wire_writer_init(&w, buf, sizeof buf, 1700000000000);
    put(&w, SL_METRIC_COUNTER, "api_requests", "prod", 1, 1, 0, 1700000000000);
    put(&w, SL_METRIC_COUNTER, "api_requests", "", 3, 0.1, 0, 1700000000007);
    put(&w, SL_METRIC_GAUGE, "temp", "eu", -3, 1, SL_REC_F_DELTA, 1699999999000);
    put(&w, SL_METRIC_GAUGE, "temp", "eu", 20, 1, 0, INT64_MIN);
    put(&w, SL_METRIC_TIMER, "lat", "", 12.25, 0.5, 0, INT64_MAX);
    put(&w, SL_METRIC_SET, "users", "", 0, 1, 0, 1700000000000);
    put(&w, SL_METRIC_EVENT, "deploy", "svc", 1, 1, 0, 1700000000000);
    put(&w, SL_METRIC_SERVICE_CHECK, "db_up", "", 2, 1, 0, 1700000000000);
    put(&w, SL_KIND_PLAIN, "up", "", 1, 1, 0, 0);
    size_t len = sl_wire_finish(&w);
    save("mixed", buf, len);

    memcpy(tmp, buf, len);
    tmp[len - 1] ^= 1;
    save("bad_crc", tmp, len);
    save("bad_truncated", buf, len - 3);
    memcpy(tmp, buf, len);
    tmp[2] = 2;
    save("bad_version", tmp, len);
    memcpy(tmp, buf, len);
    tmp[len] = 0;
    save("bad_trailing", tmp, len + 1);

    char longname[900];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    sl_wire_writer_init(&w, buf, sizeof buf, -5);
    put(&w, SL_METRIC_COUNTER, longname, "t", 1e300, 1e-9, 0, 5);
    save("long_key", buf, sl_wire_finish(&w));

    sl_wire_writer_init(&w, buf, sizeof buf, 1000);
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i % 7);
        put(&w, (uint8_t)(1 + i % 4), name, i % 2 ? "a" : "", i, 1, 0, 1000 + i * 13);
    }
    save("many", buf, sl_wire_finish(&w));
    save("statsd_text", "api.req:1|c\n", 12);
    return 0;
}
