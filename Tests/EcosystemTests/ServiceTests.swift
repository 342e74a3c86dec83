import FeedReactorServices
import Logging
import MoldUDP64
import Multicast
import Reactor
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// ClientService in a ServiceGroup: a graceful shutdown (what SIGTERM triggers; the
/// signal itself is tested in a child process, FeedServiceSignalTests) ends a
/// running client cleanly: everything delivered, nothing in flight, sockets closed.
@Suite struct ServiceTests {
    final class Counter: MessageConsumer {
        let shared: Shared
        init(_ shared: Shared) { self.shared = shared }
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { shared.delivered.add(1, ordering: .relaxed) }
    }

    final class Shared: Sendable {
        let delivered = Atomic<Int>(0)
        let port = Atomic<Int>(0)
    }

    @Test func gracefulShutdownEndsARunningClientCleanly() async throws {
        let (server, serverAddress) = try loopbackSocket()
        defer { server.close() }
        let group = "239.255.83.2"
        let shared = Shared()
        let logs = LogRecords()
        let line = try Subscription(group: group, port: 0, interface: .address(try IPAddress("127.0.0.1")))
        let service = ClientService(configuration: Client.Configuration(lines: [line], servers: [serverAddress]),
                                    reactorConfiguration: .init(backend: .epoll), logger: logs.logger(),
                                    makeConsumer: { _ in Counter(shared) },
                                    onStart: { client in shared.port.store(Int(client.linePorts[0]), ordering: .releasing) })
        let serviceGroup = ServiceGroup(configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [],
                                                             logger: logs.logger()))
        let running = Task { try await serviceGroup.run() }

        for _ in 0..<100_000 where shared.port.load(ordering: .acquiring) == 0 { await Task.yield() }
        let port = try #require(UInt16(exactly: shared.port.load(ordering: .acquiring)).flatMap { $0 == 0 ? nil : $0 })
        let feed = MoldFeed(session: "SERVICE001", messages: MoldFeed.messages(count: 1_000, seed: 6))
        let sender = try MulticastSender(group: IPAddress(group), port: port, interface: .address(try IPAddress("127.0.0.1")))
        for packet in feed.packets(perPacket: 25) { _ = try packet.withUnsafeBytes { try sender.socket.send($0, to: sender.destination) } }
        for _ in 0..<1_000_000 where shared.delivered.load(ordering: .relaxed) < 1_000 { await Task.yield() }

        await serviceGroup.triggerGracefulShutdown()
        try await running.value
        let summary = try #require(service.summary)
        #expect(summary.delivered == 1_000, "\(logs.messages)")
        #expect(summary.inFlight == 0)
        #expect(summary.missing.isEmpty)
        #expect(logs.contains(.notice, "delivered=1000"), "\(logs.messages)")
        #expect(logs.contains(.info, "reactor service stopped"))
    }
}
