import FeedReactorMetrics
import Logging
import MoldUDP64
import Reactor
import Testing
import TestSupport

/// swift-metrics export (periodic snapshot from a reactor timer) and swift-log
/// diagnostics, with an injected test backend and logger.
@Suite struct MetricsAndLoggingTests {
    @Test(arguments: TestEnvironment.backends)
    func exportedCountersMoveWithTheFeed(_ backend: BackendKind) throws {
        let metrics = TestMetrics()
        let logs = LogRecords()
        let reactor = try Reactor(backend: backend)
        let checker = OrderChecker()
        let rig = try LoopbackFeed(reactor: reactor, messages: 5_000, group: "239.255.81.\(backend == .epoll ? 1 : 2)",
                                   consumer: checker) { $0.logger = logs.logger() }
        let exporter = MetricsExporter(factory: metrics, logger: logs.logger())
        exporter.watch(reactor, name: "test")
        exporter.watch(rig.client, name: "test")
        try exporter.start(on: reactor, interval: 5_000_000)

        try rig.send(rig.packets.count)
        try pump(reactor, cycles: 2_000) { checker.delivered == 5_000 && exporter.snapshots > 0 && metrics.counter("feedreactor_moldudp64_client_delivered", [("name", "test")]) == 5_000 }
        #expect(checker.delivered == 5_000)
        #expect(metrics.counter("feedreactor_moldudp64_client_delivered", [("name", "test")]) == 5_000)
        #expect(metrics.counter("feedreactor_multicast_line_datagrams", [("name", "test"), ("line", "a")]) == 50)
        #expect(metrics.counter("feedreactor_reactor_datagrams", [("name", "test")]) >= 50)
        #expect(metrics.gauge("feedreactor_reactor_registrations", [("name", "test")]) == 3)   // line, request socket, test server
        // The client said where it listens, once, at setup.
        #expect(logs.contains(.info, "MoldUDP64 client started"))

        // Each snapshot exports the increase since the last: the totals equal the counters.
        exporter.snapshot()
        exporter.snapshot()
        #expect(metrics.counter("feedreactor_reactor_datagrams", [("name", "test")]) == Int64(reactor.counters.datagrams))
        #expect(metrics.counter("feedreactor_reactor_timers_fired", [("name", "test")]) == Int64(reactor.counters.timersFired))
        #expect(reactor.counters.timersFired > 0)
        rig.client.close()
    }

    @Test func limitsHitAreLoggedFromTheSnapshot() throws {
        let metrics = TestMetrics()
        let logs = LogRecords()
        let reactor = try Reactor(backend: .epoll)
        let exporter = MetricsExporter(factory: metrics, logger: logs.logger())
        exporter.watch(reactor, name: "r")
        exporter.snapshot()
        reactor.counters.truncated = 3      // what a too-small slot would have counted
        exporter.snapshot()
        #expect(metrics.counter("feedreactor_reactor_truncated", [("name", "r")]) == 3)
        #expect(logs.contains(.warning, "limit hit"))
    }

    @Test func registrationLimitIsLogged() throws {
        let logs = LogRecords()
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.maxRegistrations = 1
        configuration.logger = logs.logger()
        let reactor = try Reactor(configuration)
        try reactor.register(loopbackSocket().0, handler: CollectingHandler())
        let (extra, _) = try loopbackSocket()
        #expect(throws: ReactorError.registrationCapacityExhausted(capacity: 1)) {
            try reactor.register(extra, handler: CollectingHandler())
        }
        extra.close()
        #expect(logs.contains(.warning, "registration refused"))
    }

    @Test func failoverAndGiveUpAreLogged() throws {
        let logs = LogRecords()
        let reactor = try Reactor(backend: .epoll)
        let checker = OrderChecker()
        // Two servers that never answer.
        let (first, firstAddress) = try loopbackSocket()
        let (second, secondAddress) = try loopbackSocket()
        defer { first.close(); second.close() }
        let rig = try LoopbackFeed(reactor: reactor, messages: 300, group: "239.255.81.3", consumer: checker) {
            $0.logger = logs.logger()
            $0.servers = [firstAddress, secondAddress]
            $0.session.reorderWindow = 100_000
            $0.rerequest.requestTimeout = 1_000_000
            $0.rerequest.maxRequestTimeout = 2_000_000
            $0.rerequest.silenceDeadline = 20_000_000   // nobody answers: give up after 20 ms of silence
            $0.rerequest.failoverAfterTimeouts = 1
        }
        rig.packets.remove(at: 1)          // messages 101-200 never arrive, and nobody answers
        try rig.send(rig.packets.count)
        try pump(reactor, cycles: 5_000, timeout: 1_000_000) { logs.contains(.warning, "gave up recovering") }
        #expect(logs.contains(.notice, "failing over"), "\(logs.messages)")
        #expect(logs.contains(.warning, "gave up recovering"), "\(logs.messages)")
        rig.client.close()
    }
}
