import Capture
import Testing

/// The readers on files built byte by byte: both pcap magics in both byte
/// orders, pcapng sections of either order with their timestamp resolutions,
/// every link type decoded, VLAN tags and IPv6 extension headers.
struct CaptureReaderTests {
    typealias F = FrameBuilder
    let payload: [UInt8] = Array("hello, capture".utf8)
    var udpFrame: [UInt8] {
        F.ethernet(etherType: 0x0800, F.ipv4Packet(body: F.udp(source: 5000, destination: 41000, payload: payload)))
    }

    @Test(arguments: [false, true]) func classicPcapMicrosecondsEitherByteOrder(big: Bool) throws {
        let file = F.pcap(big: big, records: [(1_700_000_000, 123_456, udpFrame, nil), (1_700_000_001, 999_999, udpFrame, nil)])
        let (datagrams, counters) = try F.datagrams(file)
        #expect(datagrams.count == 2)
        #expect(datagrams[0].payload == payload)
        #expect(datagrams[0].source == "10.0.0.1" && datagrams[0].destination == "239.1.1.1")
        #expect(datagrams[0].sourcePort == 5000 && datagrams[0].destinationPort == 41000)
        #expect(datagrams[0].timestamp == 1_700_000_000_123_456_000)
        #expect(datagrams[1].timestamp == 1_700_000_001_999_999_000)
        #expect(counters.frames == 2 && counters.datagrams == 2)
    }

    @Test(arguments: [false, true]) func classicPcapNanosecondsEitherByteOrder(big: Bool) throws {
        let file = F.pcap(nanoseconds: true, big: big, records: [(7, 123_456_789, udpFrame, nil)])
        let (datagrams, _) = try F.datagrams(file)
        #expect(datagrams.map(\.timestamp) == [7_123_456_789])
    }

    @Test(arguments: [false, true]) func pcapngSectionsInterfacesAndBlocks(big: Bool) throws {
        // Interface 0: default microseconds; interface 1: nanoseconds (if_tsresol 9);
        // interface 2: 2^-10 s units. An unknown block (type 0x0BAD) and a
        // second section in the other byte order follow.
        var file = F.sectionHeader(big: big)
        file += F.interface(big: big)
        file += F.interface(tsresol: 9, big: big)
        file += F.interface(linkType: 101, tsresol: 0x8A, big: big)
        file += F.enhancedPacket(interface: 0, timestamp: 1_000_002, bytes: udpFrame, big: big)
        file += F.block(0x0BAD, [1, 2, 3, 4, 5], big: big)
        file += F.enhancedPacket(interface: 1, timestamp: 5_000_000_007, bytes: udpFrame, big: big)
        file += F.enhancedPacket(interface: 2, timestamp: 3 * 1024 + 512, bytes: F.ipv4Packet(body: F.udp(source: 1, destination: 2, payload: payload)), big: big)
        file += F.simplePacket(bytes: udpFrame, big: big)
        file += F.sectionHeader(big: !big)
        file += F.interface(tsresol: 9, big: !big)
        file += F.enhancedPacket(timestamp: 42, bytes: udpFrame, big: !big)
        let (datagrams, counters) = try F.datagrams(file)
        #expect(datagrams.map(\.timestamp) == [1_000_002_000, 5_000_000_007, 3_500_000_000, 0, 42])
        #expect(datagrams.allSatisfy { $0.payload == payload })
        #expect(datagrams[2].destinationPort == 2)
        #expect(counters.frames == 5)
        try file.withUnsafeBytes { bytes in
            var reader = try CaptureReader(bytes)
            while try reader.next() != nil {}
            #expect(reader.blocksSkipped == 1)
            #expect(reader.recordsRead == 5)
        }
    }

    @Test func linuxCookedAndRawLinkTypes() throws {
        let ip = F.ipv4Packet(body: F.udp(source: 9, destination: 10, payload: payload))
        let ip6 = F.ipv6Packet(nextHeader: 17, body: F.udp(source: 9, destination: 10, payload: payload))
        for (linkType, frame) in [(UInt32(113), F.sll(etherType: 0x0800, ip)), (276, F.sll2(etherType: 0x86DD, ip6)),
                                  (101, ip), (101, ip6), (228, ip), (229, ip6)] {
            let (datagrams, counters) = try F.datagrams(F.pcap(linkType: linkType, records: [(0, 0, frame, nil)]))
            #expect(datagrams.map(\.payload) == [payload], "link type \(linkType): \(counters)")
        }
        // IPv6 in a LINKTYPE_IPV4 file contradicts the file: counted, not decoded.
        let (none, counters) = try F.datagrams(F.pcap(linkType: 228, records: [(0, 0, ip6, nil)]))
        #expect(none.isEmpty && counters.malformed == 1)
    }

    @Test func stackedVLANTags() throws {
        let ip = F.ipv4Packet(body: F.udp(source: 9, destination: 10, payload: payload))
        let qinq = F.ethernet(etherType: 0x0800, vlanTags: [(0x88A8, 100), (0x8100, 200)], ip)
        let single = F.ethernet(etherType: 0x0800, vlanTags: [(0x8100, 7)], ip)
        let tooMany = F.ethernet(etherType: 0x0800, vlanTags: Array(repeating: (0x8100, 1), count: 9), ip)
        let (datagrams, counters) = try F.datagrams(F.pcap(records: [(0, 0, qinq, nil), (0, 0, single, nil), (0, 0, tooMany, nil)]))
        #expect(datagrams.map(\.payload) == [payload, payload])
        #expect(counters.malformed == 1)
    }

    @Test func ipv6ExtensionHeadersAreSkipped() throws {
        let udp = F.udp(source: 7000, destination: 7001, payload: payload)
        // hop-by-hop (8 bytes) -> destination options (16 bytes) -> atomic fragment (8) -> UDP
        let hopByHop: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let destination: [UInt8] = [44, 1] + Array(repeating: 0, count: 14)
        let atomicFragment: [UInt8] = [17, 0, 0, 0, 0, 0, 0, 9]
        let packet = F.ipv6Packet(nextHeader: 0, body: hopByHop + destination + atomicFragment + udp)
        let fragment = F.ipv6Packet(nextHeader: 44, body: [17, 0, 0, 1, 0, 0, 0, 9] + udp) // M set
        let tcp = F.ipv6Packet(nextHeader: 6, body: Array(repeating: 0, count: 20))
        let file = F.pcap(records: [(0, 0, F.ethernet(etherType: 0x86DD, packet), nil), (0, 0, F.ethernet(etherType: 0x86DD, fragment), nil),
                                    (0, 0, F.ethernet(etherType: 0x86DD, tcp), nil)])
        let (datagrams, counters) = try F.datagrams(file)
        #expect(datagrams.count == 1)
        #expect(datagrams.first?.payload == payload)
        #expect(datagrams.first?.source == "fd00::1")
        #expect(datagrams.first?.destination == "ff3e::7")
        #expect(counters.ipv6Fragments == 1 && counters.notUDP == 1)
    }
}
