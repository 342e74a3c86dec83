import MoldUDP64
import Reactor

/// TCP recovery for a MoldUDP64 `Client`, the way exchanges run it: a gap of
/// at least `threshold` messages, a late join (the first live packet is far
/// past `startSequence`), or any gap UDP cannot recover (no re-request server,
/// every server silent, a range about to be given up) is recovered over
/// SoupBinTCP: log in at the gap's first sequence number, stream until the
/// session has no hole left in the range, log out. Small gaps stay on UDP
/// re-requests. Live multicast keeps arriving meanwhile and waits in the
/// session's reorder buffer.
///
/// Messages from TCP are packed, in place and without allocating, into
/// MoldUDP64 packets of the session and handed to the same `Session` as
/// retransmissions: one sequencer, so delivery stays in order, exactly once.
///
/// ```swift
/// let client = try Client(configuration, reactor: reactor, consumer: consumer)
/// let recovery = try SoupRecovery(configuration: .init(server: soupAddress), client: client, reactor: reactor)
/// ```
public final class SoupRecovery: GapHandoff, MessageConsumer {
    /// Where to recover and when.
    public struct Configuration: Sendable {
        /// The SoupBinTCP server (`feedreactor publish --soup-port`).
        public var server: SocketAddress
        /// Login Request username (at most 6 characters).
        public var username: String
        /// Login Request password (at most 10 characters).
        public var password: String
        /// The SoupBinTCP session to log into; empty: the server's current one.
        public var session: String
        /// Gaps of at least this many messages go to TCP even while UDP re-request
        /// servers answer (smaller ones stay on UDP).
        public var threshold: UInt64
        /// After a recovery failed (server unreachable, login rejected), leave
        /// gaps to UDP for this long before trying TCP again.
        public var retryAfterFailure: UInt64
        /// Connect, reconnect and heartbeat timing of the TCP client.
        public var tcp: SoupTCPClient.Configuration

        /// A configuration for `server`; each other argument is the property of the same name.
        public init(server: SocketAddress, username: String = "", password: String = "", session: String = "",
                    threshold: UInt64 = 10_000, retryAfterFailure: UInt64 = 1_000_000_000,
                    tcp: SoupTCPClient.Configuration = SoupTCPClient.Configuration(reconnectDelay: 20_000_000)) {
            self.server = server
            self.username = username
            self.password = password
            self.session = session
            self.threshold = threshold
            self.retryAfterFailure = retryAfterFailure
            self.tcp = tcp
        }
    }

    /// What TCP recovery did.
    public struct Counters: Sendable, Equatable {
        /// Recoveries started (one TCP login each, reconnects aside).
        public var started: UInt64 = 0
        /// Recoveries that filled their range and logged out.
        public var completed: UInt64 = 0
        /// Recoveries that ended without filling their range (unreachable, rejected).
        public var failed: UInt64 = 0
        /// Messages received over TCP and handed to the session.
        public var messagesReceived: UInt64 = 0
        /// Of those, the ones the session delivered as recovered (the rest it had already).
        public var messagesDelivered: UInt64 = 0
        /// Messages the server no longer held (reported to the consumer as lost).
        public var lostOnServer: UInt64 = 0
        /// TCP connections that dropped during a recovery (each reconnected at the next sequence number).
        public var drops: UInt64 = 0
        /// Recoveries restarted with a new login because a gap opened below the
        /// TCP stream's position.
        public var restarts: UInt64 = 0
    }

    /// The configuration the recovery was made with.
    public let configuration: Configuration
    /// What TCP recovery did so far.
    public private(set) var counters = Counters()
    /// The range being recovered now.
    public private(set) var handedOff: Range<UInt64>?
    /// The recovery's TCP client while one runs.
    public private(set) var tcp: SoupTCPClient?
    /// Why the last recovery failed, if one did.
    public private(set) var lastFailure: SoupTCPClient.Outcome?
    let session: Session
    let counts: MoldCounters
    let hasUDPServers: Bool
    weak var reactor: Reactor?
    var retryAt: UInt64 = 0
    let packetBuffer: UnsafeMutableRawBufferPointer
    var writer: PacketWriter
    var building = false

    /// Attaches to `client`: its rerequester offers gaps here from now on.
    ///
    /// - Throws: `SoupConfigurationError` for a username, password or session
    ///   SoupBinTCP cannot carry.
    public init(configuration: Configuration, client: Client, reactor: Reactor) throws(SoupConfigurationError) {
        // Checked now, not at the first gap.
        _ = try SoupClient(configuration: .init(username: configuration.username, password: configuration.password,
                                                session: configuration.session), consumer: nil)
        self.configuration = configuration
        session = client.session
        counts = client.counters
        hasUDPServers = !client.configuration.servers.isEmpty
        self.reactor = reactor
        // Packets no bigger than a reorder-buffer slot: one that arrives early
        // (behind a UDP answer still in flight) is stored without splitting.
        let size = max(PacketWriter.headerSize + 2 + SoupPacket.maxWireLength, client.session.configuration.slotBytes)
        packetBuffer = .allocate(byteCount: size, alignment: 8)
        writer = PacketWriter(buffer: packetBuffer, limit: max(64, min(size, client.session.configuration.slotBytes)))
        client.rerequester.handoff = self
    }

