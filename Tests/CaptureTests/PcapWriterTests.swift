import Capture
import Foundation
import Testing

/// The writer against the reader: what goes in comes back byte for byte, with
/// its nanosecond timestamp, addresses and ports; synthesised headers carry
/// valid checksums; rotation splits by size without losing a record.
struct PcapWriterTests {
    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(getpid())-\(name)-\(UInt64.random(in: 0...UInt64.max))").path
    }

    func readAll(_ path: String) throws -> (records: [CaptureRecordCopy], datagrams: [[UInt8]], stamps: [UInt64], endpoints: [String]) {
        let file = try CaptureFile(path: path)
        var reader = try CaptureReader(file.bytes)
        var records: [CaptureRecordCopy] = []
        while let record = try reader.next() { records.append(CaptureRecordCopy(record)) }
        let datagrams = try DatagramReader(file.bytes)
        var payloads: [[UInt8]] = [], stamps: [UInt64] = [], endpoints: [String] = []
        while let datagram = try datagrams.next() {
            payloads.append(Array(datagram.payload))
            stamps.append(datagram.timestamp)
            endpoints.append("\(datagram.source):\(datagram.sourcePort)>\(datagram.destination):\(datagram.destinationPort)")
        }
        return (records, payloads, stamps, endpoints)
    }

    @Test(arguments: [LinkType.ethernet, .raw]) func udpRoundTripIsByteExact(linkType: LinkType) throws {
        let path = temporaryPath("udp")
        defer { unlink(path) }
        let writer = try PcapWriter(path: path, linkType: linkType)
        let source4 = CapturedAddress(ipv4: 0xC000_0202), group4 = CapturedAddress(ipv4: 0xEFFF_5B01)
        let source6 = [UInt8]([0xFD] + Array(repeating: 0, count: 14) + [2]).withUnsafeBytes { CapturedAddress(isIPv6: true, bytes: $0.baseAddress!) }
        let group6 = [UInt8]([0xFF, 0x3E] + Array(repeating: 0, count: 13) + [9]).withUnsafeBytes { CapturedAddress(isIPv6: true, bytes: $0.baseAddress!) }
        var payloads: [[UInt8]] = [[], [0x42]]
        var random = SystemRandomNumberGenerator()
        for size in [1, 7, 64, 1400, 9000, 65_507] { payloads.append((0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var stamps: [UInt64] = []
        for (index, payload) in payloads.enumerated() {
            let ipv6 = index % 2 == 1
            let stamp = 1_764_579_000_000_000_000 + UInt64(index) * 1_000_000_007
            stamps.append(stamp)
            try payload.withUnsafeBytes { bytes in
                try writer.writeUDP(bytes, timestamp: stamp, source: .init(ipv6 ? source6 : source4, port: 5000 + UInt16(index)),
                                    destination: .init(ipv6 ? group6 : group4, port: 41000))
            }
        }
        try writer.close()
        let read = try readAll(path)
        #expect(read.datagrams == payloads)
        #expect(read.stamps == stamps)
        #expect(read.endpoints[0] == "192.0.2.2:5000>239.255.91.1:41000")
        #expect(read.endpoints[1] == "fd00::2:5001>ff3e::9:41000")
        #expect(read.records.allSatisfy { $0.linkType == linkType && $0.originalLength == $0.bytes.count })
        // Checksums: the IPv4 header sums to 0xFFFF, the IPv6 UDP checksum verifies.
        let link = linkType == .ethernet ? 14 : 0
        for (index, record) in read.records.enumerated() {
            if index % 2 == 0 {
                #expect(onesComplement(Array(record.bytes[link..<(link + 20)])) == 0xFFFF)
                if linkType == .ethernet { #expect(Array(record.bytes[0..<6]) == [0x01, 0x00, 0x5E, 0x7F, 0x5B, 0x01]) }
            } else {
                let ip = Array(record.bytes[link...])
                let udp = Array(ip[40...])
                let pseudo = Array(ip[8..<40]) + FrameBuilder.be32(UInt32(udp.count)) + [0, 0, 0, 17]
                #expect(onesComplement(pseudo + udp) == 0xFFFF, "IPv6 UDP checksum of record \(index)")
                if linkType == .ethernet { #expect(Array(record.bytes[0..<6]) == [0x33, 0x33, 0, 0, 0, 9]) }
            }
        }
    }

    @Test func rawRecordsRoundTripWithSnapLength() throws {
        let path = temporaryPath("raw")
        defer { unlink(path) }
        let writer = try PcapWriter(path: path, linkType: LinkType(rawValue: 147), snapLength: 100)
        let frames: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 7, count: 100), Array(repeating: 8, count: 250)]
        for (index, frame) in frames.enumerated() {
            try frame.withUnsafeBytes { try writer.writeRecord($0, timestamp: UInt64(index) * 999_999_999 + 1) }
        }
        try writer.close()
        let read = try readAll(path)
        #expect(read.records.map(\.bytes) == [[], [1, 2, 3], Array(repeating: 7, count: 100), Array(repeating: 8, count: 100)])
        #expect(read.records.map(\.originalLength) == [0, 3, 100, 250])
        #expect(read.records.map(\.timestamp) == [1, 1_000_000_000, 1_999_999_999, 2_999_999_998])
        #expect(read.records.allSatisfy { $0.linkType.rawValue == 147 })
    }

    @Test func rotationBySize() throws {
        let path = temporaryPath("rotate") + ".pcap"
        let writer = try PcapWriter(path: path, rotateBytes: 10_000)
        let payload = [UInt8](repeating: 0x33, count: 958) // 958 + 42 + 16 = 1016 bytes a record
        for index in 0..<30 {
            try payload.withUnsafeBytes {
                try writer.writeUDP($0, timestamp: UInt64(index), source: .init(CapturedAddress(ipv4: 0x0A00_0001), port: 1),
                                    destination: .init(CapturedAddress(ipv4: 0xEF01_0101), port: 2))
            }
        }
        try writer.close()
        let files = (0..<writer.fileCount).map { PcapWriter.rotatedPath(path, index: $0) }
        defer { files.forEach { unlink($0) } }
        #expect(writer.fileCount == 4)
        #expect(files[1].hasSuffix(".1.pcap"))
        var stamps: [UInt64] = []
        for file in files {
            let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
            #expect(size <= 10_000)
            stamps += try readAll(file).stamps
        }
        #expect(stamps == (0..<30).map(UInt64.init))
    }

    @Test func unwritablePathIsAClearError() {
        #expect(throws: CaptureError.io(path: "/nonexistent-dir/x.pcap", operation: "open for writing", errno: ENOENT)) {
            try PcapWriter(path: "/nonexistent-dir/x.pcap")
        }
    }

    func onesComplement(_ bytes: [UInt8]) -> UInt32 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count { sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1]); index += 2 }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return sum
    }
}

/// A record with its bytes copied out (the reader's view dies with the mapping).
struct CaptureRecordCopy {
    let timestamp: UInt64
    let linkType: LinkType
    let bytes: [UInt8]
    let originalLength: Int
    init(_ record: CaptureRecord) {
        timestamp = record.timestamp
        linkType = record.linkType
        bytes = Array(record.bytes)
        originalLength = record.originalLength
    }
}
