import MoldUDP64

/// The I/O-free client side of SoupBinTCP 3.00: log in at a sequence number,
/// deliver Sequenced Data in order through a MoldUDP64 `MessageConsumer` (the
/// same one a MoldUDP64 `Client` uses), heartbeat, notice a silent server, and
/// log in again after a drop at the next message it still needs.
///
/// ```swift
/// let client = try SoupClient(configuration: .init(username: "feed", password: "secret"), consumer: printer)
/// client.connected(now: now, output: stream)          // writes the Login Request
/// let (used, status) = client.receive(bytes, now: now, output: stream)
/// client.service(now: now, output: stream)            // heartbeats, server timeout
/// ```
public final class SoupClient {
    /// What the client logs in with and how it times heartbeats and silence (all
    /// times in nanoseconds).
    public struct Configuration: Sendable {
        /// The Login Request's username: at most 6 printable ASCII characters, no spaces
        /// (2.3.1). Empty sends six spaces.
        public var username: String
        /// The Login Request's password: at most 10 printable ASCII characters, no spaces (2.3.1).
        public var password: String
        /// The session to log into; empty = the server's current session.
        public var session: String
        /// The first sequence number wanted (0 = from the next new message).
        public var firstSequence: UInt64
        /// Send a Client Heartbeat after this long without sending (1 s).
        public var heartbeatInterval: UInt64
        /// Give up on a server silent this long (15 s).
        public var serverTimeout: UInt64
        /// The largest packet accepted from the server (type + payload).
        public var maxFrameLength: Int

        /// A configuration; each argument is the property of the same name (times in
        /// nanoseconds). `SoupClient.init` checks the values.
        public init(username: String = "", password: String = "", session: String = "", firstSequence: UInt64 = 1,
                    heartbeatInterval: UInt64 = 1_000_000_000, serverTimeout: UInt64 = 15_000_000_000,
                    maxFrameLength: Int = SoupPacket.maxWireLength) {
            self.username = username
            self.password = password
            self.session = session
            self.firstSequence = firstSequence
            self.heartbeatInterval = heartbeatInterval
            self.serverTimeout = serverTimeout
            self.maxFrameLength = maxFrameLength
        }
    }

    /// Where the client is in a connection's life (SoupBinTCP 3.00, section 2).
    public enum State: Equatable, Sendable {
        /// No TCP connection: call `connected(now:output:)` once one is up.
        case disconnected
        /// The Login Request is written; waiting for Login Accepted or Rejected.
        case loggingIn
        /// Logged in: Sequenced Data is delivered to the consumer in order.
        case streaming
        /// The server sent End of Session or rejected the login (see
        /// `rejection`), or the client logged out: reconnecting would not help.
        case ended
    }

    /// What the client saw and did, over all its connections.
    public struct Counters: Sendable, Equatable {
        /// Login Requests written (one per connection).
        public var logins: UInt64 = 0
        /// Login Accepted packets received.
        public var loginsAccepted: UInt64 = 0
        /// Login Rejected packets received (the client then ends: see `rejection`).
        public var loginsRejected: UInt64 = 0
        /// Sequenced Data messages delivered to the consumer.
        public var messages: UInt64 = 0
        /// Payload bytes of the delivered messages.
        public var bytes: UInt64 = 0
        /// Server Heartbeats received.
        public var heartbeatsReceived: UInt64 = 0
        /// Client Heartbeats written after `heartbeatInterval` without sending.
        public var heartbeatsSent: UInt64 = 0
        /// Debug packets received (logged by nobody, counted here).
        public var debugPackets: UInt64 = 0
        /// Packets that were not valid SoupBinTCP (bad length, unknown type, a field
        /// that does not parse), or that the server must not send in the current
        /// state; each ends the connection.
        public var malformed: UInt64 = 0
        /// Times the server was silent past `serverTimeout` (the connection is then dropped).
        public var serverTimeouts: UInt64 = 0
        /// Messages skipped because the server started later than asked (its
        /// store no longer held them): reported to the consumer as lost.
        public var lostAtLogin: UInt64 = 0
        /// Messages the server sent again that were delivered before (it
        /// started earlier than asked): skipped, not delivered twice.
        public var duplicatesSkipped: UInt64 = 0
    }

