import ArgumentParser
import MoldUDP64
import Multicast
import Reactor

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
    @Option(help: "UDP port.") var port: UInt16
    @Option(help: "Interface to send on: an address, index or name.") var interface: String?
    @Option(help: "Session id (up to 10 ASCII characters).") var session: String
    @Option(help: "Messages to publish.") var messages: UInt64
    @Option(help: "Messages per second (0: as fast as possible).") var rate: Double = 10_000
    @Option(help: "Payload size range MIN:MAX bytes.") var size: String = "16:64"
    @Option(name: .customLong("retransmit-port"), help: "Port of the retransmission server (none when omitted).")
    var retransmitPort: UInt16?
    @Option(help: "Fraction of data packets to drop on the wire (kept for retransmission).") var drop: Double = 0
    @Option(help: "Seed for payloads and simulated loss.") var seed: UInt64 = 1
    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval when idle.") var heartbeatMilliseconds: Double = 1000
    @Option(help: "Seconds to keep answering re-requests after the end of session.") var linger: Double = 2
    @Option(name: .customLong("flush-us"), help: "Longest a message waits for more to share its packet.")
    var flushMicroseconds: Double = 100
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto
    @Option(name: .customLong("max-messages-per-answer"),
            help: "Most messages the retransmission server puts in one answer (a stingy exchange server: 14).")
    var maxMessagesPerAnswer: Int = PacketWriter.maxMessageCount

    func validate() throws {
        guard (try? SessionID(validating: session)) != nil else {
            throw ValidationError("--session takes at most 10 printable ASCII characters")
        }
        guard parseSizes(size) != nil else { throw ValidationError("--size takes MIN:MAX bytes with 0 <= MIN <= MAX <= 1300") }
        guard (0...1).contains(drop) else { throw ValidationError("--drop is a fraction between 0 and 1") }
        guard (1...PacketWriter.maxMessageCount).contains(maxMessagesPerAnswer) else {
            throw ValidationError("--max-messages-per-answer takes 1...\(PacketWriter.maxMessageCount)")
        }
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
        let publisher = Publisher(configuration, sink: UDPPacketSink(socket: sender.socket, destination: sender.destination), store: store)

        var server: RetransmissionServer?
        if let retransmitPort {
            let socket = try UDPSocket.bound(to: .any(port: retransmitPort))
            var serverConfiguration = RetransmissionServer.Configuration(session: sessionID)
            serverConfiguration.maxMessagesPerAnswer = maxMessagesPerAnswer
            let answering = RetransmissionServer(socket: socket, store: store, configuration: serverConfiguration)
            try reactor.register(socket, handler: answering)
            server = answering
        } else {
            note("publish: no --retransmit-port: lost packets cannot be recovered")
        }
        let feed = PacedFeed(publisher: publisher, payloads: PayloadGenerator(seed: seed, sizes: parseSizes(size)!),
                             total: messages, rate: rate, linger: Nanoseconds.seconds(linger), stampTime: false)
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
        note(summary)
    }
}
