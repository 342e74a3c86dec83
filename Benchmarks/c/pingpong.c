/*
 * pingpong: the C floor for one-way UDP latency over loopback. Both sides
 * busy-poll nonblocking sockets (no epoll, no sleeping): the pinger stamps
 * CLOCK_MONOTONIC, sends, spins on recv until its datagram comes back, and
 * records RTT/2 as the one-way latency.
 *
 *   cc -O2 -pthread -o pingpong pingpong.c
 *   ./pingpong                                   # both sides in one process: pinger CPU 0, echo CPU 1
 *   ./pingpong --mode echo --port 46000 --pin 1  # only the echo side (to time another pinger)
 *   ./pingpong --mode ping --address 127.0.0.1 --port 46000 --count 100000 --pin 0
 *
 * Options: --mode both|ping|echo  --address A (127.0.0.1)  --port P (0: pick one, both mode)
 *          --count N (100000)  --warmup N (10000)  --size BYTES (64)  --pin CPU  --echo-pin CPU
 * Output (stdout, one line, nanoseconds, one-way = RTT/2):
 *   samples=<n> min_ns=<n> p50_ns=<n> p99_ns=<n> p999_ns=<n> max_ns=<n>
 * The echo side answers every datagram to its sender and runs until a datagram
 * whose first 8 bytes are 2^64-1 (the pinger sends one at the end).
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include <pthread.h>
#include <sched.h>

static const char *USAGE =
    "[--mode both|ping|echo] [--address A] [--port P] [--count N] [--warmup N] [--size BYTES] [--pin CPU] [--echo-pin CPU]";

#define MAX_SIZE 65507

static void pin_to(long long cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity(--pin)");
}

typedef struct {
    int fd;
    long long pin;
} echo_args_t;

/* Answers each datagram to its source until the end marker. Spins on recvfrom. */
static void *echo_loop(void *raw) {
    echo_args_t *args = raw;
    pin_to(args->pin);
    static unsigned char buffer[MAX_SIZE];
    for (;;) {
        struct sockaddr_in from;
        socklen_t length = sizeof from;
        ssize_t n = recvfrom(args->fd, buffer, sizeof buffer, MSG_DONTWAIT, (struct sockaddr *)&from, &length);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("echo recvfrom");
        }
        if (n >= 8 && load_le64(buffer) == END_OF_RUN) return NULL;
        if (sendto(args->fd, buffer, (size_t)n, 0, (struct sockaddr *)&from, length) < 0 && errno != EAGAIN) die("echo sendto");
    }
}



/* Pings `warmup + count` times; returns one-way samples (RTT/2) of the last `count`. */
static void ping_loop(int fd, size_t size, long long warmup, long long count) {
    unsigned char *out = calloc(1, size), *in = malloc(MAX_SIZE);
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)(count > 0 ? count : 1));
    if (out == NULL || in == NULL || samples == NULL) die("malloc");
    for (long long i = 0; i < warmup + count; i++) {
        store_le64(out, (uint64_t)i);
        uint64_t sent = now_ns();
        if (send(fd, out, size, 0) < 0) die("ping send");
        for (;;) {
            ssize_t n = recv(fd, in, MAX_SIZE, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                die("ping recv");
            }
            if (n >= 8 && load_le64(in) == (uint64_t)i) break;  /* a stale answer is skipped */
        }
        uint64_t rtt = now_ns() - sent;
        if (i >= warmup) samples[i - warmup] = rtt / 2;
    }
    store_le64(out, END_OF_RUN);
    if (send(fd, out, size, 0) < 0) die("ping send(end)");
    qsort(samples, (size_t)count, sizeof *samples, compare_u64);
    size_t n = (size_t)count;
    printf("samples=%zu min_ns=%llu p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu\n", n,
           (unsigned long long)samples[0], (unsigned long long)quantile(samples, n, 0.50),
           (unsigned long long)quantile(samples, n, 0.99), (unsigned long long)quantile(samples, n, 0.999),
           (unsigned long long)samples[n - 1]);
    fflush(stdout);
    free(out); free(in); free(samples);
}

static int udp_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    return fd;
}

int main(int argc, char **argv) {
    const char *program = "pingpong";
    const char *mode = "both", *address_text = "127.0.0.1";
    long long port = 0, count = 100000, warmup = 10000, size = 64, pin = 0, echo_pin = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--mode")) mode = value;
        else if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--count")) count = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--warmup")) warmup = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--size")) size = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--pin")) pin = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--echo-pin")) echo_pin = parse_number(program, USAGE, value);
        else usage_error(program, USAGE, "unknown option");
    }
    if (strcmp(mode, "both") && strcmp(mode, "ping") && strcmp(mode, "echo")) usage_error(program, USAGE, "--mode is both, ping or echo");
    if (size < 8 || size > MAX_SIZE) usage_error(program, USAGE, "--size must be 8..65507 (the sequence number takes 8 bytes)");
    if (count < 1) usage_error(program, USAGE, "--count must be at least 1");
    if (port > 65535) usage_error(program, USAGE, "--port must be 0..65535");
    struct in_addr address = parse_ipv4(program, USAGE, address_text);
    struct sockaddr_in server = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = address };

    int echo_fd = -1;
    if (strcmp(mode, "ping")) {
        echo_fd = udp_socket();
        if (bind(echo_fd, (struct sockaddr *)&server, sizeof server) != 0) die("bind(echo)");
        socklen_t length = sizeof server;
        if (getsockname(echo_fd, (struct sockaddr *)&server, &length) != 0) die("getsockname");
        fprintf(stderr, "echo on %s:%u\n", address_text, ntohs(server.sin_port));
        fflush(stderr);
    }
    if (!strcmp(mode, "echo")) {
        echo_args_t args = { echo_fd, pin };
        echo_loop(&args);
        return 0;
    }
    if (server.sin_port == 0) usage_error(program, USAGE, "--mode ping needs --port");

    pthread_t echo_thread;
    echo_args_t args = { echo_fd, echo_pin };
    if (echo_fd >= 0 && pthread_create(&echo_thread, NULL, echo_loop, &args) != 0) die("pthread_create");
    pin_to(pin);
    int fd = udp_socket();
    if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) die("connect");
    ping_loop(fd, (size_t)size, warmup, count);
    if (echo_fd >= 0) pthread_join(echo_thread, NULL);
    return 0;
}
