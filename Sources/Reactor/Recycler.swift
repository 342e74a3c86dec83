/// Objects handed back for reuse, at most `capacity`, released for reuse only
/// at the start of the next duty cycle: a dispatch loop still holding one it
/// just deregistered (and checking `isOpen` on it) never sees it come back to
/// life as somebody else's within the same cycle. With it, accepting and
/// closing TCP connections after warm-up allocates no registration objects.
///
/// Both arrays are reserved at `init`: retiring and taking never allocate.
/// Belongs to one reactor thread.
struct Recycler<Object: AnyObject> {
    private var retired: ContiguousArray<Object> = []
    private var spare: ContiguousArray<Object> = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        retired.reserveCapacity(capacity)
        spare.reserveCapacity(capacity)
    }

    /// Keeps `object` for reuse after this cycle (dropped when `capacity` are kept).
    @inline(__always)
    mutating func retire(_ object: Object) {
        guard retired.count + spare.count < capacity else { return }
        retired.append(object)
    }

    /// The start of a duty cycle: what was retired before it may be reused.
    @inline(__always)
    mutating func releaseRetired() {
        guard !retired.isEmpty else { return }
        // Index, don't iterate: iterating would retain the array, and removeAll
        // would then copy it instead of keeping its capacity.
        for index in 0..<retired.count { spare.append(retired[index]) }
        retired.removeAll(keepingCapacity: true)
    }

    /// An object to reuse, or nil (the caller allocates one).
    @inline(__always)
    mutating func take() -> Object? { spare.popLast() }

    /// Objects waiting to be reused or released (tests).
    var count: Int { retired.count + spare.count }
}
