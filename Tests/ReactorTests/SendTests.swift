import Testing
import Glibc
import CFeedReactor
@testable import Reactor
import TestSupport

/// A datagram handler that also counts `writable`.
final class SendingHandler: DatagramHandler {
    var writable = 0
    var errors: [any Error] = []
    func receive(_ batch: DatagramBatch, reactor: Reactor) {}
    func writable(token: Token, reactor: Reactor) { writable += 1 }
    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors.append(error) }
}

/// Sends through the reactor: direct, queued, refused, writable, errors; both backends.
@Suite struct SendTests {
    static func payload(_ i: Int, size: Int = 16) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: size)
        withUnsafeBytes(of: UInt32(i).littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        return bytes
    }

    static func sequence(_ bytes: [UInt8]) -> Int {
        Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
    }

    static func send(_ reactor: Reactor, _ token: Token, _ bytes: [UInt8], to address: SocketAddress?) -> SendResult {
        bytes.withUnsafeBytes { reactor.send(token, $0, to: address) }
    }

    /// Sends `count` datagrams in order, waiting for `writable` after each
    /// refusal and retrying the same one. Returns how many were refused.
    static func sendAll(_ reactor: Reactor, _ token: Token, _ handler: SendingHandler, count: Int, size: Int,
                        to address: SocketAddress) throws -> (queued: Int, refused: Int) {
        var queued = 0
        var refused = 0
        var i = 0
        var rounds = 0
        while i < count && rounds < 100_000 {
            rounds += 1
            switch send(reactor, token, payload(i, size: size), to: address) {
            case .sent: i += 1
            case .queued: i += 1; queued += 1
            case .refused(.queueFull):
                refused += 1
                let before = handler.writable
                try pump(reactor, cycles: 2000, timeout: 10_000_000) { handler.writable > before }
                #expect(handler.writable > before, "writable never came after a refusal")
            case .refused(let other):
                Issue.record("unexpected refusal \(other)")
                return (queued, refused)
            }
        }
        #expect(i == count)
        return (queued, refused)
    }

    @Test(.enabled(if: TestEnvironment.isRoot, "needs root: a veth pair with a tbf qdisc in a network namespace"),
          arguments: TestEnvironment.backends)
    func fullSendBufferQueuesThenDrainsInOrder(backend: BackendKind) throws {
        // On one CPU: the order checked is the order sent (see onOneCPU).
        try onOneCPU {
            let link = try ThrottledLink()
            defer { link.close() }
            let receiver = try link.peerSocket()
            let destination = try receiver.localAddress()
            let reactor = try Reactor(backend: backend)
            let collector = CollectingHandler()
            try reactor.register(receiver, handler: collector)
            let socket = try UDPSocket.bound(to: SocketAddress(link.localAddress, port: 0))
            try socket.setSendBuffer(bytes: 4096)   // ~ a few datagrams in the qdisc fill it
            let handler = SendingHandler()
            let token = try reactor.register(socket, send: SendOptions(queueCapacity: 16, slotSize: 1200), handler: handler)
            let count = 300
            let (queued, refused) = try Self.sendAll(reactor, token, handler, count: count, size: 1000, to: destination)
            try pump(reactor, cycles: 5000, timeout: 10_000_000) { collector.payloads.count == count }
            #expect(collector.payloads.map(Self.sequence) == Array(0..<count))
            // The kernel pushed back: something was queued (epoll) or refused.
            #expect(queued + refused > 0)
            #expect(handler.writable > 0)
            #expect(reactor.counters.sendsRefused == UInt64(refused))
            if backend == .epoll {
                #expect(queued > 0)
                #expect(reactor.counters.queuedSendsFlushed == UInt64(queued))
            }
            #expect(handler.errors.isEmpty)
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func boundedQueueRefusesThenWritable(backend: BackendKind) throws {
        defer { SystemFaults.reset() }
        let reactor = try Reactor(backend: backend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        let (socket, _) = try loopbackSocket()
        let handler = SendingHandler()
        let token = try reactor.register(socket, send: SendOptions(queueCapacity: 4, slotSize: 64), handler: handler)
        if backend == .epoll {
            // The kernel says EAGAIN once: that datagram and the next three wait, in order.
            SystemFaults.inject(.sendto, errno: EAGAIN)
        }
        var results: [SendResult] = []
        for i in 0..<6 { results.append(Self.send(reactor, token, Self.payload(i), to: address)) }
        switch backend {
        case .epoll: #expect(results == [.queued, .queued, .queued, .queued, .refused(.queueFull), .refused(.queueFull)])
        default: #expect(results == [.sent, .sent, .sent, .sent, .refused(.queueFull), .refused(.queueFull)])
        }
        #expect(reactor.counters.sendsRefused == 2)
        try pump(reactor, cycles: 200) { handler.writable == 1 && collector.payloads.count == 4 }
        #expect(handler.writable == 1)
        #expect(collector.payloads.map(Self.sequence) == [0, 1, 2, 3])
        // Room again: the next send goes straight out.
        #expect(Self.send(reactor, token, Self.payload(4), to: address) == .sent)
        #expect(Self.send(reactor, token, [UInt8](repeating: 0, count: 65), to: address) == .refused(.tooLarge(65)))
        try pump(reactor, cycles: 200) { collector.payloads.count == 5 }
        #expect(collector.payloads.map(Self.sequence) == [0, 1, 2, 3, 4])
    }

    /// A socket deregistered while its sends are in flight (io_uring: submitted,
    /// their completions not yet reaped): the completions of the stale owner
    /// give every send buffer back, so the next socket has the whole pool.
    @Test(arguments: TestEnvironment.backends)
    func deregisteredWhileSendsAreInFlight(backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.uringSendBuffers = 8
        let reactor = try Reactor(configuration)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        for round in 0..<3 {
            let (socket, _) = try loopbackSocket()
            let token = try reactor.register(socket, send: SendOptions(queueCapacity: 8, slotSize: 64),
                                             handler: SendingHandler())
            for i in 0..<8 { #expect(Self.send(reactor, token, Self.payload(round * 8 + i), to: address) == .sent) }
            reactor.flushSends()
            #expect(reactor.deregister(token))
            try pump(reactor, cycles: 200) { collector.payloads.count == 8 * (round + 1) }
        }
        #expect(collector.payloads.map(Self.sequence) == Array(0..<24))
        #expect(reactor.counters.sendsRefused == 0)
    }

    /// The send path borrows a socket's backend state by token slot: after the
    /// socket is deregistered its token is refused, and the next registration in
    /// the same slot (a plain, uncoalesced one) sends with its own state.
    @Test(arguments: TestEnvironment.backends)
    func aReusedSlotSendsWithItsOwnState(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        let (first, _) = try loopbackSocket()
        let old = try reactor.register(first, send: SendOptions(queueCapacity: 4, slotSize: 64, coalesce: true),
                                       interest: [], handler: SendingHandler())
        for i in 0..<2 { #expect(Self.send(reactor, old, Self.payload(i), to: address) == .sent) }
        reactor.flushSends()
        try pump(reactor, cycles: 200) { collector.payloads.count == 2 }
        #expect(reactor.deregister(old))
        #expect(Self.send(reactor, old, Self.payload(99), to: address) == .refused(.notRegistered))
        let (second, _) = try loopbackSocket()
        let new = try reactor.register(second, send: SendOptions(queueCapacity: 4, slotSize: 32), handler: SendingHandler())
        #expect(new.slot == old.slot && new != old)
        if backend == .epoll {   // (io_uring's send buffers are the reactor's, sized by its configuration)
            #expect(Self.send(reactor, new, [UInt8](repeating: 1, count: 48), to: address) == .refused(.tooLarge(48)))
        }
        for i in 2..<5 { #expect(Self.send(reactor, new, Self.payload(i), to: address) == .sent) }
        #expect(Self.send(reactor, old, Self.payload(99), to: address) == .refused(.notRegistered))
        reactor.flushSends()
        try pump(reactor, cycles: 200) { collector.payloads.count == 5 }
        #expect(collector.payloads.map(Self.sequence) == Array(0..<5))
        #expect(reactor.pendingSends(for: new) == 0)
    }

    /// `SendOptions.coalesce`: epoll gathers a cycle's sends and hands them
    /// over with sendmmsg at the end of the cycle (or when the queue is full);
    /// a kernel that pushes back leaves the rest queued behind EPOLLOUT, and
    /// `writable` follows. io_uring ignores the option; the order holds on both.
    @Test(arguments: TestEnvironment.backends)
    func coalescedSendsGoOutAtTheEndOfTheCycleInOrder(backend: BackendKind) throws {
        defer { SystemFaults.reset() }
        let reactor = try Reactor(backend: backend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        let (socket, _) = try loopbackSocket()
        let handler = SendingHandler()
        let token = try reactor.register(socket, send: SendOptions(queueCapacity: 4, slotSize: 64, coalesce: true),
                                         handler: handler)
        // Three fit the queue: nothing reaches the kernel until the cycle ends.
        for i in 0..<3 { #expect(Self.send(reactor, token, Self.payload(i), to: address) == .sent) }
        if backend == .epoll {
            #expect(reactor.pendingSends(for: token) == 3)
            #expect(reactor.counters.sendsDirect == 3)
        }
        reactor.flushSends()
        try pump(reactor, cycles: 200) { collector.payloads.count == 3 }
        #expect(collector.payloads.map(Self.sequence) == [0, 1, 2])
        #expect(reactor.pendingSends(for: token) == 0)
        // (io_uring keeps at most four in flight and ignores the option.)
        guard backend == .epoll else { return }
        // Ten into a queue of four: a full queue is sent to make room.
        for i in 3..<13 { #expect(Self.send(reactor, token, Self.payload(i), to: address) == .sent) }
        try pump(reactor, cycles: 200) { collector.payloads.count == 13 }
        #expect(collector.payloads.map(Self.sequence) == Array(0..<13))
        #expect(handler.writable == 0)
        // The kernel says EAGAIN to the end-of-cycle sendmmsg: the gathered
        // datagrams wait for EPOLLOUT, later sends queue behind them, the
        // queue's end is refused, and `writable` comes once it is all out.
        SystemFaults.inject(.sendmmsg, errno: EAGAIN)
        for i in 13..<15 { #expect(Self.send(reactor, token, Self.payload(i), to: address) == .sent) }
        reactor.flushSends()
        #expect(reactor.pendingSends(for: token) == 2)
        #expect(Self.send(reactor, token, Self.payload(15), to: address) == .queued)
        #expect(Self.send(reactor, token, Self.payload(16), to: address) == .queued)
        #expect(Self.send(reactor, token, Self.payload(17), to: address) == .refused(.queueFull))
        try pump(reactor, cycles: 200) { handler.writable == 1 && collector.payloads.count == 17 }
        #expect(collector.payloads.map(Self.sequence) == Array(0..<17))
        #expect(handler.writable == 1)
        #expect(handler.errors.isEmpty)
    }

    @Test(arguments: TestEnvironment.backends)
    func batchSendAndRawAddress(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        // Answer each datagram to its raw source address, through the reactor.
        let echo = CollectingHandler()
        let (echoSocket, echoAddress) = try loopbackSocket()
        let echoToken = try reactor.register(echoSocket, handler: echo)
        echo.onReceive = { batch, reactor in
            for datagram in batch {
                let source = datagram.sourceAddress
                #expect(reactor.send(echoToken, datagram.bytes, toRaw: source.baseAddress!, length: source.count) == .sent)
            }
        }
        let token = try reactor.register(target, handler: collector)
        let batch = SendBatch(capacity: 8, slotSize: 64)
        for i in 0..<8 { Self.payload(i).withUnsafeBytes { _ = batch.append($0, to: echoAddress) } }
        let result = reactor.send(token, batch: batch)
        #expect(result.sent == 8 && result.queued == 0 && result.refused == 0)
        #expect(batch.count == 0)
        try pump(reactor, cycles: 200) { collector.payloads.count == 8 }
        #expect(collector.payloads.map(Self.sequence) == Array(0..<8))
        #expect(collector.sources.allSatisfy { $0 == echoAddress })
        _ = address
        // A stale token refuses, counted.
        #expect(reactor.deregister(token))
        #expect(Self.send(reactor, token, [1], to: echoAddress) == .refused(.notRegistered))
    }

    /// An IPv4 socket told to send to an IPv6 address: epoll hears EAFNOSUPPORT
    /// from sendto at once; io_uring in the completion, which goes to `failed`.
    @Test(arguments: TestEnvironment.backends)
    func kernelSendErrorsAreReported(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (socket, _) = try loopbackSocket()
        let handler = SendingHandler()
        let token = try reactor.register(socket, handler: handler)
        let wrongFamily = try SocketAddress("::1", port: 9)
        let result = Self.send(reactor, token, [1, 2, 3], to: wrongFamily)
        switch backend {
        case .epoll:
            #expect(result == .refused(.failed(SystemError(call: "sendto", errno: EAFNOSUPPORT))))
        default:
            #expect(result == .sent)
            try pump(reactor, cycles: 200) { !handler.errors.isEmpty }
            #expect(reactor.counters.sendErrors == 1)
            let error = handler.errors.first as? ReactorError
            guard case .system(let system)? = error else {
                Issue.record("expected a system error, got \(String(describing: handler.errors.first))")
                return
            }
            #expect(system.errno == EAFNOSUPPORT)
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func injectedSubmissionFaults(backend: BackendKind) throws {
        defer { SystemFaults.reset() }
        let reactor = try Reactor(backend: backend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        let (socket, _) = try loopbackSocket()
        let token = try reactor.register(socket, handler: SendingHandler())
        if backend == .uring {
            // No SQE at the end of the cycle: the send stays first in line for the next.
            SystemFaults.inject(.uringSQE, errno: EBUSY)
            #expect(Self.send(reactor, token, Self.payload(0), to: address) == .sent)
            reactor.flushSends()
            // A failed submit leaves the SQEs queued: the next wait submits them.
            SystemFaults.inject(.uringSubmit, errno: EAGAIN)
            #expect(Self.send(reactor, token, Self.payload(1), to: address) == .sent)
            reactor.flushSends()
            try pump(reactor, cycles: 200) { collector.payloads.count == 2 }
            #expect(collector.payloads.map(Self.sequence) == [0, 1])
            // Registration whose receive cannot be armed throws and leaves no slot taken.
            let before = reactor.registrationCount
            SystemFaults.inject(.uringSQE, errno: EBUSY)
            let (other, _) = try loopbackSocket()
            defer { other.close() }
            #expect(throws: ReactorError.system(SystemError(call: "io_uring_get_sqe", errno: EBUSY))) {
                try reactor.register(other, handler: CollectingHandler())
            }
            #expect(reactor.registrationCount == before)
        } else {
            SystemFaults.inject(.epollCtl, errno: ENOMEM)
            let pipe = try System.pipe()
            defer { System.close(pipe.read); System.close(pipe.write) }
            #expect(throws: ReactorError.system(SystemError(call: "epoll_ctl", errno: ENOMEM))) {
                try reactor.register(descriptor: pipe.read, interest: .readable, handler: ReadinessRecorder())
            }
        }
        SystemFaults.inject(.pipe, errno: EMFILE)
        #expect(throws: SystemError(call: "pipe2", errno: EMFILE)) { try System.pipe() }
        SystemFaults.inject(.timerfd, errno: EMFILE)
        #expect(throws: SystemError(call: "timerfd_create", errno: EMFILE)) { try System.timerfdCreate() }
    }
}
