/// Deterministic message payloads: the bytes of message `sequence` depend only
/// on the seed and the sequence number, so a receiver (or a test) can check every
/// delivered message without a copy of the feed. Allocation-free.
///
/// ```swift
/// let payloads = PayloadGenerator(seed: 7, sizes: 16...64)
/// let length = payloads.fill(sequence: 42, into: buffer)   // same bytes every time
/// ```
public struct PayloadGenerator: Sendable {
    /// The seed: the same seed and sequence number give the same bytes.
    public let seed: UInt64
    /// The payload lengths, in bytes, drawn per sequence number.
    public let sizes: ClosedRange<Int>

    /// A generator of payloads with lengths in `sizes` (not negative), derived from
    /// `seed` and the sequence number.
    public init(seed: UInt64, sizes: ClosedRange<Int>) {
        precondition(sizes.lowerBound >= 0, "payload sizes cannot be negative")
        self.seed = seed
        self.sizes = sizes
    }

    /// The first output of a SplitMix64 seeded with `value` (not the bare
    /// finaliser `SplitMix64.mix`: the seed is advanced once first).
    @inlinable
    static func firstOutput(seed value: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: value)
        return generator.next()
    }

    /// The payload length of message `sequence`.
    @inlinable
    public func length(of sequence: UInt64) -> Int {
        let span = UInt64(sizes.upperBound - sizes.lowerBound + 1)
        return sizes.lowerBound + Int(Self.firstOutput(seed: seed ^ (sequence &* 0x2545_F491_4F6C_DD1D)) % span)
    }

    /// Writes message `sequence` into `buffer` (at most `buffer.count` bytes) and
    /// returns its length.
    @inlinable
    public func fill(sequence: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(length(of: sequence), buffer.count)
        var state = Self.firstOutput(seed: seed &+ sequence)
        var offset = 0
        while offset < count {
            state = Self.firstOutput(seed: state)
            var word = state
            let take = min(8, count - offset)
            for i in 0..<take {
                buffer[offset + i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
            offset += take
        }
        return count
    }

    /// The payload as an array (tests and tools).
    public func payload(sequence: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length(of: sequence))
        let n = bytes.withUnsafeMutableBytes { fill(sequence: sequence, into: $0) }
        return Array(bytes[0..<n])
    }
}
