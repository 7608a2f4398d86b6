/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK listener's configuration (ingest/dpdk_server.h): defaults, validation naming the
 * offending key, producer accounting, and the refusal of builds without DPDK. Needs no EAL.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ingest/dpdk_server.h"
#include "sl_config.h"

TestSuite(dpdk_cfg, .timeout = 10);

Test(dpdk_cfg, defaults_when_disabled_pass_and_need_no_producers)
{
    struct sl_dpdk_cfg c;
    char err[256] = "";
    sl_dpdk_cfg_defaults(&c);
    cr_assert(eq(int, c.enabled, 0));
    cr_assert(eq(u32, c.queues, 1));
    cr_assert(eq(u32, c.burst, 32));
    cr_assert(eq(int, sl_dpdk_cfg_check(&c, err, sizeof err), 0));
    cr_assert(eq(u32, sl_dpdk_server_producers(&c), 0));
    c.enabled = 1;
    c.queues = 3;
    cr_assert(eq(u32, sl_dpdk_server_producers(&c), 3));
}

struct bad_case {
    char key[32];       /* expected in the message; arrays, not pointers: Criterion runs each
                           parameter in a fresh process */
    int field;          /* which field to break */
    char text[32];      /* for string fields */
    uint32_t n;         /* for numeric fields */
};

enum { F_EAL, F_QUEUES, F_BURST, F_MBUFS, F_PORT, F_ADDR };

ParameterizedTestParameters(dpdk_cfg, check_bad_value_names_key)
{
    static struct bad_case cases[] = {
        {"dpdk.eal_args", F_EAL, "", 0},
        {"dpdk.queues", F_QUEUES, "", 0},
        {"dpdk.queues", F_QUEUES, "", 17},
        {"dpdk.burst", F_BURST, "", 0},
        {"dpdk.burst", F_BURST, "", 513},
        {"dpdk.mbufs", F_MBUFS, "", 100},
        {"dpdk.port", F_PORT, "", 5000},
        {"dpdk.address", F_ADDR, "10.0.0.1", 0},
        {"dpdk.address", F_ADDR, "10.0.0.1:8125,", 0},
    };
    return cr_make_param_array(struct bad_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct bad_case *bc, dpdk_cfg, check_bad_value_names_key)
{
    struct sl_dpdk_cfg c;
    char err[256] = "";
    sl_dpdk_cfg_defaults(&c);
    c.enabled = 1;
    snprintf(c.eal_args, sizeof c.eal_args, "--no-huge --vdev=net_null0");
    switch (bc->field) {
    case F_EAL:
        snprintf(c.eal_args, sizeof c.eal_args, "%s", bc->text);
        break;
    case F_QUEUES:
        c.queues = bc->n;
        break;
    case F_BURST:
        c.burst = bc->n;
        break;
    case F_MBUFS:
        c.mbufs = bc->n;
        break;
    case F_PORT:
        c.port = bc->n;
        break;
    case F_ADDR:
        snprintf(c.addr, sizeof c.addr, "%s", bc->text);
        break;
    }
    cr_assert(eq(int, sl_dpdk_cfg_check(&c, err, sizeof err), -EINVAL), "%s", bc->key);
    cr_assert(not(eq(ptr, strstr(err, bc->key), NULL)), "message \"%s\" names %s", err, bc->key);
}

Test(dpdk_cfg, open_without_dpdk_returns_enotsup)
{
    if (SL_HAVE_DPDK)
        cr_skip_test("built with DPDK: opening would initialise the EAL (covered by dpdk_pcap)");
    struct sl_dpdk_cfg c;
    struct sl_dpdk_server *s = NULL;
    char err[256] = "";
    sl_dpdk_cfg_defaults(&c);
    c.enabled = 1;
    snprintf(c.eal_args, sizeof c.eal_args, "--no-huge");
    cr_assert(eq(int, sl_dpdk_server_open(&c, NULL, 0, &s, err, sizeof err), -ENOTSUP));
    cr_assert(eq(ptr, s, NULL));
    cr_assert(not(eq(ptr, strstr(err, "without DPDK"), NULL)), "%s", err);
}
