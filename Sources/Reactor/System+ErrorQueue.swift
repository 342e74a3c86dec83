import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// The error-queue and route-MTU calls of the syscall layer (C: errqueue.c).
extension System {
    /// IP_RECVERR / IPV6_RECVERR on.
    static func enableErrorQueue(_ fd: Int32, ipv6: Bool) throws(SystemError) {
        try failIfInjected(.setsockopt, "setsockopt(IP_RECVERR)")
        _ = try result(fr_enable_error_queue(fd, ipv6 ? AF_INET6 : AF_INET), ipv6 ? "setsockopt(IPV6_RECVERR)" : "setsockopt(IP_RECVERR)")
    }

    /// One report from the error queue; `.wouldBlock` when it is empty. A message
    /// without an extended error (never seen in practice) is skipped.
    static func receiveError(_ fd: Int32) throws(SystemError) -> IOResult<SocketErrorReport> {
        var raw = fr_error_report()
        while true {
            let rc = fr_receive_error(fd, &raw)
            if rc == -EAGAIN { return .wouldBlock }
            _ = try check(Int(rc), "recvmsg(MSG_ERRQUEUE)")
            if rc == 1 { return .processed(SocketErrorReport(raw)) }
        }
    }

    /// The kernel's MTU towards `peer` (IP_MTU of a UDP socket connected to it).
    static func routeMTU(to peer: SocketAddress) throws(SystemError) -> Int {
        try failIfInjected(.getsockopt, "getsockopt(IP_MTU)")
        let rc = peer.withSockaddr { address, length in
            fr_route_mtu(address.assumingMemoryBound(to: sockaddr.self), length)
        }
        return Int(try result(rc, peer.isIPv6 ? "getsockopt(IPV6_MTU)" : "getsockopt(IP_MTU)"))
    }
}
