import MoldUDP64
import Multicast
import Reactor
import SoupBinTCP
import Testing
import TestSupport

/// Checks deliveries: consecutive from `next`, bytes as `expected` says.
final class OrderChecker: MessageConsumer {
    let matches: (UInt64, UnsafeRawBufferPointer) -> Bool
    var next: UInt64
    var delivered = 0
    var mismatches = 0
    var lost: [Range<UInt64>] = []
    var ended = false
    init(start: UInt64 = 1, expected: @escaping (UInt64) -> [UInt8]) {
        next = start
        matches = { sequence, message in message.elementsEqual(expected(sequence)) }
    }
    /// For `numbered` messages: compared without building an array per message.
    init(numbered: ()) {
        next = 1
        matches = { sequence, message in
            message.count == 8 && message.loadUnaligned(as: UInt64.self) == sequence.littleEndian
        }
    }
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        if sequence != next || !matches(sequence, message) { mismatches += 1 }
        next = sequence + 1
        delivered += 1
    }
    func lost(firstSequence: UInt64, count: UInt64) { lost.append(firstSequence..<firstSequence + count) }
    func endOfSession(nextSequence: UInt64) { ended = true }
}

/// 8 bytes: the sequence number (the late-join session is too long for MoldFeed's arrays).
func numbered(_ sequence: UInt64) -> [UInt8] {
    withUnsafeBytes(of: sequence.littleEndian) { Array($0) }
}

/// A MoldUDP64 client on loopback multicast with UDP re-requests and/or
/// SoupBinTCP recovery from one store, as `feedreactor publish` serves them.
final class RecoveryRig {
    let reactor: Reactor
    let store: RetransmissionStore
    let sessionName: String
    let session: SessionID
    let soup: SoupTCPServer
    let client: Client
    let recovery: SoupRecovery
    let sender: MulticastSender
    let checker: OrderChecker
    var udpServer: RetransmissionServer?

    init(session name: String, group: String, store: RetransmissionStore, udp: Bool, silentUDP: Bool = false,
         threshold: UInt64 = 10_000, reorderWindow: UInt64 = 1_000_000, checker: OrderChecker) throws {
        reactor = try Reactor(backend: .epoll)
        self.store = store
        sessionName = name
        session = SessionID(name)!
        self.checker = checker
        soup = try SoupTCPServer(server: SoupServer(configuration: .init(session: name), store: store),
                                 address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        var servers: [SocketAddress] = []
        if udp {
            let (socket, address) = try loopbackSocket()
            servers = [address]
            if silentUDP {
                // Bound and registered, never answering.
                try reactor.register(socket, handler: CollectingHandler())
            } else {
                var configuration = RetransmissionServer.Configuration(session: session)
                configuration.perRequesterLimit = RateLimiter(rate: 100_000, burst: 10_000)
                configuration.totalLimit = RateLimiter(rate: 100_000, burst: 10_000)
                let server = RetransmissionServer(socket: socket, store: store, configuration: configuration)
                try reactor.register(socket, handler: server)
                udpServer = server
            }
        }
        var configuration = Client.Configuration(
            lines: [try Subscription(group: group, port: 0, interface: .address(try IPAddress("127.0.0.1")))],
            servers: servers)
        configuration.recoversElsewhere = true
        configuration.session.reorderWindow = reorderWindow
        configuration.receiveBufferBytes = 16 << 20
        configuration.rerequest.requestTimeout = 20_000_000
        configuration.rerequest.maxRequestTimeout = 100_000_000
        configuration.rerequest.failoverAfterTimeouts = 3
        configuration.rerequest.requestsPerSecond = 100_000
        configuration.rerequest.requestBurst = 256
        client = try Client(configuration, reactor: reactor, consumer: checker)
        recovery = try SoupRecovery(configuration: .init(server: soup.localAddress, threshold: threshold), client: client,
                                    reactor: reactor)
        sender = try MulticastSender(group: IPAddress(group), port: client.linePorts[0], source: IPAddress("127.0.0.1"))
    }

    /// Publishes messages `first..<first+count` in one packet: into the store
    /// always, on the wire unless `lost`.
    func publish(_ first: UInt64, count: Int, payload: (UInt64) -> [UInt8], lost: Bool = false) throws {
        var blocks: [[UInt8]] = []
        for sequence in first..<(first + UInt64(count)) {
            let bytes = payload(sequence)
            precondition(bytes.withUnsafeBytes { store.append($0) } == sequence)
            blocks.append(bytes)
        }
        guard !lost else { return }
        try sender.send(MoldFeed.encode(session: session.bytes, sequence: first, count: UInt16(count), blocks: blocks))
    }

    func endOfSession() throws {
        try sender.send(MoldFeed.encode(session: session.bytes, sequence: store.nextSequenceNumber, count: 0xFFFF, blocks: []))
    }

    /// Runs the reactor until `condition` holds (bounded), repeating End of Session.
    func finish(cycles: Int = 20_000, until condition: () -> Bool) throws {
        var n = 0
        while !condition() && n < cycles {
            _ = try reactor.runOnce(timeout: 1_000_000)
            n += 1
            if n % 200 == 0 { try endOfSession() }
        }
    }

    func close() {
        sender.close()
        client.close()
        soup.close()
    }
}

@Suite(.serialized) struct SoupRecoveryTests {
    /// 100,000 messages lost in a row are recovered over TCP while the live
    /// line goes on (and is buffered); two small losses before it go to UDP
    /// re-requests. Everything is delivered once, in order.
    @Test func hundredThousandMessageGapRecoveredOverTCPWhileLiveContinues() throws {
        let feed = MoldFeed(session: "TCPREC0001", messages: MoldFeed.messages(count: 130_000, seed: 3, sizes: 8...40))
        let payload = { (sequence: UInt64) in feed.messages[Int(sequence) - 1] }
        let rig = try RecoveryRig(session: "TCPREC0001", group: "239.255.79.1",
                                  store: RetransmissionStore(messageCapacity: 1 << 18, byteCapacity: 16 << 20),
                                  udp: true, checker: OrderChecker(expected: payload))
        defer { rig.close() }
        var liveDuringRecovery = 0
        for packet in 0..<13_000 {
            let first = UInt64(packet * 10 + 1)
            let lost = packet == 30 || packet == 60 || (100..<10_100).contains(packet)
            try rig.publish(first, count: 10, payload: payload, lost: lost)
            if rig.recovery.handedOff != nil && !lost { liveDuringRecovery += 1 }
            // Paced: the reactor runs between packets, more slowly after the gap.
            if packet % (packet < 10_100 ? 64 : 4) == 0 { _ = try rig.reactor.runOnce(timeout: 0) }
        }
        try rig.endOfSession()
        try rig.finish { rig.checker.ended }
        #expect(rig.checker.ended)
        #expect(rig.checker.delivered == 130_000)
        #expect(rig.checker.mismatches == 0 && rig.checker.lost.isEmpty)
        let tcp = rig.recovery.counters
        #expect(tcp.started == 1 && tcp.completed == 1 && tcp.failed == 0, "\(tcp)")
        #expect(tcp.messagesDelivered >= 100_000)
        let udpRecovered = rig.client.counters.recovered &- tcp.messagesDelivered
        #expect(udpRecovered >= 20, "the two small gaps went to UDP re-requests")
        #expect(rig.udpServer!.counters.messagesSent >= 20)
        #expect(liveDuringRecovery > 0, "live packets kept coming during the TCP recovery")
        #expect(rig.client.counters.delivered == 130_000)
        try rig.finish(cycles: 1_000) { rig.soup.server.counters.logouts == 1 && rig.soup.connectionCount == 0 }
        #expect(rig.soup.server.counters.logouts == 1, "logged out once the gap was filled: \(rig.soup.recentCloseReasons) \(rig.soup.server.counters) \(tcp)")
        #expect(rig.soup.server.counters.malformedFrames == 0 && rig.soup.counters.dropped == 0)
    }

