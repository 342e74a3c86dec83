/*
 * rx_epoll: the plain C baseline for `feedreactor rx-bench --backend epoll`.
 * One nonblocking UDP socket, level-triggered epoll, recvmmsg 64 datagrams of
 * up to 2048 bytes per call into buffers set up once. Same command line and
 * output as rx-bench:
 *
 *   cc -O2 -o rx_epoll rx_epoll.c
 *   ./rx_epoll --address 127.0.0.1 --port 41000 --rcvbuf 1073741823 --start-file /tmp/go
 *
 * Prints `ready` on stderr once bound (and joined), reads nothing until the
 * start file exists, then drains until a datagram with sequence 2^64-1 and
 * prints `pps=<n> received=<n> gaps=<n>` on stdout.
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include <sys/epoll.h>

#define BATCH 64
#define SLOT 2048

static const char *USAGE =
    "--address A --port P [--interface ADDR] [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]";

int main(int argc, char **argv) {
    const char *program = "rx_epoll";
    const char *address_text = NULL, *start_file = NULL;
    struct in_addr interface = { htonl(INADDR_ANY) };
    long long port = -1, rcvbuf = 0;
    int spin = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--interface")) interface = parse_ipv4(program, USAGE, value);
        else if (!strcmp(arg, "--rcvbuf")) rcvbuf = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--start-file")) start_file = value;
        else if (!strcmp(arg, "--idle")) {
            if (!strcmp(value, "spin")) spin = 1;
            else if (strcmp(value, "block")) usage_error(program, USAGE, "--idle is block or spin");
        } else usage_error(program, USAGE, "unknown option");
    }
    if (address_text == NULL || port < 0 || port > 65535) usage_error(program, USAGE, "--address and --port are required");
    struct in_addr address = parse_ipv4(program, USAGE, address_text);

    int fd = open_receiver(address, (uint16_t)port, interface, rcvbuf);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event interest = { .events = EPOLLIN, .data.fd = fd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest) != 0) die("epoll_ctl");

    /* Everything the loop touches is allocated here, once. */
    static unsigned char buffers[BATCH][SLOT];
    static struct iovec iov[BATCH];
    static struct mmsghdr messages[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buffers[i];
        iov[i].iov_len = SLOT;
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    tracker_t tracker;
    tracker_init(&tracker);

    fprintf(stderr, "ready\n");
    fflush(stderr);
    wait_for_file(start_file);

    int done = 0;
    while (!done) {
        struct epoll_event event;
        int ready = epoll_wait(ep, &event, 1, spin ? 0 : -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (ready == 0) continue;
        /* Read until a short batch: the queue is then (almost surely) empty,
         * and level-triggered epoll reports the socket again if not. */
        for (;;) {
            int n = recvmmsg(fd, messages, BATCH, MSG_DONTWAIT, NULL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                die("recvmmsg");
            }
            uint64_t now = now_ns();
            for (int i = 0; i < n; i++) {
                if (messages[i].msg_len < 8) continue;
                uint64_t seq = load_le64(buffers[i]);
                if (seq == END_OF_RUN) { done = 1; break; }
                tracker_see(&tracker, seq, now);
            }
            if (done || n < BATCH) break;
        }
    }
    tracker_report(&tracker);
    return 0;
}
