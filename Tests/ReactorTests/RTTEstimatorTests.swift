import Testing
import Reactor

@Suite struct RTTEstimatorTests {
    @Test func firstSampleSetsSmoothedAndHalfVariation() {
        var rtt = RTTEstimator()
        #expect(!rtt.hasSamples)
        rtt.add(sample: 40_000_000)
        #expect(rtt.smoothed == 40_000_000)
        #expect(rtt.variation == 20_000_000)
        #expect(rtt.minimum == 40_000_000)
    }

    @Test func laterSamplesSmoothByAnEighthAndAQuarter() {
        var rtt = RTTEstimator()
        rtt.add(sample: 80_000_000)
        rtt.add(sample: 40_000_000)
        // variation = (3 * 40 + |80 - 40|) / 4 = 40 ms; smoothed = (7 * 80 + 40) / 8 = 75 ms
        #expect(rtt.variation == 40_000_000)
        #expect(rtt.smoothed == 75_000_000)
        #expect(rtt.minimum == 40_000_000)
        #expect(rtt.latest == 40_000_000)
    }

    @Test func ackDelayIsSubtractedOnlyAboveTheMinimum() {
        var rtt = RTTEstimator()
        rtt.add(sample: 10_000_000)
        rtt.add(sample: 30_000_000, ackDelay: 5_000_000)   // 30 >= 10 + 5: adjusted to 25
        #expect(rtt.smoothed == (7 * 10_000_000 + 25_000_000) / 8)
        var other = RTTEstimator()
        other.add(sample: 10_000_000)
        other.add(sample: 12_000_000, ackDelay: 5_000_000) // 12 < 10 + 5: taken as is
        #expect(other.smoothed == (7 * 10_000_000 + 12_000_000) / 8)
    }

    @Test func timeoutIsClampedAndBacksOffWithoutOverflow() {
        var rtt = RTTEstimator()
        rtt.add(sample: 1_000_000)
        #expect(rtt.retransmissionTimeout(minimum: 200_000_000, maximum: 60_000_000_000) == 200_000_000)
        rtt.add(sample: 900_000_000)
        let rto = rtt.retransmissionTimeout(minimum: 200_000_000, maximum: 60_000_000_000)
        #expect(rto == rtt.smoothed + 4 * rtt.variation)
        #expect(RTTEstimator.backedOff(rto, times: 2, maximum: 60_000_000_000) == 4 * rto)
        #expect(RTTEstimator.backedOff(rto, times: 200, maximum: 60_000_000_000) == 60_000_000_000)
        #expect(RTTEstimator.backedOff(.max / 2 + 1, times: 1, maximum: .max) == .max)
    }
}