    /// What happened, for the wiring and the user (login results, the end).
    public enum Event: Equatable, Sendable {
        /// The server accepted the login into `session`; the next message will be `nextSequence`.
        case loginAccepted(session: String, nextSequence: UInt64)
        /// The server refused the login; reconnecting with the same credentials would not help.
        case loginRejected(RejectReason)
        /// The server sent End of Session; `nextSequence` is one past the last message.
        case endOfSession(nextSequence: UInt64)
    }

    /// The configuration the client was made with.
    public let configuration: Configuration
    /// Receives the messages in sequence order (and gaps as `lost`). Held weakly,
    /// so the consumer may own the client. The message views live only during the
    /// callback.
    public weak var consumer: (any MessageConsumer)?
    /// Hears login results and the end of session.
    public var onEvent: ((Event) -> Void)?
    /// Where the client is in the current connection.
    public private(set) var state = State.disconnected
    /// The next sequence number to deliver (and to ask for after a reconnect).
    public private(set) var nextSequence: UInt64
    /// The session the server said it logged us into (after Login Accepted).
    public private(set) var session: SoupSessionName?
    /// What the client saw and did so far.
    public private(set) var counters = Counters()
    /// Set when the server rejected the login: reconnecting would not help.
    public private(set) var rejection: RejectReason?
    var lastReceived: UInt64 = 0
    var lastSent: UInt64 = 0
    /// Messages below this were delivered already (see Login Accepted handling).
    var skipUntil: UInt64 = 0
    let username: [UInt8]
    let password: [UInt8]
    let requestedSession: SoupSessionName
    let scratch: UnsafeMutableRawPointer

