import class CoreMetrics.Counter
import class CoreMetrics.Gauge
import enum CoreMetrics.MetricsSystem
import protocol CoreMetrics.MetricsFactory
import Logging
import MoldUDP64
import Reactor

/// Exports the counters of reactors, MoldUDP64 clients (and their multicast lines),
/// publishers and retransmission servers as swift-metrics counters and gauges.
///
/// The hot path keeps its plain integer increments: nothing here runs per datagram.
/// The exporter is a reactor timer; every `interval` it reads each watched
/// object's counters (on the thread that owns them, so no locks and no torn reads)
/// and hands the increase since the last snapshot to the metrics backend. A counter
/// that says a limit was hit (io_uring buffer ring empty, truncated datagrams, reorder
/// buffer full, messages given up on, rate limits) is also logged as a warning when
/// it moves, once per snapshot.
///
/// ```swift
/// let exporter = MetricsExporter(factory: MetricsSystem.factory)
/// exporter.watch(reactor, name: "feed")
/// exporter.watch(client, name: "itch")
/// try exporter.start(on: reactor, interval: 1_000_000_000)   // one snapshot a second
/// ```
///
/// Watched objects are held weakly: one that is freed stops being exported.
///
/// Labels are `feedreactor_<object>_<counter>` with a `name` dimension (plus `line`
/// for a client's multicast lines), e.g. `feedreactor_reactor_datagrams{name="feed"}`.
public final class MetricsExporter: TimerHandler {
    /// One exported value: how to read it, where it goes, what was last sent.
    final class Entry {
        let read: () -> UInt64?
        let counter: Counter?
        let gauge: Gauge?
        let limitLabel: String?
        var last: UInt64 = 0

        init(read: @escaping () -> UInt64?, counter: Counter?, gauge: Gauge?, limitLabel: String?) {
            self.read = read
            self.counter = counter
            self.gauge = gauge
            self.limitLabel = limitLabel
        }
    }

    let factory: any MetricsFactory
    let prefix: String
    /// Where "limit hit" warnings go.
    public var logger: Logger
    var entries: [Entry] = []
    var timer = TimerHandle.invalid
    /// Snapshots taken so far.
    public private(set) var snapshots: UInt64 = 0

    /// An exporter that sends to `factory`, watching nothing yet: call `watch` for
    /// each object, then `start(on:interval:)` on their reactor's thread.
    ///
    /// - Parameters:
    ///   - factory: the metrics backend. Tests pass their own; a program usually
    ///     passes `MetricsSystem.factory` after `MetricsSystem.bootstrap`.
    ///   - prefix: the first part of every label.
    ///   - logger: where "limit hit" warnings go.
    public init(factory: any MetricsFactory = MetricsSystem.factory, prefix: String = "feedreactor",
                logger: Logger = Logger(label: "feedreactor.metrics")) {
        self.factory = factory
        self.prefix = prefix
        self.logger = logger
    }

    /// Starts the periodic snapshot on `reactor` (call on its thread). Watch
    /// objects before or after; each snapshot reads what is watched then.
    public func start(on reactor: Reactor, interval: UInt64 = 1_000_000_000) throws(ReactorError) {
        guard interval > 0 else { throw .invalidArgument("MetricsExporter: interval must be positive") }
        timer = try reactor.schedule(after: interval, period: interval, handler: self)
    }

    /// Stops the periodic snapshot (after one last snapshot, so nothing counted is lost).
    public func stop(on reactor: Reactor) {
        reactor.cancel(timer)
        timer = .invalid
        snapshot()
    }

