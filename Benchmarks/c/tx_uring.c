/*
 * tx_uring: hand-written C io_uring sender, the baseline of
 * `feedreactor tx-bench --backend uring` (same arguments, same output as
 * tx_sendmmsg.c, which it is measured beside).
 *
 *   cc -O2 -o tx_uring tx_uring.c -luring
 *   ./tx_uring --address 127.0.0.1 --port 41000 [--interface ADDR] [--count N] [--size BYTES]
 *              [--batch 64] [--timeout SECONDS] [--cpu N] [--link 0|1]
 *
 * io_uring has no multi-datagram send: each datagram is one IORING_OP_SEND SQE.
 * Set up as the reactor's io_uring backend sends, with nothing else:
 *   - ring: IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG, 256 entries
 *   - the socket tx_sendmmsg opens (bench_common.h's open_sender: nonblocking,
 *     connected), registered (IOSQE_FIXED_FILE)
 *   - `batch` SEND SQEs (MSG_DONTWAIT) per io_uring_submit_and_wait(batch), then
 *     the batch's completions reaped; a datagram whose completion says
 *     -EAGAIN is sent again (after poll(POLLOUT)) before the next batch
 *   - --link 1 (the default, as the reactor does, which keeps order when one
 *     send meets a full buffer) links each batch's SQEs into one chain; --link 0
 *     submits them unlinked (faster, but a -EAGAIN in the middle reorders)
 * Prints `pps=<n> sent=<n> refused=<n>` (refused: completions with -EAGAIN,
 * -ENOBUFS or -ECANCELED, each resent).
 */
#define _GNU_SOURCE 1
#include <liburing.h>
#include "bench_common.h"
#include <poll.h>

#define ENTRIES 256
#define END_COPIES 20
#define MAX_BATCH 256

#define USAGE SENDER_USAGE " [--link 0|1]"

static void fail(const char *what, int error) {
    fprintf(stderr, "tx_uring: %s: %s\n", what, strerror(error));
    exit(1);
}

int main(int argc, char **argv) {
    sender_args_t args = parse_sender_args("tx_uring", USAGE, argc, argv, MAX_BATCH, "--link", 1);
    long long count = args.count, size = args.size, batch = args.batch, timeout = args.timeout, link = args.extra;
    int fd = open_sender(&args);

    struct io_uring ring;
    int rc = init_reactor_ring(&ring, ENTRIES);
    if (rc < 0) fail("io_uring_queue_init_params", -rc);
    rc = io_uring_register_files(&ring, &fd, 1);
    if (rc < 0) fail("io_uring_register_files", -rc);

    unsigned char *payload = calloc((size_t)batch, (size_t)size);
    if (payload == NULL) die("calloc");
    static int failed[MAX_BATCH];

    uint64_t refused = 0, deadline = now_ns() + (uint64_t)timeout * 1000000000ull;
    uint64_t total = (uint64_t)count, started = now_ns(), elapsed = 0;
    for (int phase = 0; phase < 2; phase++) {
        uint64_t next = 0, end = phase == 0 ? total : END_COPIES;
        while (next < end) {
            int n = end - next < (uint64_t)batch ? (int)(end - next) : (int)batch;
            for (int i = 0; i < n; i++) {
                unsigned char *slot = payload + (size_t)i * (size_t)size;
                store_le64(slot, phase == 0 ? next + (uint64_t)i : END_OF_RUN);
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                io_uring_prep_send(sqe, 0, slot, (size_t)size, MSG_DONTWAIT);
                sqe->flags |= IOSQE_FIXED_FILE | (link && i < n - 1 ? IOSQE_IO_LINK : 0);
                io_uring_sqe_set_data64(sqe, (uint64_t)i);
            }
            rc = io_uring_submit_and_wait(&ring, (unsigned)n);
            if (rc < 0 && rc != -EINTR) fail("io_uring_submit_and_wait", -rc);
            // Reap the batch; the first datagram not sent is where the next batch starts.
            int first_failed = n, reaped = 0;
            while (reaped < n) {
                struct io_uring_cqe *cqe;
                rc = io_uring_wait_cqe(&ring, &cqe);
                if (rc < 0) fail("io_uring_wait_cqe", -rc);
                int index = (int)cqe->user_data;
                failed[index] = cqe->res < 0;
                if (cqe->res < 0 && cqe->res != -EAGAIN && cqe->res != -ENOBUFS && cqe->res != -ECANCELED)
                    fail("send", -cqe->res);
                io_uring_cqe_seen(&ring, cqe);
                reaped++;
            }
            for (int i = 0; i < n; i++) if (failed[i]) { first_failed = i; break; }
            if (first_failed < n) {
                refused += (uint64_t)(n - first_failed);
                wait_for_room(fd);
            }
            next += (uint64_t)first_failed;  /* unlinked: a later one sent after a refused one is sent again */
            exit_after_deadline("tx_uring", deadline);
        }
        if (phase == 0) elapsed = now_ns() - started;
    }
    print_sender_result(total, elapsed, refused);
    io_uring_queue_exit(&ring);
    return 0;
}
