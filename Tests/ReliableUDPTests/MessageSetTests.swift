import Testing
import ReliableUDP

/// Message sets: any order inside a set, sets keep their order (per tier).
@Suite struct MessageSetTests {
    static func pair() throws -> (Connection, Connection) {
        (try Connection(localID: 1, peerID: 2, now: 0), try Connection(localID: 2, peerID: 1, now: 0))
    }

    /// One datagram per message: each send is flushed at once.
    static func datagrams(_ sender: Connection, _ sends: [(Guarantee, UInt8)], set: ClosedRange<Int>?) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for (index, (tier, byte)) in sends.enumerated() {
            if set?.lowerBound == index { sender.beginSet() }
            try sender.send(tier, [byte], now: 0)
            if set?.upperBound == index { sender.endSet() }
            out += sender.flushed(now: 0)
        }
        return out
    }

    @Test func deliverySetMayBeYieldedInAnyOrderButBeforeLaterMessages() throws {
        let (a, b) = try Self.pair()
        let sent = try Self.datagrams(a, [(.delivery, 0), (.delivery, 1), (.delivery, 2), (.delivery, 3)], set: 0...2)
        #expect(sent.count == 4)
        var order: [UInt8] = []
        for index in [2, 3, 1, 0] { b.receive(sent[index], now: 0) { order.append($0.bytes[0]) } }
        #expect(order == [2, 1, 0, 3])
        // Everything again: duplicates, none delivered twice.
        for datagram in sent { b.receive(datagram, now: 0) { order.append($0.bytes[0]) } }
        #expect(order == [2, 1, 0, 3])
        #expect(b.drops.duplicatePacket == 4)
    }

    @Test func deliveryOutsideASetWaitsForTheGap() throws {
        let (a, b) = try Self.pair()
        let sent = try Self.datagrams(a, [(.delivery, 0), (.delivery, 1), (.delivery, 2)], set: nil)
        var order: [UInt8] = []
        for index in [2, 1, 0] { b.receive(sent[index], now: 0) { order.append($0.bytes[0]) } }
        #expect(order == [0, 1, 2])
    }

    @Test func orderSetAcceptsAnyOrderInsideButNothingFromAnEarlierSet() throws {
        let (a, b) = try Self.pair()
        let sent = try Self.datagrams(a, [(.order, 0), (.order, 1), (.order, 2), (.order, 3)], set: 0...2)
        var order: [UInt8] = []
        for index in [2, 0, 3, 1] { b.receive(sent[index], now: 0) { order.append($0.bytes[0]) } }
        #expect(order == [2, 0, 3])
        #expect(b.drops.lateOrdered == 1)
    }

    @Test func mixedTiersInOneSet() throws {
        let (a, b) = try Self.pair()
        let sent = try Self.datagrams(a, [(.delivery, 0), (.none, 1), (.order, 2), (.delivery, 3)], set: 0...3)
        var order: [UInt8] = []
        for index in [3, 2, 1, 0] { b.receive(sent[index], now: 0) { order.append($0.bytes[0]) } }
        #expect(order == [3, 2, 1, 0])
    }

    @Test func writeBuildsOneMessage() throws {
        let (a, b) = try Self.pair()
        try Array("Hello".utf8).withUnsafeBytes { try a.write($0) }
        try Array(", there.".utf8).withUnsafeBytes { try a.write($0) }
        try a.sendWritten(.order, now: 0)
        try a.send(.delivery, Array("General Kenobi!".utf8), now: 0)
        var texts: [String] = []
        for datagram in a.flushed(now: 0) { b.receive(datagram, now: 0) { texts.append(String(decoding: $0.bytes, as: UTF8.self)) } }
        #expect(texts == ["Hello, there.", "General Kenobi!"])
        #expect(a.writtenLength == 0)
    }

    @Test func tooLargeIsRefusedNamingTheLimit() throws {
        let (a, _) = try Self.pair()
        #expect(throws: SendError.messageTooLarge(size: 1025, limit: 1024)) {
            try a.send(.delivery, [UInt8](repeating: 0, count: 1025), now: 0)
        }
        #expect(SendError.messageTooLarge(size: 1025, limit: 1024).description.contains("maxMessageSize 1024"))
        try [UInt8](repeating: 0, count: 1000).withUnsafeBytes { try a.write($0) }
        #expect(throws: SendError.messageTooLarge(size: 1100, limit: 1024)) {
            try [UInt8](repeating: 0, count: 100).withUnsafeBytes { try a.write($0) }
        }
    }
}
