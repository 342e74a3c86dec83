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

int main(int argc, char **argv) {
    receiver_args_t args = parse_receiver_args("rx_epoll", argc, argv);

    int fd = open_receiver(args.address, args.port, args.interface, args.rcvbuf);
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
    wait_for_file(args.start_file);

    int done = 0;
    while (!done) {
        struct epoll_event event;
        int ready = epoll_wait(ep, &event, 1, args.spin ? 0 : -1);
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
