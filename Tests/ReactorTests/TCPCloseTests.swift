import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// Ending connections and listeners from inside the callbacks TCPStreamTests'
/// `closingOrDeregisteringInsideEachCallbackIsSafe` does not reach: the
/// listener's `accept`, an accepted stream's `connected`, deregistering in
/// `connected` / `writable` / `peerClosed`, and the connect completions
/// (failed, timed out) with a reconnect from inside `closed`, pooled, where the
/// connection object is reused while its old callback is still on the stack.
@Suite struct TCPCloseTests {
    static let streamPlaces = ["connected", "writable", "peerClosed"]

    @Test(arguments: TCPStreamTests.backends, streamPlaces)
    func deregisteringInsideACallbackEndsTheStreamSilently(backend: BackendKind, place: String) throws {
        let reactor = try Reactor(backend: backend)
        let server = AcceptingListener()
        let (_, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        var deregistered = 0
        var callbacksAfter = 0
        func end(_ token: Token, _ reactor: Reactor) {
            if deregistered > 0 { callbacksAfter += 1 }
            deregistered += 1
            #expect(reactor.deregister(token))
            #expect(reactor.write(token, [1]) == 0)
        }
        switch place {
        case "connected": client.onConnected = end
        case "writable":
            client.onConnected = { token, reactor in
                while reactor.write(token, [UInt8](repeating: 1, count: 65536)) == 65536 {}
            }
            client.onWritable = end
        default: client.onPeerClosed = end
        }
        client.onReceived = { _, _, _ in if deregistered > 0 { callbacksAfter += 1 } }
        try reactor.connect(to: address, handler: client)
        try pump(reactor, cycles: 3000) { server.accepted.count == 1 && client.isConnected }
        let serverToken = try #require(server.accepted.first?.token)
        if place == "peerClosed" { reactor.close(serverToken) }
        try pump(reactor, cycles: 3000) { deregistered == 1 }
        // The peer sees the descriptor close: EOF (or, unread bytes on our side, a reset).
        try pump(reactor, cycles: 3000) { server.accepted.first?.isClosed == true }
        try pump(reactor, cycles: 20)
        #expect(callbacksAfter == 0, "\(place)")
        #expect(!client.isClosed, "deregister ends a connection without closed: \(place)")
        #expect(reactor.registrationCount == 1, "only the listener is left: \(place)")
    }

    /// The listener's `accept` deregisters the listener itself: the connection it
    /// hands over is still served, later connects are refused (the socket closed).
    @Test(arguments: TCPStreamTests.backends)
    func deregisteringTheListenerInsideAcceptStillServesThatConnection(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let echo = TCPStreamTests.Echo()
        let listener = ClosureListener { _, listener, reactor in
            #expect(reactor.deregister(listener))
            #expect(!reactor.deregister(listener))
            return echo
        }
        let (token, address) = try loopbackListener(reactor, handler: listener)
        // Two connections before the first accept: only the first is taken.
        let first = CollectingStream()
        let second = CollectingStream()
        let firstToken = try reactor.connect(to: address, timeout: 2_000_000_000, handler: first)
        try reactor.connect(to: address, timeout: 2_000_000_000, handler: second)
        try pump(reactor) { listener.calls == 1 && first.isConnected && second.isClosed }
        #expect(reactor.connectionCount(listener: token) == nil)
        // The second sat in the closed listener's queue and the kernel reset it
        // (before or after its connect was seen complete), or its SYN came after
        // the close (refused): either way nobody served it.
        switch second.closeReason {
        case .reset?: break
        case .connectFailed(let error)?: #expect(error.errno == ECONNRESET || error.errno == ECONNREFUSED)
        default: Issue.record("the second connection ended as \(String(describing: second.closeReason))")
        }
        #expect(reactor.write(firstToken, [9, 8, 7]) == 3)
        try pump(reactor) { first.bytes == [9, 8, 7] }
        #expect(first.bytes == [9, 8, 7])
        #expect(listener.calls == 1)
        let late = CollectingStream()
        try reactor.connect(to: address, timeout: 2_000_000_000, handler: late)
        try pump(reactor) { late.isClosed }
        #expect(late.closeReason == .connectFailed(SystemError(call: "connect", errno: ECONNREFUSED)))
    }

    /// An accepted stream's `connected` (called from inside the accept loop)
    /// closes or deregisters it; the listener goes on accepting the next.
    @Test(arguments: TCPStreamTests.backends, ["close", "deregister"])
    func endingAnAcceptedStreamInsideConnectedKeepsTheListenerAccepting(backend: BackendKind, how: String) throws {
        let reactor = try Reactor(backend: backend)
        let pool = TCPConnectionPool(capacity: 2, receiveCapacity: 1024, sendCapacity: 1024)
        let server = AcceptingListener()
        var made = 0
        server.make = {
            made += 1
            let handler = CollectingStream()
            if made <= 3 {
                handler.onConnected = { token, reactor in
                    _ = reactor.write(token, [1])   // queued, then dropped or sent with the close
                    if how == "close" { reactor.close(token, flush: false) } else { #expect(reactor.deregister(token)) }
                }
            }
            return handler
        }
        let (listener, address) = try loopbackListener(reactor, options: TCPListenerOptions(pool: pool), handler: server)
        let clients = (0..<4).map { _ in CollectingStream() }
        for client in clients { try reactor.connect(to: address, handler: client) }
        try pump(reactor) { made == 4 && clients.filter(\.isClosed).count == 3 && clients.allSatisfy(\.isConnected) }
        #expect(reactor.connectionCount(listener: listener) == 1)
        #expect(reactor.tcpCounters.accepted == 4)
        #expect(pool.misses == 0)
        #expect(pool.available == 1)
        let kept = try #require(server.accepted.last?.token)
        let survivor = try #require(clients.first { !$0.isClosed })
        #expect(reactor.write(kept, [5, 6]) == 2)
        try pump(reactor) { survivor.bytes.count == 2 }
        #expect(survivor.bytes == [5, 6])
        if how == "close" {
            #expect(server.accepted.prefix(3).allSatisfy { $0.closeReason == .local(flushed: false) })
        } else {
            #expect(server.accepted.prefix(3).allSatisfy { !$0.isClosed })
        }
    }

    /// A failed connect and a timed-out one each reconnect from inside `closed`,
    /// with a pool of one: the reconnect takes the very connection object whose
    /// `closed` is running.
    @Test(arguments: TCPStreamTests.backends, ["refused", "timedOut"])
    func reconnectingInsideClosedAfterAConnectFailureWorks(backend: BackendKind, failure: String) throws {
        let reactor = try Reactor(backend: backend)
        let pool = TCPConnectionPool(capacity: 1, receiveCapacity: 1024, sendCapacity: 1024)
        let server = AcceptingListener()
        let (_, good) = try loopbackListener(reactor, handler: server)
        // Refused: bound, not listening. Timed out: a full backlog-0 queue.
        let bound = try TCPStream(descriptor: System.tcpSocket(family: AF_INET))
        defer { bound.close() }
        var full: TCPListener?
        defer { full?.close() }
        let bad: SocketAddress
        if failure == "refused" {
            try System.bind(bound.descriptor, SocketAddress("127.0.0.1", port: 0))
            bad = try bound.localAddress()
        } else {
            var options = TCPListenerOptions()
            options.backlog = 0
            let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0), options: options)
            full = listener
            bad = try listener.localAddress()
            // Fill its queue (one, with backlog 0) with a connection nobody accepts:
            // the kernel drops the SYNs that follow.
            let filler = CollectingStream()
            try reactor.connect(to: bad, handler: filler)
            try pump(reactor) { filler.isConnected }
        }
        let reconnected = CollectingStream()
        let first = CollectingStream()
        var reconnectToken: Token?
        first.onClosed = { token, reason, reactor in
            #expect(!reactor.deregister(token))
            reconnectToken = try? reactor.connect(to: good, pool: pool, handler: reconnected)
        }
        let firstToken = try reactor.connect(to: bad, timeout: 100_000_000, pool: pool, handler: first)
        #expect(pool.available == 0)
        try pump(reactor, cycles: 3000) { reconnected.isConnected && server.accepted.count == 1 }
        if failure == "refused" {
            #expect(first.closeReason == .connectFailed(SystemError(call: "connect", errno: ECONNREFUSED)))
        } else {
            #expect(first.closeReason == .connectTimedOut)
        }
        let token = try #require(reconnectToken)
        #expect(token != firstToken)
        #expect(pool.misses == 0)
        #expect(reactor.write(firstToken, [1]) == 0)   // the old token stays stale
        #expect(reactor.write(token, [4, 2]) == 2)
        try pump(reactor) { server.accepted.first?.bytes == [4, 2] }
        #expect(first.events.count == 1)   // only its closed
    }
}

/// A listener handler made of a closure (counts its calls).
final class ClosureListener: TCPListenerHandler {
    let body: (SocketAddress, Token, Reactor) -> (any TCPStreamHandler)?
    var calls = 0
    init(_ body: @escaping (SocketAddress, Token, Reactor) -> (any TCPStreamHandler)?) { self.body = body }
    func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
        calls += 1
        return body(peer, listener, reactor)
    }
}
