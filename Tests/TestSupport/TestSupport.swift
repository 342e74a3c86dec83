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

/// Polls until `condition` holds or `cycles` duty cycles of at most `timeout` ns pass.
/// Waiting is on the reactor (the kernel wakes it when data arrives), not sleeping.
public func pump(_ reactor: Reactor, cycles: Int = 1000, timeout: UInt64 = 10_000_000, until condition: () -> Bool) throws {
    var n = 0
    while !condition() && n < cycles {
        _ = try reactor.runOnce(timeout: timeout)
        n += 1
    }
}
