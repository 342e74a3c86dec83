// CFeedReactor: the only C in FeedReactor.
//
// Every symbol is prefixed `fr_`. Wrappers return a non-negative result on
// success and `-errno` on failure, so Swift never reads the thread-local errno
// after the fact. Structs that Swift code mirrors are size-checked in
// CFeedReactor.c with _Static_assert.
#ifndef C_FEED_REACTOR_H
#define C_FEED_REACTOR_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Datagram descriptors

/// One received datagram, the common currency of every backend. The pointers
/// point into the receiving socket's slab (epoll) or into a provided buffer
/// (io_uring) and stay valid until the handler's callback returns.
typedef struct fr_datagram {
    const uint8_t *data;       // payload
    const void *name;          // source address (struct sockaddr_*), may be NULL
    const void *control;       // ancillary data (cmsghdr chain), may be NULL
    uint32_t length;           // payload bytes stored (<= slot size)
    uint32_t name_length;      // bytes at name
    uint32_t control_length;   // bytes at control
    uint32_t flags;            // FR_DGRAM_* below
} fr_datagram;

#define FR_DGRAM_TRUNCATED 1u         // payload was larger than the slot (MSG_TRUNC)
#define FR_DGRAM_CONTROL_TRUNCATED 2u // ancillary data did not fit (MSG_CTRUNC)

/// struct mmsghdr, mirrored so this header needs no _GNU_SOURCE (which would
/// make its view of libc differ from Swift's Glibc module). Layout checked in C.
typedef struct fr_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} fr_mmsghdr;

// MARK: - recvmmsg / sendmmsg batches

/// Prepares `count` mmsghdr entries once, at registration: entry i receives
/// into buffers + i*slot_size, its source address into names[i] and its
/// control data into control + i*control_size (control_size may be 0).
/// `names` may be NULL: no source addresses are collected.
void fr_batch_prepare(fr_mmsghdr *msgs, struct iovec *iovs, uint8_t *buffers,
                      size_t slot_size, struct sockaddr_storage *names,
                      uint8_t *control, size_t control_size, unsigned count);

/// recvmmsg(MSG_DONTWAIT) into a prepared batch. Restores the in/out lengths the
/// kernel overwrote last time, retries EINTR, and on success fills `out` with one
/// fr_datagram per message received. Returns the count, or -errno (-EAGAIN when empty).
int fr_batch_receive(int fd, fr_mmsghdr *msgs, unsigned count,
                     size_t control_size, fr_datagram *out);

/// One datagram into the first slot of a prepared batch (recvfrom when there is
/// no control space, else recvmsg), MSG_DONTWAIT, EINTR retried; fills out[0] as
/// fr_batch_receive would. Returns 1, or -errno (-EAGAIN when empty). Cheaper
/// than recvmmsg for a socket polled while (almost always) empty.
int fr_receive_one(int fd, fr_mmsghdr *msgs, size_t control_size, fr_datagram *out);

/// sendmmsg of `count` prepared messages; retries EINTR. Returns messages sent or -errno.
int fr_sendmmsg(int fd, fr_mmsghdr *msgs, unsigned count);

/// sendto; retries EINTR. Returns bytes sent or -errno. `addr` may be NULL when connected.
ssize_t fr_sendto(int fd, const void *bytes, size_t length, const struct sockaddr *addr, socklen_t addr_length);

/// recvfrom(MSG_DONTWAIT); retries EINTR. Returns bytes or -errno.
ssize_t fr_recvfrom(int fd, void *bytes, size_t length, struct sockaddr_storage *addr, socklen_t *addr_length, int *truncated);

// MARK: - Sockets

int fr_socket_udp(int family);                 // nonblocking, close-on-exec
int fr_close(int fd);
int fr_set_nonblocking(int fd);
int fr_setsockopt_int(int fd, int level, int name, int value);
int fr_getsockopt_int(int fd, int level, int name, int *value);
int fr_bind(int fd, const struct sockaddr *addr, socklen_t length);
int fr_connect(int fd, const struct sockaddr *addr, socklen_t length);
int fr_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *length);
/// Sets SO_RCVBUF, or SO_RCVBUFFORCE when `force` (needs CAP_NET_ADMIN). Returns the
/// size the kernel reports afterwards (it doubles the request), or -errno.
int fr_set_receive_buffer(int fd, int bytes, int force);
int fr_set_send_buffer(int fd, int bytes, int force);

