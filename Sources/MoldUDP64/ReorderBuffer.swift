/// Bounded, preallocated storage for message runs that arrived ahead of the
/// next expected sequence number, kept sorted by sequence number.
///
/// - All memory is allocated in `init`: `capacity` slots of `slotBytes` bytes,
///   plus per-slot metadata and an ordering ring. Storing, popping and evicting
///   allocate nothing.
/// - A slot holds one contiguous run of messages in wire framing (u16 big-endian
///   length + data), or a "lost" marker (a run given up on, no bytes).
/// - Entries never overlap: the `Session` stores only the parts of a packet no
///   entry covers yet.
/// - The ordering ring is indexed logically (0 = lowest sequence number); the
///   common cases (append the newest live packet, pop the oldest) are O(1); an
///   insertion in the middle (a retransmission) shifts the entries after it.
final class ReorderBuffer {
    struct Flags: OptionSet {
        let rawValue: UInt8
        /// Came from a retransmission answer (counted as recovered when delivered).
        static let recovered = Flags(rawValue: 1)
        /// A lost marker: no bytes; delivery reports the range as lost.
        static let lost = Flags(rawValue: 2)
    }

    let slotBytes: Int
    let capacity: Int
    let arena: UnsafeMutableRawPointer
    let first: UnsafeMutablePointer<UInt64>
    let messageCount: UnsafeMutablePointer<UInt64>
    let byteCount: UnsafeMutablePointer<Int>
    let flags: UnsafeMutablePointer<Flags>
    /// Slot numbers in sequence order, as a ring of `orderMask + 1` entries.
    let order: UnsafeMutablePointer<Int32>
    let orderMask: Int
    var head = 0
    private(set) var count = 0
    let freeSlots: UnsafeMutablePointer<Int32>
    var freeCount: Int

    init(capacity: Int, slotBytes: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max) && slotBytes >= 3)
        self.capacity = capacity
        self.slotBytes = slotBytes
        arena = .allocate(byteCount: capacity * slotBytes, alignment: 16)
        first = .allocate(filledWith: 0, count: capacity)
        messageCount = .allocate(filledWith: 0, count: capacity)
        byteCount = .allocate(filledWith: 0, count: capacity)
        flags = .allocate(filledWith: [], count: capacity)
        var ringSize = 1
        while ringSize < capacity { ringSize <<= 1 }
        order = .allocate(filledWith: -1, count: ringSize)
        orderMask = ringSize - 1
        freeSlots = .allocate(capacity: capacity)
        for index in 0..<capacity { (freeSlots + index).initialize(to: Int32(capacity - 1 - index)) }
        freeCount = capacity
    }

    deinit {
        arena.deallocate()
        first.deallocate()
        messageCount.deallocate()
        byteCount.deallocate()
        flags.deallocate()
        order.deallocate()
        freeSlots.deallocate()
    }

    var isFull: Bool { freeCount == 0 }

    /// The slot at logical position `index` (0 = lowest sequence number).
    @inline(__always) func slot(at index: Int) -> Int { Int(order[(head + index) & orderMask]) }
    @inline(__always) func start(at index: Int) -> UInt64 { first[slot(at: index)] }
    @inline(__always) func end(at index: Int) -> UInt64 {
        let slot = slot(at: index)
        return first[slot] &+ messageCount[slot]
    }

    /// The position of the first entry that ends after `sequence` (entries are
    /// disjoint and sorted, so their ends are sorted too): binary search.
    func firstIndex(endingAfter sequence: UInt64) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) >> 1
            if end(at: middle) <= sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// True when an entry holds (or marks lost) `sequence`.
    func covers(_ sequence: UInt64) -> Bool {
        let index = firstIndex(endingAfter: sequence)
        return index < count && start(at: index) <= sequence
    }

    /// Takes a free slot, or nil when all are in use.
    func allocate() -> Int? {
        guard freeCount > 0 else { return nil }
        freeCount -= 1
        return Int(freeSlots[freeCount])
    }

    /// Returns an unlinked slot to the free list.
    func release(_ slot: Int) {
        freeSlots[freeCount] = Int32(slot)
        freeCount += 1
    }

    /// The bytes area of a slot.
    @inline(__always) func storage(of slot: Int) -> UnsafeMutableRawPointer { arena + slot * slotBytes }

    /// The messages a (non-lost) slot holds.
    func blocks(of slot: Int) -> MessageBlocks {
        MessageBlocks(blocks: UnsafeRawBufferPointer(start: storage(of: slot), count: byteCount[slot]),
                      firstSequence: first[slot], count: Int(messageCount[slot]))
    }

    /// Links a filled slot in at logical position `index`, shifting the entries
    /// at and after it up by one.
    func insert(_ slot: Int, at index: Int) {
        precondition(index >= 0 && index <= count && count < capacity)
        if index == 0 && count > 0 {
            // Prepending is as cheap as appending in a ring.
            head = (head - 1) & orderMask
        } else {
            var position = count
            while position > index {
                order[(head + position) & orderMask] = order[(head + position - 1) & orderMask]
                position -= 1
            }
        }
        order[(head + index) & orderMask] = Int32(slot)
        count += 1
    }

    /// Unlinks and frees the lowest entry.
    func removeFirst() {
        precondition(count > 0)
        release(slot(at: 0))
        head = (head + 1) & orderMask
        count -= 1
    }

    /// Unlinks and frees the highest entry.
    func removeLast() {
        precondition(count > 0)
        release(slot(at: count - 1))
        count -= 1
    }

    /// Drops every entry.
    func removeAll() {
        while count > 0 { removeLast() }
        head = 0
    }
}
