import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// What only io_uring's TCP path has: one provided-buffer group shared by every
/// stream (and its exhaustion), held buffers while reading is paused, sends in
/// flight when a connection closes, and the readiness fallback. The
/// backend-independent TCP behaviour runs on both backends in TCPStreamTests.
@Suite(.enabled(if: TestEnvironment.backends.contains(.uring),
                "io_uring backend unavailable here (not built, kernel too old, or io_uring_disabled)"))
struct TCPURingTests {
    func reactor(_ change: (inout Reactor.Configuration) -> Void = { _ in }) throws -> Reactor {
        var configuration = Reactor.Configuration(backend: .uring)
        change(&configuration)
        return try Reactor(configuration)
    }

    /// Writes `payload` as far as the send ring takes it, again on each `writable`.
    final class Pusher {
        let payload: [UInt8]
        var sent = 0
        init(_ payload: [UInt8]) { self.payload = payload }
        func push(_ token: Token, _ reactor: Reactor) {
            while sent < payload.count {
                let n = payload.withUnsafeBytes { reactor.write(token, UnsafeRawBufferPointer(rebasing: $0[sent...])) }
                sent += n
                if n == 0 { return }
            }
        }
    }

    @Test func streamsRunOnCompletionsAndTheFallbackIsReported() throws {
        for completions in [true, false] {
            let reactor = try reactor { $0.uringStreamCompletions = completions }
            let server = AcceptingListener()
            let (_, address) = try loopbackListener(reactor, handler: server)
            #expect(reactor.tcpUsesCompletions == completions)
            let client = CollectingStream()
            client.onConnected = { token, reactor in _ = reactor.write(token, Array("ping".utf8)) }
            try reactor.connect(to: address, handler: client)
            try pump(reactor) { server.accepted.first?.bytes.count == 4 }
            #expect(server.accepted.first?.bytes == Array("ping".utf8))
            #expect(reactor.tcpCounters.accepted == 1 && reactor.tcpCounters.connected == 1)
        }
    }

    /// 32 connections each send 64 KiB into 8 shared buffers of 1 KiB: the
    /// group runs dry again and again (-ENOBUFS ends a multishot recv, it is
    /// re-armed), and every connection still receives every byte in order.
    @Test func anExhaustedBufferGroupStillDeliversEveryByteInOrder() throws {
        let reactor = try reactor {
            $0.uringStreamBufferCount = 8
            $0.uringStreamBufferSize = 1024
            $0.maxRegistrations = 128
        }
        let server = AcceptingListener()
        let (_, address) = try loopbackListener(reactor, handler: server)
        let connections = 32
        let size = 65536
        // Byte 0 names the connection, so the server side can tell which payload it got.
        let payloads = (0..<connections).map { [UInt8($0)] + patternBytes(size - 1, seed: UInt64($0) + 100) }
        var clients: [CollectingStream] = []
        for payload in payloads {
            let pusher = Pusher(payload)
            let client = CollectingStream()
            client.onConnected = pusher.push
            client.onWritable = pusher.push
            clients.append(client)
            try reactor.connect(to: address, handler: client)
        }
        try pump(reactor, cycles: 20_000) {
            server.accepted.count == connections && server.accepted.allSatisfy { $0.bytes.count == size }
        }
        for accepted in server.accepted {
            #expect(accepted.bytes == payloads[Int(accepted.bytes[0])])
        }
        #expect(Set(server.accepted.map { $0.bytes[0] }).count == connections)
        #expect(reactor.counters.bufferExhaustions > 0)
        #expect(reactor.counters.receiveRearms > 0)
        #expect(reactor.tcpCounters.bytesReceived == UInt64(connections * size))
    }