/// Address helpers: text <-> sockaddr. Return 0 or -EINVAL.
int fr_make_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *length);
/// Writes "a.b.c.d:port" or "[v6]:port" into out (NUL-terminated). Returns length or -errno.
int fr_format_sockaddr(const struct sockaddr *addr, char *out, size_t capacity);
/// 1 when both addresses have the same family, address, port and (IPv6) scope id.
int fr_sockaddr_equal(const void *a, const void *b);

// MARK: - epoll, eventfd, timerfd

int fr_epoll_create(void);
int fr_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_pwait2 with a nanosecond timeout (timeout_ns < 0 blocks, 0 polls);
/// falls back to epoll_wait (ms, rounded up) where epoll_pwait2 is missing.
/// Returns the number of events, 0 on timeout or EINTR, or -errno.
int fr_epoll_wait(int epfd, struct epoll_event *events, int max, int64_t timeout_ns);
uint64_t fr_epoll_event_data(const struct epoll_event *events, int index);
uint32_t fr_epoll_event_flags(const struct epoll_event *events, int index);
size_t fr_epoll_event_size(void);

int fr_eventfd(void);                          // nonblocking, close-on-exec
/// pipe2(O_NONBLOCK | O_CLOEXEC) into fds[0] (read end) and fds[1]. 0 or -errno.
int fr_pipe(int fds[2]);
/// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC). fd or -errno.
int fr_timerfd_create(void);
/// timerfd_settime: first expiry after initial_ns (0 disarms), then every interval_ns. 0 or -errno.
int fr_timerfd_set(int fd, uint64_t initial_ns, uint64_t interval_ns);
/// read / write, EINTR retried. Bytes or -errno.
ssize_t fr_read(int fd, void *bytes, size_t length);
ssize_t fr_write(int fd, const void *bytes, size_t length);
int fr_eventfd_signal(int fd);                 // adds 1; returns 0 or -errno
int fr_eventfd_drain(int fd);                  // reads the counter; 0, -EAGAIN or -errno

// MARK: - Time and threads

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t fr_monotonic_ns(void);
/// CLOCK_REALTIME in nanoseconds (for comparing with kernel receive timestamps).
uint64_t fr_realtime_ns(void);
/// Pins the calling thread to one CPU. 0 or -errno.
int fr_pin_to_cpu(int cpu);
/// Lets the calling thread run on cpus[0..<count] (sched_setaffinity). 0 or -errno.
int fr_set_affinity(const int *cpus, int count);
void fr_cpu_relax(void);                        // pause instruction in spin loops
int fr_sched_yield(void);
/// Sleeps (nanosleep) for up to ns; EINTR returns early.
void fr_sleep_ns(uint64_t ns);
int fr_geteuid(void);
/// Writes a line to stderr (for one-off notices from library code).
void fr_log_line(const char *text);
/// Writes bytes to stdout (buffered by stdio; flushed at exit).
void fr_write_stdout(const void *bytes, size_t length);
/// Writes bytes to stderr, unbuffered (progress lines).
void fr_write_stderr(const void *bytes, size_t length);

/// This thread's table of injected faults (Swift's SystemFaults), or NULL.
void *fr_thread_fault_table(void);
void fr_set_thread_fault_table(void *table);
/// The CPUs the calling thread may run on (sched_getaffinity), ascending, into
/// cpus[0..<capacity]. Their count, or -errno.
int fr_current_affinity(int *cpus, int capacity);
/// Online CPUs (sysconf(_SC_NPROCESSORS_ONLN)), or -errno.
int fr_online_cpus(void);
/// The text of an errno (strerror_r: thread-safe) into out[0..<capacity].
void fr_strerror(int errnum, char *out, size_t capacity);

// MARK: - Ancillary data (cmsg)

/// Walks the cmsghdr chain in control[0..<length] and returns a pointer to the
/// data of the first message with (level, type) and its length, or NULL.
const void *fr_cmsg_find(const void *control, size_t length, int level, int type, size_t *data_length);
/// The one cmsg walk: the header after `previous` (NULL: the first) in
/// control[0..<length], or NULL at the end or at a header that does not fit.
const struct cmsghdr *fr_cmsg_next(const void *control, size_t length, const struct cmsghdr *previous);

// MARK: - Error queue and route MTU (errqueue.c)