    deinit {
        tcp?.close()
        packetBuffer.deallocate()
    }

    // MARK: - GapHandoff

    /// Takes `gap` when it is large, or when UDP cannot recover it. With a
    /// recovery under way, a gap at or after the TCP stream's position extends
    /// it (the stream passes through it anyway); a gap below that position
    /// (below the login sequence number, or already streamed past) restarts
    /// the recovery with a new login at the gap's first sequence number, since
    /// a SoupBinTCP stream never goes back (2.2 Login Request) and the gap would
    /// otherwise stay missing or, with TCP the only path, be given up as lost.
    public func takeOver(_ gap: Range<UInt64>, udpAvailable: Bool, now: UInt64) -> Bool {
        guard session.current != nil, reactor != nil else { return false }
        if let active = handedOff, let running = tcp {
            let range = min(active.lowerBound, gap.lowerBound)..<max(active.upperBound, gap.upperBound)
            guard gap.lowerBound < running.client.nextSequence else {
                handedOff = range
                return true
            }
            // Stopped without counting a failure: the restart continues the same recovery.
            flush()
            running.onFinished = nil
            running.close()
            counters.drops &+= running.drops
            counters.restarts &+= 1
            tcp = nil
            handedOff = nil
            return start(range, now: now)
        }
        guard !udpAvailable || UInt64(gap.count) >= configuration.threshold else { return false }
        guard now >= retryAt else { return false }
        guard start(gap, now: now) else { return false }
        counters.started &+= 1
        return true
    }

    /// Logs in at `range.lowerBound` and hands `range` to TCP.
    func start(_ range: Range<UInt64>, now: UInt64) -> Bool {
        guard let reactor else { return false }
        do {
            let soup = try SoupClient(configuration: .init(username: configuration.username, password: configuration.password,
                                                           session: configuration.session, firstSequence: range.lowerBound),
                                      consumer: self)
            var tcpConfiguration = configuration.tcp
            // With UDP beside it, an unreachable TCP server hands the gap back soon;
            // alone, TCP is the only way and keeps trying.
            if hasUDPServers && tcpConfiguration.maxConnectAttempts == nil { tcpConfiguration.maxConnectAttempts = 3 }
            let client = try SoupTCPClient(client: soup, server: configuration.server, reactor: reactor,
                                           configuration: tcpConfiguration)
            client.afterRead = { [unowned self] in self.flush() }
            client.onFinished = { [unowned self] outcome in self.finished(outcome) }
            tcp = client
        } catch {
            lastFailure = .unreachable(.connectTimedOut)
            counters.failed &+= 1
            retryAt = now &+ configuration.retryAfterFailure
            return false
        }
        handedOff = range
        return true
    }

    // MARK: - MessageConsumer (the SoupBinTCP client's output)

    /// Packs the message into the MoldUDP64 packet being built.
    public func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        counters.messagesReceived &+= 1
        if building && (sequence != writer.sequenceNumber &+ UInt64(writer.messageCount) || !writer.fits(length: message.count)) {
            flush()
        }
        if !building {
            guard let id = session.current else { return }
            writer.begin(session: id, sequenceNumber: sequence)
            building = true
        }
        writer.append(message)
    }

    /// The server no longer holds these messages: the session reports them lost in order.
    public func lost(firstSequence: UInt64, count: UInt64) {
        flush()
        counters.lostOnServer &+= count
        session.markUnrecoverable(firstSequence..<(firstSequence &+ count))
    }

    /// The server ended the session: what came is in; the range is done either way.
    public func endOfSession(nextSequence: UInt64) { flush() }

    /// Hands the packet built so far to the session, then logs out once the
    /// range has no hole left.
    func flush() {
        if building {
            building = false
            if writer.messageCount > 0, let packet = try? Packet(writer.packet) {
                // Recovered, not delivered: filling a gap also delivers the live
                // data buffered behind it.
                let before = counts.recovered
                session.receive(packet, now: reactor?.now ?? 0, retransmission: true)
                counters.messagesDelivered &+= counts.recovered &- before
            }
        }
        guard let active = handedOff, let tcp, !tcp.isFinished else { return }
        if session.firstMissing(atOrAfter: active.lowerBound, below: active.upperBound) == nil {
            tcp.logout()
        }
    }

    func finished(_ outcome: SoupTCPClient.Outcome) {
        flush()
        if let tcp { counters.drops &+= tcp.drops }
        tcp = nil
        handedOff = nil
        switch outcome {
        case .loggedOut, .endOfSession:
            counters.completed &+= 1
        case .rejected, .unreachable, .closed:
            counters.failed &+= 1
            lastFailure = outcome
            retryAt = (reactor?.now ?? 0) &+ configuration.retryAfterFailure
        }
    }

    /// `key=value` pairs for a summary line.
    public var summary: String {
        "tcp_recoveries=\(counters.started) tcp_completed=\(counters.completed) tcp_failed=\(counters.failed) "
            + "tcp_messages=\(counters.messagesDelivered) tcp_received=\(counters.messagesReceived) "
            + "tcp_lost_on_server=\(counters.lostOnServer) tcp_drops=\(counters.drops) tcp_restarts=\(counters.restarts)"
    }
}
