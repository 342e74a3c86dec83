import CoreMetrics
import Logging
import Synchronization

/// A metrics backend for tests: counters and gauges by label and dimensions,
/// injected into the code under test (never bootstrapped globally, so suites
/// running in parallel do not see each other's metrics).
final class TestMetrics: MetricsFactory, Sendable {
    final class Value: CounterHandler, RecorderHandler, CoreMetrics.TimerHandler, Sendable {
        let state = Mutex<(total: Int64, last: Double, records: Int)>((0, 0, 0))
        func increment(by amount: Int64) { state.withLock { $0.total += amount } }
        func reset() { state.withLock { $0.total = 0 } }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) { state.withLock { $0.last = value; $0.records += 1 } }
        func recordNanoseconds(_ duration: Int64) { record(duration) }
        var total: Int64 { state.withLock { $0.total } }
        var last: Double { state.withLock { $0.last } }
    }

    let values = Mutex<[String: Value]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    func make(_ label: String, _ dimensions: [(String, String)]) -> Value {
        values.withLock { values in
            if let existing = values[Self.key(label, dimensions)] { return existing }
            let value = Value()
            values[Self.key(label, dimensions)] = value
            return value
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { make(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { make(label, dimensions) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any CoreMetrics.TimerHandler { make(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any CoreMetrics.TimerHandler) {}

    /// A counter's total (0 when it was never made).
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        values.withLock { $0[Self.key(label, dimensions)]?.total ?? 0 }
    }

    func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Double? {
        values.withLock { $0[Self.key(label, dimensions)]?.last }
    }
}

/// Log records captured in memory (one instance per test: nothing global).
final class LogRecords: Sendable {
    let entries = Mutex<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

    var messages: [String] { entries.withLock { $0.map(\.message) } }

    func contains(_ level: Logger.Level, _ text: String) -> Bool {
        entries.withLock { $0.contains { $0.level == level && $0.message.contains(text) } }
    }

    /// A logger whose records land here.
    func logger(_ label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in Handler(records: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let records: LogRecords
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            records.entries.withLock { $0.append((level, message.description, metadata ?? [:])) }
        }
    }
}
