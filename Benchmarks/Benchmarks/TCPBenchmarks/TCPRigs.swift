import BenchmarkSupport
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Consumes everything it is offered and counts it (reading the first byte so
/// the bytes are really looked at).
final class CountingStream: TCPStreamHandler {
    var bytes = 0
    var checksum: UInt64 = 0
    var token: Token?

    func connected(token: Token, reactor: Reactor) { self.token = token }

    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        if let first = spans.first.first { checksum &+= UInt64(first) }
        bytes &+= spans.count
        return spans.count
    }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
}

/// Hands every accepted connection to one handler.
final class OneHandlerListener: TCPListenerHandler {
    let handler: any TCPStreamHandler
    var accepted = 0
    init(_ handler: any TCPStreamHandler) { self.handler = handler }
    func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
        accepted &+= 1
        return handler
    }
}

/// Ends each accepted connection as soon as it is connected (the accept gate
/// measures the connection's whole life on the reactor: accept4, registration,
/// `connected`, close, deregistration, back to the pool).
final class ClosingStream: TCPStreamHandler {
    func connected(token: Token, reactor: Reactor) { reactor.close(token, flush: false) }
    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int { spans.count }
    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
}

/// Fails the run loudly: a rig that cannot make its loopback connection
/// measures nothing.
func die(_ what: String, _ error: any Error) -> Never { fatalError("\(what): \(error)") }

/// One loopback connection: the reactor's side is an accepted stream, the other
/// end a plain blocking socket in the same thread (loopback delivery is
/// synchronous: a send has landed in the peer's receive queue when it returns).
final class StreamRig {
    let reactor: Reactor
    let handler = CountingStream()
    let peer: TCPStream
    let token: Token
    let payload: UnsafeMutableRawBufferPointer
    let sink: UnsafeMutableRawBufferPointer

    init(backend: BackendKind, payloadSize: Int = 64) throws {
        reactor = try Reactor(backend: backend)
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        let address = try listener.localAddress()
        let acceptor = OneHandlerListener(handler)
        try reactor.listen(listener, handler: acceptor)
        peer = try TCPStream.connect(to: address).stream
        let handler = self.handler
        pump(reactor, what: "TCP connect") { handler.token != nil }
        token = handler.token!
        payload = .allocate(byteCount: payloadSize, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0xA5)
        sink = .allocate(byteCount: 1 << 16, alignment: 8)
        for _ in 0..<2_000 {
            read()
            write()
        }
    }

    deinit {
        peer.close()
        reactor.close()
        payload.deallocate()
        sink.deallocate()
    }

    /// The peer sends 64 bytes; the reactor reads them and hands them over.
    @inline(__always)
    func read() {
        let target = handler.bytes + payload.count
        let n = send(peer.descriptor, payload.baseAddress, payload.count, Int32(MSG_NOSIGNAL))
        precondition(n == payload.count, "TCP read rig: the peer's send failed or was short (\(n))")
        pump(reactor, what: "TCP read") { self.handler.bytes >= target }
    }

    /// The reactor writes 64 bytes (sendmsg at once); the peer reads them, so
    /// the kernel buffers never fill.
    @inline(__always)
    func write() {
        let accepted = reactor.write(token, UnsafeRawBufferPointer(payload))
        precondition(accepted == payload.count, "TCP write rig: write accepted \(accepted) bytes")
        precondition(reactor.queuedBytes(token) == 0, "TCP write rig: the kernel did not take the write at once")
        var got = 0
        while got < payload.count {
            let n = recv(peer.descriptor, sink.baseAddress, sink.count, 0)
            precondition(n > 0, "TCP write rig: the peer's recv failed (\(n))")
            got += n
        }
    }
}

/// A listener with a connection pool; each step connects a plain socket, the
/// reactor accepts it into a pooled connection and closes it at once, and the
/// client resets its end (SO_LINGER 0: no TIME_WAIT piles up over millions of
/// iterations, the ephemeral ports stay available).
final class AcceptRig {
    let reactor: Reactor
    let acceptor = OneHandlerListener(ClosingStream())
    let address: SocketAddress
    let pool = TCPConnectionPool(capacity: 8, receiveCapacity: 4096, sendCapacity: 4096)

    init(backend: BackendKind) throws {
        reactor = try Reactor(backend: backend)
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        address = try listener.localAddress()
        try reactor.listen(listener, options: TCPListenerOptions(pool: pool), handler: acceptor)
        for _ in 0..<2_000 { acceptOne() }
        precondition(pool.misses == 0 && pool.available == pool.capacity, "TCP accept rig: the pool was not used")
    }

    deinit { reactor.close() }

    @inline(__always)
    func acceptOne() {
        let target = acceptor.accepted &+ 1
        let client: TCPStream
        do {
            client = try TCPStream.connect(to: address).stream
            try client.setResetOnClose()
        } catch { die("TCP accept rig: connect", error) }
        pump(reactor, what: "TCP accept") { self.acceptor.accepted >= target }
        client.close()
    }
}
