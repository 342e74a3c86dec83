import Testing
import ReliableUDP
import TestSupport

/// Each tier's promise over 100,000 messages at 0%, 5% and 20% loss, with
/// duplication, reordering, jitter and loss bursts on the seeded link.
@Suite struct TierPromiseTests {
    static let messageCount: UInt64 = 100_000

    static func groupedConfiguration() -> Configuration {
        var configuration = Configuration()
        configuration.grouping = .init(delay: 500_000)
        return configuration
    }

    /// Sends `count` messages of `guarantee` from A as fast as A accepts them.
    static func blast(_ pair: ConnectionPair, _ guarantee: Guarantee, count: UInt64, perStep: Int = .max,
                      until done: () -> Bool) {
        var next: UInt64 = 0
        var rounds = 0
        func finished() -> Bool {
            next == count && done() && pair.a.queued == 0 && pair.aToB.inFlight == 0
        }
        while !finished() && rounds < 2_000_000 {
            rounds += 1
            var sentThisStep = 0
            while next < count && sentThisStep < perStep {
                sentThisStep += 1
                do {
                    try pair.a.send(guarantee, TestPayload.make(next), now: pair.now)
                    next += 1
                } catch {
                    #expect(error == .wouldBlock(tier: guarantee, limit: guarantee == .delivery
                        ? pair.a.configuration.sendWindow : pair.a.configuration.unreliableQueue))
                    break
                }
            }
            pair.step()
        }
    }

    @Test(arguments: [0.0, 0.05, 0.20])
    func deliveryEveryMessageOnceInOrder(loss: Double) throws {
        let pair = try ConnectionPair(configuration: Self.groupedConfiguration(), seed: 14, impairment: .lossy(loss))
        var expected: UInt64 = 0
        var violations = 0
        pair.onB = { message in
            if message.guarantee != .delivery || message.sequence != expected || TestPayload.index(message.bytes) != expected {
                violations += 1
            }
            expected += 1
        }
        Self.blast(pair, .delivery, count: Self.messageCount) { pair.a.unacknowledged == 0 }
        #expect(violations == 0)
        #expect(expected == Self.messageCount)
        #expect(pair.a.unacknowledged == 0)
        if loss > 0 { #expect(pair.a.counters.retransmitted > 0) }
        #expect(pair.a.state == .open && pair.b.state == .open)
    }

    @Test(arguments: [0.0, 0.05, 0.20])
    func orderNeverOutOfOrderNeverTwice(loss: Double) throws {
        let pair = try ConnectionPair(configuration: Self.groupedConfiguration(), seed: 15, impairment: .lossy(loss))
        var last: Int64 = -1
        var delivered = 0
        var violations = 0
        pair.onB = { message in
            guard let index = TestPayload.index(message.bytes), message.guarantee == .order,
                  message.sequence == index, Int64(index) > last else { violations += 1; return }
            last = Int64(index)
            delivered += 1
        }
        Self.blast(pair, .order, count: Self.messageCount) { true }
        #expect(violations == 0)
        #expect(pair.a.counters.retransmitted == 0)
        // Jitter and reordering make later packets overtake earlier ones: what
        // arrives late is dropped and counted, never delivered.
        #expect(delivered + Int(pair.b.drops.lateOrdered) <= Int(Self.messageCount))
        #expect(delivered > Int(Self.messageCount) / 3)
        if loss > 0 { #expect(delivered < Int(Self.messageCount)) }
    }

    /// On a link that keeps order, `order` loses nothing.
    @Test func orderOnAnInOrderLinkDeliversAll() throws {
        let pair = try ConnectionPair(configuration: Self.groupedConfiguration(), seed: 18,
                                      impairment: .init(delay: 1_000_000))
        var delivered: UInt64 = 0
        pair.onB = { message in
            if TestPayload.index(message.bytes) == delivered { delivered += 1 }
        }
        Self.blast(pair, .order, count: Self.messageCount) { true }
        #expect(delivered == Self.messageCount)
        #expect(pair.b.drops.lateOrdered == 0)
    }

    @Test(arguments: [0.0, 0.05, 0.20])
    func noneInventsNothing(loss: Double) throws {
        let pair = try ConnectionPair(configuration: Self.groupedConfiguration(), seed: 16, impairment: .lossy(loss))
        var delivered = 0
        var invented = 0
        pair.onB = { message in
            guard let index = TestPayload.index(message.bytes), index < Self.messageCount,
                  message.guarantee == .none else { invented += 1; return }
            delivered += 1
        }
        Self.blast(pair, .none, count: Self.messageCount) { true }
        #expect(invented == 0)
        #expect(pair.b.drops.totalMalformed == 0)
        if loss == 0 { #expect(delivered == Int(Self.messageCount)) } else {
            #expect(delivered > Int(Double(Self.messageCount) * (1 - loss * 2)))
        }
    }

    /// Without grouping every flush sends at once: one message per datagram here.
    @Test func deliveryWithoutGroupingAtTwentyPercent() throws {
        let pair = try ConnectionPair(seed: 17, impairment: .lossy(0.20))
        var expected: UInt64 = 0
        var violations = 0
        pair.onB = { message in
            if message.sequence != expected || TestPayload.index(message.bytes) != expected { violations += 1 }
            expected += 1
        }
        Self.blast(pair, .delivery, count: 10_000, perStep: 1) { pair.a.unacknowledged == 0 }
        #expect(violations == 0)
        #expect(expected == 10_000)
        #expect(pair.a.counters.packetsSent >= 7_000)  // most flushes carry one message
        #expect(pair.a.counters.packetsLost > 0)
        #expect(pair.a.counters.congestionEvents > 0)
    }
}
