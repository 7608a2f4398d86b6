/* SPDX-License-Identifier: Apache-2.0 */
/* API suite: handlers called directly with crafted requests over a memsource; exact JSON
 * bodies and status codes, including Grafana's health check and its browsing calls. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/api.h"

static struct sl_memsource *ms;
static struct sl_query_api *api;

static int64_t fixed_now(void *arg)
{
    return 1000000;
}

static void add(const char *name, const char *job, const char *inst, int64_t t, double v)
{
    struct sl_qlabel l[3] = {{"__name__", name}, {"job", job}, {"instance", inst}};
    cr_assert(eq(int, sl_memsource_add(ms, l, 3, t, v), 0));
}

static void setup(void)
{
    cr_assert(eq(int, sl_memsource_create(&ms), 0));
    for (int64_t t = 0; t <= 1000; t += 10) {
        add("up", "node", "a:9100", t * 1000, 1);
        add("up", "prom", "b:9090", t * 1000, 0);
    }
    add("odd", "x", "y", 990000, NAN);
    add("tiny", "x", "y", 990000, 1e-7);
    add("big", "x", "y", 990000, INFINITY);
    struct sl_query_api_cfg cfg = {.src = sl_memsource_source(ms), .now_ms = fixed_now};
    cr_assert(eq(int, sl_query_api_create(&cfg, &api), 0));
}

static void teardown(void)
{
    sl_query_api_destroy(api);
    sl_memsource_destroy(ms);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 10);

/* Route @path through the table like the transport does; params as name, value, ... */
static struct sl_http_response call(const char *method, const char *path, int np, ...)
{
    struct sl_http_param params[16];
    va_list ap;
    va_start(ap, np);
    for (int i = 0; i < np; i++) {
        params[i].name = va_arg(ap, const char *);
        params[i].value = va_arg(ap, const char *);
    }
    va_end(ap);
    struct sl_http_request req = {.method = method, .path = path, .params = params,
                                  .nparams = (size_t)np};
    struct sl_http_response resp = {.status = 200};
    size_t n;
    const struct sl_http_route *r = sl_query_api_routes(api, &n);
    for (size_t i = 0; i < n; i++) {
        int hit = r[i].prefix ? strncmp(path, r[i].path, strlen(r[i].path)) == 0
                              : strcmp(path, r[i].path) == 0;
        if (hit) {
            cr_assert(eq(int, r[i].fn(r[i].ctx, &req, &resp), 0));
            return resp;
        }
    }
    cr_fail("no route for %s", path);
    return resp;
}

static void expect(struct sl_http_response resp, int status, const char *body)
{
    cr_assert(eq(int, resp.status, status));
    cr_assert(eq(str, resp.body, (char *)body));
    cr_assert(eq(str, (char *)resp.content_type, "application/json"));
    free(resp.body);
}

