import Capture

/// Builds frames and capture files byte by byte for the reader tests: each
/// function follows the header layout of the spec it names, independently of
/// the writer under test.
enum FrameBuilder {
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func le16(_ value: UInt16) -> [UInt8] { be16(value).reversed() }
    static func le32(_ value: UInt32) -> [UInt8] { be32(value).reversed() }
    static func u16(_ value: UInt16, big: Bool) -> [UInt8] { big ? be16(value) : le16(value) }
    static func u32(_ value: UInt32, big: Bool) -> [UInt8] { big ? be32(value) : le32(value) }

    static func ipv4(_ text: String) -> [UInt8] { text.split(separator: ".").map { UInt8($0)! } }

    /// RFC 768 header with a zero (absent) checksum.
    static func udp(source: UInt16, destination: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(source) + be16(destination) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    /// RFC 791 header (no options) around `body`; `offset` in bytes (a multiple of 8).
    static func ipv4Packet(source: [UInt8] = ipv4("10.0.0.1"), destination: [UInt8] = ipv4("239.1.1.1"),
                           protocolNumber: UInt8 = 17, identification: UInt16 = 1,
                           moreFragments: Bool = false, offset: Int = 0, body: [UInt8]) -> [UInt8] {
        let flags: UInt16 = (moreFragments ? 0x2000 : 0) | UInt16(offset / 8)
        return [0x45, 0] + be16(UInt16(20 + body.count)) + be16(identification) + be16(flags)
            + [64, protocolNumber, 0, 0] + source + destination + body
    }

    /// RFC 8200 fixed header; `extensions` is (next header of each, bytes) already chained by the caller.
    static func ipv6Packet(nextHeader: UInt8, source: [UInt8] = [0xFD] + Array(repeating: 0, count: 14) + [1],
                           destination: [UInt8] = [0xFF, 0x3E] + Array(repeating: 0, count: 13) + [7],
                           body: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(body.count)) + [nextHeader, 64] + source + destination + body
    }

    static func ethernet(etherType: UInt16, vlanTags: [(tpid: UInt16, vid: UInt16)] = [], _ payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x01, 0x00, 0x5E, 1, 1, 1, 0x02, 0, 0, 0, 0, 9]
        for tag in vlanTags { frame += be16(tag.tpid) + be16(tag.vid) }
        return frame + be16(etherType) + payload
    }

    /// Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, 8 address bytes, protocol.
    static func sll(etherType: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(0) + be16(1) + be16(6) + [2, 0, 0, 0, 0, 9, 0, 0] + be16(etherType) + payload
    }

    /// Linux cooked v2: protocol, reserved, interface index, ARPHRD, packet type, address length, 8 bytes.
    static func sll2(etherType: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(etherType) + be16(0) + be32(2) + be16(1) + [0, 6] + [2, 0, 0, 0, 0, 9, 0, 0] + payload
    }

    /// A classic pcap file: header then (seconds, fraction, bytes, original length) records.
    static func pcap(nanoseconds: Bool = false, big: Bool = false, linkType: UInt32 = 1, snapLength: UInt32 = 65_535,
                     records: [(seconds: UInt32, fraction: UInt32, bytes: [UInt8], original: Int?)]) -> [UInt8] {
        var file = u32(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4, big: big) + u16(2, big: big) + u16(4, big: big)
            + u32(0, big: big) + u32(0, big: big) + u32(snapLength, big: big) + u32(linkType, big: big)
        for record in records {
            file += u32(record.seconds, big: big) + u32(record.fraction, big: big) + u32(UInt32(record.bytes.count), big: big)
                + u32(UInt32(record.original ?? record.bytes.count), big: big) + record.bytes
        }
        return file
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + Array(repeating: 0, count: (4 - bytes.count % 4) % 4) }

    /// One pcapng block: type, total length, body (padded), total length.
    static func block(_ type: UInt32, _ body: [UInt8], big: Bool) -> [UInt8] {
        let body = padded(body)
        let length = UInt32(12 + body.count)
        return u32(type, big: big) + u32(length, big: big) + body + u32(length, big: big)
    }

    static func sectionHeader(big: Bool) -> [UInt8] {
        block(0x0A0D_0D0A, u32(0x1A2B_3C4D, big: big) + u16(1, big: big) + u16(0, big: big)
              + Array(repeating: 0xFF, count: 8), big: big)
    }

    /// IDB with an optional if_tsresol option (code 9) and opt_endofopt.
    static func interface(linkType: UInt16 = 1, snapLength: UInt32 = 0, tsresol: UInt8? = nil, big: Bool) -> [UInt8] {
        var body = u16(linkType, big: big) + u16(0, big: big) + u32(snapLength, big: big)
        if let tsresol { body += u16(9, big: big) + u16(1, big: big) + [tsresol, 0, 0, 0] + u16(0, big: big) + u16(0, big: big) }
        return block(1, body, big: big)
    }

    static func enhancedPacket(interface: UInt32 = 0, timestamp: UInt64, bytes: [UInt8], original: Int? = nil, big: Bool) -> [UInt8] {
        block(6, u32(interface, big: big) + u32(UInt32(timestamp >> 32), big: big) + u32(UInt32(timestamp & 0xFFFF_FFFF), big: big)
              + u32(UInt32(bytes.count), big: big) + u32(UInt32(original ?? bytes.count), big: big) + padded(bytes), big: big)
    }

    static func simplePacket(bytes: [UInt8], big: Bool) -> [UInt8] {
        block(3, u32(UInt32(bytes.count), big: big) + padded(bytes), big: big)
    }

    /// Reads every UDP datagram of `file` (payload, ports, time) and the counters.
    static func datagrams(_ file: [UInt8], reassembly: FragmentReassembler.Configuration = .init()) throws
        -> (datagrams: [(payload: [UInt8], source: String, sourcePort: UInt16, destination: String, destinationPort: UInt16, timestamp: UInt64)],
            counters: DecodeCounters) {
        try file.withUnsafeBytes { bytes in
            let reader = try DatagramReader(bytes, reassembly: reassembly)
            var found: [(payload: [UInt8], source: String, sourcePort: UInt16, destination: String, destinationPort: UInt16, timestamp: UInt64)] = []
            while let datagram = try reader.next() {
                found.append((Array(datagram.payload), "\(datagram.source)", datagram.sourcePort,
                              "\(datagram.destination)", datagram.destinationPort, datagram.timestamp))
            }
            return (found, reader.counters)
        }
    }
}
