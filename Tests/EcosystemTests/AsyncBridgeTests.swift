import Foundation
import MoldUDP64
import Multicast
import Reactor
import Synchronization
import Testing
import TestSupport

/// The reactor as an executor, `run { }` for one-off work, and the AsyncSequences
/// of a MoldUDP64 client and a multicast receiver with backpressure and cancellation.
@Suite struct AsyncBridgeTests {
    /// State that lives on the reactor's thread: the actor runs on the reactor's
    /// executor and is also the socket's handler.
    actor SocketState: DatagramHandler {
        let executor: ReactorExecutor
        var received = 0
        var token: Token?
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        init(executor: ReactorExecutor) { self.executor = executor }

        /// Called by the reactor on its thread: touches isolated state synchronously
        /// (`assumeIsolated` checks through the executor's `checkIsolated`), no hop.
        nonisolated func receive(_ batch: DatagramBatch, reactor: Reactor) {
            let count = batch.count
            assumeIsolated { $0.received += count }
        }

        func register(_ port: UInt16) throws -> UInt16 {
            executor.preconditionIsolated()
            return try executor.withReactor { reactor in
                let (socket, address) = try loopbackSocket()
                token = try reactor.register(socket, handler: self)
                return address.port
            }
        }

        /// Sends to its own socket through the reactor, synchronously.
        func sendToSelf(count: Int) throws -> Bool {
            executor.preconditionIsolated()
            return try executor.withReactor { reactor in
                guard let token, let socket = reactor.socket(for: token) else { return false }
                let address = try socket.localAddress()
                for _ in 0..<count { _ = try socket.send([1, 2, 3], to: address) }
                return executor.isOnReactorThread
            }
        }

        func registrations() -> Int { executor.withReactor { $0.registrationCount } }
    }

    @Test(arguments: TestEnvironment.backends)
    func actorOnTheReactorExecutorTouchesItsSocketWithoutAHop(_ backend: BackendKind) async throws {
        let harness = try ReactorOnThread(backend: backend) { _ in () }
        defer { harness.stop() }
        let state = SocketState(executor: harness.executor)
        _ = try await state.register(0)
        #expect(try await state.sendToSelf(count: 5))
        var received = 0
        for _ in 0..<10_000 where received < 5 {   // bounded: each round trip is a reactor cycle
            received = await state.received
            await Task.yield()
        }
        #expect(received == 5)
        #expect(await state.registrations() == 1)
        // A task preferring the reactor as its task executor runs on its thread.
        let onThread = await Task(executorPreference: harness.executor) { harness.executor.isOnReactorThread }.value
        #expect(onThread)
        #expect(!harness.executor.isOnReactorThread)
    }

