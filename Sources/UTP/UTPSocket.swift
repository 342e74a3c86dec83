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
/// periodic reactor timer. Packets leave through `UDPSocket.send` with DF set
/// (IP_MTU_DISCOVER = IP_PMTUDISC_DO) so path-MTU probes mean something and the
/// kernel's EMSGSIZE reaches the connection.
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
    /// Sends the kernel refused with an error (the protocol retransmits).
    public private(set) var sendErrors: UInt64 = 0
    /// The last of those errors, for diagnostics.
    public private(set) var lastSendError: SystemError?

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
        do {
            if address.isIPv6 {
                try socket.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_MTU_DISCOVER, value: IPV6_PMTUDISC_DO, call: "setsockopt(IPV6_MTU_DISCOVER)")
            } else {
                try socket.setOption(level: Int32(IPPROTO_IP), name: IP_MTU_DISCOVER, value: IP_PMTUDISC_DO, call: "setsockopt(IP_MTU_DISCOVER)")
            }
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
            token = try reactor.register(socket, options: ReceiveOptions(slotCount: 64, slotSize: max(2048, configuration.mtu)), handler: self)
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
        endpoint.poll(now: now)
    }

    /// Wraps an accepted connection in a `UTPStream` and hands it to `acceptor`.
    public func accepted(_ connection: UTPConnection) {
        let stream = UTPStream(connection: connection, socket: self)
        acceptor?.accepted(stream, on: self)
    }

    /// Sends one packet with `sendto`. Would-block becomes `.dropped`; an error is
    /// counted in `sendErrors` and becomes `.dropped`, except EMSGSIZE (the packet
    /// exceeds the path MTU the kernel learnt), which becomes `.tooBig(pathMTU: 0)`.
    public func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        do {
            switch try socket.send(packet, to: address) {
            case .processed: return .sent
            case .wouldBlock: return .dropped
            }
        } catch {
            sendErrors &+= 1
            if error.errno == EMSGSIZE { return .tooBig(pathMTU: 0) }
            lastSendError = error
            return .dropped
        }
    }
}
