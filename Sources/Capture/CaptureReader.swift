/// Reads frames from classic pcap or pcapng bytes, in file order, as
/// zero-copy `CaptureRecord` views.
///
/// - Classic pcap (tcpdump.org, "PCAP Capture File Format"): magic 0xa1b2c3d4
///   (microseconds) or 0xa1b23c4d (nanoseconds), in either byte order.
/// - pcapng (draft-ietf-opsawg-pcapng): Section Header (both byte orders, several
///   sections), Interface Description (link type, `if_tsresol`, `if_tsoffset`),
///   Enhanced Packet, Simple Packet and the obsolete Packet block; any other
///   block is skipped by its length (§3.1: "unknown blocks ... MUST be skipped").
/// - A record claiming more than `maximumRecordLength` bytes, or running past
///   the end, is an error (`CaptureError`) at its offset; the records before it
///   were read normally.
///
/// ```swift
/// let file = try CaptureFile(path: "feed.pcap")
/// var reader = try CaptureReader(file.bytes)
/// while let record = try reader.next() { use(record.bytes, record.timestamp) }
/// ```
public struct CaptureReader {
    /// The container format.
    public enum Format: Sendable, Equatable {
        /// Classic pcap: `nanoseconds` when the magic is 0xA1B23C4D (else microseconds),
        /// `swapped` when the file was written on a host of the other byte order.
        case pcap(nanoseconds: Bool, swapped: Bool)
        /// pcapng (section header, interface description and enhanced packet blocks);
        /// byte order is read per section.
        case pcapng
    }

    /// Wireshark's upper bound for one record (WTAP_MAX_PACKET_SIZE_STANDARD).
    public static let maximumRecordLength = 262_144

    /// Classic pcap's magic for microsecond timestamps (in the writer's byte order).
    public static let pcapMicrosecondMagic: UInt32 = 0xA1B2_C3D4
    /// Classic pcap's magic for nanosecond timestamps (in the writer's byte order).
    public static let pcapNanosecondMagic: UInt32 = 0xA1B2_3C4D
    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    /// The container format, detected from the first four bytes.
    public let format: Format
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    // Classic pcap
    var pcapLinkType = LinkType.ethernet
    // pcapng: the current section's byte order and interfaces.
    var swapped = false
    /// Per interface: link type and timestamp units per second, offset seconds.
    var interfaces: [(linkType: LinkType, unitsPerSecond: UInt64, offsetSeconds: Int64, snapLength: UInt32)] = []
    /// Records read so far (for error messages and counters).
    public private(set) var recordsRead = 0
    /// pcapng blocks skipped as unknown (or not frames: name resolution, statistics...).
    public private(set) var blocksSkipped = 0

    /// Checks the header. `bytes` must stay valid while the reader and the
    /// records it returns are used.
    public init(_ bytes: UnsafeRawBufferPointer) throws(CaptureError) {
        self.bytes = bytes
        guard bytes.count >= 4 else { throw .truncated(offset: 0, needed: 24, available: bytes.count) }
        let magic = bytes.loadUnaligned(as: UInt32.self)
        switch magic {
        case Self.pcapMicrosecondMagic, Self.pcapNanosecondMagic,
             Self.pcapMicrosecondMagic.byteSwapped, Self.pcapNanosecondMagic.byteSwapped:
            let swapped = magic == Self.pcapMicrosecondMagic.byteSwapped || magic == Self.pcapNanosecondMagic.byteSwapped
            let nanoseconds = magic == Self.pcapNanosecondMagic || magic == Self.pcapNanosecondMagic.byteSwapped
            guard bytes.count >= 24 else { throw .truncated(offset: 0, needed: 24, available: bytes.count) }
            format = .pcap(nanoseconds: nanoseconds, swapped: swapped)
            self.swapped = swapped
            // The link type is the low 16 bits; the upper ones may carry FCS
            // information (pcap format, "LinkType and additional information").
            pcapLinkType = LinkType(rawValue: bytes.fileUInt32(at: 20, swapped: swapped) & 0xFFFF)
            offset = 24
        case Self.sectionHeaderType:
            format = .pcapng
            offset = 0
        default:
            throw .unknownFormat(magic: UInt32(bigEndian: magic))
        }
    }

    /// The link type of a classic pcap file, or of the first pcapng interface
    /// (nil before one is read).
    public var linkType: LinkType? {
        if case .pcap = format { return pcapLinkType }
        return interfaces.first?.linkType
    }

