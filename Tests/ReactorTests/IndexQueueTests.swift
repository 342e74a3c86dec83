import Testing
@testable import Reactor

/// The bounded index FIFO behind io_uring send chains, including the sort that
/// puts a failed chain's retries back in send order.
@Suite struct IndexQueueTests {
    static func drain(_ queue: IndexQueue) -> [UInt32] {
        var values: [UInt32] = []
        while let value = queue.pop() { values.append(value) }
        return values
    }

    @Test func sortsAcrossTheWrapKeepingFrontToBack() {
        let queue = IndexQueue(capacity: 5)
        // Move the head so the values wrap around the end of the storage.
        for value in [9, 9, 9] as [UInt32] { #expect(queue.push(value)) }
        for _ in 0..<3 { _ = queue.pop() }
        for value in [3, 1, 4, 0, 2] as [UInt32] { #expect(queue.push(value)) }
        #expect(!queue.push(7))   // full
        #expect(queue.last == 2)
        queue.sort(by: <)
        #expect(queue.last == 4)
        #expect(Self.drain(queue) == [0, 1, 2, 3, 4])
        #expect(queue.last == nil)
    }

    @Test func sortByAnotherKeyAndPushFront() {
        let queue = IndexQueue(capacity: 4)
        // Buffer numbers ordered by their send numbers, as the backend sorts them.
        let sendNumber: [UInt32: UInt32] = [7: 12, 5: 10, 6: 11]
        for value in [6, 7, 5] as [UInt32] { _ = queue.push(value) }
        queue.sort { sendNumber[$0]! < sendNumber[$1]! }
        #expect(queue.pushFront(1))
        #expect(Self.drain(queue) == [1, 5, 6, 7])
    }
}
