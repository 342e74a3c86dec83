#if canImport(Glibc)
import Glibc
#endif

/// Writes classic pcap with nanosecond timestamps (magic 0xa1b23c4d, host byte
/// order, version 2.4), the format both Wireshark/tshark and tcpreplay open.
/// Records go into a buffer allocated once and reach the file with one
/// `write(2)` per buffer fill, so writing a record allocates nothing.
///
/// `writeUDP` synthesises the headers a captured frame would have had:
/// Ethernet II (multicast destination MAC from the group, RFC 1112 §6.4 and
/// RFC 2464 §7), IPv4 (RFC 791, header checksum) or IPv6 (RFC 8200) and UDP
/// (RFC 768; checksum computed for IPv6 where it is mandatory, RFC 8200 §8.1,
/// zero "no checksum" for IPv4).
///
/// With `rotateBytes`, a file that would grow past it is closed and the next
/// one opened: `feed.pcap`, `feed.1.pcap`, `feed.2.pcap`, ... (the only
/// allocation after init is that file name).
///
/// ```swift
/// let writer = try PcapWriter(path: "feed.pcap")
/// try writer.writeUDP(payload, timestamp: t, source: (src, 5000), destination: (group, 41000))
/// try writer.close()
/// ```
public final class PcapWriter {
    /// One end of a synthesised UDP datagram.
    public struct Endpoint: Sendable {
        /// The IPv4 or IPv6 address.
        public var address: CapturedAddress
        /// The UDP port.
        public var port: UInt16
        /// The end at `address` and `port`.
        public init(_ address: CapturedAddress, port: UInt16) {
            self.address = address
            self.port = port
        }
    }

    /// The path of the first file (rotated files insert `.1`, `.2`, ... before the extension).
    public let path: String
    /// The link type in the file header; `writeUDP` synthesises headers for it.
    public let linkType: LinkType
    /// The snap length in the file header; longer records are cut to it.
    public let snapLength: UInt32
    /// Rotate to a new file before one would grow past this many bytes; nil never rotates.
    public let rotateBytes: Int?
    /// Files opened so far (1 until the first rotation).
    public private(set) var fileCount = 0
    /// Records written, over all files.
    public private(set) var records: UInt64 = 0
    /// Bytes written, over all files (headers included).
    public private(set) var bytesWritten: UInt64 = 0
    /// The file being written now.
    public private(set) var currentPath: String

    let buffer: UnsafeMutableRawPointer
    let capacity: Int
    var used = 0
    var descriptor: Int32 = -1
    var fileBytes = 0
    var identification: UInt16 = 0

    static let fileHeaderLength = 24
    static let recordHeaderLength = 16
    /// Ethernet + IPv6 + UDP, the longest synthesised header.
    static let maximumHeaders = 14 + 40 + 8

    /// Creates (truncates) `path` and writes the file header. `linkType` is
    /// `.ethernet` or `.raw` for `writeUDP`; any for `writeRecord`.
    public init(path: String, linkType: LinkType = .ethernet, snapLength: UInt32 = 262_144,
                rotateBytes: Int? = nil, bufferBytes: Int = 1 << 20) throws(CaptureError) {
        precondition(bufferBytes >= 2 * Int(CaptureReader.maximumRecordLength), "the buffer must hold the largest record")
        self.path = path
        self.linkType = linkType
        self.snapLength = snapLength
        self.rotateBytes = rotateBytes
        currentPath = path
        capacity = bufferBytes
        buffer = .allocate(byteCount: bufferBytes, alignment: 8)
        // Every stored property is set: if this throws, deinit frees the buffer.
        try openFile(path)
    }

    deinit {
        if descriptor >= 0 { try? close() }
        buffer.deallocate()
    }

    /// The name of file `index` of a rotated set: `feed.pcap`, `feed.1.pcap`, ...
    public static func rotatedPath(_ path: String, index: Int) -> String {
        guard index > 0 else { return path }
        if let dot = path.lastIndex(of: "."), !path[dot...].contains("/") {
            return "\(path[..<dot]).\(index)\(path[dot...])"
        }
        return "\(path).\(index)"
    }