    /// The next frame, or nil at the end of the bytes.
    public mutating func next() throws(CaptureError) -> CaptureRecord? {
        switch format {
        case .pcap(let nanoseconds, _): return try nextPcap(nanoseconds: nanoseconds)
        case .pcapng: return try nextPcapng()
        }
    }

    mutating func nextPcap(nanoseconds: Bool) throws(CaptureError) -> CaptureRecord? {
        let remaining = bytes.count - offset
        if remaining == 0 { return nil }
        guard remaining >= 16 else { throw .truncated(offset: offset, needed: 16, available: remaining) }
        let seconds = UInt64(bytes.fileUInt32(at: offset, swapped: swapped))
        let fraction = UInt64(bytes.fileUInt32(at: offset + 4, swapped: swapped))
        let captured = Int(bytes.fileUInt32(at: offset + 8, swapped: swapped))
        let original = Int(bytes.fileUInt32(at: offset + 12, swapped: swapped))
        guard captured <= Self.maximumRecordLength else { throw .absurdLength(offset: offset, length: UInt64(captured)) }
        guard captured <= remaining - 16 else {
            throw .truncated(offset: offset, needed: 16 + captured, available: remaining)
        }
        let timestamp = seconds &* 1_000_000_000 &+ (nanoseconds ? fraction : fraction &* 1000)
        let record = CaptureRecord(timestamp: timestamp, linkType: pcapLinkType,
                                   bytes: bytes.slice(offset + 16, captured), originalLength: max(original, captured))
        offset += 16 + captured
        recordsRead += 1
        return record
    }

    mutating func nextPcapng() throws(CaptureError) -> CaptureRecord? {
        while true {
            let remaining = bytes.count - offset
            if remaining == 0 { return nil }
            guard remaining >= 12 else { throw .truncated(offset: offset, needed: 12, available: remaining) }
            let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            if type == Self.sectionHeaderType {
                // The section header fixes the byte order of everything after it
                // (pcapng §4.1), including its own length field.
                let magic = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                if magic == Self.byteOrderMagic { swapped = false }
                else if magic == Self.byteOrderMagic.byteSwapped { swapped = true }
                else { throw .badByteOrderMagic(offset: offset, value: magic) }
                interfaces.removeAll(keepingCapacity: true)
            }
            let blockType = bytes.fileUInt32(at: offset, swapped: swapped)
            let length = Int(bytes.fileUInt32(at: offset + 4, swapped: swapped))
            guard length >= 12, length % 4 == 0 else {
                throw .malformed(offset: offset, reason: "block length \(length) is not a multiple of 4 of at least 12")
            }
            guard length <= Self.maximumRecordLength + 4096 || blockType != 6 && blockType != 3 && blockType != 2 else {
                throw .absurdLength(offset: offset, length: UInt64(length))
            }
            guard length <= remaining else { throw .truncated(offset: offset, needed: length, available: remaining) }
            let block = bytes.slice(offset, length)
            let blockOffset = offset
            offset += length
            switch blockType {
            case Self.sectionHeaderType: break // handled above
            case 1: try readInterface(block, at: blockOffset)
            case 6: // Enhanced Packet Block (§4.3)
                guard length >= 32 else { throw .malformed(offset: blockOffset, reason: "enhanced packet block shorter than 32 bytes") }
                let interface = block.fileUInt32(at: 8, swapped: swapped)
                let stamp = UInt64(block.fileUInt32(at: 12, swapped: swapped)) << 32 | UInt64(block.fileUInt32(at: 16, swapped: swapped))
                let captured = Int(block.fileUInt32(at: 20, swapped: swapped))
                let original = Int(block.fileUInt32(at: 24, swapped: swapped))
                return try packet(block, at: blockOffset, interface: interface, stamp: stamp,
                                  dataOffset: 28, captured: captured, original: original)
            case 2: // Obsolete Packet Block (Appendix A): 16-bit interface id.
                guard length >= 32 else { throw .malformed(offset: blockOffset, reason: "packet block shorter than 32 bytes") }
                let interface = UInt32(block.fileUInt16(at: 8, swapped: swapped))
                let stamp = UInt64(block.fileUInt32(at: 12, swapped: swapped)) << 32 | UInt64(block.fileUInt32(at: 16, swapped: swapped))
                let captured = Int(block.fileUInt32(at: 20, swapped: swapped))
                let original = Int(block.fileUInt32(at: 24, swapped: swapped))
                return try packet(block, at: blockOffset, interface: interface, stamp: stamp,
                                  dataOffset: 28, captured: captured, original: original)
            case 3: // Simple Packet Block (§4.4): interface 0, no timestamp; the
                // captured length is the smaller of the original and the snap length.
                guard length >= 16 else { throw .malformed(offset: blockOffset, reason: "simple packet block shorter than 16 bytes") }
                guard let first = interfaces.first else { throw .unknownInterface(offset: blockOffset, interface: 0) }
                let original = Int(block.fileUInt32(at: 8, swapped: swapped))
                var captured = min(original, length - 16)
                if first.snapLength > 0 { captured = min(captured, Int(first.snapLength)) }
                return try packet(block, at: blockOffset, interface: 0, stamp: 0,
                                  dataOffset: 12, captured: captured, original: original)
            default:
                blocksSkipped += 1
            }
        }
    }

