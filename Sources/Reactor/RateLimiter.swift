/// A rate limit as the generic cell rate algorithm (GCRA; ITU-T I.371, the
/// "virtual scheduling" form): a token bucket kept as one timestamp, the
/// theoretical arrival time (TAT) of the next event. `rate` events per second
/// on average, up to `burst` back to back; idle time earns at most a burst.
///
/// The limiter is the policy (interval and tolerance); the TAT is the state,
/// held by the caller (`admit(_:now:)`), so a table of many buckets stores one
/// `UInt64` each and shares one limiter. `Bucket` bundles the two for a single
/// bucket. No clock of its own (`now` in nanoseconds is passed in), no
/// allocation, no locks.
///
/// ```swift
/// let limiter = RateLimiter(rate: 5_000, burst: 64)
/// var arrival: UInt64 = 0
/// if limiter.admit(&arrival, now: reactor.now) { send() }
///
/// var bucket = RateLimiter.Bucket(RateLimiter(rate: 500, burst: 100))
/// if bucket.admit(now: reactor.now) { answer() }
/// ```
public struct RateLimiter: Sendable, Equatable {
    /// Nanoseconds of credit one event costs (1e9 / rate).
    public let interval: UInt64
    /// How far ahead of `now` the TAT may run: `interval * (burst - 1)`.
    public let tolerance: UInt64

    /// A limit of `rate` events per second with bursts of up to `burst` back to back
    /// (GCRA); the state lives in the caller (`Bucket`), so one limiter serves many keys.
    ///
    /// - Parameters:
    ///   - rate: events per second, 1...1e9.
    ///   - burst: events allowed back to back, at least 1.
    public init(rate: UInt64, burst: UInt64) {
        precondition(rate >= 1 && rate <= 1_000_000_000 && burst >= 1,
                     "a rate limit needs 1 <= rate <= 1e9 events/s and burst >= 1")
        interval = max(1, 1_000_000_000 / rate)
        let (product, overflow) = interval.multipliedReportingOverflow(by: burst - 1)
        tolerance = overflow ? .max / 2 : product
    }

    /// Takes one event's credit from the bucket whose TAT is `arrival`; false
    /// (and nothing taken) when the bucket is empty at `now`.
    @inline(__always)
    public func admit(_ arrival: inout UInt64, now: UInt64) -> Bool {
        let start = max(arrival, now)
        guard start - now <= tolerance else { return false }
        arrival = start &+ interval
        return true
    }

    /// The earliest time at which `admit` on the bucket `arrival` succeeds
    /// (`now` or earlier when it would succeed already).
    @inline(__always)
    public func nextAdmission(_ arrival: UInt64) -> UInt64 {
        arrival > tolerance ? arrival - tolerance : 0
    }

    /// One bucket: a limiter and its TAT.
    public struct Bucket: Sendable, Equatable {
        /// The rate and burst this bucket enforces.
        public let limiter: RateLimiter
        /// The theoretical arrival time of the next event.
        public private(set) var arrival: UInt64 = 0

        /// A bucket for `limiter` that admits at once (its theoretical arrival time is 0).
        public init(_ limiter: RateLimiter) { self.limiter = limiter }

        /// See `RateLimiter.admit(_:now:)`.
        @inline(__always)
        public mutating func admit(now: UInt64) -> Bool { limiter.admit(&arrival, now: now) }

        /// See `RateLimiter.nextAdmission(_:)`.
        public var nextAdmission: UInt64 { limiter.nextAdmission(arrival) }

        /// Forgets the history: the next `admit` sees a full bucket.
        public mutating func reset() { arrival = 0 }
    }
}
