/// The most recent messages of a session by sequence number, kept for
/// retransmission, in bounded memory allocated once.
///
/// - Bounded by messages (`messageCapacity`, rounded up to a power of two) and
///   by bytes (`byteCapacity`); appending past either bound evicts the oldest
///   messages.
/// - Storage is a ring of (start, length) entries indexed by sequence number
///   (O(1) lookup: one mask) over a byte ring holding each message contiguously.
///   A message that would straddle the byte ring's end starts at its beginning
///   instead; the skipped tail counts as used until the ring wraps past it.
/// - Appending and looking up allocate nothing.
///
/// ```swift
/// let store = RetransmissionStore(messageCapacity: 65_536, byteCapacity: 8 << 20)
/// let sequence = store.append(message)           // 1, 2, 3, ...
/// let range = store.available(from: 10, count: 5) // what can be answered
/// let bytes = store.message(range.lowerBound)
/// ```
public final class RetransmissionStore {
    /// What requests asked for that the store could not (fully) answer.
    public struct Counters: Sendable, Equatable {
        /// Messages dropped from the store to make room.
        public var evictedMessages: UInt64 = 0
        /// Lookups that began before the oldest message still held.
        public var requestsForEvicted: UInt64 = 0
        /// Lookups that began at or after the next sequence number (not sent yet).
        public var requestsForFuture: UInt64 = 0
    }

    /// The most messages held (the requested capacity rounded up to a power of two).
    public let messageCapacity: Int
    /// The most bytes of message data held.
    public let byteCapacity: Int
    /// The oldest sequence number still held (== `nextSequenceNumber` when empty).
    public var firstSequenceNumber: UInt64 { oldest }
    /// The sequence number the next appended message gets.
    public var nextSequenceNumber: UInt64 { next }
    /// Lookups and evictions so far.
    public var counters: Counters { tally }

    // Internal, not `public private(set)`: with whole-module optimization the
    // compiler can then prove accesses never overlap and drop the dynamic
    // exclusivity checks (swift_beginAccess) that otherwise dominate append.
    var oldest: UInt64
    var next: UInt64
    var tally = Counters()

    let mask: Int
    /// Per entry: the message's position in an unbounded byte stream; its
    /// place in the ring is that modulo `byteCapacity`.
    let starts: UnsafeMutablePointer<UInt64>
    let lengths: UnsafeMutablePointer<UInt32>
    let bytes: UnsafeMutableRawPointer
    /// Where the next message goes, in the same unbounded stream.
    var writePosition: UInt64 = 0

    /// An empty store whose message index and byte ring are allocated here, once;
    /// appending past either capacity evicts the oldest messages.
    ///
    /// - Parameters:
    ///   - messageCapacity: the most messages held (rounded up to a power of two).
    ///   - byteCapacity: the most payload bytes held; at least 65,535 so any
    ///     MoldUDP64 message fits.
    ///   - firstSequenceNumber: the sequence number of the first message appended.
    public init(messageCapacity: Int = 65_536, byteCapacity: Int = 8 << 20, firstSequenceNumber: UInt64 = 1) {
        precondition(messageCapacity > 0 && messageCapacity <= 1 << 30, "messageCapacity must be 1...2^30")
        precondition(byteCapacity >= PacketWriter.maxMessageLength,
                     "byteCapacity must be at least 65535 so that any MoldUDP64 message fits")
        var size = 1
        while size < messageCapacity { size <<= 1 }
        self.messageCapacity = size
        self.byteCapacity = byteCapacity
        mask = size - 1
        starts = .allocate(filledWith: 0, count: size)
        lengths = .allocate(filledWith: 0, count: size)
        bytes = .allocate(byteCount: byteCapacity, alignment: 16)
        oldest = firstSequenceNumber
        next = firstSequenceNumber
    }

    deinit {
        starts.deallocate()
        lengths.deallocate()
        bytes.deallocate()
    }

