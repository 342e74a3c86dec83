import Testing
import Reactor
import MoldUDP64
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Answer throughput of the retransmission server's I/O-free core, a
/// measurement like PublisherThroughputTests (FEEDREACTOR_MEASURE=1, release):
///
///     FEEDREACTOR_MEASURE=1 swift test -c release --disable-testable-imports --filter ThroughputTests
@Suite(.serialized, .enabled(if: getenv("FEEDREACTOR_MEASURE") != nil, "set FEEDREACTOR_MEASURE=1 (release build) to measure"))
struct RetransmissionServerThroughputTests {
    @Test func answersPerSecond() throws {
        let store = filledStore(count: 60_000, length: 40)
        var configuration = RetransmissionServer.Configuration(session: testSession)
        configuration.perRequesterLimit = RateLimit(rate: 1_000_000_000, burst: 1_000_000)
        configuration.totalLimit = RateLimit(rate: 1_000_000_000, burst: 1_000_000)
        let socket = try UDPSocket()
        defer { socket.close() }
        let server = RetransmissionServer(socket: socket, store: store, configuration: configuration)
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: Request.size, alignment: 8)
        defer { request.deallocate() }
        let source = try SocketAddress("127.0.0.1", port: 40_000)
        var rates: [Double] = []
        var now: UInt64 = 0
        let requests = 500_000
        for _ in 0..<5 {
            let start = ContinuousClock.now
            try source.withSockaddr { raw, length in
                let from = UnsafeRawBufferPointer(start: raw, count: Int(length))
                for index in 0..<requests {
                    now += 1_000
                    Request(session: testSession, sequenceNumber: UInt64(1 + index % 50_000), messageCount: 100)
                        .encode(into: request)
                    guard server.answer(to: UnsafeRawBufferPointer(request), from: from, now: now) != nil else {
                        throw TestFailure("request \(index) was not answered")
                    }
                }
            }
            let elapsed = ContinuousClock.now - start
            rates.append(Double(requests) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        }
        let median = rates.sorted()[2]
        print("retransmission answers (32 messages of 40 bytes each, 1364-byte packets), runs (answers/s): "
              + rates.map { String(Int($0)) }.joined(separator: " ") + "; median \(Int(median)) answers/s")
        #expect(server.counters.answers == UInt64(5 * requests))
    }
}
