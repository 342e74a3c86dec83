import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket that sends to one multicast group: outgoing interface, TTL (hop
/// limit), loopback to local receivers, and optionally a bound source address,
/// which SSM receivers filter on. For tests, examples and the publisher.
///
/// ```swift
/// let sender = try MulticastSender(group: IPAddress("232.1.1.1"), port: 41000,
///                                  source: IPAddress("127.0.0.1"))
/// try sender.send([1, 2, 3])
/// sender.close()
/// ```
public struct MulticastSender: Sendable {
    /// The sending socket (multicast TTL, loopback and interface already set).
    public let socket: UDPSocket
    /// The group and port datagrams go to.
    public let destination: SocketAddress
    /// The interface index multicast leaves on (0: the kernel's route decides).
    public let interfaceIndex: UInt32

    /// A socket that sends to `group`:`port`, with the interface, source, TTL and
    /// loopback set once, here.
    ///
    /// - Throws: `MulticastError` naming the fix: a group that is not multicast,
    ///   port 0, a source that cannot send to the group, an interface that does
    ///   not exist or cannot multicast (or is missing for a link-local group), or
    ///   the socket call that failed.
    ///
    /// - Parameters:
    ///   - group: the multicast group to send to.
    ///   - port: the group's UDP port.
    ///   - interface: where datagrams leave; nil takes the interface holding
    ///     `source`, or else the kernel's route for the group.
    ///   - source: the local address to send from (bound, port chosen by the
    ///     kernel). SSM receivers admit only their configured source, so set it
    ///     when the host has several addresses. A link-local source is scoped to
    ///     `interface`.
    ///   - ttl: IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS; 1 keeps it on the link.
    ///   - loop: deliver to receivers on this host too (IP_MULTICAST_LOOP).
    public init(group: IPAddress, port: UInt16, interface: MulticastInterface? = nil, source: IPAddress? = nil,
                ttl: Int = 1, loop: Bool = true) throws(MulticastError) {
        guard group.isMulticast else { throw .notMulticast(group) }
        if let source, source.family != group.family || source.isMulticast {
            throw .invalidSource(source, group: group)
        }
        guard port != 0 else { throw .portMismatch(subscription: 0, bound: 0) }
        let chosen = interface ?? source.map { MulticastInterface.address($0) }
        let index = try chosen?.resolve(for: group).index ?? 0
        if group.isIPv6, index == 0, let scope = group.multicastScope, scope <= 2 {
            throw .interfaceRequired(group: group)
        }
        let socket: UDPSocket
        do {
            socket = try UDPSocket(ipv6: group.isIPv6)
        } catch {
            throw .reactor(error)
        }
        do {
            if let source { try socket.bind(to: source.socketAddress(port: 0, scope: source.isLinkLocalUnicast ? index : 0)) }
        } catch {
            socket.close()
            throw .reactor(error)
        }
        do {
            try System.configureMulticastSender(socket.descriptor, family: group.family, interfaceIndex: index,
                                                hops: Int32(clamping: ttl), loop: loop)
        } catch {
            socket.close()
            throw .system(error)
        }
        self.socket = socket
        self.interfaceIndex = index
        // A link-scoped group names its link in the destination too.
        destination = group.socketAddress(port: port, scope: (group.multicastScope ?? 15) <= 2 ? index : 0)
    }

    /// Sends one datagram to the group. `.wouldBlock` when the send buffer is full.
    @inlinable
    public func send(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try socket.send(bytes, to: destination)
    }

    /// Convenience for tests and tools.
    @discardableResult
    public func send(_ bytes: [UInt8]) throws(SystemError) -> IOResult<Int> {
        try socket.send(bytes, to: destination)
    }

    /// Closes the socket. Only for a sender whose socket is not registered with a reactor.
    public func close() { socket.close() }
}
