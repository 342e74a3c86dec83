/// A zero-copy view of one µTP packet (BEP 29), validated on creation.
///
/// Header (20 bytes, big-endian):
/// ```
/// 0       4       8               16              24              32
/// +-------+-------+---------------+---------------+---------------+
/// | type  | ver   | extension     | connection_id                 |
/// | timestamp_microseconds                                        |
/// | timestamp_difference_microseconds                             |
/// | wnd_size                                                      |
/// | seq_nr                        | ack_nr                        |
/// ```
/// followed by a chain of extensions (each: next-extension type, length, body) and
/// the payload. Extension 1 is the selective ACK; others are skipped by length.
/// The view points into the caller's bytes and is valid only as long as they are.
///
/// ```swift
/// switch Packet.parse(datagram.bytes) {
/// case .success(let packet): connection.receive(packet, now: now)
/// case .failure(let reason): counters.malformed(reason)
/// }
/// ```
public struct Packet {
    /// The header is 20 bytes (BEP 29 "header format").
    public static let headerSize = 20
    /// BEP 29: version 1 is the only version.
    public static let version: UInt8 = 1
    /// Extension 1 is the selective ACK (BEP 29 "extension").
    public static let selectiveAckExtension: UInt8 = 1
    /// An extension chain longer than this is refused (it could only be garbage: a
    /// 1,500-byte packet holds at most a few hundred empty extensions).
    public static let maximumExtensions = 16

    /// The packet type (the high nibble of byte 0).
    public let type: PacketType
    /// The connection id: the receiver's id for this connection (a SYN carries the
    /// initiator's receive id).
    public let connectionID: UInt16
    /// The sender's clock when it sent the packet, in microseconds (wraps at 2^32).
    public let timestamp: UInt32
    /// The sender's last measured one-way delay (its clock minus our timestamp), in
    /// microseconds: LEDBAT's input on our side.
    public let timestampDifference: UInt32
    /// The sender's advertised receive window, in bytes.
    public let windowSize: UInt32
    /// The packet's sequence number (DATA, FIN and SYN advance it).
    public let sequenceNumber: UInt16
    /// The last sequence number the sender received in order.
    public let ackNumber: UInt16
    /// The selective-ACK bitmask, empty when the packet carries none. Bit 0 of byte 0
    /// stands for ack_nr + 2, bit 7 of byte 0 for ack_nr + 9, bit 0 of byte 1 for
    /// ack_nr + 10, and so on (BEP 29 "selective ack").
    public let selectiveAck: UnsafeRawBufferPointer
    /// Bytes after the header and extensions.
    public let payload: UnsafeRawBufferPointer

    /// Validates `bytes` as a µTP packet; never reads outside them.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<Packet, MalformedReason> {
        guard bytes.count >= headerSize, let base = bytes.baseAddress else { return .failure(.tooShort) }
        let first = bytes[0]
        guard first & 0x0F == version else { return .failure(.badVersion) }
        guard let type = PacketType(rawValue: first >> 4) else { return .failure(.badType) }
        var nextExtension = bytes[1]
        var offset = headerSize
        var selectiveAck = UnsafeRawBufferPointer(start: base, count: 0)
        var extensions = 0
        while nextExtension != 0 {
            extensions += 1
            guard extensions <= maximumExtensions else { return .failure(.tooManyExtensions) }
            guard offset + 2 <= bytes.count else { return .failure(.truncatedExtension) }
            let kind = nextExtension
            nextExtension = bytes[offset]
            let length = Int(bytes[offset + 1])
            offset += 2
            guard offset + length <= bytes.count else { return .failure(.truncatedExtension) }
            if kind == selectiveAckExtension {
                guard length > 0 else { return .failure(.emptySelectiveAck) }
                // Safety: offset + length <= bytes.count was checked above.
                selectiveAck = UnsafeRawBufferPointer(start: base + offset, count: length)
            }
            offset += length
        }
        // Safety: offset <= bytes.count holds after every step above.
        let payload = UnsafeRawBufferPointer(start: base + offset, count: bytes.count - offset)
        return .success(Packet(
            type: type,
            connectionID: load16(base, 2),
            timestamp: load32(base, 4),
            timestampDifference: load32(base, 8),
            windowSize: load32(base, 12),
            sequenceNumber: load16(base, 16),
            ackNumber: load16(base, 18),
            selectiveAck: selectiveAck,
            payload: payload))
    }

    /// Whether the selective ACK marks `sequence` received. Sequence numbers the mask
    /// does not reach (at or before ack_nr + 1, or past its last bit) are not marked.
    public func selectivelyAcknowledges(_ sequence: UInt16) -> Bool {
        let bit = Int(sequence &- ackNumber &- 2)
        guard bit < selectiveAck.count * 8 else { return false }
        return selectiveAck[bit >> 3] & (1 << UInt8(bit & 7)) != 0
    }

    @inline(__always)
    static func load16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func load32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
