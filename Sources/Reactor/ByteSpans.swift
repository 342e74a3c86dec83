/// Bytes a stream handler is offered: one span, or two when they wrap around the
/// end of the connection's receive ring. Valid only during the callback.
///
/// A framed parser reads a header across the seam with `subscript` or
/// `copyBytes(from:count:into:)`, and asks `contiguous(from:count:)` for a
/// frame body it can read in place (nil only when that frame wraps).
///
/// ```swift
/// func received(_ bytes: ByteSpans, ...) -> Int {
///     var offset = 0
///     while bytes.count - offset >= 2 {
///         let length = Int(bytes.loadBigEndianUInt16(at: offset))
///         guard bytes.count - offset - 2 >= length else { break }
///         handleFrame(bytes, from: offset + 2, count: length)
///         offset += 2 + length
///     }
///     return offset        // consumed; the rest stays for the next read
/// }
/// ```
public struct ByteSpans {
    /// The bytes up to the end of the ring's memory (oldest first). Valid only during
    /// the callback that handed the spans over.
    public let first: UnsafeRawBufferPointer
    /// The bytes that wrapped around to the start of the ring's memory; empty when the
    /// data did not wrap. Valid only during the callback.
    public let second: UnsafeRawBufferPointer

    /// Spans over `first` followed by `second`; the memory must outlive the value.
    @inlinable
    public init(first: UnsafeRawBufferPointer, second: UnsafeRawBufferPointer) {
        self.first = first
        self.second = second
    }

    /// Bytes in both spans together.
    @inlinable public var count: Int { first.count + second.count }
    /// True when both spans are empty.
    @inlinable public var isEmpty: Bool { count == 0 }

    /// The byte at `offset` counted from the start of `first`, crossing into
    /// `second` when needed. Traps when `offset` is outside `0..<count`.
    @inlinable
    public subscript(offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < count, "ByteSpans index out of range")
        return offset < first.count ? first[offset] : second[offset - first.count]
    }

    /// A big-endian 16-bit value at `offset` (a length prefix), across the seam if need be.
    @inlinable
    public func loadBigEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    /// `count` bytes from `offset` as one span when they do not cross the seam.
    @inlinable
    public func contiguous(from offset: Int, count length: Int) -> UnsafeRawBufferPointer? {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "ByteSpans range out of bounds")
        if offset + length <= first.count {
            return UnsafeRawBufferPointer(rebasing: first[offset..<(offset + length)])
        }
        if offset >= first.count {
            let start = offset - first.count
            return UnsafeRawBufferPointer(rebasing: second[start..<(start + length)])
        }
        return nil
    }

    /// Copies `count` bytes from `offset` into `destination` (which must hold them).
    @inlinable
    public func copyBytes(from offset: Int, count length: Int, into destination: UnsafeMutableRawPointer) {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "ByteSpans range out of bounds")
        var copied = 0
        if offset < first.count {
            let n = min(length, first.count - offset)
            // Safety: offset + n <= first.count.
            destination.copyMemory(from: first.baseAddress! + offset, byteCount: n)
            copied = n
        }
        if copied < length {
            let start = offset + copied - first.count
            // Safety: start + (length - copied) <= second.count by the precondition.
            (destination + copied).copyMemory(from: second.baseAddress! + start, byteCount: length - copied)
        }
    }

    /// The bytes as an array (tests and tools; allocates).
    public var array: [UInt8] { Array(first) + Array(second) }
}
