import Testing
import Foundation
import CFeedReactor
@testable import Reactor
import TestSupport

/// Wiring tests on real loopback sockets, run against every backend this build
/// and kernel have.
@Suite struct ReactorTests {
    @Test(arguments: TestEnvironment.backends)
    func batchesArriveInOrderWithSource(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, options: ReceiveOptions(slotCount: 16), handler: handler)
        let (sender, senderAddress) = try loopbackSocket()
        defer { sender.close() }
        for i in 0..<200 { try sender.send([UInt8(i & 0xFF), UInt8(i >> 8), 9, 9], to: address) }
        try pump(reactor) { handler.payloads.count == 200 }
        #expect(handler.payloads.map { Int($0[0]) | Int($0[1]) << 8 } == Array(0..<200))
        #expect(handler.sources.allSatisfy { $0 == senderAddress })
        #expect(handler.truncated.allSatisfy { !$0 })
        #expect(reactor.counters.datagrams == 200)
        // 16 slots: at least 200/16 batches, each at most 16.
        #expect(handler.batches >= 13)
    }

    @Test(arguments: TestEnvironment.backends)
    func oversizedDatagramIsFlaggedTruncated(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, options: ReceiveOptions(slotCount: 4, slotSize: 64), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([UInt8](repeating: 7, count: 100), to: address)
        try sender.send([UInt8](repeating: 8, count: 64), to: address)
        try pump(reactor) { handler.payloads.count == 2 }
        #expect(handler.truncated == [true, false])
        #expect(handler.payloads[0].count <= 64)
        #expect(handler.payloads[1].count == 64)
    }

    @Test(arguments: TestEnvironment.backends)
    func deregisterInsideOwnCallbackStopsDelivery(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        let token = try reactor.register(socket, options: ReceiveOptions(slotCount: 1), handler: handler)
        handler.onReceive = { batch, reactor in
            // The batch stays readable after deregistering: copy happened before,
            // and reading it again here must not crash.
            #expect(reactor.deregister(batch.token))
            #expect(batch[0].bytes.count == 3)
        }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        for _ in 0..<5 { try sender.send([1, 2, 3], to: address) }
        try pump(reactor) { handler.payloads.count >= 1 }
        for _ in 0..<5 { _ = try reactor.poll() }
        #expect(handler.payloads.count == 1, "no delivery after deregistration")
        #expect(!reactor.deregister(token), "stale token")
        #expect(reactor.registrationCount == 0)
    }

    @Test(arguments: TestEnvironment.backends)
    func staleTokenAfterSlotReuse(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (a, _) = try loopbackSocket()
        let first = try reactor.register(a, handler: CollectingHandler())
        #expect(reactor.deregister(first))
        let (b, address) = try loopbackSocket()
        let handler = CollectingHandler()
        let second = try reactor.register(b, handler: handler)
        #expect(second.slot == first.slot && second.generation != first.generation)
        #expect(!reactor.deregister(first), "the old token must not close the new registration")
        #expect(reactor.socket(for: first) == nil)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([5], to: address)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.payloads == [[5]])
    }

    @Test(arguments: TestEnvironment.backends)
    func deregisterOtherSocketWithPendingEvents(backend: BackendKind) throws {
        // Two sockets both readable in the same wait; the first callback closes
        // the second: its already-reaped event must be dropped, not delivered.
        let reactor = try Reactor(backend: backend)
        let (s1, a1) = try loopbackSocket()
        let (s2, a2) = try loopbackSocket()
        let h1 = CollectingHandler(), h2 = CollectingHandler()
        let t1 = try reactor.register(s1, handler: h1)
        let t2 = try reactor.register(s2, handler: h2)
        var closedOther = false
        let closer: (DatagramBatch, Reactor) throws -> Void = { batch, reactor in
            if !closedOther {
                closedOther = true
                reactor.deregister(batch.token == t1 ? t2 : t1)
            }
        }
        h1.onReceive = closer
        h2.onReceive = closer
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: a1)
        try sender.send([2], to: a2)
        try pump(reactor) { h1.payloads.count + h2.payloads.count >= 1 }
        for _ in 0..<3 { _ = try reactor.poll() }
        #expect(h1.payloads.count + h2.payloads.count == 1)
        #expect(reactor.registrationCount == 1)
    }

    @Test(arguments: TestEnvironment.backends)
    func throwingHandlerIsReportedAndKeepsRunning(backend: BackendKind) throws {
        struct Boom: Error {}
        let reactor = try Reactor(backend: backend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        handler.onReceive = { _, _ in throw Boom() }
        try reactor.register(socket, options: ReceiveOptions(slotCount: 1), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        for _ in 0..<3 { try sender.send([1], to: address) }
        try pump(reactor) { handler.payloads.count == 3 }
        #expect(handler.errors.count == 3)
        #expect(handler.errors.allSatisfy { $0 is Boom })
        #expect(reactor.counters.handlerErrors == 3)
    }

    @Test(arguments: TestEnvironment.backends)
    func peerThatWentAwayIsReportedNotFatal(backend: BackendKind) throws {
        // A connected socket whose peer closed: sends provoke ICMP port
        // unreachable, the next receive reports ECONNREFUSED. The reactor hands
        // it to the handler and keeps the registration working.
        let reactor = try Reactor(backend: backend)
        let (peer, peerAddress) = try loopbackSocket()
        let (socket, address) = try loopbackSocket()
        try socket.connect(to: peerAddress)
        let handler = CollectingHandler()
        let token = try reactor.register(socket, handler: handler)
        peer.close()
        let mine = reactor.socket(for: token)!
        _ = try? mine.send([1, 2, 3])
        try pump(reactor, cycles: 50) { !handler.errors.isEmpty }
        let refused = handler.errors.contains { error in
            if case ReactorError.system(let e) = error { return e.errno == ECONNREFUSED }
            return false
        }
        #expect(refused)
        #expect(reactor.counters.socketErrors >= 1)
        // Still registered, and still receiving, from a new peer (connected anew:
        // rebinding the closed peer's port could race another test for it).
        let (revived, revivedAddress) = try loopbackSocket()
        defer { revived.close() }
        try mine.connect(to: revivedAddress)
        try revived.send([42], to: address)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.payloads == [[42]])
    }

    @Test func socketWeClosedWhilePeerKeepsSending() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        let token = try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: address)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(reactor.deregister(token))
        for _ in 0..<100 { _ = try? sender.send([2], to: address) }
        for _ in 0..<5 { #expect(try reactor.poll() == 0) }
        #expect(handler.payloads.count == 1)
    }

    @Test func injectedReceiveErrorsAreCountedAndSurvived() throws {
        defer { SystemFaults.reset() }
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: address)
        SystemFaults.inject(.recvmmsg, errno: ENOBUFS)
        SystemFaults.inject(.epollWait, errno: EINTR)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.payloads == [[1]])
        #expect(reactor.counters.socketErrors == 1)
        #expect(handler.errors.count == 1)
        // ENOBUFS on send is the caller's to count: a typed error, not a crash.
        SystemFaults.inject(.sendto, errno: ENOBUFS)
        #expect(throws: SystemError(call: "sendto", errno: ENOBUFS)) { try sender.send([1], to: address) }
    }

    @Test func signalInterruptingABlockedWaitIsRetried() throws {
        // A real EINTR: SIGUSR1 with a handler (no SA_RESTART) hits the thread
        // blocked in epoll_pwait2. The wait returns early; the cycle reports no
        // work and the next cycle receives normally.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(SIGUSR1, &action, nil)
        // Test threads come from a pool that blocks signals: unblock SIGUSR1 here.
        var unblock = sigset_t(), previous = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let target = pthread_self()
        let done = System.Latch()
        let interrupter = ReactorThread()
        try interrupter.start { thread in
            thread.ready()
            // Keep signalling, every millisecond, until the reactor thread has left
            // its first wait (a timed wait on the latch, which ends it at once).
            for _ in 0..<2000 {
                pthread_kill(target, SIGUSR1)
                if done.wait(nanoseconds: 1_000_000) { return }
            }
        }
        let start = fr_monotonic_ns()
        let work = try reactor.runOnce(timeout: 5_000_000_000)
        let elapsed = fr_monotonic_ns() - start
        done.open()
        interrupter.join()
        #expect(work == 0)
        #expect(elapsed < 4_000_000_000, "EINTR must end the wait, not be swallowed for the full timeout")
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([3], to: address)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.payloads == [[3]])
    }

    @Test func bugErrnoTrapsNamingTheCall() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let socket = try! UDPSocket()
            socket.close()
            _ = try? socket.send([1], to: SocketAddress("127.0.0.1", port: 40_001))
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("sendto returned Bad file descriptor"), "the trap names the call: \(message)")
        #expect(message.contains("a FeedReactor bug"))
    }

    @Test func registrationCapacityIsEnforced() throws {
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.maxRegistrations = 2
        let reactor = try Reactor(configuration)
        try reactor.register(try loopbackSocket().0, handler: CollectingHandler())
        try reactor.register(try loopbackSocket().0, handler: CollectingHandler())
        let (third, _) = try loopbackSocket()
        defer { third.close() }
        #expect(throws: ReactorError.registrationCapacityExhausted(capacity: 2)) {
            try reactor.register(third, handler: CollectingHandler())
        }
    }
}
