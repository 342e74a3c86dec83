// The system-call seam of FeedReactor. See include/CFeedReactor.h.
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

// Swift code walks these through the C accessors only, but the batch layout
// relies on them; a libc that changed them would silently corrupt the slab.
_Static_assert(sizeof(struct sockaddr_storage) == 128, "sockaddr_storage size");
_Static_assert(sizeof(fr_datagram) == 40, "fr_datagram layout mirrored by Swift");
_Static_assert(sizeof(struct mmsghdr) == sizeof(fr_mmsghdr), "fr_mmsghdr mirrors struct mmsghdr");
_Static_assert(offsetof(struct mmsghdr, msg_len) == offsetof(fr_mmsghdr, msg_len), "fr_mmsghdr mirrors struct mmsghdr");
_Static_assert(sizeof(struct iovec) == 16, "iovec size assumed by the slab layout");

void fr_batch_prepare(fr_mmsghdr *msgs, struct iovec *iovs, uint8_t *buffers,
                      size_t slot_size, struct sockaddr_storage *names,
                      uint8_t *control, size_t control_size, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
        iovs[i].iov_base = buffers + (size_t)i * slot_size;
        iovs[i].iov_len = slot_size;
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        // names == NULL: the caller does not want source addresses; the kernel
        // then skips copying them.
        msgs[i].msg_hdr.msg_name = names ? &names[i] : NULL;
        msgs[i].msg_hdr.msg_namelen = names ? sizeof(struct sockaddr_storage) : 0;
        msgs[i].msg_hdr.msg_control = control_size ? control + (size_t)i * control_size : NULL;
        msgs[i].msg_hdr.msg_controllen = control_size;
    }
}

