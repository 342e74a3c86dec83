/*
 * Shared pieces of the C baselines (rx_epoll, rx_uring, tx_blast, tx_sendmmsg,
 * tx_uring, pingpong): argument
 * parsing, socket setup with the same rules as `feedreactor rx-bench`, the
 * sequence tracker and the result line. Header-only so each baseline stays one
 * `cc -O2 x.c` away from a binary.
 */
#ifndef FR_BENCH_COMMON_H
#define FR_BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A datagram whose first 8 bytes (little-endian) hold this ends the run. */
#define END_OF_RUN UINT64_MAX

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void store_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) { p[i] = (unsigned char)v; v >>= 8; }
}

static inline int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The value at quantile q of sorted samples (nearest rank). */
static inline uint64_t quantile(const uint64_t *sorted, size_t n, double q) {
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank == 0) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static inline void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static inline void usage_error(const char *program, const char *usage, const char *problem) {
    fprintf(stderr, "%s: %s\nusage: %s %s\n", program, problem, program, usage);
    exit(2);
}

/* The value of option argv[*i] (advancing *i past it); every option takes one. */
static inline const char *option_value(const char *program, const char *usage, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) usage_error(program, usage, "every option takes a value");
    *i += 1;
    return argv[*i];
}

static inline struct in_addr parse_ipv4(const char *program, const char *usage, const char *text) {
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1) usage_error(program, usage, "not an IPv4 address (use a.b.c.d)");
    return a;
}

static inline long long parse_number(const char *program, const char *usage, const char *text) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0) usage_error(program, usage, "expected a non-negative integer");
    return v;
}

/*
 * Receive buffer as rx-bench sets it: SO_RCVBUFFORCE as root (lifts the
 * net.core.rmem_max cap), SO_RCVBUF otherwise. The kernel doubles the request
 * for its own bookkeeping and caps the request at INT_MAX/2 (net/core/sock.c
 * __sock_set_rcvbuf).
 */
static inline void set_receive_buffer(int fd, long long bytes) {
    if (bytes <= 0) return;
    int value = bytes > 0x7fffffff ? 0x7fffffff : (int)bytes;
    int option = geteuid() == 0 ? SO_RCVBUFFORCE : SO_RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) != 0) die("setsockopt(SO_RCVBUF)");
}

/*
 * Bind a receiver as rx-bench does: to the address and port; for a multicast
 * group also join it on `interface` (INADDR_ANY lets the kernel pick by route)
 * and turn IP_MULTICAST_ALL off, so the socket gets only the groups it joined
 * (Linux default is every group joined by any socket on that port, ip(7)).
 */
static inline int open_receiver(struct in_addr address, uint16_t port, struct in_addr interface, long long rcvbuf) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("setsockopt(SO_REUSEADDR)");
    set_receive_buffer(fd, rcvbuf);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = address };
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind");
    if (IN_MULTICAST(ntohl(address.s_addr))) {
        int zero = 0;
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero) != 0) die("setsockopt(IP_MULTICAST_ALL)");
        struct ip_mreqn mreq = { .imr_multiaddr = address, .imr_address = interface, .imr_ifindex = 0 };
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) die("setsockopt(IP_ADD_MEMBERSHIP)");
    }
    return fd;
}

/* The command line every drain receiver shares with `feedreactor rx-bench`. */
#define RECEIVER_USAGE \
    "--address A --port P [--interface ADDR] [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]"

typedef struct {
    struct in_addr address, interface;
    uint16_t port;
    long long rcvbuf;
    const char *start_file;   /* NULL: start at once */
    int spin;                 /* --idle spin */
} receiver_args_t;

/* Parses RECEIVER_USAGE; exits with a usage message on anything else. */
static inline receiver_args_t parse_receiver_args(const char *program, int argc, char **argv) {
    receiver_args_t args = { .interface = { htonl(INADDR_ANY) } };
    const char *address_text = NULL;
    long long port = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, RECEIVER_USAGE, argc, argv, &i);
        if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, RECEIVER_USAGE, value);
        else if (!strcmp(arg, "--interface")) args.interface = parse_ipv4(program, RECEIVER_USAGE, value);
        else if (!strcmp(arg, "--rcvbuf")) args.rcvbuf = parse_number(program, RECEIVER_USAGE, value);
        else if (!strcmp(arg, "--start-file")) args.start_file = value;
        else if (!strcmp(arg, "--idle")) {
            if (!strcmp(value, "spin")) args.spin = 1;
            else if (strcmp(value, "block")) usage_error(program, RECEIVER_USAGE, "--idle is block or spin");
        } else usage_error(program, RECEIVER_USAGE, "unknown option");
    }
    if (address_text == NULL || port < 0 || port > 65535)
        usage_error(program, RECEIVER_USAGE, "--address and --port are required");
    args.address = parse_ipv4(program, RECEIVER_USAGE, address_text);
    args.port = (uint16_t)port;
    return args;
}

