// io_uring through liburing: one ring per reactor, one provided buffer ring per
// registered socket, multishot IORING_OP_RECVMSG into it.
//
// Built only where liburing's header was found (Package.swift defines
// FR_HAVE_LIBURING); otherwise every function reports -ENOSYS and the Swift
// backend says io_uring is not built. See include/CFeedReactor.h, section io_uring.
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fr_uring_built(void) {
#ifdef FR_HAVE_LIBURING
    return 1;
#else
    return 0;
#endif
}

int fr_uring_sysctl_disabled(void) {
    // kernel.io_uring_disabled (Linux 6.6+): 0 allowed, 1 only for
    // CAP_SYS_ADMIN or kernel.io_uring_group, 2 nobody. Missing file: older kernel.
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    if (!f) return -1;
    int value = -1;
    if (fscanf(f, "%d", &value) != 1) value = -1;
    fclose(f);
    return value;
}

#ifdef FR_HAVE_LIBURING

#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>

_Static_assert(FR_URING_CQE_F_BUFFER == IORING_CQE_F_BUFFER, "mirrored CQE flag");
_Static_assert(FR_URING_CQE_F_MORE == IORING_CQE_F_MORE, "mirrored CQE flag");
_Static_assert(FR_URING_SETUP_SINGLE_ISSUER == IORING_SETUP_SINGLE_ISSUER, "mirrored setup flag");
_Static_assert(FR_URING_SETUP_DEFER_TASKRUN == IORING_SETUP_DEFER_TASKRUN, "mirrored setup flag");
_Static_assert(FR_URING_SETUP_COOP_TASKRUN == IORING_SETUP_COOP_TASKRUN, "mirrored setup flag");
_Static_assert(sizeof(struct io_uring_recvmsg_out) == 16, "recvmsg header layout");

// Space reserved in each buffer for the source address. sockaddr_in6 is 28
// bytes; 32 keeps the control data that follows 8-byte aligned for cmsghdr.
#define FR_URING_NAME_SPACE 32u

struct fr_uring {
    struct io_uring ring;
    uint64_t enters;             // fr_uring_wait calls that entered the kernel
    int eventfd;                 // registered with IORING_REGISTER_EVENTFD, or -1
};

struct fr_uring_receiver {
    int fd;
    unsigned group;
    unsigned count;              // buffers (a power of two)
    unsigned mask;
    size_t buffer_size;          // bytes per buffer
    uint32_t payload_limit;      // ReceiveOptions.slotSize: longer payloads are cut and flagged
    struct io_uring_buf_ring *ring;
    size_t ring_bytes;
    uint8_t *buffers;
    size_t buffers_bytes;
    int registered;
    // The msghdr of a multishot recvmsg only tells the kernel how much space
    // to reserve for name and control in every buffer (io_uring/net.c,
    // io_recvmsg_multishot); it is read at issue and kept for parsing.
    struct msghdr msg;
    // Buffers handed to the handler since the last release (bounded by count:
    // a buffer is in here at most once until it goes back to the ring).
    uint16_t *taken;
    unsigned taken_count;
};

static int setup_ring(struct io_uring *ring, unsigned entries, unsigned flags) {
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = flags;
    return io_uring_queue_init_params(entries, ring, &params);
}

fr_uring *fr_uring_create(unsigned entries, int *error) {
    fr_uring *u = calloc(1, sizeof(*u));
    if (!u) { *error = ENOMEM; return NULL; }
    u->eventfd = -1;
    // DEFER_TASKRUN (6.1) runs completion work only when we ask for events, so
    // one reap returns a bounded batch and the buffer ring is not drained by
    // thousands of completions at once. SINGLE_ISSUER (6.0) is its
    // prerequisite. TASKRUN_FLAG makes the kernel set IORING_SQ_TASKRUN when
    // work is waiting, so an empty poll costs no system call. Where 6.1 is
    // missing, COOP_TASKRUN (5.19) gives the same flag without deferral.
    static const unsigned choices[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        rc = setup_ring(&u->ring, entries, choices[i]);
        if (rc != -EINVAL) break;   // EINVAL: flag unknown to this kernel, try the next
    }
    if (rc < 0) {
        free(u);
        *error = -rc;
        return NULL;
    }
    *error = 0;
    return u;
}

