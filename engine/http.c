/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers over the shared HTTP request type. */
#include "engine/http.h"

#include <string.h>

const char *sl_http_param(const struct sl_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}
