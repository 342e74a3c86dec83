/*
 * tx_blast: fills a receiver's queue for the drain benchmarks.
 *
 *   cc -O2 -o tx_blast tx_blast.c
 *   ./tx_blast --address 127.0.0.1 --port 41000 --count 1000000 --size 64 [--interface 127.0.0.1] [--pin 0]
 *
 * Sends `count` datagrams of `size` bytes carrying sequence numbers 0..count-1
 * (little-endian, first 8 bytes) with sendmmsg, then the end-of-run marker
 * 2^64-1 several times (one copy would do on loopback; the spares cost nothing).
 *
 * A full receive queue drops datagrams without telling the sender, so tx_blast
 * looks: it reads the drop counter of every socket bound to the port from
 * /proc/net/udp before and after, reports `sent=<n> drops=<n> queued_bytes=<n>`
 * on stderr, and exits 3 when the receiver dropped any (the run is then
 * invalid: raise the receiver's --rcvbuf as root, or lower --count).
 */
#define _GNU_SOURCE
#include "bench_common.h"
#include <sched.h>

#define BATCH 64
#define END_COPIES 8

static const char *USAGE = "--address A --port P --count N --size BYTES [--interface ADDR] [--pin CPU]";

/*
 * Sums drops and queued bytes over the sockets bound to `port` in
 * /proc/net/udp ("sl local rem st tx_queue:rx_queue tr tm->when retrnsmt uid
 * timeout inode ref pointer drops", addresses as hex ADDR:PORT).
 */
static int udp_socket_stats(uint16_t port, unsigned long long *drops, unsigned long long *queued) {
    FILE *f = fopen("/proc/net/udp", "r");
    if (f == NULL) return -1;
    char line[512];
    int found = 0;
    *drops = 0;
    *queued = 0;
    if (fgets(line, sizeof line, f) == NULL) { fclose(f); return -1; }  /* header */
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned local_addr, local_port, rem_addr, rem_port, state, txq, rxq;
        unsigned long long dropped = 0;
        int n = sscanf(line, " %*d: %x:%x %x:%x %x %x:%x %*x:%*x %*x %*u %*u %*u %*u %*p %llu",
                       &local_addr, &local_port, &rem_addr, &rem_port, &state, &txq, &rxq, &dropped);
        if (n == 8 && local_port == port) {
            *drops += dropped;
            *queued += rxq;
            found = 1;
        }
    }
    fclose(f);
    return found ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *program = "tx_blast";
    const char *address_text = NULL;
    struct in_addr interface = { htonl(INADDR_ANY) };
    int have_interface = 0;
    long long port = -1, count = -1, size = -1, pin = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--count")) count = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--size")) size = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--interface")) { interface = parse_ipv4(program, USAGE, value); have_interface = 1; }
        else if (!strcmp(arg, "--pin")) pin = parse_number(program, USAGE, value);
        else usage_error(program, USAGE, "unknown option");
    }
    if (address_text == NULL || port < 0 || port > 65535 || count < 0 || size < 0)
        usage_error(program, USAGE, "--address, --port, --count and --size are required");
    if (size < 8 || size > 65507) usage_error(program, USAGE, "--size must be 8..65507 (the sequence number takes 8 bytes)");
    struct in_addr address = parse_ipv4(program, USAGE, address_text);

    if (pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)pin, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity(--pin)");
    }

    /* Blocking: a full send buffer waits instead of failing. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (IN_MULTICAST(ntohl(address.s_addr))) {
        int one = 1;
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one) != 0) die("setsockopt(IP_MULTICAST_LOOP)");
        if (have_interface && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface) != 0)
            die("setsockopt(IP_MULTICAST_IF)");
    } else if (have_interface) {
        struct sockaddr_in source = { .sin_family = AF_INET, .sin_addr = interface };
        if (bind(fd, (struct sockaddr *)&source, sizeof source) != 0) die("bind(--interface)");
    }
    struct sockaddr_in destination = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = address };
    if (connect(fd, (struct sockaddr *)&destination, sizeof destination) != 0) die("connect");

    unsigned long long drops_before = 0, queued_before = 0;
    int have_stats = udp_socket_stats((uint16_t)port, &drops_before, &queued_before) == 0;
    if (!have_stats) fprintf(stderr, "tx_blast: no socket bound to port %lld yet; cannot check for drops\n", port);

    unsigned char *payload = calloc(BATCH, (size_t)size);
    if (payload == NULL) die("calloc");
    struct iovec iov[BATCH];
    struct mmsghdr messages[BATCH];
    memset(messages, 0, sizeof messages);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = payload + (size_t)i * (size_t)size;
        iov[i].iov_len = (size_t)size;
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t next = 0, total = (uint64_t)count;
    uint64_t started = now_ns();
    while (next < total) {
        int n = total - next < BATCH ? (int)(total - next) : BATCH;
        for (int i = 0; i < n; i++) store_le64(iov[i].iov_base, next + (uint64_t)i);
        int sent = sendmmsg(fd, messages, (unsigned)n, 0);
        if (sent < 0) {
            if (errno == EINTR) continue;
            die("sendmmsg");
        }
        next += (uint64_t)sent;  /* a partial batch resends the rest next round */
    }
    uint64_t elapsed = now_ns() - started;
    for (int i = 0; i < END_COPIES; i++) store_le64(iov[i].iov_base, END_OF_RUN);
    for (int copies = 0; copies < END_COPIES;) {
        int sent = sendmmsg(fd, messages + copies, (unsigned)(END_COPIES - copies), 0);
        if (sent < 0) {
            if (errno == EINTR) continue;
            die("sendmmsg(end marker)");
        }
        copies += sent;
    }

    unsigned long long drops_after = 0, queued = 0;
    if (have_stats && udp_socket_stats((uint16_t)port, &drops_after, &queued) == 0) {
        unsigned long long drops = drops_after - drops_before;
        fprintf(stderr, "sent=%llu drops=%llu queued_bytes=%llu send_pps=%.0f\n", (unsigned long long)total, drops, queued,
                elapsed ? (double)total * 1e9 / (double)elapsed : 0.0);
        if (drops > 0) {
            fprintf(stderr, "tx_blast: the receiver dropped %llu datagrams (its receive queue overflowed); "
                            "raise its --rcvbuf (SO_RCVBUFFORCE needs root) or lower --count\n", drops);
            return 3;
        }
    } else {
        fprintf(stderr, "sent=%llu drops=unknown\n", (unsigned long long)total);
    }
    return 0;
}
