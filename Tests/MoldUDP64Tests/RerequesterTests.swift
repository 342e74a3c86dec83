import Reactor
import Testing
import TestSupport
@testable import MoldUDP64

/// Records what a Rerequester decides.
final class RequestRecorder: RequestSink {
    var sent: [(server: Int, first: UInt64, count: UInt16)] = []
    var unrecoverable: [Range<UInt64>] = []
    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
        sent.append((serverIndex, firstSequence, count))
    }
    func unrecoverable(firstSequence: UInt64, count: UInt64) {
        unrecoverable.append(firstSequence..<(firstSequence + count))
    }
}

@Suite struct RerequesterTests {
    let feed = MoldFeed(session: "REQ", messages: MoldFeed.messages(count: 5_000, seed: 2))
    let sink = RequestRecorder()
    let servers = [try! SocketAddress("127.0.0.1", port: 41_001), try! SocketAddress("127.0.0.1", port: 41_002)]

    func make(_ change: (inout Rerequester.Configuration) -> Void = { _ in }) throws -> (Session, Rerequester) {
        let counters = MoldCounters()
        let session = Session(configuration: .init(reorderWindowPackets: 0), counters: counters)
        var configuration = Rerequester.Configuration(servers: servers)
        change(&configuration)
        let rerequester = try Rerequester(configuration: configuration, counters: counters)
        rerequester.sink = sink
        return (session, rerequester)
    }

    func live(_ session: Session, _ first: UInt64, _ count: Int, at now: UInt64 = 0) {
        feed.packet(first: first, count: count).withUnsafeBytes { _ = try? session.receive($0, now: now) }
    }

    func answer(_ rerequester: Rerequester, _ session: Session, _ first: UInt64, _ count: Int, server: Int = 0, at now: UInt64) {
        feed.packet(first: first, count: count).withUnsafeBytes { raw in
            servers[server].withSockaddr { address, length in
                rerequester.receiveAnswer(raw, from: UnsafeRawBufferPointer(start: address, count: Int(length)),
                                          session: session, now: now)
            }
        }
    }

