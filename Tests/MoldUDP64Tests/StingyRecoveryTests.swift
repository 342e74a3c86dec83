import Foundation
import Reactor
import Testing
import TestSupport
@testable import MoldUDP64

/// Long sessions against a model of a busy exchange re-request server (answers
/// of at most 14 messages in packets of 7, 20% of answers lost, delayed), on
/// the fake clock: issue 18's scenario.
@Suite struct StingyRecoveryTests {
    static let messageCount = 200_000
    static let feed = MoldFeed(session: "STINGY0001", messages: MoldFeed.messages(count: messageCount, seed: 18))
    /// 10 messages per packet: 20,000 packets.
    static let packets = feed.packets(perPacket: 10)
    /// 35,000 messages/s: a packet every 285.7 µs.
    static let interval: UInt64 = 285_714

    /// Packets `burst` (indices) never arrive live.
    static func rig(seed: UInt64, burst: Range<Int>, behaviour: StingyServer.Behaviour = .init(),
                    downstream: SimulatedLink.Impairment = .init(lossRate: 0.05, duplicateRate: 0.02, reorderRate: 0.02,
                                                                 reorderDelay: 300_000...3_000_000),
                    session: Session.Configuration = .init()) throws -> MoldRig {
        let rig = try MoldRig(feed: feed, session: session, downstream: downstream, seed: seed)
        rig.stingy = [StingyServer(feed: feed, seed: seed &+ 1_000, behaviour: behaviour)]
        let burstStart = UInt64(burst.lowerBound * 10 + 1), burstEnd = UInt64(burst.upperBound * 10 + 1)
        rig.downstream.dropIf = { bytes in
            let sequence = bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return bytes[18..<20] != [0, 0] && sequence >= burstStart && sequence < burstEnd
        }
        return rig
    }

    @Test(arguments: [(1, 40), (2, 700), (3, 1_500), (4, 2_200), (5, 3_000)] as [(UInt64, Int)])
    func longSessionWithABurstIsDeliveredCompletely(seed: UInt64, burstPackets: Int) throws {
        let start = 4_000 + Int(seed) * 1_000
        let rig = try Self.rig(seed: seed, burst: start..<(start + burstPackets))
        rig.run(Self.packets, interval: Self.interval) { $0.expectedNext == Self.feed.nextSequence }
        let server = rig.stingy![0]
        let minimum = rig.minimumRequests(cap: 14, below: Self.feed.nextSequence)
        let ratio = Double(rig.counters.requests) / Double(minimum)
        let summary = "seed \(seed) burst \(burstPackets): requests \(rig.counters.requests), minimum \(minimum), "
            + "ratio \(ratio), answers lost \(server.answersLost)/\(server.answersSent + server.answersLost), "
            + "high water \(rig.counters.bufferHighWater), drops \(rig.counters.bufferDrops), "
            + "duplicates \(rig.counters.duplicates), timeouts \(rig.counters.timeouts), "
            + "recovery \(rig.counters.recoveryNanoseconds / 1_000_000) ms, sim \((rig.now - 1_000_000_000) / 1_000_000) ms"
        // MOLD_REPORT=1 swift test --filter StingyRecoveryTests prints the figures the README quotes.
        if ProcessInfo.processInfo.environment["MOLD_REPORT"] != nil { print(summary) }
        #expect(rig.deliveredAll(), "\(summary)")
        #expect(rig.counters.unrecoverable == 0 && rig.lost.isEmpty, "\(summary)")
        #expect(rig.counters.bufferDrops == 0, "\(summary)")
        #expect(rig.requestsForBuffered == 0, "\(summary)")
        // Every request that a lost answer (20%) wasted is inevitable; beyond
        // that, at most 1.25x the minimum the 14-message cap allows. Reordered
        // packets declared lost before they arrive add requests the minimum
        // (computed from what never arrived live) does not count.
        #expect(ratio <= 1.25 / 0.8 + 0.1, "\(summary)")
        #expect(rig.rerequester.statistics(server: 0).answerCap == 14, "\(summary)")
        // The session ends near when the feed does: recovery kept up.
        let feedSeconds = Double(Self.packets.count) * Double(Self.interval) / 1e9
        #expect(Double(rig.now - 1_000_000_000) / 1e9 < feedSeconds + 2, "\(summary)")
    }

    @Test(arguments: [11] as [UInt64])
    func requestsStayWithinAQuarterOfTheCapMinimum(seed: UInt64) throws {
        // No answer loss, no reordering: every request beyond the minimum is
        // the client's own doing.
        let rig = try Self.rig(seed: seed, burst: 6_000..<9_000, behaviour: .init(answerLoss: 0),
                               downstream: .init(lossRate: 0.05))
        rig.run(Self.packets, interval: Self.interval) { $0.expectedNext == Self.feed.nextSequence }
        let minimum = rig.minimumRequests(cap: 14, below: Self.feed.nextSequence)
        #expect(rig.deliveredAll())
        if ProcessInfo.processInfo.environment["MOLD_REPORT"] != nil {
            print("no answer loss, seed \(seed): requests \(rig.counters.requests), minimum \(minimum)")
        }
        let ratio = Double(rig.counters.requests) / Double(minimum)
        #expect(ratio <= 1.25, "requests \(rig.counters.requests), minimum \(minimum)")
        #expect(rig.counters.unrecoverable == 0)
    }
}
