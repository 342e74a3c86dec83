#if canImport(Glibc)
import Glibc
#endif

/// A bounded ring of bytes over memory allocated once: a TCP connection's
/// receive buffer and send queue, and any stream protocol's byte queue.
///
/// The readable bytes are at most two spans (`readable`), the free space too
/// (`writable`), so a kernel read or write of the whole ring is one readv /
/// writev of two iovecs. When the ring runs empty its start moves back to
/// offset 0, which keeps request/response traffic in one contiguous span.
///
/// The ring does not own its memory when it comes from a pool
/// (`init(storage:capacity:)`); `ByteRing.allocate(capacity:)` makes one that the
/// caller frees with `deallocate()`.
///
/// ```swift
/// var ring = ByteRing.allocate(capacity: 4096)
/// defer { ring.deallocate() }
/// let accepted = ring.write(bytes)      // what fit
/// let spans = ring.readable             // up to two spans, oldest first
/// ring.consume(spans.count)
/// ```
public struct ByteRing {
    /// The ring's memory (`capacity` bytes).
    public let storage: UnsafeMutableRawPointer
    /// Bytes the ring holds at most; fixed at creation.
    public let capacity: Int
    /// Offset of the oldest byte.
    public private(set) var head = 0
    /// Bytes held.
    public private(set) var count = 0

    /// A ring over `capacity` bytes at `storage`, which must outlive it.
    public init(storage: UnsafeMutableRawPointer, capacity: Int) {
        precondition(capacity > 0, "ByteRing capacity must be positive")
        self.storage = storage
        self.capacity = capacity
    }

    /// A ring with its own memory; free it with `deallocate()`.
    public static func allocate(capacity: Int) -> ByteRing {
        ByteRing(storage: .allocate(byteCount: capacity, alignment: 64), capacity: capacity)
    }

    /// Frees the memory of a ring made by `allocate(capacity:)`. Do not call it on a
    /// ring over memory you passed to `init(storage:capacity:)`, and do not use the
    /// ring (or any span it returned) afterwards.
    public func deallocate() { storage.deallocate() }

    /// Bytes that can still be written: `capacity - count`.
    public var freeSpace: Int { capacity - count }
    /// True when no bytes are held.
    public var isEmpty: Bool { count == 0 }
    /// True when `count == capacity`: a write accepts nothing until bytes are consumed.
    public var isFull: Bool { count == capacity }

    /// The bytes held, oldest first: the first span runs to the end of the
    /// memory at most, the second (possibly empty) continues at its start.
    @inline(__always)
    public var readable: ByteSpans {
        let firstLength = min(count, capacity - head)
        // Safety: head + firstLength <= capacity and count - firstLength <= head.
        return ByteSpans(first: UnsafeRawBufferPointer(start: storage + head, count: firstLength),
                         second: UnsafeRawBufferPointer(start: storage, count: count - firstLength))
    }

    /// The free space in the order it fills: from the tail to the end of the
    /// memory, then from its start up to the head.
    @inline(__always)
    public var writable: (first: UnsafeMutableRawBufferPointer, second: UnsafeMutableRawBufferPointer) {
        let tail = (head + count) % capacity
        if count == capacity {
            return (UnsafeMutableRawBufferPointer(start: storage, count: 0), UnsafeMutableRawBufferPointer(start: storage, count: 0))
        }
        if tail >= head {
            // Safety: tail < capacity, and the second span ends at head <= tail.
            return (UnsafeMutableRawBufferPointer(start: storage + tail, count: capacity - tail),
                    UnsafeMutableRawBufferPointer(start: storage, count: head))
        }
        return (UnsafeMutableRawBufferPointer(start: storage + tail, count: head - tail),
                UnsafeMutableRawBufferPointer(start: storage, count: 0))
    }

    /// Marks `n` bytes of `writable` as filled (after a read into it).
    @inline(__always)
    public mutating func commit(_ n: Int) {
        precondition(n >= 0 && n <= freeSpace, "ByteRing.commit past the free space")
        count += n
    }

    /// Drops the `n` oldest bytes.
    @inline(__always)
    public mutating func consume(_ n: Int) {
        precondition(n >= 0 && n <= count, "ByteRing.consume past the bytes held")
        count -= n
        head = count == 0 ? 0 : (head + n) % capacity
    }

    /// Copies in as much of `bytes` as fits; returns how many bytes it took.
    @discardableResult
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let accepted = min(bytes.count, freeSpace)
        guard accepted > 0, let source = bytes.baseAddress else { return 0 }
        let spans = writable
        let first = min(accepted, spans.first.count)
        // Safety: both copies stay within the free spans just computed.
        spans.first.baseAddress!.copyMemory(from: source, byteCount: first)
        if accepted > first {
            spans.second.baseAddress!.copyMemory(from: source + first, byteCount: accepted - first)
        }
        count += accepted
        return accepted
    }

    /// Empties the ring.
    public mutating func removeAll() {
        head = 0
        count = 0
    }

    /// Points `iov[0...1]` at the readable spans; returns how many iovecs are used.
    @inline(__always)
    public func readableVectors(_ iov: UnsafeMutablePointer<iovec>) -> Int32 {
        let spans = readable
        iov[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: spans.first.baseAddress), iov_len: spans.first.count)
        guard spans.second.count > 0 else { return spans.first.count > 0 ? 1 : 0 }
        iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: spans.second.baseAddress), iov_len: spans.second.count)
        return 2
    }

    /// Points `iov[0...1]` at the free spans; returns how many iovecs are used.
    @inline(__always)
    public func writableVectors(_ iov: UnsafeMutablePointer<iovec>) -> Int32 {
        let spans = writable
        iov[0] = iovec(iov_base: spans.first.baseAddress, iov_len: spans.first.count)
        guard spans.second.count > 0 else { return spans.first.count > 0 ? 1 : 0 }
        iov[1] = iovec(iov_base: spans.second.baseAddress, iov_len: spans.second.count)
        return 2
    }
}
