import MoldUDP64
import Reactor

/// A `SoupServer` on a reactor: a TCP listener whose connections each get a
/// `SoupServerConnection`, their bytes in and their packets out through the
/// connection's send ring, and one periodic timer that moves live data,
/// heartbeats and the timeouts (login, silent peer, slow client).
///
/// Live data needs no call from the publisher: each tick copies what the store
/// gained to every logged-in client whose ring has room. A publisher that wants
/// lower latency than the tick calls `publish(now:)` after appending.
///
/// ```swift
/// let soup = try SoupTCPServer(server: SoupServer(configuration: .init(session: "FEED000001"), store: store),
///                              address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
/// print(soup.localAddress)        // the kernel's port when 0 was asked for
/// ```
public final class SoupTCPServer: TCPListenerHandler, TimerHandler {
    /// What the wiring saw (the protocol's own counters are `server.counters`).
    public struct Counters: Sendable, Equatable {
        /// TCP connections that ended, however they ended.
        public var closed: UInt64 = 0
        /// Connections that ended by the peer (EOF or reset) before logging out.
        public var dropped: UInt64 = 0
        /// Bytes written to clients.
        public var bytesSent: UInt64 = 0
    }

    /// The protocol state: session, credentials, limits, counters.
    public let server: SoupServer
    /// The address the listener is bound to (the kernel's port when 0 was asked for).
    public let localAddress: SocketAddress
    /// What the wiring saw.
    public internal(set) var counters = Counters()
    /// The reason each connection closed with, most recent last (at most 64 kept: diagnostics).
    public internal(set) var recentCloseReasons: [SoupCloseReason] = []
    let streamOptions: TCPStreamOptions
    let maxFrameLength: Int
    var streams: [Token: SoupServerStream] = [:]
    /// Where a connection's packets are gathered before one `Reactor.write`:
    /// outside a connection's own callback each write is a send system call, and
    /// a replay writes two pieces per message. Shared: connections are serviced
    /// one at a time on the reactor's thread, and each commits before the next.
    let staging: UnsafeMutableRawBufferPointer
    var staged = 0
    var listenerToken: Token?
    var tick = TimerHandle.invalid
    weak var reactor: Reactor?

    /// Listens on `address` and serves `server`'s session. `servicePeriod` is the
    /// tick that sends live data and checks the timeouts (1 ms by default: the
    /// heartbeat and timeout settings are in seconds, live data wants less).
    ///
    /// - Throws: `SystemError` when the address cannot be bound (in use: pick
    ///   another port or 0), `ReactorError` when the reactor refuses the listener.
    public init(server: SoupServer, address: SocketAddress, reactor: Reactor,
                options: TCPListenerOptions = TCPListenerOptions(), servicePeriod: UInt64 = 1_000_000) throws {
        self.server = server
        streamOptions = options.stream
        maxFrameLength = server.configuration.maxFrameLength
        staging = .allocate(byteCount: max(64 * 1024, maxFrameLength), alignment: 8)
        let listener = try TCPListener.bound(to: address, options: options)
        localAddress = try listener.localAddress()
        self.reactor = reactor
        listenerToken = try reactor.listen(listener, options: options, handler: self)
        tick = try reactor.schedule(after: servicePeriod, period: servicePeriod, handler: self)
    }

    deinit { staging.deallocate() }

    /// Connections open now.
    public var connectionCount: Int { streams.count }

    /// Sends what the store gained to every logged-in client now (instead of at
    /// the next tick), and services timeouts.
    public func publish(now: UInt64) {
        guard let reactor else { return }
        for stream in streams.values { stream.service(now: now, reactor: reactor) }
    }

    /// The session is over: every client gets the rest of the messages and then
    /// End of Session, and is disconnected (SoupBinTCP 3.00, 2.2.5).
    public func endSession(now: UInt64) {
        server.endSession()
        publish(now: now)
    }

    /// Stops listening, closes every connection (without flushing) and stops the tick.
    public func close() {
        guard let reactor else { return }
        reactor.cancel(tick)
        if let listenerToken { reactor.deregister(listenerToken) }
        listenerToken = nil
        for token in Array(streams.keys) { reactor.close(token, flush: false) }
        self.reactor = nil
    }

    // MARK: - TCPListenerHandler

