/// SplitMix64: a tiny seedable generator for reproducible simulated loss and
/// payloads. Not for cryptography. Allocation-free.
///
/// ```swift
/// var random = SplitMix64(seed: 7)
/// let drop = random.nextUnit() < 0.02
/// ```
public struct SplitMix64: Sendable {
    /// The generator's state; advancing it by the golden-ratio constant is the whole step.
    public var state: UInt64

    /// A generator starting from `seed` (any value, 0 included).
    public init(seed: UInt64) { state = seed }

    /// The finaliser: a well-spread hash of one word.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64-bit value (Steele, Lea and Flood's SplitMix64).
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A uniform double in [0, 1) from 53 bits.
    @inlinable
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
