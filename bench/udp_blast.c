/* SPDX-License-Identifier: Apache-2.0 */
/*
 * udp_blast: the load generator for the socket side of bench/dpdk_ingest. Sends the same
 * StatsD traffic the DPDK side replays from pcap ("bench.s<k>:1|c" lines, k cycling over
 * the series count, @lines per datagram) to HOST:PORT with sendmmsg(2) in batches of 64,
 * for @seconds, then prints "datagrams=<n> lines=<n>".
 *
 * usage: udp_blast HOST PORT LINES_PER_DATAGRAM SERIES SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DGRAM 1472 /* one Ethernet MTU: what the pcap side replays too */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: udp_blast HOST PORT LINES_PER_DATAGRAM SERIES SECONDS\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "udp_blast: bad host %s\n", argv[1]);
        return 2;
    }
    int lines = atoi(argv[3]), series = atoi(argv[4]);
    double seconds = atof(argv[5]);
    if (lines < 1 || series < 1 || seconds <= 0) {
        fprintf(stderr, "udp_blast: bad arguments\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        perror("udp_blast: socket");
        return 1;
    }
    /* Pre-build one datagram per (series / lines) so the loop only sends. */
    int ndg = (series + lines - 1) / lines;
    char *bufs = malloc((size_t)ndg * MAX_DGRAM);
    size_t *lens = malloc((size_t)ndg * sizeof *lens);
    if (!bufs || !lens)
        return 1;
    int k = 0;
    for (int d = 0; d < ndg; d++) {
        char *b = bufs + (size_t)d * MAX_DGRAM;
        size_t n = 0;
        for (int l = 0; l < lines; l++, k = (k + 1) % series)
            n += (size_t)snprintf(b + n, MAX_DGRAM - n, "%sbench.s%d:1|c", l ? "\n" : "", k);
        lens[d] = n;
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof msgs);
    unsigned long long sent = 0;
    int d = 0;
    double end = now() + seconds;
    while (now() < end) {
        for (int i = 0; i < BATCH; i++, d = (d + 1) % ndg) {
            iov[i].iov_base = bufs + (size_t)d * MAX_DGRAM;
            iov[i].iov_len = lens[d];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
            perror("udp_blast: sendmmsg");
            return 1;
        }
        if (n > 0)
            sent += (unsigned long long)n;
        d = (int)((unsigned long long)d - BATCH + (n > 0 ? n : 0) + (unsigned long long)ndg * BATCH) % ndg;
    }
    printf("datagrams=%llu lines=%llu\n", sent, sent * (unsigned long long)lines);
    free(bufs);
    free(lens);
    close(fd);
    return 0;
}
