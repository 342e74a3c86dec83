import Testing
import MoldUDP64
import Multicast
import Reactor
import TestSupport

/// The client on a real reactor, real loopback multicast and a real request
/// socket, against a feed and a re-request server written here from the spec
/// (`MoldFeed`), not the package's own publisher.
@Suite(.serialized) struct ClientEndToEndTests {
    /// Checks every delivery: sequence numbers consecutive from the start, bytes
    /// equal to what the feed published.
    final class Checker: MessageConsumer {
        let feed: MoldFeed
        var next: UInt64
        var delivered = 0
        var mismatches = 0
        var lost: [Range<UInt64>] = []
        var ended = false
        init(feed: MoldFeed, start: UInt64 = 1) { self.feed = feed; next = start }
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
            if sequence != next || Array(message) != feed.messages[Int(sequence) - 1] { mismatches += 1 }
            next = sequence + 1
            delivered += 1
        }
        func lost(firstSequence: UInt64, count: UInt64) { lost.append(firstSequence..<firstSequence + count) }
        func endOfSession(nextSequence: UInt64) { ended = true }
    }

    /// A re-request server from the spec: answers from the feed's array, and
    /// drops a seeded fraction of its answers.
    final class TestServer: DatagramHandler {
        let feed: MoldFeed
        var random: SeededGenerator
        let dropRate: Double
        var publishedEnd: UInt64 = 1
        var requests = 0
        var answersDropped = 0
        init(feed: MoldFeed, seed: UInt64, dropRate: Double) {
            self.feed = feed
            random = SeededGenerator(seed: seed)
            self.dropRate = dropRate
        }
        func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
            let socket = reactor.socket(for: batch.token)!
            for datagram in batch {
                requests += 1
                guard let answer = feed.answer(request: Array(datagram.bytes), publishedEnd: publishedEnd) else { continue }
                if random.chance(dropRate) { answersDropped += 1; continue }
                _ = try answer.withUnsafeBytes { bytes in
                    try socket.send(bytes, toRaw: datagram.sourceAddress.baseAddress!, length: datagram.sourceAddress.count)
                }
            }
        }
    }

    static let group = "239.255.77.1"

    func makeClient(reactor: Reactor, servers: [SocketAddress], consumer: Checker, lines: Int = 1) throws -> Client {
        var subscriptions = [try Subscription(group: Self.group, port: 0, interface: .address(try IPAddress("127.0.0.1")))]
        if lines == 2 {
            subscriptions.append(try Subscription(group: "239.255.77.2", port: 0, interface: .address(try IPAddress("127.0.0.1"))))
        }
        var configuration = Client.Configuration(lines: subscriptions, servers: servers)
        configuration.session.reorderWindow = 1_000_000
        configuration.receiveBufferBytes = 16 << 20
        configuration.rerequest.requestTimeout = 5_000_000
        configuration.rerequest.requestsPerSecond = 100_000
        configuration.rerequest.requestBurst = 256
        return try Client(configuration, reactor: reactor, consumer: consumer)
    }

    /// Polls until the reactor has had nothing to do for a few cycles.
    func settle(_ reactor: Reactor) throws {
        var idle = 0
        while idle < 3 { idle = try reactor.runOnce(timeout: 200_000) == 0 ? idle + 1 : 0 }
    }

    @Test func lossyDuplicatingReorderingFeedIsDeliveredInOrderExactlyOnce() throws {
        let feed = MoldFeed(session: "E2E0000001", messages: MoldFeed.messages(count: 100_000, seed: 5, sizes: 8...60))
        let reactor = try Reactor(backend: .epoll)
        let server = TestServer(feed: feed, seed: 11, dropRate: 0.20)
        let (serverSocket, serverAddress) = try loopbackSocket()
        try reactor.register(serverSocket, handler: server)
        let checker = Checker(feed: feed)
        let client = try makeClient(reactor: reactor, servers: [serverAddress], consumer: checker)
        let sender = try MulticastSender(group: IPAddress(Self.group), port: client.linePorts[0], source: IPAddress("127.0.0.1"))
        defer { sender.close() }

        // The live line: 5% loss, 2% duplicated, 2% swapped with the next packet.
        var random = SeededGenerator(seed: 99)
        var held: [UInt8]?
        var lostPackets = 0
        let packets = feed.packets(perPacket: 10)
        for (index, packet) in packets.enumerated() {
            server.publishedEnd = UInt64((index + 1) * 10 + 1)
            if random.chance(0.05) { lostPackets += 1; continue }
            if held == nil && random.chance(0.02) { held = packet; continue }
            try sender.send(packet)
            if random.chance(0.02) { try sender.send(packet) }
            if let late = held { try sender.send(late); held = nil }
            if index % 32 == 31 { try settle(reactor) }
        }
        if let late = held { try sender.send(late) }
        server.publishedEnd = feed.nextSequence
        try sender.send(feed.endOfSession())
        var cycles = 0
        while !checker.ended && cycles < 200_000 {
            _ = try reactor.runOnce(timeout: 1_000_000)
            cycles += 1
            if cycles % 500 == 0 { try sender.send(feed.endOfSession()) }
        }
        #expect(checker.ended)
        #expect(checker.delivered == 100_000)
        #expect(checker.mismatches == 0)
        #expect(checker.lost.isEmpty)
        #expect(client.counters.delivered == 100_000)
        #expect(client.counters.recovered > 0)
        #expect(client.counters.duplicates > 0)
        #expect(server.answersDropped > 0)
        #expect(lostPackets > 200)
    }

    @Test func twoLinesArbitrateFirstCopyWins() throws {
        let feed = MoldFeed(session: "AB00000001", messages: MoldFeed.messages(count: 5_000, seed: 8))
        let reactor = try Reactor(backend: .epoll)
        let server = TestServer(feed: feed, seed: 3, dropRate: 0)
        let (serverSocket, serverAddress) = try loopbackSocket()
        try reactor.register(serverSocket, handler: server)
        server.publishedEnd = feed.nextSequence
        let checker = Checker(feed: feed)
        let client = try makeClient(reactor: reactor, servers: [serverAddress], consumer: checker, lines: 2)
        let a = try MulticastSender(group: IPAddress(Self.group), port: client.linePorts[0], source: IPAddress("127.0.0.1"))
        let b = try MulticastSender(group: IPAddress("239.255.77.2"), port: client.linePorts[1], source: IPAddress("127.0.0.1"))
        defer { a.close(); b.close() }
        // Each line loses a different 10%; together they carry everything.
        var random = SeededGenerator(seed: 21)
        for (index, packet) in feed.packets(perPacket: 5).enumerated() {
            let dropOnA = random.chance(0.1)
            if !dropOnA { try a.send(packet) }
            if dropOnA || !random.chance(0.1) { try b.send(packet) }
            // Lines A and B run side by side: each packet's two copies arrive
            // close together, as on two real feeds.
            _ = index
            try settle(reactor)
        }
        try a.send(feed.endOfSession())
        try pump(reactor, cycles: 10_000, timeout: 1_000_000) { checker.ended }
        #expect(checker.delivered == 5_000 && checker.mismatches == 0)
        #expect(client.counters.requests == 0, "the other line filled every hole")
        #expect(client.lineCounters[0].duplicates + client.lineCounters[1].duplicates == client.counters.duplicates)
        #expect(client.lineCounters[1].duplicates > 0)
    }

    @Test func answersFromUnknownAddressesAreDropped() throws {
        let feed = MoldFeed(session: "UNK0000001", messages: MoldFeed.messages(count: 100, seed: 2))
        let reactor = try Reactor(backend: .epoll)
        let (serverSocket, serverAddress) = try loopbackSocket()
        let server = TestServer(feed: feed, seed: 1, dropRate: 1.0)  // the real server never answers
        server.publishedEnd = feed.nextSequence
        try reactor.register(serverSocket, handler: server)
        let checker = Checker(feed: feed)
        let client = try makeClient(reactor: reactor, servers: [serverAddress], consumer: checker)
        let sender = try MulticastSender(group: IPAddress(Self.group), port: client.linePorts[0], source: IPAddress("127.0.0.1"))
        defer { sender.close() }
        try sender.send(feed.packet(first: 1, count: 10))
        try sender.send(feed.packet(first: 21, count: 10))  // 11..<21 missing
        try pump(reactor, cycles: 1000, timeout: 1_000_000) { server.requests > 0 }
        // An impostor answers from another port: the client must not take it.
        let (impostor, _) = try loopbackSocket("127.0.0.2")
        defer { impostor.close() }
        try impostor.send(feed.packet(first: 11, count: 10), to: client.requestAddress!.withLoopbackHost())
        try pump(reactor, cycles: 200, timeout: 1_000_000) { client.counters.unknownSource > 0 }
        #expect(client.counters.unknownSource >= 1)
        #expect(checker.delivered == 10, "the forged answer filled nothing")
    }
}

extension SocketAddress {
    /// The same port on 127.0.0.1 (a wildcard-bound socket's address to send to).
    func withLoopbackHost() -> SocketAddress { try! SocketAddress("127.0.0.1", port: port) }
}
