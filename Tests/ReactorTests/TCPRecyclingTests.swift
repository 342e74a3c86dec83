import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// TCP registration objects (and pooled connections) are reused after their
/// connection ended, on both backends (`Reactor.spareRegistrations`): what the
/// kernel still reports about the old connection (epoll readiness, io_uring
/// recv completions of the bytes it was sent) must never reach the next one.
@Suite struct TCPRecyclingTests {
    /// Checks that every byte it is offered is its own client's, and that no
    /// callback comes after `closed`; closes itself at the first bytes, while
    /// more of them are queued in the socket or reaped as completions.
    final class OwnBytesOnly: TCPStreamHandler {
        let expected: UInt8
        var received = 0
        var foreign = 0
        var afterClose = 0
        var isClosed = false
        var registration: ObjectIdentifier?

        init(expected: UInt8) { self.expected = expected }

        func connected(token: Token, reactor: Reactor) {
            if isClosed { afterClose += 1 }
            registration = reactor.registration(for: token).map(ObjectIdentifier.init)
        }

        func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
            if isClosed { afterClose += 1 }
            for span in [spans.first, spans.second] {
                for byte in span where byte != expected { foreign += 1 }
            }
            received += spans.count
            reactor.close(token, flush: false)
            return spans.count
        }

        func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
            if isClosed { afterClose += 1 }
            isClosed = true
        }
    }

    /// Hands each connection a handler expecting the byte its client sends
    /// (looked up by the client's port).
    final class ByPort: TCPListenerHandler {
        var expected: [UInt16: UInt8] = [:]
        var handlers: [OwnBytesOnly] = []

        func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
            guard let byte = expected[peer.port] else { return nil }
            let handler = OwnBytesOnly(expected: byte)
            handlers.append(handler)
            return handler
        }
    }

    /// 200 connections, two at a time, through a pool of two connections and
    /// 16-byte io_uring buffers (so 512 bytes are 32 recv completions, most of
    /// them reaped after the handler closed): each handler sees only its own
    /// client's bytes, nothing after `closed`, and the registration objects
    /// are reused.
    @Test(arguments: TCPStreamTests.backends)
    func lateEventsOfARecycledRegistrationNeverReachTheNextConnection(_ backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.uringStreamBufferSize = 16
        configuration.uringStreamBufferCount = 64
        configuration.maxRegistrations = 16
        let reactor = try Reactor(configuration)
        defer { reactor.close() }
        let pool = TCPConnectionPool(capacity: 2, receiveCapacity: 4096, sendCapacity: 4096)
        let server = ByPort()
        let (_, address) = try loopbackListener(reactor, options: TCPListenerOptions(pool: pool), handler: server)
        let connections = 200
        var clients: [TCPStream] = []
        defer { for client in clients { client.close() } }
        for index in 0..<connections {
            let byte = UInt8(index % 255 + 1)
            let client = try TCPStream.connect(to: address).stream
            try client.setResetOnClose()
            server.expected[try client.localAddress().port] = byte
            try sendAll(client, [UInt8](repeating: byte, count: 512))
            clients.append(client)
            // Keep two clients in flight: the next connection is accepted in the
            // cycles that still reap the previous one's completions.
            if clients.count > 2 { clients.removeFirst().close() }
            if index > 0 {
                try pump(reactor, cycles: 2000) { server.handlers.count >= index && server.handlers[index - 1].isClosed }
            }
        }
        try pump(reactor, cycles: 2000) { server.handlers.count == connections && server.handlers.allSatisfy(\.isClosed) }
        #expect(server.handlers.allSatisfy { $0.received > 0 })
        if backend == .uring {
            // Closed at the first completion: the rest of its 512 bytes were still
            // the kernel's (queued, or completions reaped after the close).
            #expect(server.handlers.allSatisfy { $0.received < 512 })
        }
        #expect(server.handlers.map(\.foreign).reduce(0, +) == 0, "a handler was offered another connection's bytes")
        #expect(server.handlers.map(\.afterClose).reduce(0, +) == 0, "a callback came after closed")
        // Reused, not allocated per connection: far fewer distinct objects than connections.
        let registrations = Set(server.handlers.compactMap(\.registration))
        #expect(registrations.count < connections / 10, "\(registrations.count) registration objects for \(connections)")
        #expect(pool.misses < UInt64(connections / 10))
        #expect(reactor.tcpCounters.accepted == UInt64(connections))
    }

    func sendAll(_ client: TCPStream, _ bytes: [UInt8]) throws {
        var sent = 0
        var waits = 0
        while sent < bytes.count {
            let flags = Int32(MSG_NOSIGNAL)
            let n: Int = bytes.withUnsafeBytes { raw in
                send(client.descriptor, raw.baseAddress.map { $0 + sent }, raw.count - sent, flags)
            }
            if n > 0 {
                sent += n
                continue
            }
            // Still connecting (nonblocking): wait for writable, bounded.
            guard n < 0, errno == EAGAIN || errno == ENOTCONN, waits < 100 else {
                throw SystemError(call: "send", errno: errno)
            }
            waits += 1
            var entry = pollfd(fd: client.descriptor, events: Int16(POLLOUT), revents: 0)
            _ = Glibc.poll(&entry, 1, 100)
        }
    }
}
