import Testing
import ReliableUDP
import TestSupport

/// Heartbeats, dead peers, backpressure, the receive window and grouping.
@Suite struct FlowControlTests {
    @Test func heartbeatsKeepAnIdleConnectionAliveAndADeadPeerIsDeclared() throws {
        var configuration = Configuration()
        configuration.heartbeatPeriod = 100_000_000
        configuration.deadPeerTimeout = 1_000_000_000
        let pair = try ConnectionPair(configuration: configuration, impairment: .init(delay: 1_000_000))
        let start = pair.now
        pair.run(limit: 100_000) { pair.now >= start + 3_000_000_000 }
        #expect(pair.a.state == .open && pair.b.state == .open)
        #expect(pair.a.counters.heartbeatsSent >= 25 && pair.a.counters.heartbeatsSent <= 31)
        #expect(pair.b.counters.heartbeatsSent >= 25)
        pair.aToB.isUp = false
        pair.bToA.isUp = false
        let cut = pair.now
        pair.run(limit: 100_000) { pair.a.state == .dead && pair.b.state == .dead }
        #expect(pair.a.state == .dead && pair.b.state == .dead)
        #expect(pair.now - cut <= 1_010_000_000)
        #expect(pair.now - cut >= 890_000_000)
        #expect(throws: SendError.closed) { try pair.a.send(.delivery, [1], now: pair.now) }
        #expect(pair.a.nextDeadline == nil)
    }

    @Test func fullSendWindowRefusesThenRecovers() throws {
        var configuration = Configuration()
        configuration.sendWindow = 64
        let pair = try ConnectionPair(configuration: configuration, impairment: .init(delay: 1_000_000))
        var delivered: [UInt64] = []
        pair.onB = { delivered.append(TestPayload.index($0.bytes) ?? .max) }
        pair.bToA.isUp = false  // no acknowledgements come back
        for index in 0..<64 { try pair.a.send(.delivery, TestPayload.make(UInt64(index)), now: pair.now) }
        #expect(!pair.a.isWritable)
        #expect(throws: SendError.wouldBlock(tier: .delivery, limit: 64)) { try pair.a.send(.delivery, TestPayload.make(64), now: pair.now) }
        #expect(pair.a.counters.refusedSends == 1)
        pair.run(limit: 1000) { pair.now > 1_050_000_000 }
        #expect(!pair.a.isWritable)
        pair.bToA.isUp = true
        pair.run(limit: 100_000) { pair.a.isWritable }
        #expect(pair.a.isWritable)
        try pair.a.send(.delivery, TestPayload.make(64), now: pair.now)
        pair.run(limit: 100_000) { pair.a.unacknowledged == 0 }
        #expect(delivered == Array(0...64))
    }

    @Test func receiveWindowLimitsWhatIsSentPastAGap() throws {
        var configuration = Configuration()
        configuration.receiveWindow = 16
        configuration.sendWindow = 64
        let pair = try ConnectionPair(configuration: configuration, impairment: .init(delay: 1_000_000))
        var zeroDropped = false
        var zeroDelivered = false
        var highestBeforeRepair: UInt64 = 0
        pair.aToB.dropIf = { datagram in
            let sequences = Crafted.sequences(datagram)
            if !zeroDelivered, let top = sequences.max() { highestBeforeRepair = max(highestBeforeRepair, top) }
            if sequences.contains(0) && !zeroDropped { zeroDropped = true; return true }
            return false
        }
        var delivered: [UInt64] = []
        pair.onB = { message in
            if message.sequence == 0 { zeroDelivered = true }
            delivered.append(message.sequence)
        }
        for index in 0..<40 {
            try pair.a.send(.delivery, TestPayload.make(UInt64(index)), now: pair.now)
            pair.step()
        }
        pair.run(limit: 100_000) { pair.a.unacknowledged == 0 }
        #expect(delivered == Array(0..<40))
        #expect(highestBeforeRepair < 16)
        #expect(pair.b.drops.beyondWindow == 0)
    }

    @Test func groupingFlushesByDeadlineAndBySize() throws {
        var configuration = Configuration()
        configuration.grouping = .init(delay: 1_000_000)
        let a = try Connection(configuration: configuration, localID: 1, peerID: 2, now: 0)
        for index in 0..<10 { try a.send(.delivery, TestPayload.make(UInt64(index)), now: 0) }
        #expect(a.flushed(now: 0).isEmpty)
        #expect(a.flushed(now: 500_000).isEmpty)
        #expect(a.nextDeadline == 1_000_000)
        var out: [[UInt8]] = []
        a.maintain(now: 1_000_000) { out.append(Array($0)); return true }
        #expect(out.count == 1)
        #expect(Crafted.sequences(out[0]) == Array(0..<10))
        // By size: a datagram's worth goes at once, the remainder waits.
        for index in 10..<110 { try a.send(.delivery, TestPayload.make(UInt64(index)), now: 2_000_000) }
        let full = a.flushed(now: 2_000_000)
        #expect(full.count == 2)
        #expect(full.allSatisfy { $0.count > configuration.maxDatagramSize - 40 })
        #expect(a.flushed(now: 2_500_000).isEmpty)
        #expect(a.flushed(now: 3_000_000).count == 1)
    }

    @Test func withoutGroupingEachFlushSendsAtOnce() throws {
        let a = try Connection(localID: 1, peerID: 2, now: 0)
        var datagrams = 0
        for index in 0..<10 {
            try a.send(.delivery, TestPayload.make(UInt64(index)), now: 0)
            datagrams += a.flushed(now: 0).count
        }
        #expect(datagrams == 10)
    }
}
