/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-loadgen: a bounded StatsD load generator for the benchmarks in bench/.
 *
 * It owns nothing but its own sockets. Every payload is generated before the clock starts
 * (a ring of datagrams, or one newline-delimited stream buffer, covering every series
 * once), so the send loop only does sendmmsg()/send() and pacing: generation cost never
 * limits the offered rate. The mix follows bench_parse_aggregate: series i is a counter,
 * gauge, timer or set by i % 4, and every other group of four carries DogStatsD tags.
 *
 * Safety rails, because it runs unattended on shared machines: the target must be
 * 127.0.0.1, every run stops at --duration (at most 600 s) and at --max-lines, whichever
 * comes first. The result is one machine-readable line on stdout:
 *   loadgen proto=udp lines_sent=… datagrams_sent=… seconds=… cpu_s=… send_errors=…
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_DGRAM 1400  /* fits one Ethernet MTU, the shape StatsD clients pack to */
#define LG_BATCH 64        /* datagrams per sendmmsg() */
#define LG_MAX_SECONDS 600 /* hard cap whatever the flags say */
#define LG_MAX_CONNS 1024

struct lg_opts {
    int port;
    int tcp;
    int conns;
    double rate; /* lines/s; 0 = as fast as possible */
    uint32_t series;
    uint32_t per_dgram;
    double seconds;
    uint64_t max_lines;
    const char *prefix;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* One line for series @i; @k varies values between cycles of the payload ring. */
static int format_line(char *out, size_t cap, const char *prefix, uint32_t i, uint32_t k)
{
    static const char *const types[4] = {"c", "g", "ms", "s"};
    const char *t = types[i % 4];
    int tagged = (i / 4) % 2;
    char val[32];
    switch (i % 4) {
    case 0:
        snprintf(val, sizeof val, "1");
        break;
    case 1:
        snprintf(val, sizeof val, "%u", (i + k) % 1000);
        break;
    case 2:
        snprintf(val, sizeof val, "%u.%u", (i * 7 + k * 13) % 500, k % 10);
        break;
    default:
        snprintf(val, sizeof val, "u%u", (i + k * 31) % 997);
        break;
    }
    if (tagged)
        return snprintf(out, cap, "%s.%s.m%u:%s|%s|#env:prod,region:r%u,host:web-%u", prefix,
                        i % 4 == 2 ? "lat" : "req", i, val, t, i % 7, i % 50);
    return snprintf(out, cap, "%s.%s.m%u:%s|%s", prefix, i % 4 == 2 ? "lat" : "req", i, val, t);
}

/* Datagram ring for UDP: each datagram holds up to per_dgram lines and at most 1400 bytes. */
struct lg_dgrams {
    char *buf;
    struct iovec *iov;
    uint32_t *lines; /* lines in datagram j */
    size_t n;
};

static int build_dgrams(const struct lg_opts *o, struct lg_dgrams *d)
{
    /* Two passes over the series with different values, so consecutive cycles differ. */
    size_t total_lines = (size_t)o->series * 2;
    size_t cap = total_lines + 1;
    d->buf = malloc(cap * 160);
    d->iov = calloc(cap, sizeof *d->iov);
    d->lines = calloc(cap, sizeof *d->lines);
    if (!d->buf || !d->iov || !d->lines) return -ENOMEM;
    char *w = d->buf;
    char line[256];
    d->n = 0;
    size_t li = 0;
    while (li < total_lines) {
        char *start = w;
        size_t used = 0;
        uint32_t nl = 0;
        while (li < total_lines && nl < o->per_dgram) {
            int len = format_line(line, sizeof line, o->prefix, (uint32_t)(li % o->series),
                                  (uint32_t)(li / o->series));
            size_t need = (size_t)len + (nl ? 1 : 0);
            if (used + need > LG_MAX_DGRAM) break;
            if (nl) start[used++] = '\n';
            memcpy(start + used, line, (size_t)len);
            used += (size_t)len;
            nl++;
            li++;
        }
        d->iov[d->n] = (struct iovec){.iov_base = start, .iov_len = used};
        d->lines[d->n] = nl;
        d->n++;
        w = start + used;
    }
    return 0;
}

static int connect_target(int port, int type)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (type == SOCK_DGRAM) {
        int sz = 8 << 20; /* keep sendmmsg from blocking on our own buffer */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

struct lg_result {
    uint64_t lines, dgrams, errors;
};

/* Pacing: lines allowed by now under the target rate, so bursts never run ahead. */
static double pace(const struct lg_opts *o, double t0, uint64_t sent)
{
    if (o->rate <= 0) return 0;
    double due = t0 + (double)sent / o->rate;
    return due - now_s();
}

static int run_udp(const struct lg_opts *o, struct lg_result *r, double *secs)
{
    struct lg_dgrams d;
    if (build_dgrams(o, &d)) return -ENOMEM;
    int fd = connect_target(o->port, SOCK_DGRAM);
    if (fd < 0) return fd;
    /* Batch small enough that pacing at low rates stays smooth (about 1 ms of load). */
    uint32_t batch = LG_BATCH;
    double lpd = (double)o->series * 2 / (double)d.n;
    if (o->rate > 0) {
        double b = o->rate / 1000.0 / lpd;
        batch = b < 1 ? 1 : b > LG_BATCH ? LG_BATCH : (uint32_t)b;
    }
    struct mmsghdr msgs[LG_BATCH];
    size_t pos = 0;
    double t0 = now_s(), deadline = t0 + o->seconds;
    while (!stop_flag && r->lines < o->max_lines) {
        double wait = pace(o, t0, r->lines);
        if (wait > 0.0002) {
            sleep_s(wait);
            continue;
        }
        if (now_s() >= deadline) break;
        uint32_t n = 0;
        uint64_t lines = 0;
        size_t p = pos;
        while (n < batch && r->lines + lines + d.lines[p] <= o->max_lines) {
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_iov = &d.iov[p];
            msgs[n].msg_hdr.msg_iovlen = 1;
            lines += d.lines[p];
            n++;
            p = (p + 1) % d.n;
        }
        if (n == 0) break;
        int k = sendmmsg(fd, msgs, n, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            r->errors++;
            if (errno == ECONNREFUSED || errno == ENOBUFS || errno == EAGAIN)
                continue; /* nobody listening yet / transient: count and keep pacing */
            break;
        }
        for (int j = 0; j < k; j++) {
            r->lines += d.lines[pos];
            r->dgrams++;
            pos = (pos + 1) % d.n;
        }
    }
    *secs = now_s() - t0;
    close(fd);
    free(d.buf);
    free(d.iov);
    free(d.lines);
    return 0;
}

/* TCP: one stream buffer of all lines; each connection walks it from its own offset. */
static int run_tcp(const struct lg_opts *o, struct lg_result *r, double *secs)
{
    size_t total_lines = (size_t)o->series * 2;
    char *buf = malloc(total_lines * 160 + 1);
    if (!buf) return -ENOMEM;
    size_t len = 0;
    for (size_t li = 0; li < total_lines; li++) {
        len += (size_t)format_line(buf + len, 159, o->prefix, (uint32_t)(li % o->series),
                                   (uint32_t)(li / o->series));
        buf[len++] = '\n';
    }
    int nc = o->conns;
    int fds[LG_MAX_CONNS];
    size_t off[LG_MAX_CONNS];
    uint64_t cycles[LG_MAX_CONNS];
    struct pollfd pfd[LG_MAX_CONNS];
    for (int c = 0; c < nc; c++) {
        fds[c] = connect_target(o->port, SOCK_STREAM);
        if (fds[c] < 0) {
            fprintf(stderr, "loadgen: connect 127.0.0.1:%d: %s\n", o->port, strerror(-fds[c]));
            for (int j = 0; j < c; j++)
                close(fds[j]);
            free(buf);
            return fds[c];
        }
        /* Spread the connections over the buffer so they do not send identical bytes. */
        size_t start = len / (size_t)nc * (size_t)c;
        while (start > 0 && buf[start - 1] != '\n')
            start--;
        off[c] = start;
        cycles[c] = 0;
        pfd[c] = (struct pollfd){.fd = fds[c], .events = POLLOUT};
    }
    size_t start_off[LG_MAX_CONNS];
    memcpy(start_off, off, sizeof off[0] * (size_t)nc);
    const size_t chunk = 256 * 1024;
    double bytes_per_line = (double)len / (double)total_lines;
    uint64_t bytes_sent = 0;
    double t0 = now_s(), deadline = t0 + o->seconds;
    uint64_t cap_bytes = (uint64_t)((double)o->max_lines * bytes_per_line);
    while (!stop_flag && bytes_sent < cap_bytes && now_s() < deadline) {
        double wait = pace(o, t0, (uint64_t)((double)bytes_sent / bytes_per_line));
        if (wait > 0.0002) {
            sleep_s(wait);
            continue;
        }
        int pr = poll(pfd, (nfds_t)nc, 100);
        if (pr < 0 && errno != EINTR) break;
        for (int c = 0; c < nc && pr > 0; c++) {
            if (!(pfd[c].revents & POLLOUT)) continue;
            size_t n = len - off[c] < chunk ? len - off[c] : chunk;
            if (o->rate > 0 && n > (size_t)(o->rate * bytes_per_line / 1000 / nc) + 1)
                n = (size_t)(o->rate * bytes_per_line / 1000 / nc) + 1;
            ssize_t w = send(fds[c], buf + off[c], n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN && errno != EINTR) r->errors++;
                continue;
            }
            off[c] += (size_t)w;
            bytes_sent += (uint64_t)w;
            if (off[c] == len) {
                off[c] = 0;
                cycles[c]++;
            }
        }
    }
    /* Finish the line each connection is in the middle of, so the daemon sees whole lines. */
    for (int c = 0; c < nc; c++) {
        if (off[c] > 0 && buf[off[c] - 1] != '\n') {
            size_t e = off[c];
            while (buf[e] != '\n')
                e++;
            e++;
            size_t rest = e - off[c];
            const char *p = buf + off[c];
            double give_up = now_s() + 5;
            while (rest > 0 && now_s() < give_up) {
                ssize_t w = send(fds[c], p, rest, MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno == EINTR || errno == EAGAIN) continue;
                    r->errors++;
                    break;
                }
                p += w;
                rest -= (size_t)w;
            }
            off[c] = e == len ? 0 : e;
            if (e == len) cycles[c]++;
        }
    }
    *secs = now_s() - t0;
    /* Count the newlines each connection delivered: full cycles plus the partial walk. */
    for (int c = 0; c < nc; c++) {
        uint64_t lines = 0;
        size_t a = start_off[c], b = off[c];
        uint64_t cyc = cycles[c];
        if (cyc == 0) {
            for (size_t i = a; i < b; i++)
                lines += buf[i] == '\n';
        } else {
            for (size_t i = a; i < len; i++)
                lines += buf[i] == '\n';
            lines += (cyc - 1) * total_lines;
            for (size_t i = 0; i < b; i++)
                lines += buf[i] == '\n';
        }
        r->lines += lines;
        shutdown(fds[c], SHUT_WR);
    }
    /* Wait (bounded) for the daemon to close its side: it has then read everything. */
    double give_up = now_s() + 10;
    for (int c = 0; c < nc; c++) {
        char tmp[256];
        struct pollfd p = {.fd = fds[c], .events = POLLIN};
        while (now_s() < give_up && poll(&p, 1, 100) >= 0) {
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t k = recv(fds[c], tmp, sizeof tmp, MSG_DONTWAIT);
                if (k <= 0 && !(k < 0 && errno == EAGAIN)) break;
            }
        }
        close(fds[c]);
    }
    r->dgrams = 0;
    free(buf);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluice-loadgen [options]\n"
            "Send generated StatsD/DogStatsD lines to 127.0.0.1 (and nowhere else).\n"
            "  --port N            target port on 127.0.0.1 (default 8125)\n"
            "  --host ADDR         must be 127.0.0.1 (anything else is refused)\n"
            "  --proto udp|tcp     transport (default udp)\n"
            "  --connections N     TCP connections (default 1, at most %d)\n"
            "  --rate N            target lines per second; 0 = as fast as possible (default 0)\n"
            "  --series N          distinct series (default 100000)\n"
            "  --lines-per-datagram N  1, or up to N lines packed into <= %d bytes (default 40)\n"
            "  --duration S        seconds to send (default 5, at most %d)\n"
            "  --max-lines N       stop after this many lines (default 2e9)\n"
            "  --prefix NAME       metric name prefix (default lg)\n"
            "Prints: loadgen proto=… lines_sent=… datagrams_sent=… seconds=… cpu_s=… "
            "send_errors=…\n",
            LG_MAX_CONNS, LG_MAX_DGRAM, LG_MAX_SECONDS);
}

