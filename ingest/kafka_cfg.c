/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The [kafka] configuration: defaults, one key=value setter and the start-up check. Built
 * in every configuration (with or without librdkafka) so a config file means the same
 * thing everywhere; whether Kafka can actually be opened is sl_kafka_available().
 */
#include "ingest/kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_config.h"

void sl_kafka_cfg_defaults(struct sl_kafka_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->group, sizeof cfg->group, "sluice");
    snprintf(cfg->topic, sizeof cfg->topic, "sluice");
    cfg->buffer_bytes = 64u << 20;
    /* 64 KiB: about 1 500 samples of a typical 40-byte key per message, large enough that
     * librdkafka's per-message cost (~1 µs) is noise, small enough to stay well under the
     * default message.max.bytes (1 MB) after lz4. */
    cfg->batch_bytes = 64u << 10;
    cfg->flush_interval_ms = 10000;
}

int sl_kafka_available(void)
{
    return SL_HAVE_KAFKA;
}

const char *sl_kafka_role_name(enum sl_kafka_role role)
{
    switch (role) {
    case SL_KAFKA_ROLE_FORWARD:
        return "forward";
    case SL_KAFKA_ROLE_CONSUME:
        return "consume";
    default:
        return "none";
    }
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *v == '-') return -EINVAL;
    uint64_t mult = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end || n > UINT64_MAX / mult) return -EINVAL;
    *out = n * mult;
    return 0;
}

static int set_str(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap) return -ENOSPC;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

int sl_kafka_cfg_set(struct sl_kafka_cfg *cfg, const char *key, const char *v)
{
    uint64_t n;
    if (!strncmp(key, "rdkafka.", 8)) {
        const char *name = key + 8;
        if (!*name) return -EINVAL;
        for (uint32_t i = 0; i < cfg->nprops; i++) /* a later setting overrides */
            if (!strcmp(cfg->props[i].name, name))
                return set_str(cfg->props[i].value, sizeof cfg->props[i].value, v);
        if (cfg->nprops == SL_KAFKA_MAX_PROPS) return -ENOSPC;
        struct sl_kafka_prop *p = &cfg->props[cfg->nprops];
        if (set_str(p->name, sizeof p->name, name) || set_str(p->value, sizeof p->value, v))
            return -ENOSPC;
        cfg->nprops++;
        return 0;
    }
    if (!strcmp(key, "role")) {
        if (!strcmp(v, "none") || !strcmp(v, "off"))
            cfg->role = SL_KAFKA_ROLE_NONE;
        else if (!strcmp(v, "forward"))
            cfg->role = SL_KAFKA_ROLE_FORWARD;
        else if (!strcmp(v, "consume"))
            cfg->role = SL_KAFKA_ROLE_CONSUME;
        else
            return -EINVAL;
        return 0;
    }
    if (!strcmp(key, "brokers")) return set_str(cfg->brokers, sizeof cfg->brokers, v);
    if (!strcmp(key, "topic")) return *v ? set_str(cfg->topic, sizeof cfg->topic, v) : -EINVAL;
    if (!strcmp(key, "group")) return *v ? set_str(cfg->group, sizeof cfg->group, v) : -EINVAL;
    if (!strcmp(key, "format")) {
        if (!strcmp(v, "auto"))
            cfg->format = SL_KAFKA_FMT_AUTO;
        else if (!strcmp(v, "wire"))
            cfg->format = SL_KAFKA_FMT_WIRE;
        else if (!strcmp(v, "statsd"))
            cfg->format = SL_KAFKA_FMT_STATSD;
        else
            return -EINVAL;
        return 0;
    }
    if (!strcmp(key, "on_full")) {
        if (!strcmp(v, "drop"))
            cfg->on_full = SL_KAFKA_FULL_DROP;
        else if (!strcmp(v, "backpressure"))
            cfg->on_full = SL_KAFKA_FULL_BACKPRESSURE;
        else
            return -EINVAL;
        return 0;
    }
    if (!strcmp(key, "buffer")) {
        /* librdkafka counts its queue in KiB with a 2^31-1 KiB ceiling. */
        if (parse_u64(v, &n) || n < 1024 || n > (uint64_t)INT32_MAX * 1024) return -EINVAL;
        cfg->buffer_bytes = n;
        return 0;
    }
    if (!strcmp(key, "batch")) {
        if (parse_u64(v, &n) || n < 4096 || n > (64u << 20)) return -EINVAL;
        cfg->batch_bytes = (uint32_t)n;
        return 0;
    }
    if (!strcmp(key, "partitions")) {
        if (parse_u64(v, &n) || n > 100000) return -EINVAL;
        cfg->partitions = (uint32_t)n;
        return 0;
    }
    return -EINVAL;
}

int sl_kafka_cfg_check(const struct sl_kafka_cfg *cfg, char *err, size_t errlen)
{
    if (cfg->role == SL_KAFKA_ROLE_NONE) return 0;
    if (!sl_kafka_available())
        return snprintf(err, errlen,
                        "kafka.role=%s: this build has no Kafka support (configure with "
                        "-Dkafka=enabled and librdkafka-dev installed)",
                        sl_kafka_role_name(cfg->role)),
               -EINVAL;
    if (!cfg->brokers[0])
        return snprintf(err, errlen, "kafka.brokers: required when kafka.role=%s",
                        sl_kafka_role_name(cfg->role)),
               -EINVAL;
    if (cfg->flush_interval_ms <= 0)
        return snprintf(err, errlen, "kafka: flush interval must be positive"), -EINVAL;
    if (cfg->batch_bytes < 4096)
        return snprintf(err, errlen, "kafka.batch: at least 4 KiB"), -EINVAL;
    return 0;
}
