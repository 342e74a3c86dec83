import CFeedReactor

/// Where a reactor reads `now` from, once per duty cycle, in nanoseconds.
public protocol ReactorClock: AnyObject {
    /// The current time in nanoseconds, from a clock that never goes backwards. The
    /// reactor calls it once per duty cycle; it must not allocate or block.
    func now() -> UInt64
}

/// CLOCK_MONOTONIC: never jumps, unaffected by wall-clock changes.
public final class MonotonicClock: ReactorClock {
    /// A clock reading CLOCK_MONOTONIC; stateless, so instances are interchangeable.
    public init() {}
    /// CLOCK_MONOTONIC in nanoseconds (the vDSO, no system call).
    @inline(__always) public func now() -> UInt64 { fr_monotonic_ns() }
}

/// A clock that moves only when told to: for deterministic tests of timers.
public final class ManualClock: ReactorClock {
    /// Moves only through `advance(by:)`.
    public private(set) var time: UInt64
    /// A clock standing at `start` nanoseconds (default one second, so that
    /// "`now` minus a delay" does not wrap in tests) until `advance(by:)` moves it.
    public init(_ start: UInt64 = 1_000_000_000) { time = start }
    /// The time the clock was set to, in nanoseconds.
    public func now() -> UInt64 { time }
    /// Moves the clock forward by `nanoseconds`; the next duty cycle (or `poll()`)
    /// sees the new time and fires the timers that came due.
    public func advance(by nanoseconds: UInt64) { time += nanoseconds }
}

/// Conversions to the nanoseconds every `now:` and timer in this package takes.
///
/// ```swift
/// try reactor.schedule(after: Nanoseconds.milliseconds(250), handler: heartbeat)
/// ```
public enum Nanoseconds {
    /// `value` milliseconds in nanoseconds (× 1,000,000).
    @inlinable public static func milliseconds(_ value: UInt64) -> UInt64 { value * 1_000_000 }
    /// `value` microseconds in nanoseconds (× 1,000).
    @inlinable public static func microseconds(_ value: UInt64) -> UInt64 { value * 1_000 }
    /// `value` seconds in nanoseconds (× 1,000,000,000).
    @inlinable public static func seconds(_ value: UInt64) -> UInt64 { value * 1_000_000_000 }
    /// `value` seconds (fractions allowed) in nanoseconds; negative values give 0.
    @inlinable public static func seconds(_ value: Double) -> UInt64 { UInt64(max(0, value) * 1e9) }
}
