import Testing
import CFeedReactor
@testable import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct MailboxTests {
    /// The eventfd's counter: how many writes since it was last read. Read and
    /// written back, so the reactor still sees its wakeup.
    func eventfdWrites(_ remote: RemoteHandle) -> UInt64 {
        var value: UInt64 = 0
        _ = read(remote.eventDescriptor, &value, 8)
        if value > 0 { var back = value; _ = write(remote.eventDescriptor, &back, 8) }
        return value
    }

    @Test(arguments: TestEnvironment.backends)
    func aBurstOfPostsWritesTheEventfdOnce(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let remote = reactor.remote
        final class Count: @unchecked Sendable { var ran = 0 }
        let count = Count()
        for _ in 0..<100 { remote.post { count.ran += 1 } }
        #expect(eventfdWrites(remote) == 1, "one write for 100 posts: a wakeup was pending")
        try pump(reactor) { count.ran == 100 }
        #expect(reactor.counters.posted == 100)
        // After the drain, the next post writes again.
        remote.post { reactor in count.ran += reactor.counters.posted == 100 ? 1 : 1000 }
        #expect(eventfdWrites(remote) == 1)
        try pump(reactor) { count.ran == 101 }
    }

    @Test func postHandsTheReactorToTheClosure() throws {
        let reactor = try Reactor(backend: .epoll)
        final class Seen: @unchecked Sendable { var same = false }
        let seen = Seen()
        let identity = ObjectIdentifier(reactor)
        reactor.remote.post { target in seen.same = ObjectIdentifier(target) == identity }
        try pump(reactor) { seen.same }
    }

    @Test func stopAfterCloseIsHarmless() throws {
        // Another thread may still hold the handle after the reactor closed: its
        // eventfd lives as long as the handle, so this writes to nothing reused.
        var reactor: Reactor? = try Reactor(backend: .epoll)
        let remote = reactor!.remote
        reactor = nil
        remote.stop()
        remote.post { _ in }
        #expect(eventfdWrites(remote) == 1)
    }
}
