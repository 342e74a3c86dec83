/*
 * tx_sendmmsg: the C baseline of `feedreactor tx-bench` (same arguments, same output).
 *
 *   cc -O2 -o tx_sendmmsg tx_sendmmsg.c
 *   ./tx_sendmmsg --address 127.0.0.1 --port 41000 [--interface ADDR] [--count N] [--size BYTES]
 *                 [--batch 64] [--timeout SECONDS] [--cpu N] [--store 0|1]
 *
 * Sends `count` datagrams of `size` bytes carrying sequence numbers 0..count-1
 * (little-endian, first 8 bytes) with sendmmsg(batch) on a connected,
 * nonblocking socket, then 20 end markers (2^64-1), and prints
 * `pps=<n> sent=<n> refused=<n>` on stdout (pps until the last data datagram
 * was handed to the kernel; refused = sendmmsg calls that met EAGAIN/ENOBUFS
 * and were retried after poll(POLLOUT), as the reactor waits for writable).
 *
 * --store 1 also does, per datagram, the least a MoldUDP64 publisher that keeps
 * its messages for retransmission must: the message (the datagram less a
 * 20-byte header and a 2-byte length) is copied into the datagram, after its
 * length, and into a retransmission ring like PublishThroughput's
 * (RetransmissionStore: 64 MiB of bytes, a start and a length for each of 2^20
 * messages, written in full before the timing starts). It is what the
 * publisher rows of tx.sh are held against besides plain sendmmsg: the
 * publisher's own costs beyond that (numbering, packing, its send path) are
 * what sets it apart.
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include <poll.h>

#define END_COPIES 20
#define MAX_BATCH 1024
#define RING_BYTES (64u << 20)
#define RING_ENTRIES (1u << 20)
#define HEADER 22  /* MoldUDP64's 20-byte header and one message's 2-byte length */

/* The retransmission ring of --store 1: oldest messages overwritten first. */
typedef struct {
    unsigned char *bytes;
    uint64_t *starts;
    uint32_t *lengths;
    uint64_t position, next;
} ring_t;

static void ring_init(ring_t *r) {
    r->bytes = malloc(RING_BYTES);
    r->starts = calloc(RING_ENTRIES, sizeof *r->starts);
    r->lengths = calloc(RING_ENTRIES, sizeof *r->lengths);
    if (!r->bytes || !r->starts || !r->lengths) die("malloc");
    memset(r->bytes, 0, RING_BYTES);
    r->position = r->next = 0;
}

static inline void ring_append(ring_t *r, const unsigned char *message, size_t length) {
    uint64_t offset = r->position % RING_BYTES;
    if (offset + length > RING_BYTES) { r->position += RING_BYTES - offset; offset = 0; }
    unsigned slot = (unsigned)(r->next++ & (RING_ENTRIES - 1));
    r->starts[slot] = r->position;
    r->lengths[slot] = (uint32_t)length;
    memcpy(r->bytes + offset, message, length);
    r->position += length;
}

int main(int argc, char **argv) {
    sender_args_t args = parse_sender_args("tx_sendmmsg", SENDER_USAGE " [--store 0|1]", argc, argv, MAX_BATCH,
                                           "--store", 0);
    long long count = args.count, size = args.size, batch = args.batch, timeout = args.timeout;
    int keep = args.extra != 0;
    if (keep && size < HEADER + 8) usage_error("tx_sendmmsg", SENDER_USAGE, "--store 1 needs --size 30 or more");
    int fd = open_sender(&args);
    ring_t ring = { 0 };
    unsigned char *message = NULL;
    if (keep) {
        ring_init(&ring);
        message = calloc(1, (size_t)size);
        if (message == NULL) die("calloc");
    }

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
            for (int i = 0; i < n; i++) {
                unsigned char *datagram = iov[i].iov_base;
                if (keep) {  /* the message is numbered where rx-bench reads the sequence number */
                    store_le64(message, phase == 0 ? next + (uint64_t)i : END_OF_RUN);
                    datagram[HEADER - 2] = (unsigned char)((size - HEADER) >> 8);
                    datagram[HEADER - 1] = (unsigned char)(size - HEADER);
                    memcpy(datagram + HEADER, message, (size_t)size - HEADER);
                    ring_append(&ring, message, (size_t)size - HEADER);
                }
                store_le64(datagram, phase == 0 ? next + (uint64_t)i : END_OF_RUN);
            }
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
