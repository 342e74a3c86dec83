import Testing
import ReliableUDP
import TestSupport

/// How long a lost `delivery` message takes to arrive, on the fake clock, on a
/// link of 50 µs each way (RTT 100 µs): the cases the packet threshold cannot
/// catch, which set the latency tail.
@Suite struct LossRecoveryTimeTests {
    /// Sends messages 0..<count from A, each in its own packet, all at one
    /// instant, drops the first packet carrying `lost`, and returns how long
    /// after sending `lost` reached B.
    static func recoveryTime(configuration: Configuration, seed rtt: UInt64?, count: UInt64,
                             lost: UInt64) throws -> UInt64 {
        let pair = try ConnectionPair(configuration: configuration, impairment: .init(delay: 50_000))
        if let rtt { pair.a.seedRTT(rtt); pair.b.seedRTT(rtt) }
        var dropped = false
        pair.aToB.dropIf = { datagram in
            guard !dropped, Crafted.sequences(datagram).contains(lost) else { return false }
            dropped = true
            return true
        }
        var arrival: UInt64?
        pair.onB = { if $0.sequence == lost { arrival = pair.now } }
        let start = pair.now
        for index in 0..<count {
            try pair.a.send(.delivery, TestPayload.make(index), now: start)
            pair.a.flush(now: start, transmit: pair.sender(pair.aToB))
        }
        pair.run(limit: 100_000) { arrival != nil && pair.a.unacknowledged == 0 }
        #expect(dropped)
        #expect(pair.a.counters.retransmitted >= 1)
        return (arrival ?? .max) - start
    }

    @Test func aFirstPacketLostBeforeAnyAckWaitsThePTOOfTheHandshakeRTTNotOf333ms() throws {
        // Without a sample the PTO is 333 ms + 4 × 166.5 ms + max_ack_delay ≈ 999 ms.
        let unseeded = try Self.recoveryTime(configuration: Configuration(), seed: nil, count: 1, lost: 0)
        #expect(unseeded > 990_000_000 && unseeded < 1_010_000_000)
        // With the handshake's 100 µs: 100 µs + max(4 × 50 µs, 1 ms) + 1 ms + the 50 µs trip.
        let seeded = try Self.recoveryTime(configuration: Configuration(), seed: 100_000, count: 1, lost: 0)
        #expect(seeded > 2_000_000 && seeded < 2_300_000)
        var fine = Configuration()
        fine.granularity = 100_000
        // 100 µs + max(200 µs, 100 µs) + 1 ms + 50 µs.
        let seededFine = try Self.recoveryTime(configuration: fine, seed: 100_000, count: 1, lost: 0)
        #expect(seededFine > 1_300_000 && seededFine < 1_500_000)
    }

    @Test func aLossThePacketThresholdCannotCatchWaitsTheTimeThreshold() throws {
        // Three packets, the middle one lost: only one later packet is acknowledged,
        // so the time threshold max(9/8 RTT, granularity) decides (RFC 9002 §6.1.2).
        let rfc = try Self.recoveryTime(configuration: Configuration(), seed: 100_000, count: 3, lost: 1)
        #expect(rfc >= 1_000_000 && rfc < 1_200_000)      // 1 ms floor + the trip
        var fine = Configuration()
        fine.granularity = 100_000
        let tick = try Self.recoveryTime(configuration: fine, seed: 100_000, count: 3, lost: 1)
        #expect(tick >= 112_500 && tick < 300_000)        // 9/8 × 100 µs + the trip
        // A loss with 3 later packets acknowledged goes at the first acknowledgement (~1 RTT).
        let threshold = try Self.recoveryTime(configuration: Configuration(), seed: 100_000, count: 5, lost: 1)
        #expect(threshold >= 100_000 && threshold < 200_000)
    }

    @Test func granularityMustBePositive() {
        var configuration = Configuration()
        configuration.granularity = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}
