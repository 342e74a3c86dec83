import Reactor
import Testing
import TestSupport
@testable import MoldUDP64

/// Session + Rerequester together over seeded simulated links on a fake clock.
@Suite struct RecoveryTests {
    static let feed = MoldFeed(session: "SIM0000001", messages: MoldFeed.messages(count: 20_000, seed: 3))
    static let packets = feed.packets(perPacket: 10)

    @Test func perfectLinkNeedsNoRequests() throws {
        let rig = try MoldRig(feed: Self.feed)
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.requests.isEmpty)
        #expect(rig.counters.gaps == 0 && rig.counters.duplicates == 0 && rig.counters.recovered == 0)
        #expect(rig.counters.delivered == 20_000)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomLossIsRecovered(seed: UInt64) throws {
        let rig = try MoldRig(feed: Self.feed, downstream: .init(lossRate: 0.05), seed: seed)
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.gaps > 0)
        #expect(rig.counters.recovered > 0)
        // Only lost messages come back as retransmissions (no reordering here).
        #expect(rig.counters.recovered <= 10 * UInt64(rig.downstream.dropped))
        #expect(rig.counters.unrecoverable == 0 && rig.lost.isEmpty)
    }

    @Test func burstOfMoreThanAThousandPacketsIsRecovered() throws {
        // Packets 500..<1700 (1200 packets, 12,000 messages) never arrive live.
        let rig = try MoldRig(feed: Self.feed)
        rig.downstream.dropIf = { bytes in
            let sequence = bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return bytes[18..<20] != [0, 0] && sequence > 5_000 && sequence <= 17_000
        }
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.recovered == 12_000)
        #expect(rig.counters.gaps == 1)
        #expect(rig.counters.unrecoverable == 0)
    }

    @Test func randomBurstsWithASmallBufferEvictFurthestAheadAndStillRecover() throws {
        // 16 packets: recovery of 1,000+ lost packets takes longer than 16
        // live packets' time, so the buffer overflows and evicts.
        let rig = try MoldRig(feed: Self.feed, session: .init(maxBufferedPackets: 16),
                              downstream: .init(lossRate: 0.01, burstRate: 0.002, burstLength: 1000...1500), seed: 9)
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.unrecoverable == 0 && rig.lost.isEmpty)
        // Answers the full buffer could not keep are not asked for again in a
        // loop: recovery ends within a couple of seconds of the feed (200 ms).
        #expect(rig.now - 1_000_000_000 < 3_000_000_000, "simulated \(rig.now - 1_000_000_000) ns")
        #expect(rig.counters.bufferHighWater <= 16)
        #expect(rig.counters.bufferDrops > 0)
        // Dropped data was asked for again (it was delivered), never while buffered.
        #expect(rig.requestsForBuffered == 0)
        #expect(rig.downstream.dropped >= 1000)
    }

    @Test func duplicatesAreDeliveredOnce() throws {
        let rig = try MoldRig(feed: Self.feed, downstream: .init(duplicateRate: 0.2, reorderRate: 0.05, reorderDelay: 1_000...500_000))
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.duplicates >= 10 * UInt64(rig.downstream.duplicated))
    }

    @Test func reorderingWithinTheWindowCausesNoRequests() throws {
        // Held back at most 2 packets' time (20 µs) and far less than the time
        // window: the packet-count window is what matters here (3 packets).
        let rig = try MoldRig(feed: Self.feed, session: .init(reorderWindow: 5_000_000, reorderWindowPackets: 3),
                              downstream: .init(reorderRate: 0.1, reorderDelay: 11_000...19_000))
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.downstream.reordered > 100)
        #expect(rig.requests.isEmpty && rig.counters.gaps == 0)
    }

    @Test func reorderingBeyondTheWindowIsRequestedAndDeliveredOnce() throws {
        let rig = try MoldRig(feed: Self.feed, session: .init(reorderWindow: 200_000, reorderWindowPackets: 3),
                              downstream: .init(reorderRate: 0.02, reorderDelay: 2_000_000...3_000_000))
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence && $0.downstream.inFlight == 0 }
        #expect(rig.deliveredAll())
        #expect(rig.counters.gaps > 0 && !rig.requests.isEmpty)
        // The late originals arrive after the answers: duplicates, not redelivered.
        #expect(rig.counters.duplicates > 0)
    }

    @Test func lostRequestsAndLostPartialAnswersAreRetried() throws {
        // Each attempt succeeds with p = 0.7 * 0.7; answers keep flowing, so
        // nothing is given up however many attempts a range takes.
        let rig = try MoldRig(feed: Self.feed, downstream: .init(lossRate: 0.03),
                              requestImpairment: .init(lossRate: 0.3), answerImpairment: .init(lossRate: 0.3), seed: 5)
        rig.answerMaxMessages = 3
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.timeouts > 0)
        #expect(rig.counters.unrecoverable == 0)
        #expect(rig.requests.allSatisfy { $0.count >= 1 && $0.count <= 1024 })
    }

    @Test func deadServerFailsOver() throws {
        let rig = try MoldRig(feed: Self.feed, servers: 2, downstream: .init(lossRate: 0.05), seed: 11)
        rig.serverAlive[0] = false
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.unrecoverable == 0)
        let toDead = rig.requests.filter { $0.server == 0 }.count
        let toLive = rig.requests.filter { $0.server == 1 }.count
        // New requests go to the server with the fewest unanswered ones, so the
        // dead one holds about one until it times out twice; then it is skipped
        // and probed again once a second.
        #expect(toDead <= 10, "requests to the dead server: \(toDead), to the live one: \(toLive)")
        #expect(toLive > 50)
    }

    @Test func tailLossIsRevealedByHeartbeat() throws {
        let rig = try MoldRig(feed: Self.feed)
        rig.downstream.dropIf = { bytes in
            let sequence = bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return bytes[18..<20] != [0, 0] && sequence > 19_950
        }
        rig.run(Self.packets) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.recovered == 50)
        #expect(rig.counters.gaps == 1)
    }

    @Test func endOfSessionFinishesAfterTheTail() throws {
        let rig = try MoldRig(feed: Self.feed, downstream: .init(lossRate: 0.02), seed: 4)
        rig.downstream.dropIf = { bytes in
            let sequence = bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return bytes[18..<20] != [0xFF, 0xFF] && sequence > 19_900
        }
        rig.run(Self.packets, endOfSession: true) { $0.endedAt != nil }
        #expect(rig.deliveredAll())
        #expect(rig.session.isFinished)
        #expect(rig.session.endOfSession == 20_001)
    }

    @Test func sessionChangeIsReportedNotMerged() throws {
        let rig = try MoldRig(feed: Self.feed)
        let other = MoldFeed(session: "SIM0000002", messages: MoldFeed.messages(count: 100, seed: 8))
        var injected = 0
        rig.run(Self.packets, inject: { index, rig in
            if index >= 1000 && index < 1010 {
                rig.downstream.send(other.packet(first: UInt64(index - 999), count: 1), now: rig.now)
                injected += 1
            }
        }) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.foreignSession == 10)
        #expect(rig.foreignReports == [SessionID("SIM0000002")!])
        // Following the new session on request starts it over.
        rig.session.switchSession(to: SessionID("SIM0000002")!)
        rig.rerequester.reset()
        rig.feed = other
        rig.expectedNext = 1
        let before = rig.delivered.count
        rig.run(other.packets(perPacket: 5)) { $0.expectedNext == other.nextSequence }
        #expect(rig.delivered.count - before == 100)
        #expect(rig.outOfOrder == 0 && rig.wrongBytes == 0)
    }

    @Test func startAtSequenceNRequestsNothingBefore() throws {
        let rig = try MoldRig(feed: Self.feed, session: .init(startSequence: 5_001))
        // Join late: the first live packet seen is 9,001; 5,001..9,000 are requested.
        rig.run(Array(Self.packets[900...])) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll(from: 5_001))
        #expect(rig.requests.allSatisfy { $0.first >= 5_001 })
        #expect(rig.counters.recovered == 4_000)
    }

    @Test func forgedFarFutureSequenceStaysBoundedAndRateLimited() throws {
        var configuration = Rerequester.Configuration(servers: [])
        configuration.requestsPerSecond = 1_000
        configuration.requestBurst = 20
        let rig = try MoldRig(feed: Self.feed, session: .init(maxBufferedPackets: 256),
                              rerequester: configuration, downstream: .init(lossRate: 0.01), seed: 12)
        let forged = MoldFeed.encode(session: Self.feed.session, sequence: 1_000_000_000_000, count: 1, blocks: [[0xEE]])
        rig.run(Self.packets, inject: { index, rig in
            if index == 100 { rig.downstream.send(forged, now: rig.now) }
        }) { $0.expectedNext == Self.feed.nextSequence }
        // Keep running for 2 more simulated seconds with the forged range open.
        let start = rig.now
        rig.run([], limit: 2_000_000_000) { _ in false }
        // Servers cannot answer for what was not published yet, yet nothing
        // real is given up: ranges ahead of the live feed are not abandoned.
        #expect(rig.deliveredAll())
        #expect(rig.lost.isEmpty && rig.counters.unrecoverable == 0)
        #expect(rig.counters.bufferHighWater <= 256)
        #expect(rig.session.bufferedPackets <= 256)
        let window = rig.requests.filter { $0.time >= start }
        // 1000/s sustained plus a burst of 20: at most 2,020 in two seconds.
        #expect(window.count <= 2_020)
        var perSecond = [UInt64: Int]()
        for request in rig.requests { perSecond[request.time / 1_000_000_000, default: 0] += 1 }
        #expect(perSecond.values.allSatisfy { $0 <= 1_020 })
        #expect(rig.requests.allSatisfy { $0.count >= 1 && $0.count <= 1024 })
    }

    @Test func answersFromUnknownAddressesAreIgnored() throws {
        let rig = try MoldRig(feed: Self.feed, downstream: .init(lossRate: 0.05), seed: 2)
        let stranger = try SocketAddress("127.0.0.2", port: 41_000)
        var forgedSent = 0
        rig.run(Self.packets, inject: { index, rig in
            // A forged "answer" with wrong bytes for messages that are probably missing.
            if index % 50 == 0 {
                let first = UInt64(index * 10 + 1)
                let fake = MoldFeed.encode(session: Self.feed.session, sequence: first, count: 10,
                                           blocks: Array(repeating: [0xBA, 0xD0], count: 10))
                rig.answer(fake, from: stranger)
                forgedSent += 1
            }
        }) { $0.expectedNext == Self.feed.nextSequence }
        #expect(rig.deliveredAll())
        #expect(rig.counters.unknownSource == UInt64(forgedSent))
    }

    @Test func answersForAnotherSessionAreDropped() throws {
        let rig = try MoldRig(feed: Self.feed)
        rig.receiveLive(Self.packets[0])
        let other = MoldFeed(session: "OTHER", messages: Self.feed.messages)
        rig.answer(other.packet(first: 11, count: 10), from: rig.servers[0])
        #expect(rig.counters.foreignSession == 1)
        #expect(rig.session.bufferedPackets == 0)
        #expect(rig.delivered.count == 10)
    }

    @Test func unrecoverableRangesAreReportedInOrderAndDeliveryContinues() throws {
        var configuration = Rerequester.Configuration(servers: [])
        configuration.silenceDeadline = 200_000_000
        configuration.requestTimeout = 1_000_000
        let rig = try MoldRig(feed: Self.feed, rerequester: configuration)
        // The server's store lost messages 100..199: it cannot answer for them.
        var store = Self.feed
        rig.downstream.dropIf = { bytes in
            let sequence = bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return bytes[18..<20] != [0, 0] && sequence >= 101 && sequence <= 200
        }
        store.messages = Array(Self.feed.messages[0..<100])
        rig.serverStore = store
        rig.run(Self.packets, endOfSession: true) { $0.endedAt != nil }
        #expect(rig.lost == [101..<201])
        #expect(rig.unrecoverableReports == [101..<201])
        #expect(rig.counters.unrecoverable == 100)
        #expect(rig.delivered.count == 19_900 && rig.outOfOrder == 0 && rig.wrongBytes == 0)
        #expect(rig.session.isFinished)
    }
}