    @Test func refusesCapsOfZeroAndFFFF() {
        #expect(throws: RerequesterError.invalidMessagesPerRequest(0)) {
            try Rerequester(configuration: .init(servers: servers, maxMessagesPerRequest: 0))
        }
        #expect(throws: RerequesterError.invalidMessagesPerRequest(0xFFFF)) {
            try Rerequester(configuration: .init(servers: servers, maxMessagesPerRequest: 0xFFFF))
        }
        #expect(throws: Never.self) { try Rerequester(configuration: .init(servers: servers, maxMessagesPerRequest: 0xFFFE)) }
    }

    @Test func requestsOnlyMissingRangesCappedAndNeverTwice() throws {
        let (session, rerequester) = try make { $0.maxMessagesPerRequest = 100 }
        live(session, 1, 10)
        live(session, 261, 10)      // 11...260 missing
        live(session, 300, 1)       // 271...299 missing
        rerequester.poll(now: 0, session: session)
        #expect(sink.sent.map(\.first) == [11, 111, 211, 271])
        #expect(sink.sent.map(\.count) == [100, 100, 50, 29])
        rerequester.poll(now: 1_000, session: session)
        rerequester.poll(now: 2_000, session: session)
        #expect(sink.sent.count == 4)
        #expect(rerequester.inFlightCount == 4)
    }

    @Test func timeoutRetriesOnTheOtherServerWithBackoffThenGivesUpWhenEveryServerIsSilent() throws {
        let (session, rerequester) = try make {
            $0.requestTimeout = 10_000_000
            $0.silenceDeadline = 60_000_000
            $0.failoverAfterTimeouts = 100
        }
        live(session, 1, 1)
        live(session, 5, 1)         // 2...4 missing
        rerequester.poll(now: 0, session: session)
        #expect(sink.sent.count == 1)
        let firstServer = sink.sent[0].server
        rerequester.poll(now: 9_999_999, session: session)
        #expect(sink.sent.count == 1)
        rerequester.poll(now: 10_000_000, session: session)
        #expect(sink.sent.count == 2 && sink.sent[1].server != firstServer)
        #expect(session.counters.timeouts == 1)
        // Second attempt waits twice as long.
        rerequester.poll(now: 29_999_999, session: session)
        #expect(sink.sent.count == 2)
        rerequester.poll(now: 30_000_000, session: session)
        #expect(sink.sent.count == 3)
        rerequester.poll(now: 70_000_000, session: session)
        #expect(sink.sent.count == 3)
        #expect(sink.unrecoverable == [2..<5])
        #expect(session.counters.unrecoverable == 3)
        #expect(session.nextExpected == 6)
    }

    @Test func rangeAheadOfTheLiveFeedIsNotGivenUpUntilTheFeedPassesIt() throws {
        let (session, rerequester) = try make {
            $0.requestTimeout = 1_000_000
            $0.maxRequestTimeout = 4_000_000
            $0.silenceDeadline = 10_000_000
        }
        live(session, 1, 1)
        // A forged (or corrupt) packet far ahead; the real feed is at 2.
        let forged = MoldFeed.encode(session: feed.session, sequence: 1_000, count: 1, blocks: [[7]])
        forged.withUnsafeBytes { _ = try? session.receive($0, now: 0) }
        live(session, 2, 1)
        var now: UInt64 = 0
        for _ in 0..<100 {
            rerequester.poll(now: now, session: session)
            now += 1_000_000
        }
        #expect(sink.unrecoverable.isEmpty)
        // Retries continue at the capped backoff: about one per 4 ms per range.
        #expect(sink.sent.count <= 2 + 2 * 30)
        live(session, 3, 1)
        // The feed passes part of it: nothing given up beyond the live feed.
        live(session, 1_500, 1)
        for _ in 0..<20 {
            rerequester.poll(now: now, session: session)
            now += 1_000_000
        }
        #expect(!sink.unrecoverable.isEmpty)
        #expect(sink.unrecoverable.allSatisfy { $0.upperBound <= 1_501 })
    }

    @Test func answerCompletesAndPartialAnswerContinuesInPiecesOfTheLearnedCap() throws {
        let (session, rerequester) = try make { $0.continuationDelay = 1_000_000; $0.servers = [servers[0]] }
        live(session, 1, 1)
        live(session, 21, 1)        // 2...20 missing
        rerequester.poll(now: 0, session: session)
        #expect(sink.sent.count == 1 && sink.sent[0].first == 2 && sink.sent[0].count == 19)
        answer(rerequester, session, 2, 5, at: 100_000)     // partial: 2...6
        #expect(session.nextExpected == 7)
        rerequester.poll(now: 1_099_999, session: session)
        #expect(sink.sent.count == 1)
        // The continuation wait ends: the server gives 5 per request, so the
        // rest (7...20) is asked for in pieces of 5, all at once.
        rerequester.poll(now: 1_100_000, session: session)
        #expect(sink.sent.map(\.first) == [2, 7, 12, 17])
        #expect(sink.sent.map(\.count) == [19, 5, 5, 4])
        #expect(rerequester.statistics(server: sink.sent[0].server).answerCap == 5)
        #expect(session.counters.timeouts == 0)
        answer(rerequester, session, 12, 5, at: 1_200_000)
        answer(rerequester, session, 7, 5, at: 1_200_000)
        answer(rerequester, session, 17, 4, at: 1_200_000)
        #expect(session.nextExpected == 22)
        #expect(rerequester.inFlightCount == 0)
        #expect(session.counters.recovered == 19)
    }

    @Test func fullBufferKeepsWhatIsNeededNextAndAsksForTheRestOnceThereIsRoom() throws {
        let counters = MoldCounters()
        let session = Session(configuration: .init(reorderWindowPackets: 0, maxBufferedPackets: 3), counters: counters)
        let recorder = Recorder()
        session.consumer = recorder
        let rerequester = try Rerequester(configuration: .init(servers: servers), counters: counters)
        rerequester.sink = sink
        live(session, 1, 1)
        live(session, 20, 1)
        live(session, 30, 1)
        live(session, 40, 1)        // full: 20, 30, 40
        live(session, 50, 1)        // furthest ahead of all: dropped, counted
        #expect(counters.bufferDrops == 1)
        live(session, 10, 1)        // nearer: displaces 40, the furthest ahead
        #expect(counters.bufferDrops == 2)
        #expect(session.bufferedPackets == 3)
        #expect(!session.canKeep(from: 31) && session.canKeep(from: 21) && session.canKeep(from: 2))
        rerequester.poll(now: 0, session: session)
        // The head and the ranges between buffered data are asked for; nothing
        // buffered is; nothing beyond 30 either while an answer there would be
        // dropped (31...51 waits for room).
        #expect(sink.sent.map(\.first) == [2, 11, 21])
        #expect(sink.sent.map(\.count) == [8, 9, 9])
        answer(rerequester, session, 2, 8, at: 100_000)        // delivers 1...10: room again
        #expect(session.nextExpected == 11)
        rerequester.poll(now: 100_000, session: session)
        // 40 and 50, dropped before, are asked for again now, with what lay around them.
        #expect(sink.sent.count == 4 && sink.sent[3].first == 31 && sink.sent[3].count == 20)
        answer(rerequester, session, 21, 9, at: 200_000)       // buffered: 20, 21...29, 30 (full)
        answer(rerequester, session, 31, 20, at: 200_000)      // beyond all of it: dropped
        #expect(counters.bufferDrops == 22)
        answer(rerequester, session, 11, 9, at: 200_000)
        #expect(recorder.sequences == Array(1...30))
        // The dropped answer's request was set aside, not repeated into the
        // full buffer; with room again it is asked for once more.
        #expect(sink.sent.count == 4 && rerequester.inFlightCount == 0)
        rerequester.poll(now: 200_000, session: session)
        #expect(sink.sent.count == 5 && sink.sent[4].first == 31 && sink.sent[4].count == 20)
        answer(rerequester, session, 31, 20, at: 300_000)
        #expect(recorder.sequences == Array(1...50))
        #expect(counters.recovered == 46 && counters.duplicates == 0)
        #expect(rerequester.inFlightCount == 0)
    }

    @Test func answerThatBringsTheCapIsContinuedAtOnce() throws {
        let (session, rerequester) = try make {
            $0.continuationDelay = 1_000_000
            $0.maxMessagesPerRequest = 8
            $0.servers = [servers[0]]
        }
        live(session, 1, 1)
        live(session, 31, 1)        // 2...30 missing: pieces of 8
        rerequester.poll(now: 0, session: session)
        #expect(sink.sent.map(\.count) == [8, 8, 8, 5])
        // Learn a cap of 4 from the first answer (after its continuation wait).
        answer(rerequester, session, 2, 4, at: 100_000)
        rerequester.poll(now: 1_100_000, session: session)
        let before = sink.sent.count
        #expect(sink.sent.last?.first == 6 && sink.sent.last?.count == 4)
        // The next answer carries the cap (4 of 8 asked): its rest goes out
        // on the next poll, with no continuation wait.
        answer(rerequester, session, 10, 4, at: 1_200_000)
        rerequester.poll(now: 1_200_000, session: session)
        #expect(sink.sent.count == before + 1)
        #expect(sink.sent.last?.first == 14 && sink.sent.last?.count == 4)
    }

    @Test func rangeAnsweredNeverWhileOthersAreIsGivenUpAfterTheConfiguredTime() throws {
        let (session, rerequester) = try make {
            $0.requestTimeout = 1_000_000
            $0.maxRequestTimeout = 10_000_000
            $0.giveUpAfter = 200_000_000
        }
        live(session, 1, 1)
        live(session, 5, 1)         // 2...4 missing, never answered
        var now: UInt64 = 0
        var next: UInt64 = 6
        var gaveUpAt: UInt64?
        for _ in 0..<300 {
            // Meanwhile other gaps come and are answered at once.
            live(session, next + 1, 1, at: now)
            rerequester.poll(now: now, session: session)
            for request in sink.sent where request.first == next {
                answer(rerequester, session, request.first, Int(request.count), server: request.server, at: now)
            }
            if gaveUpAt == nil && !sink.unrecoverable.isEmpty { gaveUpAt = now }
            next += 2
            now += 1_000_000
        }
        #expect(sink.unrecoverable == [2..<5])
        #expect(gaveUpAt.map { $0 >= 200_000_000 && $0 <= 220_000_000 } == true, "gave up at \(String(describing: gaveUpAt))")
        #expect(session.counters.unrecoverable == 3)
    }

    @Test func answersFromUnknownSourcesOrMalformedAreCountedAndDropped() throws {
        let (session, rerequester) = try make()
        live(session, 1, 1)
        let stranger = try SocketAddress("127.0.0.1", port: 41_003)
        feed.packet(first: 2, count: 3).withUnsafeBytes { raw in
            stranger.withSockaddr { address, length in
                rerequester.receiveAnswer(raw, from: UnsafeRawBufferPointer(start: address, count: Int(length)),
                                          session: session, now: 0)
            }
            // A truncated sockaddr is not a match either.
            rerequester.receiveAnswer(raw, from: UnsafeRawBufferPointer(start: raw.baseAddress, count: 4),
                                      session: session, now: 0)
        }
        #expect(session.counters.unknownSource == 2)
        [UInt8](repeating: 0, count: 10).withUnsafeBytes { raw in
            servers[1].withSockaddr { address, length in
                rerequester.receiveAnswer(raw, from: UnsafeRawBufferPointer(start: address, count: Int(length)),
                                          session: session, now: 0)
            }
        }
        #expect(session.counters.malformed == 1)
        #expect(session.nextExpected == 2)
    }

    @Test func serverIndexMatchesFamilyAddressAndPort() throws {
        let (_, rerequester) = try make()
        func index(_ address: SocketAddress) -> Int? {
            address.withSockaddr { raw, length in
                rerequester.serverIndex(matching: UnsafeRawBufferPointer(start: raw, count: Int(length)))
            }
        }
        #expect(index(servers[0]) == 0)
        #expect(index(servers[1]) == 1)
        #expect(index(try SocketAddress("127.0.0.1", port: 41_009)) == nil)
        #expect(index(try SocketAddress("::1", port: 41_001)) == nil)
    }

    @Test func rateLimitHoldsBackRequests() throws {
        let (session, rerequester) = try make {
            $0.maxMessagesPerRequest = 1
            $0.maxInFlight = 1_000
            $0.requestsPerSecond = 1_000
            $0.requestBurst = 10
        }
        live(session, 1, 1)
        live(session, 1_000, 1)     // 998 one-message requests wanted
        rerequester.poll(now: 0, session: session)
        #expect(sink.sent.count == 10)
        rerequester.poll(now: 1_000_000, session: session)
        #expect(sink.sent.count == 11)
        // Idle time earns at most a burst, not a backlog.
        rerequester.poll(now: 100_000_000, session: session)
        #expect(sink.sent.count == 21)
        for step in 1...100 { rerequester.poll(now: 100_000_000 + UInt64(step) * 100_000, session: session) }
        #expect(sink.sent.count == 31)
        #expect(session.counters.rateLimited >= 3)
    }

    @Test func deadServerIsSkippedAndProbedLater() throws {
        let (session, rerequester) = try make {
            $0.requestTimeout = 1_000_000
            $0.failoverAfterTimeouts = 2
            $0.serverProbeInterval = 50_000_000
        }
        live(session, 1, 1)
        var now: UInt64 = 0
        var next: UInt64 = 2
        // Server 0 never answers; server 1 answers everything at once.
        for _ in 0..<40 {
            live(session, next + 1, 1, at: now)   // one new missing message each round
            rerequester.poll(now: now, session: session)
            for request in sink.sent where request.server == 1 {
                answer(rerequester, session, request.first, Int(request.count), server: 1, at: now)
            }
            next += 2
            now += 1_000_000
        }
        let toDead = sink.sent.filter { $0.server == 0 }.count
        #expect(toDead >= 1 && toDead <= 3)
        #expect(session.counters.unrecoverable == 0)
        #expect(session.nextExpected == next - 1 || session.firstGap(atOrAfter: 0) == nil)
    }
}

