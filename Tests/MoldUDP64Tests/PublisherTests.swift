import Testing
import Reactor
import TestSupport
import MoldUDP64

/// Keeps every packet a publisher sends, parsed.
final class CollectingSink: PacketSink {
    var packets: [ParsedPacket] = []
    var accept = true
    func send(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard accept else { return false }
        packets.append(ParsedPacket(packet)!)
        return true
    }
    var dataPackets: [ParsedPacket] { packets.filter { !$0.isHeartbeat && !$0.isEndOfSession } }
    var sequences: [UInt64] {
        dataPackets.flatMap { packet in packet.messages.indices.map { packet.sequenceNumber + UInt64($0) } }
    }
}

@Suite struct PublisherTests {
    static let start: UInt64 = 5_000_000_000
    static let ms: UInt64 = 1_000_000

    func publisher(_ configure: (inout Publisher.Configuration) -> Void = { _ in },
                   store: RetransmissionStore? = nil) -> (Publisher, CollectingSink) {
        var configuration = Publisher.Configuration(session: testSession)
        configure(&configuration)
        let sink = CollectingSink()
        let publisher = Publisher(configuration, sink: sink, store: store)
        // Consume the opening heartbeat so tests start from a quiet publisher.
        publisher.poll(now: Self.start)
        sink.packets.removeAll()
        return (publisher, sink)
    }

    @discardableResult
    func append(_ publisher: Publisher, length: Int, now: UInt64) throws -> UInt64 {
        let message = testMessage(publisher.nextSequenceNumber, length: length)
        return try message.withUnsafeBytes { raw throws(PublisherError) in try publisher.append(raw, now: now) }
    }

    @Test func announcesTheSessionWithAHeartbeatAtStart() {
        let sink = CollectingSink()
        let publisher = Publisher(.init(session: testSession), sink: sink)
        #expect(publisher.poll(now: Self.start) == 1)
        #expect(sink.packets == [ParsedPacket(session: testSession, sequence: 1, count: 0)])
    }

    @Test func packsByPacketSize() throws {
        let (publisher, sink) = publisher { $0.maxPacketSize = 100; $0.flushDelay = Self.ms }
        let now = Self.start
        // 20 + 2 * (2 + 30) = 84 bytes; a third message would make 116 > 100.
        for _ in 1...5 { try append(publisher, length: 30, now: now) }
        #expect(sink.packets.map(\.messages.count) == [2, 2])
        #expect(sink.packets.map(\.sequenceNumber) == [1, 3])
        // The fifth waits for its flush deadline.
        #expect(publisher.nextDeadline == now + Self.ms)
        #expect(publisher.poll(now: now + Self.ms - 1) == 0)
        #expect(publisher.poll(now: now + Self.ms) == 1)
        #expect(sink.sequences == Array(1...5))
        for packet in sink.packets {
            for (index, message) in packet.messages.enumerated() {
                #expect(message == testMessage(packet.sequenceNumber + UInt64(index), length: 30))
            }
        }
        #expect(publisher.counters.messages == 5 && publisher.counters.dataPackets == 3)
    }

    @Test func sendsAFullPacketAtOnce() throws {
        let (publisher, sink) = publisher { $0.maxPacketSize = 100; $0.flushDelay = Self.ms }
        // 20 + 2 + 78 = 100: nothing more fits, so it goes without waiting.
        try append(publisher, length: 78, now: Self.start)
        #expect(sink.packets.count == 1)
        try append(publisher, length: 1, now: Self.start)
        try append(publisher, length: 1, now: Self.start)
        #expect(sink.packets.count == 1)
    }

    @Test func capsMessagesPerPacket() throws {
        let (publisher, sink) = publisher { $0.maxMessagesPerPacket = 3; $0.flushDelay = Self.ms }
        for _ in 1...7 { try append(publisher, length: 8, now: Self.start) }
        #expect(sink.packets.map(\.messages.count) == [3, 3])
        publisher.flush(now: Self.start)
        #expect(sink.packets.map(\.messages.count) == [3, 3, 1])
    }

    @Test func flushDelayZeroSendsEachMessageAtOnce() throws {
        let (publisher, sink) = publisher { $0.flushDelay = 0 }
        for _ in 1...3 { try append(publisher, length: 10, now: Self.start) }
        #expect(sink.packets.map(\.messages.count) == [1, 1, 1])
        #expect(sink.sequences == [1, 2, 3])
    }