int fr_batch_receive(int fd, fr_mmsghdr *msgs, unsigned count,
                     size_t control_size, fr_datagram *out) {
    // The kernel overwrites msg_namelen and msg_controllen with what it
    // stored; both are in/out parameters and must be restored before reuse.
    const socklen_t name_size = msgs[0].msg_hdr.msg_name ? sizeof(struct sockaddr_storage) : 0;
    for (unsigned i = 0; i < count; i++) {
        msgs[i].msg_hdr.msg_namelen = name_size;
        msgs[i].msg_hdr.msg_controllen = control_size;
    }
    int n;
    do {
        n = recvmmsg(fd, (struct mmsghdr *)msgs, count, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        const struct msghdr *h = &msgs[i].msg_hdr;
        uint32_t stored = msgs[i].msg_len;
        uint32_t flags = 0;
        if (h->msg_flags & MSG_TRUNC) {
            // recvmmsg reports the stored length; the datagram was longer.
            flags |= FR_DGRAM_TRUNCATED;
            if (stored > h->msg_iov[0].iov_len) stored = (uint32_t)h->msg_iov[0].iov_len;
        }
        if (h->msg_flags & MSG_CTRUNC) flags |= FR_DGRAM_CONTROL_TRUNCATED;
        out[i].data = (const uint8_t *)h->msg_iov[0].iov_base;
        out[i].length = stored;
        out[i].name = h->msg_name;
        out[i].name_length = h->msg_namelen;
        out[i].control = h->msg_controllen ? h->msg_control : NULL;
        out[i].control_length = (uint32_t)h->msg_controllen;
        out[i].flags = flags;
    }
    return n;
}

int fr_receive_one(int fd, fr_mmsghdr *msgs, size_t control_size, fr_datagram *out) {
    struct msghdr *h = &msgs[0].msg_hdr;
    const socklen_t name_size = h->msg_name ? sizeof(struct sockaddr_storage) : 0;
    const size_t slot = h->msg_iov[0].iov_len;
    ssize_t n;
    uint32_t flags = 0;
    if (control_size == 0) {
        // recvfrom takes the buffer as is; recvmsg would copy a msghdr and an
        // iovec in from user space first. MSG_TRUNC makes it return the
        // datagram's real length, so a cut one is recognised.
        socklen_t name_length = name_size;
        do {
            n = recvfrom(fd, h->msg_iov[0].iov_base, slot, MSG_DONTWAIT | MSG_TRUNC,
                         (struct sockaddr *)h->msg_name, name_size ? &name_length : NULL);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return -errno;
        h->msg_namelen = name_size ? name_length : 0;
        h->msg_controllen = 0;
        if ((size_t)n > slot) {
            flags |= FR_DGRAM_TRUNCATED;
            n = (ssize_t)slot;
        }
    } else {
        h->msg_namelen = name_size;
        h->msg_controllen = control_size;
        do {
            n = recvmsg(fd, h, MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return -errno;
        if (h->msg_flags & MSG_TRUNC) flags |= FR_DGRAM_TRUNCATED;
        if (h->msg_flags & MSG_CTRUNC) flags |= FR_DGRAM_CONTROL_TRUNCATED;
    }
    out[0].data = (const uint8_t *)h->msg_iov[0].iov_base;
    out[0].length = (uint32_t)n;
    out[0].name = h->msg_name;
    out[0].name_length = h->msg_namelen;
    out[0].control = h->msg_controllen ? h->msg_control : NULL;
    out[0].control_length = (uint32_t)h->msg_controllen;
    out[0].flags = flags;
    return 1;
}

int fr_sendmmsg(int fd, fr_mmsghdr *msgs, unsigned count) {
    int n;
    do {
        n = sendmmsg(fd, (struct mmsghdr *)msgs, count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t fr_sendto(int fd, const void *bytes, size_t length, const struct sockaddr *addr, socklen_t addr_length) {
    ssize_t n;
    do {
        n = sendto(fd, bytes, length, MSG_DONTWAIT, addr, addr ? addr_length : 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t fr_recvfrom(int fd, void *bytes, size_t length, struct sockaddr_storage *addr, socklen_t *addr_length, int *truncated) {
    ssize_t n;
    socklen_t len = sizeof(struct sockaddr_storage);
    do {
        n = recvfrom(fd, bytes, length, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)addr, &len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (addr_length) *addr_length = len;
    if (truncated) *truncated = (size_t)n > length;
    return (size_t)n > length ? (ssize_t)length : n;
}

int fr_socket_udp(int family) {
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    return fd < 0 ? -errno : fd;
}

int fr_close(int fd) {
    // close() must not be retried on EINTR on Linux: the descriptor is gone.
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

int fr_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
}

int fr_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

int fr_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof(*value);
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

int fr_bind(int fd, const struct sockaddr *addr, socklen_t length) {
    return bind(fd, addr, length) < 0 ? -errno : 0;
}

int fr_connect(int fd, const struct sockaddr *addr, socklen_t length) {
    return connect(fd, addr, length) < 0 ? -errno : 0;
}

int fr_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *length) {
    *length = sizeof(*addr);
    return getsockname(fd, (struct sockaddr *)addr, length) < 0 ? -errno : 0;
}

static int set_buffer(int fd, int plain, int forced, int bytes, int force) {
    int rc = fr_setsockopt_int(fd, SOL_SOCKET, force ? forced : plain, bytes);
    if (rc < 0) return rc;
    int actual = 0;
    rc = fr_getsockopt_int(fd, SOL_SOCKET, plain, &actual);
    return rc < 0 ? rc : actual;
}

int fr_set_receive_buffer(int fd, int bytes, int force) {
    return set_buffer(fd, SO_RCVBUF, SO_RCVBUFFORCE, bytes, force);
}

int fr_set_send_buffer(int fd, int bytes, int force) {
    return set_buffer(fd, SO_SNDBUF, SO_SNDBUFFORCE, bytes, force);
}

int fr_make_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *length) {
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *length = sizeof(*v4);
        return 0;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    // Accept "fe80::1%3" (numeric scope id) for link-local addresses.
    char buffer[INET6_ADDRSTRLEN + 16];
    const char *percent = strchr(host, '%');
    const char *address = host;
    if (percent) {
        size_t n = (size_t)(percent - host);
        if (n >= sizeof(buffer)) return -EINVAL;
        memcpy(buffer, host, n);
        buffer[n] = 0;
        address = buffer;
        char *end = NULL;
        unsigned long scope = strtoul(percent + 1, &end, 10);
        if (!end || *end != 0 || end == percent + 1) return -EINVAL;
        v6->sin6_scope_id = (uint32_t)scope;
    }
    if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *length = sizeof(*v6);
        return 0;
    }
    return -EINVAL;
}

int fr_format_sockaddr(const struct sockaddr *addr, char *out, size_t capacity) {
    char text[INET6_ADDRSTRLEN];
    int n;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        n = snprintf(out, capacity, "%s:%u", text, ntohs(v4->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
        if (v6->sin6_scope_id)
            n = snprintf(out, capacity, "[%s%%%u]:%u", text, v6->sin6_scope_id, ntohs(v6->sin6_port));
        else
            n = snprintf(out, capacity, "[%s]:%u", text, ntohs(v6->sin6_port));
    } else {
        n = snprintf(out, capacity, "<family %d>", addr->sa_family);
    }
    return n < 0 ? -EINVAL : n;
}

int fr_sockaddr_equal(const void *a, const void *b) {
    const struct sockaddr *sa = a, *sb = b;
    if (sa->sa_family != sb->sa_family) return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *x = a, *y = b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = a, *y = b;
        // The scope id is part of the identity: fe80::1%2 and fe80::1%3 are
        // different hosts on different links (RFC 4007 section 6).
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

int fr_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int fr_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev) < 0 ? -errno : 0;
}

int fr_epoll_wait(int epfd, struct epoll_event *events, int max, int64_t timeout_ns) {
    // A poll (0), forever (-1) or whole milliseconds need no timespec: plain
    // epoll_wait skips pwait2's timespec copy and sigmask handling, ~12% of a
    // busy-polling loop's time.
    if (timeout_ns <= 0 || timeout_ns % 1000000 == 0) {
        int n = epoll_wait(epfd, events, max, timeout_ns < 0 ? -1 : (int)(timeout_ns / 1000000));
        if (n < 0) return errno == EINTR ? 0 : -errno;
        return n;
    }
#ifdef SYS_epoll_pwait2
    // Shared by every reactor thread: an atomic, so the first thread to learn
    // that the kernel lacks epoll_pwait2 (ENOSYS) tells the others race-free.
    static atomic_int have_pwait2 = 1;
    if (atomic_load_explicit(&have_pwait2, memory_order_relaxed)) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        long n = syscall(SYS_epoll_pwait2, epfd, events, max, tsp, NULL, 0);
        if (n >= 0) return (int)n;
        if (errno == EINTR) return 0;
        if (errno != ENOSYS) return -errno;
        atomic_store_explicit(&have_pwait2, 0, memory_order_relaxed);
    }
#endif
    int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
    int n = epoll_wait(epfd, events, max, ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    return n;
}

uint64_t fr_epoll_event_data(const struct epoll_event *events, int index) {
    return events[index].data.u64;
}

uint32_t fr_epoll_event_flags(const struct epoll_event *events, int index) {
    return events[index].events;
}

size_t fr_epoll_event_size(void) { return sizeof(struct epoll_event); }

int fr_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int fr_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    // EAGAIN means the counter is saturated: the reader is already due to wake.
    if (n < 0 && errno != EAGAIN) return -errno;
    return 0;
}

int fr_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t n;
    do {
        n = read(fd, &value, sizeof(value));
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

uint64_t fr_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t fr_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int fr_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

int fr_set_affinity(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

void fr_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int fr_sched_yield(void) { return sched_yield(); }

void fr_sleep_ns(uint64_t ns) {
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
    nanosleep(&ts, NULL);
}

int fr_geteuid(void) { return (int)geteuid(); }

void fr_write_stdout(const void *bytes, size_t length) {
    fwrite(bytes, 1, length, stdout);
}

void fr_write_stderr(const void *bytes, size_t length) {
    fwrite(bytes, 1, length, stderr);
}

void fr_log_line(const char *text) {
    fprintf(stderr, "%s\n", text);
}

const struct cmsghdr *fr_cmsg_next(const void *control, size_t length, const struct cmsghdr *previous) {
    if (!control || length < sizeof(struct cmsghdr)) return NULL;
    struct msghdr h;
    memset(&h, 0, sizeof(h));
    h.msg_control = (void *)control;
    h.msg_controllen = length;
    const struct cmsghdr *c = previous ? CMSG_NXTHDR(&h, (struct cmsghdr *)previous) : CMSG_FIRSTHDR(&h);
    if (!c) return NULL;
    // CMSG_NXTHDR bounds each step by msg_controllen, but CMSG_FIRSTHDR does not
    // check the first header's cmsg_len: check every header against the end, so
    // a chain cut short (MSG_CTRUNC) or bytes that are not a chain at all end
    // the walk instead of reading past the buffer.
    const char *end = (const char *)control + length;
    if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > (size_t)(end - (const char *)c)) return NULL;
    return c;
}

const void *fr_cmsg_find(const void *control, size_t length, int level, int type, size_t *data_length) {
    for (const struct cmsghdr *c = fr_cmsg_next(control, length, NULL); c; c = fr_cmsg_next(control, length, c)) {
        if (c->cmsg_level == level && c->cmsg_type == type) {
            if (data_length) *data_length = c->cmsg_len - CMSG_LEN(0);
            return CMSG_DATA((struct cmsghdr *)c);
        }
    }
    return NULL;
}

// MARK: - Threads (ReactorThread, ReactorGroup) and per-thread fault injection

// Swift Testing runs suites in parallel on several threads: each thread has its
// own table of injected faults, found through this thread-local slot.
static __thread void *fr_fault_table_slot;

void *fr_thread_fault_table(void) { return fr_fault_table_slot; }

void fr_set_thread_fault_table(void *table) { fr_fault_table_slot = table; }

int fr_current_affinity(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) < 0) return -errno;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}

int fr_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 0 ? -errno : (int)n;
}

void fr_strerror(int errnum, char *out, size_t capacity) {
    // The GNU strerror_r may return a static string instead of filling `out`.
    const char *text = strerror_r(errnum, out, capacity);
    if (text != out) snprintf(out, capacity, "%s", text);
}
