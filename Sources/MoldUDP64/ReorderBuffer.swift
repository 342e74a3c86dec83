/// Bounded, preallocated storage for message runs that arrived ahead of the
/// next expected sequence number, ordered by sequence number.
///
/// - All memory is allocated in `init`: `capacity` slots of `slotBytes` bytes
///   plus per-slot metadata (`metadataBytesPerSlot`). Storing, finding,
///   popping and evicting allocate nothing.
/// - A slot holds one contiguous run of messages in wire framing (u16 big-endian
///   length + data), or a "lost" marker (a run given up on, no bytes).
/// - Entries never overlap: the `Session` stores only the parts of a packet no
///   entry covers yet. So they are ordered by first sequence number and by end
///   alike, and "the entry after this one" is the first ending after its end.
/// - The order is a treap (a binary search tree keyed by first sequence number,
///   heap-ordered by a random priority drawn at insert; Seidel and Aragon,
///   "Randomized search trees", 1996) kept in index arrays: insert, remove and
///   search are O(log n) expected whatever the arrival order, so a
///   retransmission landing between a million buffered runs costs about 20
///   steps, not a million shifts.
final class ReorderBuffer {
    struct Flags: OptionSet {
        let rawValue: UInt8
        /// Came from a retransmission answer (counted as recovered when delivered).
        static let recovered = Flags(rawValue: 1)
        /// A lost marker: no bytes; delivery reports the range as lost.
        static let lost = Flags(rawValue: 2)
    }

    /// Metadata bytes each slot costs besides its `slotBytes`: first (8),
    /// message count (8), byte count (4), flags (1), left and right links (8),
    /// priority (4), free list entry (4).
    static let metadataBytesPerSlot = 37
    static let none: Int32 = -1

    let slotBytes: Int
    let capacity: Int
    let arena: UnsafeMutableRawPointer
    let first: UnsafeMutablePointer<UInt64>
    let messageCount: UnsafeMutablePointer<UInt64>
    let byteCount: UnsafeMutablePointer<Int32>
    let flags: UnsafeMutablePointer<Flags>
    let left: UnsafeMutablePointer<Int32>
    let right: UnsafeMutablePointer<Int32>
    let priority: UnsafeMutablePointer<UInt32>
    var root: Int32 = ReorderBuffer.none
    private(set) var count = 0
    let freeSlots: UnsafeMutablePointer<Int32>
    var freeCount: Int
    var random = SplitMix64(seed: 0x5EED_0F_7EA9)

    /// Bytes this buffer allocated (slots and metadata).
    var allocatedBytes: Int { capacity * (slotBytes + Self.metadataBytesPerSlot) }

