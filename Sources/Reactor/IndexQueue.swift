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

    /// The value at the back (the last pushed), if any.
    var last: UInt32? { count > 0 ? storage[(head + count - 1) % capacity] : nil }

    /// Puts the values in order, front to back (an insertion sort: for the
    /// short, nearly ordered queues of a retried send chain).
    func sort(by areInIncreasingOrder: (UInt32, UInt32) -> Bool) {
        guard count > 1 else { return }
        for i in 1..<count {
            let value = storage[(head + i) % capacity]
            var j = i
            while j > 0 && areInIncreasingOrder(value, storage[(head + j - 1) % capacity]) {
                storage[(head + j) % capacity] = storage[(head + j - 1) % capacity]
                j -= 1
            }
            storage[(head + j) % capacity] = value
        }
    }
}
