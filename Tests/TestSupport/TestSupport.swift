import Reactor
import CFeedReactor

/// Collects everything a socket receives, copying bytes out of the batch.
public final class CollectingHandler: DatagramHandler {
    public var payloads: [[UInt8]] = []
    public var sources: [SocketAddress?] = []
    public var truncated: [Bool] = []
    public var errors: [any Error] = []
    public var onReceive: ((DatagramBatch, Reactor) throws -> Void)?
    public var batches = 0

    public init() {}

    public func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
        batches += 1
        for datagram in batch {
            payloads.append(Array(datagram.bytes))
            sources.append(datagram.source)
            truncated.append(datagram.isTruncated)
        }
        try onReceive?(batch, reactor)
    }

    public func failed(_ error: any Error, token: Token, reactor: Reactor) {
        errors.append(error)
    }
}

/// Records timer firings.
public final class RecordingTimer: TimerHandler {
    public var fired: [(handle: TimerHandle, tag: UInt64, now: UInt64)] = []
    public var onFire: ((TimerHandle, UInt64, Reactor) -> Void)?
    public init() {}
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        fired.append((timer, tag, now))
        onFire?(timer, tag, reactor)
    }
}

public enum TestEnvironment {
    public static var isRoot: Bool { fr_geteuid() == 0 }
    /// Backends available to parameterised tests (io_uring where built and allowed).
    public static var backends: [BackendKind] {
        var kinds: [BackendKind] = [.epoll]
        if (try? Reactor(backend: .uring)) != nil { kinds.append(.uring) }
        return kinds
    }
}

/// A loopback socket on a kernel-chosen port.
public func loopbackSocket(_ host: String = "127.0.0.1") throws -> (UDPSocket, SocketAddress) {
    let socket = try UDPSocket.bound(to: SocketAddress(host, port: 0))
    return (socket, try socket.localAddress())
}

/// `pump` ran out of cycles before its condition held.
public struct PumpTimedOut: Error, CustomStringConvertible {
    public let cycles: Int
    public let location: String
    public var description: String { "\(location): condition still false after \(cycles) duty cycles" }
}

/// Polls until `condition` holds or `cycles` duty cycles of at most `timeout` ns
/// pass; then throws `PumpTimedOut` (naming the caller's line), so a test that
/// waits for something that never happens fails instead of asserting on a
/// half-done state. Waiting is on the reactor (the kernel wakes it when data
/// arrives), not sleeping. Returns the cycles it took.
@discardableResult
public func pump(_ reactor: Reactor, cycles: Int = 1000, timeout: UInt64 = 10_000_000,
                 file: StaticString = #fileID, line: UInt = #line, until condition: () -> Bool) throws -> Int {
    var n = 0
    while !condition() {
        guard n < cycles else { throw PumpTimedOut(cycles: cycles, location: "\(file):\(line)") }
        _ = try reactor.runOnce(timeout: timeout)
        n += 1
    }
    return n
}

/// Runs exactly `cycles` duty cycles (for tests that show nothing happens).
public func pump(_ reactor: Reactor, cycles: Int, timeout: UInt64 = 10_000_000) throws {
    for _ in 0..<cycles { _ = try reactor.runOnce(timeout: timeout) }
}

/// `run()` did not return by itself before its watchdog's deadline.
public struct WatchdogFired: Error, CustomStringConvertible {
    public let seconds: Double
    public let location: String
    public var description: String { "\(location): run() still running after \(seconds) s; the watchdog stopped it" }
}

final class WatchdogState: @unchecked Sendable {
    let done = System.Latch()
    var fired = false
}

/// Runs `body` with the calling thread on one CPU, then gives the thread its
/// CPUs back. For wiring tests that check arrival order over a veth pair: each
/// CPU has its own receive backlog, so datagrams handed to the pair from two
/// CPUs (a sender that migrates, its qdisc's timer on the other CPU) can arrive
/// in another order than they were sent.
public func onOneCPU<R>(_ body: () throws -> R) throws -> R {
    let cpus = try System.currentAffinity()
    try System.pinCurrentThread(toCPU: cpus[0])
    defer { try? System.setAffinity(cpus) }
    return try body()
}

/// Runs `body` (which calls `reactor.run(...)`) with a watchdog: a thread that,
/// if `body` has not returned within `seconds`, calls `remote.stop()` and makes
/// this throw `WatchdogFired`. A test whose stop condition never comes fails
/// instead of hanging the suite.
public func withWatchdog<R>(_ remote: RemoteHandle, seconds: Double = 10, file: StaticString = #fileID, line: UInt = #line,
                            _ body: () throws -> R) throws -> R {
    let state = WatchdogState()
    let watchdog = ReactorThread()
    try watchdog.start { thread in
        thread.ready()
        if !state.done.wait(nanoseconds: UInt64(seconds * 1e9)) {
            state.fired = true
            remote.stop()
        }
    }
    let result: Result<R, any Error> = Result { try body() }
    state.done.open()
    watchdog.join()
    if state.fired { throw WatchdogFired(seconds: seconds, location: "\(file):\(line)") }
    return try result.get()
}
