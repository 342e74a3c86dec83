import Testing
import Reactor

@Suite struct RateLimiterTests {
    @Test func burstThenSustainedRate() {
        let limiter = RateLimiter(rate: 1_000, burst: 10)
        var arrival: UInt64 = 0
        let start: UInt64 = 5_000_000_000
        var admitted = 0
        for _ in 0..<100 where limiter.admit(&arrival, now: start) { admitted += 1 }
        #expect(admitted == 10)
        // One more per millisecond after that.
        #expect(!limiter.admit(&arrival, now: start + 999_999))
        #expect(limiter.admit(&arrival, now: start + 1_000_000))
        #expect(!limiter.admit(&arrival, now: start + 1_000_000))
        // A refused event takes nothing: the next one is still due then.
        #expect(limiter.nextAdmission(arrival) == start + 2_000_000)
    }

    @Test func idleTimeEarnsAtMostABurst() {
        var bucket = RateLimiter.Bucket(RateLimiter(rate: 100, burst: 5))
        var admitted = 0
        for _ in 0..<50 where bucket.admit(now: 60_000_000_000) { admitted += 1 }
        #expect(admitted == 5)
        bucket.reset()
        let again = bucket.admit(now: 60_000_000_000)
        #expect(again)
    }

    @Test func extremeRatesDoNotOverflow() {
        let fast = RateLimiter(rate: 1_000_000_000, burst: .max)
        var arrival: UInt64 = 0
        #expect(fast.interval == 1)
        for _ in 0..<1_000 { #expect(fast.admit(&arrival, now: 0)) }
        let slow = RateLimiter(rate: 1, burst: 1)
        var slowArrival: UInt64 = 0
        #expect(slow.admit(&slowArrival, now: 10))
        #expect(!slow.admit(&slowArrival, now: 999_999_999))
        #expect(slow.admit(&slowArrival, now: 1_000_000_010))
    }
}