    /// A client for `configuration` delivering to `consumer`. The scratch memory
    /// for outgoing packets is allocated here, once.
    ///
    /// - Throws: `SoupConfigurationError` when the username, password, session or
    ///   `maxFrameLength` (31...65535) is out of range.
    public init(configuration: Configuration, consumer: (any MessageConsumer)?) throws(SoupConfigurationError) {
        let user = Array(configuration.username.utf8)
        let pass = Array(configuration.password.utf8)
        guard user.count <= SoupFields.usernameLength else { throw .invalidUsername(configuration.username) }
        guard pass.count <= SoupFields.passwordLength else { throw .invalidPassword }
        requestedSession = try SoupSessionName(configuration.session)
        guard configuration.maxFrameLength >= 1 + PacketType.loginAccepted.fixedPayloadLength!,
              configuration.maxFrameLength <= SoupPacket.maxWireLength else {
            throw .invalidSetting("maxFrameLength must be from 31 (a Login Accepted) to 65535")
        }
        self.configuration = configuration
        self.consumer = consumer
        username = user
        password = pass
        nextSequence = configuration.firstSequence
        scratch = .allocate(byteCount: 64, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// The TCP connection is up: sends the Login Request for `nextSequence` (0 on
    /// the first login when `firstSequence` was 0: from the next new message).
    public func connected(now: UInt64, output: any SoupOutput) {
        state = .loggingIn
        lastReceived = now
        counters.logins &+= 1
        // After a drop the session to resume is the one the server named.
        let session = self.session ?? requestedSession
        let size = username.withUnsafeBytes { user in
            password.withUnsafeBytes { pass in
                session.text.withUnsafeBytes { name in
                    SoupWriter.loginRequest(username: user, password: pass, session: name, sequence: nextSequence,
                                            to: scratch)
                }
            }
        }
        send(size, now: now, output: output)
    }

    /// The TCP connection ended; `connected` logs in again at `nextSequence`.
    public func disconnected() {
        if state != .ended { state = .disconnected }
    }

    /// Handles the packets in `bytes`; returns the bytes consumed (a partial
    /// packet stays) and whether to keep the connection.
    public func receive(_ bytes: UnsafeRawBufferPointer, now: UInt64, output: any SoupOutput)
        -> (consumed: Int, status: SoupConnectionStatus) {
        var offset = 0
        while offset < bytes.count {
            // Logged out (or ended) by the consumer while this read is handled:
            // what the server sent after that is not wanted.
            guard state != .ended else { return (bytes.count, .open) }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let packet: SoupPacket
            do {
                guard let next = try SoupPacket.first(in: rest, maxFrameLength: configuration.maxFrameLength) else { break }
                packet = next
            } catch {
                counters.malformed &+= 1
                state = .disconnected
                return (bytes.count, .close(.malformed(error), flush: false))
            }
            offset += packet.frameLength
            lastReceived = now
            if let status = handle(packet) { return (offset, status) }
        }
        return (offset, .open)
    }

    func handle(_ packet: SoupPacket) -> SoupConnectionStatus? {
        switch packet.type {
        case .sequencedData where state == .streaming:
            counters.messages &+= 1
            counters.bytes &+= UInt64(packet.payload.count)
            let sequence = nextSequence
            nextSequence += 1
            if sequence < skipUntil {
                counters.duplicatesSkipped &+= 1
                return nil
            }
            consumer?.deliver(sequence: sequence, message: packet.payload)
            return nil
        case .serverHeartbeat:
            counters.heartbeatsReceived &+= 1
            return nil
        case .debug:
            counters.debugPackets &+= 1
            return nil
        case .loginAccepted where state == .loggingIn:
            let start = packet.sequenceNumber!
            counters.loginsAccepted &+= 1
            let name = SoupSessionName(field: packet.session!)
            session = name
            if nextSequence == 0 {
                nextSequence = start
            } else if start > nextSequence {
                // The server no longer holds what we asked for: say so, in order.
                counters.lostAtLogin &+= start - nextSequence
                consumer?.lost(firstSequence: nextSequence, count: start - nextSequence)
                nextSequence = start
            } else if start < nextSequence {
                // Earlier than asked: we would see messages twice. A server
                // may only do this when we asked past its end; wait for ours.
                skipUntil = nextSequence
                nextSequence = start
            }
            state = .streaming
            onEvent?(.loginAccepted(session: name.description, nextSequence: start))
            return nil
        case .loginRejected where state == .loggingIn:
            counters.loginsRejected &+= 1
            let reason = packet.rejectReason!
            rejection = reason
            state = .ended
            onEvent?(.loginRejected(reason))
            return .close(.rejected(reason), flush: false)
        case .endOfSession where state == .streaming:
            state = .ended
            consumer?.endOfSession(nextSequence: nextSequence)
            onEvent?(.endOfSession(nextSequence: nextSequence))
            return .close(.endOfSession, flush: true)
        default:
            counters.malformed &+= 1
            state = .disconnected
            return .close(.protocolViolation(packet.type), flush: false)
        }
    }

    /// Heartbeats when idle; drops a silent server (`.close(.peerSilent)`).
    @discardableResult
    public func service(now: UInt64, output: any SoupOutput) -> SoupConnectionStatus {
        guard state == .loggingIn || state == .streaming else { return .open }
        if now &- lastReceived >= configuration.serverTimeout {
            counters.serverTimeouts &+= 1
            state = .disconnected
            return .close(.peerSilent, flush: false)
        }
        if now &- lastSent >= configuration.heartbeatInterval {
            counters.heartbeatsSent &+= 1
            send(SoupWriter.empty(.clientHeartbeat, to: scratch), now: now, output: output)
        }
        return .open
    }

    /// Writes a Logout Request (2.3.4); the server then closes the connection.
    public func logout(now: UInt64, output: any SoupOutput) {
        send(SoupWriter.empty(.logoutRequest, to: scratch), now: now, output: output)
        state = .ended
    }

    /// When `service` next has something to do on its own.
    public func nextDeadline() -> UInt64 {
        guard state == .loggingIn || state == .streaming else { return .max }
        return min(lastSent &+ configuration.heartbeatInterval, lastReceived &+ configuration.serverTimeout)
    }

    func send(_ size: Int, now: UInt64, output: any SoupOutput) {
        guard output.writableSpace >= size else { return }
        output.write(UnsafeRawBufferPointer(start: scratch, count: size))
        lastSent = now
    }
}
