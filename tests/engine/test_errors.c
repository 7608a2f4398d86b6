/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "engine/errors.h"

TestSuite(errors, .timeout = 5);

Test(errors, strerror_own_code_names_it)
{
    cr_assert(eq(str, (char *)sl_strerror(SL_E_CORRUPT), "data corrupt (checksum mismatch)"));
    cr_assert(eq(str, (char *)sl_strerror(SL_E_PROTO), "malformed input"));
}

Test(errors, strerror_errno_passes_through)
{
    cr_assert(eq(str, (char *)sl_strerror(-ENOMEM), strerror(ENOMEM)));
}