    /// A client joining a session already 1,000,000 messages long, from
    /// sequence 1, with TCP as its only recovery path.
    @Test func lateJoinAtSequenceOneOfAMillionMessageSession() throws {
        let store = RetransmissionStore(messageCapacity: 1 << 21, byteCapacity: 32 << 20)
        // Filled in place: one 8-byte buffer, rewritten per message.
        var word: UInt64 = 0
        for sequence in 1...UInt64(1_000_000) {
            word = sequence.littleEndian
            withUnsafeBytes(of: &word) { _ = store.append($0) }
        }
        let rig = try RecoveryRig(session: "LATEJOIN01", group: "239.255.79.2", store: store, udp: false,
                                  checker: OrderChecker(numbered: ()))
        defer { rig.close() }
        var next: UInt64 = 1_000_001
        var packets = 0
        while next < 1_005_001 {
            try rig.publish(next, count: 10, payload: numbered)
            next += 10
            packets += 1
            if packets % 4 == 0 { _ = try rig.reactor.runOnce(timeout: 0) }
        }
        try rig.endOfSession()
        try rig.finish(cycles: 60_000) { rig.checker.ended }
        #expect(rig.checker.delivered == 1_005_000)
        #expect(rig.checker.mismatches == 0 && rig.checker.lost.isEmpty)
        #expect(rig.recovery.counters.messagesDelivered >= 1_000_000)
        #expect(rig.recovery.counters.completed >= 1)
    }

    /// The UDP re-request server stops answering: after the failover timeouts
    /// the gaps go to TCP instead of being given up.
    @Test func silentUDPServerHandsGapsToTCP() throws {
        let feed = MoldFeed(session: "SILENT0001", messages: MoldFeed.messages(count: 5_000, seed: 8))
        let payload = { (sequence: UInt64) in feed.messages[Int(sequence) - 1] }
        let rig = try RecoveryRig(session: "SILENT0001", group: "239.255.79.3",
                                  store: RetransmissionStore(messageCapacity: 1 << 14), udp: true, silentUDP: true,
                                  checker: OrderChecker(expected: payload))
        defer { rig.close() }
        for packet in 0..<500 {
            try rig.publish(UInt64(packet * 10 + 1), count: 10, payload: payload, lost: packet % 50 == 7)
            if packet % 8 == 0 { _ = try rig.reactor.runOnce(timeout: 0) }
        }
        try rig.endOfSession()
        try rig.finish { rig.checker.ended }
        #expect(rig.checker.delivered == 5_000)
        #expect(rig.checker.mismatches == 0 && rig.checker.lost.isEmpty)
        #expect(rig.recovery.counters.started >= 1)
        #expect(rig.recovery.counters.messagesDelivered >= 100, "10 lost packets of 10")
        #expect(rig.client.counters.timeouts >= 2)
    }
}
