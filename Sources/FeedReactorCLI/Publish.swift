import ArgumentParser
import MoldUDP64
import Multicast
import Reactor
import SoupBinTCP

/// `feedreactor publish`: a MoldUDP64 feed on a multicast group, with a
/// retransmission server, simulated loss and deterministic payloads (DESIGN.md).
struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a MoldUDP64 session to a multicast group and answer re-requests.",
        discussion: """
        Message n's payload depends only on --seed and n (see PayloadGenerator), so a \
        receiver can check every byte. After the last message the session ends (count \
        0xFFFF, repeated on the heartbeat timer) and the retransmission server keeps \
        answering for --linger seconds.
        """)

    @Option(help: "Multicast group.") var group: String
    @Option(parsing: .unconditional, help: "UDP port.", transform: portNumber("--port")) var port: UInt16
    @Option(help: "Interface to send on: an address (the retransmission server binds to it too), index or name.") var interface: String?
    @Option(help: "Session id (up to 10 ASCII characters).") var session: String
    @Option(parsing: .unconditional, help: "Messages to publish.", transform: wholeNumber("--messages")) var messages: UInt64
    @Option(parsing: .unconditional, help: "Messages per second (0: as fast as possible).", transform: decimal("--rate", 0...1e9)) var rate: Double = 10_000
    @Option(help: "Payload size range MIN:MAX bytes.") var size: String = "16:64"
    @Option(name: .customLong("retransmit-port"), parsing: .unconditional, help: "Port of the retransmission server (none when omitted; 0: the kernel picks one, printed).", transform: portNumber("--retransmit-port", allowZero: true))
    var retransmitPort: UInt16?
    @Option(parsing: .unconditional, help: "Fraction of data packets to drop on the wire (kept for retransmission).", transform: decimal("--drop", 0...1)) var drop: Double = 0
    @Option(parsing: .unconditional, help: "Seed for payloads and simulated loss.", transform: wholeNumber("--seed")) var seed: UInt64 = 1
    @Option(name: .customLong("heartbeat-ms"), parsing: .unconditional, help: "Heartbeat interval when idle.", transform: decimal("--heartbeat-ms", 1...3_600_000, unit: " ms")) var heartbeatMilliseconds: Double = 1000
    @Option(parsing: .unconditional, help: "Seconds to keep answering re-requests (and repeating the end of session) after the last message; a listener started late still finishes within it.", transform: decimal("--linger", 0...86_400, unit: " s")) var linger: Double = 10
    @Option(name: .customLong("flush-us"), parsing: .unconditional, help: "Longest a message waits for more to share its packet.", transform: decimal("--flush-us", 0...1_000_000, unit: " us"))
    var flushMicroseconds: Double = 100
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto
    @Option(name: .customLong("max-messages-per-answer"),
            help: "Most messages the retransmission server puts in one answer (a stingy exchange server: 14).")
    var maxMessagesPerAnswer: Int = PacketWriter.maxMessageCount
    @Option(name: .customLong("soup-port"), parsing: .unconditional, help: "Serve the session over SoupBinTCP 3.00 on this TCP port (0: the kernel picks one, printed): late joins and big gaps recover there.", transform: portNumber("--soup-port", allowZero: true))
    var soupPort: UInt16?
    @Option(name: .customLong("soup-user"), help: "SoupBinTCP username clients must log in with (default: anyone may log in).") var soupUser: String?
    @Option(name: .customLong("soup-password"), help: "SoupBinTCP password for --soup-user.") var soupPassword: String?

    func validate() throws {
        guard (try? SessionID(validating: session)) != nil else {
            throw ValidationError("--session takes at most 10 printable ASCII characters")
        }
        guard parseSizes(size) != nil else { throw ValidationError("--size takes MIN:MAX bytes with 0 <= MIN <= MAX <= 1300") }
        guard (0...1).contains(drop) else { throw ValidationError("--drop is a fraction between 0 and 1") }
        guard (1...PacketWriter.maxMessageCount).contains(maxMessagesPerAnswer) else {
            throw ValidationError("--max-messages-per-answer takes 1...\(PacketWriter.maxMessageCount)")
        }
        if (soupUser == nil) != (soupPassword == nil) {
            throw ValidationError("--soup-user and --soup-password go together (omit both to let anyone log in)")
        }
        if soupUser != nil && soupPort == nil { throw ValidationError("--soup-user needs --soup-port P") }
        _ = try soupCredentials()
    }

    func run() throws {
        let sessionID = try SessionID(validating: session)
        let reactor = try Reactor(backend: backend)
        let sendInterface = try interface.map { (text) throws(MulticastError) -> MulticastInterface in try MulticastInterface(parsing: text) }
        let sender = try MulticastSender(group: IPAddress(group), port: port, interface: sendInterface)
        try sender.socket.setSendBuffer(bytes: 4 << 20)
        let store = RetransmissionStore(messageCapacity: Int(min(messages, 1 << 22)) + 1, byteCapacity: 256 << 20)
        var configuration = Publisher.Configuration(session: sessionID)
        configuration.heartbeatInterval = UInt64(heartbeatMilliseconds * 1e6)
        configuration.flushDelay = UInt64(flushMicroseconds * 1e3)
        configuration.loss = LossSimulation(dropFraction: drop, seed: seed)
        // Sends go through the reactor's backend (queued when the socket is full).
        let sink = try UDPPacketSink(reactor: reactor, socket: sender.socket, destination: sender.destination,
                                     options: SendOptions(queueCapacity: 256))
        let publisher = Publisher(configuration, sink: sink, store: store)

        var server: RetransmissionServer?
        if let retransmitPort {
            // No SO_REUSEADDR: on UDP it would let this server share a busy port with
            // another socket and silently lose part of the requests.
            let serverAddress = try retransmissionAddress(interface: sendInterface, port: retransmitPort)
            let socket = try UDPSocket(ipv6: serverAddress.isIPv6)
            try socket.bind(to: serverAddress)
            note("publish: retransmission server on \(try socket.localAddress())")
            var serverConfiguration = RetransmissionServer.Configuration(session: sessionID)
            serverConfiguration.maxMessagesPerAnswer = maxMessagesPerAnswer
            let answering = RetransmissionServer(socket: socket, store: store, configuration: serverConfiguration)
            try reactor.register(socket, handler: answering)
            server = answering
        } else {
            note("publish: no --retransmit-port: lost packets cannot be recovered")
        }
        var soup: SoupTCPServer?
        if let soupPort {
            let address = try retransmissionAddress(interface: sendInterface, port: soupPort)
            let server = try SoupServer(configuration: .init(session: session, credentials: try soupCredentials()), store: store)
            soup = try SoupTCPServer(server: server, address: address, reactor: reactor)
            note("publish: SoupBinTCP server on \(soup!.localAddress)")
        }
        let feed = PacedFeed(publisher: publisher, payloads: PayloadGenerator(seed: seed, sizes: parseSizes(size)!),
                             total: messages, rate: rate, linger: Nanoseconds.seconds(linger), stampTime: false)
        feed.onSessionEnd = { now in soup?.endSession(now: now) }
        try feed.start(on: reactor)
        note("publishing \(messages) messages of session \(sessionID) to \(sender.destination) at \(rate > 0 ? "\(Int(rate))/s" : "full speed")")
        try reactor.run(idle: .block)
        let c = publisher.counters
        var summary = "messages=\(c.messages) packets=\(c.dataPackets) dropped=\(c.dataPacketsDropped) "
            + "heartbeats=\(c.heartbeats) send_failures=\(c.sendFailures)"
        if let server {
            let s = server.counters
            summary += " requests=\(s.datagrams) answers=\(s.answers) retransmitted=\(s.messagesSent) "
                + "malformed=\(s.malformed) wrong_session=\(s.wrongSession) rate_limited=\(s.rateLimited)"
        }
        if let soup {
            let s = soup.server.counters
            summary += " soup_logins=\(s.loginsAccepted) soup_rejected=\(s.rejectedNotAuthorized + s.rejectedSessionNotAvailable) "
                + "soup_sent=\(s.sequencedSent) soup_malformed=\(s.malformedFrames) soup_slow_cut=\(s.slowClientsCut) "
                + "soup_refused=\(s.refusedAtLimit)"
        }
        note(summary)
    }

    func soupCredentials() throws -> Credentials {
        guard let soupUser, let soupPassword else { return .anyone }
        do {
            return try Credentials([(username: soupUser, password: soupPassword)])
        } catch {
            throw ValidationError("--soup-user/--soup-password: \(error)")
        }
    }
}

/// Where the retransmission server listens: on the `--interface` address when one
/// was given as an address (a loopback feed stays on loopback), on every address
/// otherwise (a name or index says where multicast goes, not which address answers).
func retransmissionAddress(interface: MulticastInterface?, port: UInt16) throws -> SocketAddress {
    if case .address(let address, _)? = interface, !address.isIPv6 {
        return try SocketAddress(address.description, port: port)
    }
    return .any(port: port)
}

