// cc -O2 -o Benchmarks/c/bin/rx_uring Benchmarks/c/rx_uring.c -luring
//
// Baseline for `feedreactor rx-bench --backend uring`: a plain C io_uring
// receiver set up the way the reactor's io_uring backend is, with nothing else.
//   - ring: IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG, 256 entries
//   - one provided buffer ring of 4096 buffers (the count rx-bench configures),
//     each io_uring_recvmsg_out + 2048 bytes of payload, rounded up to 64; no
//     source address (msg_namelen 0), as rx-bench registers with
//     ReceiveOptions(sourceAddresses: false)
//   - one multishot IORING_OP_RECVMSG, re-armed when a completion lacks F_MORE
//   - buffers recycled after each reaped batch, one tail store per batch
//
// Same command line contract as rx-bench:
//   rx_uring --address A --port P [--interface ADDR] [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]
// Binds and joins as rx_epoll does (bench_common.h), prints `ready` on stderr,
// waits until the start file exists, then drains. Datagrams carry a
// little-endian u64 sequence number in their first 8 bytes; 2^64-1 ends the run.
// Prints one stdout line `pps=<n> received=<n> gaps=<n>` (bench_common.h's
// tracker, clock read once per reaped batch).
#define _GNU_SOURCE 1
#include <liburing.h>
#include "bench_common.h"

#define ENTRIES 256
#define BUFFERS 4096
#define NAME_SPACE 0      // rx-bench collects no source addresses either
#define PAYLOAD 2048
#define BUFFER_SIZE ((sizeof(struct io_uring_recvmsg_out) + NAME_SPACE + PAYLOAD + 63) & ~(size_t)63)
#define GROUP 0

static void fail(const char *what, int error) {
    fprintf(stderr, "rx_uring: %s: %s\n", what, strerror(error));
    exit(1);
}

static void arm(struct io_uring *ring, int fd, struct msghdr *msg) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    io_uring_prep_recvmsg_multishot(sqe, fd, msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, 1);
}

int main(int argc, char **argv) {
    receiver_args_t args = parse_receiver_args("rx_uring", argc, argv);

    struct io_uring ring;
    int rc = init_reactor_ring(&ring, ENTRIES);
    if (rc < 0) fail("io_uring_queue_init_params", -rc);

    // liburing 2.3 has no io_uring_setup_buf_ring: map and register it ourselves.
    size_t ring_bytes = (BUFFERS * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    struct io_uring_buf_ring *br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    uint8_t *buffers = mmap(NULL, (size_t)BUFFERS * BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED || buffers == MAP_FAILED) die("mmap");
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUFFERS, .bgid = GROUP };
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) fail("io_uring_register_buf_ring", -rc);
    int mask = io_uring_buf_ring_mask(BUFFERS);
    io_uring_buf_ring_init(br);
    for (int i = 0; i < BUFFERS; i++)
        io_uring_buf_ring_add(br, buffers + (size_t)i * BUFFER_SIZE, BUFFER_SIZE, (unsigned short)i, mask, i);
    io_uring_buf_ring_advance(br, BUFFERS);

    int fd = open_receiver(args.address, args.port, args.interface, args.rcvbuf);
    tracker_t tracker;
    tracker_init(&tracker);
    fprintf(stderr, "ready\n");
    fflush(stderr);
    wait_for_file(args.start_file);

    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_namelen = NAME_SPACE;
    arm(&ring, fd, &msg);

    uint64_t exhaustions = 0;
    int done = 0;
    while (!done) {
        if (args.spin) {
            unsigned kflags = IO_URING_READ_ONCE(*ring.sq.kflags);
            if (io_uring_sq_ready(&ring) || (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
                io_uring_submit_and_get_events(&ring);
        } else if (!io_uring_cq_ready(&ring)) {
            rc = io_uring_submit_and_wait(&ring, 1);
            if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) fail("io_uring_enter", -rc);
        }
        struct io_uring_cqe *cqe;
        unsigned head, reaped = 0, recycled = 0;
        int rearm = 0;
        uint64_t batch_time = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            reaped++;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                uint8_t *buffer = buffers + (size_t)bid * BUFFER_SIZE;
                struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buffer, cqe->res, &msg);
                if (o && io_uring_recvmsg_payload_length(o, cqe->res, &msg) >= 8) {
                    uint64_t sequence = load_le64(io_uring_recvmsg_payload(o, &msg));
                    if (sequence == END_OF_RUN) {
                        done = 1;
                    } else {
                        if (!batch_time) batch_time = now_ns();
                        tracker_see(&tracker, sequence, batch_time);
                    }
                }
                io_uring_buf_ring_add(br, buffer, BUFFER_SIZE, (unsigned short)bid, mask, (int)recycled++);
            }
            if (!(cqe->flags & IORING_CQE_F_MORE)) {
                if (cqe->res == -ENOBUFS) exhaustions++;
                else if (cqe->res < 0) fprintf(stderr, "rx_uring: recvmsg: %s\n", strerror(-cqe->res));
                rearm = 1;
            }
        }
        io_uring_cq_advance(&ring, reaped);
        if (recycled) io_uring_buf_ring_advance(br, (int)recycled);
        if (rearm && !done) arm(&ring, fd, &msg);
    }

    tracker_report(&tracker);
    fprintf(stderr, "buffer_exhaustions=%llu\n", (unsigned long long)exhaustions);
    io_uring_queue_exit(&ring);
    return 0;
}
