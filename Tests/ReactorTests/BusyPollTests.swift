import Testing
import Foundation
import CFeedReactor
@testable import Reactor
import TestSupport

/// `run(idle: .spin)` on epoll with few sockets reads them directly
/// (`Configuration.busyPollSockets`) instead of waiting for readiness.
@Suite struct BusyPollTests {
    /// Receives until `count` datagrams arrived, then stops the reactor.
    func stopping(after count: Int, _ handler: CollectingHandler = CollectingHandler()) -> CollectingHandler {
        let previous = handler.onReceive
        handler.onReceive = { batch, reactor in
            try previous?(batch, reactor)
            if handler.payloads.count >= count { reactor.stop() }
        }
        return handler
    }

    @Test func deliversEverythingInOrderWithoutWaiting() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = stopping(after: 100)
        try reactor.register(socket, options: ReceiveOptions(slotCount: 16), handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        // 100 fit the default receive buffer.
        for i in 0..<100 { try sender.send([UInt8(i)], to: address) }
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(handler.payloads.map { Int($0[0]) } == Array(0..<100))
        #expect(reactor.counters.busyPollCycles == reactor.counters.cycles)
        // The first datagram came through the single-datagram probe, the rest in
        // batches of up to 16 once the socket was known to be busy.
        #expect(handler.batches < 100)
        #expect(handler.sources.allSatisfy { $0 == (try? sender.localAddress()) })
    }

    @Test func probeReportsTruncationSourceAndControl() throws {
        let reactor = try Reactor(backend: .epoll)
        let (plain, plainAddress) = try loopbackSocket()
        let (stamped, stampedAddress) = try loopbackSocket()
        try stamped.setOption(level: SOL_SOCKET, name: SO_TIMESTAMPNS, value: 1)
        struct Seen { var length: Int; var truncated: Bool; var control: Int; var source: Int }
        final class Recorder: DatagramHandler {
            var seen: [Token: Seen] = [:]
            func receive(_ batch: DatagramBatch, reactor: Reactor) {
                for d in batch {
                    seen[batch.token] = Seen(length: d.count, truncated: d.isTruncated, control: d.control.count,
                                             source: d.sourceAddress.count)
                }
                if seen.count == 2 { reactor.stop() }
            }
        }
        let recorder = Recorder()
        // No control space: the probe is recvfrom. 100-byte slots, no sources.
        let plainToken = try reactor.register(plain, options: ReceiveOptions(slotCount: 4, slotSize: 100, sourceAddresses: false),
                                              handler: recorder)
        // Control space: the probe is recvmsg, and brings the timestamp.
        let stampedToken = try reactor.register(stamped, options: ReceiveOptions(slotCount: 4, controlSize: 64), handler: recorder)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([UInt8](repeating: 7, count: 3000), to: plainAddress)
        try sender.send([UInt8](repeating: 8, count: 10), to: stampedAddress)
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        let cut = try #require(recorder.seen[plainToken])
        #expect(cut.length == 100 && cut.truncated, "cut to the slot and flagged")
        #expect(cut.source == 0 && cut.control == 0)
        let whole = try #require(recorder.seen[stampedToken])
        #expect(whole.length == 10 && !whole.truncated)
        #expect(whole.source == MemoryLayout<sockaddr_in>.size)
        #expect(whole.control > 0, "SO_TIMESTAMPNS control message delivered")
        #expect(reactor.counters.busyPollCycles > 0)
    }

