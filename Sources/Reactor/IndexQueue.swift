/// A bounded FIFO of small indices (send buffer numbers), allocated once:
/// push at the back, push back at the front, pop from the front. Single-threaded.
final class IndexQueue {
    let capacity: Int
    private let storage: UnsafeMutablePointer<UInt32>
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = .allocate(filledWith: 0, count: self.capacity)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    func push(_ value: UInt32) -> Bool {
        guard count < capacity else { return false }
        storage[(head + count) % capacity] = value
        count += 1
        return true
    }

    @inline(__always)
    func pushFront(_ value: UInt32) -> Bool {
        guard count < capacity else { return false }
        head = (head + capacity - 1) % capacity
        storage[head] = value
        count += 1
        return true
    }

    @inline(__always)
    func pop() -> UInt32? {
        guard count > 0 else { return nil }
        let value = storage[head]
        head = (head + 1) % capacity
        count -= 1
        return value
    }
}
