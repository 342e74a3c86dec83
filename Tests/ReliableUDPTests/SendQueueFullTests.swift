import Testing
import ReliableUDP
import TestSupport

/// Backpressure end to end on the fake clock: the peer stops acknowledging,
/// sends fill the send buffer and are refused (counted, typed with the limit),
/// memory stays at the configured capacity, `takeWritable()` (what `Endpoint`
/// turns into `endpointWritable`) reports room exactly once when
/// acknowledgements resume, and every `delivery` message sent before and after
/// arrives once, in order, over a lossy link.
@Suite struct SendQueueFullTests {
    @Test(arguments: [0.0, 0.05])
    func silentPeerFillsTheSendBufferThenWritableOnceAndEverythingArrives(loss: Double) throws {
        var configuration = Configuration()
        configuration.sendWindow = 32
        configuration.unreliableQueue = 8
        let pair = try ConnectionPair(configuration: configuration, seed: 1414, impairment: .lossy(loss))
        var delivered: [UInt64] = []
        var corrupt = 0
        pair.onB = { message in
            guard message.guarantee == .delivery else { return }
            if TestPayload.index(message.bytes) != message.sequence { corrupt += 1 }
            delivered.append(message.sequence)
        }
        var writableEdges = 0
        func stepCountingWritable() {
            pair.step()
            if pair.a.takeWritable() { writableEdges += 1 }
        }
        // Let the first acknowledgements settle, then the peer's packets stop arriving.
        for index in 0..<4 { try pair.a.send(.delivery, TestPayload.make(UInt64(index)), now: pair.now) }
        pair.run(limit: 10_000) { pair.a.unacknowledged == 0 }
        pair.bToA.isUp = false

        var next: UInt64 = 4
        var refusal: SendError?
        for _ in 0..<1_000 {
            do {
                try pair.a.send(.delivery, TestPayload.make(next), now: pair.now)
                next += 1
            } catch {
                refusal = error
                break
            }
            stepCountingWritable()
        }
        #expect(refusal == .wouldBlock(tier: .delivery, limit: 32))
        #expect(refusal?.description.contains("sendWindow 32") == true)
        #expect(pair.a.counters.refusedSends == 1)
        #expect(pair.a.unacknowledged == 32)  // at capacity, not beyond
        #expect(!pair.a.isWritable)
        #expect(!pair.a.takeWritable())

        // The unreliable queue: the congestion window is full of unacknowledged
        // packets, so `none` messages queue up to their limit and then are refused.
        var unreliableAccepted = 0
        var unreliableRefusal: SendError?
        for _ in 0..<100 {
            do {
                try pair.a.send(.none, [7], now: pair.now)
                unreliableAccepted += 1
            } catch {
                unreliableRefusal = error
                break
            }
        }
        #expect(unreliableRefusal == .wouldBlock(tier: .none, limit: 8))
        #expect(pair.a.queued <= 8 + 32)

        // A long silence (probe timeouts back off) keeps memory where it is.
        let silenceStart = pair.now
        for _ in 0..<20_000 where pair.now < silenceStart + 2_000_000_000 { stepCountingWritable() }
        #expect(pair.a.unacknowledged == 32)
        #expect(pair.a.state == .open)
        #expect(writableEdges == 0)
        // A refused `sendWritten` keeps the written bytes for the next try.
        let payload = TestPayload.make(next)
        payload.withUnsafeBytes { raw in _ = try? pair.a.write(raw) }
        #expect(throws: SendError.wouldBlock(tier: .delivery, limit: 32)) { try pair.a.sendWritten(.delivery, now: pair.now) }
        #expect(pair.a.writtenLength == payload.count)

        // Acknowledgements resume: room comes back and is reported once.
        pair.bToA.isUp = true
        for _ in 0..<100_000 where writableEdges == 0 { stepCountingWritable() }
        #expect(writableEdges == 1)
        #expect(pair.a.isWritable)
        try pair.a.sendWritten(.delivery, now: pair.now)
        next += 1

        // Keep sending with backpressure until 500 messages went, then drain.
        var refusalsAfter = 0
        var rounds = 0
        while rounds < 200_000 && (next < 500 || pair.a.unacknowledged > 0) {
            rounds += 1
            while next < 500 {
                do {
                    try pair.a.send(.delivery, TestPayload.make(next), now: pair.now)
                    next += 1
                } catch {
                    refusalsAfter += 1
                    break
                }
            }
            stepCountingWritable()
        }
        #expect(next == 500 && pair.a.unacknowledged == 0)
        #expect(delivered == Array(0..<500))
        #expect(corrupt == 0)
        #expect(pair.b.drops.duplicateMessage == 0 || loss > 0)
        // One edge per refusal episode that ended: never more edges than refusals.
        #expect(writableEdges >= 1 && writableEdges <= 1 + refusalsAfter)
        #expect(pair.a.counters.refusedSends == UInt64(3 + refusalsAfter))
    }
}