/// One report from a datagram socket's error queue (IP_RECVERR / IPV6_RECVERR).
typedef struct fr_error_report {
    struct sockaddr_storage destination;  // where the offending datagram was going
    uint32_t destination_length;          // 0 when the kernel gave no address
    uint32_t error;                       // ee_errno: EMSGSIZE, ECONNREFUSED, EHOSTUNREACH, ...
    uint32_t origin;                      // SO_EE_ORIGIN_* (1 local, 2 ICMP, 3 ICMPv6)
    uint32_t type;                        // ICMP type (ICMP origins)
    uint32_t code;                        // ICMP code
    uint32_t info;                        // ee_info as the kernel set it
    uint32_t mtu;                         // the MTU a "too big" report names (ICMP frag needed,
                                          // ICMPv6 packet too big, local EMSGSIZE), else 0
} fr_error_report;

/// Turns on IP_RECVERR (IPV6_RECVERR for AF_INET6): ICMP errors and local send
/// errors are queued on the socket for fr_receive_error. 0 or -errno.
int fr_enable_error_queue(int fd, int family);
/// Reads one report (recvmsg MSG_ERRQUEUE | MSG_DONTWAIT, EINTR retried): 1 with
/// `out` filled, 0 when the message carried no extended error, -EAGAIN when the
/// queue is empty, -errno otherwise.
int fr_receive_error(int fd, fr_error_report *out);
/// The kernel's MTU towards `peer` (IP_MTU / IPV6_MTU of a short-lived UDP socket
/// connected to it: the route's PMTU or its interface MTU), or -errno.
int fr_route_mtu(const struct sockaddr *peer, socklen_t length);

// MARK: - Multicast (multicast.c)

/// What fr_mc_parse_control found (bits of fr_packet_info.found).
#define FR_PKTINFO_DESTINATION 1u   // destination + interface_index (IP_PKTINFO / IPV6_PKTINFO)
#define FR_PKTINFO_TIMESTAMP 2u     // timestamp_ns (SCM_TIMESTAMPNS)

/// Per-datagram metadata read from its ancillary data, on the caller's stack.
typedef struct fr_packet_info {
    uint8_t destination[16];   // header destination (the group); IPv4 uses the first 4 bytes
    uint32_t family;           // AF_INET or AF_INET6 of destination; 0 when absent
    uint32_t interface_index;  // ingress interface
    uint64_t timestamp_ns;     // kernel receive time, CLOCK_REALTIME
    uint32_t found;            // FR_PKTINFO_* bits
} fr_packet_info;

/// Interface flags reported by fr_if_flags (our own bits, so this header needs no <net/if.h>).
#define FR_IF_UP 1u
#define FR_IF_MULTICAST 2u
#define FR_IF_LOOPBACK 4u
#define FR_IF_NAME_SIZE 16

/// Joins (join=1) or leaves (join=0) `group` on the interface with `interface_index`
/// (0: the kernel picks by route) through MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP
/// and their LEAVE twins; `source` non-NULL makes it source-specific. 0 or -errno.
int fr_mc_membership(int fd, int join, uint32_t interface_index,
                     const struct sockaddr *group, socklen_t group_length,
                     const struct sockaddr *source, socklen_t source_length);
/// Receiver options: IP(V6)_MULTICAST_ALL off, pktinfo when `packet_info`, SO_TIMESTAMPNS when
/// `timestamps`. 0 or -errno.
int fr_mc_configure_receiver(int fd, int family, int packet_info, int timestamps);
/// Sender options: outgoing interface by index, TTL / hop limit, loopback. 0 or -errno.
int fr_mc_configure_sender(int fd, int family, uint32_t interface_index, int hops, int loop);
/// Control bytes per datagram that hold IPv6 pktinfo plus a timestamp.
size_t fr_mc_control_size(void);
/// Parses pktinfo and SCM_TIMESTAMPNS from a cmsg chain in one pass; returns `out->found`.
uint32_t fr_mc_parse_control(const void *control, size_t length, fr_packet_info *out);

/// Interface index of a name, or -errno (-ENODEV when there is none).
int fr_if_nametoindex(const char *name);
/// Name of an interface index into name[FR_IF_NAME_SIZE]. 0 or -errno.
int fr_if_indextoname(uint32_t index, char *name);
/// FR_IF_* flags of an interface index. 0 or -errno.
int fr_if_flags(uint32_t index, uint32_t *flags);
/// Index of the interface holding `address` (an IPv6 scope id narrows it), or
/// -EADDRNOTAVAIL when no interface has it.
int fr_if_index_for_address(const struct sockaddr *address);
/// Moves the calling thread into the network namespace at `path`
/// (/var/run/netns/NAME) with setns(2). Needs CAP_SYS_ADMIN. 0 or -errno.
int fr_netns_enter(const char *path);

