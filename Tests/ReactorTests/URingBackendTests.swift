import Testing
import Foundation
import CFeedReactor
@testable import Reactor
import TestSupport

/// Why io_uring tests cannot run here, or nil when they can.
private let uringUnavailable: String? = {
    do {
        _ = try Reactor(backend: .uring)
        return nil
    } catch {
        return "io_uring backend unavailable: \(error)"
    }
}()

private func uringReactor(_ change: (inout Reactor.Configuration) -> Void = { _ in }) throws -> Reactor {
    var configuration = Reactor.Configuration(backend: .uring)
    change(&configuration)
    return try Reactor(configuration)
}

/// Sends `count` datagrams whose first two bytes are the little-endian index.
private func sendNumbered(_ count: Int, from sender: UDPSocket, to address: SocketAddress, size: Int = 16) throws {
    var payload = [UInt8](repeating: 0xAB, count: size)
    for i in 0..<count {
        payload[0] = UInt8(i & 0xFF)
        payload[1] = UInt8(i >> 8)
        _ = try sender.send(payload, to: address)
    }
}

private func numbers(_ handler: CollectingHandler) -> [Int] {
    handler.payloads.map { Int($0[0]) | Int($0[1]) << 8 }
}

/// Backend-independent behaviour checked on io_uring, plus what only io_uring
/// has: buffer rings, multishot termination and re-arm, cancellation. Every test
/// skips, saying why, where io_uring is not built or not allowed.
@Suite(.enabled(if: uringUnavailable == nil, "\(uringUnavailable ?? "")"))
struct URingBackendTests {
    @Test func receivesInOrderWithSourceAndTruncation() throws {
        let reactor = try uringReactor()
        #expect(reactor.backendKind == .uring)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, options: ReceiveOptions(slotCount: 8, slotSize: 64), handler: handler)
        let (sender, senderAddress) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(100, from: sender, to: address)
        try sender.send([UInt8](repeating: 1, count: 65), to: address)
        try pump(reactor) { handler.payloads.count == 101 }
        #expect(numbers(handler).prefix(100) == ArraySlice(0..<100))
        #expect(handler.payloads.prefix(100).allSatisfy { $0.count == 16 })
        #expect(handler.sources.allSatisfy { $0 == senderAddress })
        #expect(handler.truncated == Array(repeating: false, count: 100) + [true])
        #expect(handler.payloads.last?.count == 64, "cut to the slot size, like epoll")
        // Batches never exceed slotCount descriptors.
        #expect(handler.batches >= 13)
    }

