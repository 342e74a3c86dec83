import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Is told about streams a listening `UTPSocket` accepted.
public protocol UTPAcceptor: AnyObject {
    /// A new stream; set its `delegate` here.
    func accepted(_ stream: UTPStream, on socket: UTPSocket)
}

/// µTP on the reactor: one UDP socket, many connections. Receives datagram batches
/// from the reactor, hands each to the I/O-free `UTPEndpoint`, flushes the
/// deferred ACKs once per batch, and runs the connections' timers from one
/// periodic reactor timer. Packets leave through the reactor's send path
/// (`Reactor.send`: a send the kernel would block on waits in the socket's bounded
/// queue instead of being lost) with DF set (IP_MTU_DISCOVER = IP_PMTUDISC_DO), so
/// path-MTU probes mean something. IP_RECVERR is on: ICMP "fragmentation needed"
/// and local EMSGSIZE reports are read from the error queue and lower the path MTU
/// of every connection to that host; each new connection starts from the kernel's
/// MTU towards its peer (`UDPSocket.routeMTU`), capped by `UTPConfiguration.mtu`.
///
/// ```swift
/// let reactor = try Reactor()
/// let socket = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
/// socket.acceptor = self                                   // to listen
/// let stream = try socket.connect(to: SocketAddress("127.0.0.1", port: 6881))
/// ```
public final class UTPSocket: DatagramHandler, TimerHandler, UTPOutput, UTPListener {
    /// How often connection timers are checked (RTOs are at least 500 ms).
    public static let tick: UInt64 = 5_000_000

    /// The I/O-free protocol endpoint the socket feeds (connections, counters).
    public private(set) var endpoint: UTPEndpoint!
    /// The reactor whose thread drives the socket; use the socket and its streams only there.
    public let reactor: Reactor
    /// The bound address, with the port the kernel picked for port 0.
    public let localAddress: SocketAddress
    /// Set to accept incoming connections; nil refuses SYNs with a RESET.
    public weak var acceptor: (any UTPAcceptor)? {
        didSet { endpoint.listener = acceptor == nil ? nil : self }
    }
    let socket: UDPSocket
    var token: Token?
    var timer: TimerHandle = .invalid
    /// Sends the kernel refused with an error (EMSGSIZE included; the protocol
    /// retransmits), and the last such error other than EMSGSIZE.
    public private(set) var sendErrors: UInt64 = 0
    /// The last error other than EMSGSIZE, for diagnostics.
    public private(set) var lastSendError: SystemError?
    /// Sends refused because the socket's send queue was full (drops: the protocol
    /// retransmits). Sends the kernel would block on are queued, not counted here.
    public private(set) var sendsRefused: UInt64 = 0
    /// Reports read from the socket's error queue (any kind).
    public private(set) var errorReports: UInt64 = 0
    /// Of those, the "too big" reports naming an MTU (ICMP fragmentation needed,
    /// ICMPv6 packet too big, local EMSGSIZE).
    public private(set) var tooBigReports: UInt64 = 0
    /// Largest datagram sent or received (the receive slot and send queue slot size).
    let slotSize: Int
    /// Reports read at most per drain (the queue is bounded by the socket's receive
    /// buffer anyway; this bounds one callback's work).
    static let reportsPerDrain = 64