    @Test func postedWorkTimersAndRemoteStopStillRun() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, _) = try loopbackSocket()
        try reactor.register(socket, handler: CollectingHandler())
        let timer = RecordingTimer()
        _ = try reactor.schedule(after: 1_000_000, period: 1_000_000, handler: timer)
        let remote = reactor.remote
        final class Flag: @unchecked Sendable { var ran = false }
        let flag = Flag()
        timer.onFire = { _, _, _ in
            // Once timers run, post from another thread: the post must be noticed
            // without epoll (no eventfd read), and its stop must end run().
            if timer.fired.count == 3 {
                Thread { remote.post { flag.ran = true; remote.stop() } }.start()
            }
        }
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(flag.ran)
        #expect(timer.fired.count >= 3)
        #expect(reactor.counters.posted == 1)
        #expect(reactor.counters.busyPollCycles == reactor.counters.cycles)
    }

    @Test func handlerDeregisteringAnotherSocketMidCycle() throws {
        let reactor = try Reactor(backend: .epoll)
        let (first, firstAddress) = try loopbackSocket()
        let (second, secondAddress) = try loopbackSocket()
        let (third, thirdAddress) = try loopbackSocket()
        let firstHandler = CollectingHandler()
        let secondHandler = CollectingHandler()
        let thirdHandler = stopping(after: 1)
        try reactor.register(first, handler: firstHandler)
        let secondToken = try reactor.register(second, handler: secondHandler)
        try reactor.register(third, handler: thirdHandler)
        firstHandler.onReceive = { _, reactor in _ = reactor.deregister(secondToken) }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: firstAddress)
        try sender.send([2], to: secondAddress)
        try sender.send([3], to: thirdAddress)
        // One cycle reads first, second, third in that order; the first's handler
        // removes the second, whose datagram is then never delivered, and the
        // third is still read.
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(firstHandler.payloads == [[1]])
        #expect(secondHandler.payloads.isEmpty)
        #expect(thirdHandler.payloads == [[3]])
        #expect(reactor.registrationCount == 2)
    }

    @Test func closingFromAHandlerEndsTheRun() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        handler.onReceive = { _, reactor in reactor.close() }
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: address)
        // As through epoll_wait: the next cycle finds the reactor closed and throws.
        #expect(throws: ReactorError.stopped) { try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) } }
        #expect(handler.payloads == [[1]])
    }

    @Test func moreSocketsThanTheLimitUseReadiness() throws {
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.busyPollSockets = 1
        let reactor = try Reactor(configuration)
        let (a, aAddress) = try loopbackSocket()
        let (b, _) = try loopbackSocket()
        let handler = stopping(after: 1)
        try reactor.register(a, handler: handler)
        try reactor.register(b, handler: CollectingHandler())
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([9], to: aAddress)
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(handler.payloads == [[9]])
        #expect(reactor.counters.busyPollCycles == 0, "two sockets > busyPollSockets = 1: epoll_wait as usual")
    }

    @Test func ioUringNeverReadsAroundItsMultishotReceive() throws {
        guard let reactor = try? Reactor(backend: .uring) else { return }  // io_uring absent: covered elsewhere
        let (socket, address) = try loopbackSocket()
        let handler = stopping(after: 50)
        try reactor.register(socket, handler: handler)
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        for i in 0..<50 { try sender.send([UInt8(i)], to: address) }
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(handler.payloads.map { Int($0[0]) } == Array(0..<50))
        #expect(reactor.counters.busyPollCycles == 0)
    }

    /// TCP streams are busy-polled too (readv until EAGAIN, as the C spin loop
    /// does recv); the listener, the connect and writable still come through
    /// readiness, asked for one cycle in `busyPollReadinessEvery`. An echo of
    /// 200,000 bytes in random writes arrives whole, in order.
    @Test func streamsAreReadDirectlyAndTheListenerStillAccepts() throws {
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.busyPollReadinessEvery = 8
        let reactor = try Reactor(configuration)
        let server = TCPStreamTests.EchoListener()
        let (_, address) = try loopbackListener(reactor, handler: server)
        let payload = patternBytes(200_000, seed: 3)
        let writer = PayloadWriter(payload, randomSizes: (seed: 4, maxWrite: 3000))
        let client = CollectingStream()
        client.onConnected = writer.push
        client.onWritable = writer.push
        client.onReceived = { _, _, reactor in if client.bytes.count == payload.count { reactor.stop() } }
        try reactor.connect(to: address, options: TCPStreamOptions(receiveCapacity: 4096, sendCapacity: 8192), handler: client)
        try withWatchdog(reactor.remote) { try reactor.run(idle: .spin) }
        #expect(server.count == 1)
        #expect(client.bytes == payload)
        #expect(reactor.counters.busyPollCycles > 0)
        #expect(reactor.counters.busyPollCycles < reactor.counters.cycles)   // readiness cycles too
    }
}
