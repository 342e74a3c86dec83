import CFeedReactor

/// Where a reactor reads `now` from, once per duty cycle, in nanoseconds.
public protocol ReactorClock: AnyObject {
    func now() -> UInt64
}

/// CLOCK_MONOTONIC: never jumps, unaffected by wall-clock changes.
public final class MonotonicClock: ReactorClock {
    public init() {}
    @inline(__always) public func now() -> UInt64 { fr_monotonic_ns() }
}

/// A clock that moves only when told to: for deterministic tests of timers.
public final class ManualClock: ReactorClock {
    /// Moves only through `advance(by:)`.
    public private(set) var time: UInt64
    public init(_ start: UInt64 = 1_000_000_000) { time = start }
    public func now() -> UInt64 { time }
    public func advance(by nanoseconds: UInt64) { time += nanoseconds }
}

public enum Nanoseconds {
    @inlinable public static func milliseconds(_ value: UInt64) -> UInt64 { value * 1_000_000 }
    @inlinable public static func microseconds(_ value: UInt64) -> UInt64 { value * 1_000 }
    @inlinable public static func seconds(_ value: UInt64) -> UInt64 { value * 1_000_000_000 }
    @inlinable public static func seconds(_ value: Double) -> UInt64 { UInt64(max(0, value) * 1e9) }
}
