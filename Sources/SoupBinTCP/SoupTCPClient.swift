import MoldUDP64
import Reactor

/// A `SoupClient` on a reactor: connects over TCP, logs in, delivers the
/// session to the client's `MessageConsumer`, heartbeats on a reactor timer,
/// and after a drop (reset, EOF, a silent server) connects again and logs in
/// at the next sequence number it still needs. A rejected login, End of
/// Session or a logout end it for good (`isFinished`).
///
/// ```swift
/// let soup = try SoupClient(configuration: .init(username: "feed", password: "secret"), consumer: printer)
/// let tcp = try SoupTCPClient(client: soup, server: address, reactor: reactor)
/// tcp.onFinished = { reactor.stop() }
/// ```
public final class SoupTCPClient: TCPStreamHandler, SoupOutput, TimerHandler {
    /// How the client connects and reconnects (times in nanoseconds).
    public struct Configuration: Sendable {
        /// Give up on a connect after this long (it is retried after `reconnectDelay`).
        public var connectTimeout: UInt64
        /// Wait this long after a drop before connecting again.
        public var reconnectDelay: UInt64
        /// Connects to try in a row without a login accepted before giving up
        /// (nil: forever).
        public var maxConnectAttempts: Int?
        /// The tick that sends heartbeats and notices a silent server.
        public var servicePeriod: UInt64
        /// The stream's buffers.
        public var stream: TCPStreamOptions

        /// A configuration; each argument is the property of the same name.
        public init(connectTimeout: UInt64 = 1_000_000_000, reconnectDelay: UInt64 = 100_000_000,
                    maxConnectAttempts: Int? = nil, servicePeriod: UInt64 = 50_000_000,
                    stream: TCPStreamOptions = TCPStreamOptions(receiveCapacity: 256 * 1024)) {
            self.connectTimeout = connectTimeout
            self.reconnectDelay = reconnectDelay
            self.maxConnectAttempts = maxConnectAttempts
            self.servicePeriod = servicePeriod
            self.stream = stream
        }
    }

    /// Why the client stopped for good.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        /// The server sent End of Session.
        case endOfSession
        /// The server rejected the login (the reason says which credential or session to fix).
        case rejected(RejectReason)
        /// This side logged out (`logout()`).
        case loggedOut
        /// `maxConnectAttempts` connects failed in a row; the last TCP reason.
        case unreachable(TCPCloseReason)
        /// `close()` was called.
        case closed