    /// The periodic timer `start(on:interval:)` scheduled: takes one snapshot of
    /// every watched object into the metrics backend. Runs on the reactor's thread.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        snapshot()
    }

    /// Reads every watched counter and exports what moved. Call on the thread that
    /// owns the watched objects (the timer does).
    public func snapshot() {
        snapshots &+= 1
        for entry in entries {
            // A watched object that is gone exports nothing more.
            guard let value = entry.read() else { continue }
            if let gauge = entry.gauge {
                if value != entry.last || snapshots == 1 { gauge.record(Int64(clamping: value)) }
            } else if value > entry.last {
                entry.counter?.increment(by: Int64(clamping: value - entry.last))
                if let limit = entry.limitLabel {
                    logger.warning("limit hit", metadata: ["counter": "\(limit)", "increase": "\(value - entry.last)", "total": "\(value)"])
                }
            }
            entry.last = value
        }
    }

    // MARK: - What can be watched

    /// A reactor's `counters` (cycles, datagrams, batches, timers, errors, io_uring
    /// buffer exhaustions, ...) and its registration count (a gauge).
    public func watch(_ reactor: Reactor, name: String) {
        let dimensions = [("name", name)]
        let c = { [weak reactor] in reactor?.counters }
        add("reactor_cycles", dimensions) { c()?.cycles }
        add("reactor_datagrams", dimensions) { c()?.datagrams }
        add("reactor_batches", dimensions) { c()?.batches }
        add("reactor_truncated", dimensions, limit: true) { c()?.truncated }
        add("reactor_timers_fired", dimensions) { c()?.timersFired }
        add("reactor_handler_errors", dimensions, limit: true) { c()?.handlerErrors }
        add("reactor_socket_errors", dimensions) { c()?.socketErrors }
        add("reactor_stale_events", dimensions) { c()?.staleEvents }
        add("reactor_posted", dimensions) { c()?.posted }
        add("reactor_buffer_exhaustions", dimensions, limit: true) { c()?.bufferExhaustions }
        add("reactor_receive_rearms", dimensions) { c()?.receiveRearms }
        add("reactor_busy_poll_cycles", dimensions) { c()?.busyPollCycles }
        add("reactor_registrations", dimensions, gauge: true) { [weak reactor] in reactor.map { UInt64($0.registrationCount) } }
    }

    /// A MoldUDP64 client: its `MoldCounters` (delivered, recovered, gaps, requests,
    /// timeouts, ...), its multicast lines' datagrams, duplicates and malformed
    /// packets (dimension `line` = a, b), and failed request sends.
    public func watch(_ client: Client, name: String) {
        let dimensions = [("name", name)]
        let m = client.counters
        add("moldudp64_client_delivered", dimensions) { [weak m] in m?.delivered }
        add("moldudp64_client_recovered", dimensions) { [weak m] in m?.recovered }
        add("moldudp64_client_duplicates", dimensions) { [weak m] in m?.duplicates }
        add("moldudp64_client_gaps", dimensions) { [weak m] in m?.gaps }
        add("moldudp64_client_requests", dimensions) { [weak m] in m?.requests }
        add("moldudp64_client_timeouts", dimensions) { [weak m] in m?.timeouts }
        add("moldudp64_client_malformed", dimensions) { [weak m] in m?.malformed }
        add("moldudp64_client_foreign_session", dimensions) { [weak m] in m?.foreignSession }
        add("moldudp64_client_unknown_source", dimensions) { [weak m] in m?.unknownSource }
        add("moldudp64_client_unrecoverable", dimensions, limit: true) { [weak m] in m?.unrecoverable }
        add("moldudp64_client_buffer_drops", dimensions, limit: true) { [weak m] in m?.bufferDrops }
        add("moldudp64_client_rate_limited", dimensions, limit: true) { [weak m] in m?.rateLimited }
        add("moldudp64_client_buffer_high_water", dimensions, gauge: true) { [weak m] in m?.bufferHighWater }
        add("moldudp64_client_request_send_failures", dimensions) { [weak client] in client?.requestSendFailures }
        for line in client.lineCounters.indices {
            let lineDimensions = dimensions + [("line", line == 0 ? "a" : "b")]
            add("multicast_line_datagrams", lineDimensions) { [weak client] in client?.lineCounters[line].datagrams }
            add("multicast_line_duplicates", lineDimensions) { [weak client] in client?.lineCounters[line].duplicates }
            add("multicast_line_malformed", lineDimensions) { [weak client] in client?.lineCounters[line].malformed }
        }
    }

    /// A publisher's counters (messages, packets, drops, heartbeats, bytes, send failures).
    public func watch(_ publisher: Publisher, name: String) {
        let dimensions = [("name", name)]
        let c = { [weak publisher] in publisher?.counters }
        add("moldudp64_publisher_messages", dimensions) { c()?.messages }
        add("moldudp64_publisher_data_packets", dimensions) { c()?.dataPackets }
        add("moldudp64_publisher_data_packets_dropped", dimensions) { c()?.dataPacketsDropped }
        add("moldudp64_publisher_heartbeats", dimensions) { c()?.heartbeats }
        add("moldudp64_publisher_end_of_session_packets", dimensions) { c()?.endOfSessionPackets }
        add("moldudp64_publisher_packets_sent", dimensions) { c()?.packetsSent }
        add("moldudp64_publisher_bytes_sent", dimensions) { c()?.bytesSent }
        add("moldudp64_publisher_send_failures", dimensions, limit: true) { c()?.sendFailures }
    }

    /// A retransmission server's counters (requests, answers, messages resent,
    /// malformed, wrong session, rate limited, ...).
    public func watch(_ server: RetransmissionServer, name: String) {
        let dimensions = [("name", name)]
        let c = { [weak server] in server?.counters }
        add("moldudp64_server_requests", dimensions) { c()?.datagrams }
        add("moldudp64_server_malformed", dimensions) { c()?.malformed }
        add("moldudp64_server_wrong_session", dimensions) { c()?.wrongSession }
        add("moldudp64_server_rate_limited", dimensions, limit: true) { c()?.rateLimited }
        add("moldudp64_server_total_rate_limited", dimensions, limit: true) { c()?.totalRateLimited }
        add("moldudp64_server_unanswerable", dimensions) { c()?.unanswerable }
        add("moldudp64_server_answers", dimensions) { c()?.answers }
        add("moldudp64_server_messages_sent", dimensions) { c()?.messagesSent }
        add("moldudp64_server_oversized_messages", dimensions) { c()?.oversizedMessages }
        add("moldudp64_server_send_failures", dimensions, limit: true) { c()?.sendFailures }
        add("moldudp64_server_requesters_forgotten", dimensions) { c()?.requestersForgotten }
    }

    func add(_ name: String, _ dimensions: [(String, String)], gauge: Bool = false, limit: Bool = false,
             read: @escaping () -> UInt64?) {
        let label = "\(prefix)_\(name)"
        entries.append(Entry(
            read: read,
            counter: gauge ? nil : Counter(label: label, dimensions: dimensions, factory: factory),
            gauge: gauge ? Gauge(label: label, dimensions: dimensions, factory: factory) : nil,
            limitLabel: limit ? "\(label){\(dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ","))}" : nil))
    }
}
