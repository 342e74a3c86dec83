/// ReliableUDP wire format, version 1. Every integer is big-endian (network
/// byte order). The README's "ReliableUDP wire format" section is the prose
/// version of this file; keep the two in step.
///
/// Packet header (20 bytes):
///
/// | offset | size | field                                               |
/// |-------:|-----:|-----------------------------------------------------|
/// | 0      | 1    | version (1)                                         |
/// | 1      | 1    | packet type (`PacketType`)                          |
/// | 2      | 1    | flags: bit 0 = protected (AEAD tag trails, 16 bytes)|
/// | 3      | 1    | reserved, 0                                         |
/// | 4      | 8    | destination connection id (0 in a first hello)      |
/// | 12     | 8    | packet number (per direction, from 0, never reused) |
///
/// A `data` packet carries frames after the header; the handshake packets carry
/// the bodies described at `HandshakeBody`.
public enum WireFormat {
    /// The protocol version in header byte 0.
    public static let version: UInt8 = 1
    /// Bytes of the packet header.
    public static let headerLength = 20
    /// Flag bit 0: the payload is sealed with an AEAD; the header is its
    /// associated data and the 16-byte tag ends the datagram.
    public static let protectedFlag: UInt8 = 0x01
    /// Bytes of the AEAD tag ending a protected datagram.
    public static let tagLength = 16

    /// DATA frame header: type 1 + tier 1 + set offset 2 + length 2 + sequence 8.
    public static let dataFrameOverhead = 14
    /// ACK frame fixed part: type 1 + ack delay 4 + delivery limit 8 + largest 8
    /// + first range 4 + range count 1.
    public static let ackFrameFixed = 26
    /// One extra ACK range: gap 4 + length 4.
    public static let ackRangeLength = 8
    /// At most this many extra ranges in one ACK frame.
    public static let maxAckRanges = 32
    /// CLOSE frame: type 1 + reason 2.
    public static let closeFrameLength = 3
    /// A first hello is padded to this size so a cookie answer (smaller) cannot
    /// amplify a spoofed flood (the RFC 9000 §8.1 idea).
    public static let helloPaddedLength = 96
    /// Bytes of a handshake cookie.
    public static let cookieLength = 16
}

/// The packet types (header byte 1).
public enum PacketType: UInt8, Sendable {
    /// Client → server: source connection id 8, receive window 4, padding.
    case hello = 1
    /// Server → client: timestamp 8, cookie 16 (no server state is kept).
    case cookie = 2
    /// Client → server: source connection id 8, receive window 4, timestamp 8,
    /// cookie 16, padding.
    case helloWithCookie = 3
    /// Server → client: source (server) connection id 8, receive window 4.
    case welcome = 4
    /// Either direction, after the handshake: frames.
    case data = 5
}

/// The frame types inside a `data` packet (the first byte of each frame).
public enum FrameType: UInt8, Sendable {
    /// One byte, skipped.
    case padding = 0
    /// tier 1, set offset 2, length 2, sequence 8, then `length` bytes.
    case data = 1
    /// ack delay µs 4, delivery limit 8, largest 8, first range 4, range count 1,
    /// then count × (gap 4, length 4) — the RFC 9000 §19.3.1 range encoding.
    case ack = 2
    /// Heartbeat: elicits an acknowledgement, carries nothing.
    case ping = 3
    /// reason 2. The sender will send nothing more.
    case close = 4
}

/// Big-endian loads and stores at byte offsets; callers have checked the bounds.
@usableFromInline
enum BigEndian {
    @inlinable @inline(__always)
    static func u16(_ base: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inlinable @inline(__always)
    static func u32(_ base: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inlinable @inline(__always)
    static func u64(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inlinable @inline(__always)
    static func put(_ value: UInt16, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }
    @inlinable @inline(__always)
    static func put(_ value: UInt32, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
    @inlinable @inline(__always)
    static func put(_ value: UInt64, _ base: UnsafeMutableRawPointer, _ offset: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }
}
