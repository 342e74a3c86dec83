import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// Peers that misbehave: garbage, never reading, never sending, a thousand idle
/// connections. Each time the reactor goes on serving a well-behaved connection
/// meanwhile, and what it holds stays bounded (asserted on rings, pools and
/// counters, not on RSS).
@Suite struct TCPBadInputTests {
    /// A well-behaved client of an echo listener, to show the reactor still serves.
    final class Probe {
        let stream = CollectingStream()
        let token: Token
        var sent = 0

        init(_ reactor: Reactor, _ address: SocketAddress) throws {
            token = try reactor.connect(to: address, handler: stream)
            try pump(reactor) { self.stream.isConnected }
        }

        /// Sends a few bytes and waits (bounded) for their echo.
        func roundTrip(_ reactor: Reactor, file: StaticString = #fileID, line: UInt = #line) throws {
            let bytes = (0..<16).map { UInt8(truncatingIfNeeded: sent + $0) }
            #expect(reactor.write(token, bytes) == 16)
            sent += 16
            try pump(reactor, file: file, line: line) { self.stream.bytes.count == self.sent }
            #expect(Array(stream.bytes.suffix(16)) == bytes)
        }
    }

    /// Length-prefixed frames (2 bytes big-endian, as SoupBinTCP) of at most
    /// `maxFrame` bytes; a longer length is garbage: counted, and the connection
    /// closed (the handler's decision; the reactor only delivers bytes).
    final class FrameServer: TCPStreamHandler {
        let maxFrame: Int
        var frames = 0
        var garbage = 0
        var closed: [TCPCloseReason] = []
        init(maxFrame: Int) { self.maxFrame = maxFrame }

