/* SPDX-License-Identifier: Apache-2.0 */
/* Criterion suite for ingest/kafka_cfg.c: the [kafka] keys, their refusals and the check. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ingest/kafka.h"

TestSuite(kafka_cfg, .timeout = 10);

/* Inline strings: Criterion copies parameters into each test's own process, where
 * pointers into the parent's image would not be valid. */
struct kv {
    char key[40], value[40];
    int rc;
};

static struct kv cases[] = {
    {"role", "forward", 0},
    {"role", "consume", 0},
    {"role", "none", 0},
    {"role", "leader", -EINVAL},
    {"brokers", "127.0.0.1:9092,127.0.0.1:9093", 0},
    {"topic", "", -EINVAL},
    {"group", "", -EINVAL},
    {"format", "wire", 0},
    {"format", "json", -EINVAL},
    {"on_full", "backpressure", 0},
    {"on_full", "block", -EINVAL},
    {"buffer", "64M", 0},
    {"buffer", "512", -EINVAL}, /* below 1 KiB */
    {"buffer", "-1", -EINVAL},
    {"buffer", "10X", -EINVAL},
    {"batch", "4K", 0},
    {"batch", "100", -EINVAL},
    {"partitions", "12", 0},
    {"partitions", "1000000", -EINVAL},
    {"rdkafka.security.protocol", "SASL_SSL", 0},
    {"rdkafka.", "x", -EINVAL},
    {"nonsense", "1", -EINVAL},
};

ParameterizedTestParameters(kafka_cfg, set_key_returns_expected_code)
{
    return cr_make_param_array(struct kv, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct kv *c, kafka_cfg, set_key_returns_expected_code)
{
    struct sl_kafka_cfg cfg;
    sl_kafka_cfg_defaults(&cfg);
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, c->key, c->value), c->rc), "%s=%s", c->key, c->value);
}

Test(kafka_cfg, set_values_land_in_fields)
{
    struct sl_kafka_cfg cfg;
    sl_kafka_cfg_defaults(&cfg);
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "role", "consume"), 0));
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "buffer", "2M"), 0));
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "batch", "16KiB"), 0));
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "on_full", "backpressure"), 0));
    cr_assert(eq(int, cfg.role, SL_KAFKA_ROLE_CONSUME));
    cr_assert(eq(u64, cfg.buffer_bytes, 2u << 20));
    cr_assert(eq(u32, cfg.batch_bytes, 16u << 10));
    cr_assert(eq(int, cfg.on_full, SL_KAFKA_FULL_BACKPRESSURE));
    cr_assert(eq(str, cfg.group, "sluice"));
}

Test(kafka_cfg, rdkafka_property_set_twice_keeps_last_value)
{
    struct sl_kafka_cfg cfg;
    sl_kafka_cfg_defaults(&cfg);
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "rdkafka.sasl.mechanism", "PLAIN"), 0));
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "rdkafka.sasl.mechanism", "SCRAM-SHA-512"), 0));
    cr_assert(eq(u32, cfg.nprops, 1));
    cr_assert(eq(str, cfg.props[0].name, "sasl.mechanism"));
    cr_assert(eq(str, cfg.props[0].value, "SCRAM-SHA-512"));
}

Test(kafka_cfg, too_many_rdkafka_properties_returns_enospc)
{
    struct sl_kafka_cfg cfg;
    char key[64];
    sl_kafka_cfg_defaults(&cfg);
    for (int i = 0; i < SL_KAFKA_MAX_PROPS; i++) {
        snprintf(key, sizeof key, "rdkafka.p%d", i);
        cr_assert(eq(int, sl_kafka_cfg_set(&cfg, key, "v"), 0));
    }
    cr_assert(eq(int, sl_kafka_cfg_set(&cfg, "rdkafka.one_more", "v"), -ENOSPC));
}

Test(kafka_cfg, check_role_without_brokers_names_the_key)
{
    struct sl_kafka_cfg cfg;
    char err[256] = "";
    sl_kafka_cfg_defaults(&cfg);
    cr_assert(eq(int, sl_kafka_cfg_check(&cfg, err, sizeof err), 0)); /* role none: fine */
    sl_kafka_cfg_set(&cfg, "role", "forward");
    int rc = sl_kafka_cfg_check(&cfg, err, sizeof err);
    if (!sl_kafka_available()) {
        cr_assert(eq(int, rc, -EINVAL));
        cr_assert(not(eq(ptr, strstr(err, "no Kafka support"), NULL)));
        return;
    }
    cr_assert(eq(int, rc, -EINVAL));
    cr_assert(not(eq(ptr, strstr(err, "kafka.brokers"), NULL)), "%s", err);
    sl_kafka_cfg_set(&cfg, "brokers", "127.0.0.1:9092");
    cr_assert(eq(int, sl_kafka_cfg_check(&cfg, err, sizeof err), 0));
}

Test(kafka_cfg, partition_of_is_stable_and_in_range)
{
    for (uint64_t id = 1; id < 100000; id += 7919) {
        uint32_t p = sl_kafka_partition_of(id * 0x9E3779B97F4A7C15ull, 6);
        cr_assert(lt(u32, p, 6));
        cr_assert(eq(u32, p, sl_kafka_partition_of(id * 0x9E3779B97F4A7C15ull, 6)));
    }
    cr_assert(eq(u32, sl_kafka_partition_of(UINT64_MAX, 1), 0));
}
