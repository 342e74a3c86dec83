import ArgumentParser
import CFeedReactor
import MoldUDP64
import Multicast
import Reactor
import SoupBinTCP

/// `feedreactor soup-recovery-bench`: the time to recover a gap of --gap
/// messages over one path, on loopback, one reactor. A `RetransmissionStore`
/// holds messages 1...gap+10 (filled before the clock starts); it is served
/// both by a `RetransmissionServer` (UDP re-requests) and a `SoupTCPServer`.
/// A MoldUDP64 client that starts at sequence 1 receives one live packet,
/// gap+1...gap+10: the gap 1...gap is declared at once (reorder window 0) and
/// recovered over `--path udp` (re-requests, no TCP) or `--path tcp`
/// (SoupBinTCP recovery only, no re-request server). Timed from sending the
/// revealing packet to the session's next expected sequence passing the gap.
/// Prints `path=<p> gap=<n> seconds=<s> msgs_per_s=<x>`.
struct SoupRecoveryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soup-recovery-bench",
        abstract: "Time to recover a gap over SoupBinTCP or over UDP re-requests, on loopback.")

    enum Path: String, ExpressibleByArgument, CaseIterable { case udp, tcp }

    @Option(help: "udp (re-requests to a RetransmissionServer) or tcp (SoupBinTCP recovery).") var path: Path
    @Option(parsing: .unconditional, help: "Messages in the gap.", transform: wholeNumber("--gap", 1...10_000_000))
    var gap: UInt64 = 100_000
    @Option(parsing: .unconditional, help: "Bytes per message.", transform: wholeNumber("--size", 8...1000)) var size: Int = 32
    @Option(help: "Multicast group of the live line (joined on 127.0.0.1).") var group: String = "239.255.81.1"
    @Option(help: "Give up after this many seconds (exit 1).") var timeout: Double = 120

    func run() throws {
        let total = gap + 10
        let store = SoupBench.numberedStore(messages: total, size: size)
        let session = try SessionID(validating: "SOUPGAP001")
        let reactor = try Reactor(backend: .epoll)

        // Both servers always run, as `feedreactor publish --soup-port` serves them.
        let udpSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        var serverConfiguration = RetransmissionServer.Configuration(session: session)
        // Generous limits: the measurement is the protocol, not a rate cap.
        serverConfiguration.perRequesterLimit = RateLimit(rate: 10_000_000, burst: 100_000)
        serverConfiguration.totalLimit = RateLimit(rate: 10_000_000, burst: 100_000)
        let udpServer = RetransmissionServer(socket: udpSocket, store: store, configuration: serverConfiguration)
        try reactor.register(udpSocket, handler: udpServer)
        let soup = try SoupTCPServer(server: SoupServer(configuration: .init(session: session.description), store: store),
                                     address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        defer { soup.close() }

        let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
        var configuration = Client.Configuration(lines: [try Subscription(group: group, port: 0, interface: loopback)],
                                                 servers: path == .udp ? [try udpSocket.localAddress()] : [])
        configuration.recoversElsewhere = path == .tcp
        configuration.receiveBufferBytes = 32 << 20
        configuration.session.pinnedSession = session
        configuration.session.reorderWindowPackets = 0
        configuration.rerequest.requestTimeout = 20_000_000
        configuration.rerequest.maxRequestTimeout = 100_000_000
        configuration.rerequest.requestsPerSecond = 1_000_000
        configuration.rerequest.requestBurst = 1_024
        let counter = SoupBench.CountingConsumer()
        let client = try Client(configuration, reactor: reactor, consumer: counter)
        defer { client.close() }
        var recovery: SoupRecovery?
        if path == .tcp {
            recovery = try SoupRecovery(configuration: .init(server: soup.localAddress, threshold: 1), client: client,
                                        reactor: reactor)
        }

        // The live packet gap+1...gap+10, the same bytes as the store's.
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1500, alignment: 8)
        defer { buffer.deallocate() }
        var writer = PacketWriter(buffer: buffer)
        writer.begin(session: session, sequenceNumber: gap + 1)
        for sequence in (gap + 1)...total {
            payload.storeBytes(of: sequence.littleEndian, toByteOffset: 0, as: UInt64.self)
            _ = writer.append(UnsafeRawBufferPointer(payload))
        }
        let sender = try MulticastSender(group: IPAddress(group), port: client.linePorts[0], source: IPAddress("127.0.0.1"))
        defer { sender.close() }

        let started = fr_monotonic_ns()
        _ = try sender.send(writer.packet)
        let deadline = started &+ UInt64(timeout * 1e9)
        var resent = started
        while client.session.nextExpected <= gap {
            _ = try reactor.runOnce(timeout: 0)
            let now = fr_monotonic_ns()
            guard now < deadline else {
                throw ValidationError("soup-recovery-bench: recovered \(client.session.nextExpected - 1) of \(gap) "
                                      + "messages in \(timeout) s (\(recovery?.summary ?? "udp"))")
            }
            // The revealing packet lost on loopback (not yet locked): send it again.
            if client.session.current == nil && now &- resent > 10_000_000 {
                resent = now
                _ = try sender.send(writer.packet)
            }
        }
        let seconds = Double(fr_monotonic_ns() &- started) / 1e9
        guard client.counters.unrecoverable == 0, counter.count == total else {
            throw ValidationError("soup-recovery-bench: delivered \(counter.count) of \(total), "
                                  + "\(client.counters.unrecoverable) given up as lost")
        }
        print("path=\(path.rawValue) gap=\(gap) seconds=\(fixed(seconds)) msgs_per_s=\(Int(Double(gap) / seconds))")
    }
}
