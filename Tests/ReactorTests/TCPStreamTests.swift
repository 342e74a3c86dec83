import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// TCP wiring on real loopback connections: both ends on one reactor unless
/// the test needs a raw peer.
@Suite struct TCPStreamTests {
    /// Both backends (io_uring where this build and kernel have it).
    static let backends: [BackendKind] = TestEnvironment.backends

    /// Echoes what fits in the send ring and resumes when it drains.
    final class Echo: TCPStreamHandler {
        var closedReasons: [TCPCloseReason] = []
        func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
            var consumed = reactor.write(token, spans.first)
            if consumed == spans.first.count && !spans.second.isEmpty { consumed += reactor.write(token, spans.second) }
            return consumed
        }
        func writable(token: Token, reactor: Reactor) { reactor.resumeReading(token) }
        func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) { closedReasons.append(reason) }
    }

    final class EchoListener: TCPListenerHandler {
        let echo = Echo()
        var count = 0
        func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
            count += 1
            return echo
        }
    }

    @Test(arguments: backends)
    func echoIsByteExactAcrossRandomWriteAndReadSizes(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let server = EchoListener()
        var serverOptions = TCPListenerOptions()
        serverOptions.stream = TCPStreamOptions(receiveCapacity: 3000, sendCapacity: 5000)
        let (_, address) = try loopbackListener(reactor, options: serverOptions, handler: server)
        let payload = patternBytes(300_000, seed: 11)
        var generator = SeededGenerator(seed: 5)
        let client = CollectingStream()
        // The client consumes a random amount of what it is offered each time
        // (something once its 1000-byte buffer is full, as a parser whose
        // frames fit the buffer does: else reading stays paused).
        client.consume = { spans in Int.random(in: (spans.count == 1000 ? 1 : 0)...spans.count, using: &generator) }
        let writer = PayloadWriter(payload, randomSizes: (seed: 9, maxWrite: 4000))
        client.onConnected = writer.push
        client.onWritable = writer.push
        let token = try reactor.connect(to: address, options: TCPStreamOptions(receiveCapacity: 1000, sendCapacity: 7000),
                                        handler: client)
        try pump(reactor, cycles: 20_000) { client.bytes.count + (reactor.unconsumedBytes(token) ?? 0) == payload.count }
        // What the last random consume left stays until offered again.
        client.consume = nil
        reactor.resumeReading(token)
        #expect(writer.sent == payload.count)
        #expect(client.bytes == payload)
        #expect(client.receivedCalls > 300)
        reactor.close(token)
        try pump(reactor) { client.isClosed && server.echo.closedReasons.count == 1 }
        #expect(client.closeReason == .local(flushed: true))
        #expect(server.echo.closedReasons == [.local(flushed: true)])   // the default peerClosed closes
    }

    @Test(arguments: backends)
    func aFrameSplitAcrossReadsIsSeenWhole(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let server = AcceptingListener()
        var frames: [[UInt8]] = []
        var offers: [Int] = []
        server.make = {
            let handler = CollectingStream()
            // A 2-byte big-endian length prefix, as SoupBinTCP frames.
            handler.consume = { spans in
                offers.append(spans.count)
                var offset = 0
                while spans.count - offset >= 2 {
                    let length = Int(spans.loadBigEndianUInt16(at: offset))
                    guard spans.count - offset - 2 >= length else { break }
                    var frame = [UInt8](repeating: 0, count: length)
                    frame.withUnsafeMutableBytes { spans.copyBytes(from: offset + 2, count: length, into: $0.baseAddress!) }
                    frames.append(frame)
                    offset += 2 + length
                }
                return offset
            }
            return handler
        }
        let (_, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        let token = try reactor.connect(to: address, handler: client)
        try pump(reactor) { client.isConnected && server.accepted.count == 1 }
        let frame: [UInt8] = [0, 10] + Array(1...10)
        #expect(reactor.write(token, Array(frame[0..<5])) == 5)
        try pump(reactor) { offers.count == 1 }
        #expect(frames.isEmpty)
        #expect(reactor.write(token, Array(frame[5...]) + [0, 1, 42]) == 10)
        try pump(reactor) { frames.count == 2 }
        #expect(frames == [Array(1...10), [42]])
        #expect(offers.first == 5)
    }

    @Test(arguments: backends)
    func aSlowReaderFillsTheRingThenGetsEveryByteInOrder(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let server = AcceptingListener()
        var reading = false
        server.make = {
            let handler = CollectingStream()
            handler.consume = { spans in reading ? spans.count : 0 }
            return handler
        }
        var options = TCPListenerOptions()
        options.stream = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 4096)
        // Small kernel buffers, so that they fill quickly (autotuning would take megabytes).
        options.stream.kernelReceiveBuffer = 16384
        let (_, address) = try loopbackListener(reactor, options: options, handler: server)
        let payload = patternBytes(1_000_000, seed: 3)
        let writer = CollectingStream()
        let pusher = PayloadWriter(payload)
        writer.onConnected = pusher.push
        writer.onWritable = pusher.push
        var writerOptions = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 65536)
        writerOptions.kernelSendBuffer = 16384
        let token = try reactor.connect(to: address, options: writerOptions, handler: writer)
        // The reader consumes nothing: its buffer fills and reading pauses, the
        // kernel buffers fill, then the writer's ring.
        try pump(reactor, cycles: 5000, timeout: 1_000_000) {
            reactor.queuedBytes(token) == 65536 && reactor.tcpCounters.readStalls >= 1
        }
        #expect(reactor.queuedBytes(token) == 65536)
        #expect(pusher.sent < payload.count && pusher.shortWrites >= 1)
        #expect(reactor.tcpCounters.readStalls >= 1)
        #expect(reactor.tcpCounters.sendStalls >= 1)
        let reader = try #require(server.accepted.first)
        #expect(reader.bytes.isEmpty)
        #expect(reactor.unconsumedBytes(try #require(reader.token)) == 4096)
        reading = true
        reactor.resumeReading(try #require(reader.token))
        try pump(reactor, cycles: 100_000) { reader.bytes.count == payload.count }
        #expect(writer.events.contains(.writable))
        #expect(reader.bytes == payload)
    }

    @Test(arguments: backends)
    func connectToAPortNobodyListensOnIsRefused(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        // Bound, not listening: the kernel answers a SYN with RST (and the port
        // stays ours for the test, unlike bind-close-reuse).
        let bound = try TCPStream(descriptor: System.tcpSocket(family: AF_INET))
        defer { bound.close() }
        try System.bind(bound.descriptor, SocketAddress("127.0.0.1", port: 0))
        let client = CollectingStream()
        try reactor.connect(to: bound.localAddress(), timeout: 5_000_000_000, handler: client)
        try pump(reactor) { client.isClosed }
        #expect(client.closeReason == .connectFailed(SystemError(call: "connect", errno: ECONNREFUSED)))
        #expect(!client.isConnected)
        #expect(reactor.tcpCounters.connectFailures == 1)
        #expect(reactor.registrationCount == 0)
    }

    @Test(arguments: backends)
    func connectToAFullBacklogTimesOut(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        // Backlog 0, never accepted: the accept queue holds one connection; the
        // kernel drops further SYNs (tcp_conn_request: the queue is full), so the
        // connects behind it hang until the reactor's timer gives up.
        var options = TCPListenerOptions()
        options.backlog = 0
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0), options: options)
        defer { listener.close() }
        let address = try listener.localAddress()
        let clients = (0..<4).map { _ in CollectingStream() }
        for client in clients { try reactor.connect(to: address, timeout: 200_000_000, handler: client) }
        try pump(reactor, cycles: 2000) { clients.allSatisfy { $0.isConnected || $0.isClosed } }
        let timedOut = clients.filter { $0.closeReason == .connectTimedOut }
        #expect(timedOut.count >= 1)
        #expect(clients.contains { $0.isConnected })
        #expect(reactor.tcpCounters.connectTimeouts == UInt64(timedOut.count))
    }

    @Test(arguments: backends)
    func aPeerResetMidWriteIsAReset(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { listener.close() }
        let writer = CollectingStream()
        let chunk = [UInt8](repeating: 7, count: 65536)
        writer.onConnected = { token, reactor in _ = reactor.write(token, chunk) }
        writer.onWritable = { token, reactor in _ = reactor.write(token, chunk) }
        let token = try reactor.connect(to: listener.localAddress(), handler: writer)
        var peer: TCPStream?
        try pump(reactor) {
            if peer == nil, case .processed(let pair)? = try? listener.accept() { peer = pair.stream }
            return peer != nil && writer.isConnected
        }
        let raw = try #require(peer)
        _ = reactor.write(token, chunk)
        try pump(reactor, cycles: 50)   // let the writes go out (a fixed number of cycles)
        // SO_LINGER 0: close sends RST, with our bytes unread in its buffer.
        try raw.setResetOnClose()
        raw.close()
        try pump(reactor, cycles: 2000) {
            _ = reactor.write(token, chunk)
            return writer.isClosed
        }
        #expect(writer.closeReason == .reset)
        #expect(reactor.tcpCounters.resets == 1)
    }

    @Test(arguments: backends)
    func halfCloseFromTheClientKeepsTheServerWriting(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let server = AcceptingListener()
        server.make = {
            let handler = CollectingStream()
            // The client's FIN: answer, then close.
            handler.onPeerClosed = { token, reactor in
                _ = reactor.write(token, Array("bye".utf8))
                reactor.close(token, flush: true)
            }
            return handler
        }
        let (_, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        client.onConnected = { token, reactor in
            _ = reactor.write(token, Array("hello".utf8))
            reactor.shutdownWrite(token)
            #expect(reactor.write(token, [1]) == 0)   // the write side is closing
        }
        try reactor.connect(to: address, handler: client)
        try pump(reactor) { client.isClosed && server.accepted.first?.isClosed == true }
        let accepted = try #require(server.accepted.first)
        #expect(accepted.bytes == Array("hello".utf8))
        #expect(accepted.events == [.connected, .peerClosed, .closed(.local(flushed: true))])
        #expect(client.bytes == Array("bye".utf8))
        #expect(client.events == [.connected, .closed(.peerClosed)])
    }

    @Test(arguments: backends)
    func halfCloseFromTheServerKeepsTheClientWriting(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let server = AcceptingListener()
        server.make = {
            let handler = CollectingStream()
            handler.onConnected = { token, reactor in
                _ = reactor.write(token, Array("x".utf8))
                reactor.shutdownWrite(token)
            }
            return handler
        }
        let (_, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        client.onPeerClosed = { token, reactor in
            _ = reactor.write(token, Array("yz".utf8))
            reactor.close(token, flush: true)
        }
        try reactor.connect(to: address, handler: client)
        try pump(reactor) { client.isClosed && server.accepted.first?.isClosed == true }
        let accepted = try #require(server.accepted.first)
        #expect(client.bytes == Array("x".utf8))
        #expect(client.events == [.connected, .peerClosed, .closed(.local(flushed: true))])
        #expect(accepted.bytes == Array("yz".utf8))
        #expect(accepted.events == [.connected, .closed(.peerClosed)])
    }

    @Test(arguments: backends)
    func anAcceptStormMeetsTheConnectionLimit(backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.maxRegistrations = 256
        let reactor = try Reactor(configuration)
        let server = AcceptingListener()
        var refuseNext = 0
        server.make = {
            refuseNext += 1
            return refuseNext == 3 ? nil : CollectingStream()   // the handler refuses one
        }
        let (listener, address) = try loopbackListener(reactor, options: TCPListenerOptions(maxConnections: 5), handler: server)
        let clients = (0..<60).map { _ in CollectingStream() }
        for client in clients { try reactor.connect(to: address, handler: client) }
        try pump(reactor, cycles: 5000) {
            reactor.tcpCounters.accepted + reactor.tcpCounters.refused + reactor.tcpCounters.overLimit == 60
                && clients.filter(\.isClosed).count == 55
        }
        #expect(reactor.tcpCounters.accepted == 5)
        #expect(reactor.tcpCounters.refused == 1)
        #expect(reactor.tcpCounters.overLimit == 54)
        #expect(reactor.connectionCount(listener: listener) == 5)
        #expect(clients.filter(\.isClosed).count == 55)
        // Closing one makes room for the next.
        reactor.close(try #require(server.accepted.first?.token))
        let late = CollectingStream()
        try reactor.connect(to: address, handler: late)
        try pump(reactor) { reactor.tcpCounters.accepted == 6 }
        #expect(reactor.connectionCount(listener: listener) == 5)
    }

    @Test(arguments: backends)
    func closingOrDeregisteringInsideEachCallbackIsSafe(backend: BackendKind) throws {
        for place in ["connected", "received", "writable", "peerClosed", "deregister-received", "closed"] {
            let reactor = try Reactor(backend: backend)
            let server = AcceptingListener()
            let (_, address) = try loopbackListener(reactor, handler: server)
            let client = CollectingStream()
            var callbacksAfterClose = 0
            var closedByUs = false
            func end(_ token: Token, _ reactor: Reactor) {
                if closedByUs { callbacksAfterClose += 1 }
                closedByUs = true
                if place.hasPrefix("deregister") { #expect(reactor.deregister(token)) } else { reactor.close(token, flush: false) }
            }
            switch place {
            case "connected": client.onConnected = end
            case "received", "deregister-received": client.onReceived = { _, token, reactor in end(token, reactor) }
            case "writable":
                client.onConnected = { token, reactor in
                    while reactor.write(token, [UInt8](repeating: 1, count: 65536)) == 65536 {}
                }
                client.onWritable = end
            case "peerClosed": client.onPeerClosed = end
            default:
                client.onClosed = { token, _, reactor in
                    #expect(!reactor.deregister(token))   // stale by now: harmless
                    reactor.close(token)
                }
            }
            let token = try reactor.connect(to: address, handler: client)
            try pump(reactor) { server.accepted.count == 1 && client.isConnected }
            let accepted = try #require(server.accepted.first)
            let serverToken = try #require(accepted.token)
            _ = reactor.write(serverToken, [1, 2, 3])
            if place == "peerClosed" || place == "closed" { reactor.close(serverToken) }
            try pump(reactor, cycles: 3000) { client.isClosed || (place.hasPrefix("deregister") && closedByUs) }
            for _ in 0..<20 { _ = try reactor.poll() }
            #expect(callbacksAfterClose == 0, "\(place)")
            if place.hasPrefix("deregister") {
                #expect(!client.isClosed, "deregister ends a connection silently")
            } else {
                #expect(client.events.filter { if case .closed = $0 { true } else { false } }.count == 1, "\(place)")
            }
            #expect(reactor.write(token, [1]) == 0)
            // The reactor still serves: a new connection works.
            let next = CollectingStream()
            try reactor.connect(to: address, handler: next)
            try pump(reactor) { next.isConnected }
            #expect(next.isConnected, "\(place)")
        }
    }
}
