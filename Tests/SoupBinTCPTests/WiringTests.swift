import MoldUDP64
import Reactor
import SoupBinTCP
import Testing
import TestSupport

/// Checks sequence numbers and payloads: every message once, in order, from `first`.
func expectContiguous(_ recorder: Recorder, from first: UInt64, through last: UInt64,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(recorder.messages.count == Int(last - first + 1), sourceLocation: sourceLocation)
    var expected = first
    for (sequence, payload) in recorder.messages {
        guard sequence == expected, payload == message(sequence) else {
            Issue.record("message \(sequence) where \(expected) was due (or its payload differs)",
                         sourceLocation: sourceLocation)
            return
        }
        expected += 1
    }
}

func append(_ store: RetransmissionStore, through last: UInt64) {
    while store.nextSequenceNumber <= last {
        message(store.nextSequenceNumber).withUnsafeBytes { _ = store.append($0) }
    }
}

/// A Login Request as bytes (for raw sockets playing a client).
func loginBytes(user: String = "", password: String = "", session: String = "", sequence: UInt64 = 1) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 49)
    let size = out.withUnsafeMutableBytes { buffer in
        Array(user.utf8).withUnsafeBytes { u in
            Array(password.utf8).withUnsafeBytes { p in
                Array(session.utf8).withUnsafeBytes { s in
                    SoupWriter.loginRequest(username: u, password: p, session: s, sequence: sequence, to: buffer.baseAddress!)
                }
            }
        }
    }
    return Array(out.prefix(size))
}

let fastClient = SoupTCPClient.Configuration(connectTimeout: 1_000_000_000, reconnectDelay: 5_000_000,
                                             servicePeriod: 5_000_000)

@Suite struct SoupWiringTests {
    @Test(arguments: TestEnvironment.backends)
    func loginReplayThenLiveWithoutGapOrDuplicate(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let store = RetransmissionStore(messageCapacity: 1 << 16)
        append(store, through: 5_000)
        let server = try SoupServer(configuration: .init(session: "FEED000001"), store: store)
        let soup = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        let recorder = Recorder()
        let client = try SoupClient(configuration: .init(firstSequence: 1), consumer: recorder)
        let tcp = try SoupTCPClient(client: client, server: soup.localAddress, reactor: reactor, configuration: fastClient)
        // Live messages are published while the replay is still going.
        try pump(reactor, cycles: 2_000) {
            if recorder.messages.count > 100 && store.nextSequenceNumber <= 8_000 {
                append(store, through: store.nextSequenceNumber + 99)
            }
            return recorder.messages.count >= 8_000
        }
        soup.endSession(now: reactor.now)
        try pump(reactor) { tcp.isFinished }
        #expect(tcp.outcome == .endOfSession)
        #expect(recorder.ended == 8_001)
        expectContiguous(recorder, from: 1, through: 8_000)
        #expect(server.counters.sequencedSent == 8_000)
        #expect(client.counters.duplicatesSkipped == 0 && client.counters.lostAtLogin == 0)
        try pump(reactor) { soup.connectionCount == 0 }
        soup.close()
    }

