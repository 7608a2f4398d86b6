/* SPDX-License-Identifier: Apache-2.0 */
/* Error text for sluice's own codes; everything else is an errno value. */
#include "engine/errors.h"

#include <string.h>

const char *sl_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case SL_E_CORRUPT:
        return "data corrupt (checksum mismatch)";
    case SL_E_PROTO:
        return "malformed input";
    case SL_E_LIMIT:
        return "limit reached";
    case SL_E_VERSION:
        return "unsupported format version";
    case SL_E_LIMIT_SERIES:
        return "series limit reached";
    default:
        return rc < 0 ? strerror(-rc) : "unknown positive status";
    }
}