    @Test func flushDeadlineCountsFromThePacketsFirstMessage() throws {
        let (publisher, sink) = publisher { $0.flushDelay = 10 * Self.ms }
        try append(publisher, length: 10, now: Self.start)
        try append(publisher, length: 10, now: Self.start + 9 * Self.ms)
        #expect(publisher.poll(now: Self.start + 10 * Self.ms - 1) == 0)
        #expect(publisher.poll(now: Self.start + 10 * Self.ms) == 1)
        #expect(sink.packets.map(\.messages.count) == [2])
    }

    @Test func heartbeatsAfterSilenceCarryingTheNextSequenceNumber() throws {
        let (publisher, sink) = publisher { $0.flushDelay = 0; $0.heartbeatInterval = 1_000 * Self.ms }
        try append(publisher, length: 10, now: Self.start)
        try append(publisher, length: 10, now: Self.start + 200 * Self.ms)
        let last = Self.start + 200 * Self.ms
        #expect(publisher.nextDeadline == last + 1_000 * Self.ms)
        #expect(publisher.poll(now: last + 999 * Self.ms) == 0)
        #expect(publisher.poll(now: last + 1_000 * Self.ms) == 1)
        #expect(publisher.poll(now: last + 1_500 * Self.ms) == 0)
        #expect(publisher.poll(now: last + 2_000 * Self.ms) == 1)
        #expect(sink.packets.filter(\.isHeartbeat).map(\.sequenceNumber) == [3, 3])
        #expect(publisher.counters.heartbeats == 3)   // with the opening one
    }

    @Test func noHeartbeatWhileAPacketIsPending() throws {
        let (publisher, sink) = publisher { $0.flushDelay = 5_000 * Self.ms; $0.heartbeatInterval = 1_000 * Self.ms }
        try append(publisher, length: 10, now: Self.start)
        #expect(publisher.poll(now: Self.start + 2_000 * Self.ms) == 0)
        #expect(sink.packets.isEmpty)
        #expect(publisher.nextDeadline == Self.start + 5_000 * Self.ms)
    }

    @Test func endsTheSession() throws {
        let (publisher, sink) = publisher { $0.flushDelay = Self.ms; $0.heartbeatInterval = 1_000 * Self.ms }
        try append(publisher, length: 10, now: Self.start)
        try append(publisher, length: 10, now: Self.start)
        publisher.endSession(now: Self.start + 1)
        // The pending packet first, then the end mark with the next sequence number.
        #expect(sink.packets.count == 2)
        #expect(sink.packets[0].messages.count == 2)
        #expect(sink.packets[1] == ParsedPacket(session: testSession, sequence: 3, count: 0xFFFF))
        #expect(throws: PublisherError.sessionEnded) { try append(publisher, length: 1, now: Self.start + 2) }
        // Instead of heartbeats, the end mark again.
        #expect(publisher.poll(now: Self.start + 1 + 1_000 * Self.ms) == 1)
        #expect(sink.packets.last?.isEndOfSession == true && sink.packets.last?.sequenceNumber == 3)
        #expect(publisher.counters.endOfSessionPackets == 2)
    }

