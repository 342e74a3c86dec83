/// A zero-copy, validated view of one SoupBinTCP 3.00 logical packet.
///
/// Wire format (1.1): a u16 big-endian length covering the type byte and the
/// payload, the type byte, the payload. Packets do not map to TCP segments: a
/// reader hands `SoupPacket.first(in:maxFrameLength:)` whatever bytes it has
/// and gets the first packet once it is complete. The view lives only as long
/// as the bytes it points at (a TCP receive buffer: until the handler returns).
///
/// ```swift
/// var offset = 0
/// while let packet = try SoupPacket.first(in: rest(from: offset), maxFrameLength: 1024) {
///     handle(packet)
///     offset += packet.frameLength
/// }
/// ```
public struct SoupPacket {
    /// Bytes of the length field.
    public static let lengthFieldSize = 2
    /// Bytes before the payload: length field and type.
    public static let headerSize = 3
    /// The largest length field the wire can carry.
    public static let maxWireLength = 0xFFFF

    /// The packet type (its first byte after the length).
    public let type: PacketType
    /// The payload (after the type byte).
    public let payload: UnsafeRawBufferPointer
    /// Bytes the packet takes on the wire, length field included.
    public var frameLength: Int { Self.headerSize + payload.count }

    @usableFromInline
    init(type: PacketType, payload: UnsafeRawBufferPointer) {
        self.type = type
        self.payload = payload
    }

    /// The first packet in `bytes`, or nil when they do not hold a whole one yet.
    /// Throws for a packet no correct peer sends; `maxFrameLength` bounds the
    /// length field (type + payload), so a reader's buffer never has to grow.
    public static func first(in bytes: UnsafeRawBufferPointer, maxFrameLength: Int = maxWireLength)
        throws(FrameError) -> SoupPacket? {
        guard bytes.count >= lengthFieldSize else { return nil }
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        guard length > 0 else { throw .zeroLength }
        guard length <= maxFrameLength else { throw .tooLong(length: length, limit: maxFrameLength) }
        // The type can be judged before the payload has arrived: garbage is
        // refused at its first bytes instead of after up to 64 KiB of waiting.
        guard bytes.count > lengthFieldSize else { return nil }
        guard let type = PacketType(rawValue: bytes[2]) else { throw .unknownType(bytes[2]) }
        if let fixed = type.fixedPayloadLength, fixed != length - 1 {
            throw .wrongPayloadLength(type: type, length: length - 1, expected: fixed)
        }
        guard bytes.count >= lengthFieldSize + length else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(lengthFieldSize + length)])
        let packet = SoupPacket(type: type, payload: payload)
        try packet.validateFields()
        return packet
    }

    func validateFields() throws(FrameError) {
        switch type {
        case .loginAccepted:
            guard SoupFields.readNumber(field(SoupFields.sessionLength, SoupFields.sequenceLength)) != nil else {
                throw .invalidNumber(type: type)
            }
        case .loginRequest:
            let offset = SoupFields.usernameLength + SoupFields.passwordLength + SoupFields.sessionLength
            guard SoupFields.readNumber(field(offset, SoupFields.sequenceLength)) != nil else {
                throw .invalidNumber(type: type)
            }
        case .loginRejected:
            guard RejectReason(rawValue: payload[0]) != nil else { throw .unknownRejectReason(payload[0]) }
        default:
            break
        }
    }

    @inline(__always)
    func field(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + count)])
    }

    // MARK: - Typed fields (valid only for the matching type; nil otherwise)

    /// Login Request (2.3.1): the username field (6 bytes, padded).
    public var username: UnsafeRawBufferPointer? {
        type == .loginRequest ? field(0, SoupFields.usernameLength) : nil
    }

    /// Login Request: the password field (10 bytes, padded).
    public var password: UnsafeRawBufferPointer? {
        type == .loginRequest ? field(SoupFields.usernameLength, SoupFields.passwordLength) : nil
    }

    /// Login Request: the requested session (10 bytes; all spaces = the current
    /// session). Login Accepted: the session logged into.
    public var session: UnsafeRawBufferPointer? {
        switch type {
        case .loginRequest: field(SoupFields.usernameLength + SoupFields.passwordLength, SoupFields.sessionLength)
        case .loginAccepted: field(0, SoupFields.sessionLength)
        default: nil
        }
    }

    /// Login Request: the requested sequence number (0 = from the next new
    /// message). Login Accepted: the number of the next Sequenced Data packet.
    public var sequenceNumber: UInt64? {
        switch type {
        case .loginRequest:
            SoupFields.readNumber(field(SoupFields.usernameLength + SoupFields.passwordLength + SoupFields.sessionLength,
                                        SoupFields.sequenceLength))
        case .loginAccepted:
            SoupFields.readNumber(field(SoupFields.sessionLength, SoupFields.sequenceLength))
        default: nil
        }
    }

    /// Login Rejected (2.2.2): why.
    public var rejectReason: RejectReason? {
        type == .loginRejected ? RejectReason(rawValue: payload[0]) : nil
    }
}
