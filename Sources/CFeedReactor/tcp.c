// TCP system calls of FeedReactor. See include/CFeedReactor.h ("TCP").
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

int fr_tcp_socket(int family) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int fr_listen(int fd, int backlog) {
    return listen(fd, backlog) < 0 ? -errno : 0;
}

int fr_accept(int fd, struct sockaddr_storage *peer, socklen_t *length) {
    // accept4 sets both flags atomically: no window in which a fork could
    // inherit the descriptor, and no fcntl per connection.
    int c;
    do {
        if (peer) *length = sizeof(*peer);
        c = accept4(fd, (struct sockaddr *)peer, peer ? length : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (c < 0 && errno == EINTR);
    return c < 0 ? -errno : c;
}

int fr_tcp_connect(int fd, const struct sockaddr *addr, socklen_t length) {
    // A nonblocking connect answers EINPROGRESS and completes later (the socket
    // turns writable; SO_ERROR says how it went). connect(2): EINTR also leaves
    // the attempt running asynchronously, so it is reported as in progress.
    if (connect(fd, addr, length) == 0) return 0;
    if (errno == EINTR) return -EINPROGRESS;
    return -errno;
}

int fr_socket_error(int fd) {
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) < 0) return -errno;
    return value;
}

ssize_t fr_readv(int fd, const struct iovec *iov, int count) {
    ssize_t n;
    do {
        n = readv(fd, iov, count);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t fr_sendv(int fd, const struct iovec *iov, int count) {
    // writev cannot take MSG_NOSIGNAL; sendmsg with the same iovecs can. A peer
    // that reset the connection then yields EPIPE here, not a SIGPIPE that
    // kills the process.
    struct msghdr message = {0};
    message.msg_iov = (struct iovec *)iov;
    message.msg_iovlen = (size_t)count;
    ssize_t n;
    do {
        n = sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int fr_shutdown(int fd, int how) {
    return shutdown(fd, how) < 0 ? -errno : 0;
}

int fr_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *length) {
    *length = sizeof(*addr);
    return getpeername(fd, (struct sockaddr *)addr, length) < 0 ? -errno : 0;
}

int fr_tcp_nodelay_option(void) { return TCP_NODELAY; }
int fr_ipproto_tcp(void) { return IPPROTO_TCP; }

int fr_tcp_set_linger_zero(int fd) {
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0 ? -errno : 0;
}
