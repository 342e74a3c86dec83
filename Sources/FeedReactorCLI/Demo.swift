import ArgumentParser
import CFeedReactor
import Histogram
import MoldUDP64
import Multicast
import Reactor
import SoupBinTCP
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor demo`: the main job. One process, loopback multicast: a
/// publisher that drops packets on purpose and a retransmission server on one
/// reactor thread, a MoldUDP64 client on another. It shows live progress and
/// ends with a report: everything delivered in order, what was recovered, and
/// publish-to-delivery latency.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the main job: a lossy MoldUDP64 feed, recovered, on loopback.")

    @Option(parsing: .unconditional, help: "Messages to publish.", transform: wholeNumber("--messages", 1...UInt64.max)) var messages: UInt64 = 1_000_000
    @Option(parsing: .unconditional, help: "Messages per second.", transform: decimal("--rate", 1...1e9)) var rate: Double = 100_000
    @Option(parsing: .unconditional, help: "Fraction of packets lost on the wire (each line, with --ab), below 1.", transform: decimal("--loss", 0...0.999)) var loss: Double = 0.02
    @Option(help: "Payload size range MIN:MAX bytes (at least 8: the publish time).") var size: String = "16:64"
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto
    @Option(help: IdleOption.help) var idle: IdleOption = IdleOption(argument: "block")!
    @Flag(help: "Two lines (A/B) with independent loss; the first copy wins.") var ab = false
    @Option(parsing: .unconditional, help: "Seed for payloads and loss.", transform: wholeNumber("--seed")) var seed: UInt64 = 7
    @Option(help: "Multicast group of line A (line B is the next address).") var group: String = "239.255.42.1"
    @Flag(help: "No live progress line.") var quiet = false
    @Option(help: "How gaps are recovered: udp (MoldUDP64 re-requests), tcp (SoupBinTCP logins at each gap) or both (small gaps over UDP, gaps of --tcp-threshold messages and more over TCP).")
    var recovery: DemoRecovery = .udp
    @Option(name: .customLong("tcp-threshold"), parsing: .unconditional, help: "With --recovery both: gaps of at least this many messages go to TCP.", transform: wholeNumber("--tcp-threshold", 1...UInt64.max))
    var tcpThreshold: UInt64 = 1_000
    @Option(name: .customLong("burst-packets"), parsing: .unconditional, help: "Also drop this many data packets in a row halfway through (a big gap; default: 200 with --recovery both, else 0).", transform: wholeNumber("--burst-packets", 0...1_000_000))
    var burstPackets: UInt64?

    func validate() throws {
        guard let sizes = parseSizes(size), sizes.lowerBound >= 8 else {
            throw ValidationError("--size takes MIN:MAX with MIN >= 8 (each message carries its publish time)")
        }
        guard (0..<1).contains(loss) else { throw ValidationError("--loss is a fraction in [0, 1)") }
        guard messages > 0, rate > 0 else { throw ValidationError("--messages and --rate must be positive") }
    }

    func run() throws {
        let sessionID = try SessionID(validating: "DEMO\(seed % 1_000_000)")
        let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
        let clientReactor = try Reactor(backend: backend)

        // The retransmission server's socket first: the client must know its address.
        let serverSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        var lines = [try Subscription(group: group, port: 0, interface: loopback)]
        if ab { lines.append(try Subscription(group: nextAddress(group), port: 0, interface: loopback)) }
        let udpServers = recovery == .tcp ? [] : [try serverSocket.localAddress()]
        var clientConfiguration = Client.Configuration(lines: lines, servers: udpServers)
        clientConfiguration.recoversElsewhere = recovery != .udp
        clientConfiguration.receiveBufferBytes = 32 << 20
        clientConfiguration.session.pinnedSession = sessionID
        let report = DemoConsumer(expected: messages, payloads: PayloadGenerator(seed: seed, sizes: parseSizes(size)!),
                                  reactor: clientReactor)
        let client = try Client(clientConfiguration, reactor: clientReactor, consumer: report)
        client.observer = report

        // The feed side on its own thread and reactor.
        let feed = FeedThread(session: sessionID, lines: zip(lines, client.linePorts).map { ($0.0.group, $0.1) },
                              serverSocket: serverSocket, messages: messages, rate: rate, loss: loss, ab: ab,
                              sizes: parseSizes(size)!, seed: seed, backend: backend)
        feed.soup = recovery != .udp
        let burst = burstPackets ?? (recovery == .both ? 200 : 0)
        if burst > 0 {
            // Packets of about 25 messages: the burst starts halfway through the session.
            let middle = max(1, messages / 50)
            feed.dropPacketNumbers = Array(middle..<(middle + burst))
        }
        try feed.start()
        var soup: SoupRecovery?
        if let address = feed.soupAddress {
            soup = try SoupRecovery(configuration: .init(server: address, threshold: tcpThreshold), client: client,
                                    reactor: clientReactor)
        }

        note("demo: \(messages) messages at \(Int(rate))/s, \(fixed(loss * 100, 1))% loss\(ab ? " per line (A/B)" : ""), "
             + "client on \(clientReactor.backendKind), feed on \(feed.backendName)")
        let progress = Progress(client: client, report: report, quiet: quiet)
        try clientReactor.schedule(after: 250_000_000, period: 250_000_000, handler: progress)
        let watchdog = Stopper()
        let expectedSeconds = Double(messages) / rate
        try clientReactor.schedule(after: Nanoseconds.seconds(expectedSeconds * 3 + 10), handler: watchdog)
        let started = fr_monotonic_ns()
        try clientReactor.run(idle: idle.strategy)
        let seconds = Double(fr_monotonic_ns() - started) / 1e9
        feed.stop()
        progress.finish()

        // The report.
        let c = client.counters
        let complete = report.delivered == messages && report.outOfOrder == 0 && report.corrupt == 0 && report.lost == 0
        print("FeedReactor demo: MoldUDP64 over loopback multicast, \(ab ? "two lines (A/B)" : "one line"), "
              + "\(fixed(loss * 100, 1))% packet loss")
        print("  delivered      \(report.delivered) of \(messages) \(complete ? "in order, each exactly once, every byte checked" : "INCOMPLETE")")
        let overTCP = soup?.counters.messagesDelivered ?? 0
        print("  paths          \(report.delivered &- c.recovered) live multicast, \(c.recovered &- overTCP) over UDP re-requests, "
              + "\(overTCP) over SoupBinTCP (recovery \(recovery))")
        print("  recovered      \(c.recovered) messages via \(c.requests) re-requests (timeouts \(c.timeouts), gaps \(c.gaps))")
        if let soup {
            let t = soup.counters
            print("  tcp            \(t.started) logins at a gap's first message, \(t.completed) filled and logged out, "
                  + "\(t.failed) failed, \(t.messagesReceived) messages received, \(t.drops) drops")
        }
        print("  dropped        \(feed.droppedPackets) packets by the publisher, \(c.duplicates) duplicates ignored"
              + (ab ? " (line A \(client.lineCounters[0].duplicates), line B \(client.lineCounters[1].duplicates))" : ""))
        let lostPackets = feed.droppedPackets
        print("  recovery       first request for a gap to its delivery: " + report.recoverySummary())
        print("  requests       \(lostPackets > 0 ? fixed(Double(c.requests) / Double(lostPackets), 2) : "0") per packet lost on the wire, "
              + "\(fixed(c.recoveredPerRequest, 1)) messages recovered per request, largest answer \(c.answerMessagesHighWater) "
              + "messages, \(fixed(Double(c.recoveryNanoseconds) / 1e6, 1)) ms with requests outstanding")
        print("  rate           \(Int(Double(report.delivered) / seconds)) messages/s over \(fixed(seconds, 2)) s")
        print("  latency        publish to delivery: " + report.latencySummary())
        print("  backend        client \(clientReactor.backendKind), feed \(feed.backendName); malformed \(c.malformed), "
              + "buffer high water \(c.bufferHighWater) packets")
        if !complete {
            let missing = client.missingRanges()
            note("demo: incomplete: delivered \(report.delivered) of \(messages), out of order \(report.outOfOrder), "
                 + "corrupt \(report.corrupt), lost \(report.lost), missing \(missing)\(watchdog.fired ? " (timed out)" : "")")
            throw ExitCode(1)
        }
    }

    func nextAddress(_ text: String) throws -> String {
        var parts = text.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 4 else { throw ValidationError("--group must be an IPv4 group for the demo") }
        parts[3] = (parts[3] + 1) % 256
        return parts.map(String.init).joined(separator: ".")
    }
}

/// `demo --recovery`: which paths recover gaps.
enum DemoRecovery: String, ExpressibleByArgument, CaseIterable, CustomStringConvertible {
    case udp, tcp, both
    var description: String { rawValue }
    var defaultValueDescription: String { rawValue }
}

/// Checks and times each delivered message; stops the client at the end of session.
final class DemoConsumer: MessageConsumer, RecoveryObserver {
    let expected: UInt64
    let payloads: PayloadGenerator
    unowned let reactor: Reactor
    var delivered: UInt64 = 0
    var next: UInt64 = 1
    var outOfOrder: UInt64 = 0
    var corrupt: UInt64 = 0
    var lost: UInt64 = 0
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    let scratch: UnsafeMutableRawBufferPointer
    /// Time from the first request for a gap to the delivery of its first message.
    var recovery = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    /// First requests not yet answered: (first sequence, time), oldest first, in a fixed ring.
    let pendingStart: UnsafeMutablePointer<UInt64>
    let pendingTime: UnsafeMutablePointer<UInt64>
    let pendingCapacity = 4096
    var pendingHead = 0
    var pendingCount = 0

    init(expected: UInt64, payloads: PayloadGenerator, reactor: Reactor) {
        self.expected = expected
        self.payloads = payloads
        self.reactor = reactor
        scratch = .allocate(byteCount: max(16, payloads.sizes.upperBound), alignment: 8)
        pendingStart = .allocate(capacity: pendingCapacity)
        pendingTime = .allocate(capacity: pendingCapacity)
    }

    deinit {
        scratch.deallocate()
        pendingStart.deallocate()
        pendingTime.deallocate()
    }

    func requestSent(firstSequence: UInt64, count: UInt16, now: UInt64) {
        // Retries and continuations of a gap already being timed are not new gaps.
        var index = 0
        while index < pendingCount {
            let slot = (pendingHead + index) % pendingCapacity
            if pendingStart[slot] == firstSequence { return }
            index += 1
        }
        if firstSequence < next { return }
        guard pendingCount < pendingCapacity else { return }
        let slot = (pendingHead + pendingCount) % pendingCapacity
        pendingStart[slot] = firstSequence
        pendingTime[slot] = fr_monotonic_ns()
        pendingCount += 1
    }

    @inline(__always)
    func noteRecovery(_ sequence: UInt64, at now: UInt64) {
        while pendingCount > 0 && pendingStart[pendingHead] <= sequence {
            if pendingStart[pendingHead] == sequence { _ = recovery.record(now - pendingTime[pendingHead]) }
            pendingHead = (pendingHead + 1) % pendingCapacity
            pendingCount -= 1
        }
    }

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        let now = fr_monotonic_ns()
        if sequence != next { outOfOrder += 1 }
        if pendingCount > 0 { noteRecovery(sequence, at: now) }
        next = sequence + 1
        delivered += 1
        // Bytes 0..<8: publish time; the rest must be the generator's bytes.
        let length = payloads.fill(sequence: sequence, into: scratch)
        if message.count != max(length, 8) {
            corrupt += 1
        } else {
            var offset = 8
            while offset < length && message[offset] == scratch[offset] { offset += 1 }
            if offset < length { corrupt += 1 }
        }
        let published = UInt64(littleEndian: message.loadUnaligned(as: UInt64.self))
        if now > published { _ = latency.record(now - published) }
    }

    func lost(firstSequence: UInt64, count: UInt64) { lost += count }

    func endOfSession(nextSequence: UInt64) { reactor.stop() }

    func latencySummary() -> String { Self.summary(latency) }

    func recoverySummary() -> String { Self.summary(recovery) }

    static func summary(_ histogram: Histogram<UInt64>) -> String {
        guard histogram.totalCount > 0 else { return "no samples" }
        func us(_ value: UInt64) -> String { fixed(Double(value) / 1000, 1) + " us" }
        return "p50 \(us(histogram.valueAtPercentile(50))), p99 \(us(histogram.valueAtPercentile(99))), "
            + "p99.9 \(us(histogram.valueAtPercentile(99.9))), max \(us(histogram.max)) (\(histogram.totalCount) samples)"
    }
}

/// The live progress line on stderr.
final class Progress: TimerHandler {
    unowned let client: Client
    unowned let report: DemoConsumer
    let quiet: Bool
    var lastDelivered: UInt64 = 0
    var lastTime: UInt64 = 0
    var printed = false
    var ticks = 0
    let interactive = isatty(2) == 1

    init(client: Client, report: DemoConsumer, quiet: Bool) {
        self.client = client
        self.report = report
        self.quiet = quiet
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        defer { lastDelivered = report.delivered; lastTime = now }
        guard !quiet, lastTime > 0 else { return }
        let rate = Double(report.delivered - lastDelivered) / (Double(now - lastTime) / 1e9)
        ticks += 1
        // A terminal gets one line rewritten in place; a pipe or file a line a second.
        guard interactive || ticks % 4 == 0 else { return }
        let line = (interactive ? "\r" : "") + "  \(Int(rate)) msg/s  delivered \(report.delivered)/\(report.expected)  "
            + "recovered \(client.counters.recovered)  in flight \(client.rerequester.inFlightCount)  "
            + "requests \(client.counters.requests)" + (interactive ? "   " : "\n")
        fr_write_stderr(line, line.utf8.count)
        printed = interactive
    }

    func finish() { if printed { fr_write_stderr("\n", 1) } }
}

/// Sends packets to every line, each dropping its own seeded fraction (A/B demo).
final class FanoutSink: PacketSink {
    let sinks: [UDPPacketSink]
    let loss: Double
    var random: SplitMix64
    var dropped: UInt64 = 0

    init(sinks: [UDPPacketSink], loss: Double, seed: UInt64) {
        self.sinks = sinks
        self.loss = loss
        random = SplitMix64(seed: seed)
    }

    func send(_ packet: UnsafeRawBufferPointer) -> Bool {
        var ok = true
        for sink in sinks {
            // A seeded, reproducible coin per line and packet.
            if random.nextUnit() < loss { dropped += 1; continue }
            ok = sink.send(packet) && ok
        }
        return ok
    }
}

/// The feed side: its own thread and reactor running a publisher, a paced
/// source and the retransmission server.
final class FeedThread: @unchecked Sendable {
    let session: SessionID
    let lines: [(IPAddress, UInt16)]
    let serverSocket: UDPSocket
    let messages: UInt64
    let rate: Double
    let loss: Double
    let ab: Bool
    let sizes: ClosedRange<Int>
    let seed: UInt64
    let backend: BackendKind
    let thread = ReactorThread()
    var remote: RemoteHandle?
    var backendName = "?"
    var publisher: Publisher?
    var fanout: FanoutSink?
    /// Serve the session over SoupBinTCP too (set before `start`).
    var soup = false
    /// Data packets the publisher drops on purpose (a burst), set before `start`.
    var dropPacketNumbers: [UInt64] = []
    /// The SoupBinTCP server's address once `start` returned (with `soup`).
    var soupAddress: SocketAddress?
    var soupServer: SoupTCPServer?

    init(session: SessionID, lines: [(IPAddress, UInt16)], serverSocket: UDPSocket, messages: UInt64, rate: Double,
         loss: Double, ab: Bool, sizes: ClosedRange<Int>, seed: UInt64, backend: BackendKind) {
        self.session = session
        self.lines = lines
        self.serverSocket = serverSocket
        self.messages = messages
        self.rate = rate
        self.loss = loss
        self.ab = ab
        self.sizes = sizes
        self.seed = seed
        self.backend = backend
    }

    var droppedPackets: UInt64 { (publisher?.counters.dataPacketsDropped ?? 0) + (fanout?.dropped ?? 0) }

    func start() throws {
        try thread.start { [self] thread in try main(thread) }
    }

    func main(_ thread: ReactorThread) throws {
        do {
            let reactor = try Reactor(backend: backend)
            backendName = reactor.backendKind.description
            remote = reactor.remote
            let store = RetransmissionStore(messageCapacity: Int(min(messages, 1 << 22)) + 1, byteCapacity: 256 << 20)
            var configuration = Publisher.Configuration(session: session)
            configuration.heartbeatInterval = 100_000_000
            let senders = try lines.map { (group, port) throws -> MulticastSender in
                let sender = try MulticastSender(group: group, port: port, interface: .address(try IPAddress("127.0.0.1")))
                try sender.socket.setSendBuffer(bytes: 4 << 20)
                return sender
            }
            // Registered with the reactor (which closes the sockets): sends go through its backend.
            let sinks = try senders.map { (sender) throws(ReactorError) -> UDPPacketSink in
                try UDPPacketSink(reactor: reactor, socket: sender.socket, destination: sender.destination,
                                  options: SendOptions(queueCapacity: 256))
            }
            let sink: any PacketSink
            if ab {
                let fanout = FanoutSink(sinks: sinks, loss: loss, seed: seed)
                self.fanout = fanout
                sink = fanout
            } else {
                configuration.loss = LossSimulation(dropPacketNumbers: dropPacketNumbers, dropFraction: loss, seed: seed)
                sink = sinks[0]
            }
            let publisher = Publisher(configuration, sink: sink, store: store)
            self.publisher = publisher
            var serverConfiguration = RetransmissionServer.Configuration(session: session)
            serverConfiguration.perRequesterLimit = RateLimit(rate: 50_000, burst: 5_000)
            serverConfiguration.totalLimit = RateLimit(rate: 100_000, burst: 10_000)
            let server = RetransmissionServer(socket: serverSocket, store: store, configuration: serverConfiguration)
            try reactor.register(serverSocket, handler: server)
            let feed = PacedFeed(publisher: publisher, payloads: PayloadGenerator(seed: seed, sizes: sizes),
                                 total: messages, rate: rate, linger: Nanoseconds.seconds(UInt64(3600)), stampTime: true)
            if soup {
                let server = try SoupServer(configuration: .init(session: session.description), store: store)
                let tcp = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
                soupAddress = tcp.localAddress
                soupServer = tcp
                feed.onSessionEnd = { now in tcp.endSession(now: now) }
            }
            try feed.start(on: reactor)
            thread.ready()
            try reactor.run(idle: .block)
        }
    }

    func stop() {
        remote?.stop()
        thread.join()
    }
}
