import Testing
import ReliableUDP
import TestSupport

/// Truncated and garbage datagrams, forged connection ids, acknowledgements for
/// data never sent, absurd windows: counted drops, no crash, state intact.
@Suite struct BadInputTests {
    @Test func truncatedAndGarbageDatagramsAreCountedDrops() throws {
        let a = try Connection(localID: 1, peerID: 2, now: 0)
        let b = try Connection(localID: 2, peerID: 1, now: 0)
        try a.asSet { () throws(SendError) in
            try a.send(.delivery, TestPayload.make(0, size: 40), now: 0)
            try a.send(.order, TestPayload.make(1), now: 0)
        }
        let valid = a.flushed(now: 0)[0]
        var delivered = 0
        var accepted = 0
        var small = Configuration()
        small.sendWindow = 16
        small.receiveWindow = 16
        small.maxMessageSize = 64
        small.maxDatagramSize = 512
        var truncatedFrames: UInt64 = 0
        var truncatedHeaders: UInt64 = 0
        for length in 0..<valid.count {
            // A fresh receiver each time: an accepted prefix would make the rest duplicates.
            let receiver = try Connection(configuration: small, localID: 2, peerID: 1, now: 0)
            if receiver.receive(Array(valid[0..<length]), now: 0, deliver: { _ in delivered += 1 }) { accepted += 1 }
            truncatedFrames += receiver.drops.malformed(.truncatedFrame)
            truncatedHeaders += receiver.drops.malformed(.truncatedHeader)
        }
        // Only the cuts at frame boundaries are whole packets: the bare header and
        // the one with just the first (order) frame.
        #expect(accepted == 2)
        #expect(delivered == 1)
        #expect(truncatedHeaders == 20)
        #expect(truncatedFrames == UInt64(valid.count - 20 - 2))
        var random = SeededGenerator(seed: 99)
        for _ in 0..<20_000 {
            let length = Int(random.next() % 200)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if length > 20 && random.next() % 2 == 0 {
                bytes.replaceSubrange(0..<20, with: Crafted.header(destination: 2, packetNumber: random.next() % 1000))
            }
            b.receive(bytes, now: 0) { _ in delivered += 1 }
        }
        #expect(b.drops.totalMalformed > 19_000)
        #expect(b.state == .open)
        // Still works afterwards.
        let fresh = try Connection(localID: 2, peerID: 1, now: 0)
        #expect(fresh.receive(valid, now: 0) { _ in delivered += 1 })
    }

    @Test func badHeaderFieldsEachHaveAReason() throws {
        let b = try Connection(localID: 2, peerID: 1, now: 0)
        let ping: [UInt8] = [3]
        #expect(!b.receive([2] + Crafted.header(destination: 2, packetNumber: 0).dropFirst() + ping, now: 0))
        #expect(!b.receive(Crafted.header(type: 9, destination: 2, packetNumber: 0) + ping, now: 0))
        #expect(!b.receive(Crafted.header(flags: 0x80, destination: 2, packetNumber: 0) + ping, now: 0))
        #expect(!b.receive(Crafted.header(destination: 2, packetNumber: 0) + [7], now: 0))
        #expect(!b.receive(Crafted.header(destination: 2, packetNumber: 0) + [1, 9] + [UInt8](repeating: 0, count: 12), now: 0))
        #expect(!b.receive(Crafted.header(destination: 2, packetNumber: 0) + Crafted.data(2, sequence: 0, setOffset: 1, payload: []), now: 0))
        #expect(!b.receive(Crafted.header(flags: 1, destination: 2, packetNumber: 0) + ping, now: 0))
        #expect(b.drops.malformed(.unsupportedVersion) == 1)
        #expect(b.drops.malformed(.unknownPacketType) == 1)
        #expect(b.drops.malformed(.reservedBitsSet) == 1)
        #expect(b.drops.malformed(.unknownFrameType) == 1)
        #expect(b.drops.malformed(.unknownGuarantee) == 1)
        #expect(b.drops.malformed(.badSetOffset) == 1)
        #expect(b.drops.malformed(.truncatedTag) == 1)
        #expect(b.receive(Crafted.header(destination: 2, packetNumber: 0) + ping, now: 0))
    }

    @Test func forgedConnectionIDsAreDropped() throws {
        let b = try Connection(localID: 2, peerID: 1, now: 0)
        for id: UInt64 in [0, 1, 3, .max] {
            #expect(!b.receive(Crafted.header(destination: id, packetNumber: 0) + Crafted.data(2, sequence: 0, payload: [1]), now: 0))
        }
        #expect(b.drops.forgedConnectionID == 4)
        #expect(b.nextExpected == 0)
    }

    @Test func acksForDataNeverSentAreDropped() throws {
        let a = try Connection(localID: 1, peerID: 2, now: 0)
        try a.send(.delivery, [1, 2, 3], now: 0)
        _ = a.flushed(now: 0)  // packet 0 in flight
        #expect(!a.receive(Crafted.header(destination: 1, packetNumber: 0) + Crafted.ack(largest: 1000, firstRange: 1000), now: 1))
        #expect(!a.receive(Crafted.header(destination: 1, packetNumber: 1) + Crafted.ack(largest: 5, firstRange: 6), now: 1))
        #expect(!a.receive(Crafted.header(destination: 1, packetNumber: 2) + Crafted.ack(largest: 0, ranges: [(0, 0)]), now: 1))
        #expect(a.drops.ackForUnsentPacket == 1)
        #expect(a.drops.malformed(.badAckRanges) == 2)
        #expect(a.unacknowledged == 1)
        #expect(a.bytesInFlight > 0)
        // The genuine acknowledgement still works.
        #expect(a.receive(Crafted.header(destination: 1, packetNumber: 3) + Crafted.ack(largest: 0), now: 1))
        #expect(a.unacknowledged == 0)
        #expect(a.bytesInFlight == 0)
    }

    @Test func absurdWindowsAreCountedAndClamped() throws {
        let a = try Connection(localID: 1, peerID: 2, now: 0)
        #expect(a.receive(Crafted.header(destination: 1, packetNumber: 0) + Crafted.ack(largest: 0, limit: .max) + [3], now: 0)
                || true)
        // largest 0 was never sent: dropped as an ack for unsent data.
        try a.send(.delivery, [1], now: 0)
        _ = a.flushed(now: 0)
        #expect(a.receive(Crafted.header(destination: 1, packetNumber: 1) + Crafted.ack(largest: 0, limit: .max), now: 1))
        #expect(a.drops.absurdWindow == 1)
        #expect(a.peerDeliveryLimit <= a.nextDeliverySequence + (1 << 31))
        #expect(a.receive(Crafted.header(destination: 1, packetNumber: 2) + Crafted.ack(largest: 0, limit: 0), now: 1))
        #expect(a.drops.absurdWindow == 2)
        #expect(a.peerDeliveryLimit > 1000)
    }

    @Test func beyondTheReceiveWindowIsNotAcknowledged() throws {
        let b = try Connection(localID: 2, peerID: 1, now: 0)
        #expect(!b.receive(Crafted.header(destination: 2, packetNumber: 0) + Crafted.data(2, sequence: 5000, payload: [1]), now: 0))
        #expect(b.drops.beyondWindow == 1)
        #expect(b.flushed(now: 10_000_000).isEmpty)  // nothing to acknowledge
    }
}
