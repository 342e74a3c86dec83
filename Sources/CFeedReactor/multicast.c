// Multicast helpers of FeedReactor: joins by interface index, receive and send
// options, pktinfo/timestamp parsing, interface lookup, network namespaces.
// See the "Multicast" section of include/CFeedReactor.h.
#define _GNU_SOURCE 1
#include "CFeedReactor.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>

#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29 // linux/in6.h, kernel 4.20
#endif

_Static_assert(sizeof(((fr_packet_info *)0)->destination) == sizeof(struct in6_addr), "destination holds an IPv6 address");
_Static_assert(FR_IF_NAME_SIZE >= IF_NAMESIZE, "interface name buffer");

static int family_level(int family) {
    return family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
}

int fr_mc_membership(int fd, int join, uint32_t interface_index,
                     const struct sockaddr *group, socklen_t group_length,
                     const struct sockaddr *source, socklen_t source_length) {
    if (group_length > sizeof(struct sockaddr_storage) || source_length > sizeof(struct sockaddr_storage))
        return -EINVAL;
    int level = family_level(group->sa_family);
    // RFC 3678 protocol-independent API: the interface is an index, which is
    // unambiguous for IPv6 link-local scopes and for IPv4 alike.
    if (source) {
        struct group_source_req request;
        memset(&request, 0, sizeof(request));
        request.gsr_interface = interface_index;
        memcpy(&request.gsr_group, group, group_length);
        memcpy(&request.gsr_source, source, source_length);
        int name = join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP;
        return setsockopt(fd, level, name, &request, sizeof(request)) < 0 ? -errno : 0;
    }
    struct group_req request;
    memset(&request, 0, sizeof(request));
    request.gr_interface = interface_index;
    memcpy(&request.gr_group, group, group_length);
    int name = join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP;
    return setsockopt(fd, level, name, &request, sizeof(request)) < 0 ? -errno : 0;
}

int fr_mc_configure_receiver(int fd, int family, int packet_info, int timestamps) {
    int one = 1, zero = 0, info = packet_info ? 1 : 0;
    if (family == AF_INET6) {
        // Default 1 delivers every group any socket on the host joined on this port.
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &info, sizeof(info)) < 0) return -errno;
    } else {
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &info, sizeof(info)) < 0) return -errno;
    }
    if (timestamps && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) return -errno;
    return 0;
}

int fr_mc_configure_sender(int fd, int family, uint32_t interface_index, int hops, int loop) {
    if (family == AF_INET6) {
        int index = (int)interface_index;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0) return -errno;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)) < 0) return -errno;
        return 0;
    }
    // ip_mreqn selects the outgoing interface by index (Linux ip(7)); the
    // source address stays whatever the socket is bound to.
    struct ip_mreqn request;
    memset(&request, 0, sizeof(request));
    request.imr_ifindex = (int)interface_index;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof(request)) < 0) return -errno;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof(hops)) < 0) return -errno;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0) return -errno;
    return 0;
}

size_t fr_mc_control_size(void) {
    return CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct timespec));
}

uint32_t fr_mc_parse_control(const void *control, size_t length, fr_packet_info *out) {
    memset(out, 0, sizeof(*out));
    for (const struct cmsghdr *c = fr_cmsg_next(control, length, NULL); c; c = fr_cmsg_next(control, length, c)) {
        size_t data_length = c->cmsg_len - CMSG_LEN(0);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && data_length >= sizeof(struct in_pktinfo)) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA((struct cmsghdr *)c), sizeof(info));
            // ipi_addr is the header's destination (the group); ipi_spec_dst
            // is the local address a reply would come from.
            memcpy(out->destination, &info.ipi_addr, sizeof(info.ipi_addr));
            out->family = AF_INET;
            out->interface_index = (uint32_t)info.ipi_ifindex;
            out->found |= FR_PKTINFO_DESTINATION;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && data_length >= sizeof(struct in6_pktinfo)) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA((struct cmsghdr *)c), sizeof(info));
            memcpy(out->destination, &info.ipi6_addr, sizeof(info.ipi6_addr));
            out->family = AF_INET6;
            out->interface_index = info.ipi6_ifindex;
            out->found |= FR_PKTINFO_DESTINATION;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS && data_length >= sizeof(struct timespec)) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA((struct cmsghdr *)c), sizeof(ts));
            out->timestamp_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
            out->found |= FR_PKTINFO_TIMESTAMP;
        }
    }
    return out->found;
}

int fr_if_nametoindex(const char *name) {
    unsigned index = if_nametoindex(name);
    return index == 0 ? -errno : (int)index;
}

int fr_if_indextoname(uint32_t index, char *name) {
    return if_indextoname(index, name) ? 0 : -errno;
}

int fr_if_flags(uint32_t index, uint32_t *flags) {
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (!if_indextoname(index, request.ifr_name)) return -errno;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int rc = ioctl(fd, SIOCGIFFLAGS, &request);
    int saved = errno;
    close(fd);
    if (rc < 0) return -saved;
    uint32_t result = 0;
    if (request.ifr_flags & IFF_UP) result |= FR_IF_UP;
    if (request.ifr_flags & IFF_MULTICAST) result |= FR_IF_MULTICAST;
    if (request.ifr_flags & IFF_LOOPBACK) result |= FR_IF_LOOPBACK;
    *flags = result;
    return 0;
}

int fr_if_index_for_address(const struct sockaddr *address) {
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) < 0) return -errno;
    int found = -EADDRNOTAVAIL;
    for (struct ifaddrs *a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != address->sa_family) continue;
        int same = 0;
        if (address->sa_family == AF_INET) {
            const struct sockaddr_in *x = (const void *)a->ifa_addr, *y = (const void *)address;
            same = x->sin_addr.s_addr == y->sin_addr.s_addr;
        } else if (address->sa_family == AF_INET6) {
            const struct sockaddr_in6 *x = (const void *)a->ifa_addr, *y = (const void *)address;
            // A link-local address can sit on several interfaces; a scope id
            // (fe80::1%3) picks one, none takes the first.
            same = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
                   (y->sin6_scope_id == 0 || x->sin6_scope_id == y->sin6_scope_id);
        }
        if (same) {
            unsigned index = if_nametoindex(a->ifa_name);
            found = index ? (int)index : -errno;
            break;
        }
    }
    freeifaddrs(list);
    return found;
}

int fr_netns_enter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    // Network namespaces are per thread: only the calling thread moves, and
    // sockets it creates stay in that namespace whichever thread uses them.
    int rc = setns(fd, CLONE_NEWNET);
    int saved = errno;
    close(fd);
    return rc < 0 ? -saved : 0;
}
