/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file remote_source.h
 * Query across nodes. Two halves of one exchange, kept in one module so the wire format
 * has a single owner:
 *  - the storage side: GET /api/v1/read_raw, a route that answers a selector with the raw
 *    samples of every matching series from a local query source, in a compact binary
 *    format that keeps every float bit for bit (JSON text would round);
 *  - the query side: a query source (query/source.h) that sends each select/series to
 *    every configured storage node at once, one thread per node, and merges the answers,
 *    so the PromQL engine of a `role = query` sluiced evaluates over the union of the
 *    nodes exactly as one node holding all the data would.
 *
 * Merging: a series (the same sorted label set) found on several nodes - which happens
 * while a Kafka rebalance moves a partition - is one series whose samples are the union by
 * timestamp; equal timestamps keep one sample (the node listed first wins when values
 * differ, which only a replayed partition can cause and where both copies are equal).
 *
 * Failure: if any node cannot be reached, times out, or answers anything but a well-formed
 * 200, the whole select fails and the source's error() names the node and the reason. A
 * partial answer would silently change sums and counts, so none is given.
 *
 * Route parameters: start, end (integer ms, inclusive); m (repeated) = "<op>:<name>:<value>"
 * with op one of eq, ne, re, nre; keys=1 asks for labels only (the source's series call;
 * m may then be absent, meaning all series). Response (application/x-sluice-raw): "SLRAW1\n",
 * then per series u32 nlabels, per label name and value each as u32 length + bytes + NUL,
 * u32 nsamples, nsamples x (i64 t_ms, u64 value bits); then u32 0xffffffff. Integers are
 * little-endian.
 *
 * Threads: the handler runs on HTTP threads concurrently; the remote source is safe for
 * concurrent queries (per-call state only, the error message is thread-local).
 */
#ifndef SL_TOOLS_REMOTE_SOURCE_H
#define SL_TOOLS_REMOTE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/http.h"
#include "query/source.h"

struct sl_remote_source;

/**
 * Create a source over the storage nodes in @nodes, a comma-separated list of
 * http://host:port base URLs.
 * @param timeout_ms  bound on connecting to and on each read from a node (> 0).
 * @param err         receives a reason on -EINVAL (@errlen bytes).
 * @return 0 with *out OWNED (sl_remote_source_destroy), -EINVAL (empty list, bad URL),
 *         -ENOMEM.
 */
int sl_remote_source_create(const char *nodes, int timeout_ms, struct sl_remote_source **out,
                            char *err, size_t errlen);
void sl_remote_source_destroy(struct sl_remote_source *rs);
/** The source view of @rs; BORROWED, valid until sl_remote_source_destroy(). */
struct sl_source sl_remote_source(struct sl_remote_source *rs);
/** Number of configured nodes. */
size_t sl_remote_source_nodes(const struct sl_remote_source *rs);

/** GET /api/v1/read_raw (ctx = a struct sl_source *, BORROWED, must outlive the server):
 *  the storage side described above. 400 with a text reason for bad parameters. */
sl_http_handler_fn sl_raw_read_handle;

/**
 * Merge two ascending sample runs into @ot/@ov (room for @an + @bn), keeping one sample
 * per timestamp; on equal timestamps the sample from @a is kept.
 * @return the number of samples written.
 */
size_t sl_remote_merge_samples(const int64_t *at, const double *av, size_t an,
                               const int64_t *bt, const double *bv, size_t bn, int64_t *ot,
                               double *ov);

#endif
