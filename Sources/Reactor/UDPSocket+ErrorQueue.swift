#if canImport(Glibc)
import Glibc
#endif

/// ICMP errors and the path MTU, as the kernel knows them (ip(7): IP_RECVERR,
/// IP_MTU; ipv6(7): IPV6_RECVERR, IPV6_MTU).
extension UDPSocket {
    /// Queues ICMP errors ("fragmentation needed", "port unreachable") and local
    /// send errors on the socket, for `nextError()`. With it on, such an error also
    /// makes the next receive fail once with its errno (the reactor reports that to
    /// the handler's `failed`), and a non-empty queue makes the socket poll with
    /// EPOLLERR: whoever turns it on must drain the queue.
    public func enableErrorQueue() throws(ReactorError) {
        let ipv6 = (try? localAddress().isIPv6) ?? false
        do { try System.enableErrorQueue(descriptor, ipv6: ipv6) } catch { throw .system(error) }
    }

    /// The next report of the error queue, or nil when it is empty. No allocation
    /// on the empty path (one recvmsg returning EAGAIN).
    public func nextError() throws(SystemError) -> SocketErrorReport? {
        switch try System.receiveError(descriptor) {
        case .processed(let report): return report
        case .wouldBlock: return nil
        }
    }

    /// The MTU the kernel would use towards `peer`: its route's learnt path MTU
    /// (from ICMP) or the outgoing interface's MTU (65,536 on loopback). Costs a
    /// socket, a connect (no packet) and a getsockopt; call it per peer, not per packet.
    public static func routeMTU(to peer: SocketAddress) throws(SystemError) -> Int {
        try System.routeMTU(to: peer)
    }
}