    @Test func reconnectAfterServerRestartResumesAtTheNextSequence() throws {
        let reactor = try Reactor(backend: .epoll)
        let store = RetransmissionStore(messageCapacity: 1 << 16)
        append(store, through: 300)
        let first = try SoupTCPServer(server: SoupServer(configuration: .init(session: "FEED000001"), store: store),
                                      address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        let address = first.localAddress
        let recorder = Recorder()
        var logins: [UInt64] = []
        let client = try SoupClient(configuration: .init(firstSequence: 1), consumer: recorder)
        client.onEvent = { if case .loginAccepted(_, let next) = $0 { logins.append(next) } }
        let tcp = try SoupTCPClient(client: client, server: address, reactor: reactor, configuration: fastClient)
        try pump(reactor) { recorder.messages.count == 300 }
        first.close()
        try pump(reactor) { tcp.drops >= 1 }
        // The restarted server (same port, same store) has more by now.
        append(store, through: 700)
        let second = try SoupTCPServer(server: SoupServer(configuration: .init(session: "FEED000001"), store: store),
                                       address: address, reactor: reactor)
        try pump(reactor, cycles: 2_000) { recorder.messages.count == 700 }
        #expect(logins == [1, 301])
        expectContiguous(recorder, from: 1, through: 700)
        #expect(second.server.counters.loginsAccepted == 1)
        second.close()
        tcp.close()
    }

    @Test func logoutInTheMiddleOfAReplayEndsCleanly() throws {
        let reactor = try Reactor(backend: .epoll)
        let store = RetransmissionStore(messageCapacity: 1 << 17, byteCapacity: 32 << 20)
        append(store, through: 100_000)
        let soup = try SoupTCPServer(server: SoupServer(configuration: .init(session: "FEED000001"), store: store),
                                     address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        let recorder = Recorder()
        let client = try SoupClient(configuration: .init(firstSequence: 1), consumer: recorder)
        let tcp = try SoupTCPClient(client: client, server: soup.localAddress, reactor: reactor, configuration: fastClient)
        tcp.afterRead = { if recorder.messages.count >= 1_000 { tcp.logout() } }
        try pump(reactor) { tcp.isFinished && !tcp.isConnected && soup.connectionCount == 0 }
        #expect(tcp.outcome == .loggedOut)
        #expect(soup.server.counters.logouts == 1, "\(soup.recentCloseReasons)")
        #expect(soup.recentCloseReasons == [.loggedOut])
        #expect(tcp.lastCloseReason == .peerClosed)
        expectContiguous(recorder, from: 1, through: UInt64(recorder.messages.count))
        soup.close()
    }

    @Test func rejectedLoginIsReportedWithItsReasonAndNotRetried() throws {
        let reactor = try Reactor(backend: .epoll)
        let store = RetransmissionStore(messageCapacity: 1024)
        let server = try SoupServer(configuration: .init(session: "FEED000001",
                                                         credentials: Credentials([(username: "feed", password: "secret")])),
                                    store: store)
        let soup = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        for (user, password, session, reason) in [("feed", "wrong", "", RejectReason.notAuthorized),
                                                  ("feed", "secret", "OTHER", RejectReason.sessionNotAvailable)] {
            let client = try SoupClient(configuration: .init(username: user, password: password, session: session),
                                        consumer: Recorder())
            let tcp = try SoupTCPClient(client: client, server: soup.localAddress, reactor: reactor, configuration: fastClient)
            try pump(reactor) { tcp.isFinished }
            #expect(tcp.outcome == .rejected(reason))
            #expect(client.rejection == reason)
            try pump(reactor, cycles: 5)
            #expect(tcp.connectAttempts == 1)
        }
        #expect(server.counters.rejectedNotAuthorized == 1 && server.counters.rejectedSessionNotAvailable == 1)
        soup.close()
    }

    /// Garbage, lengths 0 and 65535, a frame one byte per read, wrong
    /// credentials, a login flood and a client that never reads, all at once
    /// over real sockets: each is rejected or cut off and counted, and a good
    /// client keeps getting the live feed throughout.
    @Test func badInputIsRejectedAndCountedWhileOthersAreServed() throws {
        let reactor = try Reactor(backend: .epoll)
        let store = RetransmissionStore(messageCapacity: 1 << 17, byteCapacity: 64 << 20)
        let big = [UInt8](repeating: 0x42, count: 1000)
        for _ in 0..<20_000 { big.withUnsafeBytes { _ = store.append($0) } }
        let configuration = SoupServer.Configuration(
            session: "FEED000001", credentials: try Credentials([(username: "feed", password: "secret")]),
            loginTimeout: 200_000_000, slowClientTimeout: 100_000_000, maxFrameLength: 100, maxConnections: 12)
        let server = try SoupServer(configuration: configuration, store: store)
        var listenerOptions = TCPListenerOptions()
        listenerOptions.stream.sendCapacity = 16 * 1024
        listenerOptions.stream.kernelSendBuffer = 16 * 1024
        let soup = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor,
                                     options: listenerOptions)

        // The good client, logged in at the live edge.
        let good = Recorder()
        let goodClient = try SoupClient(configuration: .init(username: "feed", password: "secret", firstSequence: 0),
                                        consumer: good)
        let goodTCP = try SoupTCPClient(client: goodClient, server: soup.localAddress, reactor: reactor, configuration: fastClient)
        try pump(reactor) { goodClient.state == .streaming }

        func raw(_ bytes: [UInt8], options: TCPStreamOptions = TCPStreamOptions(), consume: ((ByteSpans) -> Int)? = nil)
            throws -> CollectingStream {
            let stream = CollectingStream()
            stream.consume = consume
            stream.onConnected = { token, reactor in reactor.write(token, bytes) }
            try reactor.connect(to: soup.localAddress, options: options, handler: stream)
            return stream
        }
        let garbage = try raw(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let zero = try raw([0, 0, 0x4C])
        let huge = try raw([0xFF, 0xFF, 0x4C])
        let wrong = try raw(loginBytes(user: "feed", password: "guess"))
        let twice = try raw(loginBytes(user: "feed", password: "secret", sequence: 0)
                            + loginBytes(user: "feed", password: "secret", sequence: 0))
        // Never reads, and has asked for the whole store.
        var tiny = TCPStreamOptions(receiveCapacity: 4096)
        tiny.kernelReceiveBuffer = 4096
        let sleeper = try raw(loginBytes(user: "feed", password: "secret", sequence: 1), options: tiny, consume: { _ in 0 })
        // One byte per write, with the reactor run between them.
        let dribble = CollectingStream()
        try reactor.connect(to: soup.localAddress, handler: dribble)
        try pump(reactor) { dribble.isConnected }
        for byte in loginBytes(user: "feed", password: "secret", sequence: 0) {
            reactor.write(dribble.token!, [byte])
            try pump(reactor, cycles: 1, timeout: 1_000_000)
        }
        // A flood of connections that never log in: the limit refuses the excess,
        // the login timeout clears the rest.
        var flood: [CollectingStream] = []
        for _ in 0..<20 { flood.append(try raw([])) }

        let live0 = good.messages.count
        try pump(reactor, cycles: 3_000) {
            append(store, through: store.nextSequenceNumber)
            return garbage.isClosed && zero.isClosed && huge.isClosed && wrong.isClosed && twice.isClosed
                && flood.allSatisfy(\.isClosed) && server.counters.slowClientsCut == 1
        }
        try pump(reactor) { good.messages.count > live0 + 100 }
        let counters = server.counters
        #expect(counters.malformedFrames == 3, "garbage, length 0, length 65535")
        #expect(counters.rejectedNotAuthorized == 1)
        #expect(counters.protocolViolations == 1, "the second login")
        #expect(counters.slowClientsCut == 1)
        #expect(counters.refusedAtLimit >= 1 && counters.loginTimeouts >= 1)
        #expect(wrong.bytes == [0, 2, 0x4A, 0x41], "Login Rejected, not authorized")
        // The dribbled login was seen whole and accepted.
        #expect(dribble.bytes.count >= 33 && dribble.bytes[2] == PacketType.loginAccepted.rawValue)
        #expect(sleeper.bytes.isEmpty)
        #expect(dribble.isClosed == false)
        #expect(goodTCP.drops == 0 && goodClient.state == .streaming)
        #expect(good.lost.isEmpty)
        soup.close()
        goodTCP.close()
    }
}
