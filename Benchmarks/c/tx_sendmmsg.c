/*
 * tx_sendmmsg: the C baseline of `feedreactor tx-bench` (same arguments, same output).
 *
 *   cc -O2 -o tx_sendmmsg tx_sendmmsg.c
 *   ./tx_sendmmsg --address 127.0.0.1 --port 41000 [--interface ADDR] [--count N] [--size BYTES]
 *                 [--batch 64] [--timeout SECONDS] [--cpu N]
 *
 * Sends `count` datagrams of `size` bytes carrying sequence numbers 0..count-1
 * (little-endian, first 8 bytes) with sendmmsg(batch) on a connected,
 * nonblocking socket, then 20 end markers (2^64-1), and prints
 * `pps=<n> sent=<n> refused=<n>` on stdout (pps until the last data datagram
 * was handed to the kernel; refused = sendmmsg calls that met EAGAIN/ENOBUFS
 * and were retried after poll(POLLOUT), as the reactor waits for writable).
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include <poll.h>

#define END_COPIES 20
#define MAX_BATCH 1024

int main(int argc, char **argv) {
    sender_args_t args = parse_sender_args("tx_sendmmsg", SENDER_USAGE, argc, argv, MAX_BATCH, NULL, 0);
    long long count = args.count, size = args.size, batch = args.batch, timeout = args.timeout;
    int fd = open_sender(&args);

    unsigned char *payload = calloc((size_t)batch, (size_t)size);
    if (payload == NULL) die("calloc");
    static struct iovec iov[MAX_BATCH];
    static struct mmsghdr messages[MAX_BATCH];
    for (int i = 0; i < batch; i++) {
        iov[i].iov_base = payload + (size_t)i * (size_t)size;
        iov[i].iov_len = (size_t)size;
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t refused = 0, deadline = now_ns() + (uint64_t)timeout * 1000000000ull;
    uint64_t total = (uint64_t)count, started = now_ns(), elapsed = 0;
    for (int phase = 0; phase < 2; phase++) {
        uint64_t next = 0, end = phase == 0 ? total : END_COPIES;
        while (next < end) {
            int n = end - next < (uint64_t)batch ? (int)(end - next) : (int)batch;
            for (int i = 0; i < n; i++) store_le64(iov[i].iov_base, phase == 0 ? next + (uint64_t)i : END_OF_RUN);
            int sent = sendmmsg(fd, messages, (unsigned)n, 0);
            if (sent < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != ENOBUFS) die("sendmmsg");
                refused++;
                wait_for_room(fd);
            } else {
                next += (uint64_t)sent;  /* a partial batch resends the rest next round */
            }
            exit_after_deadline("tx_sendmmsg", deadline);
        }
        if (phase == 0) elapsed = now_ns() - started;
    }
    print_sender_result(total, elapsed, refused);
    return 0;
}
