/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz WAL replay: the input is one segment file. Invariants: opening never crashes and
 * returns 0 (or SL_E_VERSION for a foreign version); everything replayed had a valid
 * checksum; and after the first open cut the torn tail, a second open replays the same
 * records and drops nothing.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/log.h"
#include "storage/wal.h"

static int count_rec(void *ctx, uint32_t seg, uint8_t type, const uint8_t *p, size_t len)
{
    (void)seg;
    (void)type;
    (void)p;
    (void)len;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void clear(const char *dir)
{
    char p[128];
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/%08d.wal", dir, i);
        unlink(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sl_fuzz_wal_%d", (int)getpid());
        sl_log_set_level(SL_LOG_ERROR + 1);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        abort();
    clear(dir);
    char p[128];
    snprintf(p, sizeof p, "%s/00000001.wal", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    struct sl_wal_cfg cfg = {dir, SL_WAL_FSYNC_NONE, 1 << 20};
    struct sl_wal *w;
    struct sl_wal_replay_stats st, st2;
    uint64_t n1 = 0, n2 = 0;
    int rc = sl_wal_open(&cfg, count_rec, &n1, &st, &w);
    if (rc == SL_E_VERSION) {
        clear(dir);
        return 0;
    }
    if (rc != 0 || n1 != st.records)
        abort();
    sl_wal_close(w);
    if (sl_wal_open(&cfg, count_rec, &n2, &st2, &w) != 0)
        abort();
    sl_wal_close(w);
    if (n2 != n1 || st2.dropped_bytes != 0)
        abort();
    clear(dir);
    rmdir(dir);
    return 0;
}
