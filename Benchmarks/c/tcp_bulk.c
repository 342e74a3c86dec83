/*
 * tcp_bulk: the C floor for a TCP bulk receiver, and the source that feeds
 * every sink in tcp.sh.
 *
 *   cc -O2 -o tcp_bulk tcp_bulk.c
 *   ./tcp_bulk --mode sink --listen 127.0.0.1:47000 [--idle block|spin] [--pin CPU]
 *   ./tcp_bulk --mode source --connect 127.0.0.1:47000 --bytes 1073741824 [--write-size 65536] [--pin CPU]
 *
 * sink: accepts one connection, epoll (level-triggered) + read() into one
 * 256 KiB buffer until EOF; prints `gbps=<x> bytes=<n>` (first to last byte),
 * as `feedreactor tcp-bench sink` does. --idle spin polls epoll_wait(0).
 * source: blocking write()s of --write-size bytes until --bytes are sent, then
 * close; prints `bytes=<n>`.
 */
#define _GNU_SOURCE
#include "tcp_common.h"
#include <sched.h>
#include <sys/epoll.h>

static const char *USAGE =
    "--mode sink|source [--listen A:P | --connect A:P] [--bytes N] [--write-size S] [--idle block|spin] [--pin CPU]";

#define READ_SIZE (256 * 1024)

static void sink(struct sockaddr_in address, int spin) {
    int listener = tcp_listen(address);
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) die("accept4");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = { .events = EPOLLIN, .data.fd = fd };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll");
    static unsigned char buffer[READ_SIZE] __attribute__((aligned(4096)));
    uint64_t total = 0, first = 0, last = 0;
    for (;;) {
        struct epoll_event ready;
        int n = epoll_wait(ep, &ready, 1, spin ? 0 : -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        if (n <= 0) continue;
        ssize_t got = read(fd, buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("read");
        }
        if (got == 0) break;
        uint64_t now = now_ns();
        if (total == 0) first = now;
        last = now;
        total += (uint64_t)got;
    }
    double seconds = (double)(last - first) / 1e9;
    printf("gbps=%.3f bytes=%llu\n", seconds > 0 ? (double)total * 8 / seconds / 1e9 : 0.0, (unsigned long long)total);
    fflush(stdout);
}

static void source(struct sockaddr_in address, long long bytes, long long write_size) {
    int fd = tcp_connect(address);
    unsigned char *buffer = calloc(1, (size_t)write_size);
    if (buffer == NULL) die("calloc");
    long long sent = 0;
    while (sent < bytes) {
        size_t chunk = (size_t)(bytes - sent < write_size ? bytes - sent : write_size);
        ssize_t n = write(fd, buffer, chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        sent += n;
    }
    close(fd);
    printf("bytes=%lld\n", sent);
}

int main(int argc, char **argv) {
    const char *program = "tcp_bulk";
    const char *mode = NULL, *listen_text = NULL, *connect_text = NULL;
    long long bytes = 1LL << 30, write_size = 65536, pin = -1;
    int spin = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--mode")) mode = value;
        else if (!strcmp(arg, "--listen")) listen_text = value;
        else if (!strcmp(arg, "--connect")) connect_text = value;
        else if (!strcmp(arg, "--bytes")) bytes = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--write-size")) write_size = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--pin")) pin = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--idle")) spin = !strcmp(value, "spin");
        else usage_error(program, USAGE, "unknown option");
    }
    pin_cpu(pin);
    if (mode && !strcmp(mode, "sink") && listen_text) sink(parse_endpoint(program, USAGE, listen_text), spin);
    else if (mode && !strcmp(mode, "source") && connect_text && write_size > 0)
        source(parse_endpoint(program, USAGE, connect_text), bytes, write_size);
    else usage_error(program, USAGE, "--mode sink needs --listen; --mode source needs --connect");
    return 0;
}