/*
 * The command line the send baselines (tx_sendmmsg, tx_uring) share with
 * `feedreactor tx-bench`, plus at most one option of the baseline's own
 * (`extra_option`, a number, e.g. "--link"; NULL: none).
 */
#define SENDER_USAGE \
    "--address A --port P [--interface ADDR] [--count N] [--size BYTES] [--batch B] [--timeout S] [--cpu N]"

typedef struct {
    struct in_addr address, interface;
    int have_interface;
    uint16_t port;
    long long count, size, batch, timeout, cpu;   /* cpu -1: not pinned */
    long long extra;                              /* extra_option's value */
} sender_args_t;

/* Parses SENDER_USAGE (batch at most max_batch); exits with a usage message on anything else. */
static inline sender_args_t parse_sender_args(const char *program, const char *usage, int argc, char **argv,
                                              long long max_batch, const char *extra_option, long long extra_default) {
    sender_args_t args = { .interface = { htonl(INADDR_ANY) }, .count = 1000000, .size = 64, .batch = 64,
                           .timeout = 60, .cpu = -1, .extra = extra_default };
    const char *address_text = NULL;
    long long port = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, usage, argc, argv, &i);
        if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, usage, value);
        else if (!strcmp(arg, "--count")) args.count = parse_number(program, usage, value);
        else if (!strcmp(arg, "--size")) args.size = parse_number(program, usage, value);
        else if (!strcmp(arg, "--batch")) args.batch = parse_number(program, usage, value);
        else if (!strcmp(arg, "--timeout")) args.timeout = parse_number(program, usage, value);
        else if (!strcmp(arg, "--interface")) { args.interface = parse_ipv4(program, usage, value); args.have_interface = 1; }
        else if (!strcmp(arg, "--cpu")) args.cpu = parse_number(program, usage, value);
        else if (extra_option != NULL && !strcmp(arg, extra_option)) args.extra = parse_number(program, usage, value);
        else usage_error(program, usage, "unknown option");
    }
    if (address_text == NULL || port < 0 || port > 65535) usage_error(program, usage, "--address and --port are required");
    if (args.size < 8 || args.size > 65507) usage_error(program, usage, "--size must be 8..65507 (the sequence number takes 8 bytes)");
    if (args.batch < 1 || args.batch > max_batch) {
        char problem[64];
        snprintf(problem, sizeof problem, "--batch must be 1..%lld", max_batch);
        usage_error(program, usage, problem);
    }
    args.address = parse_ipv4(program, usage, address_text);
    args.port = (uint16_t)port;
    return args;
}

/*
 * The sending socket as tx-bench opens it: nonblocking; for a multicast group
 * with IP_MULTICAST_LOOP (and IP_MULTICAST_IF for --interface), else bound to
 * --interface when given; connected to the destination. Pins the thread to
 * --cpu first.
 */
static inline int open_sender(const sender_args_t *args) {
    if (args->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)args->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity(--cpu)");
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    if (IN_MULTICAST(ntohl(args->address.s_addr))) {
        int one = 1;
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one) != 0) die("setsockopt(IP_MULTICAST_LOOP)");
        if (args->have_interface
            && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &args->interface, sizeof args->interface) != 0)
            die("setsockopt(IP_MULTICAST_IF)");
    } else if (args->have_interface) {
        struct sockaddr_in source = { .sin_family = AF_INET, .sin_addr = args->interface };
        if (bind(fd, (struct sockaddr *)&source, sizeof source) != 0) die("bind(--interface)");
    }
    struct sockaddr_in destination = { .sin_family = AF_INET, .sin_port = htons(args->port), .sin_addr = args->address };
    if (connect(fd, (struct sockaddr *)&destination, sizeof destination) != 0) die("connect");
    return fd;
}