    /// Binds a UDP socket to `address` (DF set for path-MTU discovery, 4 MiB kernel
    /// buffers), registers it with `reactor` and starts the connection timer. Call on
    /// the reactor's thread.
    ///
    /// - Throws: `ReactorError` when binding, a socket option, the registration or
    ///   the timer fails (the error names the call).
    public init(reactor: Reactor, bindTo address: SocketAddress, configuration: UTPConfiguration = UTPConfiguration()) throws(ReactorError) {
        self.reactor = reactor
        let socket = try UDPSocket.bound(to: address)
        self.socket = socket
        slotSize = max(2048, configuration.mtu)
        do {
            if address.isIPv6 {
                try socket.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_MTU_DISCOVER, value: IPV6_PMTUDISC_DO, call: "setsockopt(IPV6_MTU_DISCOVER)")
            } else {
                try socket.setOption(level: Int32(IPPROTO_IP), name: IP_MTU_DISCOVER, value: IP_PMTUDISC_DO, call: "setsockopt(IP_MTU_DISCOVER)")
            }
            try socket.enableErrorQueue()
            // Room for a window of packets in both directions.
            try socket.setReceiveBuffer(bytes: 4 << 20)
            try socket.setSendBuffer(bytes: 4 << 20)
            localAddress = try socket.localAddress()
        } catch {
            socket.close()
            throw error
        }
        endpoint = UTPEndpoint(configuration: configuration, output: self)
        do {
            // A send queue deep enough for a burst of a window refilled by one ACK.
            token = try reactor.register(socket, options: ReceiveOptions(slotCount: 64, slotSize: slotSize),
                                         send: SendOptions(queueCapacity: 512, slotSize: slotSize), handler: self)
            timer = try reactor.schedule(after: UTPSocket.tick, period: UTPSocket.tick, handler: self)
        } catch {
            if let token { reactor.deregister(token) } else { socket.close() }
            throw error
        }
    }

    /// Opens a stream to `peer` (SYN now; `connected` on the delegate when answered).
    public func connect(to peer: SocketAddress) throws(UTPError) -> UTPStream {
        let connection = try endpoint.connect(to: peer, now: reactor.now)
        return UTPStream(connection: connection, socket: self)
    }

    /// Deregisters and closes the UDP socket. Connections still open are dropped
    /// without a RESET (abort or close them first).
    public func close() {
        if timer != .invalid { reactor.cancel(timer); timer = .invalid }
        if let token { reactor.deregister(token); self.token = nil }
    }

    // MARK: - Reactor callbacks

    /// Feeds each datagram of the batch to the endpoint (truncated ones are
    /// dropped), then sends the acknowledgements the batch made due, once.
    public func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
        let now = reactor.now
        for datagram in batch {
            guard !datagram.isTruncated, let source = datagram.source else { continue }
            endpoint.receive(datagram.bytes, from: source, now: now)
        }
        endpoint.flushAcks(now: now)
    }

    /// The connection timer (every `tick`): retransmission timeouts, SYN retries,
    /// keep-alives, zero-window probes and the linger after a close.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        // A report queued without a failing receive (a local EMSGSIZE whose send
        // result went elsewhere) keeps the socket polling EPOLLERR: one recvmsg per
        // tick (EAGAIN when empty) keeps the queue empty.
        _ = drainErrorQueue(now: now, sentTo: nil)
        endpoint.poll(now: now)
    }

    /// The socket reported an error. With IP_RECVERR an ICMP error fails the next
    /// receive once (sk_err) and an io_uring send completion brings EMSGSIZE here;
    /// the details wait in the error queue.
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {
        _ = drainErrorQueue(now: reactor.now, sentTo: nil)
    }

    /// Reads the error queue and hands every "too big" report to the endpoint.
    /// Returns the smallest MTU reported for `sentTo`'s host (0: none); reports
    /// for that host are returned rather than applied, because the connection
    /// sending to it is in the middle of a send.
    func drainErrorQueue(now: UInt64, sentTo: SocketAddress?) -> Int {
        var smallest = 0
        var reads = 0
        while reads < UTPSocket.reportsPerDrain {
            reads += 1
            let report: SocketErrorReport?
            do { report = try socket.nextError() } catch { return smallest }
            guard let report else { return smallest }
            errorReports &+= 1
            guard let mtu = report.pathMTU, let host = report.destination else { continue }
            tooBigReports &+= 1
            if let sentTo, host.isSameHost(as: sentTo) {
                smallest = smallest == 0 ? mtu : min(smallest, mtu)
            } else {
                endpoint.pathTooBig(to: host, mtu: mtu, now: now)
            }
        }
        return smallest
    }

    /// Wraps an accepted connection in a `UTPStream` and hands it to `acceptor`.
    public func accepted(_ connection: UTPConnection) {
        let stream = UTPStream(connection: connection, socket: self)
        acceptor?.accepted(stream, on: self)
    }

    /// Sends one packet through `Reactor.send`. Sent or queued (the kernel would
    /// block: it waits in the socket's queue) is `.sent`; a full queue is `.dropped`
    /// (counted in `sendsRefused`); an error is counted in `sendErrors` and becomes
    /// `.dropped`, except EMSGSIZE (larger than the path MTU the kernel knows), which
    /// becomes `.tooBig` with the MTU the error queue reports (0 if none).
    public func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        guard let token else { return .dropped }
        switch reactor.send(token, packet, to: address) {
        case .sent, .queued:
            return .sent
        case .refused(.failed(let error)):
            sendErrors &+= 1
            if error.errno == EMSGSIZE {
                // The kernel queued a local report naming the route's MTU (ip(7)
                // IP_RECVERR); read it now, the queue must be drained anyway.
                return .tooBig(pathMTU: drainErrorQueue(now: reactor.now, sentTo: address))
            }
            lastSendError = error
            return .dropped
        case .refused:
            sendsRefused &+= 1
            return .dropped
        }
    }

    /// Linux has no per-datagram DF for UDP: DF is cleared on the socket for this
    /// one send (IP_PMTUDISC_DONT: the kernel fragments to the route's MTU), the
    /// send is flushed to the kernel (io_uring would otherwise send it at the end
    /// of the duty cycle, with DF back on), and DF is set again. Rare: only
    /// retransmissions sized for a path MTU that has since shrunk come here.
    public func transmitFragmentable(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        guard setFragmentation(allowed: true) else { return transmit(packet, to: address) }
        let result = transmit(packet, to: address)
        reactor.flushSends()
        _ = setFragmentation(allowed: false)
        return result
    }

    /// IP_MTU_DISCOVER (IPV6_MTU_DISCOVER): DO (DF set, EMSGSIZE above the path
    /// MTU) or DONT (the kernel fragments).
    func setFragmentation(allowed: Bool) -> Bool {
        do {
            if localAddress.isIPv6 {
                try socket.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_MTU_DISCOVER,
                                     value: allowed ? IPV6_PMTUDISC_DONT : IPV6_PMTUDISC_DO, call: "setsockopt(IPV6_MTU_DISCOVER)")
            } else {
                try socket.setOption(level: Int32(IPPROTO_IP), name: IP_MTU_DISCOVER,
                                     value: allowed ? IP_PMTUDISC_DONT : IP_PMTUDISC_DO, call: "setsockopt(IP_MTU_DISCOVER)")
            }
            return true
        } catch {
            return false
        }
    }

    /// The kernel's MTU towards `address` (the connection's path-MTU ceiling).
    public func pathMTU(to address: SocketAddress) -> Int? {
        try? UDPSocket.routeMTU(to: address)
    }
}
