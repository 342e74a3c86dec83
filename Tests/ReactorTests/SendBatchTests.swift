import Testing
import Reactor
import TestSupport

@Suite struct SendBatchTests {
    @Test func sendmmsgDeliversEveryDatagramToItsDestination() throws {
        let reactor = try Reactor(backend: .epoll)
        let (a, addressA) = try loopbackSocket()
        let (b, addressB) = try loopbackSocket()
        let ha = CollectingHandler(), hb = CollectingHandler()
        try reactor.register(a, handler: ha)
        try reactor.register(b, handler: hb)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        let batch = SendBatch(capacity: 8, slotSize: 16)
        for i in 0..<8 {
            let bytes: [UInt8] = [UInt8(i), 0xAB]
            #expect(bytes.withUnsafeBytes { batch.append($0, to: i.isMultiple(of: 2) ? addressA : addressB) })
        }
        #expect(batch.isFull)
        #expect(![UInt8](repeating: 0, count: 17).withUnsafeBytes { batch.append($0, to: addressA) })
        #expect(try batch.flush(on: sender) == 8)
        #expect(batch.count == 0)
        try pump(reactor) { ha.payloads.count == 4 && hb.payloads.count == 4 }
        #expect(ha.payloads.map { $0[0] } == [0, 2, 4, 6])
        #expect(hb.payloads.map { $0[0] } == [1, 3, 5, 7])
    }

    @Test func writeInPlaceThenCommit() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        let batch = SendBatch(capacity: 2, slotSize: 8)
        let slot = batch.nextSlot!
        slot.copyBytes(from: [1, 2, 3])
        #expect(batch.commit(length: 3, to: address))
        #expect(try batch.flush(on: sender) == 1)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.payloads == [[1, 2, 3]])
    }
}
