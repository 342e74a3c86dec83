import Synchronization

/// A bounded single-producer single-consumer queue: preallocated slots, two
/// atomic indices, no lock and no allocation per item.
///
/// Exactly one thread pushes and exactly one thread pops (they may be the same
/// thread). `push` says false when the ring is full: the caller decides whether
/// to drop, count or retry; nothing grows. To wake a reactor when items arrive,
/// use a `ReactorChannel`, which wraps one of these.
///
/// ```swift
/// let ring = SPSCRing<UInt64>(capacity: 1024)
/// _ = ring.push(42)        // producer thread
/// let next = ring.pop()    // consumer thread: 42
/// ```
public final class SPSCRing<Element>: @unchecked Sendable {
    /// Slots (a power of two at least as large as asked for).
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>

    // The producer writes `tail` and reads `head`; the consumer the opposite.
    // Each side also keeps its last reading of the other's index, so a push or
    // pop touches the other side's cache line only when its view says full or
    // empty. Padding keeps the producer's and the consumer's fields on
    // different cache lines (stored properties are laid out in order).
    @usableFromInline let head = Atomic<Int>(0)
    @usableFromInline var cachedTail = 0
    let padding0: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    @usableFromInline let tail = Atomic<Int>(0)
    @usableFromInline var cachedHead = 0
    let padding1: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// A ring of at least `capacity` slots (rounded up to a power of two).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= 1 << 30, "SPSCRing capacity must be in 1...2^30")
        var size = 1
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        slots = .allocate(capacity: size)
    }

    deinit {
        let start = head.load(ordering: .relaxed), end = tail.load(ordering: .relaxed)
        for index in start..<end { (slots + (index & mask)).deinitialize(count: 1) }
        slots.deallocate()
    }

    /// Producer: appends `element`, or returns false when the ring is full.
    @inlinable
    public func push(_ element: Element) -> Bool {
        let position = tail.load(ordering: .relaxed)
        if position &- cachedHead == capacity {
            cachedHead = head.load(ordering: .acquiring)
            if position &- cachedHead == capacity { return false }
        }
        // Safety: slot position & mask is free: the consumer moved it out before
        // publishing `head` past it (acquired above).
        (slots + (position & mask)).initialize(to: element)
        tail.store(position &+ 1, ordering: .releasing)
        return true
    }

    /// Consumer: removes the oldest element, or nil when the ring is empty.
    @inlinable
    public func pop() -> Element? {
        let position = head.load(ordering: .relaxed)
        if position == cachedTail {
            cachedTail = tail.load(ordering: .acquiring)
            if position == cachedTail { return nil }
        }
        // Safety: the producer initialised this slot before publishing `tail`
        // past it (acquired above); moving it out leaves it free.
        let element = (slots + (position & mask)).move()
        head.store(position &+ 1, ordering: .releasing)
        return element
    }

    /// True when nothing is queued (exact on the consumer's thread; a hint elsewhere).
    public var isEmpty: Bool { head.load(ordering: .acquiring) == tail.load(ordering: .acquiring) }

    /// Elements queued (exact only when neither side is running).
    public var count: Int { tail.load(ordering: .acquiring) &- head.load(ordering: .acquiring) }
}