        /// The outcome in words.
        public var description: String {
            switch self {
            case .endOfSession: "end of session"
            case .rejected(let reason): "login rejected: \(reason)"
            case .loggedOut: "logged out"
            case .unreachable(let reason): "server unreachable: \(reason)"
            case .closed: "closed"
            }
        }
    }

    /// The protocol state (sequence numbers, counters, the rejection).
    public let client: SoupClient
    /// The server connected to.
    public let server: SocketAddress
    /// How the client connects and reconnects.
    public let configuration: Configuration
    /// TCP connects started.
    public private(set) var connectAttempts: UInt64 = 0
    /// Connections that ended while the client still wanted the session (each is reconnected).
    public private(set) var drops: UInt64 = 0
    /// The reason the last TCP connection ended.
    public private(set) var lastCloseReason: TCPCloseReason?
    /// Set once the client stopped for good.
    public private(set) var outcome: Outcome?
    /// Called once when `outcome` is set.
    public var onFinished: ((Outcome) -> Void)?
    /// Called after each read's packets went to the client (a consumer that
    /// batches messages flushes here).
    public var afterRead: (() -> Void)?
    /// True once the client stopped for good.
    public var isFinished: Bool { outcome != nil }
    /// True while a TCP connection is open or being set up (false once a
    /// logout's close has completed).
    public var isConnected: Bool { token != nil }

    weak var reactor: Reactor?
    var token: Token?
    var isOpen = false
    var tick = TimerHandle.invalid
    var reconnectTimer = TimerHandle.invalid
    var failedInARow = 0
    let reader: SoupSpanReader
    static let reconnectTag: UInt64 = 1

    /// Starts connecting to `server` at once.
    ///
    /// - Throws: `ReactorError` when the connect cannot even start (no route, no descriptors).
    public init(client: SoupClient, server: SocketAddress, reactor: Reactor,
                configuration: Configuration = Configuration()) throws {
        self.client = client
        self.server = server
        self.configuration = configuration
        self.reactor = reactor
        reader = SoupSpanReader(maxFrameLength: client.configuration.maxFrameLength)
        tick = try reactor.schedule(after: configuration.servicePeriod, period: configuration.servicePeriod, handler: self)
        try connect(reactor)
    }

    deinit { reader.deallocate() }

    /// Sends a Logout Request (2.3.4) and shuts the write side down after it;
    /// what the server still sends is read and discarded until it closes (a close
    /// with unread bytes would be a reset, which can overtake the logout). The
    /// client is finished.
    public func logout() {
        guard let reactor, outcome == nil else { return }
        if let token, isOpen {
            client.logout(now: reactor.now, output: self)
            reactor.shutdownWrite(token)
        }
        finish(.loggedOut)
    }

    /// Stops at once: closes the connection without logging out.
    public func close() {
        guard outcome == nil else { return }
        if let token { reactor?.close(token, flush: false) }
        finish(.closed)
    }

    func finish(_ result: Outcome) {
        guard outcome == nil else { return }
        outcome = result
        if let reactor {
            reactor.cancel(tick)
            reactor.cancel(reconnectTimer)
        }
        onFinished?(result)
    }

    func connect(_ reactor: Reactor) throws(ReactorError) {
        connectAttempts &+= 1
        token = try reactor.connect(to: server, options: configuration.stream, timeout: configuration.connectTimeout,
                                    handler: self)
    }

    // MARK: - SoupOutput

    /// Free room in the send ring.
    public var writableSpace: Int {
        guard let token, isOpen, let queued = reactor?.queuedBytes(token) else { return 0 }
        return configuration.stream.sendCapacity - queued
    }

    /// Writes into the send ring (the caller checked `writableSpace`).
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard let token, let reactor else { return }
        reactor.write(token, bytes)
    }

    // MARK: - TCPStreamHandler

    /// Logs in at the next sequence number needed.
    public func connected(token: Token, reactor: Reactor) {
        self.token = token
        isOpen = true
        client.connected(now: reactor.now, output: self)
    }

    /// Feeds the packets to the client; closes on a rejection, End of Session or bad data.
    public func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
        // Logged out: the server's last bytes are not wanted.
        guard outcome == nil else { return bytes.count }
        let now = reactor.now
        let (consumed, status) = reader.read(bytes) { client.receive($0, now: now, output: self) }
        if client.state == .streaming { failedInARow = 0 }
        afterRead?()
        if case .close(let reason, let flush) = status {
            isOpen = false
            // Finished before the close, whose `closed` would otherwise reconnect.
            switch reason {
            case .endOfSession: finish(.endOfSession)
            case .rejected(let why): finish(.rejected(why))
            default: break
            }
            reactor.close(token, flush: flush)
        }
        return consumed
    }

    /// The connection ended: reconnect after `reconnectDelay` unless finished.
    public func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
        guard token == self.token else { return }
        isOpen = false
        self.token = nil
        lastCloseReason = reason
        client.disconnected()
        guard outcome == nil else { return }
        drops &+= 1
        failedInARow += 1
        if let limit = configuration.maxConnectAttempts, failedInARow >= limit {
            finish(.unreachable(reason))
            return
        }
        do {
            reactor.cancel(reconnectTimer)
            reconnectTimer = try reactor.schedule(after: configuration.reconnectDelay, tag: Self.reconnectTag, handler: self)
        } catch {
            finish(.unreachable(reason))
        }
    }

    // MARK: - TimerHandler

    /// The tick (heartbeats, a silent server) and the reconnect timer.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if tag == Self.reconnectTag {
            guard outcome == nil, token == nil else { return }
            do { try connect(reactor) } catch { finish(.unreachable(lastCloseReason ?? .connectTimedOut)) }
            return
        }
        guard let token, isOpen else { return }
        if case .close(_, let flush) = client.service(now: now, output: self) {
            isOpen = false
            reactor.close(token, flush: flush)
        }
    }
}
