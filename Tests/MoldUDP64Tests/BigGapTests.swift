import Reactor
import Testing
import TestSupport
@testable import MoldUDP64

/// Huge gaps, far-future sequence numbers and a full buffer: bounded memory,
/// bounded time, every range named once.
@Suite struct BigGapTests {
    let feed = MoldFeed(session: "BIGGAP", messages: MoldFeed.messages(count: 64, seed: 4))
    let server = try! SocketAddress("127.0.0.1", port: 41_077)

    func live(_ session: Session, _ first: UInt64, count: Int = 1, at now: UInt64) {
        let messages = Array(repeating: [UInt8](repeating: 0x42, count: 8), count: count)
        MoldFeed.encode(session: feed.session, sequence: first, count: UInt16(count), blocks: messages)
            .withUnsafeBytes { _ = try? session.receive($0, now: now) }
    }

    @Test func fourMillionMessageGapWithNoServerAliveIsGivenUpOnceWithinTheDeadline() throws {
        let counters = MoldCounters()
        let session = Session(configuration: .init(reorderWindowPackets: 0), counters: counters)
        let deadline: UInt64 = 3_000_000_000
        let rerequester = try Rerequester(configuration: .init(servers: [server], silenceDeadline: deadline), counters: counters)
        let sink = RequestRecorder()
        rerequester.sink = sink
        let start: UInt64 = 1_000_000_000
        live(session, 1, at: start)
        live(session, 4_000_002, at: start)      // 2...4,000,001 missing; the live feed is past it
        var now = start
        var gaveUpAt: UInt64?
        while now < start + deadline + 2_000_000_000 && gaveUpAt == nil {
            rerequester.poll(now: now, session: session)
            if !sink.unrecoverable.isEmpty { gaveUpAt = now }
            // Heartbeats go on; no server answers.
            MoldFeed.encode(session: feed.session, sequence: 4_000_003, count: 0, blocks: [])
                .withUnsafeBytes { _ = try? session.receive($0, now: now) }
            now += 1_000_000
        }
        let firstRequest = start
        #expect(sink.unrecoverable == [2..<4_000_002], "named once, whole")
        #expect(gaveUpAt.map { $0 - firstRequest <= deadline + 1_000_000_000 } == true,
                "gave up \(String(describing: gaveUpAt.map { Double($0 - firstRequest) / 1e9 })) s after the first request")
        #expect(counters.unrecoverable == 4_000_000 && counters.rangesGivenUp == 1)
        #expect(session.nextExpected == 4_000_003)
        // Requests stayed within the rate limit meanwhile.
        #expect(counters.requests <= 64 + 5_000 * (deadline / 1_000_000_000 + 1))
    }

    @Test func farFutureNumbersAndHugeBurstsStayWithinTheConfiguredBuffer() throws {
        let counters = MoldCounters()
        let configuration = Session.Configuration(reorderWindowPackets: 0, bufferBytes: 1 << 20, slotBytes: 256)
        let session = Session(configuration: configuration, counters: counters)
        let rerequester = try Rerequester(configuration: .init(servers: [server]), counters: counters)
        rerequester.sink = RequestRecorder()
        #expect(session.bufferAllocatedBytes <= 1 << 20)
        let capacity = configuration.maxBufferedPackets
        var now: UInt64 = 1_000_000_000
        live(session, 1, at: now)
        var random = SeededGenerator(seed: 77)
        // 200,000 packets: bursts of far-future numbers, forged ends of the
        // sequence space, and a live feed that skips ahead by up to 3,000 packets.
        var next: UInt64 = 2
        for round in 0..<200_000 {
            switch round % 4 {
            case 0: live(session, UInt64.random(in: 1_000_000...(1 << 62), using: &random), count: 3, at: now)
            case 1: live(session, .max - UInt64.random(in: 2...1_000, using: &random), at: now)
            case 2:
                next += UInt64.random(in: 0...30_000, using: &random)
                live(session, next, count: 10, at: now)
            default: live(session, next + UInt64.random(in: 1...1_000_000, using: &random), count: 5, at: now)
            }
            if round % 100 == 0 { rerequester.poll(now: now, session: session) }
            now += 1_000
        }
        #expect(session.bufferedPackets <= capacity)
        #expect(counters.bufferHighWater <= UInt64(capacity))
        #expect(counters.bufferDrops > 0)
        #expect(rerequester.inFlightCount <= rerequester.configuration.maxInFlight)
        #expect(session.bufferAllocatedBytes == capacity * (256 + ReorderBuffer.metadataBytesPerSlot))
    }

    @Test func aRetransmissionBetweenAMillionBufferedPacketsIsCheap() throws {
        // One-message packets at even numbers 2, 4, ... 2,000,000 wait behind the
        // gap at 1; retransmissions of odd numbers land in the middle.
        let million = 1_000_000
        let counters = MoldCounters()
        let session = Session(configuration: .init(reorderWindowPackets: 0, maxBufferedPackets: million + 10, slotBytes: 16),
                              counters: counters)
        let buffer = session.buffer
        // Fill the buffer directly (the Session's store path is covered elsewhere;
        // a million packets through it take too long in a debug build).
        for index in 0..<million {
            let slot = buffer.allocate()!
            buffer.first[slot] = UInt64(2 * index + 2)
            buffer.messageCount[slot] = 1
            buffer.byteCount[slot] = 0
            buffer.flags[slot] = .lost
            buffer.insert(slot)
        }
        #expect(session.bufferedPackets == million)
        // Each insert costs a search of the tree's depth: measure the depth.
        func depth(_ node: Int32) -> Int {
            node == ReorderBuffer.none ? 0 : 1 + max(depth(buffer.left[Int(node)]), depth(buffer.right[Int(node)]))
        }
        let treeDepth = depth(buffer.root)
        #expect(treeDepth < 60, "a treap of a million entries is about 2-3 log2(n) deep: \(treeDepth)")
        // Middle inserts and the searches the session makes around them.
        var random = SeededGenerator(seed: 5)
        for _ in 0..<10_000 {
            let odd = 2 * UInt64.random(in: 1..<UInt64(million), using: &random) + 1
            guard !buffer.covers(odd) else { continue }
            let slot = buffer.allocate()!
            buffer.first[slot] = odd
            buffer.messageCount[slot] = 1
            buffer.flags[slot] = .lost
            buffer.insert(slot)
            #expect(buffer.firstEntry(endingAfter: odd) == slot)
            buffer.remove(slot)
        }
        #expect(session.bufferedPackets == million)
        #expect(buffer.lowest.map { buffer.first[$0] } == 2)
        #expect(buffer.highest.map { buffer.first[$0] } == UInt64(2 * million))
    }
}
