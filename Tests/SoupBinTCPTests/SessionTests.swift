import Testing
import MoldUDP64
import SoupBinTCP

@Suite struct SoupSessionTests {
    let second: UInt64 = 1_000_000_000

    func server(messages: Int, credentials: Credentials = .anyone, capacity: Int = 65_536,
                configure: (inout SoupServer.Configuration) -> Void = { _ in }) throws -> SoupServer {
        var configuration = SoupServer.Configuration(session: "FEED000001", credentials: credentials)
        configure(&configuration)
        return try SoupServer(configuration: configuration, store: store(messages: messages, capacity: capacity))
    }

    func expectInOrder(_ recorder: Recorder, from first: UInt64, through last: UInt64) {
        #expect(recorder.messages.count == Int(last - first + 1))
        for (index, (sequence, bytes)) in recorder.messages.enumerated() {
            #expect(sequence == first + UInt64(index))
            #expect(bytes == message(sequence))
            if sequence != first + UInt64(index) || bytes != message(sequence) { return }
        }
    }

    @Test func loginReplaysFromTheRequestedNumberThenGoesLive() throws {
        let pair = try Pair(server: server(messages: 1000), client: .init(username: "any", firstSequence: 400))
        pair.exchange()
        #expect(pair.client.state == .streaming)
        #expect(pair.client.session?.description == "FEED000001")
        expectInOrder(pair.recorder, from: 400, through: 1000)
        // Live: messages published now follow without a gap or a duplicate.
        for sequence in 1001...1500 {
            message(UInt64(sequence)).withUnsafeBytes { _ = pair.server.store.append($0) }
            if sequence % 7 == 0 { pair.exchange() }
        }
        pair.exchange()
        expectInOrder(pair.recorder, from: 400, through: 1500)
        #expect(pair.server.counters.sequencedSent == 1101)
    }

    @Test func replayAndLiveInterleavedWithATinyOutputHaveNoSeam() throws {
        // The output takes one small packet at a time while publishing goes on.
        let pair = try Pair(server: server(messages: 50), client: .init(firstSequence: 1), toClientCapacity: 40)
        for sequence in 51...300 {
            message(UInt64(sequence)).withUnsafeBytes { _ = pair.server.store.append($0) }
            pair.exchange(rounds: 1)
        }
        pair.exchange()
        expectInOrder(pair.recorder, from: 1, through: 300)
    }

    @Test func sequenceZeroStartsAtTheNextNewMessage() throws {
        let pair = try Pair(server: server(messages: 10), client: .init(firstSequence: 0))
        pair.exchange()
        #expect(pair.client.nextSequence == 11)
        #expect(pair.recorder.messages.isEmpty)
        message(11).withUnsafeBytes { _ = pair.server.store.append($0) }
        pair.exchange()
        expectInOrder(pair.recorder, from: 11, through: 11)
    }

    @Test func blankAndNamedSessionsAreAcceptedOthersRejected() throws {
        let named = try Pair(server: server(messages: 3), client: .init(session: "FEED000001"))
        named.exchange()
        #expect(named.client.state == .streaming && named.recorder.messages.count == 3)

        let foreign = try Pair(server: server(messages: 3), client: .init(session: "OTHER"))
        var events: [SoupClient.Event] = []
        foreign.client.onEvent = { events.append($0) }
        foreign.exchange()
        #expect(events == [.loginRejected(.sessionNotAvailable)])
        #expect(foreign.client.rejection == .sessionNotAvailable)
        #expect(foreign.serverStatus == .close(.rejected(.sessionNotAvailable), flush: true))
        #expect(foreign.server.counters.rejectedSessionNotAvailable == 1)
        #expect(foreign.recorder.messages.isEmpty)
    }

    @Test func wrongCredentialsAreRejectedNotAuthorized() throws {
        let credentials = try Credentials([("feed", "secret")])
        let good = try Pair(server: server(messages: 2, credentials: credentials),
                            client: .init(username: "feed", password: "secret"))
        good.exchange()
        #expect(good.client.state == .streaming)

        let bad = try Pair(server: server(messages: 2, credentials: credentials),
                           client: .init(username: "feed", password: "guess"))
        bad.exchange()
        #expect(bad.client.rejection == .notAuthorized)
        #expect(bad.server.counters.rejectedNotAuthorized == 1)
        #expect(bad.server.connectionCount == 0)
    }

