import Foundation
import Reactor
import Testing
import TestSupport
@testable import MoldUDP64

/// Recovery against the project's own feed side on the fake clock: packets
/// packed by `Publisher` (as `feedreactor demo` and `publish` run it: 100 µs
/// flush, 1,400-byte packets), answered by `RetransmissionServer` from the
/// publisher's store (one packet of up to an MTU per request). Here each lost
/// packet should cost one request, as in issue 18's "still about 1.0 request
/// per lost packet".
@Suite struct OwnPublisherRecoveryTests {
    /// Keeps each packet's bytes.
    final class RawSink: PacketSink {
        var packets: [[UInt8]] = []
        func send(_ packet: UnsafeRawBufferPointer) -> Bool {
            packets.append(Array(packet))
            return true
        }
    }

    static let messageCount = 50_000
    /// The demo's payload sizes (16:64 bytes).
    static let feed = MoldFeed(session: "OWNPUB0001", messages: MoldFeed.messages(count: messageCount, seed: 21, sizes: 16...64))

    /// The publisher's data packets for the feed (with their send times after
    /// the start), and its store. Driven as `feedreactor demo`'s paced feed
    /// drives it: every 1 ms tick appends the messages due (100 at 100,000/s)
    /// at once, so most packets are filled to the 1,400-byte limit and the
    /// tick's remainder leaves at the 100 µs flush deadline.
    static func published() -> (packets: [[UInt8]], offsets: [UInt64], store: RetransmissionStore) {
        let store = RetransmissionStore(messageCapacity: messageCount + 1, byteCapacity: 8 << 20)
        let sink = RawSink()
        var configuration = Publisher.Configuration(session: SessionID("OWNPUB0001")!)
        configuration.heartbeatInterval = 0
        let publisher = Publisher(configuration, sink: sink, store: store)
        var offsets: [UInt64] = []
        func note(_ time: UInt64) { while offsets.count < sink.packets.count { offsets.append(time) } }
        let tick: UInt64 = 1_000_000, perTick = 100
        var time: UInt64 = 0
        var index = 0
        while index < feed.messages.count {
            for message in feed.messages[index..<min(index + perTick, feed.messages.count)] {
                message.withUnsafeBytes { _ = try! publisher.append($0, now: time) }
            }
            index += perTick
            note(time)
            publisher.poll(now: time + configuration.flushDelay)
            note(time + configuration.flushDelay)
            time += tick
        }
        publisher.flush(now: time)
        note(time)
        return (sink.packets, offsets, store)
    }

    /// Runs the session with `lossRate` of the data packets lost (seeded),
    /// answered by a `RetransmissionServer`; returns the rig and the number of
    /// data packets lost.
    static func run(seed: UInt64, lossRate: Double, burst: Range<Int> = 0..<0, packets: [[UInt8]], offsets: [UInt64],
                    store: RetransmissionStore) throws -> (MoldRig, Int) {
        let rig = try MoldRig(feed: feed, seed: seed)
        var serverConfiguration = RetransmissionServer.Configuration(session: SessionID("OWNPUB0001")!)
        // As `feedreactor demo` configures it: the default 500 requests/s per
        // requester would refuse a 200-packet burst's requests.
        serverConfiguration.perRequesterLimit = RateLimit(rate: 50_000, burst: 5_000)
        serverConfiguration.totalLimit = RateLimit(rate: 100_000, burst: 10_000)
        let socket = try UDPSocket()
        defer { socket.close() }
        rig.retransmissionServers = [RetransmissionServer(socket: socket, store: store, configuration: serverConfiguration)]
        var coin = SeededGenerator(seed: seed &* 7_919)
        var lost = 0
        var dataPacket = 0
        rig.downstream.dropIf = { bytes in
            guard bytes[18..<20] != [0, 0], bytes[18..<20] != [0xFF, 0xFF] else { return false }
            defer { dataPacket += 1 }
            guard burst.contains(dataPacket) || coin.chance(lossRate) else { return false }
            lost += 1
            return true
        }
        rig.run(packets, offsets: offsets) { $0.expectedNext == feed.nextSequence }
        return (rig, lost)
    }

    /// Seed, random loss, and a burst of packets (by index) lost in a row.
    @Test(arguments: [(1, 0.02, 0..<0), (2, 0.05, 0..<0), (3, 0.02, 600..<800)] as [(UInt64, Double, Range<Int>)])
    func eachLostPacketCostsAboutOneRequest(seed: UInt64, lossRate: Double, burst: Range<Int>) throws {
        let (packets, offsets, store) = Self.published()
        let (rig, lost) = try Self.run(seed: seed, lossRate: lossRate, burst: burst, packets: packets, offsets: offsets,
                                       store: store)
        let ratio = Double(rig.counters.requests) / Double(lost)
        let summary = "seed \(seed) loss \(lossRate) burst \(burst.count): \(packets.count) packets, \(lost) lost, requests \(rig.counters.requests), "
            + "ratio \(ratio), gaps \(rig.counters.gaps), timeouts \(rig.counters.timeouts), "
            + "cap \(rig.rerequester.statistics(server: 0))"
        if ProcessInfo.processInfo.environment["MOLD_REPORT"] != nil { print(summary) }
        #expect(rig.deliveredAll(), "\(summary)")
        #expect(lost > 50, "\(summary)")
        // Requests counted as sent (`counters.requests`, retries included) over
        // data packets lost on the wire (adjacent lost packets are one gap and
        // may be one request, so the ratio can be below 1).
        #expect(ratio <= 1.05, "\(summary)")
        #expect(rig.counters.timeouts == 0, "\(summary)")
        #expect(rig.requestsForBuffered == 0, "\(summary)")
        // Answers are cut by the packet size, never taken for a message cap.
        #expect(rig.rerequester.statistics(server: 0).answerCap == 0, "\(summary)")
        #expect(rig.counters.unrecoverable == 0 && rig.counters.bufferDrops == 0, "\(summary)")
    }
}
