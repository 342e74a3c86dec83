import Testing
import Foundation
import CFeedReactor
@testable import Reactor
import TestSupport

@Suite struct RunModeTests {
    @Test(arguments: TestEnvironment.backends)
    func pollNeverBlocks(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (socket, _) = try loopbackSocket()
        try reactor.register(socket, handler: CollectingHandler())
        _ = try reactor.schedule(after: 10_000_000_000, handler: RecordingTimer())
        let start = fr_monotonic_ns()
        for _ in 0..<1000 { #expect(try reactor.poll() == 0) }
        #expect(fr_monotonic_ns() - start < 500_000_000)
    }

    @Test(arguments: TestEnvironment.backends)
    func runOnceWaitsAtMostTheTimeout(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let start = fr_monotonic_ns()
        #expect(try reactor.runOnce(timeout: 20_000_000) == 0)
        let elapsed = fr_monotonic_ns() - start
        // At most the timeout. It may end early: a signal (EINTR) ends a wait by
        // design, and the kernel interrupts a thread a few ms after an io_uring
        // ring it used was closed (task work), which Swift Testing's reused
        // threads see. Blocking itself is checked by blockingWaitEndsAtTheNextTimer.
        #expect(elapsed < 1_000_000_000)
    }

    @Test(arguments: TestEnvironment.backends)
    func blockingWaitEndsAtTheNextTimer(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let timer = RecordingTimer()
        let deadline = reactor.now + 15_000_000
        _ = try reactor.schedule(at: deadline, tag: 1, handler: timer)
        // No timeout given: the wheel's next deadline bounds the wait.
        try pump(reactor, cycles: 100, timeout: 5_000_000_000) { !timer.fired.isEmpty }
        #expect(timer.fired.count == 1)
        #expect(timer.fired[0].now >= deadline, "never early")
        #expect(timer.fired[0].now < deadline + 200_000_000)
    }

    @Test(arguments: TestEnvironment.backends, [IdleStrategy.block, .spin, .yield, .backoff(spins: 10, yields: 10, parkNanoseconds: 20_000)])
    func runUntilStoppedUnderEachIdleStrategy(backend: BackendKind, idle: IdleStrategy) throws {
        let reactor = try Reactor(backend: backend)
        let timer = RecordingTimer()
        timer.onFire = { _, _, reactor in if timer.fired.count == 5 { reactor.stop() } }
        let period: UInt64 = 2_000_000
        let first = reactor.now + period
        _ = try reactor.schedule(at: first, period: period, handler: timer)
        try withWatchdog(reactor.remote) { try reactor.run(idle: idle) }
        #expect(timer.fired.count == 5)
        for (i, firing) in timer.fired.enumerated() { #expect(firing.now >= first + UInt64(i) * period) }
    }

    @Test func manualClockDrivesTimersDeterministically() throws {
        let clock = ManualClock()
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.clock = clock
        let reactor = try Reactor(configuration)
        let timer = RecordingTimer()
        _ = try reactor.schedule(after: 30_000_000, handler: timer)
        clock.advance(by: 29_999_999)
        #expect(try reactor.poll() == 0)
        clock.advance(by: 1)
        #expect(try reactor.poll() == 1)
        #expect(timer.fired.count == 1)
        #expect(reactor.counters.timersFired == 1)
    }

    @Test(arguments: TestEnvironment.backends)
    func postFromAnotherThreadRunsOnReactorThread(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let remote = reactor.remote
        let reactorThread = pthread_self()
        final class Box: @unchecked Sendable { var values: [Int] = []; var onReactor = true }
        let box = Box()
        let threads = (0..<4).map { t in
            Thread {
                for i in 0..<250 {
                    remote.post {
                        box.values.append(t * 1000 + i)
                        if pthread_equal(pthread_self(), reactorThread) == 0 { box.onReactor = false }
                    }
                }
            }
        }
        threads.forEach { $0.start() }
        // Blocks in the kernel until the eventfd wakes it; no sleeping.
        try pump(reactor, cycles: 10_000, timeout: 1_000_000_000) { box.values.count == 1000 }
        #expect(box.values.count == 1000)
        #expect(box.onReactor)
        for t in 0..<4 {
            let mine = box.values.filter { $0 / 1000 == t }
            #expect(mine == mine.sorted(), "one thread's posts run in posting order")
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func remoteStopEndsRunFromAnotherThread(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let remote = reactor.remote
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        handler.onReceive = { _, _ in
            Thread { remote.stop() }.start()
        }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: address)
        try withWatchdog(reactor.remote) { try reactor.run(idle: .block) }  // returns only because remote.stop() woke it
        #expect(handler.payloads.count == 1)
    }

    @Test(arguments: TestEnvironment.backends)
    func hostLoopEmbedsReactorThroughItsDescriptor(backend: BackendKind) throws {
        // The host has its own epoll set; the reactor is one descriptor in it.
        let reactor = try Reactor(backend: backend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let timer = RecordingTimer()
        _ = try reactor.schedule(after: 5_000_000, handler: timer)

        let host = fr_epoll_create()
        defer { close(host) }
        #expect(fr_epoll_ctl(host, EPOLL_CTL_ADD, reactor.descriptor, UInt32(EPOLLIN.rawValue), 77) == 0)
        let events = UnsafeMutableRawPointer.allocate(byteCount: 16 * fr_epoll_event_size(), alignment: 8)
        defer { events.deallocate() }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([9, 9], to: address)

        var sawReadable = false
        for _ in 0..<100 where handler.payloads.isEmpty || timer.fired.isEmpty {
            let timeout = reactor.nanosecondsUntilNextTimer
            let n = fr_epoll_wait(host, events.assumingMemoryBound(to: epoll_event.self), 16,
                                  timeout < 0 ? 1_000_000_000 : timeout)
            if n > 0 {
                sawReadable = true
                #expect(fr_epoll_event_data(events.assumingMemoryBound(to: epoll_event.self), 0) == 77)
            }
            _ = try reactor.poll()
        }
        #expect(sawReadable)
        #expect(handler.payloads == [[9, 9]])
        #expect(timer.fired.count == 1)
    }
}