unsigned fr_uring_setup_flags(const fr_uring *u) { return u->ring.flags; }
uint64_t fr_uring_enter_count(const fr_uring *u) { return u->enters; }
unsigned fr_uring_cq_entries(const fr_uring *u) { return u->ring.cq.ring_entries; }

void fr_uring_destroy(fr_uring *u) {
    if (!u) return;
    io_uring_queue_exit(&u->ring);
    free(u);
}

int fr_uring_register_eventfd(fr_uring *u, int fd) {
    int rc = io_uring_register_eventfd(&u->ring, fd);
    if (rc == 0) u->eventfd = fd;
    return rc;
}

// An SQE, submitting what is queued first when the SQ is full.
static struct io_uring_sqe *get_sqe(fr_uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe) return sqe;
    int rc = io_uring_submit(&u->ring);
    if (rc < 0) return NULL;
    return io_uring_get_sqe(&u->ring);
}

int fr_uring_submit(fr_uring *u) {
    if (io_uring_sq_ready(&u->ring) == 0) return 0;
    int rc;
    do { rc = io_uring_submit(&u->ring); } while (rc == -EINTR);
    return rc;
}

int fr_uring_wait(fr_uring *u, int64_t timeout_ns) {
    struct io_uring *ring = &u->ring;
    int rc = 0;
    if (u->eventfd >= 0) {
        // Reset the host loop's eventfd before looking: whatever arrives from
        // now on signals it again, so the host never misses work.
        uint64_t value;
        ssize_t n;
        do { n = read(u->eventfd, &value, sizeof(value)); } while (n < 0 && errno == EINTR);
    }
    if (timeout_ns == 0) {
        // Enter the kernel only when there is something to submit, completion
        // work waiting (IORING_SQ_TASKRUN, from TASKRUN_FLAG) or overflowed
        // CQEs to flush; otherwise a poll is a few loads.
        unsigned kflags = IO_URING_READ_ONCE(*ring->sq.kflags);
        if (io_uring_sq_ready(ring) || (kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))) {
            u->enters++;
            rc = io_uring_submit_and_get_events(ring);
        }
    } else if (io_uring_cq_ready(ring)) {
        if (io_uring_sq_ready(ring)) u->enters++;
        rc = fr_uring_submit(u);
    } else {
        u->enters++;
        struct io_uring_cqe *cqe = NULL;
        if (timeout_ns < 0) {
            rc = io_uring_submit_and_wait(ring, 1);
        } else {
            struct __kernel_timespec ts = {
                .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
            rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
        }
    }
    // ETIME: the timeout passed; EINTR: a signal. EAGAIN/EBUSY: the kernel
    // could not flush overflowed CQEs yet; reaping what is there makes room.
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
    return (int)io_uring_cq_ready(ring);
}