int main(int argc, char **argv)
{
    struct lg_opts o = {.port = 8125,
                        .conns = 1,
                        .series = 100000,
                        .per_dgram = 40,
                        .seconds = 5,
                        .max_lines = 2000000000ull,
                        .prefix = "lg"};
    static const struct option lopts[] = {{"port", required_argument, 0, 'p'},
                                          {"host", required_argument, 0, 'H'},
                                          {"proto", required_argument, 0, 'P'},
                                          {"connections", required_argument, 0, 'c'},
                                          {"rate", required_argument, 0, 'r'},
                                          {"series", required_argument, 0, 's'},
                                          {"lines-per-datagram", required_argument, 0, 'l'},
                                          {"duration", required_argument, 0, 'd'},
                                          {"max-lines", required_argument, 0, 'm'},
                                          {"prefix", required_argument, 0, 'x'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'H':
            if (strcmp(optarg, "127.0.0.1") != 0) {
                fprintf(stderr, "loadgen: refusing target %s: only 127.0.0.1 is allowed\n", optarg);
                return 2;
            }
            break;
        case 'P':
            if (!strcmp(optarg, "tcp"))
                o.tcp = 1;
            else if (strcmp(optarg, "udp")) {
                fprintf(stderr, "loadgen: --proto must be udp or tcp\n");
                return 2;
            }
            break;
        case 'c':
            o.conns = atoi(optarg);
            break;
        case 'r':
            o.rate = atof(optarg);
            break;
        case 's':
            o.series = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            o.per_dgram = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            o.seconds = atof(optarg);
            break;
        case 'm':
            o.max_lines = (uint64_t)strtod(optarg, NULL);
            break;
        case 'x':
            o.prefix = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || o.port <= 0 || o.port > 65535 || o.conns < 1 || o.conns > LG_MAX_CONNS ||
        o.series < 1 || o.series > 10000000 || o.per_dgram < 1 || o.per_dgram > 1000 ||
        o.seconds <= 0 || o.rate < 0 || strlen(o.prefix) > 40) {
        fprintf(stderr, "loadgen: bad arguments\n");
        usage(stderr);
        return 2;
    }
    if (o.seconds > LG_MAX_SECONDS) o.seconds = LG_MAX_SECONDS;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct lg_result r = {0};
    double secs = 0, c0 = cpu_s();
    int rc = o.tcp ? run_tcp(&o, &r, &secs) : run_udp(&o, &r, &secs);
    if (rc) {
        fprintf(stderr, "loadgen: %s\n", strerror(-rc));
        return 1;
    }
    printf("loadgen proto=%s lines_sent=%llu datagrams_sent=%llu seconds=%.4f cpu_s=%.4f "
           "send_errors=%llu connections=%d series=%u lines_per_datagram=%u rate=%.0f\n",
           o.tcp ? "tcp" : "udp", (unsigned long long)r.lines, (unsigned long long)r.dgrams, secs,
           cpu_s() - c0, (unsigned long long)r.errors, o.tcp ? o.conns : 0, o.series,
           o.tcp ? 0 : o.per_dgram, o.rate);
    return 0;
}
