import Reactor

/// Hears what an `Endpoint` receives and how its connection goes.
public protocol EndpointDelegate: AnyObject {
    /// A message; `message.bytes` is valid only during this call.
    func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage)
    /// The handshake finished: sends are accepted from now on.
    func endpointEstablished(_ endpoint: Endpoint)
    /// A send was refused with `.wouldBlock` and there is room again.
    func endpointWritable(_ endpoint: Endpoint)
    /// The connection closed or the peer was declared dead.
    func endpoint(_ endpoint: Endpoint, ended state: Connection.State)
}

extension EndpointDelegate {
    /// Default: nothing.
    public func endpointEstablished(_ endpoint: Endpoint) {}
    /// Default: nothing.
    public func endpointWritable(_ endpoint: Endpoint) {}
    /// Default: nothing.
    public func endpoint(_ endpoint: Endpoint, ended state: Connection.State) {}
}

/// A ReliableUDP client over a connected UDP socket, driven by a reactor: it
/// performs the cookie handshake with an `EndpointServer`, then runs a
/// `Connection` with the reactor's timers (loss detection, probes,
/// heartbeats, delayed acknowledgements, grouping deadline).
///
/// ```swift
/// let socket = try UDPSocket.bound(to: .any(port: 0)); try socket.connect(to: server)
/// let endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, delegate: self)
/// // after endpointEstablished:
/// try endpoint.send(.delivery, bytes)
/// ```
public final class Endpoint: DatagramHandler, TimerHandler {
    /// How often a hello is repeated until the server answers (ns).
    public static let handshakeRetry: UInt64 = 250_000_000
    /// The reactor whose thread drives the endpoint; use the endpoint only there.
    public let reactor: Reactor
    /// The connected UDP socket (registered with `reactor`).
    public let socket: UDPSocket
    /// The connection's sizes and timings.
    public let configuration: Configuration
    /// This side's connection id (random, chosen at init).
    public let localID: UInt64
    /// The connection, once the handshake finished; nil before, and after it ended.
    public private(set) var connection: Connection?
    /// The socket's registration with `reactor`.
    public private(set) var token = Token(slot: .max, generation: 0)
    /// Hears establishment, messages, writability and the end. Held weakly.
    public weak var delegate: (any EndpointDelegate)?
    /// Datagrams that were not handshake answers or packets of this connection.
    public private(set) var droppedDatagrams: UInt64 = 0
    /// Sends the kernel failed with an error (ECONNREFUSED while the server is
    /// not up yet, ENOBUFS); the protocol retransmits what they carried. A full
    /// send buffer (would-block) is not counted here: the connection waits instead.
    public private(set) var sendErrors: UInt64 = 0
    /// Handshake packets repeated because no answer came.
    public private(set) var handshakeRetries = 0
    let protection: (any PacketProtection)?
    let handshakeBuffer: UnsafeMutableRawPointer
    var handshakeMessage: Handshake.Message
    var timer = TimerHandle.invalid
    var timerDeadline: UInt64 = .max
    var ended = false
    /// When the current handshake message was last sent, and how many times.
    var handshakeSentAt: UInt64 = 0
    var handshakeSends = 0
    /// The smallest round trip of a handshake message sent once and answered
    /// (hello → cookie, hello-with-cookie → welcome): the connection's first RTT sample.
    public private(set) var handshakeRTT: UInt64?

    /// Registers `connectedSocket` with `reactor` and starts the handshake.
    /// `protection` seals and opens this side's packets when set;
    /// `receiveSlots` is the reactor's receive batch for this socket;
    /// `sendQueue` how many datagrams may wait for the kernel (`SendOptions.queueCapacity`).
    public init(reactor: Reactor, connectedSocket: UDPSocket, configuration: Configuration = Configuration(),
                protection: (any PacketProtection)? = nil, receiveSlots: Int = 64, sendQueue: Int = 256,
                delegate: (any EndpointDelegate)?) throws {
        try configuration.validate()
        self.reactor = reactor
        socket = connectedSocket
        self.configuration = configuration
        var generator = SystemRandomNumberGenerator()
        localID = generator.next() | 1
        self.protection = protection
        self.delegate = delegate
        handshakeBuffer = .allocate(byteCount: WireFormat.helloPaddedLength, alignment: 8)
        handshakeMessage = .hello(source: localID, window: UInt32(configuration.receiveWindow))
        var options = ReceiveOptions()
        options.slotCount = receiveSlots
        options.slotSize = max(options.slotSize, configuration.maxDatagramSize)
        options.sourceAddresses = false
        // Sends go through the reactor's backend: what the kernel will not take
        // now waits in a bounded queue (`writable` when it drains) instead of being lost.
        let sendOptions = SendOptions(queueCapacity: sendQueue, slotSize: max(2048, configuration.maxDatagramSize))
        token = try reactor.register(connectedSocket, options: options, send: sendOptions, handler: self)
        sendHandshake()
        rearm(at: reactor.now &+ Self.handshakeRetry)
    }

    deinit { handshakeBuffer.deallocate() }

    /// True once the server's welcome arrived and `connection` is set.
    public var isEstablished: Bool { connection != nil }

    /// Queues a message and sends what is due. Before the handshake finishes,
    /// and after the connection ended, throws `.closed`.
    public func send(_ guarantee: Guarantee, _ bytes: UnsafeRawBufferPointer) throws(SendError) {
        guard let connection else { throw .closed }
        try connection.send(guarantee, bytes, now: reactor.now)
        connection.flush(now: reactor.now) { transmit($0) }
        schedule(connection)
    }

