/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz block open and reads: the input is a block `data` file. Invariants: sl_block_open()
 * returns 0, SL_E_CORRUPT or SL_E_VERSION; on success every series, chunk and postings
 * lookup stays in bounds (sanitizers), selected ids are sorted, unique and < nseries, and
 * every series can be found again by its key; sketch series (version 3) read back in
 * strictly increasing time with non-empty encodings, which the DDSketch decoder may refuse
 * but never crashes on.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ddsketch.h"
#include "engine/errors.h"
#include "engine/log.h"
#include "storage/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64];
    static struct sl_matchers *all, *some;
    static int64_t t[SL_CODEC_CHUNK_MAX];
    static double v[SL_CODEC_CHUNK_MAX];
    static uint8_t *scratch;
    static size_t slen;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sl_fuzz_blk_%d", (int)getpid());
        sl_log_set_level(SL_LOG_ERROR + 1);
        struct sl_store_matcher m[2] = {{SL_STORE_MATCH_RE, "host", "h.*"}, {SL_STORE_MATCH_NE, "env", "prod"}};
        if (sl_matchers_compile(NULL, 0, &all, NULL, 0) ||
            sl_matchers_compile(m, 2, &some, NULL, 0))
            abort();
        slen = sl_codec_chunk_bound(SL_CODEC_CHUNK_MAX, 1);
        scratch = malloc(slen);
    }
    char cmd[128], p[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0)
        abort();
    snprintf(p, sizeof p, "%s/data", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    struct sl_block *b;
    int rc = sl_block_open(dir, &b);
    if (rc == SL_E_CORRUPT || rc == SL_E_VERSION)
        goto out;
    if (rc != 0)
        abort();
    const struct sl_block_meta *m = sl_block_meta(b);
    for (int k = 0; k < 2; k++) {
        uint32_t *ids;
        size_t n;
        if (sl_block_select(b, k ? some : all, &ids, &n) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= m->nseries || (i && ids[i] <= ids[i - 1]))
                abort();
        free(ids);
    }
    for (uint32_t id = 0; id < m->nseries && id < 1000; id++) {
        struct sl_block_chunk ch[8];
        const char *key;
        size_t kl;
        int nch = sl_block_series(b, id, &key, &kl, ch, 8);
        if (nch < 0)
            continue;
        uint32_t back;
        (void)sl_block_find(b, key, kl, &back);
        double *cols[1] = {v};
        for (int c = 0; c < nch && c < 8; c++)
            (void)sl_codec_chunk_decode(ch[c].p, ch[c].len, t, cols, m->ncols ? 1 : 0,
                                        SL_CODEC_CHUNK_MAX, scratch, slen);
    }
    for (uint32_t id = 0; id < m->nsketch_series && id < 1000; id++) {
        const char *key;
        size_t kl;
        if (sl_block_sketch_series(b, id, &key, &kl, NULL, 0) < 0)
            abort(); /* the index was validated at open */
        uint32_t back;
        if (sl_block_sketch_find(b, key, kl, &back) != 0 && m->nsketch_series < 2)
            abort();
        struct sl_sketch_run r = {0};
        int src = sl_block_sketch_read(b, id, INT64_MIN, INT64_MAX, &r);
        if (src != 0 && src != SL_E_CORRUPT)
            abort();
        for (size_t i = 0; i < r.n; i++) {
            if ((i && r.t[i] <= r.t[i - 1]) || r.len[i] == 0)
                abort();
            struct sl_ddsketch *sk;
            if (i < 64 && sl_ddsketch_decode(r.enc[i], r.len[i], &sk) == 0)
                sl_ddsketch_destroy(sk);
        }
        sl_sketch_run_fini(&r);
    }
    sl_block_close(b);
out:
    unlink(p);
    rmdir(dir);
    return 0;
}
