/* SPDX-License-Identifier: Apache-2.0 */
/* Built instead of udp_uring.c when liburing is not available: io_uring is never chosen. */
#include <errno.h>

#include "ingest/udp_pvt.h"

int sl_udp__uring_probe(void)
{
    return -ENOTSUP;
}

int sl_udp__uring_loop(struct sl_udp_worker *w)
{
    (void)w;
    return -ENOTSUP;
}
