// Plain descriptors for the reactor's descriptor registrations and their
// tests: pipes, timerfds, read/write. See include/CFeedReactor.h.
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/timerfd.h>

int fr_pipe(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0 ? -errno : 0;
}

int fr_timerfd_create(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int fr_timerfd_set(int fd, uint64_t initial_ns, uint64_t interval_ns) {
    struct itimerspec spec = {
        .it_interval = { .tv_sec = (time_t)(interval_ns / 1000000000u), .tv_nsec = (long)(interval_ns % 1000000000u) },
        .it_value = { .tv_sec = (time_t)(initial_ns / 1000000000u), .tv_nsec = (long)(initial_ns % 1000000000u) },
    };
    return timerfd_settime(fd, 0, &spec, NULL) < 0 ? -errno : 0;
}

ssize_t fr_read(int fd, void *bytes, size_t length) {
    ssize_t n;
    do { n = read(fd, bytes, length); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t fr_write(int fd, const void *bytes, size_t length) {
    ssize_t n;
    do { n = write(fd, bytes, length); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}
