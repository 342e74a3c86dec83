import Testing
import Reactor
import TestSupport
import MoldUDP64

/// Request bytes, built by hand so that hostile variants are easy to make.
func requestBytes(session: SessionID = testSession, sequence: UInt64, count: UInt16) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Request.size)
    bytes.withUnsafeMutableBytes { _ = Request(session: session, sequenceNumber: sequence, messageCount: count).encode(into: $0) }
    return bytes
}

/// A store holding messages 1...count, each `length` bytes.
func filledStore(count: Int, length: Int, capacity: Int = 65_536) -> RetransmissionStore {
    let store = RetransmissionStore(messageCapacity: capacity)
    for sequence in 1...UInt64(count) {
        testMessage(sequence, length: length).withUnsafeBytes { _ = store.append($0) }
    }
    return store
}

@Suite struct RetransmissionServerTests {
    static let second: UInt64 = 1_000_000_000

    /// The I/O-free core, with sockaddrs made from addresses.
    final class Core {
        let server: RetransmissionServer
        let socket: UDPSocket
        init(store: RetransmissionStore, _ configure: (inout RetransmissionServer.Configuration) -> Void = { _ in }) throws {
            var configuration = RetransmissionServer.Configuration(session: testSession)
            configure(&configuration)
            socket = try UDPSocket()
            server = RetransmissionServer(socket: socket, store: store, configuration: configuration)
        }
        deinit { socket.close() }

        func answer(_ bytes: [UInt8], from source: SocketAddress = try! SocketAddress("127.0.0.1", port: 40_001),
                    now: UInt64 = 10 * second) -> ParsedPacket? {
            bytes.withUnsafeBytes { request in
                source.withSockaddr { raw, length in
                    server.answer(to: request, from: UnsafeRawBufferPointer(start: raw, count: Int(length)), now: now)
                        .map { ParsedPacket($0)! }
                }
            }
        }
    }

    @Test func answersFromTheRequestedSequenceNumberUpToThePacketSize() throws {
        let core = try Core(store: filledStore(count: 200, length: 100))
        let answer = try #require(core.answer(requestBytes(sequence: 10, count: 5)))
        #expect(answer.sequenceNumber == 10)
        #expect(answer.messages == (10...14).map { testMessage($0, length: 100) })
        // 0xFFFF asked: as many as fit 1400 bytes, (1400 - 20) / 102 = 13.
        let most = try #require(core.answer(requestBytes(sequence: 50, count: 0xFFFF)))
        #expect(most.sequenceNumber == 50 && most.messages.count == 13)
        // Near the end: what exists.
        let tail = try #require(core.answer(requestBytes(sequence: 199, count: 10)))
        #expect(tail.messages.count == 2)
        #expect(core.server.counters.answers == 3 && core.server.counters.messagesSent == 20)
    }

    @Test func capsMessagesPerAnswer() throws {
        let core = try Core(store: filledStore(count: 20, length: 4)) { $0.maxMessagesPerAnswer = 3 }
        #expect(core.answer(requestBytes(sequence: 1, count: 10))?.messages.count == 3)
    }

    @Test func countsAndIgnoresBadRequests() throws {
        let store = filledStore(count: 10, length: 8, capacity: 4)   // holds 7...10
        let core = try Core(store: store)
        let good = requestBytes(sequence: 8, count: 1)
        #expect(core.answer(Array(good.dropLast())) == nil)
        #expect(core.answer(good + [0]) == nil)
        #expect(core.answer([]) == nil)
        #expect(core.answer(requestBytes(sequence: 0, count: 1)) == nil)
        #expect(core.answer(requestBytes(sequence: 8, count: 0)) == nil)
        #expect(core.server.counters.malformed == 5)
        #expect(core.answer(requestBytes(session: try SessionID(validating: "OTHER"), sequence: 8, count: 1)) == nil)
        #expect(core.server.counters.wrongSession == 1)
        #expect(core.answer(requestBytes(sequence: 11, count: 1)) == nil)
        #expect(core.answer(requestBytes(sequence: .max, count: 0xFFFF)) == nil)
        #expect(core.answer(requestBytes(sequence: 1, count: 3)) == nil)
        #expect(core.server.counters.unanswerable == 3)
        #expect(store.counters.requestsForFuture == 2 && store.counters.requestsForEvicted == 1)
        // Reaching back past the oldest message: answered from the oldest.
        #expect(core.answer(requestBytes(sequence: 5, count: 4))?.sequenceNumber == 7)
        #expect(core.answer(good)?.messages == [testMessage(8, length: 8)])
        #expect(core.server.counters.answers == 2 && core.server.counters.datagrams == 11)
    }

    @Test func ratelimitsEachRequester() throws {
        let core = try Core(store: filledStore(count: 10, length: 8)) {
            $0.perRequesterLimit = RateLimit(rate: 10, burst: 5)
        }
        let request = requestBytes(sequence: 1, count: 1)
        let flooder = try SocketAddress("127.0.0.1", port: 40_002)
        let now = 10 * Self.second
        let admitted = (0..<50).filter { _ in core.answer(request, from: flooder, now: now) != nil }.count
        #expect(admitted == 5)
        #expect(core.server.counters.rateLimited == 45)
        // Others are not affected; the flooder gets one more per 100 ms.
        #expect(core.answer(request, now: now) != nil)
        #expect(core.answer(request, from: flooder, now: now + Self.second / 10) != nil)
        #expect(core.answer(request, from: flooder, now: now + Self.second / 10) == nil)
    }