    /// A connection's handler, or nil (refused, counted in `server.counters.refusedAtLimit`)
    /// when `maxConnections` are open.
    public func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
        guard let connection = server.accept(now: reactor.now) else { return nil }
        return SoupServerStream(owner: self, connection: connection)
    }

    // MARK: - TimerHandler

    /// The tick: live data, heartbeats, timeouts for every connection.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        for stream in streams.values { stream.service(now: now, reactor: reactor) }
    }

    func closed(_ stream: SoupServerStream, token: Token, reason: SoupCloseReason?, tcp: TCPCloseReason) {
        streams[token] = nil
        counters.closed &+= 1
        let why = reason ?? .disconnected
        if reason == nil, tcp == .peerClosed || tcp == .reset || tcp == .local(flushed: true) { counters.dropped &+= 1 }
        if recentCloseReasons.count == 64 { recentCloseReasons.removeFirst() }
        recentCloseReasons.append(why)
    }
}

/// One accepted connection: the bytes between a TCP stream and its
/// `SoupServerConnection`. Also the connection's `SoupOutput`: room is what the
/// send ring has free.
final class SoupServerStream: TCPStreamHandler, SoupOutput {
    unowned let owner: SoupTCPServer
    let connection: SoupServerConnection
    let reader: SoupSpanReader
    var token: Token?
    weak var reactor: Reactor?
    /// Why the protocol closed the connection, when it did.
    var closeReason: SoupCloseReason?

    init(owner: SoupTCPServer, connection: SoupServerConnection) {
        self.owner = owner
        self.connection = connection
        reader = SoupSpanReader(maxFrameLength: owner.maxFrameLength)
    }

    deinit { reader.deallocate() }

    var writableSpace: Int {
        guard let token, let queued = reactor?.queuedBytes(token), closeReason == nil else { return 0 }
        return min(owner.streamOptions.sendCapacity - queued, owner.staging.count) - owner.staged
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // Safety: the connection wrote at most writableSpace bytes, which leaves
        // staged + count within the staging buffer.
        (owner.staging.baseAddress! + owner.staged).copyMemory(from: base, byteCount: bytes.count)
        owner.staged += bytes.count
    }

    /// Hands what was staged to the send ring in one write (it fits: writableSpace said so).
    func commit(reactor: Reactor) {
        let count = owner.staged
        guard count > 0 else { return }
        // Emptied before the write: the send it starts can call `writable`, whose
        // service stages anew (the bytes are in the ring by then).
        owner.staged = 0
        guard let token else { return }
        owner.counters.bytesSent &+= UInt64(reactor.write(token, UnsafeRawBufferPointer(rebasing: owner.staging[0..<count])))
    }

    func connected(token: Token, reactor: Reactor) {
        self.token = token
        self.reactor = reactor
        owner.streams[token] = self
    }

    func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
        let now = reactor.now
        let (consumed, status) = reader.read(bytes) { connection.receive($0, now: now, output: self) }
        commit(reactor: reactor)
        if apply(status, reactor: reactor) { service(now: now, reactor: reactor) }
        return consumed
    }

    func writable(token: Token, reactor: Reactor) {
        service(now: reactor.now, reactor: reactor)
    }

    func service(now: UInt64, reactor: Reactor) {
        guard closeReason == nil else { return }
        // A round moves at most one staging buffer; the kernel takes it at once
        // outside a callback, so go on while messages moved and the ring has room
        // (bounded, so one replaying client cannot hold the reactor for long).
        for _ in 0..<64 {
            let (sent, status) = connection.service(now: now, output: self)
            commit(reactor: reactor)
            guard apply(status, reactor: reactor), sent > 0 else { return }
            if writableSpace < owner.staging.count / 2 { break }
        }
        // Still owed: go on when the ring drains, not at the next tick.
        if connection.nextSequence < owner.server.store.nextSequenceNumber, let token {
            reactor.notifyWhenWritable(token)
        }
    }

    /// Closes the stream when the protocol says so; true while it stays open.
    func apply(_ status: SoupConnectionStatus, reactor: Reactor) -> Bool {
        guard case .close(let reason, let flush) = status else { return true }
        guard closeReason == nil, let token else { return false }
        closeReason = reason
        reactor.close(token, flush: flush)
        return false
    }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
        connection.disconnected()
        owner.closed(self, token: token, reason: closeReason, tcp: reason)
    }
}
