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
//   rx_uring --address A --port P [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]
// Binds (joins when A is an IPv4 multicast group), prints `ready` on stderr,
// waits until the start file exists, then drains. Datagrams carry a
// little-endian u64 sequence number in their first 8 bytes; 2^64-1 ends the run.
// Prints one stdout line `pps=<n> received=<n> gaps=<n>`, pps measured from the
// first to the last data datagram (clock read once per reaped batch).
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES 256
#define BUFFERS 4096
#define NAME_SPACE 0      // rx-bench collects no source addresses either
#define PAYLOAD 2048
#define BUFFER_SIZE ((sizeof(struct io_uring_recvmsg_out) + NAME_SPACE + PAYLOAD + 63) & ~(size_t)63)
#define GROUP 0
#define WINDOW_BITS (1u << 26)   // sequence numbers tracked exactly (8 MiB bitmap)

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int error) {
    fprintf(stderr, "rx_uring: %s: %s\n", what, strerror(error));
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: rx_uring --address A --port P [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]\n");
    exit(2);
}

static int open_socket(const char *address, int port) {
    struct sockaddr_storage ss;
    socklen_t length;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    int multicast = 0;
    struct in_addr group;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        length = sizeof(*v4);
        if (IN_MULTICAST(ntohl(v4->sin_addr.s_addr))) {
            multicast = 1;
            group = v4->sin_addr;
        }
    } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        length = sizeof(*v6);
    } else {
        fprintf(stderr, "rx_uring: invalid address '%s'\n", address);
        exit(2);
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&ss, length) < 0) die("bind", errno);
    if (multicast) {
        struct ip_mreq mreq = { .imr_multiaddr = group, .imr_interface.s_addr = htonl(INADDR_ANY) };
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) die("IP_ADD_MEMBERSHIP", errno);
    }
    return fd;
}

static void set_rcvbuf(int fd, int bytes) {
    // SO_RCVBUFFORCE passes net.core.rmem_max (needs CAP_NET_ADMIN); else SO_RCVBUF.
    if (geteuid() != 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0) die("SO_RCVBUF", errno);
    }
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
    const char *address = NULL, *start_file = NULL;
    int port = -1, rcvbuf = 0, spin = 0;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--address") && value) { address = value; i++; }
        else if (!strcmp(argv[i], "--port") && value) { port = atoi(value); i++; }
        else if (!strcmp(argv[i], "--rcvbuf") && value) { rcvbuf = atoi(value); i++; }
        else if (!strcmp(argv[i], "--start-file") && value) { start_file = value; i++; }
        else if (!strcmp(argv[i], "--idle") && value) {
            if (!strcmp(value, "spin")) spin = 1;
            else if (strcmp(value, "block")) usage();
            i++;
        } else usage();
    }
    if (!address || port < 0 || port > 65535) usage();

    struct io_uring ring;
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int rc = io_uring_queue_init_params(ENTRIES, &ring, &params);
    if (rc < 0) die("io_uring_queue_init_params", -rc);

    // liburing 2.3 has no io_uring_setup_buf_ring: map and register it ourselves.
    size_t ring_bytes = (BUFFERS * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    struct io_uring_buf_ring *br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    uint8_t *buffers = mmap(NULL, (size_t)BUFFERS * BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED || buffers == MAP_FAILED) die("mmap", errno);
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUFFERS, .bgid = GROUP };
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) die("io_uring_register_buf_ring", -rc);
    int mask = io_uring_buf_ring_mask(BUFFERS);
    io_uring_buf_ring_init(br);
    for (int i = 0; i < BUFFERS; i++)
        io_uring_buf_ring_add(br, buffers + (size_t)i * BUFFER_SIZE, BUFFER_SIZE, (unsigned short)i, mask, i);
    io_uring_buf_ring_advance(br, BUFFERS);

    uint64_t *seen = calloc(WINDOW_BITS / 64, sizeof(uint64_t));
    if (!seen) die("calloc", ENOMEM);

    int fd = open_socket(address, port);
    if (rcvbuf > 0) set_rcvbuf(fd, rcvbuf);
    fprintf(stderr, "ready\n");
    if (start_file) {
        struct timespec pause = { 0, 200000 };
        while (access(start_file, F_OK) != 0) nanosleep(&pause, NULL);
    }

    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_namelen = NAME_SPACE;
    arm(&ring, fd, &msg);

    uint64_t received = 0, distinct = 0, out_of_window = 0, lowest = UINT64_MAX, highest = 0, base = 0;
    uint64_t first_time = 0, last_time = 0, exhaustions = 0;
    int done = 0;
    while (!done) {
        if (spin) {
            unsigned kflags = IO_URING_READ_ONCE(*ring.sq.kflags);
            if (io_uring_sq_ready(&ring) || (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
                io_uring_submit_and_get_events(&ring);
        } else if (!io_uring_cq_ready(&ring)) {
            rc = io_uring_submit_and_wait(&ring, 1);
            if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) die("io_uring_enter", -rc);
        }
        struct io_uring_cqe *cqe;
        unsigned head, reaped = 0, recycled = 0;
        int data = 0, rearm = 0;
        uint64_t batch_time = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            reaped++;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                uint8_t *buffer = buffers + (size_t)bid * BUFFER_SIZE;
                struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buffer, cqe->res, &msg);
                if (o && io_uring_recvmsg_payload_length(o, cqe->res, &msg) >= 8) {
                    uint64_t sequence;
                    memcpy(&sequence, io_uring_recvmsg_payload(o, &msg), 8);
                    sequence = le64toh(sequence);
                    if (sequence == UINT64_MAX) {
                        done = 1;
                    } else {
                        if (!batch_time) batch_time = now_ns();
                        if (received == 0) {
                            first_time = batch_time;
                            base = sequence >= WINDOW_BITS / 2 ? sequence - WINDOW_BITS / 2 : 0;
                        }
                        data = 1;
                        received++;
                        if (sequence < lowest) lowest = sequence;
                        if (sequence > highest) highest = sequence;
                        uint64_t offset = sequence - base;
                        if (sequence >= base && offset < WINDOW_BITS) {
                            uint64_t bit = 1ull << (offset & 63);
                            if (!(seen[offset >> 6] & bit)) { seen[offset >> 6] |= bit; distinct++; }
                        } else {
                            out_of_window++;
                        }
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
        if (data) last_time = batch_time;
        if (rearm && !done) arm(&ring, fd, &msg);
    }

    uint64_t span = received ? highest - lowest + 1 : 0;
    uint64_t gaps = span > distinct + out_of_window ? span - distinct - out_of_window : 0;
    double seconds = (double)(last_time - first_time) / 1e9;
    uint64_t pps = received > 1 && seconds > 0 ? (uint64_t)((double)(received - 1) / seconds) : 0;
    printf("pps=%llu received=%llu gaps=%llu\n", (unsigned long long)pps, (unsigned long long)received,
           (unsigned long long)gaps);
    fprintf(stderr, "buffer_exhaustions=%llu\n", (unsigned long long)exhaustions);
    io_uring_queue_exit(&ring);
    return 0;
}
