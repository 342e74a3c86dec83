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
#include <fcntl.h>
#include <poll.h>
#include <sched.h>

#define END_COPIES 20
#define MAX_BATCH 1024

static const char *USAGE =
    "--address A --port P [--interface ADDR] [--count N] [--size BYTES] [--batch B] [--timeout S] [--cpu N]";

int main(int argc, char **argv) {
    const char *program = "tx_sendmmsg";
    const char *address_text = NULL;
    struct in_addr interface = { htonl(INADDR_ANY) };
    int have_interface = 0;
    long long port = -1, count = 1000000, size = 64, batch = 64, timeout = 60, cpu = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--address")) address_text = value;
        else if (!strcmp(arg, "--port")) port = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--count")) count = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--size")) size = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--batch")) batch = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--timeout")) timeout = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--interface")) { interface = parse_ipv4(program, USAGE, value); have_interface = 1; }
        else if (!strcmp(arg, "--cpu")) cpu = parse_number(program, USAGE, value);
        else usage_error(program, USAGE, "unknown option");
    }
    if (address_text == NULL || port < 0 || port > 65535) usage_error(program, USAGE, "--address and --port are required");
    if (size < 8 || size > 65507) usage_error(program, USAGE, "--size must be 8..65507 (the sequence number takes 8 bytes)");
    if (batch < 1 || batch > MAX_BATCH) usage_error(program, USAGE, "--batch must be 1..1024");
    struct in_addr address = parse_ipv4(program, USAGE, address_text);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity(--cpu)");
    }

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                (void)poll(&p, 1, 10);
            } else {
                next += (uint64_t)sent;  /* a partial batch resends the rest next round */
            }
            if (now_ns() > deadline) {
                fprintf(stderr, "tx_sendmmsg: --timeout passed\n");
                return 2;
            }
        }
        if (phase == 0) elapsed = now_ns() - started;
    }
    printf("pps=%.0f sent=%llu refused=%llu\n", elapsed ? (double)total * 1e9 / (double)elapsed : 0.0,
           (unsigned long long)total, (unsigned long long)refused);
    return 0;
}