unsigned fr_uring_reap(fr_uring *u, fr_uring_completion *out, unsigned max) {
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (n == max) break;
        out[n].user_data = cqe->user_data;
        out[n].result = cqe->res;
        out[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

int fr_uring_poll_multishot(fr_uring *u, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int fr_uring_cancel(fr_uring *u, uint64_t target, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

// Bytes per provided buffer: recvmsg header + address space + control + payload
// limit, at least minimum, rounded up to 64.
static size_t buffer_size(uint32_t payload_limit, size_t name_space, size_t control_size, size_t minimum) {
    size_t control = (control_size + 7) & ~(size_t)7;
    size_t size = sizeof(struct io_uring_recvmsg_out) + name_space + control + payload_limit;
    if (size < minimum) size = minimum;
    return (size + 63) & ~(size_t)63;   // cache-line aligned buffers
}

// Registers a mapped buffer ring as group `group` (IORING_REGISTER_PBUF_RING)
// and hands the kernel all `count` buffers of `size` bytes at `memory`.
// 0 or -errno.
static int register_buffer_ring(fr_uring *u, struct io_uring_buf_ring *ring, unsigned group, unsigned count,
                                unsigned mask, uint8_t *memory, size_t size) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)ring;
    reg.ring_entries = count;
    reg.bgid = (uint16_t)group;
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0) return rc;
    io_uring_buf_ring_init(ring);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(ring, memory + (size_t)i * size, (unsigned)size, (unsigned short)i, (int)mask, (int)i);
    io_uring_buf_ring_advance(ring, (int)count);
    return 0;
}

void fr_uring_receiver_destroy(fr_uring *u, fr_uring_receiver *r) {
    if (!r) return;
    if (u && r->registered) io_uring_unregister_buf_ring(&u->ring, (int)r->group);
    if (r->ring) munmap(r->ring, r->ring_bytes);
    if (r->buffers) munmap(r->buffers, r->buffers_bytes);
    free(r->taken);
    free(r);
}

fr_uring_receiver *fr_uring_receiver_create(fr_uring *u, int fd, unsigned group, unsigned count,
                                            size_t minimum_buffer_size, uint32_t payload_limit,
                                            size_t control_size, int source_addresses, int *error) {
    // Buffer rings hold a power-of-two number of entries, at most 32768
    // (io_uring/kbuf.c, io_register_pbuf_ring).
    if (count == 0 || count > 32768 || (count & (count - 1)) || group > 0xffff || payload_limit == 0) {
        *error = EINVAL;
        return NULL;
    }
    fr_uring_receiver *r = calloc(1, sizeof(*r));
    if (!r) { *error = ENOMEM; return NULL; }
    r->fd = fd;
    r->group = group;
    r->count = count;
    r->mask = (unsigned)io_uring_buf_ring_mask(count);
    r->payload_limit = payload_limit;
    // Without source addresses the kernel copies none (msg_namelen 0).
    r->msg.msg_namelen = source_addresses ? FR_URING_NAME_SPACE : 0;
    r->buffer_size = buffer_size(payload_limit, r->msg.msg_namelen, control_size, minimum_buffer_size);
    r->msg.msg_controllen = (control_size + 7) & ~(size_t)7;
    r->taken = calloc(count, sizeof(uint16_t));
    // liburing 2.3 has no io_uring_setup_buf_ring: the ring is page-aligned
    // memory we map ourselves and hand to IORING_REGISTER_PBUF_RING.
    r->ring_bytes = (count * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    r->buffers_bytes = count * r->buffer_size;
    r->ring = mmap(NULL, r->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r->ring == MAP_FAILED) r->ring = NULL;
    r->buffers = mmap(NULL, r->buffers_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r->buffers == MAP_FAILED) r->buffers = NULL;
    if (!r->taken || !r->ring || !r->buffers) {
        *error = ENOMEM;
        fr_uring_receiver_destroy(u, r);
        return NULL;
    }
    int rc = register_buffer_ring(u, r->ring, group, count, r->mask, r->buffers, r->buffer_size);
    if (rc < 0) {
        *error = -rc;
        fr_uring_receiver_destroy(u, r);
        return NULL;
    }
    r->registered = 1;
    *error = 0;
    return r;
}

size_t fr_uring_receiver_buffer_size(const fr_uring_receiver *r) { return r->buffer_size; }

int fr_uring_receiver_arm(fr_uring *u, fr_uring_receiver *r, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_recvmsg_multishot(sqe, r->fd, &r->msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = (uint16_t)r->group;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int fr_uring_receiver_datagram(fr_uring_receiver *r, int32_t result, uint32_t cqe_flags, fr_datagram *out) {
    if (!(cqe_flags & IORING_CQE_F_BUFFER)) return -EINVAL;
    unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
    if (bid >= r->count) return -EINVAL;
    // The buffer goes back to the ring at the next release, whatever it holds.
    if (r->taken_count < r->count) r->taken[r->taken_count++] = (uint16_t)bid;
    uint8_t *buffer = r->buffers + (size_t)bid * r->buffer_size;
    // Buffer layout (io_uring_prep_recvmsg_multishot(3)): io_uring_recvmsg_out,
    // then msg_namelen bytes of address, msg_controllen bytes of cmsgs, payload.
    // The CQE's result is the number of bytes used in the buffer.
    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buffer, result, &r->msg);
    if (!o) return -EINVAL;
    uint32_t flags = 0;
    uint32_t length = io_uring_recvmsg_payload_length(o, result, &r->msg);
    if (o->flags & MSG_TRUNC) flags |= FR_DGRAM_TRUNCATED;
    if (o->flags & MSG_CTRUNC) flags |= FR_DGRAM_CONTROL_TRUNCATED;
    if (length > r->payload_limit) {
        // The buffer may be larger than the slot size the registration asked
        // for; report the datagram as the epoll backend would: cut and flagged.
        length = r->payload_limit;
        flags |= FR_DGRAM_TRUNCATED;
    }
    out->data = io_uring_recvmsg_payload(o, &r->msg);
    out->length = length;
    out->name = r->msg.msg_namelen ? io_uring_recvmsg_name(o) : NULL;
    out->name_length = o->namelen < r->msg.msg_namelen ? o->namelen : r->msg.msg_namelen;
    uint32_t control = o->controllen < r->msg.msg_controllen ? o->controllen : (uint32_t)r->msg.msg_controllen;
    out->control = control ? (const uint8_t *)io_uring_recvmsg_name(o) + r->msg.msg_namelen : NULL;
    out->control_length = control;
    out->flags = flags;
    return 0;
}

unsigned fr_uring_receiver_release(fr_uring_receiver *r) {
    unsigned n = r->taken_count;
    for (unsigned i = 0; i < n; i++) {
        unsigned bid = r->taken[i];
        io_uring_buf_ring_add(r->ring, r->buffers + (size_t)bid * r->buffer_size, (unsigned)r->buffer_size,
                              (unsigned short)bid, (int)r->mask, (int)i);
    }
    // One tail store publishes them all (release ordering inside liburing).
    if (n) io_uring_buf_ring_advance(r->ring, (int)n);
    r->taken_count = 0;
    return n;
}

_Static_assert(FR_URING_CQE_F_NOTIF == IORING_CQE_F_NOTIF, "mirrored CQE flag");

static unsigned poll_mask(unsigned interest) {
    return ((interest & FR_READY_READABLE) ? POLLIN : 0) | ((interest & FR_READY_WRITABLE) ? POLLOUT : 0);
}

int fr_uring_poll_add(fr_uring *u, int fd, unsigned interest, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, poll_mask(interest));
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int fr_uring_poll_update(fr_uring *u, uint64_t target, unsigned interest, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    io_uring_prep_poll_update(sqe, target, 0, poll_mask(interest), IORING_POLL_UPDATE_EVENTS);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

unsigned fr_uring_poll_ready(int32_t result) {
    if (result < 0) return 0;
    unsigned ready = 0;
    if (result & (POLLIN | POLLPRI | POLLHUP | POLLERR | POLLRDHUP)) ready |= FR_READY_READABLE;
    if (result & (POLLOUT | POLLHUP | POLLERR)) ready |= FR_READY_WRITABLE;
    return ready;
}

struct fr_uring_sender {
    unsigned count;
    size_t size;
    uint8_t *buffers;
    struct msghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_storage *names;
    unsigned *free_list;         // a stack of free buffer indices
    unsigned free_count;
};

void fr_uring_sender_destroy(fr_uring_sender *s) {
    if (!s) return;
    free(s->buffers); free(s->msgs); free(s->iovs); free(s->names); free(s->free_list);
    free(s);
}

fr_uring_sender *fr_uring_sender_create(unsigned count, size_t size) {
    if (count == 0 || size == 0) return NULL;
    fr_uring_sender *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->count = count;
    s->size = (size + 63) & ~(size_t)63;
    // Page-aligned, as the receive slabs are (see BufferSlab).
    if (posix_memalign((void **)&s->buffers, 4096, (size_t)count * s->size) != 0) s->buffers = NULL;
    s->msgs = calloc(count, sizeof(struct msghdr));
    s->iovs = calloc(count, sizeof(struct iovec));
    s->names = calloc(count, sizeof(struct sockaddr_storage));
    s->free_list = calloc(count, sizeof(unsigned));
    if (!s->buffers || !s->msgs || !s->iovs || !s->names || !s->free_list) {
        fr_uring_sender_destroy(s);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        s->iovs[i].iov_base = s->buffers + (size_t)i * s->size;
        s->msgs[i].msg_iov = &s->iovs[i];
        s->msgs[i].msg_iovlen = 1;
        s->free_list[i] = count - 1 - i;   // hand out buffer 0 first
    }
    s->free_count = count;
    return s;
}

unsigned fr_uring_sender_available(const fr_uring_sender *s) { return s->free_count; }
size_t fr_uring_sender_buffer_size(const fr_uring_sender *s) { return s->size; }

int fr_uring_sender_fill(fr_uring_sender *s, const void *bytes, size_t length, const void *addr,
                         socklen_t addr_length) {
    if (s->free_count == 0) return -ENOBUFS;
    if (length > s->size || addr_length > sizeof(struct sockaddr_storage)) return -EMSGSIZE;
    unsigned index = s->free_list[--s->free_count];
    memcpy(s->buffers + (size_t)index * s->size, bytes, length);
    s->iovs[index].iov_len = length;
    if (addr && addr_length) {
        memcpy(&s->names[index], addr, addr_length);
        s->msgs[index].msg_name = &s->names[index];
        s->msgs[index].msg_namelen = addr_length;
    } else {
        s->msgs[index].msg_name = NULL;
        s->msgs[index].msg_namelen = 0;
    }
    return (int)index;
}

int fr_uring_files_register(fr_uring *u, unsigned count) {
    return io_uring_register_files_sparse(&u->ring, count);
}

int fr_uring_files_set(fr_uring *u, unsigned slot, int fd) {
    int rc = io_uring_register_files_update(&u->ring, slot, &fd, 1);
    return rc < 0 ? rc : 0;
}

int fr_uring_sender_prepare_chain(fr_uring *u, fr_uring_sender *s, const uint32_t *indices, unsigned n,
                                  int fd, int fixed, uint64_t data, size_t zero_copy_from) {
    unsigned space = io_uring_sq_space_left(&u->ring);
    if (n > space) n = space;
    for (unsigned k = 0; k < n; k++) {
        unsigned index = indices[k];
        // No get_sqe(): submitting here would cut the chain. (Room was checked.)
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe) return (int)k;
        struct msghdr *msg = &s->msgs[index];
        uint8_t *buffer = s->buffers + (size_t)index * s->size;
        size_t length = s->iovs[index].iov_len;
        int zero_copy = length >= zero_copy_from;
        // MSG_DONTWAIT: a full send buffer completes with -EAGAIN (REQ_F_NOWAIT)
        // instead of io_uring polling and retrying on its own, which would let
        // later sends overtake this one.
        if (msg->msg_name) {
            if (zero_copy) io_uring_prep_sendmsg_zc(sqe, fd, msg, MSG_DONTWAIT);
            else io_uring_prep_sendmsg(sqe, fd, msg, MSG_DONTWAIT);
        } else if (zero_copy) {
            io_uring_prep_send_zc(sqe, fd, buffer, length, MSG_DONTWAIT, 0);
        } else {
            io_uring_prep_send(sqe, fd, buffer, length, MSG_DONTWAIT);
        }
        if (k + 1 < n) sqe->flags |= IOSQE_IO_LINK;
        // A registered file (fd is then its index): the kernel skips fget/fput per send.
        if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, data | index);
    }
    return (int)n;
}

unsigned fr_uring_sq_space(const fr_uring *u) { return io_uring_sq_space_left(&u->ring); }

int fr_uring_submit_wait(fr_uring *u, unsigned want, int64_t timeout_ns) {
    struct __kernel_timespec ts = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    struct io_uring_cqe *cqe = NULL;
    int rc;
    u->enters++;
    do { rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, want, &ts, NULL); } while (rc == -EINTR);
    return rc == -ETIME ? 0 : rc;
}

void fr_uring_sender_release(fr_uring_sender *s, unsigned index) {
    if (index < s->count && s->free_count < s->count) s->free_list[s->free_count++] = index;
}


// MARK: TCP streams: one buffer group shared by all streams, multishot accept and recv

struct fr_uring_buffers {
    unsigned group;
    unsigned count;
    unsigned mask;
    size_t size;
    struct io_uring_buf_ring *ring;
    size_t ring_bytes;
    uint8_t *memory;
    size_t memory_bytes;
    int registered;
};

int fr_uring_probe_tcp(fr_uring *u) {
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (!probe) return -ENOMEM;
    static const int needed[] = { IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG,
                                  IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL };
    int ok = 1;
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!io_uring_opcode_supported(probe, needed[i])) ok = 0;
    io_uring_free_probe(probe);
    return ok;
}