    @Test func heartbeatsFlowBothWaysAndSilenceIsDroppedAfter15Seconds() throws {
        let pair = try Pair(server: server(messages: 1), client: .init())
        pair.exchange()
        // 1 s idle: each side heartbeats.
        pair.now += second
        pair.client.service(now: pair.now, output: pair.toServer)
        pair.exchange()
        #expect(pair.client.counters.heartbeatsSent == 1)
        #expect(pair.server.counters.heartbeatsSent == 1)
        #expect(pair.client.counters.heartbeatsReceived == 1)
        // The client goes silent (nobody services it): the server drops it at 15 s.
        for _ in 0..<14 {
            pair.now += second
            _ = pair.connection.service(now: pair.now, output: pair.toClient)
        }
        #expect(pair.connection.state == .streaming)
        pair.now += second
        #expect(pair.connection.service(now: pair.now, output: pair.toClient).status == .close(.peerSilent, flush: false))
        #expect(pair.server.counters.peerTimeouts == 1)
        // And the client drops a server silent for 15 s.
        #expect(pair.client.service(now: pair.now, output: pair.toServer) == .close(.peerSilent, flush: false))
        #expect(pair.client.counters.serverTimeouts == 1)
    }

    @Test func timeoutsAreConfigurable() throws {
        let server = try server(messages: 1) {
            $0.heartbeatInterval = 100_000_000
            $0.peerTimeout = 500_000_000
            $0.loginTimeout = 200_000_000
        }
        let idle = server.accept(now: 0)!
        #expect(idle.nextDeadline() == 200_000_000)
        #expect(idle.service(now: 199_999_999, output: BufferOutput()).status == .open)
        #expect(idle.service(now: 200_000_000, output: BufferOutput()).status == .close(.loginTimeout, flush: false))
        #expect(server.counters.loginTimeouts == 1)
    }

    @Test func reconnectAfterAServerRestartResumesAtTheNextNeededMessage() throws {
        let store = store(messages: 500)
        let first = try SoupServer(configuration: .init(session: "FEED000001"), store: store)
        let pair = try Pair(server: first, client: .init(firstSequence: 1), toClientCapacity: 3_000)
        pair.exchange(rounds: 1)
        let received = pair.recorder.messages.count
        #expect(received > 0 && received < 500)
        // The server process goes away mid-replay; a new one serves the same store.
        pair.client.disconnected()
        let restarted = try SoupServer(configuration: .init(session: "FEED000001"), store: store)
        let connection = restarted.accept(now: pair.now)!
        let toServer = BufferOutput()
        let toClient = BufferOutput()
        pair.client.connected(now: pair.now, output: toServer)
        let login = try packets(toServer.take())
        #expect(login.count == 1 && login[0].0 == .loginRequest)
        let asked = login[0].1.withUnsafeBytes { SoupFields.readNumber(UnsafeRawBufferPointer(rebasing: $0[26..<46])) }
        #expect(asked == UInt64(received) + 1)
        // The session asked for is the one the first server named.
        #expect(Array(login[0].1[16..<26]) == Array("FEED000001".utf8))
        var wire: [UInt8] = [0x00, 0x2F, 0x4C] + login[0].1
        _ = wire.withUnsafeBytes { connection.receive($0, now: pair.now, output: toClient) }
        _ = connection.service(now: pair.now, output: toClient)
        wire = toClient.take()
        _ = wire.withUnsafeBytes { pair.client.receive($0, now: pair.now, output: toServer) }
        expectInOrder(pair.recorder, from: 1, through: 500)
    }

    @Test func aLoginForEvictedMessagesReportsThemLostInOrder() throws {
        let store = RetransmissionStore(messageCapacity: 64)
        for sequence in 1...200 { message(UInt64(sequence)).withUnsafeBytes { _ = store.append($0) } }
        let server = try SoupServer(configuration: .init(session: "FEED000001"), store: store)
        let pair = try Pair(server: server, client: .init(firstSequence: 5))
        pair.exchange()
        #expect(pair.recorder.lost.count == 1)
        #expect(pair.recorder.lost.first?.0 == 5 && pair.recorder.lost.first?.1 == 132)
        expectInOrder(pair.recorder, from: 137, through: 200)
        #expect(server.counters.loginsBeforeStore == 1)
    }

    @Test func endOfSessionAfterTheLastMessage() throws {
        let pair = try Pair(server: server(messages: 20), client: .init())
        pair.server.endSession()
        pair.exchange()
        expectInOrder(pair.recorder, from: 1, through: 20)
        #expect(pair.recorder.ended == 21)
        #expect(pair.client.state == .ended)
        #expect(pair.serverStatus == .close(.endOfSession, flush: true))
    }

