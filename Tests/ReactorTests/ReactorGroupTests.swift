import Testing
import Synchronization
@testable import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ReactorGroupTests {
    /// Two CPUs where there are two, else both reactors on CPU 0.
    static var cpus: [Int] { System.onlineCPUs > 1 ? [0, 1] : [0, 0] }

    @Test func startPinsEachReactorAndStopJoinsThem() throws {
        let group = ReactorGroup(cpus: Self.cpus)
        let setups = Locked<[Int]>([])
        try group.start { index, _ in setups.withLock { $0.append(index) } }
        #expect(setups.withLock { $0.sorted() } == [0, 1], "setup ran once per reactor before start returned")
        #expect(group.members.map(\.cpu) == Self.cpus)
        for index in 0..<2 {
            let affinity = try group.perform(on: index) { _ in try System.currentAffinity() }
            #expect(affinity == [Self.cpus[index]], "sched_getaffinity on reactor \(index)'s thread")
            let onOwnThread = try group.perform(on: index) { reactor in reactor.counters.cycles > 0 }
            #expect(onOwnThread)
        }
        try group.stop()
        #expect(group.members.isEmpty)
    }

    @Test func socketsRoundRobinAndReceiveOnTheirReactor() throws {
        let group = ReactorGroup(cpus: Self.cpus)
        try group.start()
        defer { try? group.stop() }
        final class Counter: DatagramHandler, @unchecked Sendable {
            let received = Atomic<Int>(0)
            let thread = pthread_self()
            var wrongThread = false
            func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
                if pthread_equal(pthread_self(), thread) == 0 { wrongThread = true }
                received.add(batch.count, ordering: .relaxed)
            }
        }
        var addresses: [SocketAddress] = []
        var members: [Int] = []
        let counters = Locked<[Counter]>([])
        for _ in 0..<4 {
            let (socket, address) = try loopbackSocket()
            addresses.append(address)
            let (member, _) = try group.register(socket) { _ in
                let counter = Counter()
                counters.withLock { $0.append(counter) }
                return counter
            }
            members.append(member)
        }
        #expect(members == [0, 1, 0, 1])
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        for address in addresses { for _ in 0..<10 { try sender.send([7], to: address) } }
        // Wait on the reactors, not a clock: each perform is one round trip
        // through the reactor's mailbox.
        var total = 0
        for _ in 0..<10_000 where total < 40 {
            total = counters.withLock { $0.reduce(0) { $0 + $1.received.load(ordering: .relaxed) } }
            _ = try group.perform(on: 0) { _ in 0 }
        }
        #expect(total == 40)
        #expect(counters.withLock { $0.allSatisfy { !$0.wrongThread } }, "handlers run on the thread that made them")
    }

    @Test func setupFailureStopsTheStartedReactorsAndThrows() throws {
        let group = ReactorGroup(cpus: Self.cpus)
        #expect(throws: ReactorError.invalidArgument("no")) {
            try group.start { index, _ in if index == 1 { throw ReactorError.invalidArgument("no") } }
        }
        #expect(group.members.isEmpty)
    }

    @Test func pinningToACPUThatDoesNotExistIsTyped() throws {
        let group = ReactorGroup(cpus: [0, 4095])
        #expect(throws: ReactorError.system(SystemError(call: "sched_setaffinity(cpu 4095)", errno: EINVAL))) {
            try group.start()
        }
    }

    @Test func reactorsTalkThroughAChannel() throws {
        // Reactor 0 sends 10,000 values to reactor 1 through a channel; reactor 1
        // sums them on its own thread.
        let group = ReactorGroup(cpus: Self.cpus)
        try group.start()
        defer { try? group.stop() }
        final class Sum: ChannelReceiver, @unchecked Sendable {
            let total = Atomic<UInt64>(0)
            let count = Atomic<Int>(0)
            func received(_ element: UInt64, reactor: Reactor) {
                total.add(element, ordering: .relaxed)
                count.add(1, ordering: .releasing)
            }
        }
        let sum = Sum()
        let channel = ReactorChannel<UInt64>(capacity: 1024, to: group.members[1].remote)
        try group.perform(on: 1) { reactor in reactor.attach(channel, receiver: sum) }
        let refused = try group.perform(on: 0) { _ in
            var refused = 0
            var next: UInt64 = 1
            while next <= 10_000 { if channel.send(next) { next += 1 } else { refused += 1; System.yield() } }
            return refused
        }
        for _ in 0..<100_000 where sum.count.load(ordering: .acquiring) < 10_000 { _ = try group.perform(on: 1) { _ in 0 } }
        #expect(sum.count.load(ordering: .acquiring) == 10_000)
        #expect(sum.total.load(ordering: .relaxed) == 10_000 * 10_001 / 2)
        _ = refused
    }
}

/// A value behind a lock, shareable with escaping closures.
final class Locked<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
