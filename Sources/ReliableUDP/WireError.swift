/// Why a datagram was not accepted as a ReliableUDP packet. Each reason is
/// counted in `DropCounters` (bad input is a counted drop, never a crash).
public enum WireError: Int, Error, Sendable, CaseIterable, CustomStringConvertible {
    /// Shorter than the 20-byte header.
    case truncatedHeader
    /// Version byte is not `WireFormat.version`.
    case unsupportedVersion
    /// Packet type byte is not a `PacketType`.
    case unknownPacketType
    /// Reserved header byte or undefined flag bits set.
    case reservedBitsSet
    /// A handshake body shorter than its type requires.
    case truncatedHandshake
    /// A frame's fixed part or payload runs past the end of the packet.
    case truncatedFrame
    /// Frame type byte is not a `FrameType`.
    case unknownFrameType
    /// DATA frame with a tier byte that is not a `Guarantee`.
    case unknownGuarantee
    /// DATA frame whose set offset is larger than its sequence (the set would
    /// begin before message 0).
    case badSetOffset
    /// ACK ranges that go below packet number 0, or too many ranges.
    case badAckRanges
    /// A protected packet too short to hold the 16-byte tag.
    case truncatedTag

    /// What is wrong with the datagram, and what it suggests about the peer.
    public var description: String {
        switch self {
        case .truncatedHeader: "ReliableUDP datagram shorter than the 20-byte header; is the peer speaking ReliableUDP?"
        case .unsupportedVersion: "ReliableUDP version byte is not 1; upgrade the older peer"
        case .unknownPacketType: "ReliableUDP packet type is not 1-5"
        case .reservedBitsSet: "ReliableUDP header has reserved bits set (a newer or broken peer)"
        case .truncatedHandshake: "ReliableUDP handshake body is shorter than its type requires"
        case .truncatedFrame: "ReliableUDP frame runs past the end of the datagram (truncated in transit or too small a receive buffer)"
        case .unknownFrameType: "ReliableUDP frame type is not 0-4"
        case .unknownGuarantee: "ReliableUDP DATA frame tier is not 0 (none), 1 (order) or 2 (delivery)"
        case .badSetOffset: "ReliableUDP DATA frame's set offset is larger than its sequence number"
        case .badAckRanges: "ReliableUDP ACK ranges go below packet number 0 or exceed 32 ranges"
        case .truncatedTag: "ReliableUDP protected packet is too short for its 16-byte authentication tag"
        }
    }
}