    /// The reader consumes nothing: its ring fills, the rest of a buffer is
    /// held, the recv is cancelled; the peer's EOF arrives behind the held
    /// bytes. Resuming delivers every byte in order, then the EOF.
    @Test func pausedReadingHoldsBuffersAndResumesInOrderBeforeTheEOF() throws {
        let reactor = try reactor { $0.uringStreamBufferSize = 4096 }
        let server = AcceptingListener()
        var reading = false
        server.make = {
            let handler = CollectingStream()
            handler.consume = { spans in reading ? spans.count : 0 }
            handler.onPeerClosed = { _, _ in }   // keep it open, to see the order
            return handler
        }
        var options = TCPListenerOptions()
        options.stream = TCPStreamOptions(receiveCapacity: 1000, sendCapacity: 4096)
        let (_, address) = try loopbackListener(reactor, options: options, handler: server)
        let payload = patternBytes(20_000, seed: 77)
        let writer = CollectingStream()
        writer.onConnected = { token, reactor in
            #expect(reactor.write(token, payload) == payload.count)   // it fits the send ring
            reactor.close(token, flush: true)
        }
        try reactor.connect(to: address, options: TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 65536),
                            handler: writer)
        // Everything written and the writer closed (FIN sent); the reader paused.
        try pump(reactor, cycles: 5000) { writer.isClosed && reactor.tcpCounters.readStalls >= 1 }
        let backend = try #require(reactor.backend as? URingBackend)
        try pump(reactor, cycles: 20)
        let reader = try #require(server.accepted.first)
        let token = try #require(reader.token)
        #expect(reader.bytes.isEmpty)
        #expect(reactor.unconsumedBytes(token) == 1000)
        #expect(backend.heldBuffers > 0)
        #expect(!reader.events.contains(.peerClosed))
        reading = true
        reactor.resumeReading(token)
        try pump(reactor, cycles: 2000) { reader.events.contains(.peerClosed) }
        #expect(reader.bytes == payload)
        #expect(backend.heldBuffers == 0)
        #expect(reactor.tcpCounters.bytesReceived == UInt64(payload.count))
    }

    /// Closing a paused stream gives its held buffers back to the group at once.
    @Test func closingAPausedStreamReturnsItsHeldBuffers() throws {
        let reactor = try reactor { $0.uringStreamBufferSize = 1024 }
        let server = AcceptingListener()
        server.make = {
            let handler = CollectingStream()
            handler.consume = { _ in 0 }
            return handler
        }
        var options = TCPListenerOptions()
        options.stream = TCPStreamOptions(receiveCapacity: 512, sendCapacity: 4096)
        let (_, address) = try loopbackListener(reactor, options: options, handler: server)
        let writer = CollectingStream()
        writer.onConnected = { token, reactor in _ = reactor.write(token, patternBytes(30_000, seed: 5)) }
        try reactor.connect(to: address, handler: writer)
        let backend = try #require(reactor.backend as? URingBackend)
        try pump(reactor, cycles: 2000) { reactor.tcpCounters.readStalls >= 1 && backend.heldBuffers > 0 }
        let reader = try #require(server.accepted.first?.token)
        reactor.close(reader, flush: false)
        #expect(backend.heldBuffers == 0)
        try pump(reactor) { writer.isClosed }
        // The group serves the next connection in full.
        let next = CollectingStream()
        let payload = patternBytes(8000, seed: 6)
        server.make = { CollectingStream() }
        next.onConnected = { token, reactor in _ = reactor.write(token, payload) }
        try reactor.connect(to: address, handler: next)
        try pump(reactor, cycles: 2000) { server.accepted.count == 2 && server.accepted[1].bytes.count == payload.count }
        #expect(server.accepted[1].bytes == payload)
    }

    /// A connection closed while its send waits in the kernel (the peer reads
    /// nothing): its pooled buffers come back only at that send's completion,
    /// and the next connection on them sends only its own bytes.
    @Test func closingWithASendInFlightReusesThePoolOnlyAfterItsCompletion() throws {
        let reactor = try reactor()
        let pool = TCPConnectionPool(capacity: 1, receiveCapacity: 4096, sendCapacity: 65536)
        var listenerOptions = TCPListenerOptions()
        listenerOptions.stream.kernelReceiveBuffer = 4096
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0), options: listenerOptions)
        defer { listener.close() }
        _ = try TCPStream(descriptor: listener.descriptor).setReceiveBuffer(bytes: 4096)
        let address = try listener.localAddress()
        var streamOptions = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 65536)
        streamOptions.kernelSendBuffer = 4096
        let first = CollectingStream()
        let pusher = Pusher([UInt8](repeating: 0xEE, count: 1_000_000))
        first.onConnected = pusher.push
        first.onWritable = pusher.push
        let token = try reactor.connect(to: address, options: streamOptions, pool: pool, handler: first)
        var peers: [TCPStream] = []
        defer { for peer in peers { peer.close() } }
        try pump(reactor, cycles: 2000) {
            if peers.isEmpty, case .processed(let pair)? = try? listener.accept() { peers.append(pair.stream) }
            return !peers.isEmpty && first.isConnected && reactor.queuedBytes(token) == 65536
        }
        try pump(reactor, cycles: 10)
        let backend = try #require(reactor.backend as? URingBackend)
        guard case .stream(let stream)? = backend.entries[Int(token.slot)] else {
            Issue.record("not a completion-driven stream")
            return
        }
        #expect(stream.sendInFlight)   // the kernel takes no more: the send waits for room
        reactor.close(token, flush: false)
        #expect(first.closeReason == .local(flushed: false))
        #expect(pool.available == 0, "the kernel may still read the send ring")
        try pump(reactor) { pool.available == 1 }
        // The same pooled connection, a new stream: only its own bytes go out.
        let second = CollectingStream()
        second.onConnected = { token, reactor in _ = reactor.write(token, Array("second".utf8)) }
        let secondToken = try reactor.connect(to: address, pool: pool, handler: second)
        try pump(reactor, cycles: 2000) {
            if peers.count == 1, case .processed(let pair)? = try? listener.accept() { peers.append(pair.stream) }
            return peers.count == 2 && second.isConnected && reactor.queuedBytes(secondToken) == 0
        }
        #expect(pool.misses == 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { recv(peers[1].descriptor, $0.baseAddress, 64, 0) }
        #expect(n == 6 && Array(buffer[0..<6]) == Array("second".utf8))
        reactor.close(secondToken, flush: false)
        try pump(reactor) { second.isClosed && pool.available == 1 }
        #expect(reactor.registrationCount == 0)
    }

    /// 400 connections echoing through a ring of 8 SQEs (16 CQEs): SQ-full
    /// submits inside preparation, CQ overflow ending multishots (re-armed),
    /// and every echo still byte-exact.
    @Test func manyConnectionsEchoThroughATinyRing() throws {
        let reactor = try reactor {
            $0.uringEntries = 8
            $0.maxRegistrations = 1024
            $0.uringStreamBufferCount = 64
            $0.uringStreamBufferSize = 2048
        }
        final class Echo: TCPStreamHandler {
            func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
                var consumed = reactor.write(token, spans.first)
                if consumed == spans.first.count { consumed += reactor.write(token, spans.second) }
                return consumed
            }
            func writable(token: Token, reactor: Reactor) { reactor.resumeReading(token) }
            func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
        }
        final class Server: TCPListenerHandler {
            let echo = Echo()
            func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? { echo }
        }
        let (_, address) = try loopbackListener(reactor, handler: Server())
        let payloads = (0..<400).map { patternBytes(3000, seed: UInt64($0) + 1) }
        let clients = payloads.map { payload in
            let client = CollectingStream()
            client.onConnected = { token, reactor in #expect(reactor.write(token, payload) == payload.count) }
            return client
        }
        for client in clients { try reactor.connect(to: address, handler: client) }
        try pump(reactor, cycles: 20_000) { clients.allSatisfy { $0.bytes.count == 3000 } }
        for (client, payload) in zip(clients, payloads) { #expect(client.bytes == payload) }
        #expect(reactor.tcpCounters.accepted == 400)
    }

    /// A listener deregistered with its multishot accept armed: connections the
    /// kernel accepted before the cancel landed are closed, not leaked.
    @Test func deregisteringAListenerEndsItsAccept() throws {
        let reactor = try reactor()
        let server = AcceptingListener()
        let (token, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        try reactor.connect(to: address, handler: client)
        try pump(reactor) { server.accepted.count == 1 && client.isConnected }
        #expect(reactor.deregister(token))
        // The port is free again at once (the accept was cancelled and submitted).
        try pump(reactor, cycles: 5)
        let again = try TCPListener.bound(to: address)
        again.close()
        let late = CollectingStream()
        try reactor.connect(to: address, handler: late)
        try pump(reactor) { late.isClosed }
        #expect(late.closeReason == .connectFailed(SystemError(call: "connect", errno: ECONNREFUSED)))
        #expect(server.accepted.count == 1)
    }
}
