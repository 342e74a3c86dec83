import MoldUDP64

/// The I/O-free server side of SoupBinTCP 3.00: one sequenced session served
/// to many logged-in clients out of a `RetransmissionStore` (the publisher's,
/// so one process answers MoldUDP64 re-requests and SoupBinTCP logins from the
/// same messages).
///
/// Replay and live data are one mechanism: each connection keeps the number of
/// the next message it owes its client and copies messages from the store
/// while its output has room. A message published during a replay is simply
/// further along the same sequence, so the seam between replay and live has no
/// gap and no duplicate by construction.
///
/// ```swift
/// let server = try SoupServer(configuration: .init(session: "FEED000001"), store: publisher.store)
/// let connection = server.accept(now: reactor.now)      // nil when at the limit
/// connection?.receive(bytes, now: now, output: stream)  // returns bytes consumed
/// connection?.service(now: now, output: stream)          // replay/live/heartbeat/timeouts
/// ```
public final class SoupServer {
    /// The session served, who may log in, and the timeouts (all in nanoseconds)
    /// and limits that protect the server from slow or silent clients.
    public struct Configuration: Sendable {
        /// The session served (the MoldUDP64 publisher's session name).
        public var session: String
        /// Who may log in; `.anyone` accepts every username and password.
        public var credentials: Credentials
        /// Send a Server Heartbeat after this long without sending (2.2.4: 1 s).
        public var heartbeatInterval: UInt64
        /// Drop a client silent this long (SoupBinTCP: 15 s).
        public var peerTimeout: UInt64
        /// Drop a connection that has not logged in after this long.
        public var loginTimeout: UInt64
        /// Drop a client whose output stays full (it is not reading) this long
        /// while it is owed data: a slow client must not hold the feed back.
        public var slowClientTimeout: UInt64
        /// The largest packet (type + payload) a client may send; clients send
        /// only short packets, so a long one is garbage and closes the connection.
        public var maxFrameLength: Int
        /// Connections at once; more are refused and counted.
        public var maxConnections: Int

        /// A configuration for `session`; every other argument is the property of the
        /// same name (times in nanoseconds). `SoupServer.init` checks the values.
        public init(session: String, credentials: Credentials = .anyone,
                    heartbeatInterval: UInt64 = 1_000_000_000, peerTimeout: UInt64 = 15_000_000_000,
                    loginTimeout: UInt64 = 5_000_000_000, slowClientTimeout: UInt64 = 5_000_000_000,
                    maxFrameLength: Int = 1024, maxConnections: Int = 1024) {
            self.session = session
            self.credentials = credentials
            self.heartbeatInterval = heartbeatInterval
            self.peerTimeout = peerTimeout
            self.loginTimeout = loginTimeout
            self.slowClientTimeout = slowClientTimeout
            self.maxFrameLength = maxFrameLength
            self.maxConnections = maxConnections
        }
    }

    /// What the server and all its connections did.
    public struct Counters: Sendable, Equatable {
        /// Connections accepted (`accept` returned a connection).
        public var accepted: UInt64 = 0
        /// Connections refused because `maxConnections` were open.
        public var refusedAtLimit: UInt64 = 0
        /// Logins accepted.
        public var loginsAccepted: UInt64 = 0
        /// Logins rejected with `A` (wrong username or password).
        public var rejectedNotAuthorized: UInt64 = 0
        /// Logins rejected with `S` (the requested session is not the one served).
        public var rejectedSessionNotAvailable: UInt64 = 0
        /// Connections closed for not logging in within `loginTimeout`.
        public var loginTimeouts: UInt64 = 0
        /// Connections closed for silence past `peerTimeout` (no heartbeats).
        public var peerTimeouts: UInt64 = 0
        /// Connections closed for not reading (output full past `slowClientTimeout`).
        public var slowClientsCut: UInt64 = 0
        /// Connections closed because the store evicted messages they were still owed.
        public var fellBehindStore: UInt64 = 0
        /// Connections closed for a packet that is not valid SoupBinTCP.
        public var malformedFrames: UInt64 = 0
        /// Connections closed for a packet a client must not send now (a second login,
        /// a server-only type).
        public var protocolViolations: UInt64 = 0
        /// Logout Requests received.
        public var logouts: UInt64 = 0
        /// Sequenced Data messages written to clients (replay and live).
        public var sequencedSent: UInt64 = 0
        /// Server Heartbeats written.
        public var heartbeatsSent: UInt64 = 0
        /// Unsequenced Data packets received (counted, otherwise ignored: this server
        /// takes no orders).
        public var unsequencedReceived: UInt64 = 0
        /// Logins whose requested sequence number was already evicted from the
        /// store: accepted at the oldest message held (the client sees the gap in
        /// the Login Accepted sequence number).
        public var loginsBeforeStore: UInt64 = 0
    }

