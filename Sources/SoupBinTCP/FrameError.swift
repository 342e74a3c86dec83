/// Why bytes on a SoupBinTCP connection are not a valid packet. Each case says
/// what the peer got wrong; a connection that sees one is closed and counted.
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A length field of 0: every packet has at least its type byte (1.1).
    case zeroLength
    /// A length above what this end accepts (`maxFrameLength`).
    case tooLong(length: Int, limit: Int)
    /// A type byte the spec does not define.
    case unknownType(UInt8)
    /// A type with a fixed payload (login, reject, heartbeats) of another size.
    case wrongPayloadLength(type: PacketType, length: Int, expected: Int)
    /// A numeric field (a sequence number) that is not space-padded decimal.
    case invalidNumber(type: PacketType)
    /// A reject code other than `A` or `S`.
    case unknownRejectReason(UInt8)

    /// What is wrong with the packet, and what it suggests about the peer.
    public var description: String {
        switch self {
        case .zeroLength:
            "SoupBinTCP packet with length 0: a packet carries at least its type byte; is the peer speaking SoupBinTCP?"
        case .tooLong(let length, let limit):
            "SoupBinTCP packet of \(length) bytes is longer than the \(limit) accepted (raise maxFrameLength if the peer is right)"
        case .unknownType(let byte):
            "SoupBinTCP packet type 0x\(String(byte, radix: 16)) is not defined by SoupBinTCP 3.00"
        case .wrongPayloadLength(let type, let length, let expected):
            "SoupBinTCP \(type) packet has \(length) payload bytes; the spec fixes \(expected)"
        case .invalidNumber(let type):
            "SoupBinTCP \(type) packet has a sequence number that is not space-padded decimal ASCII"
        case .unknownRejectReason(let byte):
            "SoupBinTCP Login Rejected with reason 0x\(String(byte, radix: 16)); only A and S are defined"
        }
    }
}