    init(capacity: Int, slotBytes: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max) && slotBytes >= 3 && slotBytes <= Int(Int32.max))
        self.capacity = capacity
        self.slotBytes = slotBytes
        // Untouched arena pages cost no memory until a slot is first written.
        arena = .allocate(byteCount: capacity * slotBytes, alignment: 16)
        first = .allocate(filledWith: 0, count: capacity)
        messageCount = .allocate(filledWith: 0, count: capacity)
        byteCount = .allocate(filledWith: 0, count: capacity)
        flags = .allocate(filledWith: [], count: capacity)
        left = .allocate(filledWith: Self.none, count: capacity)
        right = .allocate(filledWith: Self.none, count: capacity)
        priority = .allocate(filledWith: 0, count: capacity)
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
        left.deallocate()
        right.deallocate()
        priority.deallocate()
        freeSlots.deallocate()
    }

    var isFull: Bool { freeCount == 0 }

    @inline(__always) func start(of slot: Int) -> UInt64 { first[slot] }
    @inline(__always) func end(of slot: Int) -> UInt64 { first[slot] &+ messageCount[slot] }

    // MARK: - Search

    /// The entry with the lowest sequence numbers, if any.
    var lowest: Int? {
        var node = root
        guard node != Self.none else { return nil }
        while left[Int(node)] != Self.none { node = left[Int(node)] }
        return Int(node)
    }

    /// The entry with the highest sequence numbers, if any.
    var highest: Int? {
        var node = root
        guard node != Self.none else { return nil }
        while right[Int(node)] != Self.none { node = right[Int(node)] }
        return Int(node)
    }

    /// The first entry that ends after `sequence` (it holds `sequence` when it
    /// starts at or before it), or nil.
    func firstEntry(endingAfter sequence: UInt64) -> Int? {
        var node = root
        var found = Self.none
        while node != Self.none {
            if end(of: Int(node)) > sequence {
                found = node
                node = left[Int(node)]
            } else {
                node = right[Int(node)]
            }
        }
        return found == Self.none ? nil : Int(found)
    }

    /// The entry after `slot` in sequence order.
    @inline(__always)
    func entry(after slot: Int) -> Int? { firstEntry(endingAfter: end(of: slot)) }

    /// True when an entry holds (or marks lost) `sequence`.
    func covers(_ sequence: UInt64) -> Bool {
        guard let slot = firstEntry(endingAfter: sequence) else { return false }
        return first[slot] <= sequence
    }

    // MARK: - Slots

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
        MessageBlocks(blocks: UnsafeRawBufferPointer(start: storage(of: slot), count: Int(byteCount[slot])),
                      firstSequence: first[slot], count: Int(messageCount[slot]))
    }

    // MARK: - Linking

    /// Links a filled slot (its `first` set, overlapping no entry) into the order.
    func insert(_ slot: Int) {
        precondition(count < capacity)
        left[slot] = Self.none
        right[slot] = Self.none
        priority[slot] = UInt32(truncatingIfNeeded: random.next() >> 32)
        root = insert(Int32(slot), into: root)
        count += 1
    }

    /// Unlinks `slot` and frees it.
    func remove(_ slot: Int) {
        root = remove(key: first[slot], from: root)
        release(slot)
        count -= 1
    }

    /// Unlinks and frees the lowest entry.
    func removeLowest() {
        guard let slot = lowest else { return }
        remove(slot)
    }

    /// Unlinks and frees the highest entry.
    func removeHighest() {
        guard let slot = highest else { return }
        remove(slot)
    }

    /// Drops every entry.
    func removeAll() {
        root = Self.none
        count = 0
        freeCount = capacity
        for index in 0..<capacity { freeSlots[index] = Int32(capacity - 1 - index) }
    }

    // Recursion depth is the treap's depth: O(log n) expected (about 2.99 log2 n
    // at most with high probability), so a million entries recurse ~60 deep.
    func insert(_ node: Int32, into tree: Int32) -> Int32 {
        guard tree != Self.none else { return node }
        let t = Int(tree)
        if first[Int(node)] < first[t] {
            let child = insert(node, into: left[t])
            left[t] = child
            if priority[Int(child)] > priority[t] { return rotateRight(tree) }
        } else {
            let child = insert(node, into: right[t])
            right[t] = child
            if priority[Int(child)] > priority[t] { return rotateLeft(tree) }
        }
        return tree
    }

    func remove(key: UInt64, from tree: Int32) -> Int32 {
        guard tree != Self.none else { return tree }
        let t = Int(tree)
        if key < first[t] {
            left[t] = remove(key: key, from: left[t])
        } else if key > first[t] {
            right[t] = remove(key: key, from: right[t])
        } else {
            return merge(left[t], right[t])
        }
        return tree
    }

    /// Joins two treaps whose keys are all lower in `low` than in `high`.
    func merge(_ low: Int32, _ high: Int32) -> Int32 {
        if low == Self.none { return high }
        if high == Self.none { return low }
        if priority[Int(low)] > priority[Int(high)] {
            right[Int(low)] = merge(right[Int(low)], high)
            return low
        }
        left[Int(high)] = merge(low, left[Int(high)])
        return high
    }

    func rotateRight(_ tree: Int32) -> Int32 {
        let pivot = left[Int(tree)]
        left[Int(tree)] = right[Int(pivot)]
        right[Int(pivot)] = tree
        return pivot
    }

    func rotateLeft(_ tree: Int32) -> Int32 {
        let pivot = right[Int(tree)]
        right[Int(tree)] = left[Int(pivot)]
        left[Int(pivot)] = tree
        return pivot
    }
}