Test(api, query_grafana_health_check_returns_scalar)
{
    expect(call("GET", "/api/v1/query", 2, "query", "1+1", "time", "4"), 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[4,\"2\"]}}");
}

Test(api, query_form_post_returns_vector_with_labels)
{
    expect(call("POST", "/api/v1/query", 2, "query", "up{job=\"node\"}", "time", "100.5"), 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
           "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},\"value\":[100.500,\"1\"]}]}}");
}

Test(api, query_without_time_uses_now)
{
    expect(call("GET", "/api/v1/query", 1, "query", "time()"), 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1000,\"1000\"]}}");
}

Test(api, query_special_values_are_strings)
{
    expect(call("GET", "/api/v1/query", 2, "query", "{job=\"x\"}", "time", "1000"), 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
           "{\"metric\":{\"__name__\":\"big\",\"instance\":\"y\",\"job\":\"x\"},\"value\":[1000,\"+Inf\"]},"
           "{\"metric\":{\"__name__\":\"odd\",\"instance\":\"y\",\"job\":\"x\"},\"value\":[1000,\"NaN\"]},"
           "{\"metric\":{\"__name__\":\"tiny\",\"instance\":\"y\",\"job\":\"x\"},\"value\":[1000,\"1e-07\"]}]}}");
}

Test(api, query_rfc3339_time_is_accepted)
{
    expect(call("GET", "/api/v1/query", 2, "query", "time()", "time", "1970-01-01T00:01:40.25Z"),
           200, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[100.250,\"100.25\"]}}");
}

Test(api, query_string_literal_returns_string)
{
    expect(call("GET", "/api/v1/query", 2, "query", "\"a<b\"", "time", "1"), 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"a\\u003cb\"]}}");
}

Test(api, query_range_post_returns_matrix)
{
    expect(call("POST", "/api/v1/query_range", 4, "query", "sum by (job) (up)", "start", "60",
                "end", "120", "step", "30s"),
           200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
           "{\"metric\":{\"job\":\"node\"},\"values\":[[60,\"1\"],[90,\"1\"],[120,\"1\"]]},"
           "{\"metric\":{\"job\":\"prom\"},\"values\":[[60,\"0\"],[90,\"0\"],[120,\"0\"]]}]}}");
}

/* Parameters are copied into each test's process: strings must live inside the struct. */
struct err_case {
    char path[32];
    char q[48], start[16], end[16], step[16];
    int status;
    char body[320];
};

static struct err_case err_cases[] = {
    {"/api/v1/query", "1 +", "", "", "", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:4: parse error: unexpected end of input\"}"},
    {"/api/v1/query", "sum(", "", "", "", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:5: parse error: unclosed left parenthesis\"}"},
    {"/api/v1/query", "{job=\"x\"} @ 990 * 2", "", "", "", 422,
     "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"vector cannot contain metrics with the same labelset\"}"},
    {"/api/v1/query_range", "up", "x", "10", "1", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"start\\\": cannot parse \\\"x\\\" to a valid timestamp\"}"},
    {"/api/v1/query_range", "up", "10", "5", "1", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"end\\\": end timestamp must not be before start time\"}"},
    {"/api/v1/query_range", "up", "0", "5", "0", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"step\\\": zero or negative query resolution step widths are not accepted. Try a positive integer\"}"},
    {"/api/v1/query_range", "up", "0", "5", "abc", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"step\\\": cannot parse \\\"abc\\\" to a valid duration\"}"},
    {"/api/v1/query_range", "up", "0", "20000", "1", 400,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)\"}"},
    {"/api/v1/query_range", "up[5m]", "0", "10", "1", 422,
     "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"invalid expression type \\\"range vector\\\" for range query, must be Scalar or instant Vector\"}"},
};

ParameterizedTestParameters(api, request_with_bad_input_returns_prometheus_error)
{
    return cr_make_param_array(struct err_case, err_cases, sizeof err_cases / sizeof err_cases[0]);
}

ParameterizedTest(struct err_case *c, api, request_with_bad_input_returns_prometheus_error)
{
    struct sl_http_response r;
    if (strcmp(c->path, "/api/v1/query") == 0)
        r = call("GET", c->path, 2, "query", c->q, "time", "100");
    else
        r = call("GET", c->path, 4, "query", c->q, "start", c->start, "end", c->end, "step", c->step);
    expect(r, c->status, c->body);
}

Test(api, query_past_its_timeout_returns_503_timeout)
{
    expect(call("GET", "/api/v1/query", 3, "query", "max_over_time((up > 0)[1000d:1s])", "time",
                "1000", "timeout", "50ms"),
           503, "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in query execution\"}");
}

Test(api, series_with_match_returns_sorted_label_sets)
{
    expect(call("GET", "/api/v1/series", 3, "match[]", "up", "match[]", "{job=\"prom\"}", "start",
                "0"),
           200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},"
           "{\"__name__\":\"up\",\"instance\":\"b:9090\",\"job\":\"prom\"}]}");
}

Test(api, series_with_limit_truncates_and_warns)
{
    expect(call("GET", "/api/v1/series", 2, "match[]", "up", "limit", "1"), 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"}],"
           "\"warnings\":[\"results truncated due to limit\"]}");
}

Test(api, series_without_match_fails)
{
    expect(call("GET", "/api/v1/series", 0), 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no match[] parameter provided\"}");
}

