import Foundation
import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// A connect into a black hole: inside a network namespace made for the test,
/// nftables drops every SYN to 127.0.0.2, so a connect to a real listener there
/// gets no answer at all (no RST, no ICMP) and only the reactor's timer ends it.
/// The TCPStreamTests timeout uses a full backlog; this is the other way the
/// issue names, the one a dead host on a real network looks like.
@Suite struct TCPConnectTimeoutTests {
    struct Outcome {
        var closeReason: TCPCloseReason?
        var elapsed: UInt64 = 0
        var connectTimeouts: UInt64 = 0
        var controlEchoed = false
        var registrations = -1
    }

    final class Box: @unchecked Sendable { var result: Result<Outcome, any Error>? }

    @Test(arguments: TCPStreamTests.backends)
    func aConnectWhoseSynIsDroppedTimesOutOnTheReactorsTimer(backend: BackendKind) throws {
        guard TestEnvironment.isRoot else { print("skipped: needs root (a network namespace, nftables)"); return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            print("skipped: nft missing (apt-get install -y nftables)"); return
        }
        // Unique without shared state: the process, the backend (cases run in parallel), a random tag.
        let namespace = "frtcpto-\(getpid() % 100_000)-\(backend)-\(UInt16.random(in: 0...UInt16.max))"
        try ThrottledLink.run("ip", ["netns", "add", namespace])
        defer { _ = try? ThrottledLink.run("ip", ["netns", "del", namespace]) }
        try ThrottledLink.run("ip", ["-n", namespace, "link", "set", "dev", "lo", "up"])
        try ThrottledLink.run("ip", ["netns", "exec", namespace, "nft",
                                     "add table inet frtcp; "
                                     + "add chain inet frtcp out { type filter hook output priority 0; }; "
                                     + "add rule inet frtcp out ip daddr 127.0.0.2 tcp flags syn drop"])
        // The sockets must be made inside the namespace: a thread that entered it.
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let path = "/var/run/netns/\(namespace)"
        let thread = Thread {
            let rc = fr_netns_enter(path)
            box.result = rc == 0
                ? Result { try Self.run(backend: backend) }
                : .failure(SystemError(call: "setns(\(path))", errno: -rc))
            done.signal()
        }
        thread.start()
        done.wait()
        let outcome = try #require(box.result).get()
        #expect(outcome.closeReason == .connectTimedOut)
        #expect(outcome.connectTimeouts == 1)
        // The timer wheel's resolution is 100 µs; the cycle that fires it may come a little later.
        #expect(outcome.elapsed >= 150_000_000 && outcome.elapsed < 2_000_000_000, "\(outcome.elapsed) ns")
        #expect(outcome.controlEchoed, "a connection to 127.0.0.1 is served meanwhile")
        #expect(outcome.registrations == 4, "the timed-out connection is gone: two listeners and both ends of the control remain")
    }

    /// The test body, on a thread inside the namespace.
    static func run(backend: BackendKind) throws -> Outcome {
        let reactor = try Reactor(backend: backend)
        // A real listener behind the drop: without the rule this connect would succeed.
        let (_, blackholed) = try loopbackListener(reactor, host: "127.0.0.2", handler: AcceptingListener())
        let (_, reachable) = try loopbackListener(reactor, handler: TCPStreamTests.EchoListener())
        var outcome = Outcome()
        let client = CollectingStream()
        let start = reactor.now
        try reactor.connect(to: blackholed, timeout: 150_000_000, handler: client)
        let control = CollectingStream()
        control.onConnected = { token, reactor in _ = reactor.write(token, [1, 2, 3]) }
        try reactor.connect(to: reachable, handler: control)
        try pump(reactor, cycles: 3000, timeout: 5_000_000) { client.isClosed && control.bytes.count == 3 }
        outcome.elapsed = reactor.now - start
        outcome.closeReason = client.closeReason
        outcome.connectTimeouts = reactor.tcpCounters.connectTimeouts
        outcome.controlEchoed = control.bytes == [1, 2, 3] && !client.isConnected
        outcome.registrations = reactor.registrationCount
        return outcome
    }
}
