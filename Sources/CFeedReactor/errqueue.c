// A datagram socket's error queue (IP_RECVERR / IPV6_RECVERR) and the kernel's
// path MTU towards a peer. See include/CFeedReactor.h ("Error queue").
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>

int fr_enable_error_queue(int fd, int family) {
    int on = 1;
    if (family == AF_INET6) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on)) < 0) return -errno;
        // A dual-stack socket talks IPv4 through mapped addresses; their ICMPv4
        // errors follow the IPv4 option. Best effort: a v6-only socket may refuse it.
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
        return 0;
    }
    return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) < 0 ? -errno : 0;
}

int fr_receive_error(int fd, fr_error_report *out) {
    // The queued skb carries the start of the offending datagram; we want only
    // the report, so a 1-byte buffer (MSG_TRUNC in the flags) is enough.
    uint8_t data[1];
    // sock_extended_err (16) + offender address (up to sockaddr_in6, 28), aligned.
    uint64_t control[64 / sizeof(uint64_t)];
    struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
    struct msghdr message;
    memset(&message, 0, sizeof(message));
    memset(out, 0, sizeof(*out));
    message.msg_name = &out->destination;
    message.msg_namelen = sizeof(out->destination);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    out->destination_length = message.msg_namelen;
    // The one cmsg walk (fr_cmsg_next), through fr_cmsg_find.
    size_t length = 0;
    const void *found = fr_cmsg_find(control, message.msg_controllen, IPPROTO_IP, IP_RECVERR, &length);
    if (!found) found = fr_cmsg_find(control, message.msg_controllen, IPPROTO_IPV6, IPV6_RECVERR, &length);
    if (!found || length < sizeof(struct sock_extended_err)) return 0;
    struct sock_extended_err report;
    memcpy(&report, found, sizeof(report));
    out->error = report.ee_errno;
    out->origin = report.ee_origin;
    out->type = report.ee_type;
    out->code = report.ee_code;
    out->info = report.ee_info;
    // ee_info is the next-hop MTU for ICMP "fragmentation needed" (RFC 1191),
    // ICMPv6 "packet too big" (RFC 8201), and a local EMSGSIZE (ip_local_error
    // passes the route's MTU); for anything else it means something different.
    int frag_needed = report.ee_origin == SO_EE_ORIGIN_ICMP && report.ee_type == ICMP_DEST_UNREACH
        && report.ee_code == ICMP_FRAG_NEEDED;
    int too_big = report.ee_origin == SO_EE_ORIGIN_ICMP6 && report.ee_type == ICMPV6_PKT_TOOBIG;
    int local = report.ee_origin == SO_EE_ORIGIN_LOCAL && report.ee_errno == EMSGSIZE;
    if (frag_needed || too_big || local) out->mtu = report.ee_info;
    return 1;
}

int fr_route_mtu(const struct sockaddr *peer, socklen_t length) {
    // IP_MTU needs a connected socket (ENOTCONN otherwise): connect a throwaway
    // UDP socket to the peer (no packet is sent) and ask for the route's MTU,
    // which includes any PMTU the kernel learnt from ICMP (ip(7) IP_MTU).
    int family = peer->sa_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) return -errno;
    int rc = 0;
    if (connect(fd, peer, length) < 0) {
        rc = -errno;
    } else {
        int mtu = 0;
        socklen_t size = sizeof(mtu);
        int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
        int name = family == AF_INET6 ? IPV6_MTU : IP_MTU;
        rc = getsockopt(fd, level, name, &mtu, &size) < 0 ? -errno : mtu;
    }
    close(fd);
    return rc;
}
