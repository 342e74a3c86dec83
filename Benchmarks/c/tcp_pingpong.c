/*
 * tcp_pingpong: the C floor for one-way TCP latency over loopback. Both sides
 * busy-poll nonblocking sockets (no epoll): the pinger stamps CLOCK_MONOTONIC,
 * sends --size bytes, spins on recv until all of them are back, and records
 * RTT/2. TCP_NODELAY on both ends.
 *
 *   cc -O2 -o tcp_pingpong tcp_pingpong.c
 *   ./tcp_pingpong --mode echo --listen 127.0.0.1:47100 [--pin 1]
 *   ./tcp_pingpong --mode ping --connect 127.0.0.1:47100 [--count 100000] [--warmup 10000] [--size 64] [--pin 0]
 *
 * ping prints, as `feedreactor tcp-bench pingpong` does:
 *   p50_ns=<n> p99_ns=<n> p999_ns=<n> msgs_per_s=<n>
 * echo serves one connection until EOF.
 */
#define _GNU_SOURCE
#include "tcp_common.h"
#include <sched.h>

static const char *USAGE =
    "--mode ping|echo [--listen A:P | --connect A:P] [--count N] [--warmup N] [--size BYTES] [--pin CPU]";

#define MAX_SIZE 65536

static void set_nonblocking_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt(TCP_NODELAY)");
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) die("fcntl(O_NONBLOCK)");
}

static void echo(struct sockaddr_in address) {
    int listener = tcp_listen(address);
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) die("accept4");
    set_nonblocking_nodelay(fd);
    static unsigned char buffer[MAX_SIZE];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("echo recv");
        }
        if (n == 0) return;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = send(fd, buffer + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                die("echo send");
            }
            off += w;
        }
    }
}



static void ping(struct sockaddr_in address, size_t size, long long warmup, long long count) {
    int fd = tcp_connect(address);
    set_nonblocking_nodelay(fd);
    unsigned char *out = calloc(1, size), *in = malloc(MAX_SIZE);
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)count);
    if (out == NULL || in == NULL || samples == NULL) die("malloc");
    uint64_t start = 0;
    for (long long i = 0; i < warmup + count; i++) {
        if (i == warmup) start = now_ns();
        store_le64(out, (uint64_t)i);
        uint64_t sent = now_ns();
        if (send(fd, out, size, MSG_NOSIGNAL) != (ssize_t)size) die("ping send");
        size_t got = 0;
        while (got < size) {
            ssize_t n = recv(fd, in + got, size - got, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                die("ping recv");
            }
            if (n == 0) { fprintf(stderr, "echo side closed\n"); exit(1); }
            got += (size_t)n;
        }
        uint64_t rtt = now_ns() - sent;
        if (i >= warmup) samples[i - warmup] = rtt / 2;
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    close(fd);
    qsort(samples, (size_t)count, sizeof *samples, compare_u64);
    size_t n = (size_t)count;
    printf("p50_ns=%llu p99_ns=%llu p999_ns=%llu msgs_per_s=%.0f\n", (unsigned long long)quantile(samples, n, 0.50),
           (unsigned long long)quantile(samples, n, 0.99), (unsigned long long)quantile(samples, n, 0.999),
           (double)count / seconds);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *program = "tcp_pingpong";
    const char *mode = NULL, *listen_text = NULL, *connect_text = NULL;
    long long count = 100000, warmup = 10000, size = 64, pin = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--mode")) mode = value;
        else if (!strcmp(arg, "--listen")) listen_text = value;
        else if (!strcmp(arg, "--connect")) connect_text = value;
        else if (!strcmp(arg, "--count")) count = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--warmup")) warmup = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--size")) size = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--pin")) pin = parse_number(program, USAGE, value);
        else usage_error(program, USAGE, "unknown option");
    }
    if (size < 8 || size > MAX_SIZE) usage_error(program, USAGE, "--size must be 8..65536");
    if (count < 1) usage_error(program, USAGE, "--count must be at least 1");
    pin_cpu(pin);
    if (mode && !strcmp(mode, "echo") && listen_text) echo(parse_endpoint(program, USAGE, listen_text));
    else if (mode && !strcmp(mode, "ping") && connect_text)
        ping(parse_endpoint(program, USAGE, connect_text), (size_t)size, warmup, count);
    else usage_error(program, USAGE, "--mode echo needs --listen; --mode ping needs --connect");
    return 0;
}