    /// Sends what `Connection.write` built.
    public func sendWritten(_ guarantee: Guarantee) throws(SendError) {
        guard let connection else { throw .closed }
        try connection.sendWritten(guarantee, now: reactor.now)
        connection.flush(now: reactor.now) { transmit($0) }
        schedule(connection)
    }

    /// Sends CLOSE (unless `sendingClose` is false: the peer then finds out by
    /// its idle timeout, as after a crash), stops the timers and deregisters
    /// (closes) the socket.
    public func close(sendingClose: Bool = true) {
        if sendingClose { connection?.close(now: reactor.now) { transmit($0) } }
        finish(.closed)
    }

    /// Feeds the batch to the connection (or to the handshake before it exists) and
    /// sends what became due: acknowledgements, retransmissions. Reactor thread only.
    public func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
        let now = reactor.now
        for datagram in batch {
            if let connection {
                connection.receive(datagram.bytes, now: now) { message in
                    delegate?.endpoint(self, received: message)
                }
            } else {
                handshake(datagram.bytes)
            }
        }
        guard let connection else { return }
        connection.flush(now: now) { transmit($0) }
        afterActivity(connection)
    }

    /// Socket errors the reactor reported (ECONNREFUSED before the server is up).
    public private(set) var socketErrors: UInt64 = 0
    /// The text of the last socket error, for diagnostics.
    public private(set) var lastSocketError: String?

    /// Counts a socket error the reactor reported (in `socketErrors`, text in
    /// `lastSocketError`); the connection's own timers decide whether the peer is gone.
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {
        socketErrors += 1
        lastSocketError = "\(error)"
    }

    /// The endpoint's timer: repeats the hello until the server answers, then runs
    /// the connection's loss detection, acknowledgements, heartbeats and dead-peer check.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        timerDeadline = .max
        guard let connection else {
            handshakeRetries += 1
            // A cookie may have gone stale while its answer was lost: start over.
            if handshakeRetries % 8 == 0 {
                handshakeMessage = .hello(source: localID, window: UInt32(configuration.receiveWindow))
                handshakeSends = 0
            }
            sendHandshake()
            rearm(at: now &+ Self.handshakeRetry)
            return
        }
        connection.maintain(now: now) { transmit($0) }
        afterActivity(connection)
    }

    func afterActivity(_ connection: Connection) {
        if connection.state != .open { finish(connection.state); return }
        // The edge lives in the connection, so a refused `sendWritten` counts too.
        if connection.takeWritable() { delegate?.endpointWritable(self) }
        schedule(connection)
    }

    func schedule(_ connection: Connection) {
        if let deadline = connection.nextDeadline { rearm(at: deadline) }
    }

    func rearm(at deadline: UInt64) {
        guard !ended, deadline != timerDeadline else { return }
        if reactor.timers.isActive(timer) {
            _ = reactor.timers.reschedule(timer, at: deadline)
        } else if let handle = try? reactor.schedule(at: deadline, handler: self) {
            timer = handle
        }
        timerDeadline = deadline
    }

    func finish(_ state: Connection.State) {
        guard !ended else { return }
        ended = true
        _ = reactor.cancel(timer)
        reactor.deregister(token)
        delegate?.endpoint(self, ended: state)
    }

    func handshake(_ bytes: UnsafeRawBufferPointer) {
        guard let packet = try? PacketView(bytes), packet.destination == localID,
              let message = try? Handshake.decode(packet) else { droppedDatagrams += 1; return }
        // Karn: only an answer to a message sent once times the round trip.
        if handshakeSends == 1 {
            let sample = reactor.now &- handshakeSentAt
            handshakeRTT = min(handshakeRTT ?? .max, sample)
        }
        switch message {
        case .cookie(let timestamp, let cookie):
            handshakeMessage = .helloWithCookie(source: localID, window: UInt32(configuration.receiveWindow),
                                                timestamp: timestamp, cookie: cookie)
            handshakeSends = 0
            sendHandshake()
        case .welcome(let server, let window):
            guard let made = try? Connection(configuration: configuration, localID: localID, peerID: server,
                                             now: reactor.now, peerReceiveWindow: Int(window)) else { return }
            made.protection = protection
            if let handshakeRTT { made.seedRTT(handshakeRTT) }
            connection = made
            delegate?.endpointEstablished(self)
            schedule(made)
        default:
            droppedDatagrams += 1
        }
    }

    func sendHandshake() {
        let length = Handshake.encode(handshakeMessage, destination: 0, into: handshakeBuffer)
        handshakeSentAt = reactor.now
        handshakeSends += 1
        _ = transmit(UnsafeRawBufferPointer(start: handshakeBuffer, count: length))
    }

    /// Datagrams the reactor's send queue refused because it was full (each
    /// kept by the connection and sent when `writable` comes).
    public private(set) var sendsBlocked: UInt64 = 0

    /// One datagram to the connected peer through the reactor (sent, or queued
    /// when the kernel would block); false when the queue is full too: the
    /// connection keeps the datagram and `writable` sends it.
    func transmit(_ datagram: UnsafeRawBufferPointer) -> Bool {
        switch reactor.send(token, datagram) {
        case .sent, .queued:
            return true
        case .refused(.queueFull):
            sendsBlocked += 1
            return false
        case .refused:
            sendErrors += 1  // ECONNREFUSED while the server is not up yet: retried by the protocol
            return true
        }
    }

    /// The send queue drained: send what the connection held back.
    public func writable(token: Token, reactor: Reactor) {
        guard let connection, !ended else { return }
        connection.flush(now: reactor.now) { transmit($0) }
        afterActivity(connection)
    }
}
