import Logging
import MoldUDP64
import Reactor
import ServiceLifecycle
import Synchronization

/// A MoldUDP64 client as a `Service`, on its own reactor thread. On graceful
/// shutdown (SIGTERM/SIGINT through a `ServiceGroup`) it stops reading its lines,
/// gives recovery already in flight up to `shutdownGrace` to finish, then closes
/// every socket, logs a `key=value` summary (and hands it to `onSummary`) and
/// returns. Recovery still in flight at the end is reported there, not dropped
/// silently.
///
/// ```swift
/// let service = ClientService(configuration: configuration, logger: logger) { _ in MyBook() }
/// let group = ServiceGroup(configuration: .init(services: [.init(service: service)],
///                                               gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
public final class ClientService: Service, @unchecked Sendable {
    // @unchecked: the client and its consumer live on the reactor's thread; `finalSummary` is behind a mutex.

    /// How the client ended.
    public struct Summary: Sendable, Equatable, CustomStringConvertible {
        /// Datagrams read from the lines.
        public var datagrams: UInt64
        /// Messages handed to the consumer, in sequence order.
        public var delivered: UInt64
        /// Messages among them that came from re-requests (recovered gaps).
        public var recovered: UInt64
        /// Re-request packets sent to the retransmission server.
        public var requests: UInt64
        /// Re-requests still unanswered when the client closed (0: recovery finished).
        public var inFlight: Int
        /// Ranges still missing below the highest sequence number seen.
        public var missing: [Range<UInt64>]
        /// The next sequence number the client expected when it closed (all below it
        /// were delivered or are listed in `missing`).
        public var nextExpected: UInt64

        /// One `key=value` line: `datagrams=… delivered=… recovered=… requests=…
        /// in_flight=… next=… missing=…` (`none` when nothing is missing).
        public var description: String {
            let ranges = missing.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound - 1)" }
            return "datagrams=\(datagrams) delivered=\(delivered) recovered=\(recovered) requests=\(requests) in_flight=\(inFlight) "
                + "next=\(nextExpected) missing=\(ranges.isEmpty ? "none" : ranges.joined(separator: ","))"
        }
    }

    /// The reactor service underneath: its thread runs the client's reactor.
    public let service: ReactorService
    final class SummaryStore: Sendable {
        let mutex = Mutex<Summary?>(nil)
    }
    let finalSummary = SummaryStore()

    /// The summary once the service has ended.
    public var summary: Summary? { finalSummary.mutex.withLock { $0 } }

    /// A service that, when run, starts a reactor thread and builds a MoldUDP64
    /// client on it for `configuration`; nothing is opened before `run()`.
    ///
    /// - Parameters:
    ///   - name: the service's name in logs and its thread's name.
    ///   - configuration: the client's lines, servers and tuning.
    ///   - reactorConfiguration: the reactor the client runs on (backend, capacities).
    ///   - idle: how the reactor waits when there is nothing to do.
    ///   - logger: the service's diagnostics and the final summary.
    ///   - shutdownGrace: nanoseconds that in-flight recovery may take after shutdown is asked for.
    ///   - makeConsumer: builds the consumer on the reactor's thread.
    ///   - onStart: on the reactor's thread once the client is up (its `linePorts` are known).
    ///   - onSummary: the summary, once, after the client closed.
    public init(name: String = "moldudp64-client", configuration: Client.Configuration,
                reactorConfiguration: Reactor.Configuration = .init(backend: .auto), idle: IdleStrategy = .block,
                shutdownGrace: UInt64 = 1_000_000_000, logger: Logger = Logger(label: "feedreactor.service.client"),
                makeConsumer: @escaping (Reactor) -> any MessageConsumer,
                onStart: @escaping (Client) -> Void = { _ in },
                onSummary: @escaping @Sendable (Summary) -> Void = { _ in }) {
        // The session holds its consumer weakly: the holder keeps it alive.
        final class Holder { var client: Client?; var consumer: (any MessageConsumer)? }
        let holder = Holder()
        let finalSummary = self.finalSummary
        service = ReactorService(name: name, configuration: reactorConfiguration, idle: idle, logger: logger, setUp: { reactor in
            let consumer = makeConsumer(reactor)
            holder.consumer = consumer
            let client = try Client(configuration, reactor: reactor, consumer: consumer)
            holder.client = client
            onStart(client)
        }, tearDown: { reactor in
            guard let client = holder.client else { return }
            let summary = Summary(datagrams: client.lineCounters.reduce(0) { $0 + $1.datagrams }, delivered: client.counters.delivered, recovered: client.counters.recovered,
                                  requests: client.counters.requests, inFlight: client.rerequester.inFlightCount,
                                  missing: client.missingRanges(), nextExpected: client.session.nextExpected)
            client.close()
            holder.client = nil
            holder.consumer = nil
            finalSummary.mutex.withLock { $0 = summary }
            if summary.inFlight > 0 {
                logger.warning("client closed with recovery still in flight", metadata: ["summary": "\(summary)"])
            }
            logger.notice("client summary: \(summary)")
            onSummary(summary)
        })
        service.shutdown = { reactor in
            guard let client = holder.client else { reactor.stop(); return }
            // No new data: leave the lines. Answers to what is in flight still come
            // back on the request socket until the grace period ends.
            client.leaveLines()
            let drain = RecoveryDrain(client: client, deadline: reactor.now &+ shutdownGrace)
            if (try? reactor.schedule(after: 1_000_000, period: 1_000_000, handler: drain)) == nil { reactor.stop() }
        }
    }

    /// Runs the client until the task is cancelled or graceful shutdown is
    /// triggered (then recovery gets `shutdownGrace`), the summary is logged and
    /// `onSummary` has run.
    ///
    /// - Throws: what creating the client or its sockets threw (bind, join), or
    ///   what the reactor threw while running.
    public func run() async throws { try await service.run() }
}

/// Stops the reactor once the client has nothing in flight, or at the deadline.
final class RecoveryDrain: TimerHandler {
    unowned let client: Client
    let deadline: UInt64

    init(client: Client, deadline: UInt64) {
        self.client = client
        self.deadline = deadline
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if client.rerequester.inFlightCount == 0 || now >= deadline { reactor.stop() }
    }
}