Test(api, series_with_bad_selector_fails)
{
    expect(call("GET", "/api/v1/series", 1, "match[]", "sum(up)"), 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"match[]\\\": 1:1: parse error: expected a series selector\"}");
}

Test(api, labels_returns_sorted_names)
{
    expect(call("GET", "/api/v1/labels", 0), 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
}

Test(api, label_values_of_name_returns_metric_names)
{
    expect(call("GET", "/api/v1/label/__name__/values", 0), 200,
           "{\"status\":\"success\",\"data\":[\"big\",\"odd\",\"tiny\",\"up\"]}");
    expect(call("GET", "/api/v1/label/job/values", 1, "match[]", "up"), 200,
           "{\"status\":\"success\",\"data\":[\"node\",\"prom\"]}");
}

Test(api, label_values_with_invalid_name_fails)
{
    expect(call("GET", "/api/v1/label/a-b/values", 0), 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name: \\\"a-b\\\"\"}");
}

Test(api, format_query_returns_canonical_text)
{
    expect(call("GET", "/api/v1/format_query", 1, "query", "sum(rate(x[5m]))by(job)"), 200,
           "{\"status\":\"success\",\"data\":\"sum by (job) (rate(x[5m]))\"}");
}

Test(api, format_query_splits_lines_over_100_columns)
{
    /* Pretty(): a binary expression over 100 columns puts each operand one level deeper and
     * the operator on its own line; an aggregation over 100 columns opens its parentheses. */
    expect(call("GET", "/api/v1/format_query", 1, "query",
                "sum by (job) (rate(http_requests_total{job=\"api-server\",handler=\"/api/comments/with/a/long/path\"}[5m])) / 2"),
           200,
           "{\"status\":\"success\",\"data\":\"  sum by (job) (\\n    rate(http_requests_total{job=\\\"api-server\\\",handler=\\\"/api/comments/with/a/long/path\\\"}[5m])\\n  )\\n/\\n  2\"}");
}

Test(api, empty_feature_routes_return_valid_empty_results)
{
    expect(call("GET", "/api/v1/metadata", 0), 200, "{\"status\":\"success\",\"data\":{}}");
    expect(call("GET", "/api/v1/query_exemplars", 1, "query", "up"), 200,
           "{\"status\":\"success\",\"data\":[]}");
    expect(call("GET", "/api/v1/rules", 0), 200, "{\"status\":\"success\",\"data\":{\"groups\":[]}}");
    expect(call("GET", "/api/v1/alerts", 0), 200, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
}

Test(api, buildinfo_reports_api_version)
{
    struct sl_http_response r = call("GET", "/api/v1/status/buildinfo", 0);
    cr_assert(eq(int, r.status, 200));
    cr_assert(not(eq(ptr, strstr(r.body, "\"version\":\"2.42.0\""), NULL)));
    free(r.body);
}

Test(api, put_method_is_refused)
{
    expect(call("PUT", "/api/v1/query", 1, "query", "1"), 405,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"method PUT not allowed\"}");
}

/* What Grafana's label browser sends: labels and values narrowed by match[] and a window. */
Test(api, labels_with_match_and_window_returns_names_of_matching_series)
{
    expect(call("POST", "/api/v1/labels", 3, "match[]", "{__name__=\"odd\"}", "start", "900",
                "end", "1000"),
           200, "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
    expect(call("GET", "/api/v1/label/__name__/values", 2, "start", "0", "end", "500"), 200,
           "{\"status\":\"success\",\"data\":[\"up\"]}");
}

/* Grafana aligns start and end to the step and POSTs the form. */
Test(api, query_range_grafana_aligned_post_returns_every_step)
{
    struct sl_http_response r = call("POST", "/api/v1/query_range", 4, "query",
                                     "rate(up[1m])", "start", "600", "end", "900", "step", "60");
    cr_assert(eq(int, r.status, 200));
    cr_assert(not(eq(ptr, strstr(r.body, "[600,\"0\"],[660,\"0\"],[720,\"0\"],[780,\"0\"],[840,\"0\"],[900,\"0\"]"), NULL)),
              "%s", r.body);
    free(r.body);
}
