/// Comparison and distance for sequence numbers that wrap around (RFC 1982 serial
/// number arithmetic): µTP's 16-bit seq_nr/ack_nr (BEP 29), and any other protocol
/// with a fixed-width counter. `a` is "before" `b` when the forward distance from
/// `a` to `b` is less than half the number space.
///
/// ```swift
/// WrappingSequence.isBefore(UInt16(65_535), UInt16(2))        // true
/// WrappingSequence.distance(from: UInt16(65_535), to: 2)      // 3
/// ```
public enum WrappingSequence {
    /// Forward distance from `a` to `b` (how many increments take `a` to `b`).
    @inlinable
    public static func distance<T: FixedWidthInteger & UnsignedInteger>(from a: T, to b: T) -> T {
        b &- a
    }

    /// True when `a` comes strictly before `b` in wrapping order.
    @inlinable
    public static func isBefore<T: FixedWidthInteger & UnsignedInteger>(_ a: T, _ b: T) -> Bool {
        let forward = b &- a
        return forward != 0 && forward < (T(1) << (T.bitWidth - 1))
    }

    /// True when `a` is `b` or comes after it.
    @inlinable
    public static func isAtOrAfter<T: FixedWidthInteger & UnsignedInteger>(_ a: T, _ b: T) -> Bool {
        !isBefore(a, b)
    }
}
