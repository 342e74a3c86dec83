/// Round-trip time estimation for the transports built on the reactor (reliable
/// UDP, µTP, ...): one estimator, no I/O, no allocation, nanoseconds throughout.
///
/// The smoothing is RFC 6298 §2 (and RFC 9002 §5.3, which µTP's libutp also
/// follows): the first sample sets `smoothed = sample` and `variation = sample / 2`;
/// later samples move `variation` by 1/4 of `|smoothed - sample|` and `smoothed` by
/// 1/8 of the difference. RFC 9002 §5.3 subtracts the peer's acknowledgement delay
/// from a sample only when what remains is still at least `minimum`; pass 0 where
/// the protocol has no such field.
///
/// ```swift
/// var rtt = RTTEstimator()
/// rtt.add(sample: 30_000_000, ackDelay: 0)                       // 30 ms
/// let rto = rtt.retransmissionTimeout(minimum: 200_000_000, maximum: 60_000_000_000)
/// ```
public struct RTTEstimator: Sendable, Equatable {
    /// The most recent sample (ns); 0 before the first.
    public private(set) var latest: UInt64 = 0
    /// Smoothed RTT (ns); `initial` before the first sample.
    public private(set) var smoothed: UInt64
    /// Mean deviation of the RTT (ns); `initial / 2` before the first sample.
    public private(set) var variation: UInt64
    /// The smallest sample seen (ns); `UInt64.max` before the first.
    public private(set) var minimum: UInt64 = .max
    /// Samples taken so far.
    public private(set) var samples: UInt64 = 0

    /// `initial`: the RTT assumed before any sample (RFC 9002 §6.2.2 suggests 333 ms;
    /// RFC 6298 §2.1 implies 1 s through its initial RTO).
    public init(initial: UInt64 = 333_000_000) {
        smoothed = initial
        variation = initial / 2
    }

    /// True once `sample` has taken at least one measurement; until then `smoothed`
    /// and `variation` hold the initial guess.
    public var hasSamples: Bool { samples > 0 }

    /// Takes one RTT sample; `ackDelay` is how long the peer says it held the
    /// acknowledgement (0 when unknown).
    public mutating func add(sample: UInt64, ackDelay: UInt64 = 0) {
        latest = sample
        if sample < minimum { minimum = sample }
        var adjusted = sample
        if ackDelay > 0 && sample >= minimum &+ ackDelay { adjusted = sample - ackDelay }
        if samples == 0 {
            smoothed = adjusted
            variation = adjusted / 2
        } else {
            let deviation = smoothed > adjusted ? smoothed - adjusted : adjusted - smoothed
            variation = (3 * variation + deviation) / 4
            smoothed = (7 * smoothed + adjusted) / 8
        }
        samples &+= 1
    }

    /// RTO = smoothed + max(granularity, 4 · variation) (RFC 6298 §2.2-2.3, RFC 9002
    /// §6.2.1), clamped to `minimum...maximum`. The caller doubles it per
    /// consecutive timeout (RFC 6298 §5.5) with `backedOff(_:times:maximum:)`.
    public func retransmissionTimeout(minimum floor: UInt64, maximum ceiling: UInt64,
                                      granularity: UInt64 = 1_000_000) -> UInt64 {
        let value = smoothed &+ max(granularity, 4 &* variation)
        return min(max(value, floor), ceiling)
    }

    /// `timeout` doubled `times` times, never above `maximum` (no overflow).
    public static func backedOff(_ timeout: UInt64, times: Int, maximum: UInt64) -> UInt64 {
        var value = timeout
        var remaining = times
        while remaining > 0 && value < maximum {
            value = value > maximum / 2 ? maximum : value * 2
            remaining -= 1
        }
        return min(value, maximum)
    }
}