    @Test func limitsAllRequestersTogether() throws {
        let core = try Core(store: filledStore(count: 10, length: 8)) {
            $0.totalLimit = RateLimit(rate: 100, burst: 20)
        }
        let request = requestBytes(sequence: 1, count: 1)
        let answered = (0..<100).filter { index in
            core.answer(request, from: try! SocketAddress("127.0.0.\(1 + index % 50)", port: 40_000 + UInt16(index)),
                        now: 10 * Self.second) != nil
        }.count
        #expect(answered == 20 && core.server.counters.totalRateLimited == 80)
    }

    @Test func theRequesterTableStaysBounded() throws {
        let core = try Core(store: filledStore(count: 10, length: 8)) {
            $0.requesterCapacity = 8
            $0.perRequesterLimit = RateLimit(rate: 1, burst: 1)
        }
        let request = requestBytes(sequence: 1, count: 1)
        for port in UInt16(41_000)..<41_100 {
            #expect(core.answer(request, from: try SocketAddress("127.0.0.1", port: port)) != nil)
        }
        // 100 requesters through 8 entries: at least 92 were forgotten to make room.
        #expect(core.server.counters.requestersForgotten >= 92)
        // IPv6 requesters are told apart too.
        let v6 = try SocketAddress("::1", port: 41_000)
        #expect(core.answer(request, from: v6) != nil)
        #expect(core.answer(request, from: v6) == nil)
    }

    /// Acceptance: over real loopback sockets, hostile requests and floods are
    /// counted and ignored while good requests keep getting correct answers.
    @Test(arguments: TestEnvironment.backends)
    func survivesHostileRequestsOverLoopback(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let store = filledStore(count: 300, length: 40)
        let (serverSocket, serverAddress) = try loopbackSocket()
        // Room for a whole flood round queued before the reactor reads any of it.
        try serverSocket.setReceiveBuffer(bytes: 1 << 20)
        var configuration = RetransmissionServer.Configuration(session: testSession)
        configuration.perRequesterLimit = RateLimit(rate: 1, burst: 20)
        let server = RetransmissionServer(socket: serverSocket, store: store, configuration: configuration)
        try reactor.register(serverSocket, handler: server)

        let (client, _) = try loopbackSocket()
        let answers = CollectingHandler()
        try reactor.register(client, handler: answers)
        let (attacker, _) = try loopbackSocket()
        let attackerAnswers = CollectingHandler()
        try reactor.register(attacker, handler: attackerAnswers)

        /// Sends, then runs the reactor until the server has seen it all.
        func deliver(_ datagrams: [[UInt8]], from socket: UDPSocket) throws {
            let target = server.counters.datagrams + UInt64(datagrams.count)
            for datagram in datagrams { try socket.send(datagram, to: serverAddress) }
            try pump(reactor) { server.counters.datagrams >= target }
            #expect(server.counters.datagrams == target)
        }
        func askAndCheck(sequence: UInt64, count: UInt16, expected: ClosedRange<UInt64>) throws {
            let before = answers.payloads.count
            try deliver([requestBytes(sequence: sequence, count: count)], from: client)
            try pump(reactor) { answers.payloads.count == before + 1 }
            let answer = try #require(answers.payloads.count == before + 1 ? ParsedPacket(answers.payloads[before]) : nil)
            #expect(answer.sequenceNumber == expected.lowerBound)
            #expect(answer.messages == expected.map { testMessage($0, length: 40) })
            #expect(answers.sources.last == serverAddress)
        }

        try askAndCheck(sequence: 5, count: 3, expected: 5...7)

        // Hostile, one of each: short, long, empty, larger than the receive slot
        // (truncated), wrong session, count 0, sequence 0, beyond the end, the
        // largest sequence number.
        let good = requestBytes(sequence: 1, count: 1)
        let hostile: [[UInt8]] = [
            Array(good.prefix(19)), good + [0], [], [UInt8](repeating: 0x41, count: 3_000),
            requestBytes(session: try SessionID(validating: "ELSEWHERE"), sequence: 1, count: 1),
            requestBytes(sequence: 1, count: 0), requestBytes(sequence: 0, count: 5),
            requestBytes(sequence: 301, count: 1), requestBytes(sequence: .max, count: 0xFFFF),
        ]
        try deliver(hostile, from: attacker)
        #expect(server.counters.malformed == 6)
        #expect(server.counters.wrongSession == 1)
        #expect(server.counters.unanswerable == 2 && store.counters.requestsForFuture == 2)
        #expect(server.counters.answers == 1)

        // Count 0xFFFF is legal: capped to the packet size, (1400 - 20) / 42 = 32.
        try askAndCheck(sequence: 100, count: 0xFFFF, expected: 100...131)

        // A flood of random junk, in rounds the receive buffer can hold.
        var random = SeededRandom(seed: 99)
        for _ in 0..<5 {
            let junk = (0..<200).map { _ in (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
            try deliver(junk, from: attacker)
        }
        #expect(server.counters.malformed + server.counters.wrongSession == 1_000 + 7)

        // A flood of valid requests from one attacker: what is left of its burst
        // of 20 is answered (its two well-formed requests beyond the end took
        // two), the rest is refused by its rate limit (1/s: at most one more).
        for _ in 0..<4 {
            try deliver(Array(repeating: requestBytes(sequence: 1, count: 0xFFFF), count: 100), from: attacker)
        }
        #expect((18...19).contains(server.counters.answers - 2))
        #expect(server.counters.rateLimited + server.counters.answers - 2 == 400)
        try pump(reactor) { attackerAnswers.payloads.count == Int(server.counters.answers - 2) }
        #expect(attackerAnswers.payloads.count == Int(server.counters.answers - 2))

        // The good client is still answered, correctly.
        try askAndCheck(sequence: 290, count: 20, expected: 290...300)
        #expect(server.counters.sendFailures == 0)
        #expect(reactor.counters.handlerErrors == 0)
    }
}
