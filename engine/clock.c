/* SPDX-License-Identifier: Apache-2.0 */
/* Duration parsing shared by config, flags and query parameters. */
#include "engine/clock.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

int sl_clock_parse_duration(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -EINVAL;
    int64_t total = 0;
    const char *p = s;
    int units = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10)
                return -EINVAL;
            n = n * 10 + (*p++ - '0');
        }
        int64_t mult;
        if (!*p && units == 0)
            mult = 1000; /* bare number: seconds */
        else if (strncmp(p, "ms", 2) == 0)
            mult = 1, p += 2;
        else if (*p == 's')
            mult = 1000, p++;
        else if (*p == 'm')
            mult = 60000, p++;
        else if (*p == 'h')
            mult = 3600000, p++;
        else if (*p == 'd')
            mult = 86400000, p++;
        else if (*p == 'w')
            mult = 7 * 86400000LL, p++;
        else if (*p == 'y')
            mult = 365 * 86400000LL, p++;
        else
            return -EINVAL;
        if (n > (INT64_MAX - total) / mult)
            return -EINVAL;
        total += n * mult;
        units++;
    }
    if (total <= 0)
        return -EINVAL;
    *ms = total;
    return 0;
}