    func openFile(_ name: String) throws(CaptureError) {
        let opened = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard opened >= 0 else { throw .io(path: name, operation: "open for writing", errno: errno) }
        descriptor = opened
        currentPath = name
        fileCount += 1
        fileBytes = 0
        // Safety: the buffer is empty after a flush and holds far more than 24 bytes.
        let header = buffer + used
        header.storeBytes(of: CaptureReader.pcapNanosecondMagic, toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: UInt16(2), toByteOffset: 4, as: UInt16.self)
        header.storeBytes(of: UInt16(4), toByteOffset: 6, as: UInt16.self)
        header.storeBytes(of: Int32(0), toByteOffset: 8, as: Int32.self)     // thiszone: UTC
        header.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)  // sigfigs
        header.storeBytes(of: snapLength, toByteOffset: 16, as: UInt32.self)
        header.storeBytes(of: linkType.rawValue, toByteOffset: 20, as: UInt32.self)
        used += Self.fileHeaderLength
        fileBytes += Self.fileHeaderLength
        bytesWritten &+= UInt64(Self.fileHeaderLength)
    }

    /// Makes room for a record of `length` bytes, rotating first when it would
    /// take the file past `rotateBytes`.
    func reserve(_ length: Int) throws(CaptureError) {
        if let rotateBytes, fileBytes > Self.fileHeaderLength, fileBytes + length > rotateBytes {
            try flush()
            guard Glibc.close(descriptor) == 0 else { throw .io(path: currentPath, operation: "close", errno: errno) }
            descriptor = -1
            try openFile(Self.rotatedPath(path, index: fileCount))
        }
        if used + length > capacity { try flush() }
    }

    func storeRecordHeader(timestamp: UInt64, captured: Int, original: Int) {
        let header = buffer + used
        header.storeBytes(of: UInt32(truncatingIfNeeded: timestamp / 1_000_000_000), toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: UInt32(timestamp % 1_000_000_000), toByteOffset: 4, as: UInt32.self)
        header.storeBytes(of: UInt32(captured), toByteOffset: 8, as: UInt32.self)
        header.storeBytes(of: UInt32(original), toByteOffset: 12, as: UInt32.self)
    }

    /// Writes one frame as it is (its link layer must match `linkType`),
    /// cut to the snap length.
    public func writeRecord(_ frame: UnsafeRawBufferPointer, timestamp: UInt64, originalLength: Int? = nil) throws(CaptureError) {
        let captured = min(frame.count, Int(snapLength), CaptureReader.maximumRecordLength)
        try reserve(Self.recordHeaderLength + captured)
        storeRecordHeader(timestamp: timestamp, captured: captured, original: originalLength ?? frame.count)
        if captured > 0, let base = frame.baseAddress {
            // Safety: reserve made room for the header and `captured` bytes.
            (buffer + used + Self.recordHeaderLength).copyMemory(from: base, byteCount: captured)
        }
        commit(Self.recordHeaderLength + captured)
    }

    func commit(_ length: Int) {
        used += length
        fileBytes += length
        bytesWritten &+= UInt64(length)
        records &+= 1
    }

    /// Writes `payload` as a UDP datagram from `source` to `destination`
    /// (both IPv4 or both IPv6) received at `timestamp` (ns since the epoch).
    public func writeUDP(_ payload: UnsafeRawBufferPointer, timestamp: UInt64, source: Endpoint,
                         destination: Endpoint) throws(CaptureError) {
        precondition(source.address.isIPv6 == destination.address.isIPv6, "source and destination of one family")
        precondition(linkType == .ethernet || linkType == .raw, "writeUDP synthesises Ethernet or raw-IP frames")
        let ipv6 = destination.address.isIPv6
        let link = linkType == .ethernet ? 14 : 0
        let ipHeader = ipv6 ? 40 : 20
        // An IPv4 datagram holds at most 65,507 bytes of UDP payload (65,535 - 20 - 8).
        let udpLength = 8 + min(payload.count, ipv6 ? 65_527 : 65_507)
        let frameLength = link + ipHeader + udpLength
        let captured = min(frameLength, Int(snapLength), CaptureReader.maximumRecordLength)
        try reserve(Self.recordHeaderLength + max(captured, link + ipHeader + 8))
        storeRecordHeader(timestamp: timestamp, captured: captured, original: frameLength)
        // Headers are built in place (the buffer has room for the whole frame);
        // a snap length shorter than the headers keeps only its first bytes,
        // since only `captured` bytes are committed.
        let frame = buffer + used + Self.recordHeaderLength
        if link > 0 { storeEthernet(frame, destination: destination.address, ipv6: ipv6) }
        let ip = frame + link
        if ipv6 {
            ip.storeBytes(of: UInt32(0x6000_0000).bigEndian, toByteOffset: 0, as: UInt32.self)
            ip.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
            ip.storeBytes(of: UInt8(17), toByteOffset: 6, as: UInt8.self)
            ip.storeBytes(of: UInt8(64), toByteOffset: 7, as: UInt8.self)
            storeAddress(source.address, at: ip + 8)
            storeAddress(destination.address, at: ip + 24)
        } else {
            identification &+= 1
            ip.storeBytes(of: UInt8(0x45), toByteOffset: 0, as: UInt8.self)
            ip.storeBytes(of: UInt8(0), toByteOffset: 1, as: UInt8.self)
            ip.storeBytes(of: UInt16(20 + udpLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            ip.storeBytes(of: identification.bigEndian, toByteOffset: 4, as: UInt16.self)
            ip.storeBytes(of: UInt16(0x4000).bigEndian, toByteOffset: 6, as: UInt16.self) // DF, not a fragment
            ip.storeBytes(of: UInt8(64), toByteOffset: 8, as: UInt8.self)
            ip.storeBytes(of: UInt8(17), toByteOffset: 9, as: UInt8.self)
            ip.storeBytes(of: UInt16(0), toByteOffset: 10, as: UInt16.self)
            storeAddress(source.address, at: ip + 12)
            storeAddress(destination.address, at: ip + 16)
            let checksum = ~Self.fold(Self.onesComplementSum(UnsafeRawBufferPointer(start: ip, count: 20), initial: 0))
            ip.storeBytes(of: UInt16(truncatingIfNeeded: checksum).bigEndian, toByteOffset: 10, as: UInt16.self)
        }
        let udp = ip + ipHeader
        udp.storeBytes(of: source.port.bigEndian, toByteOffset: 0, as: UInt16.self)
        udp.storeBytes(of: destination.port.bigEndian, toByteOffset: 2, as: UInt16.self)
        udp.storeBytes(of: UInt16(udpLength).bigEndian, toByteOffset: 4, as: UInt16.self)
        udp.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        let payloadBytes = udpLength - 8
        let payloadRoom = max(0, captured - (link + ipHeader + 8))
        if payloadBytes > 0, let base = payload.baseAddress {
            // Safety: reserve made room for max(captured, headers) bytes after the record header.
            (udp + 8).copyMemory(from: base, byteCount: min(payloadBytes, payloadRoom))
        }
        if ipv6 {
            // Pseudo-header (RFC 8200 §8.1): addresses, upper-layer length, next header.
            var sum = Self.onesComplementSum(UnsafeRawBufferPointer(start: ip + 8, count: 32), initial: 0)
            sum &+= UInt32(udpLength) &+ 17
            sum = Self.onesComplementSum(UnsafeRawBufferPointer(start: udp, count: 8), initial: sum)
            if payloadBytes > 0 { sum = Self.onesComplementSum(UnsafeRawBufferPointer(start: payload.baseAddress, count: payloadBytes), initial: sum) }
            var checksum = UInt16(truncatingIfNeeded: ~Self.fold(sum))
            if checksum == 0 { checksum = 0xFFFF } // RFC 768: a computed zero is sent as all ones
            udp.storeBytes(of: checksum.bigEndian, toByteOffset: 6, as: UInt16.self)
        }
        commit(Self.recordHeaderLength + captured)
    }

    func storeEthernet(_ frame: UnsafeMutableRawPointer, destination: CapturedAddress, ipv6: Bool) {
        // Destination MAC: 01:00:5e + low 23 bits of an IPv4 group (RFC 1112 §6.4),
        // 33:33 + low 32 bits of an IPv6 group (RFC 2464 §7); unicast gets a
        // locally administered placeholder.
        destination.withBytes { address in
            var mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x02, 0, 0, 0, 0, 0x01)
            if destination.isMulticast {
                mac = ipv6 ? (0x33, 0x33, address[12], address[13], address[14], address[15])
                    : (0x01, 0x00, 0x5E, address[1] & 0x7F, address[2], address[3])
            }
            withUnsafeBytes(of: &mac) { frame.copyMemory(from: $0.baseAddress!, byteCount: 6) }
        }
        var source: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x02, 0, 0, 0, 0, 0x02)
        withUnsafeBytes(of: &source) { (frame + 6).copyMemory(from: $0.baseAddress!, byteCount: 6) }
        frame.storeBytes(of: (ipv6 ? FrameDecoder.etherTypeIPv6 : FrameDecoder.etherTypeIPv4).bigEndian,
                         toByteOffset: 12, as: UInt16.self)
    }

    func storeAddress(_ address: CapturedAddress, at pointer: UnsafeMutableRawPointer) {
        address.withBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// The 16-bit one's complement sum of `bytes` (RFC 1071), unfolded.
    static func onesComplementSum(_ bytes: UnsafeRawBufferPointer, initial: UInt32) -> UInt32 {
        var sum = UInt64(initial)
        var index = 0
        while index + 1 < bytes.count {
            sum &+= UInt64(bytes.networkUInt16(at: index))
            index += 2
        }
        if index < bytes.count { sum &+= UInt64(bytes[index]) << 8 }
        while sum > 0xFFFF_FFFF { sum = (sum & 0xFFFF_FFFF) + (sum >> 32) }
        return UInt32(sum)
    }

    static func fold(_ sum: UInt32) -> UInt32 {
        var value = sum
        while value > 0xFFFF { value = (value & 0xFFFF) + (value >> 16) }
        return value
    }

    /// Hands the buffered records to the kernel.
    public func flush() throws(CaptureError) {
        var offset = 0
        while offset < used {
            let written = write(descriptor, buffer + offset, used - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(path: currentPath, operation: "write", errno: errno)
            }
            offset += written
        }
        used = 0
    }

    /// Flushes and closes the current file.
    public func close() throws(CaptureError) {
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        try flush()
        guard Glibc.close(descriptor) == 0 else { throw .io(path: currentPath, operation: "close", errno: errno) }
    }
}