    /// The configuration the server was made with.
    public let configuration: Configuration
    /// The messages served: replay and live data come from this store.
    public let store: RetransmissionStore
    /// The served session's name in wire form.
    public let session: SoupSessionName
    /// What the server and its connections did so far.
    public internal(set) var counters = Counters()
    /// Connections open now (accepted and not yet closed).
    public internal(set) var connectionCount = 0
    /// True once `endSession()` was called: after the last message each client
    /// gets End of Session.
    public private(set) var ended = false

    /// A server for `configuration`, serving from `store`.
    ///
    /// - Throws: `SoupConfigurationError` when the session name is invalid,
    ///   `maxFrameLength` is outside 47...65535 or `maxConnections` is not positive.
    public init(configuration: Configuration, store: RetransmissionStore) throws(SoupConfigurationError) {
        guard configuration.maxFrameLength >= 1 + PacketType.loginRequest.fixedPayloadLength!,
              configuration.maxFrameLength <= SoupPacket.maxWireLength else {
            throw .invalidSetting("maxFrameLength must be from 47 (a Login Request) to 65535")
        }
        guard configuration.maxConnections > 0 else { throw .invalidSetting("maxConnections must be positive") }
        self.configuration = configuration
        self.store = store
        session = try SoupSessionName(configuration.session)
    }

    /// A new connection's state, or nil (counted) when `maxConnections` are open.
    public func accept(now: UInt64) -> SoupServerConnection? {
        guard connectionCount < configuration.maxConnections else {
            counters.refusedAtLimit &+= 1
            return nil
        }
        connectionCount += 1
        counters.accepted &+= 1
        return SoupServerConnection(server: self, now: now)
    }

    /// No more messages: clients that have everything get End of Session.
    public func endSession() { ended = true }
}

/// Why a server connection ended.
public enum SoupCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// The client sent a Logout Request.
    case loggedOut
    /// The client did not log in within `loginTimeout`.
    case loginTimeout
    /// The client was silent (no heartbeats) past `peerTimeout`.
    case peerSilent
    /// The client sent bytes that are not a valid SoupBinTCP packet.
    case malformed(FrameError)
    /// A packet the peer must not send now (a second login, a server-only type).
    case protocolViolation(PacketType)
    /// The login was rejected (after the Login Rejected packet was flushed).
    case rejected(RejectReason)
    /// The client did not read: its output stayed full past `slowClientTimeout`.
    case slowClient
    /// The client fell so far behind that the store dropped what it still owed.
    case fellBehindStore
    /// The session ended and the client had every message and End of Session.
    case endOfSession
    /// The TCP connection ended (peer EOF, reset, error): reported by the wiring.
    case disconnected

    /// The reason in words, as the server logs it.
    public var description: String {
        switch self {
        case .loggedOut: "logged out"
        case .loginTimeout: "no login within the login timeout"
        case .peerSilent: "peer silent past the timeout (no heartbeats)"
        case .malformed(let error): error.description
        case .protocolViolation(let type): "unexpected \(type) packet"
        case .rejected(let reason): "login rejected: \(reason)"
        case .slowClient: "client not reading: its send buffer stayed full past slowClientTimeout"
        case .fellBehindStore: "client fell behind the retransmission store's oldest message"
        case .endOfSession: "end of session sent"
        case .disconnected: "disconnected"
        }
    }
}

/// What a connection asks of its wiring after `receive` or `service`.
public enum SoupConnectionStatus: Equatable, Sendable {
    /// Keep the connection; call `service` again when the output has room or time passes.
    case open
    /// Close the TCP connection after flushing what was written (a rejection,
    /// End of Session), or at once; `reason` says why.
    case close(SoupCloseReason, flush: Bool)
}