        func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
            var offset = 0
            while bytes.count - offset >= 2 {
                let length = Int(bytes.loadBigEndianUInt16(at: offset))
                guard length <= maxFrame else {
                    garbage += 1
                    reactor.close(token, flush: false)
                    return 0
                }
                guard bytes.count - offset - 2 >= length else { break }
                frames += 1
                offset += 2 + length
            }
            return offset
        }
        func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) { closed.append(reason) }
    }

    /// Echo connections get an echo; the listener's other connections the handler `make` gives.
    final class MixedListener: TCPListenerHandler {
        let echo = TCPStreamTests.Echo()
        var make: (SocketAddress) -> (any TCPStreamHandler)?
        init(make: @escaping (SocketAddress) -> (any TCPStreamHandler)?) { self.make = make }
        func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
            make(peer) ?? echo
        }
    }

    /// Connects raw (unregistered) client sockets and waits until the listener took them.
    static func rawClients(_ count: Int, to address: SocketAddress, reactor: Reactor,
                           until accepted: () -> Bool) throws -> [TCPStream] {
        var raws: [TCPStream] = []
        raws.reserveCapacity(count)
        for _ in 0..<count { raws.append(try TCPStream.connect(to: address).stream) }
        try pump(reactor, cycles: 5000, until: accepted)
        return raws
    }

    @Test(arguments: TCPStreamTests.backends)
    func aPeerSendingGarbageIsTheHandlersToEndAndTheReactorGoesOn(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        var framers: [FrameServer] = []
        let listener = MixedListener { _ in
            guard framers.count < 3 else { return nil }   // then the probe's echo
            let framer = FrameServer(maxFrame: 100)
            framers.append(framer)
            return framer
        }
        let (_, address) = try loopbackListener(reactor, handler: listener)
        // Seeded garbage after two good frames: random bytes whose first length
        // is over the limit (a random 16-bit length is, with odds 99.8%: force it).
        var generator = SeededGenerator(seed: 21)
        var garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        garbage[0] = 0xFF
        let good: [UInt8] = [0, 3, 1, 2, 3, 0, 0]
        let raws = try Self.rawClients(3, to: address, reactor: reactor) { framers.count == 3 }
        defer { raws.forEach { $0.close() } }
        for raw in raws {
            _ = (good + garbage).withUnsafeBytes { send(raw.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        try pump(reactor) { framers.allSatisfy { !$0.closed.isEmpty } }
        for framer in framers {
            #expect(framer.frames == 2)
            #expect(framer.garbage == 1)
            #expect(framer.closed == [.local(flushed: true)])
        }
        // The garbage peers see their connections end; the reactor serves the next one.
        let probe = try Probe(reactor, address)
        try probe.roundTrip(reactor)
        #expect(reactor.registrationCount == 3)   // listener, probe, its echo
    }

    /// A handler that never consumes what it is offered (a parser stuck on a
    /// frame longer than its buffer): reading pauses, the receive ring stays at
    /// its capacity, the stall is counted, TCP flow control holds the peer back.
    @Test(arguments: TCPStreamTests.backends)
    func aHandlerThatConsumesNothingPausesReadingAtTheRingsSize(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        var stuck: [CollectingStream] = []
        let listener = MixedListener { _ in
            guard stuck.isEmpty else { return nil }
            let handler = CollectingStream()
            handler.consume = { _ in 0 }
            stuck.append(handler)
            return handler
        }
        var options = TCPListenerOptions()
        options.stream = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 4096)
        let (_, address) = try loopbackListener(reactor, options: options, handler: listener)
        let raws = try Self.rawClients(1, to: address, reactor: reactor) { stuck.count == 1 }
        defer { raws.forEach { $0.close() } }
        let junk = [UInt8](repeating: 0xEE, count: 100_000)
        let queued = junk.withUnsafeBytes { send(raws[0].descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        #expect(queued > 4096)
        try pump(reactor) { reactor.tcpCounters.readStalls >= 1 }
        let token = try #require(stuck[0].token)
        let calls = stuck[0].receivedCalls
        try pump(reactor, cycles: 50, timeout: 1_000_000)
        #expect(reactor.unconsumedBytes(token) == 4096)
        #expect(reactor.tcpCounters.readStalls == 1)
        #expect(stuck[0].receivedCalls == calls, "paused: not offered again without new room")
        #expect(reactor.interest(of: token)?.contains(.readable) == false)
        let probe = try Probe(reactor, address)
        try probe.roundTrip(reactor)
        #expect(reactor.unconsumedBytes(token) == 4096)
    }

    /// A peer that never reads: the server's writer fills the kernel buffers, then
    /// its send ring; `write` accepts less and then nothing; the stall is counted;
    /// the ring never grows past its capacity, and other connections are served.
    @Test(arguments: TCPStreamTests.backends)
    func aPeerThatNeverReadsLeavesTheSendRingBoundedAndCountsTheStall(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        var flood: CollectingStream?
        let chunk = [UInt8](repeating: 0x5A, count: 8192)
        var offered = 0
        var accepted = 0
        let listener = MixedListener { _ in
            guard flood == nil else { return nil }
            let handler = CollectingStream()
            // A publisher writing to a subscriber: whenever there is room, more.
            handler.onConnected = { token, reactor in
                while true {
                    offered += chunk.count
                    let n = reactor.write(token, chunk)
                    accepted += n
                    if n < chunk.count { return }
                }
            }
            handler.onWritable = handler.onConnected
            flood = handler
            return handler
        }
        var options = TCPListenerOptions()
        options.stream = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 32768)
        options.stream.kernelSendBuffer = 16384
        let (_, address) = try loopbackListener(reactor, options: options, handler: listener)
        // The peer's receive buffer is small from before the handshake (the window
        // it advertises never grows).
        var peerOptions = TCPStreamOptions()
        peerOptions.kernelReceiveBuffer = 4096
        let raw = try TCPStream.connect(to: address, options: peerOptions).stream
        defer { raw.close() }
        try pump(reactor) { flood?.isConnected == true }
        let token = try #require(flood?.token)
        try pump(reactor, cycles: 2000, timeout: 1_000_000) { reactor.queuedBytes(token) == 32768 }
        // Then the kernel's buffers fill up too: bytesSent stops moving.
        var sent = UInt64.max
        for _ in 0..<50 where sent != reactor.tcpCounters.bytesSent {
            sent = reactor.tcpCounters.bytesSent
            try pump(reactor, cycles: 20, timeout: 1_000_000)
        }
        let stalls = reactor.tcpCounters.sendStalls
        try pump(reactor, cycles: 50, timeout: 1_000_000)
        // The ring holds what the kernel has not taken, never more than its
        // capacity. On epoll it is full: the last sendmsg after the last `writable`
        // found the kernel full. On io_uring the send in flight waits for room
        // itself and may take a little after the last `writable`, leaving the
        // ring above its low mark (so, by design, no `writable`) but not full.
        let queued = try #require(reactor.queuedBytes(token))
        #expect(queued <= 32768 && queued > options.stream.lowWater, "\(queued)")
        if backend == .epoll { #expect(queued == 32768) }
        #expect(stalls >= 1)
        #expect(reactor.tcpCounters.bytesSent == sent, "the kernel takes nothing more")
        #expect(reactor.tcpCounters.sendStalls == stalls, "no writable without room")
        #expect(sent < 1 << 20, "bounded by the peer's window and our buffers, not growing")
        // Topping up takes exactly the free room (one short write, counted), then nothing.
        var topUp = 0
        for _ in 0..<(32768 / chunk.count + 1) {
            let n = reactor.write(token, chunk)
            topUp += n
            if n < chunk.count { break }
        }
        accepted += topUp
        #expect(topUp == 32768 - queued)
        #expect(reactor.queuedBytes(token) == 32768)
        #expect(reactor.write(token, chunk) == 0)
        #expect(reactor.tcpCounters.sendStalls == stalls + 2)
        #expect(reactor.tcpCounters.bytesSent == sent)
        // Everything accepted is either in the kernel or in the ring: nothing is lost.
        #expect(UInt64(accepted) == reactor.tcpCounters.bytesSent + 32768)
        #expect(offered > accepted)
        let probe = try Probe(reactor, address)
        try probe.roundTrip(reactor)
        // The handler's decision: drop the subscriber. A reset of the peer ends it too.
        reactor.close(token, flush: false)
        try pump(reactor) { flood?.isClosed == true }
        #expect(flood?.closeReason == .local(flushed: false))
    }

    /// Peers that connect and send nothing: accepted, held, never offered bytes;
    /// the handler's idle timer (a reactor timer) ends them.
    @Test(arguments: TCPStreamTests.backends)
    func peersThatConnectAndSendNothingAreHeldUntilTheHandlersIdleTimeout(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        final class Idle: TCPStreamHandler, TimerHandler {
            var received = 0
            var closed: [TCPCloseReason] = []
            func connected(token: Token, reactor: Reactor) {
                _ = try? reactor.schedule(after: 50_000_000, tag: token.raw, handler: self)
            }
            func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
                received += 1
                return bytes.count
            }
            func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) { closed.append(reason) }
            func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
                reactor.close(Token(raw: tag), flush: true)
            }
        }
        let idle = Idle()
        var idleCount = 0
        let listener = MixedListener { _ in
            guard idleCount < 50 else { return nil }
            idleCount += 1
            return idle
        }
        let (token, address) = try loopbackListener(reactor, handler: listener)
        let raws = try Self.rawClients(50, to: address, reactor: reactor) { idleCount == 50 }
        defer { raws.forEach { $0.close() } }
        #expect(reactor.connectionCount(listener: token) == 50)
        let probe = try Probe(reactor, address)
        try probe.roundTrip(reactor)
        #expect(idle.received == 0)
        #expect(idle.closed.isEmpty)
        try pump(reactor, cycles: 2000, timeout: 1_000_000) { idle.closed.count == 50 }
        #expect(idle.closed.allSatisfy { $0 == .local(flushed: true) })
        #expect(idle.received == 0)
        #expect(reactor.connectionCount(listener: token) == 1)   // the probe's echo
        try probe.roundTrip(reactor)
    }

    /// A thousand connections opened and then left alone: half never send, half
    /// shut their write side down at once (FIN, then silence). With a limit of 600,
    /// 600 are held (from the pool: no allocation, bounded memory), the rest are
    /// counted over the limit; a well-behaved connection is served throughout.
    @Test(arguments: TCPStreamTests.backends)
    func aThousandHalfOpenConnectionsLeaveTheReactorServingTheOthers(backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.maxRegistrations = 2048
        let reactor = try Reactor(configuration)
        let pool = TCPConnectionPool(capacity: 600, receiveCapacity: 1024, sendCapacity: 1024)
        final class Hold: TCPStreamHandler {
            var peerClosed = 0
            var received = 0
            func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
                received += bytes.count
                return bytes.count
            }
            // Half-closed peers stay: this server would still answer them.
            func peerClosed(token: Token, reactor: Reactor) { peerClosed += 1 }
            func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
        }
        let hold = Hold()
        var held = 0
        // The probe's port is not known before it connects: it comes after the
        // thousand, when the limit is full; hence its own listener.
        let listener = MixedListener { _ in
            held += 1
            return hold
        }
        let (token, address) = try loopbackListener(reactor, options: TCPListenerOptions(maxConnections: 600, pool: pool),
                                                    handler: listener)
        let (_, echoAddress) = try loopbackListener(reactor, handler: MixedListener { _ in nil })
        let probe = try Probe(reactor, echoAddress)
        var raws: [TCPStream] = []
        defer { raws.forEach { $0.close() } }
        for i in 0..<1000 {
            let raw = try TCPStream.connect(to: address).stream
            raws.append(raw)
            if i % 2 == 1 {
                // Connect completes on loopback within a few polls; then FIN.
                try pump(reactor) { (try? raw.peerAddress()) != nil }
                try System.shutdown(raw.descriptor, how: Int32(SHUT_WR))
            }
            if i % 100 == 99 { try probe.roundTrip(reactor) }
        }
        try pump(reactor, cycles: 5000) {
            reactor.tcpCounters.accepted + reactor.tcpCounters.overLimit == 1001 && hold.peerClosed >= 300
        }
        try pump(reactor, cycles: 20, timeout: 1_000_000)
        #expect(held == 600)
        #expect(reactor.connectionCount(listener: token) == 600)
        #expect(reactor.tcpCounters.overLimit == 400)
        #expect(hold.received == 0)
        #expect(hold.peerClosed == 300)   // the odd ones of the first 600 (accepted in order)
        // Bounded: every held connection's rings are the pool's, none allocated.
        #expect(pool.misses == 0)
        #expect(pool.available == 0)
        #expect(reactor.registrationCount == 600 + 2 + 2)
        try probe.roundTrip(reactor)
    }
}
