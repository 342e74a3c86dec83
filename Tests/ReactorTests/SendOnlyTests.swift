import Testing
import Glibc
@testable import Reactor
import TestSupport

/// Counts what a send-only registration must never hear (receives) and what it must (writable).
final class SendOnlyHandler: DatagramHandler {
    var received = 0
    var writable = 0
    var errors: [any Error] = []
    func receive(_ batch: DatagramBatch, reactor: Reactor) { received += batch.count }
    func writable(token: Token, reactor: Reactor) { writable += 1 }
    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors.append(error) }
}

/// `register(_:interest: [])`: a socket that only sends is not watched (no
/// epoll entry, no io_uring receive) except while sends wait for room, and is
/// never read; its sends, queued ones included, go out in order.
@Suite struct SendOnlyTests {
    /// The descriptors an epoll set watches, from /proc/self/fdinfo ("tfd: N" lines).
    static func watched(by epfd: Int32) throws -> Set<Int32> {
        let text = try String(contentsOfFile: "/proc/self/fdinfo/\(epfd)", encoding: .utf8)
        var descriptors = Set<Int32>()
        for line in text.split(separator: "\n") where line.hasPrefix("tfd:") {
            if let fd = line.dropFirst(4).split(separator: " ").first.flatMap({ Int32($0) }) { descriptors.insert(fd) }
        }
        return descriptors
    }

    /// A reactor with a collecting receiver at `address` and a send-only socket
    /// (`token`, bound at `senderAddress`) whose queue holds `queueCapacity`.
    struct Rig {
        let reactor: Reactor
        let address: SocketAddress
        let collector = CollectingHandler()
        let handler = SendOnlyHandler()
        let token: Token
        let descriptor: Int32
        let senderAddress: SocketAddress

        init(_ backend: BackendKind, queueCapacity: Int) throws {
            reactor = try Reactor(backend: backend)
            let (target, address) = try loopbackSocket()
            self.address = address
            try reactor.register(target, handler: collector)
            let (socket, senderAddress) = try loopbackSocket()
            self.senderAddress = senderAddress
            descriptor = socket.descriptor
            token = try reactor.register(socket, send: SendOptions(queueCapacity: queueCapacity, slotSize: 64),
                                         interest: [], handler: handler)
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func sendOnlySocketIsNotReadAndSendsInOrder(backend: BackendKind) throws {
        defer { SystemFaults.reset() }
        let rig = try Rig(backend, queueCapacity: 4)
        let (reactor, address, collector, handler, token) = (rig.reactor, rig.address, rig.collector, rig.handler, rig.token)
        let descriptor = rig.descriptor
        #expect(reactor.interest(of: token) == [])
        switch backend {
        case .epoll:
            #expect(try !Self.watched(by: reactor.backend.descriptor).contains(descriptor))
        default:
            let uring = try #require(reactor.backend as? URingBackend)
            guard case .datagram(let state)? = uring.entries[Int(token.slot)] else {
                Issue.record("no datagram entry for the send-only socket")
                return
            }
            #expect(state.receiver == nil)
        }
        // A datagram sent to it stays in its receive queue: nobody reads it.
        let (stranger, _) = try loopbackSocket()
        defer { stranger.close() }
        _ = try [UInt8](repeating: 7, count: 8).withUnsafeBytes { try stranger.send($0, to: rig.senderAddress) }

        if backend == .epoll {
            // EAGAIN once: this datagram and the next three wait behind EPOLLOUT,
            // which puts the socket into the epoll set until they are out.
            SystemFaults.inject(.sendto, errno: EAGAIN)
        }
        var results: [SendResult] = []
        for i in 0..<6 { results.append(SendTests.send(reactor, token, SendTests.payload(i), to: address)) }
        switch backend {
        case .epoll:
            #expect(results == [.queued, .queued, .queued, .queued, .refused(.queueFull), .refused(.queueFull)])
            #expect(try Self.watched(by: reactor.backend.descriptor).contains(descriptor))
        default:
            #expect(results == [.sent, .sent, .sent, .sent, .refused(.queueFull), .refused(.queueFull)])
        }
        try pump(reactor, cycles: 200) { handler.writable == 1 && collector.payloads.count == 4 }
        #expect(collector.payloads.map(SendTests.sequence) == [0, 1, 2, 3])
        if backend == .epoll {
            #expect(try !Self.watched(by: reactor.backend.descriptor).contains(descriptor))
        }
        #expect(SendTests.send(reactor, token, SendTests.payload(4), to: address) == .sent)
        try pump(reactor, cycles: 200) { collector.payloads.count == 5 }
        #expect(collector.payloads.map(SendTests.sequence) == [0, 1, 2, 3, 4])
        try pump(reactor, cycles: 20)
        #expect(handler.received == 0)
        #expect(handler.errors.isEmpty)
        #expect(reactor.deregister(token))
    }

    @Test(arguments: TestEnvironment.backends)
    func sendOnlySocketIsFlushedWhileBusyPolling(backend: BackendKind) throws {
        defer { SystemFaults.reset() }
        let rig = try Rig(backend, queueCapacity: 8)
        let (reactor, address, collector, handler, token) = (rig.reactor, rig.address, rig.collector, rig.handler, rig.token)
        if backend == .epoll { SystemFaults.inject(.sendto, errno: EAGAIN) }
        for i in 0..<3 { _ = SendTests.send(reactor, token, SendTests.payload(i), to: address) }
        // run(idle: .spin) busy-polls (epoll: no epoll_wait at all); the queue
        // still drains and the receiver, read directly, gets all three.
        collector.onReceive = { _, reactor in if collector.payloads.count >= 3 { reactor.stop() } }
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(collector.payloads.map(SendTests.sequence) == [0, 1, 2])
        #expect(handler.received == 0)
    }

    @Test func writableIsNotADatagramInterest() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, _) = try loopbackSocket()
        defer { socket.close() }
        #expect(throws: ReactorError.self) {
            try reactor.register(socket, interest: [.readable, .writable], handler: SendOnlyHandler())
        }
        #expect(reactor.registrationCount == 0)
    }
}
