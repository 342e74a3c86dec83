/*
 * TCP pieces of the C baselines (tcp_bulk, tcp_pingpong): "ADDR:PORT" parsing
 * as `feedreactor tcp-bench` takes it, listening and connecting sockets.
 */
#ifndef FR_TCP_COMMON_H
#define FR_TCP_COMMON_H

#include "bench_common.h"
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sched.h>

/* "a.b.c.d:port" into a sockaddr_in. */
static inline struct sockaddr_in parse_endpoint(const char *program, const char *usage, const char *text) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof host) usage_error(program, usage, "expected ADDR:PORT");
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    long long port = parse_number(program, usage, colon + 1);
    if (port > 65535) usage_error(program, usage, "port must be 0..65535");
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr = parse_ipv4(program, usage, host) };
    return sin;
}

/* A listening socket (SO_REUSEADDR, backlog 1024); says `ready` on stderr. */
static inline int tcp_listen(struct sockaddr_in address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("setsockopt(SO_REUSEADDR)");
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
    if (listen(fd, 1024) != 0) die("listen");
    fprintf(stderr, "ready\n");
    fflush(stderr);
    return fd;
}

/* A blocking connected socket with TCP_NODELAY. */
static inline int tcp_connect(struct sockaddr_in address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) die("connect");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt(TCP_NODELAY)");
    return fd;
}

static inline void pin_cpu(long long cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity(--pin)");
}

#endif
