import Reactor

/// Records everything a TCP connection's handler hears; consumes what
/// `consume` says (all by default), copying consumed bytes into `bytes`.
public final class CollectingStream: TCPStreamHandler {
    public enum Event: Equatable { case connected, writable, peerClosed, closed(TCPCloseReason) }

    public var bytes: [UInt8] = []
    public var events: [Event] = []
    public var token: Token?
    public var receivedCalls = 0
    /// How many of the offered bytes to consume (nil: all).
    public var consume: ((ByteSpans) -> Int)?
    public var onConnected: ((Token, Reactor) -> Void)?
    public var onReceived: ((ByteSpans, Token, Reactor) -> Void)?
    public var onWritable: ((Token, Reactor) -> Void)?
    /// nil: the default (close after flushing).
    public var onPeerClosed: ((Token, Reactor) -> Void)?
    public var onClosed: ((Token, TCPCloseReason, Reactor) -> Void)?

    public init() {}

    public var closeReason: TCPCloseReason? {
        for case .closed(let reason) in events { return reason }
        return nil
    }
    public var isConnected: Bool { events.contains(.connected) }
    public var isClosed: Bool { closeReason != nil }

    public func connected(token: Token, reactor: Reactor) {
        self.token = token
        events.append(.connected)
        onConnected?(token, reactor)
    }

    public func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        receivedCalls += 1
        self.token = token
        let n = max(0, min(consume?(spans) ?? spans.count, spans.count))
        bytes += Array(spans.array.prefix(n))
        onReceived?(spans, token, reactor)
        return n
    }

    public func writable(token: Token, reactor: Reactor) {
        events.append(.writable)
        onWritable?(token, reactor)
    }

    public func peerClosed(token: Token, reactor: Reactor) {
        events.append(.peerClosed)
        if let onPeerClosed { onPeerClosed(token, reactor) } else { reactor.close(token, flush: true) }
    }

    public func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
        events.append(.closed(reason))
        onClosed?(token, reason, reactor)
    }
}

/// Gives each accepted connection a handler from `make` (nil refuses), and
/// keeps them.
public final class AcceptingListener: TCPListenerHandler {
    public var accepted: [CollectingStream] = []
    public var peers: [SocketAddress] = []
    public var errors: [SystemError] = []
    public var make: () -> CollectingStream? = { CollectingStream() }

    public init() {}

    public func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
        guard let handler = make() else { return nil }
        accepted.append(handler)
        peers.append(peer)
        return handler
    }

    public func failed(_ error: SystemError, listener: Token, reactor: Reactor) { errors.append(error) }
}

/// A listener on a kernel-chosen loopback port, registered with `reactor`.
public func loopbackListener(_ reactor: Reactor, host: String = "127.0.0.1", options: TCPListenerOptions = TCPListenerOptions(),
                             handler: any TCPListenerHandler) throws -> (Token, SocketAddress) {
    let listener = try TCPListener.bound(to: SocketAddress(host, port: 0), options: options)
    let address = try listener.localAddress()
    let token = try reactor.listen(listener, options: options, handler: handler)
    return (token, address)
}

/// A seeded byte pattern (tests compare streams byte for byte).
public func patternBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = generator.next()
        for _ in 0..<8 where i < count {
            out[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return out
}

/// Writes `payload` to a stream as far as its send ring takes it, again on each
/// `writable` (hook `push` to `onConnected` and `onWritable`): whole rests, or
/// writes of seeded random sizes up to `maxWrite`. A short write ends a push.
public final class PayloadWriter {
    public let payload: [UInt8]
    public private(set) var sent = 0
    /// Writes the ring took only part of.
    public private(set) var shortWrites = 0
    var sizes: SeededGenerator?
    let maxWrite: Int

    /// - Parameter randomSizes: (seed, largest write) for random write sizes; nil writes whole rests.
    public init(_ payload: [UInt8], randomSizes: (seed: UInt64, maxWrite: Int)? = nil) {
        self.payload = payload
        sizes = randomSizes.map { SeededGenerator(seed: $0.seed) }
        maxWrite = randomSizes?.maxWrite ?? Int.max
    }

    public func push(_ token: Token, _ reactor: Reactor) {
        while sent < payload.count {
            var size = payload.count - sent
            if sizes != nil { size = min(Int.random(in: 1...maxWrite, using: &sizes!), size) }
            let n = payload.withUnsafeBytes { reactor.write(token, UnsafeRawBufferPointer(rebasing: $0[sent..<(sent + size)])) }
            sent += n
            if n < size { shortWrites += 1; return }
        }
    }
}

/// A TCP port above 40000 nobody holds, chosen by the kernel (a UDP probe is not
/// enough: another program's outgoing connection may hold the port in TIME_WAIT).
public func freeTCPPort() throws -> UInt16 {
    for _ in 0..<100 {
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        let port = try listener.localAddress().port
        listener.close()
        if port > 40_000 { return port }
    }
    throw ReactorError.invalidArgument("no free TCP port above 40000")
}