// MARK: - TCP (tcp.c)

/// A nonblocking, close-on-exec TCP socket of `family`. Descriptor or -errno.
int fr_tcp_socket(int family);
int fr_listen(int fd, int backlog);
/// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), EINTR retried. `peer` may be NULL.
/// Descriptor, or -errno (-EAGAIN when no connection is pending).
int fr_accept(int fd, struct sockaddr_storage *peer, socklen_t *length);
/// Nonblocking connect: 0 when connected at once, -EINPROGRESS while it goes on
/// (completion: writable + fr_socket_error), -errno when it failed at once.
int fr_tcp_connect(int fd, const struct sockaddr *addr, socklen_t length);
/// SO_ERROR (reading it clears it): 0, a positive errno, or -errno of getsockopt.
int fr_socket_error(int fd);
/// readv, EINTR retried. Bytes (0 at EOF) or -errno.
ssize_t fr_readv(int fd, const struct iovec *iov, int count);
/// sendmsg(MSG_NOSIGNAL | MSG_DONTWAIT) of the iovecs, EINTR retried. Bytes or -errno.
ssize_t fr_sendv(int fd, const struct iovec *iov, int count);
int fr_shutdown(int fd, int how);
int fr_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *length);
/// TCP_NODELAY and IPPROTO_TCP (netinet/tcp.h is not in Swift's Glibc view).
int fr_tcp_nodelay_option(void);
int fr_ipproto_tcp(void);
/// SO_LINGER {on, 0}: close() sends RST (abortive close). 0 or -errno.
int fr_tcp_set_linger_zero(int fd);

// MARK: - io_uring (uring.c)
//
// One ring per reactor; one provided buffer ring (buffer group) per registered
// socket, filled by a multishot IORING_OP_RECVMSG. Types are opaque so this
// header does not need liburing.h. Without liburing at build time every call
// fails with -ENOSYS (fr_uring_create sets *error = ENOSYS). Everything here
// must be called on the thread that created the ring (IORING_SETUP_SINGLE_ISSUER).

/// 1 when this build has liburing compiled in.
int fr_uring_built(void);
/// kernel.io_uring_disabled (0, 1, 2), or -1 where the sysctl does not exist.
int fr_uring_sysctl_disabled(void);

typedef struct fr_uring fr_uring;
typedef struct fr_uring_receiver fr_uring_receiver;

/// One reaped completion, copied out of the CQ so the CQ slot is free at once.
typedef struct fr_uring_completion {
    uint64_t user_data;
    int32_t result;
    uint32_t flags;
} fr_uring_completion;

#define FR_URING_CQE_F_BUFFER 1u            // IORING_CQE_F_BUFFER
#define FR_URING_CQE_F_MORE 2u              // IORING_CQE_F_MORE: the multishot goes on
#define FR_URING_SETUP_COOP_TASKRUN (1u << 8)
#define FR_URING_SETUP_SINGLE_ISSUER (1u << 12)
#define FR_URING_SETUP_DEFER_TASKRUN (1u << 13)