    /// Writes the whole byte ring once, so that no later `append` maps a page.
    ///
    /// `init` only allocates the ring: the kernel maps each 4 KiB page at its first
    /// write, so the first lap of appends takes a page fault every 4 KiB of
    /// messages (2-3% of a loopback publisher's time in perf). Call this before
    /// the session starts when the first lap must run at full speed; it costs a
    /// memset of `byteCapacity` (and the memory then counts as resident). Not
    /// done by `init`: the 256 MiB store of `feedreactor demo`, written at
    /// start, cost its io_uring run a loss at startup.
    ///
    /// Only an empty store (new, or after `reset`) is written; with messages held
    /// it does nothing and returns false, so no stored byte is ever overwritten.
    @discardableResult
    public func prefault() -> Bool {
        guard count == 0 else { return false }
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: byteCapacity)
        return true
    }

    /// Messages held now.
    public var count: Int { Int(next - oldest) }

    /// Bytes of the ring in use (messages plus any skipped tail).
    public var bytesInUse: Int {
        count == 0 ? 0 : Int(writePosition - starts[Int(truncatingIfNeeded: oldest) & mask])
    }

    /// Stores a copy of `message` under the next sequence number and returns that
    /// number, evicting the oldest messages as needed. The message must be at
    /// most 65,535 bytes (a MoldUDP64 block length is a u16).
    @discardableResult
    public func append(_ message: UnsafeRawBufferPointer) -> UInt64 {
        let length = message.count
        precondition(length <= PacketWriter.maxMessageLength, "a MoldUDP64 message is at most 65535 bytes")
        let capacity = UInt64(byteCapacity)
        let offset = writePosition % capacity
        if offset + UInt64(length) > capacity { writePosition += capacity - offset }
        // Evict until both bounds hold with the new message in place.
        while count > 0 && (count == messageCapacity
                            || writePosition + UInt64(length) - starts[Int(truncatingIfNeeded: oldest) & mask] > capacity) {
            oldest += 1
            tally.evictedMessages &+= 1
        }
        if count == 0 { writePosition = 0 }   // nothing held: restart at the ring's beginning
        let slot = Int(truncatingIfNeeded: next) & mask
        starts[slot] = writePosition
        lengths[slot] = UInt32(length)
        if length > 0 {
            // Safety: writePosition % capacity + length <= capacity (padded above).
            (bytes + Int(writePosition % capacity)).copyMemory(from: message.baseAddress!, byteCount: length)
        }
        writePosition += UInt64(length)
        let sequence = next
        next += 1
        return sequence
    }

    /// The stored bytes of `sequenceNumber`, or nil when it was evicted or is not
    /// sent yet. Valid until the next `append`.
    public func message(_ sequenceNumber: UInt64) -> UnsafeRawBufferPointer? {
        guard sequenceNumber >= oldest && sequenceNumber < next else { return nil }
        let slot = Int(truncatingIfNeeded: sequenceNumber) & mask
        // Safety: a held entry lies wholly inside the byte ring (see append).
        return UnsafeRawBufferPointer(start: bytes + Int(starts[slot] % UInt64(byteCapacity)), count: Int(lengths[slot]))
    }

    /// The part of `first ..< first + count` the store holds: requests reaching
    /// before the oldest message are answered from the oldest one, requests for
    /// messages not sent yet get an empty range. Both cases are counted.
    public func available(from first: UInt64, count: Int) -> Range<UInt64> {
        guard first < next else {
            tally.requestsForFuture &+= 1
            return next..<next
        }
        let wanted = UInt64(max(0, count))
        // Saturate rather than overflow on a hostile count.
        let end = wanted >= next - first ? next : first + wanted
        if first < oldest {
            tally.requestsForEvicted &+= 1
            return oldest..<max(oldest, end)
        }
        return first..<end
    }

    /// Forgets every message and continues at `nextSequenceNumber` (a new session).
    public func reset(nextSequenceNumber: UInt64 = 1) {
        oldest = nextSequenceNumber
        next = nextSequenceNumber
        writePosition = 0
    }
}