    @Test func ipv6SourceAddress() throws {
        let reactor = try uringReactor()
        guard let (socket, address) = try? loopbackSocket("::1") else { return }  // no IPv6 loopback here
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, senderAddress) = try loopbackSocket("::1")
        defer { sender.close() }
        try sender.send([6, 6], to: address)
        try pump(reactor) { handler.payloads.count == 1 }
        #expect(handler.sources == [senderAddress])
    }

    @Test func withoutSourceAddressesTheKernelCopiesNone() throws {
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, options: ReceiveOptions(slotSize: 64, sourceAddresses: false), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(5, from: sender, to: address)
        try sender.send([UInt8](repeating: 2, count: 65), to: address)
        try pump(reactor) { handler.payloads.count == 6 }
        #expect(numbers(handler).prefix(5) == [0, 1, 2, 3, 4])
        #expect(handler.sources.allSatisfy { $0 == nil })
        #expect(handler.truncated == [false, false, false, false, false, true])
    }

    @Test func controlDataArrivesWithTheDatagram() throws {
        // IP_PKTINFO in the control area of each provided buffer.
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        try socket.setOption(level: Int32(IPPROTO_IP), name: Int32(IP_PKTINFO), value: 1)
        var found = 0
        let handler = CollectingHandler()
        handler.onReceive = { batch, _ in
            for datagram in batch {
                var length = 0
                let data = fr_cmsg_find(datagram.control.baseAddress, datagram.control.count,
                                        Int32(IPPROTO_IP), Int32(IP_PKTINFO), &length)
                if data != nil && length >= MemoryLayout<in_pktinfo>.size && !datagram.isControlTruncated { found += 1 }
            }
        }
        try reactor.register(socket, options: ReceiveOptions(controlSize: 64), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(3, from: sender, to: address)
        try pump(reactor) { handler.payloads.count == 3 }
        #expect(found == 3)
        #expect(numbers(handler) == [0, 1, 2])
    }

    /// A reactor configured by `change`, one socket, and 200 numbered datagrams
    /// queued in that socket before the first poll (the default receive buffer
    /// holds them), drained completely and in order.
    private func drainQueued(_ change: (inout Reactor.Configuration) -> Void)
        throws -> (Reactor, CollectingHandler, sender: UDPSocket, address: SocketAddress) {
        let reactor = try uringReactor(change)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        try sendNumbered(200, from: sender, to: address)
        try pump(reactor, cycles: 10_000) { handler.payloads.count == 200 }
        #expect(numbers(handler) == Array(0..<200))
        #expect(handler.errors.isEmpty, "neither exhaustion nor overflow is a socket error")
        return (reactor, handler, sender, address)
    }

    @Test func bufferRingExhaustionRecoversWithoutLoss() throws {
        // 4 buffers: the multishot receive fills the ring, ends with -ENOBUFS,
        // and must be re-armed after the buffers come back. The datagrams wait
        // in the socket meanwhile: none may be lost.
        let (reactor, handler, sender, address) = try drainQueued { $0.uringBufferCount = 4 }
        defer { sender.close() }
        #expect(reactor.counters.bufferExhaustions > 0)
        #expect(reactor.counters.receiveRearms >= reactor.counters.bufferExhaustions)
        // Still receiving afterwards.
        try sendNumbered(1, from: sender, to: address)
        try pump(reactor) { handler.payloads.count == 201 }
        #expect(handler.payloads.count == 201)
    }

    @Test func multishotEndedByCompletionQueueOverflowIsRearmed() throws {
        // A 2-entry ring has a 4-entry CQ: the queued datagrams overflow it, and
        // the kernel ends the multishot receive when it cannot post a completion.
        let (reactor, _, sender, _) = try drainQueued { $0.uringEntries = 2 }
        defer { sender.close() }
        #expect(reactor.counters.receiveRearms > 0)
        #expect(reactor.counters.bufferExhaustions == 0)
    }

    @Test func deregisterWithCompletionsInFlight() throws {
        // 40 completions land in one reap; the handler deregisters its socket in
        // the first batch of 2. The other 38 completions are stale: dropped,
        // never delivered, and the slot's next registration sees none of them.
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        handler.onReceive = { batch, reactor in _ = reactor.deregister(batch.token) }
        let token = try reactor.register(socket, options: ReceiveOptions(slotCount: 2), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(40, from: sender, to: address)
        try pump(reactor) { !handler.payloads.isEmpty }
        for _ in 0..<5 { _ = try reactor.poll() }
        #expect(numbers(handler) == [0, 1])
        #expect(reactor.counters.staleEvents > 0)

        let (next, nextAddress) = try loopbackSocket()
        let nextHandler = CollectingHandler()
        let nextToken = try reactor.register(next, handler: nextHandler)
        #expect(nextToken.slot == token.slot && nextToken.generation != token.generation)
        try sendNumbered(3, from: sender, to: nextAddress)
        try pump(reactor) { nextHandler.payloads.count == 3 }
        #expect(numbers(nextHandler) == [0, 1, 2])
        #expect(handler.payloads.count == 2)
    }

    @Test func deregisterJustBeforeTheFinalCompletionFreesTheBuffers() throws {
        // 4 buffers: the first reap holds 4 datagrams and the -ENOBUFS that ends
        // the receive. The handler deregisters while that batch is delivered, so
        // no cancel can find the receive: the final completion itself must free
        // the socket's buffer ring.
        let reactor = try uringReactor { $0.uringBufferCount = 4 }
        let backend = try #require(reactor.backend as? URingBackend)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        handler.onReceive = { batch, reactor in _ = reactor.deregister(batch.token) }
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(20, from: sender, to: address)
        try pump(reactor) { !handler.payloads.isEmpty && backend.retiring.isEmpty }
        #expect(numbers(handler) == [0, 1, 2, 3])
        #expect(backend.retiring.isEmpty)
        #expect(reactor.counters.receiveRearms == 0, "a deregistered socket is not re-armed")
    }

    @Test func deregisterCancelsTheReceiveAndReleasesThePort() throws {
        // An in-flight io_uring receive holds a reference to the socket: close()
        // alone would keep the port bound. Deregistering cancels the receive, so
        // the port becomes free within a few duty cycles.
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        let token = try reactor.register(socket, handler: CollectingHandler())
        _ = try reactor.poll()  // submits the multishot receive
        #expect(reactor.deregister(token))
        let backend = try #require(reactor.backend as? URingBackend)
        var rebound: UDPSocket?
        for _ in 0..<100 where rebound == nil || !backend.retiring.isEmpty {
            _ = try reactor.runOnce(timeout: 1_000_000)
            // Without SO_REUSEADDR: fails while any socket still holds the port.
            if rebound == nil, let candidate = try? UDPSocket(ipv6: false) {
                if (try? candidate.bind(to: address)) != nil { rebound = candidate } else { candidate.close() }
            }
        }
        #expect(rebound != nil, "port \(address) still held after deregistration")
        rebound?.close()
        #expect(backend.retiring.isEmpty, "the buffer ring is released once the receive has ended")
    }

    @Test func manyRegistrationsReuseBufferGroups() throws {
        let reactor = try uringReactor { $0.uringBufferCount = 8 }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        for round in 0..<50 {
            let (socket, address) = try loopbackSocket()
            let handler = CollectingHandler()
            let token = try reactor.register(socket, handler: handler)
            try sendNumbered(1, from: sender, to: address)
            try pump(reactor) { handler.payloads.count == 1 }
            #expect(handler.payloads.count == 1, "round \(round)")
            reactor.deregister(token)
        }
        try pump(reactor, cycles: 100, timeout: 1_000_000) {
            (reactor.backend as? URingBackend)?.retiring.isEmpty ?? false
        }
        let backend = try #require(reactor.backend as? URingBackend)
        #expect(backend.retiring.isEmpty)
        #expect(backend.nextGroup <= 3, "groups are recycled, not leaked")
    }

    @Test func closeWithReceivesInFlight() throws {
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(10, from: sender, to: address)
        _ = try reactor.poll()
        try sendNumbered(10, from: sender, to: address)
        reactor.close()
        #expect(throws: ReactorError.stopped) { try reactor.poll() }
    }

    @Test func closeFromInsideAHandler() throws {
        let reactor = try uringReactor()
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        handler.onReceive = { _, reactor in reactor.close() }
        try reactor.register(socket, options: ReceiveOptions(slotCount: 1), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sendNumbered(10, from: sender, to: address)
        try pump(reactor) { !handler.payloads.isEmpty }
        #expect(handler.payloads.count == 1)
        #expect(throws: ReactorError.stopped) { try reactor.poll() }
    }

    @Test func emptyPollMakesNoSystemCallAndTimersDriveTheWait() throws {
        let reactor = try uringReactor()
        let (socket, _) = try loopbackSocket()
        try reactor.register(socket, handler: CollectingHandler())
        _ = try reactor.poll()
        let backend = try #require(reactor.backend as? URingBackend)
        if backend.defersTaskRun {
            // Nothing pending: a poll reads the ring's flags and CQ tail, and does
            // not enter the kernel.
            let enters = fr_uring_enter_count(backend.ring)
            for _ in 0..<10_000 { #expect(try reactor.poll() == 0) }
            #expect(fr_uring_enter_count(backend.ring) == enters)
        }
        let timer = RecordingTimer()
        let deadline = reactor.now + 10_000_000
        _ = try reactor.schedule(at: deadline, handler: timer)
        let before = reactor.counters.cycles
        try pump(reactor, cycles: 50, timeout: 5_000_000_000) { !timer.fired.isEmpty }
        #expect(timer.fired.first.map { $0.now >= deadline } == true)
        #expect(reactor.counters.cycles - before <= 3, "blocked until the timer, not spinning")
    }

    @Test func drivenFromAnotherThreadFailsClearly() throws {
        let reactor = try uringReactor()
        let backend = try #require(reactor.backend as? URingBackend)
        let (socket, _) = try loopbackSocket()
        try reactor.register(socket, handler: CollectingHandler())  // an SQE waits for submission
        final class Box: @unchecked Sendable { var error: ReactorError? }
        let box = Box()
        nonisolated(unsafe) let unsafeReactor = reactor
        let thread = ReactorThread()
        try thread.start { thread in
            thread.ready()
            do throws(ReactorError) { _ = try unsafeReactor.poll() } catch { box.error = error }
        }
        thread.join()
        if backend.setupFlags & FR_URING_SETUP_SINGLE_ISSUER != 0 {
            #expect(box.error?.description.contains("thread") == true)
        }
        // The owning thread still works.
        _ = try reactor.poll()
    }

    @Test func autoPicksURingWhereAvailable() throws {
        #expect(try Reactor(backend: .auto).backendKind == .uring)
    }
}

/// What happens where io_uring is not built or not allowed.
@Suite struct URingAvailabilityTests {
    @Test func unavailableURingSaysWhyAndAutoFallsBack() throws {
        guard let reason = uringUnavailable else { return }  // available: covered above
        #expect(throws: ReactorError.self) { try Reactor(backend: .uring) }
        if fr_uring_built() == 0 {
            #expect(reason.contains("liburing-dev"))
        }
        #expect(reason.contains("--backend epoll"))
        #expect(try Reactor(backend: .auto).backendKind == .epoll)
    }

    @Test func setupFailuresNameTheCauseAndTheFix() {
        #expect(URingBackend.setupFailure(errno: ENOSYS).contains("CONFIG_IO_URING"))
        #expect(URingBackend.setupFailure(errno: EINVAL).contains("6.0"))
        #expect(URingBackend.setupFailure(errno: ENOMEM).contains("uringEntries"))
        #expect(SystemError(call: "io_uring_register_buf_ring", errno: ENOMEM).description.contains("ulimit -l"))
        for errno in [ENOSYS, EPERM, EINVAL, ENOMEM, EMFILE, EIO] {
            #expect(URingBackend.setupFailure(errno: errno).contains("--backend epoll"))
        }
    }

    @Test func invalidBufferCountIsRejected() {
        var configuration = Reactor.Configuration(backend: .uring)
        configuration.uringBufferCount = 1000
        #expect(throws: ReactorError.self) { try Reactor(configuration) }
    }

    /// Datagram sockets send through the ring's registered file table (their
    /// token slot); where registering fails, through the plain descriptor. The
    /// slot is emptied at deregistration and taken again by the next socket.
    @Test func sendsUseRegisteredFilesOrFallBack() throws {
        defer { SystemFaults.reset() }
        let reactor = try uringReactor()
        let uring = try #require(reactor.backend as? URingBackend)
        let (target, address) = try loopbackSocket()
        let collector = CollectingHandler()
        try reactor.register(target, handler: collector)
        func fixed(_ token: Token) -> Bool? {
            if case .datagram(let state)? = uring.entries[Int(token.slot)] { return state.fixedFile }
            return nil
        }
        let (first, _) = try loopbackSocket()
        let registered = try reactor.register(first, interest: [], handler: CollectingHandler())
        #expect(uring.fileTable == .registered)
        #expect(fixed(registered) == true)
        // The update for the next socket fails: it sends with its descriptor.
        SystemFaults.inject(.uringRegister, errno: ENOMEM)
        let (second, _) = try loopbackSocket()
        let plain = try reactor.register(second, interest: [], handler: CollectingHandler())
        #expect(fixed(plain) == false)
        var payload = [UInt8](repeating: 0xAB, count: 16)
        for i in 0..<8 {
            payload[0] = UInt8(i)
            payload[1] = 0
            let token = i % 2 == 0 ? registered : plain
            #expect(payload.withUnsafeBytes { reactor.send(token, $0, to: address) } == .sent)
            reactor.flushSends()
        }
        try pump(reactor, cycles: 200) { collector.payloads.count == 8 }
        #expect(numbers(collector) == Array(0..<8))
        // Deregistered, its slot is emptied; the socket that takes the slot next registers it again.
        #expect(reactor.deregister(registered))
        let (third, _) = try loopbackSocket()
        let again = try reactor.register(third, interest: [], handler: CollectingHandler())
        #expect(again.slot == registered.slot)
        #expect(fixed(again) == true)
        #expect(Array([1, 2]).withUnsafeBytes { reactor.send(again, $0, to: address) } == .sent)
        try pump(reactor, cycles: 200) { collector.payloads.count == 9 }
    }
}