/// Creates a ring with SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG, falling back to
/// SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG where DEFER_TASKRUN is unknown. NULL
/// with *error = errno on failure (EINVAL: kernel older than 6.0).
fr_uring *fr_uring_create(unsigned entries, int *error);
unsigned fr_uring_setup_flags(const fr_uring *u);
/// How many fr_uring_wait calls entered the kernel (tests check empty polls do not).
uint64_t fr_uring_enter_count(const fr_uring *u);
unsigned fr_uring_cq_entries(const fr_uring *u);
/// Tears the ring down (cancelling what is in flight). Receivers are destroyed after.
void fr_uring_destroy(fr_uring *u);
/// IORING_REGISTER_EVENTFD: the eventfd (nonblocking) is signalled when
/// completions or deferred completion work are pending; fr_uring_wait resets it
/// before it looks. 0 or -errno.
int fr_uring_register_eventfd(fr_uring *u, int fd);
/// Submits queued SQEs (if any). Count or -errno.
int fr_uring_submit(fr_uring *u);
/// Submits queued SQEs and waits for completions: timeout_ns 0 peeks (entering
/// the kernel only when IORING_SQ_TASKRUN/overflow says work is waiting), < 0
/// blocks, > 0 waits at most that long. Returns completions ready (0 on timeout
/// or EINTR) or -errno (-EEXIST: called from a thread other than the creator's).
int fr_uring_wait(fr_uring *u, int64_t timeout_ns);
/// Copies up to max ready completions into out and frees their CQ slots.
unsigned fr_uring_reap(fr_uring *u, fr_uring_completion *out, unsigned max);
/// Queues a multishot POLLIN poll on fd (for the cross-thread wakeup eventfd).
int fr_uring_poll_multishot(fr_uring *u, int fd, uint64_t user_data);
/// Queues IORING_OP_ASYNC_CANCEL of the request whose user_data is target.
int fr_uring_cancel(fr_uring *u, uint64_t target, uint64_t user_data);
/// Maps and registers a buffer ring of `count` buffers (a power of two <= 32768)
/// as buffer group `group` for socket fd. Payloads longer than payload_limit are
/// cut and flagged truncated; source_addresses 0 makes the kernel copy no source
/// address (datagrams then have name NULL). NULL with *error = errno on failure.
fr_uring_receiver *fr_uring_receiver_create(fr_uring *u, int fd, unsigned group, unsigned count,
                                            size_t minimum_buffer_size, uint32_t payload_limit,
                                            size_t control_size, int source_addresses, int *error);
size_t fr_uring_receiver_buffer_size(const fr_uring_receiver *r);
/// Unregisters the buffer group (when u is not NULL) and frees its memory. Only
/// after the receiver's multishot has ended (or the ring was destroyed).
void fr_uring_receiver_destroy(fr_uring *u, fr_uring_receiver *r);
/// Queues the multishot recvmsg with buffer selection from the receiver's group.
int fr_uring_receiver_arm(fr_uring *u, fr_uring_receiver *r, uint64_t user_data);
/// Fills *out from a recvmsg completion (result and CQE flags) and remembers its
/// buffer for the next release. 0, or -EINVAL for a completion without a valid
/// buffer (its buffer, if any, is still released).
int fr_uring_receiver_datagram(fr_uring_receiver *r, int32_t result, uint32_t cqe_flags, fr_datagram *out);
/// Gives every buffer taken since the last release back to the kernel. Returns how many.
unsigned fr_uring_receiver_release(fr_uring_receiver *r);

// Plain descriptor readiness: one-shot polls, re-armed after each completion
// (a one-shot poll checks readiness when issued, which makes it level-triggered).
#define FR_READY_READABLE 1u
#define FR_READY_WRITABLE 2u
/// Queues a one-shot poll on fd for `interest` (FR_READY_* bits; 0 still hears
/// POLLERR/POLLHUP).
int fr_uring_poll_add(fr_uring *u, int fd, unsigned interest, uint64_t user_data);
/// Queues an update of the poll `target` to `interest` (IORING_POLL_UPDATE_EVENTS);
/// its own completion carries user_data (-ENOENT when the poll had completed).
int fr_uring_poll_update(fr_uring *u, uint64_t target, unsigned interest, uint64_t user_data);
/// FR_READY_* bits of a poll completion's revents (errors and hangups count as both).
unsigned fr_uring_poll_ready(int32_t result);

// Sends: a pool of `count` send buffers of `size` bytes each, with their msghdr,
// iovec and address; one per SQE in flight, returned at its completion.
typedef struct fr_uring_sender fr_uring_sender;
#define FR_URING_CQE_F_NOTIF 8u             // IORING_CQE_F_NOTIF: a zero-copy send's buffer is free
fr_uring_sender *fr_uring_sender_create(unsigned count, size_t size);
void fr_uring_sender_destroy(fr_uring_sender *s);
unsigned fr_uring_sender_available(const fr_uring_sender *s);
size_t fr_uring_sender_buffer_size(const fr_uring_sender *s);
/// Copies a datagram (and its destination; addr NULL: the connected peer) into a
/// free buffer. Returns the buffer index, -ENOBUFS when none is free, -EMSGSIZE.
int fr_uring_sender_fill(fr_uring_sender *s, const void *bytes, size_t length, const void *addr,
                         socklen_t addr_length);
