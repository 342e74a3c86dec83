// swift package --disable-sandbox benchmark --target TCPURingBenchmarks
//
// Allocation gates of TCP on io_uring's completion path (multishot recv from the
// shared buffer group, send SQEs): one 64-byte read and one 64-byte write over
// an established loopback connection, in steady state. Registered only where
// an io_uring reactor can be made (`socketBackends`), so the thresholds check
// neither runs nor misses them elsewhere. The canary proves the interposer counts.

import Benchmark
import BenchmarkSupport
import Reactor
#if canImport(Glibc)
import Glibc
#endif

let benchmarks: @Sendable () -> Void = {
    registerCanary()
    guard socketBackends.contains(.uring) else { return }
    registerGate("TCP.Read64.uring", timed: true) {
        try TCPRig()
    } step: { rig in
        rig.read()
    }
    registerGate("TCP.Write64.uring", timed: true) {
        try TCPRig()
    } step: { rig in
        rig.write()
    }
}

/// Counts what it is offered and consumes all of it.
final class CountingStream: TCPStreamHandler {
    var bytes = 0
    var isConnected = false
    func connected(token: Token, reactor: Reactor) { isConnected = true }
    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        bytes += spans.count
        return spans.count
    }
    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
}

/// A stream registered on an io_uring reactor, its peer a plain blocking socket.
final class TCPRig {
    let reactor: Reactor
    let listener: TCPListener
    let peer: TCPStream
    let token: Token
    let handler = CountingStream()
    let buffer: UnsafeMutableRawPointer
    static let size = 64

    init() throws {
        reactor = try Reactor(backend: .uring)
        listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        token = try reactor.connect(to: listener.localAddress(), handler: handler)
        var accepted: TCPStream?
        var polls = 0
        while accepted == nil || !handler.isConnected {
            try reactor.poll()
            if accepted == nil, case .processed(let pair) = try listener.accept() { accepted = pair.stream }
            polls += 1
            precondition(polls < 1_000_000, "TCPRig: the loopback connect never completed")
        }
        peer = accepted!
        precondition(reactor.tcpUsesCompletions, "TCPRig: io_uring TCP fell back to readiness")
        buffer = .allocate(byteCount: Self.size, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: Self.size)
        // Warm up both directions (buffer group pages, first CQEs).
        for _ in 0..<64 {
            read()
            write()
        }
    }

    deinit {
        reactor.close()
        peer.close()
        listener.close()
        buffer.deallocate()
    }

    /// The peer sends 64 bytes; the reactor's multishot recv hands them over.
    @inline(__always)
    func read() {
        let target = handler.bytes + Self.size
        guard send(peer.descriptor, buffer, Self.size, Int32(MSG_NOSIGNAL)) == Self.size else {
            fatalError("TCPRig: loopback send failed")
        }
        pump(reactor, what: "TCP read") { handler.bytes >= target }
    }

    /// 64 bytes written through the reactor (a send SQE at the end of the
    /// cycle, the ring consumed at its completion), read by the peer.
    @inline(__always)
    func write() {
        let accepted = reactor.write(token, UnsafeRawBufferPointer(start: buffer, count: Self.size))
        precondition(accepted == Self.size, "TCPRig: the send ring is full")
        pump(reactor, what: "TCP write") { reactor.queuedBytes(token) == 0 }
        guard recv(peer.descriptor, buffer, Self.size, Int32(MSG_WAITALL)) == Self.size else {
            fatalError("TCPRig: loopback recv failed")
        }
    }
}