/// One client connection of a `SoupServer`: login, replay and live data,
/// heartbeats, timeouts. No I/O: the wiring passes received bytes and an output.
public final class SoupServerConnection {
    /// Where the connection is in its life.
    public enum State: Equatable, Sendable {
        /// Accepted; waiting for the client's Login Request (within `loginTimeout`).
        case awaitingLogin
        /// Logged in: replaying, then live data and heartbeats.
        case streaming
        /// Ended (the status that closed it said why); further input is ignored.
        case closed
    }

    /// Strong: a connection outliving its server still has somewhere to report.
    let server: SoupServer
    /// Where the connection is in its life.
    public private(set) var state = State.awaitingLogin
    /// The number of the next message owed to the client (after login).
    public private(set) var nextSequence: UInt64 = 0
    let openedAt: UInt64
    var lastReceived: UInt64
    var lastSent: UInt64
    /// Since when the client has been owed data that did not fit its output.
    var blockedSince: UInt64?
    var endSent = false
    /// Scratch for the fixed-size packets (login answers, heartbeats).
    let scratch: UnsafeMutableRawPointer

    init(server: SoupServer, now: UInt64) {
        self.server = server
        openedAt = now
        lastReceived = now
        lastSent = now
        scratch = .allocate(byteCount: 64, alignment: 8)
    }

    deinit {
        scratch.deallocate()
        if state != .closed { server.connectionCount -= 1 }
    }

