/// A fixed array of per-slot values indexed by token slot, allocated once.
///
/// Held in a `let` of a class, its reads and writes carry no dynamic
/// exclusivity check: a class's `ContiguousArray` var costs a
/// `swift_beginAccess` on every access, and the reactor and its backends look
/// a slot up on every send and completion (about 1% of a loopback sender in
/// perf). The owner calls `deallocate()` in its deinit.
struct SlotTable<Element> {
    let base: UnsafeMutablePointer<Element>
    /// Slots in the table, fixed at `init`.
    let count: Int

    init(repeating value: Element, count: Int) {
        self.count = count
        base = .allocate(capacity: count)
        base.initialize(repeating: value, count: count)
    }

    @inline(__always)
    subscript(slot: Int) -> Element {
        get { base[slot] }
        nonmutating set { base[slot] = newValue }
    }

    /// Resets every slot to `value` (releasing what they held).
    func reset(to value: Element) {
        for slot in 0..<count { base[slot] = value }
    }

    /// Frees the table; it must not be used afterwards.
    func deallocate() {
        base.deinitialize(count: count)
        base.deallocate()
    }
}
