import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket bound to one port that joins multicast subscriptions and hands
/// its datagrams to a reactor handler, with each datagram's destination group,
/// ingress interface and (optionally) kernel receive time readable from it
/// without allocation (`Datagram.packetInfo`).
///
/// The socket has IP_MULTICAST_ALL (IPV6_MULTICAST_ALL) off, so it receives only
/// the groups joined on it, not every group another socket of this host joined
/// on the same port. Several groups may share the port; `subscriptionIndex(of:)`
/// tells them apart by the pktinfo destination.
///
/// ```swift
/// let receiver = try MulticastReceiver(Subscription(group: "239.1.1.1", port: 41000,
///                                                   interface: .name("eth0")))
/// try receiver.join(Subscription(group: "239.1.1.2", port: 41000, interface: .name("eth0")))
/// let token = try receiver.register(with: reactor, handler: handler)
/// // in handler.receive: let which = receiver.subscriptionIndex(of: datagram)
/// ```
///
/// Ownership: once registered, the reactor owns the descriptor and closes it on
/// `deregister(token)`. `deregister(token, closeSocket: false)` hands it back with
/// its memberships intact, to register with another reactor. Leaving a group
/// never closes the socket; only `close()` or the reactor does.
public final class MulticastReceiver {
    /// How the socket is set up.
    public struct Options: Sendable {
        /// Ask the kernel for receive timestamps (SO_TIMESTAMPNS) for latency measurement.
        public var timestamps: Bool
        /// SO_RCVBUF in bytes (SO_RCVBUFFORCE as root); nil keeps the default.
        public var receiveBufferBytes: Int?
        /// Ask for each datagram's destination and ingress interface
        /// (IP_PKTINFO / IPV6_RECVPKTINFO). `subscriptionIndex(of:)` needs it; a
        /// socket with one subscription whose handler never asks can turn it off
        /// and spare the kernel a control message per datagram.
        public var packetInfo: Bool

        /// Options for a receiver; each argument is the property of the same name.
        public init(timestamps: Bool = false, receiveBufferBytes: Int? = nil, packetInfo: Bool = true) {
            self.timestamps = timestamps
            self.receiveBufferBytes = receiveBufferBytes
            self.packetInfo = packetInfo
        }
    }

    /// A joined subscription and the interface index it was joined on (0: the
    /// kernel picked by route).
    public struct Membership: Equatable, Sendable {
        /// The subscription as joined.
        public let subscription: Subscription
        /// The interface index it was joined on; 0 when the kernel picked by route.
        public let interfaceIndex: UInt32
    }

    /// The receiving socket, bound to the subscriptions' port. Registered with the
    /// reactor; do not close it yourself (`close()` the receiver).
    public let socket: UDPSocket
    /// The bound UDP port (the kernel's choice when the subscription said 0).
    public let port: UInt16
    /// True when the socket is IPv6 (its subscriptions are all IPv6).
    public let isIPv6: Bool
    /// The options the receiver was made with.
    public let options: Options
    /// The joined subscriptions, in join order (`subscriptionIndex(of:)` indexes
    /// this; a `leave` shifts the later ones down by one).
    public private(set) var memberships: ContiguousArray<Membership> = [] {
        didSet {
            filters = ContiguousArray(memberships.lazy.map {
                Filter(group: $0.subscription.group, source: $0.subscription.source, interfaceIndex: $0.interfaceIndex)
            })
        }
    }
    /// Group, source and interface of each membership: what the per-datagram
    /// match reads (plain values, so matching copies no strings and retains nothing).
    @usableFromInline var filters: ContiguousArray<Filter> = []

    @usableFromInline struct Filter {
        @usableFromInline let group: IPAddress
        @usableFromInline let source: IPAddress?
        /// 0 when the kernel picked the interface (matches any).
        @usableFromInline let interfaceIndex: UInt32
    }