/* Waits (polling every 100 µs, outside any measurement) until `path` exists. */
static inline void wait_for_file(const char *path) {
    if (path == NULL) return;
    struct stat st;
    struct timespec pause = { 0, 100000 };
    while (stat(path, &st) != 0) nanosleep(&pause, NULL);
}

/*
 * Which sequence numbers arrived: a bitmap over a window starting somewhat
 * below the first number seen (a little reordering at the start still lands in
 * it). 2^32 bits of address space reserved with MAP_NORESERVE: only the pages a
 * run touches cost memory (1,000,000 numbers touch 125 kB).
 */
#define TRACK_WINDOW_BITS (1ull << 32)
#define TRACK_MARGIN (1ull << 20)

typedef struct {
    uint64_t *bits;
    uint64_t base;
    uint64_t first, last;     /* smallest and largest sequence seen */
    uint64_t received;        /* data datagrams, duplicates included */
    uint64_t distinct;
    uint64_t duplicates;
    uint64_t outside;         /* beyond the window: counted, not placed */
    uint64_t first_ns, last_ns;
    int started;
} tracker_t;

static inline void tracker_init(tracker_t *t) {
    memset(t, 0, sizeof *t);
    t->bits = mmap(NULL, TRACK_WINDOW_BITS / 8, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (t->bits == MAP_FAILED) die("mmap(sequence bitmap)");
}

/* Records one data datagram; `now` is the clock read after the batch holding it. */
static inline void tracker_see(tracker_t *t, uint64_t seq, uint64_t now) {
    if (!t->started) {
        t->started = 1;
        t->base = seq > TRACK_MARGIN ? seq - TRACK_MARGIN : 0;
        t->first = t->last = seq;
        t->first_ns = now;
    }
    t->received++;
    t->last_ns = now;
    if (seq < t->first) t->first = seq;
    if (seq > t->last) t->last = seq;
    uint64_t offset = seq - t->base;
    if (seq < t->base || offset >= TRACK_WINDOW_BITS) { t->outside++; return; }
    uint64_t word = offset >> 6, mask = 1ull << (offset & 63);
    if (t->bits[word] & mask) { t->duplicates++; return; }
    t->bits[word] |= mask;
    t->distinct++;
}

/* Prints the one stdout line of the rx-bench contract (and details on stderr). */
static inline void tracker_report(const tracker_t *t) {
    uint64_t gaps = 0;
    double pps = 0;
    if (t->started) {
        uint64_t span = t->last - t->first + 1;
        uint64_t seen = t->distinct + t->outside;
        gaps = span > seen ? span - seen : 0;
        if (t->last_ns > t->first_ns) pps = (double)t->received * 1e9 / (double)(t->last_ns - t->first_ns);
    }
    if (t->duplicates || t->outside)
        fprintf(stderr, "duplicates=%llu outside_window=%llu\n",
                (unsigned long long)t->duplicates, (unsigned long long)t->outside);
    printf("pps=%.0f received=%llu gaps=%llu\n", pps, (unsigned long long)t->received, (unsigned long long)gaps);
    fflush(stdout);
}


/* A refused send batch: wait (at most 10 ms) until the socket takes more. */
static inline void wait_for_room(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    (void)poll(&p, 1, 10);
}

/* Exits with status 2 once the sender's --timeout has passed. */
static inline void exit_after_deadline(const char *program, uint64_t deadline) {
    if (now_ns() > deadline) {
        fprintf(stderr, "%s: --timeout passed\n", program);
        exit(2);
    }
}

/* The senders' result line, as `feedreactor tx-bench` prints it. */
static inline void print_sender_result(uint64_t total, uint64_t elapsed, uint64_t refused) {
    printf("pps=%.0f sent=%llu refused=%llu\n", elapsed ? (double)total * 1e9 / (double)elapsed : 0.0,
           (unsigned long long)total, (unsigned long long)refused);
}

#ifdef LIB_URING_H
/* A ring set up as the reactor's io_uring backend sets up its own. 0 or -errno. */
static inline int init_reactor_ring(struct io_uring *ring, unsigned entries) {
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    return io_uring_queue_init_params(entries, ring, &params);
}
#endif

#endif