    @Test func refusesMessagesLargerThanAPacket() throws {
        let (publisher, _) = publisher { $0.maxPacketSize = 100 }
        #expect(publisher.largestMessage == 78)
        #expect(throws: PublisherError.messageTooLarge(length: 79, limit: 78)) {
            try append(publisher, length: 79, now: Self.start)
        }
        #expect(publisher.nextSequenceNumber == 1)
    }

    @Test func dropsChosenPacketsButKeepsThemInTheStore() throws {
        let store = RetransmissionStore()
        let (publisher, sink) = publisher({
            $0.flushDelay = 0
            $0.loss = LossSimulation(dropPacketNumbers: [4, 2])
        }, store: store)
        for _ in 1...5 { try append(publisher, length: 12, now: Self.start) }
        publisher.dropNextPackets(1)
        try append(publisher, length: 12, now: Self.start)
        #expect(sink.sequences == [1, 3, 5])
        #expect(publisher.counters.dataPacketsDropped == 3)
        #expect(publisher.counters.packetsSent == 4)   // three data packets and the opening heartbeat
        for sequence in UInt64(1)...6 {
            #expect(store.message(sequence).map { Array($0) } == testMessage(sequence, length: 12))
        }
    }

    @Test func dropsRandomPacketsRepeatably() throws {
        func run() throws -> [UInt64] {
            let (publisher, sink) = publisher {
                $0.flushDelay = 0
                $0.loss = LossSimulation(dropFraction: 0.3, seed: 42)
            }
            for _ in 1...1_000 { try append(publisher, length: 4, now: Self.start) }
            return sink.sequences
        }
        let first = try run()
        #expect(try run() == first)
        #expect((600...800).contains(first.count))
    }

    @Test func countsSendFailuresAndGoesOn() throws {
        let (publisher, sink) = publisher { $0.flushDelay = 0 }
        sink.accept = false
        try append(publisher, length: 4, now: Self.start)
        sink.accept = true
        try append(publisher, length: 4, now: Self.start)
        #expect(publisher.counters.sendFailures == 1)
        #expect(sink.sequences == [2])
    }

    /// The wiring: a reactor timer flushes and heartbeats, packets leave through
    /// a real UDP socket to a loopback receiver. The clock is manual, so the test
    /// decides when deadlines pass.
    @Test func runsOnTheReactorOverLoopback() throws {
        let clock = ManualClock(Self.start)
        var reactorConfiguration = Reactor.Configuration(backend: .epoll)
        reactorConfiguration.clock = clock
        let reactor = try Reactor(reactorConfiguration)
        let (receiver, destination) = try loopbackSocket()
        let received = CollectingHandler()
        try reactor.register(receiver, handler: received)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        var configuration = Publisher.Configuration(session: testSession)
        configuration.flushDelay = 2 * Self.ms
        configuration.heartbeatInterval = 100 * Self.ms
        let publisher = Publisher(configuration, sink: UDPPacketSink(socket: sender, destination: destination))
        try publisher.attach(to: reactor)
        // The opening heartbeat is due at once.
        try pump(reactor) { received.payloads.count == 1 }
        #expect(ParsedPacket(received.payloads[0])?.isHeartbeat == true)

        for sequence in UInt64(1)...3 {
            let message = testMessage(sequence, length: 20)
            _ = try message.withUnsafeBytes { raw throws(PublisherError) in try publisher.append(raw) }
        }
        try reactor.runOnce(timeout: 1_000_000)
        #expect(received.payloads.count == 1)   // still within the flush delay
        clock.advance(by: 2 * Self.ms)
        try pump(reactor) { received.payloads.count == 2 }
        let data = try #require(ParsedPacket(received.payloads[1]))
        #expect(data.sequenceNumber == 1 && data.messages == (1...3).map { testMessage($0, length: 20) })

        clock.advance(by: 100 * Self.ms)
        try pump(reactor) { received.payloads.count == 3 }
        #expect(ParsedPacket(received.payloads[2]) == ParsedPacket(session: testSession, sequence: 4, count: 0))
        publisher.endSession()
        try pump(reactor) { received.payloads.count == 4 }
        #expect(ParsedPacket(received.payloads[3])?.isEndOfSession == true)
        #expect(publisher.counters.packetsSent == 4 && publisher.counters.sendFailures == 0)
        publisher.detach()
    }

    /// A sink on the reactor's send path with a connected socket (each backend,
    /// coalesced on epoll): packets go without an address, arrive in order, and
    /// the receiver sees them from the sink's socket.
    @Test(arguments: TestEnvironment.backends)
    func connectedSinkThroughTheReactor(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (receiver, destination) = try loopbackSocket()
        let received = CollectingHandler()
        try reactor.register(receiver, handler: received)
        let (sender, _) = try loopbackSocket()
        let source = try sender.localAddress()
        let sink = try UDPPacketSink(reactor: reactor, socket: sender, destination: destination,
                                     options: SendOptions(queueCapacity: 64, coalesce: true), connect: true)
        #expect(sink.connected)
        var configuration = Publisher.Configuration(session: testSession)
        configuration.flushDelay = 0
        configuration.heartbeatInterval = 0
        let publisher = Publisher(configuration, sink: sink)
        for sequence in UInt64(1)...40 {
            let message = testMessage(sequence, length: 20)
            _ = try message.withUnsafeBytes { raw throws(PublisherError) in try publisher.append(raw, now: 1) }
        }
        try pump(reactor) { received.payloads.count == 40 }
        #expect(received.payloads.compactMap { ParsedPacket($0)?.sequenceNumber } == Array(UInt64(1)...40))
        #expect(received.sources.allSatisfy { $0 == source })
        #expect(publisher.counters.packetsSent == 40 && publisher.counters.sendFailures == 0)
    }
}