    /// A new socket bound to the wildcard address and `port` (0: the kernel picks),
    /// with SO_REUSEADDR so other receivers can share the port.
    public init(port: UInt16, ipv6: Bool, options: Options = Options()) throws(MulticastError) {
        let socket: UDPSocket
        do {
            socket = try UDPSocket(ipv6: ipv6)
        } catch {
            throw Self.wrap(error)
        }
        do {
            try socket.setReuseAddress(true)
            // Before bind (the kernel refuses it after): an IPv6 receiver takes
            // IPv6 only, so IPv4 traffic to the port never shows up v4-mapped.
            if ipv6 { try socket.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 1, call: "setsockopt(IPV6_V6ONLY)") }
            try Self.configure(socket, ipv6: ipv6, options: options)
            try socket.bind(to: .any(port: port, ipv6: ipv6))
            self.port = try socket.localAddress().port
        } catch {
            socket.close()
            throw Self.wrap(error)
        }
        self.socket = socket
        self.isIPv6 = ipv6
        self.options = options
    }

    /// A receiver for one subscription: binds its port and joins it. On failure
    /// the socket is closed again.
    public convenience init(_ subscription: Subscription, options: Options = Options()) throws(MulticastError) {
        try self.init(port: subscription.port, ipv6: subscription.group.isIPv6, options: options)
        do {
            try join(subscription)
        } catch {
            socket.close()
            throw error
        }
    }

    /// Adopts a socket created and bound elsewhere (to the subscriptions' port;
    /// its address family decides the receiver's). It is switched to nonblocking
    /// and gets the receiver's options; joins still go through `join`.
    public init(adopting socket: UDPSocket, options: Options = Options()) throws(MulticastError) {
        let local: SocketAddress
        do {
            local = try socket.localAddress()
        } catch {
            throw Self.wrap(error)
        }
        guard local.port != 0 else { throw .socketNotBound }
        do {
            try Self.configure(socket, ipv6: local.isIPv6, options: options)
        } catch {
            throw Self.wrap(error)
        }
        self.socket = socket
        self.port = local.port
        self.isIPv6 = local.isIPv6
        self.options = options
    }

    /// Joins a subscription on this socket: MCAST_JOIN_GROUP for any-source,
    /// MCAST_JOIN_SOURCE_GROUP for source-specific, on the subscription's
    /// interface index (resolved now) or, without one, the kernel's choice.
    public func join(_ subscription: Subscription) throws(MulticastError) {
        let membership = try check(subscription)
        guard !memberships.contains(where: { $0.subscription == subscription }) else {
            throw .alreadyJoined(subscription)
        }
        let rc = membershipCall(join: true, membership)
        if rc != 0 {
            switch -rc {
            case EADDRINUSE: throw .alreadyJoined(subscription)
            case ENOBUFS: throw .membershipLimit(subscription)
            case ENODEV:
                // Index 0 asks the kernel to pick by route; ENODEV then means no route.
                if membership.interfaceIndex == 0 { throw .noRouteForGroup(subscription.group) }
                throw .unknownInterfaceIndex(membership.interfaceIndex)
            default:
                throw .system(SystemError(call: subscription.isSourceSpecific ? "setsockopt(MCAST_JOIN_SOURCE_GROUP)"
                                                                              : "setsockopt(MCAST_JOIN_GROUP)", errno: -rc))
            }
        }
        memberships.append(membership)
    }

    /// Leaves a joined subscription. The socket stays open and registered; it
    /// stops receiving that group (or that source of it).
    public func leave(_ subscription: Subscription) throws(MulticastError) {
        guard let position = memberships.firstIndex(where: { $0.subscription == subscription }) else {
            throw .notJoined(subscription)
        }
        let rc = membershipCall(join: false, memberships[position])
        // EADDRNOTAVAIL: the kernel already dropped it (its interface went away).
        if rc != 0 && -rc != EADDRNOTAVAIL && -rc != ENODEV {
            throw .system(SystemError(call: subscription.isSourceSpecific ? "setsockopt(MCAST_LEAVE_SOURCE_GROUP)"
                                                                          : "setsockopt(MCAST_LEAVE_GROUP)", errno: -rc))
        }
        memberships.remove(at: position)
    }

    /// Leaves and joins again (for example after the interface came back, which
    /// drops kernel memberships). Joins if it was not joined.
    public func rejoin(_ subscription: Subscription) throws(MulticastError) {
        if memberships.contains(where: { $0.subscription == subscription }) { try leave(subscription) }
        try join(subscription)
    }

    /// Leaves every joined subscription (the socket stays open).
    public func leaveAll() throws(MulticastError) {
        while let last = memberships.last { try leave(last.subscription) }
    }

    /// Receive options with control space for pktinfo and a timestamp.
    public func receiveOptions(_ base: ReceiveOptions = ReceiveOptions()) -> ReceiveOptions {
        var options = base
        options.controlSize = max(options.controlSize, Int(fr_mc_control_size()))
        return options
    }

    /// Registers the socket with `reactor`: from now on the reactor owns the
    /// descriptor (see the ownership note on the type).
    @discardableResult
    public func register(with reactor: Reactor, options: ReceiveOptions = ReceiveOptions(),
                         handler: any DatagramHandler) throws(ReactorError) -> Token {
        try reactor.register(socket, options: receiveOptions(options), handler: handler)
    }

    /// The index in `memberships` of the subscription a datagram belongs to: its
    /// pktinfo destination is the group, for SSM its source is the admitted one,
    /// and it arrived on the joined interface (so one group joined on two
    /// interfaces, as A/B lines may be, stays two subscriptions). nil for
    /// anything else (unicast to the port, no pktinfo). No allocation.
    @inlinable
    public func subscriptionIndex(of datagram: Datagram) -> Int? {
        let info = datagram.packetInfo
        guard let destination = info.destination else { return nil }
        return subscriptionIndex(destination: destination, source: datagram.sourceIP, interfaceIndex: info.interfaceIndex ?? 0)
    }

    /// The same, from an already parsed destination, source and ingress interface.
    @inlinable
    public func subscriptionIndex(destination: IPAddress, source: IPAddress?, interfaceIndex: UInt32 = 0) -> Int? {
        for position in filters.indices {
            let filter = filters[position]
            if filter.group == destination && (filter.source == nil || filter.source == source)
                && (filter.interfaceIndex == 0 || interfaceIndex == 0 || filter.interfaceIndex == interfaceIndex) {
                return position
            }
        }
        return nil
    }

    /// Closes the socket. Only for a receiver that is not registered (a registered
    /// socket belongs to its reactor). Memberships end with the socket.
    public func close() {
        memberships.removeAll()
        socket.close()
    }

    // MARK: - Internals

    func check(_ subscription: Subscription) throws(MulticastError) -> Membership {
        guard subscription.group.isIPv6 == isIPv6 else {
            throw .familyMismatch(group: subscription.group, socketIsIPv6: isIPv6)
        }
        guard subscription.port == 0 || subscription.port == port else {
            throw .portMismatch(subscription: subscription.port, bound: port)
        }
        let index = try subscription.interface?.resolve(for: subscription.group).index ?? 0
        return Membership(subscription: subscription, interfaceIndex: index)
    }

    func membershipCall(join: Bool, _ membership: Membership) -> Int32 {
        let subscription = membership.subscription
        // The group's port is ignored by the kernel; a link-local source carries
        // the interface as its scope.
        return System.multicastMembership(
            socket.descriptor, join: join, interfaceIndex: membership.interfaceIndex,
            group: subscription.group.socketAddress(port: 0, scope: membership.interfaceIndex),
            source: subscription.source?.socketAddress(port: 0, scope: membership.interfaceIndex))
    }

    static func configure(_ socket: UDPSocket, ipv6: Bool, options: Options) throws(ReactorError) {
        do {
            try System.configureMulticastReceiver(socket.descriptor, family: ipv6 ? AF_INET6 : AF_INET,
                                                  packetInfo: options.packetInfo, timestamps: options.timestamps)
        } catch {
            throw .system(error)
        }
        if let bytes = options.receiveBufferBytes { try socket.setReceiveBuffer(bytes: bytes) }
    }

    static func wrap(_ error: ReactorError) -> MulticastError {
        if case .system(let system) = error { return .system(system) }
        return .reactor(error)
    }
}
