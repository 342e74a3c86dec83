import Testing
import Reactor
import TestSupport
import MoldUDP64
#if canImport(Glibc)
import Glibc
#endif

/// Publish throughput, a measurement rather than a check: it runs only when
/// FEEDREACTOR_MEASURE=1, and should be run in release mode without testable
/// imports (-enable-testing exports internal state, which keeps the dynamic
/// exclusivity checks a normal release build removes, and halves the rate):
///
///     FEEDREACTOR_MEASURE=1 swift test -c release --disable-testable-imports --filter PublisherThroughputTests
///
/// Each run appends 40-byte messages (packed by the 1400-byte limit, stored for
/// retransmission) and prints messages/s; the median of 5 runs is reported.
@Suite(.serialized, .enabled(if: getenv("FEEDREACTOR_MEASURE") != nil, "set FEEDREACTOR_MEASURE=1 (release build) to measure"))
struct PublisherThroughputTests {
    final class DiscardingSink: PacketSink {
        var packets = 0
        func send(_ packet: UnsafeRawBufferPointer) -> Bool {
            packets &+= 1
            return true
        }
    }

    static let messageLength = 40

    func measure(name: String, messages: Int, sink: () throws -> any PacketSink) throws -> Double {
        var rates: [Double] = []
        let message = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.messageLength, alignment: 8)
        defer { message.deallocate() }
        message.initializeMemory(as: UInt8.self, repeating: 0x5A)
        for _ in 0..<5 {
            var configuration = Publisher.Configuration(session: testSession)
            configuration.flushDelay = 1_000_000_000
            configuration.heartbeatInterval = 0
            let publisher = Publisher(configuration, sink: try sink(), store: RetransmissionStore())
            let start = ContinuousClock.now
            for _ in 0..<messages { try publisher.append(UnsafeRawBufferPointer(message), now: 1) }
            publisher.flush(now: 1)
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            rates.append(Double(messages) / seconds)
            #expect(publisher.counters.sendFailures == 0)
        }
        let median = rates.sorted()[2]
        print("publish \(name): \(messages) messages of \(Self.messageLength) bytes per run, runs (msg/s): "
              + rates.map { String(Int($0)) }.joined(separator: " ") + "; median \(Int(median)) msg/s")
        return median
    }

    @Test func packingOnly() throws {
        _ = try measure(name: "packing only", messages: 5_000_000) { DiscardingSink() }
    }

    @Test func packingAndSendingToLoopback() throws {
        // A bound socket nobody reads: once its buffer is full the kernel drops
        // on receive, and every sendto still runs the whole loopback path.
        let (unread, destination) = try loopbackSocket()
        defer { unread.close() }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        _ = try measure(name: "packing + sendto loopback", messages: 2_000_000) {
            UDPPacketSink(socket: sender, destination: destination)
        }
    }
}
