import Testing
@testable import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SPSCRingTests {
    @Test func fullRingRefusesAndEmptyRingSaysNil() {
        let ring = SPSCRing<Int>(capacity: 3)
        #expect(ring.capacity == 4, "rounded up to a power of two")
        #expect(ring.pop() == nil)
        for i in 0..<4 { #expect(ring.push(i)) }
        #expect(!ring.push(99), "a full ring refuses; nothing grows")
        #expect(ring.count == 4)
        #expect(ring.pop() == 0)
        #expect(ring.push(4), "one slot free again")
        #expect((0..<4).map { _ in ring.pop() } == [1, 2, 3, 4])
        #expect(ring.isEmpty)
    }

    @Test func releasesWhatIsStillQueued() {
        final class Tracked { let onDeinit: () -> Void; init(_ f: @escaping () -> Void) { onDeinit = f }; deinit { onDeinit() } }
        var released = 0
        do {
            let ring = SPSCRing<Tracked>(capacity: 4)
            for _ in 0..<3 { _ = ring.push(Tracked { released += 1 }) }
            _ = ring.pop()
            #expect(released == 1)
        }
        #expect(released == 3)
    }

    @Test func twoThreadsKeepOrderAndLoseNothing() throws {
        // A small ring, so the producer keeps finding it full and the consumer
        // keeps finding it empty: both edges are crossed many thousand times.
        let ring = SPSCRing<UInt64>(capacity: 64)
        let total: UInt64 = 50_000
        final class Tally: @unchecked Sendable { var refusals = 0 }
        let tally = Tally()
        let producer = ReactorThread()
        try producer.start { thread in
            thread.ready()
            var next: UInt64 = 0
            while next < total {
                if ring.push(next) { next += 1 } else { tally.refusals += 1; System.yield() }
            }
        }
        var expected: UInt64 = 0
        var outOfOrder = 0
        var spins = 0
        while expected < total && spins < 10_000_000 {
            if let value = ring.pop() {
                if value != expected { outOfOrder += 1 }
                expected = value + 1
            } else {
                spins += 1
                System.yield()
            }
        }
        producer.join()
        #expect(expected == total, "every item arrived")
        #expect(outOfOrder == 0, "in the order pushed")
        #expect(ring.pop() == nil)
        #expect(tally.refusals > 0, "the full ring refused the producer (and it retried)")
    }
}

@Suite struct ReactorChannelTests {
    final class Sink: ChannelReceiver {
        var values: [UInt64] = []
        var outOfOrder = 0
        func received(_ element: UInt64, reactor: Reactor) {
            if let last = values.last, element != last + 1 { outOfOrder += 1 }
            values.append(element)
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func channelBetweenTwoReactorsKeepsOrderAndWakesOnlyOnTransitions(backend: BackendKind) throws {
        // The consumer reactor blocks in the kernel; the producer thread sends
        // 100,000 values through a 256-slot ring, retrying when it is full. The
        // consumer wakes through the eventfd and sees every value in order.
        let reactor = try Reactor(backend: backend)
        let channel = ReactorChannel<UInt64>(capacity: 256, to: reactor.remote)
        let sink = Sink()
        reactor.attach(channel, receiver: sink)
        let total: UInt64 = 100_000
        let producer = ReactorThread()
        final class Tally: @unchecked Sendable { var refused = 0 }
        let tally = Tally()
        try producer.start { thread in
            thread.ready()
            var next: UInt64 = 0
            while next < total {
                if channel.send(next) { next += 1 } else { tally.refused += 1; System.yield() }
            }
        }
        try pump(reactor, cycles: 1_000_000, timeout: 1_000_000_000) { sink.values.count == Int(total) }
        producer.join()
        #expect(sink.values.first == 0 && sink.values.last == total - 1)
        #expect(sink.outOfOrder == 0)
    }

    @Test func itemsSentBeforeAttachArriveAfterIt() throws {
        let reactor = try Reactor(backend: .epoll)
        let channel = ReactorChannel<UInt64>(capacity: 8, to: reactor.remote)
        for i: UInt64 in 0..<5 { #expect(channel.send(i)) }
        // Only the empty -> non-empty edge wrote the eventfd.
        var writes: UInt64 = 0
        _ = read(reactor.remote.eventDescriptor, &writes, 8)
        #expect(writes == 1)
        _ = write(reactor.remote.eventDescriptor, &writes, 8)
        let sink = Sink()
        reactor.attach(channel, receiver: sink)
        try pump(reactor) { sink.values.count == 5 }
        #expect(sink.values == [0, 1, 2, 3, 4])
        // Re-armed: a later item wakes a blocked reactor again.
        #expect(channel.send(5))
        try pump(reactor, cycles: 5, timeout: 1_000_000_000) { sink.values.count == 6 }
        #expect(reactor.detach(channel))
        #expect(channel.send(6))
        try pump(reactor, cycles: 3, timeout: 1_000_000)
        #expect(sink.values.count == 6, "a detached channel's items stay in its ring")
    }
}
