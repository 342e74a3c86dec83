import Foundation
import MoldUDP64
import Reactor
import Synchronization
import Testing
import TestSupport

/// Messages/s through `Client.messages` (AsyncSequence, copies, batches) vs a plain
/// `MessageConsumer`, same feed, same pacing, alternating rounds in one run.
/// A measurement, not a check: runs only with FEEDREACTOR_MEASURE=1.
@Suite(.serialized) struct AsyncThroughputMeasurement {
    static let enabled = ProcessInfo.processInfo.environment["FEEDREACTOR_MEASURE"] == "1"

    /// First and last delivery times of a plain consumer.
    final class TimedConsumer: MessageConsumer {
        var delivered = 0
        var first = ContinuousClock.now
        var last = ContinuousClock.now
        let total: Int
        init(total: Int) { self.total = total }
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
            delivered += 1
            if delivered == 1 { first = .now }
            if delivered == total { last = .now }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func plainRound(_ total: Int, group: String) async throws -> Double {
        let consumer = TimedConsumer(total: total)
        nonisolated(unsafe) let shared = consumer
        let harness = try ReactorOnThread { reactor -> LoopbackFeed in
            let feed = try LoopbackFeed(reactor: reactor, messages: total, group: group, consumer: shared)
            try feed.startPacedSending(window: 100_000)
            return feed
        }
        defer { harness.stop() }
        var done = false
        for _ in 0..<1_000_000 where !done {
            done = await harness.access.run { _ in shared.delivered == total }
        }
        let elapsed = await harness.access.run { _ in AsyncThroughputMeasurement.seconds(shared.last - shared.first) }
        return Double(total - 1) / elapsed
    }

    func asyncRound(_ total: Int, group: String) async throws -> Double {
        let rig = try AsyncBridgeTests.StreamRig(messages: total, group: group, high: 200_000, low: 50_000, window: 100_000)
        defer { rig.harness.stop() }
        var count = 0
        var first = ContinuousClock.now
        for await _ in rig.messages {
            count += 1
            if count == 1 { first = .now }
            if count == total { break }
        }
        return Double(total - 1) / Self.seconds(.now - first)
    }

    @Test(.enabled(if: enabled, "set FEEDREACTOR_MEASURE=1 to measure"))
    func asyncSequenceVersusPlainHandler() async throws {
        let total = 300_000
        var plain: [Double] = [], async: [Double] = []
        for round in 0..<5 {
            plain.append(try await plainRound(total, group: "239.255.84.\(round * 2 + 1)"))
            async.append(try await asyncRound(total, group: "239.255.84.\(round * 2 + 2)"))
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        let ratios = zip(async, plain).map { $0 / $1 }
        print("plain handler: \(plain.map { Int($0) }) msgs/s, median \(Int(median(plain)))")
        print("async sequence: \(async.map { Int($0) }) msgs/s, median \(Int(median(async)))")
        print("async/plain: median of ratios \(median(ratios)), ratio of medians \(median(async) / median(plain))")
    }
}