    mutating func readInterface(_ block: UnsafeRawBufferPointer, at blockOffset: Int) throws(CaptureError) {
        guard block.count >= 20 else { throw .malformed(offset: blockOffset, reason: "interface block shorter than 20 bytes") }
        let linkType = LinkType(rawValue: UInt32(block.fileUInt16(at: 8, swapped: swapped)))
        let snapLength = block.fileUInt32(at: 12, swapped: swapped)
        var unitsPerSecond: UInt64 = 1_000_000 // default: microseconds (§4.2, if_tsresol)
        var offsetSeconds: Int64 = 0
        // Options (§3.5): code, length, value padded to 4; ends at opt_endofopt or the block's end.
        var cursor = 16
        let end = block.count - 4
        while cursor + 4 <= end {
            let code = block.fileUInt16(at: cursor, swapped: swapped)
            let length = Int(block.fileUInt16(at: cursor + 2, swapped: swapped))
            if code == 0 { break }
            guard cursor + 4 + length <= end else {
                throw .malformed(offset: blockOffset + cursor, reason: "interface option \(code) runs past its block")
            }
            if code == 9, length >= 1 { // if_tsresol: 10^-n, or 2^-n with the top bit set
                let value = block.load(fromByteOffset: cursor + 4, as: UInt8.self)
                let exponent = Int(value & 0x7F)
                if value & 0x80 != 0 {
                    guard exponent <= 63 else { throw .malformed(offset: blockOffset + cursor, reason: "if_tsresol 2^-\(exponent)") }
                    unitsPerSecond = 1 << UInt64(exponent)
                } else {
                    guard exponent <= 19 else { throw .malformed(offset: blockOffset + cursor, reason: "if_tsresol 10^-\(exponent)") }
                    unitsPerSecond = 1
                    for _ in 0..<exponent { unitsPerSecond *= 10 }
                }
            } else if code == 14, length >= 8 { // if_tsoffset: seconds added to every timestamp
                let raw = block.loadUnaligned(fromByteOffset: cursor + 4, as: UInt64.self)
                offsetSeconds = Int64(bitPattern: swapped ? raw.byteSwapped : raw)
            }
            cursor += 4 + (length + 3) & ~3
        }
        interfaces.append((linkType, unitsPerSecond, offsetSeconds, snapLength))
    }

    mutating func packet(_ block: UnsafeRawBufferPointer, at blockOffset: Int, interface: UInt32, stamp: UInt64,
                         dataOffset: Int, captured: Int, original: Int) throws(CaptureError) -> CaptureRecord {
        guard Int(interface) < interfaces.count else { throw .unknownInterface(offset: blockOffset, interface: interface) }
        guard captured <= Self.maximumRecordLength else { throw .absurdLength(offset: blockOffset, length: UInt64(captured)) }
        guard dataOffset + captured <= block.count - 4 else {
            throw .malformed(offset: blockOffset, reason: "captured length \(captured) runs past its block of \(block.count) bytes")
        }
        let description = interfaces[Int(interface)]
        recordsRead += 1
        return CaptureRecord(timestamp: Self.nanoseconds(stamp, unitsPerSecond: description.unitsPerSecond,
                                                         offsetSeconds: description.offsetSeconds),
                             linkType: description.linkType, bytes: block.slice(dataOffset, captured),
                             originalLength: max(original, captured))
    }

    /// Timestamp units to nanoseconds without overflow (128-bit intermediate).
    static func nanoseconds(_ stamp: UInt64, unitsPerSecond: UInt64, offsetSeconds: Int64) -> UInt64 {
        let seconds = stamp / unitsPerSecond
        let remainder = stamp % unitsPerSecond
        let product = remainder.multipliedFullWidth(by: 1_000_000_000)
        let fraction = unitsPerSecond.dividingFullWidth(product).quotient
        let shifted = Int64(truncatingIfNeeded: seconds) &+ offsetSeconds
        return UInt64(truncatingIfNeeded: shifted) &* 1_000_000_000 &+ fraction
    }
}
