import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

@Suite struct ByteRingTests {
    @Test func writeConsumeWrapsAndKeepsOrder() {
        var ring = ByteRing.allocate(capacity: 8)
        defer { ring.deallocate() }
        #expect(([1, 2, 3, 4, 5, 6] as [UInt8]).withUnsafeBytes { ring.write($0) } == 6)
        ring.consume(4)
        // 2 held at offsets 4..5; six more wrap: 2 at the end, 4 at the start.
        let accepted = ([7, 8, 9, 10, 11, 12, 13] as [UInt8]).withUnsafeBytes { ring.write($0) }
        #expect(accepted == 6)   // only 6 free
        #expect(ring.isFull)
        let spans = ring.readable
        #expect(spans.first.count == 4 && spans.second.count == 4)
        #expect(spans.array == [5, 6, 7, 8, 9, 10, 11, 12])
        ring.consume(8)
        #expect(ring.isEmpty && ring.head == 0)   // empty: back to the start, contiguous again
    }

    @Test func writableSpansFillInOrder() {
        var ring = ByteRing.allocate(capacity: 10)
        defer { ring.deallocate() }
        _ = [UInt8](repeating: 1, count: 7).withUnsafeBytes { ring.write($0) }
        ring.consume(5)
        let spans = ring.writable
        #expect(spans.first.count == 3 && spans.second.count == 5)
        spans.first.copyBytes(from: [2, 2, 2])
        spans.second.copyBytes(from: [3, 3])
        ring.commit(5)
        #expect(ring.readable.array == [1, 1, 2, 2, 2, 3, 3])
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 2)
        defer { iov.deallocate() }
        #expect(ring.readableVectors(iov) == 2)
        #expect(iov[0].iov_len + iov[1].iov_len == 7)
        #expect(ring.writableVectors(iov) == 1 && iov[0].iov_len == 3)
    }

    @Test func randomOperationsMatchAnArrayModel() {
        var generator = SeededGenerator(seed: 7)
        var ring = ByteRing.allocate(capacity: 97)
        defer { ring.deallocate() }
        var model: [UInt8] = []
        var next: UInt8 = 0
        for _ in 0..<5000 {
            if Bool.random(using: &generator) {
                let n = Int.random(in: 0...60, using: &generator)
                let bytes = (0..<n).map { _ in next &+= 1; return next }
                let accepted = bytes.withUnsafeBytes { ring.write($0) }
                #expect(accepted == min(n, 97 - model.count))
                model += bytes.prefix(accepted)
                next &-= UInt8(truncatingIfNeeded: n - accepted)
            } else {
                let n = Int.random(in: 0...model.count, using: &generator)
                ring.consume(n)
                model.removeFirst(n)
            }
            #expect(ring.count == model.count)
        }
        #expect(ring.readable.array == model)
    }

    @Test func spansReadAcrossTheSeam() {
        let a: [UInt8] = [0x00, 0x05, 1, 2]
        let b: [UInt8] = [3, 4, 5, 0x01]
        a.withUnsafeBytes { first in
            b.withUnsafeBytes { second in
                let spans = ByteSpans(first: first, second: second)
                #expect(spans.count == 8)
                #expect(spans.loadBigEndianUInt16(at: 0) == 5)
                #expect(spans.loadBigEndianUInt16(at: 3) == 0x0203)
                #expect(spans.contiguous(from: 2, count: 2).map(Array.init) == [1, 2])
                #expect(spans.contiguous(from: 4, count: 3).map(Array.init) == [3, 4, 5])
                #expect(spans.contiguous(from: 2, count: 5) == nil)
                var out = [UInt8](repeating: 0, count: 5)
                out.withUnsafeMutableBytes { spans.copyBytes(from: 2, count: 5, into: $0.baseAddress!) }
                #expect(out == [1, 2, 3, 4, 5])
                #expect(spans[7] == 1)
            }
        }
    }
}
