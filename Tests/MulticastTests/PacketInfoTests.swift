import Testing
import Multicast

/// Parsing of ancillary data into `PacketInfo`, from hand-built cmsg chains
/// (Linux 64-bit layout: cmsghdr is a size_t length, int level, int type, then
/// data aligned to 8). Malformed chains end the walk; nothing reads past the end.
@Suite struct PacketInfoTests {
    // Values from <bits/socket.h>, <netinet/in.h> and <asm/socket.h> on Linux.
    static let ipLevel: Int32 = 0, ipPktinfo: Int32 = 8
    static let ipv6Level: Int32 = 41, ipv6Pktinfo: Int32 = 50
    static let socketLevel: Int32 = 1, timestampNs: Int32 = 35

    /// One cmsg: header, data, padding to the next 8-byte boundary (CMSG_SPACE).
    static func message(level: Int32, type: Int32, data: [UInt8]) -> [UInt8] {
        var bytes = withUnsafeBytes(of: UInt64(16 + data.count)) { Array($0) }
        bytes += withUnsafeBytes(of: level) { Array($0) } + withUnsafeBytes(of: type) { Array($0) } + data
        while bytes.count % 8 != 0 { bytes.append(0) }
        return bytes
    }

    static func ipv4(index: Int32, destination: [UInt8]) -> [UInt8] {
        // struct in_pktinfo: ipi_ifindex, ipi_spec_dst, ipi_addr (the header destination).
        message(level: ipLevel, type: ipPktinfo, data: withUnsafeBytes(of: index) { Array($0) } + [127, 0, 0, 1] + destination)
    }

    static func timestamp(seconds: Int64, nanoseconds: Int64) -> [UInt8] {
        message(level: socketLevel, type: timestampNs,
                data: withUnsafeBytes(of: seconds) { Array($0) } + withUnsafeBytes(of: nanoseconds) { Array($0) })
    }

    func parse(_ bytes: [UInt8]) -> PacketInfo {
        bytes.withUnsafeBytes { PacketInfo(control: $0) }
    }

    @Test func readsIPv4PktinfoAndTimestamp() throws {
        let info = parse(Self.ipv4(index: 7, destination: [239, 1, 2, 3]) + Self.timestamp(seconds: 12, nanoseconds: 345))
        #expect(info.destination == (try IPAddress("239.1.2.3")))
        #expect(info.interfaceIndex == 7)
        #expect(info.kernelTimestamp == 12_000_000_345)
    }

    @Test func readsIPv6Pktinfo() throws {
        // struct in6_pktinfo: ipi6_addr, ipi6_ifindex.
        let group: [UInt8] = [0xff, 0x3e] + Array(repeating: 0, count: 10) + [0x80, 0, 0, 1]
        let info = parse(Self.message(level: Self.ipv6Level, type: Self.ipv6Pktinfo,
                                      data: group + withUnsafeBytes(of: UInt32(4)) { Array($0) }))
        #expect(info.destination == (try IPAddress("ff3e::8000:1")))
        #expect(info.interfaceIndex == 4)
        #expect(info.kernelTimestamp == nil)
    }

    @Test func emptyControlMeansNoMetadata() {
        let info = parse([])
        #expect(info.destination == nil && info.interfaceIndex == nil && info.kernelTimestamp == nil)
    }

    @Test func malformedChainsEndTheWalk() {
        var good = Self.ipv4(index: 3, destination: [239, 0, 0, 9])
        // A length reaching past the buffer: ignored, not read.
        var overlong = good
        overlong.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(4096)) { Array($0) })
        #expect(parse(overlong).destination == nil)
        // A length shorter than a header.
        var short = good
        short.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(3)) { Array($0) })
        #expect(parse(short).destination == nil)
        // Cut inside the data (MSG_CTRUNC-like).
        #expect(parse(Array(good.prefix(20))).destination == nil)
        // A good message followed by a cut one: the good one counts.
        good += Array(Self.timestamp(seconds: 1, nanoseconds: 1).prefix(12))
        #expect(parse(good).interfaceIndex == 3)
        #expect(parse(good).kernelTimestamp == nil)
    }

    @Test func randomBytesNeverCrash() {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        for length in 0..<200 {
            var bytes = [UInt8](repeating: 0, count: length)
            for i in bytes.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
            }
            // Plausible lengths in the first word make the walk go further.
            if length >= 8 { bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(state % 64)) { Array($0) }) }
            _ = parse(bytes)
        }
    }
}