    @Test func runReturnsAValueFromTheReactorThread() async throws {
        let harness = try ReactorOnThread { reactor in try loopbackSocket().0 }
        defer { harness.stop() }
        let executor = harness.executor!
        let (count, onThread) = try await harness.access.run { reactor throws(ReactorError) in
            try reactor.register(harness.context, handler: CollectingHandler())
            return (reactor.registrationCount, executor.isOnReactorThread)
        }
        #expect(count == 1 && onThread)
        await #expect(throws: ReactorError.self) {
            try await harness.access.run { reactor throws(ReactorError) in throw ReactorError.invalidArgument("refused") }
        }
    }

    /// A client whose deliveries are consumed as an AsyncSequence, fed by a paced sender.
    final class StreamRig: @unchecked Sendable {
        let harness: ReactorOnThread<(LoopbackFeed, BatchedSequence<MoldMessage>)>
        var feed: LoopbackFeed { harness.context.0 }
        var messages: BatchedSequence<MoldMessage> { harness.context.1 }

        init(messages count: Int, group: String, high: Int, low: Int, window: UInt64, backend: BackendKind = .epoll) throws {
            harness = try ReactorOnThread(backend: backend) { reactor in
                var stream: BatchedSequence<MoldMessage>?
                let feed = try LoopbackFeed(reactor: reactor, messages: count, group: group) { configuration, reactor in
                    let (client, messages) = try Client.messages(configuration, reactor: reactor, highWatermark: high, lowWatermark: low)
                    stream = messages
                    return client
                }
                try feed.startPacedSending(window: window)
                return (feed, stream!)
            }
        }
    }

    @Test func asyncConsumerReceivesAMillionMessagesInOrder() async throws {
        let total = 1_000_000
        let rig = try StreamRig(messages: total, group: "239.255.82.1", high: 200_000, low: 50_000, window: 100_000)
        defer { rig.harness.stop() }
        let messages = rig.messages
        let consumer = Task { () -> (count: Int, outOfOrder: Int, seconds: Double) in
            var count = 0, outOfOrder = 0
            var next: UInt64 = 1
            let start = ContinuousClock.now
            for await message in messages {
                if message.sequence != next { outOfOrder += 1 }
                next = message.sequence + 1
                count += 1
            }
            let elapsed = ContinuousClock.now - start
            return (count, outOfOrder, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let watchdog = Task { try await Task.sleep(for: .seconds(120)); consumer.cancel() }
        let result = await consumer.value
        watchdog.cancel()
        #expect(result.count == total)
        #expect(result.outOfOrder == 0)
        print("async consumer: \(total) messages in \(result.seconds) s (debug build)")
    }

    @Test func aConsumerThatStopsReadingPausesTheSocketAndResumes() async throws {
        let total = 30_000
        let high = 2_000, low = 500
        let rig = try StreamRig(messages: total, group: "239.255.82.2", high: high, low: low, window: 5_000)
        defer { rig.harness.stop() }
        let handoff = rig.messages.handoff
        var iterator = rig.messages.makeAsyncIterator()
        var seen = Set<UInt64>()
        var next: UInt64 = 1
        var outOfOrder = 0
        for _ in 0..<100 {
            guard let message = await iterator.next() else { break }
            if message.sequence != next { outOfOrder += 1 }
            next = message.sequence + 1
            seen.insert(message.sequence)
        }
        // The consumer stops reading: the reactor pauses the line at the high watermark.
        var paused = false
        for _ in 0..<2_000 where !paused {   // bounded: each probe is one reactor cycle
            paused = try await rig.harness.access.run { _ in handoff.paused }
        }
        #expect(paused, "reading never paused")
        let deliveredWhilePaused = try await rig.harness.access.run { _ in rig.feed.client.counters.delivered }
        // While paused nothing more is read: a few cycles later delivery has not moved.
        for _ in 0..<20 { _ = try await rig.harness.access.run { _ in 0 } }
        #expect(try await rig.harness.access.run { _ in rig.feed.client.counters.delivered } == deliveredWhilePaused)
        // Then it reads on: everything arrives, once, in order.
        while let message = await iterator.next() {
            if message.sequence != next { outOfOrder += 1 }
            next = message.sequence + 1
            if !seen.insert(message.sequence).inserted { outOfOrder += 1 }
            if seen.count == total { break }
        }
        #expect(seen.count == total)
        #expect(outOfOrder == 0)
        #expect(handoff.pauses >= 1)
        // Bounded memory: never more than the high watermark plus one receive batch
        // (64 datagrams of 100 messages) plus one handoff batch waiting.
        #expect(handoff.highestQueued <= high + 64 * 100 + 512, "\(handoff.highestQueued)")
    }

    @Test func cancellingTheConsumerEndsTheSequenceAndFreesTheRegistration() async throws {
        let rig = try StreamRig(messages: 50_000, group: "239.255.82.3", high: 5_000, low: 1_000, window: 10_000)
        defer { rig.harness.stop() }
        let messages = rig.messages
        let started = Atomic<Int>(0)
        let consumer = Task {
            var count = 0
            for await _ in messages {
                count += 1
                if count == 10 { started.store(1, ordering: .releasing) }
                if count == 10 { try? await Task.sleep(for: .seconds(60)) }   // stuck: only cancellation ends it
            }
            return count
        }
        for _ in 0..<100_000 where started.load(ordering: .acquiring) == 0 { await Task.yield() }
        consumer.cancel()
        let count = await consumer.value
        #expect(count >= 10 && count < 50_000)
        // The client's line and request socket are gone; only the test's server is left.
        var registrations = -1
        for _ in 0..<100 where registrations != 1 {
            registrations = try await rig.harness.access.run { $0.registrationCount }
        }
        #expect(registrations == 1)
    }

    @Test func multicastDatagramsAsAnAsyncSequence() async throws {
        let group = "239.255.82.4"
        let harness = try ReactorOnThread { reactor -> (BatchedSequence<ReceivedDatagram>, UInt16) in
            let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
            let receiver = try MulticastReceiver(try Subscription(group: group, port: 0, interface: loopback))
            return (try receiver.datagrams(on: reactor), receiver.port)
        }
        defer { harness.stop() }
        let (datagrams, port) = harness.context!
        let sender = try MulticastSender(group: IPAddress(group), port: port, interface: .address(try IPAddress("127.0.0.1")))
        for index in 0..<100 { _ = try sender.socket.send([UInt8(index)], to: sender.destination) }
        var received: [UInt8] = []
        for await datagram in datagrams {
            received.append(datagram.bytes[0])
            #expect(datagram.subscriptionIndex == 0)
            if received.count == 100 { break }
        }
        #expect(received == (0..<100).map { UInt8($0) })
        datagrams.handoff.cancel()
    }
}
