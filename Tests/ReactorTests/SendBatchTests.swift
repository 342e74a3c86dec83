import Testing
@testable import Reactor
import TestSupport

@Suite struct SendBatchTests {
    /// A reactor with two registered receivers and a sender aimed at them.
    final class TwoReceivers {
        let reactor: Reactor
        let a = CollectingHandler(), b = CollectingHandler()
        let addressA: SocketAddress, addressB: SocketAddress
        let sender: UDPSocket

        init() throws {
            reactor = try Reactor(backend: .epoll)
            let (socketA, addressA) = try loopbackSocket()
            let (socketB, addressB) = try loopbackSocket()
            (self.addressA, self.addressB) = (addressA, addressB)
            try reactor.register(socketA, handler: a)
            try reactor.register(socketB, handler: b)
            sender = try loopbackSocket().0
        }

        deinit { sender.close() }
    }

    @Test func sendmmsgDeliversEveryDatagramToItsDestination() throws {
        let rig = try TwoReceivers()
        let (reactor, sender, ha, hb, addressA, addressB) = (rig.reactor, rig.sender, rig.a, rig.b, rig.addressA, rig.addressB)
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
        // Without an address: the connected peer.
        try sender.connect(to: address)
        batch.nextSlot!.copyBytes(from: [4, 5])
        #expect(batch.commit(length: 2))
        batch.nextSlot!.copyBytes(from: [6])
        #expect(batch.commit(length: 1))
        #expect(!batch.commit(length: 1))   // full
        #expect(try batch.flush(on: sender) == 2)
        try pump(reactor) { handler.payloads.count == 3 }
        #expect(handler.payloads == [[1, 2, 3], [4, 5], [6]])
    }

    @Test func partialSendKeepsTheUnsentDatagramsInOrder() throws {
        // The kernel takes 3 of 8 (as with a send buffer that fills up mid-batch):
        // the other 5 move to the front, in order, each with its own destination,
        // and the next flush sends exactly those.
        defer { SystemFaults.reset() }
        let rig = try TwoReceivers()
        let (reactor, sender, ha, hb, addressA, addressB) = (rig.reactor, rig.sender, rig.a, rig.b, rig.addressA, rig.addressB)
        let batch = SendBatch(capacity: 8, slotSize: 16)
        for i in 0..<8 {
            // Different lengths, so a slot moved without its length would show.
            let bytes = [UInt8](repeating: UInt8(i), count: i + 1)
            #expect(bytes.withUnsafeBytes { batch.append($0, to: i < 4 ? addressA : addressB) })
        }
        SystemFaults.limit(.sendmmsg, to: 3)
        #expect(try batch.flush(on: sender) == 3)
        #expect(batch.count == 5)
        try pump(reactor) { ha.payloads.count == 3 }
        #expect(ha.payloads == [[0], [1, 1], [2, 2, 2]])
        #expect(hb.payloads.isEmpty)
        #expect(try batch.flush(on: sender) == 5)
        #expect(batch.count == 0)
        try pump(reactor) { ha.payloads.count == 4 && hb.payloads.count == 4 }
        #expect(ha.payloads.last == [UInt8](repeating: 3, count: 4))
        #expect(hb.payloads == (4..<8).map { [UInt8](repeating: UInt8($0), count: $0 + 1) })
    }
}
