/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a Kafka cluster on loopback for the integration tests and the benchmark.
 * librdkafka's mock cluster (rdkafka_mock.h) speaks the real Kafka protocol: produce,
 * fetch, metadata, consumer groups with offset commits, idempotent producers; so sluiced
 * talks to it exactly as to real brokers.
 *
 *   kafka_mock_cluster [--brokers N] [--topic T] [--partitions P]
 *
 * Prints "bootstrap=<host:port,...>" once the topic exists, then obeys one command per
 * line on stdin and answers each with "ok" or "error <why>":
 *   down <broker> | up <broker>        take a broker (1..N) off the network / back
 *   leader <partition> <broker>        move a partition's leadership
 *   produce <partition|-1> <text>      produce <text> as one message value ("\n" in text
 *                                      becomes a newline; -1 lets librdkafka pick)
 *   flush                              wait (up to 30 s) until every produce is acknowledged
 *   committed <group>                  answer "ok <partition>:<offset> ..." with the group's
 *                                      committed offsets (-1001: none), read without joining
 *   quit                               (or end of input) shut down
 * The process never outlives its test: end of stdin stops it.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rd_kafka_t *client; /* produces the "produce" commands' messages */

static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static int cmd_produce(const char *topic, char *args)
{
    char *sp = strchr(args, ' ');
    if (!sp) return -1;
    *sp = 0;
    int32_t part = atoi(args);
    char *text = sp + 1;
    unescape(text);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(client, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_PARTITION(part < 0 ? RD_KAFKA_PARTITION_UA : part),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(text, strlen(text)), RD_KAFKA_V_END);
    rd_kafka_poll(client, 0);
    return e ? -1 : 0;
}

static const char *boot;
static int npartitions;

/* Print the group's committed offsets. A consumer handle that never subscribes only sends
 * OffsetFetch: it does not join the group, so it triggers no rebalance. */
static int cmd_committed(const char *topic, const char *group)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c) return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(npartitions);
    for (int p = 0; p < npartitions; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(c, l, 10000);
    if (!e) {
        printf("ok");
        for (int i = 0; i < l->cnt; i++)
            printf(" %d:%lld", (int)l->elems[i].partition, (long long)l->elems[i].offset);
        printf("\n");
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
    return e ? -1 : 1; /* 1: reply already printed */
}

int main(int argc, char **argv)
{
    int nbrokers = 3, partitions = 6;
    const char *topic = "sluice";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--brokers"))
            nbrokers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[i + 1];
        else if (!strcmp(argv[i], "--partitions"))
            partitions = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--brokers N] [--topic T] [--partitions P]\n", argv[0]);
            return 2;
        }
    }
    char err[512];
    /* The mock cluster needs a client handle to live in; it runs its own threads. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!host) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, nbrokers);
    if (!mc) {
        fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
        return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, nbrokers);
    if (e) {
        fprintf(stderr, "topic create: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    boot = rd_kafka_mock_cluster_bootstraps(mc);
    npartitions = partitions;
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof err) ||
        !(client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
        fprintf(stderr, "client: %s\n", err);
        return 1;
    }
    printf("bootstrap=%s\n", boot);
    fflush(stdout);

    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        int rc = 0;
        int a = 0, b = 0;
        if (!strcmp(line, "quit")) break;
        if (sscanf(line, "down %d", &a) == 1)
            rc = rd_kafka_mock_broker_set_down(mc, a) ? -1 : 0;
        else if (sscanf(line, "up %d", &a) == 1)
            rc = rd_kafka_mock_broker_set_up(mc, a) ? -1 : 0;
        else if (sscanf(line, "leader %d %d", &a, &b) == 2)
            rc = rd_kafka_mock_partition_set_leader(mc, topic, a, b) ? -1 : 0;
        else if (!strncmp(line, "produce ", 8))
            rc = cmd_produce(topic, line + 8);
        else if (!strcmp(line, "flush"))
            rc = rd_kafka_flush(client, 30000) ? -1 : 0;
        else if (!strncmp(line, "committed ", 10))
            rc = cmd_committed(topic, line + 10);
        else
            rc = -2;
        if (rc == 1) {
            fflush(stdout);
            continue;
        }
        printf(rc == 0 ? "ok\n" : rc == -2 ? "error unknown command\n" : "error failed\n");
        fflush(stdout);
    }
    rd_kafka_flush(client, 5000);
    rd_kafka_destroy(client);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
    return 0;
}
