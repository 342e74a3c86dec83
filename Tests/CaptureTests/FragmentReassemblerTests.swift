import Capture
import Testing

/// IPv4 fragments (RFC 791 §3.2) reassembled on read: any arrival order,
/// duplicates, a bounded table with timeouts in capture time, counted drops.
struct FragmentReassemblerTests {
    typealias F = FrameBuilder

    /// The UDP datagram of `payload` split into IP fragments of `size` bytes (a multiple of 8).
    func fragments(_ payload: [UInt8], size: Int, identification: UInt16) -> [[UInt8]] {
        let body = F.udp(source: 3000, destination: 41000, payload: payload)
        return stride(from: 0, to: body.count, by: size).map { start in
            let end = min(body.count, start + size)
            return F.ethernet(etherType: 0x0800, F.ipv4Packet(identification: identification, moreFragments: end < body.count,
                                                               offset: start, body: Array(body[start..<end])))
        }
    }

    @Test func outOfOrderAndDuplicatedFragmentsReassemble() throws {
        let payload = (0..<3000).map { UInt8($0 % 251) }
        let parts = fragments(payload, size: 1480, identification: 77)
        #expect(parts.count == 3)
        let order = [parts[2], parts[0], parts[0], parts[1]]
        let file = F.pcap(records: order.enumerated().map { (1, UInt32($0.offset), $0.element, nil) })
        let (datagrams, counters) = try F.datagrams(file)
        #expect(datagrams.count == 1)
        #expect(datagrams.first?.payload == payload)
        #expect(datagrams.first?.destinationPort == 41000)
        #expect(counters.reassembled == 1 && counters.fragmentsHeld == 4)
    }

    @Test func interleavedDatagramsAndTimeoutInCaptureTime() throws {
        let a = fragments(Array(repeating: 1, count: 2000), size: 1024, identification: 1)
        let b = fragments(Array(repeating: 2, count: 2000), size: 1024, identification: 2)
        let c = fragments(Array(repeating: 3, count: 2000), size: 1024, identification: 3)
        // a and b interleave; c's first half arrives, then 31 s of capture time pass.
        let records: [(UInt32, UInt32, [UInt8], Int?)] = [(0, 0, a[0], nil), (0, 1, b[0], nil), (0, 2, c[0], nil), (0, 3, b[1], nil),
                                                          (0, 4, a[1], nil), (31, 0, c[1], nil)]
        let (datagrams, counters) = try F.datagrams(F.pcap(records: records))
        #expect(datagrams.map { $0.payload.first } == [2, 1])
        #expect(counters.reassemblyTimeouts == 1)
        #expect(counters.reassembled == 2)
    }

    @Test func fullTableEvictsTheOldest() throws {
        let table = FragmentReassembler.Configuration(capacity: 2, timeout: 30_000_000_000)
        let parts = (1...3).map { fragments(Array(repeating: UInt8($0), count: 2000), size: 1024, identification: UInt16($0)) }
        let records: [(UInt32, UInt32, [UInt8], Int?)] = [(0, 0, parts[0][0], nil), (0, 1, parts[1][0], nil), (0, 2, parts[2][0], nil),
                                                          (0, 3, parts[2][1], nil), (0, 4, parts[1][1], nil), (0, 5, parts[0][1], nil)]
        let (datagrams, counters) = try F.datagrams(F.pcap(records: records), reassembly: table)
        // 1 is evicted by 3; 3 and 2 complete; 1's second half waits alone.
        #expect(datagrams.map { $0.payload.first } == [3, 2])
        #expect(counters.reassemblyEvictions == 1)
    }

    @Test func inconsistentFragmentsAreDropped() throws {
        let body = F.udp(source: 1, destination: 2, payload: Array(repeating: 9, count: 100))
        // A middle fragment whose length is not a multiple of 8.
        let odd = F.ethernet(etherType: 0x0800, F.ipv4Packet(moreFragments: true, offset: 0, body: Array(body[0..<13])))
        // A last fragment that would end past 65,515 bytes.
        let huge = F.ethernet(etherType: 0x0800, F.ipv4Packet(identification: 2, offset: 65_512, body: Array(body[0..<16])))
        // Two last fragments disagreeing on the end.
        let end1 = F.ethernet(etherType: 0x0800, F.ipv4Packet(identification: 3, offset: 80, body: Array(body[80..<108])))
        let end2 = F.ethernet(etherType: 0x0800, F.ipv4Packet(identification: 3, offset: 80, body: Array(body[80..<100])))
        let (datagrams, counters) = try F.datagrams(F.pcap(records: [(0, 0, odd, nil), (0, 0, huge, nil), (0, 0, end1, nil), (0, 0, end2, nil)]))
        #expect(datagrams.isEmpty)
        #expect(counters.badFragments == 3)
    }
}