    /// Handles the packets in `bytes` and returns how many bytes were consumed
    /// (a partial packet at the end stays for the next call) and the status.
    public func receive(_ bytes: UnsafeRawBufferPointer, now: UInt64, output: any SoupOutput) -> (consumed: Int, status: SoupConnectionStatus) {
        guard state != .closed else { return (bytes.count, .close(.disconnected, flush: false)) }
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let packet: SoupPacket
            do {
                guard let next = try SoupPacket.first(in: rest, maxFrameLength: server.configuration.maxFrameLength) else { break }
                packet = next
            } catch {
                server.counters.malformedFrames &+= 1
                return (bytes.count, close(.malformed(error), flush: false))
            }
            offset += packet.frameLength
            lastReceived = now
            let status = handle(packet, now: now, output: output)
            if status != .open { return (offset, status) }
        }
        return (offset, .open)
    }

    func handle(_ packet: SoupPacket, now: UInt64, output: any SoupOutput) -> SoupConnectionStatus {
        switch packet.type {
        case .loginRequest where state == .awaitingLogin:
            return login(packet, now: now, output: output)
        case .clientHeartbeat, .debug:
            return .open
        case .unsequencedData where state == .streaming:
            server.counters.unsequencedReceived &+= 1
            return .open
        case .logoutRequest:
            server.counters.logouts &+= 1
            return close(.loggedOut, flush: true)
        default:
            server.counters.protocolViolations &+= 1
            return close(.protocolViolation(packet.type), flush: false)
        }
    }

    func login(_ packet: SoupPacket, now: UInt64, output: any SoupOutput) -> SoupConnectionStatus {
        guard server.configuration.credentials.accepts(username: packet.username!, password: packet.password!) else {
            server.counters.rejectedNotAuthorized &+= 1
            return reject(.notAuthorized, now: now, output: output)
        }
        let requested = packet.session!
        guard SoupFields.trimmed(requested).isEmpty || server.session.matches(requested) else {
            server.counters.rejectedSessionNotAvailable &+= 1
            return reject(.sessionNotAvailable, now: now, output: output)
        }
        let store = server.store
        let asked = packet.sequenceNumber!
        // 0: from the next new message (2.3.1). Past the end: the next one too.
        var start = asked == 0 ? store.nextSequenceNumber : min(asked, store.nextSequenceNumber)
        if start < store.firstSequenceNumber {
            server.counters.loginsBeforeStore &+= 1
            start = store.firstSequenceNumber
        }
        nextSequence = start
        state = .streaming
        server.counters.loginsAccepted &+= 1
        let size = server.session.text.withUnsafeBytes {
            SoupWriter.loginAccepted(session: $0, sequence: start, to: scratch)
        }
        // A fresh connection's output always has room for 33 bytes.
        emit(UnsafeRawBufferPointer(start: scratch, count: size), now: now, output: output)
        return .open
    }

    func reject(_ reason: RejectReason, now: UInt64, output: any SoupOutput) -> SoupConnectionStatus {
        let size = SoupWriter.loginRejected(reason, to: scratch)
        emit(UnsafeRawBufferPointer(start: scratch, count: size), now: now, output: output)
        return close(.rejected(reason), flush: true)
    }

    @inline(__always)
    func emit(_ bytes: UnsafeRawBufferPointer, now: UInt64, output: any SoupOutput) {
        guard output.writableSpace >= bytes.count else { return }
        output.write(bytes)
        lastSent = now
    }

    func close(_ reason: SoupCloseReason, flush: Bool) -> SoupConnectionStatus {
        if state != .closed {
            state = .closed
            server.connectionCount -= 1
        }
        return .close(reason, flush: flush)
    }

    /// The wiring saw the TCP connection end; frees the connection's place.
    public func disconnected() { _ = close(.disconnected, flush: false) }

    /// Sends what is owed (replay, then live data as the store grows) while the
    /// output has room, End of Session once everything is sent after
    /// `endSession()`, heartbeats when idle; enforces the timeouts. Call it when
    /// the output has room again, after publishing, and from a timer.
    /// Returns how many sequenced messages it wrote, and the status.
    @discardableResult
    public func service(now: UInt64, output: any SoupOutput) -> (sent: Int, status: SoupConnectionStatus) {
        let configuration = server.configuration
        switch state {
        case .closed:
            return (0, .close(.disconnected, flush: false))
        case .awaitingLogin:
            if now &- openedAt >= configuration.loginTimeout {
                server.counters.loginTimeouts &+= 1
                return (0, close(.loginTimeout, flush: false))
            }
            return (0, .open)
        case .streaming:
            break
        }
        if now &- lastReceived >= configuration.peerTimeout {
            server.counters.peerTimeouts &+= 1
            return (0, close(.peerSilent, flush: false))
        }
        let store = server.store
        if nextSequence < store.firstSequenceNumber {
            server.counters.fellBehindStore &+= 1
            return (0, close(.fellBehindStore, flush: false))
        }
        var sent = 0
        while nextSequence < store.nextSequenceNumber, let message = store.message(nextSequence) {
            let size = SoupWriter.frameSize(payload: message.count)
            guard output.writableSpace >= size else { break }
            SoupWriter.header(.sequencedData, payload: message.count, to: scratch)
            output.write(UnsafeRawBufferPointer(start: scratch, count: SoupPacket.headerSize))
            output.write(message)
            nextSequence += 1
            sent += 1
        }
        if sent > 0 {
            lastSent = now
            server.counters.sequencedSent &+= UInt64(sent)
        }
        if nextSequence < store.nextSequenceNumber {
            // Owed more than fits: how long has the client not been reading?
            if sent > 0 || blockedSince == nil { blockedSince = now }
            if let since = blockedSince, now &- since >= configuration.slowClientTimeout {
                server.counters.slowClientsCut &+= 1
                return (sent, close(.slowClient, flush: false))
            }
            return (sent, .open)
        }
        blockedSince = nil
        if server.ended && !endSent && output.writableSpace >= SoupPacket.headerSize {
            let size = SoupWriter.empty(.endOfSession, to: scratch)
            emit(UnsafeRawBufferPointer(start: scratch, count: size), now: now, output: output)
            endSent = true
            return (sent, close(.endOfSession, flush: true))
        }
        if now &- lastSent >= configuration.heartbeatInterval && output.writableSpace >= SoupPacket.headerSize {
            let size = SoupWriter.empty(.serverHeartbeat, to: scratch)
            emit(UnsafeRawBufferPointer(start: scratch, count: size), now: now, output: output)
            server.counters.heartbeatsSent &+= 1
        }
        return (sent, .open)
    }

    /// When `service` next has something to do on its own (heartbeat or timeout).
    public func nextDeadline() -> UInt64 {
        let configuration = server.configuration
        switch state {
        case .awaitingLogin: return openedAt &+ configuration.loginTimeout
        case .closed: return .max
        case .streaming:
            var deadline = min(lastSent &+ configuration.heartbeatInterval, lastReceived &+ configuration.peerTimeout)
            if let since = blockedSince { deadline = min(deadline, since &+ configuration.slowClientTimeout) }
            return deadline
        }
    }
}