    @Test func aClientThatNeverReadsIsCutOffWithoutHoldingThePublisher() throws {
        let server = try server(messages: 0) { $0.slowClientTimeout = 2_000_000_000 }
        let connection = server.accept(now: 0)!
        let output = BufferOutput(capacity: 4096)
        var login = [UInt8](repeating: 0, count: 49)
        _ = login.withUnsafeMutableBytes { buffer in
            [UInt8]().withUnsafeBytes { none in
                SoupWriter.loginRequest(username: none, password: none, session: none, sequence: 1, to: buffer.baseAddress!)
            }
        }
        _ = login.withUnsafeBytes { connection.receive($0, now: 0, output: output) }
        var now: UInt64 = 0
        var status = SoupConnectionStatus.open
        // The publisher keeps appending; the client reads nothing; its output fills.
        while status == .open && now < 10_000_000_000 {
            for _ in 0..<100 { message(1).withUnsafeBytes { _ = server.store.append($0) } }
            now += 100_000_000
            status = connection.service(now: now, output: output).status
        }
        #expect(status == .close(.slowClient, flush: false))
        // Cut 2 s after the last byte it took (the output filled within 0.5 s).
        #expect(now <= 2_500_000_000)
        #expect(output.bytes.count <= 4096)
        #expect(server.counters.slowClientsCut == 1)
    }

    @Test func garbageAndSplitFramesAndFloods() throws {
        let server = try server(messages: 5) { $0.maxConnections = 3 }
        // Garbage closes that connection, counted, and others are unaffected.
        let victim = server.accept(now: 0)!
        let garbage: [UInt8] = Array("GET / HTTP/1.1\r\n".utf8)
        let (_, status) = garbage.withUnsafeBytes { victim.receive($0, now: 0, output: BufferOutput()) }
        guard case .close(.malformed, false) = status else { Issue.record("garbage accepted: \(status)"); return }
        #expect(server.counters.malformedFrames == 1)
        // Lengths 0 and 65535 from a client.
        for wire in [[0x00, 0x00] as [UInt8], [0xFF, 0xFF, 0x55]] {
            let connection = server.accept(now: 0)!
            let (_, status) = wire.withUnsafeBytes { connection.receive($0, now: 0, output: BufferOutput()) }
            guard case .close(.malformed, false) = status else { Issue.record("length accepted: \(wire)"); return }
        }
        #expect(server.counters.malformedFrames == 3)
        #expect(server.connectionCount == 0)
        // A login split one byte per read works.
        let pair = try Pair(server: server, client: .init())
        let request = pair.toServer.take()
        var pending: [UInt8] = []
        for byte in request {
            pending.append(byte)
            let (used, status) = pending.withUnsafeBytes { pair.connection.receive($0, now: 0, output: pair.toClient) }
            pending.removeFirst(used)
            #expect(status == .open)
        }
        #expect(pair.connection.state == .streaming)
        // A flood of connections: past the limit each is refused and counted.
        var held: [SoupServerConnection] = []
        for _ in 0..<10 { if let connection = server.accept(now: 0) { held.append(connection) } }
        #expect(held.count == 2)
        #expect(server.counters.refusedAtLimit == 8)
        // A second login on a logged-in connection is a protocol violation.
        _ = request.withUnsafeBytes { pair.connection.receive($0, now: 0, output: pair.toClient) }
        #expect(pair.connection.state == .closed)
        #expect(server.counters.protocolViolations == 1)
    }

    @Test func unsequencedDataAndLogout() throws {
        let pair = try Pair(server: server(messages: 1), client: .init())
        pair.exchange()
        var wire = [UInt8](repeating: 0, count: 8)
        _ = wire.withUnsafeMutableBytes { buffer in
            ([1, 2, 3, 4, 5] as [UInt8]).withUnsafeBytes { SoupWriter.data(.unsequencedData, $0, to: buffer.baseAddress!) }
        }
        _ = wire.withUnsafeBytes { pair.connection.receive($0, now: pair.now, output: pair.toClient) }
        #expect(pair.server.counters.unsequencedReceived == 1)
        pair.client.logout(now: pair.now, output: pair.toServer)
        pair.exchange()
        #expect(pair.serverStatus == .close(.loggedOut, flush: true))
        #expect(pair.server.counters.logouts == 1)
    }
}
