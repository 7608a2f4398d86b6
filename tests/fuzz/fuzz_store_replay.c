/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the store's replay of SKETCHES WAL records (store.c, sketchtier.c): the input is the
 * payload of one type-4 record, which this target wraps in a well-formed segment (header and
 * record CRCs computed here, so the bytes reach the record parser instead of failing the
 * checksum). Invariants: sl_store_open() returns 0 (a malformed record is skipped with a
 * WARN); what replay admits can be cut, compacted and downsampled, so sl_store_flush_head()
 * returns 0 and maintenance never fails (a garbage sketch that reached the head would make
 * every tier build fail with SL_E_CORRUPT); and the store reopens with the same counts.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "storage/crc32c.h"
#include "storage/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sl_fuzz_srp_%d", (int)getpid());
        sl_log_set_level(SL_LOG_ERROR + 1);
    }
    if (size > (1u << 20))
        return 0;
    char cmd[160], wal[128], seg[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/wal", dir, dir);
    if (system(cmd) != 0)
        abort();
    snprintf(wal, sizeof wal, "%s/wal", dir);
    snprintf(seg, sizeof seg, "%s/00000001.wal", wal);
    uint8_t hdr[16 + 9];
    memcpy(hdr, "SLWAL\0\0\0", 8);
    put32(hdr + 8, 2);
    put32(hdr + 12, sl_crc32c(0, hdr, 12));
    uint8_t type = 4;
    put32(hdr + 16, (uint32_t)size);
    put32(hdr + 20, sl_crc32c(sl_crc32c(0, &type, 1), data, size));
    hdr[24] = type;
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr ||
        write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    struct sl_store_cfg cfg;
    sl_store_cfg_defaults(&cfg);
    cfg.dir = dir;
    cfg.fsync = SL_WAL_FSYNC_NONE;
    cfg.raw_retention_ms = 0;
    struct sl_store *s;
    if (sl_store_open(&cfg, &s) != 0)
        abort();
    struct sl_store_stats a, b;
    sl_store_stats(s, &a);
    if (sl_store_flush_head(s) != 0)
        abort();
    int rc, steps = 0;
    while ((rc = sl_store_maintain(s, 0)) == 1 && steps++ < 10000)
        ;
    if (rc != 0)
        abort();
    sl_store_stats(s, &b);
    if (b.head_sketches != 0 || b.block_sketches != a.head_sketches)
        abort();
    sl_store_close(s);
    if (sl_store_open(&cfg, &s) != 0)
        abort();
    sl_store_stats(s, &b);
    if (b.block_sketches != a.head_sketches)
        abort();
    sl_store_close(s);
    return 0;
}
