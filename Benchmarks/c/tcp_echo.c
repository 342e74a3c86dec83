/*
 * tcp_echo: the C floor for a TCP echo server with many connections, the
 * baseline of tcp.sh's echo rows beside `feedreactor tcp-bench echo` and
 * NIOTCPServer echo.
 *
 *   cc -O2 -o tcp_echo tcp_echo.c
 *   ./tcp_echo --listen 127.0.0.1:47200 [--max-connections 100000] [--idle block|spin] [--pin CPU]
 *
 * One thread, one epoll instance, level-triggered, every socket nonblocking:
 * the listener accepts (accept4) until EAGAIN; a readable connection gets one
 * read() into a shared 64 KiB buffer and one write() of what came back. Only
 * a short write keeps bytes: the rest goes to the connection's own buffer,
 * reading stops (EPOLLIN off) and EPOLLOUT goes on until it is written, so
 * memory stays bounded and nothing is reordered. EOF or an error closes the
 * connection. Says `ready` on stderr once listening; runs until killed.
 * --backend is accepted and ignored (tcp-bench's command line).
 */
#define _GNU_SOURCE
#include "tcp_common.h"
#include <sys/epoll.h>

static const char *USAGE = "--listen A:P [--max-connections N] [--idle block|spin] [--pin CPU]";

#define READ_SIZE 65536
#define EVENTS 256

/* A connection's unsent bytes after a short write (NULL while none). */
struct pending {
    unsigned char *bytes;
    size_t offset, length;
};

static struct pending *pendings; /* by descriptor */
static long long descriptors;

static void watch(int ep, int op, int fd, uint32_t events) {
    struct epoll_event event = { .events = events, .data.fd = fd };
    if (epoll_ctl(ep, op, fd, &event) != 0) die("epoll_ctl");
}

static void drop(int fd) {
    free(pendings[fd].bytes);
    pendings[fd] = (struct pending){ 0 };
    close(fd); /* (leaves the epoll set with its last descriptor) */
}

/* Writes what is pending; 1 when all of it went out, 0 when the socket is full, -1 on error. */
static int flush_pending(int fd) {
    struct pending *p = &pendings[fd];
    while (p->offset < p->length) {
        ssize_t n = write(fd, p->bytes + p->offset, p->length - p->offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        p->offset += (size_t)n;
    }
    free(p->bytes);
    *p = (struct pending){ 0 };
    return 1;
}

static void serve(struct sockaddr_in address, long long max_connections, int spin) {
    int listener = tcp_listen(address);
    int flags = fcntl(listener, F_GETFL);
    if (flags < 0 || fcntl(listener, F_SETFL, flags | O_NONBLOCK) != 0) die("fcntl(O_NONBLOCK)");
    int one = 1;
    /* Inherited by accepted sockets, as tcp-bench does (TCP_NODELAY on the listener). */
    if (setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("setsockopt(TCP_NODELAY)");
    descriptors = max_connections + 64;
    pendings = calloc((size_t)descriptors, sizeof *pendings);
    if (pendings == NULL) die("calloc");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    watch(ep, EPOLL_CTL_ADD, listener, EPOLLIN);
    static unsigned char buffer[READ_SIZE];
    static struct epoll_event events[EVENTS];
    long long live = 0;
    for (;;) {
        int n = epoll_wait(ep, events, EVENTS, spin ? 0 : -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) break;
                        if (errno == EMFILE || errno == ENFILE) break; /* the rest wait in the backlog */
                        die("accept4");
                    }
                    if (live >= max_connections || client >= descriptors) {
                        close(client);
                        continue;
                    }
                    live++;
                    watch(ep, EPOLL_CTL_ADD, client, EPOLLIN);
                }
                continue;
            }
            if (pendings[fd].bytes != NULL) {
                /* EPOLLOUT while a short write's rest waits (EPOLLIN is off meanwhile). */
                int done = (events[i].events & (EPOLLERR | EPOLLHUP)) ? -1 : flush_pending(fd);
                if (done < 0) {
                    drop(fd);
                    live--;
                } else if (done > 0) {
                    watch(ep, EPOLL_CTL_MOD, fd, EPOLLIN);
                }
                continue;
            }
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                drop(fd);
                live--;
                continue;
            }
            ssize_t sent = 0;
            while (sent < got) {
                ssize_t w = write(fd, buffer + sent, (size_t)(got - sent));
                if (w < 0) {
                    if (errno == EINTR) continue;
                    break;
                }
                sent += w;
            }
            if (sent == got) continue;
            if (errno != EAGAIN) {
                drop(fd);
                live--;
                continue;
            }
            /* The socket is full: keep the rest, stop reading until it is out. */
            struct pending *p = &pendings[fd];
            p->length = (size_t)(got - sent);
            p->offset = 0;
            p->bytes = malloc(p->length);
            if (p->bytes == NULL) die("malloc");
            memcpy(p->bytes, buffer + sent, p->length);
            watch(ep, EPOLL_CTL_MOD, fd, EPOLLOUT);
        }
    }
}

int main(int argc, char **argv) {
    const char *program = "tcp_echo";
    const char *listen_text = NULL;
    long long max_connections = 100000, pin = -1;
    int spin = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = option_value(program, USAGE, argc, argv, &i);
        if (!strcmp(arg, "--listen")) listen_text = value;
        else if (!strcmp(arg, "--max-connections")) max_connections = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--idle")) spin = !strcmp(value, "spin");
        else if (!strcmp(arg, "--pin")) pin = parse_number(program, USAGE, value);
        else if (!strcmp(arg, "--backend")) continue;
        else usage_error(program, USAGE, "unknown option");
    }
    if (listen_text == NULL) usage_error(program, USAGE, "--listen is required");
    if (max_connections < 1) usage_error(program, USAGE, "--max-connections must be at least 1");
    pin_cpu(pin);
    serve(parse_endpoint(program, USAGE, listen_text), max_connections, spin);
    return 0;
}