@Suite struct RerequesterWithoutServersTests {
    @Test func withoutServersAGapIsLostAtOnceEvenIfHuge() throws {
        let feed = MoldFeed(session: "NOSRV", messages: MoldFeed.messages(count: 10))
        let session = Session(configuration: .init(reorderWindowPackets: 0))
        let rerequester = try Rerequester(configuration: .init(servers: []), counters: session.counters)
        let sink = RequestRecorder()
        rerequester.sink = sink
        feed.packet(first: 1, count: 2).withUnsafeBytes { _ = try? session.receive($0, now: 0) }
        let forged = MoldFeed.encode(session: feed.session, sequence: 1 << 60, count: 1, blocks: [[1]])
        forged.withUnsafeBytes { _ = try? session.receive($0, now: 0) }
        rerequester.poll(now: 1, session: session)
        #expect(sink.sent.isEmpty)
        #expect(sink.unrecoverable == [3..<(1 << 60)])
        #expect(session.nextExpected == (1 << 60) + 1)
        // The largest possible gap: counts stay in UInt64 (no Int overflow).
        let last = MoldFeed.encode(session: feed.session, sequence: .max - 1, count: 1, blocks: [[1]])
        last.withUnsafeBytes { _ = try? session.receive($0, now: 2) }
        rerequester.poll(now: 3, session: session)
        #expect(sink.unrecoverable.last == ((1 << 60) + 1)..<(UInt64.max - 1))
        #expect(session.nextExpected == .max)
    }
}