void fr_uring_buffers_destroy(fr_uring *u, fr_uring_buffers *b) {
    if (!b) return;
    if (u && b->registered) io_uring_unregister_buf_ring(&u->ring, (int)b->group);
    if (b->ring) munmap(b->ring, b->ring_bytes);
    if (b->memory) munmap(b->memory, b->memory_bytes);
    free(b);
}

fr_uring_buffers *fr_uring_buffers_create(fr_uring *u, unsigned group, unsigned count, size_t size, int *error) {
    // Power-of-two entries, at most 32768 (io_uring/kbuf.c, io_register_pbuf_ring);
    // a CQE's result is an int, so a buffer is at most 2 GiB.
    if (count == 0 || count > 32768 || (count & (count - 1)) || group > 0xffff || size == 0 || size > (1u << 30)) {
        *error = EINVAL;
        return NULL;
    }
    fr_uring_buffers *b = calloc(1, sizeof(*b));
    if (!b) { *error = ENOMEM; return NULL; }
    b->group = group;
    b->count = count;
    b->mask = (unsigned)io_uring_buf_ring_mask(count);
    b->size = (size + 63) & ~(size_t)63;
    // liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves (page
    // aligned, as IORING_REGISTER_PBUF_RING requires) and register it by hand.
    b->ring_bytes = (count * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    b->memory_bytes = (size_t)count * b->size;
    b->ring = mmap(NULL, b->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->ring == MAP_FAILED) b->ring = NULL;
    // Pages become resident only as the kernel first fills them.
    b->memory = mmap(NULL, b->memory_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->memory == MAP_FAILED) b->memory = NULL;
    if (!b->ring || !b->memory) {
        *error = ENOMEM;
        fr_uring_buffers_destroy(u, b);
        return NULL;
    }
    int rc = register_buffer_ring(u, b->ring, group, count, b->mask, b->memory, b->size);
    if (rc < 0) {
        *error = -rc;
        fr_uring_buffers_destroy(u, b);
        return NULL;
    }
    b->registered = 1;
    *error = 0;
    return b;
}

uint8_t *fr_uring_buffers_address(const fr_uring_buffers *b, unsigned bid) {
    return b->memory + (size_t)(bid & b->mask) * b->size;
}
size_t fr_uring_buffers_size(const fr_uring_buffers *b) { return b->size; }
unsigned fr_uring_buffers_count(const fr_uring_buffers *b) { return b->count; }

void fr_uring_buffers_recycle(fr_uring_buffers *b, unsigned bid) {
    bid &= b->mask;
    io_uring_buf_ring_add(b->ring, b->memory + (size_t)bid * b->size, (unsigned)b->size, (unsigned short)bid,
                          (int)b->mask, 0);
    io_uring_buf_ring_advance(b->ring, 1);
}

unsigned fr_uring_cqe_buffer(uint32_t flags) { return flags >> IORING_CQE_BUFFER_SHIFT; }

int fr_uring_recv_multishot(fr_uring *u, int fd, unsigned group, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    // len 0: each completion fills at most one whole provided buffer.
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = (uint16_t)group;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int fr_uring_accept_multishot(fr_uring *u, int fd, uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    // No address: one sockaddr would be overwritten by each accept of the
    // multishot before its completion is read; the peer comes from getpeername.
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int fr_uring_send_stream(fr_uring *u, int fd, struct msghdr *msg, struct iovec *iov, int count, int poll_first,
                         uint64_t user_data) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) return -EBUSY;
    // No MSG_DONTWAIT: a full socket makes io_uring wait for POLLOUT and send
    // then; one send per connection is in flight, so nothing overtakes it.
    if (count == 1) {
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        memset(msg, 0, sizeof(*msg));
        msg->msg_iov = iov;
        msg->msg_iovlen = (size_t)count;
        io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    }
    if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

#else  // !FR_HAVE_LIBURING: the package builds without liburing; nothing here works.

fr_uring *fr_uring_create(unsigned entries, int *error) { (void)entries; *error = ENOSYS; return NULL; }
unsigned fr_uring_setup_flags(const fr_uring *u) { (void)u; return 0; }
uint64_t fr_uring_enter_count(const fr_uring *u) { (void)u; return 0; }
unsigned fr_uring_cq_entries(const fr_uring *u) { (void)u; return 0; }
void fr_uring_destroy(fr_uring *u) { (void)u; }
int fr_uring_register_eventfd(fr_uring *u, int fd) { (void)u; (void)fd; return -ENOSYS; }
int fr_uring_submit(fr_uring *u) { (void)u; return -ENOSYS; }
int fr_uring_wait(fr_uring *u, int64_t timeout_ns) { (void)u; (void)timeout_ns; return -ENOSYS; }
unsigned fr_uring_reap(fr_uring *u, fr_uring_completion *out, unsigned max) { (void)u; (void)out; (void)max; return 0; }
int fr_uring_poll_multishot(fr_uring *u, int fd, uint64_t user_data) { (void)u; (void)fd; (void)user_data; return -ENOSYS; }
int fr_uring_cancel(fr_uring *u, uint64_t target, uint64_t user_data) { (void)u; (void)target; (void)user_data; return -ENOSYS; }
fr_uring_receiver *fr_uring_receiver_create(fr_uring *u, int fd, unsigned group, unsigned count,
                                            size_t minimum_buffer_size, uint32_t payload_limit,
                                            size_t control_size, int source_addresses, int *error) {
    (void)u; (void)fd; (void)group; (void)count; (void)minimum_buffer_size; (void)payload_limit; (void)control_size;
    (void)source_addresses;
    *error = ENOSYS;
    return NULL;
}
size_t fr_uring_receiver_buffer_size(const fr_uring_receiver *r) { (void)r; return 0; }
void fr_uring_receiver_destroy(fr_uring *u, fr_uring_receiver *r) { (void)u; (void)r; }
int fr_uring_receiver_arm(fr_uring *u, fr_uring_receiver *r, uint64_t user_data) { (void)u; (void)r; (void)user_data; return -ENOSYS; }
int fr_uring_receiver_datagram(fr_uring_receiver *r, int32_t result, uint32_t cqe_flags, fr_datagram *out) {
    (void)r; (void)result; (void)cqe_flags; (void)out; return -ENOSYS;
}
unsigned fr_uring_receiver_release(fr_uring_receiver *r) { (void)r; return 0; }
int fr_uring_poll_add(fr_uring *u, int fd, unsigned interest, uint64_t user_data) {
    (void)u; (void)fd; (void)interest; (void)user_data; return -ENOSYS;
}
int fr_uring_poll_update(fr_uring *u, uint64_t target, unsigned interest, uint64_t user_data) {
    (void)u; (void)target; (void)interest; (void)user_data; return -ENOSYS;
}
unsigned fr_uring_poll_ready(int32_t result) { (void)result; return 0; }
fr_uring_sender *fr_uring_sender_create(unsigned count, size_t size) { (void)count; (void)size; return NULL; }
void fr_uring_sender_destroy(fr_uring_sender *s) { (void)s; }
unsigned fr_uring_sender_available(const fr_uring_sender *s) { (void)s; return 0; }
size_t fr_uring_sender_buffer_size(const fr_uring_sender *s) { (void)s; return 0; }
int fr_uring_sender_fill(fr_uring_sender *s, const void *bytes, size_t length, const void *addr,
                         socklen_t addr_length) {
    (void)s; (void)bytes; (void)length; (void)addr; (void)addr_length; return -ENOSYS;
}
int fr_uring_files_register(fr_uring *u, unsigned count) { (void)u; (void)count; return -ENOSYS; }
int fr_uring_files_set(fr_uring *u, unsigned slot, int fd) { (void)u; (void)slot; (void)fd; return -ENOSYS; }
int fr_uring_sender_prepare_chain(fr_uring *u, fr_uring_sender *s, const uint32_t *indices, unsigned n,
                                  int fd, int fixed, uint64_t data, size_t zero_copy_from) {
    (void)u; (void)s; (void)indices; (void)n; (void)fd; (void)fixed; (void)data; (void)zero_copy_from;
    return -ENOSYS;
}
unsigned fr_uring_sq_space(const fr_uring *u) { (void)u; return 0; }
int fr_uring_submit_wait(fr_uring *u, unsigned want, int64_t timeout_ns) { (void)u; (void)want; (void)timeout_ns; return -ENOSYS; }
void fr_uring_sender_release(fr_uring_sender *s, unsigned index) { (void)s; (void)index; }

int fr_uring_probe_tcp(fr_uring *u) { (void)u; return -ENOSYS; }
fr_uring_buffers *fr_uring_buffers_create(fr_uring *u, unsigned group, unsigned count, size_t size, int *error) {
    (void)u; (void)group; (void)count; (void)size; *error = ENOSYS; return NULL;
}
void fr_uring_buffers_destroy(fr_uring *u, fr_uring_buffers *b) { (void)u; (void)b; }
uint8_t *fr_uring_buffers_address(const fr_uring_buffers *b, unsigned bid) { (void)b; (void)bid; return NULL; }
size_t fr_uring_buffers_size(const fr_uring_buffers *b) { (void)b; return 0; }
unsigned fr_uring_buffers_count(const fr_uring_buffers *b) { (void)b; return 0; }
void fr_uring_buffers_recycle(fr_uring_buffers *b, unsigned bid) { (void)b; (void)bid; }
unsigned fr_uring_cqe_buffer(uint32_t flags) { return flags >> 16; }
int fr_uring_recv_multishot(fr_uring *u, int fd, unsigned group, uint64_t user_data) {
    (void)u; (void)fd; (void)group; (void)user_data; return -ENOSYS;
}
int fr_uring_accept_multishot(fr_uring *u, int fd, uint64_t user_data) { (void)u; (void)fd; (void)user_data; return -ENOSYS; }
int fr_uring_send_stream(fr_uring *u, int fd, struct msghdr *msg, struct iovec *iov, int count, int poll_first,
                         uint64_t user_data) {
    (void)u; (void)fd; (void)msg; (void)iov; (void)count; (void)poll_first; (void)user_data; return -ENOSYS;
}

#endif