/// Queues one chain of send SQEs for the filled buffers indices[0..n), in that
/// order: IORING_OP_SENDMSG to a buffer's address (IORING_OP_SEND without one: a
/// connected socket), their _ZC forms for buffers of at least zero_copy_from
/// bytes, always MSG_DONTWAIT (a full socket completes with -EAGAIN); each but
/// the last with IOSQE_IO_LINK (the next waits for it); IOSQE_FIXED_FILE when
/// fixed (fd is then an index of the registered file table). user_data is
/// data | index. Takes only as many as the SQ has room for, so a chain is never
/// cut by a missing SQE: returns how many it queued (the first ones).
int fr_uring_sender_prepare_chain(fr_uring *u, fr_uring_sender *s, const uint32_t *indices, unsigned n,
                                  int fd, int fixed, uint64_t data, size_t zero_copy_from);
/// Registers an empty (sparse) file table of `count` slots: 0 or -errno
/// (-EMFILE above RLIMIT_NOFILE).
int fr_uring_files_register(fr_uring *u, unsigned count);
/// Puts fd (-1: none) into slot `slot` of the registered file table: 0 or -errno.
int fr_uring_files_set(fr_uring *u, unsigned slot, int fd);
/// Free SQ entries.
unsigned fr_uring_sq_space(const fr_uring *u);
/// Submits and waits until `want` completions are ready or timeout_ns passed
/// (send chains: with DEFER_TASKRUN each link runs as task work, one step per
/// plain enter; waiting for the chain's completions runs it whole in this one).
/// Submitted count, or -errno.
int fr_uring_submit_wait(fr_uring *u, unsigned want, int64_t timeout_ns);
/// Returns a buffer to the pool (at its send's final completion).
void fr_uring_sender_release(fr_uring_sender *s, unsigned index);

// MARK: - io_uring TCP streams (uring.c)
//
// One provided-buffer ring (one buffer group) shared by every TCP stream of a
// reactor, filled by multishot IORING_OP_RECV; multishot IORING_OP_ACCEPT for
// listeners; IORING_OP_SEND / SENDMSG of a connection's send-ring spans.

typedef struct fr_uring_buffers fr_uring_buffers;
/// 1 when the kernel supports every opcode the TCP completion path needs
/// (ACCEPT, RECV, SEND, SENDMSG, POLL_ADD, ASYNC_CANCEL), 0 when one is
/// missing, -errno when the probe itself failed.
int fr_uring_probe_tcp(fr_uring *u);
/// Registers `count` (a power of two, at most 32768) buffers of `size` bytes as
/// buffer group `group`, all handed to the kernel. NULL with *error on failure.
fr_uring_buffers *fr_uring_buffers_create(fr_uring *u, unsigned group, unsigned count, size_t size, int *error);
/// Unregisters (when `u` is not NULL) and unmaps.
void fr_uring_buffers_destroy(fr_uring *u, fr_uring_buffers *b);
/// The memory of buffer `bid` (from a CQE's IORING_CQE_BUFFER_SHIFT bits).
uint8_t *fr_uring_buffers_address(const fr_uring_buffers *b, unsigned bid);
size_t fr_uring_buffers_size(const fr_uring_buffers *b);
unsigned fr_uring_buffers_count(const fr_uring_buffers *b);
/// Hands buffer `bid` back to the kernel (visible to it at once).
void fr_uring_buffers_recycle(fr_uring_buffers *b, unsigned bid);
/// The buffer id a CQE names (valid when its flags have FR_URING_CQE_F_BUFFER).
unsigned fr_uring_cqe_buffer(uint32_t flags);
/// Queues a multishot recv on `fd` picking buffers from `group`. 0 or -EBUSY.
int fr_uring_recv_multishot(fr_uring *u, int fd, unsigned group, uint64_t user_data);
/// Queues a multishot accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) on `fd`; each CQE's
/// result is a new descriptor (or -errno). 0 or -EBUSY.
int fr_uring_accept_multishot(fr_uring *u, int fd, uint64_t user_data);
/// Queues a send of `iov[0..<count]` (1: IORING_OP_SEND, 2: SENDMSG through
/// `msg`, which must stay valid until the completion) with MSG_NOSIGNAL;
/// `poll_first` waits for POLLOUT before trying (after an -EAGAIN). 0 or -EBUSY.
int fr_uring_send_stream(fr_uring *u, int fd, struct msghdr *msg, struct iovec *iov, int count, int poll_first,
                         uint64_t user_data);

#ifdef __cplusplus
}
#endif
#endif
