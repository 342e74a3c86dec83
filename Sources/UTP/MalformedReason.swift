/// Why a datagram was not accepted as a µTP packet. Each reason is counted
/// separately in `UTPCounters` so an operator can see what a peer sends wrong.
public enum MalformedReason: Int, Error, CaseIterable, Sendable, CustomStringConvertible {
    /// Shorter than the 20-byte header (BEP 29 "header format").
    case tooShort = 0
    /// Version nibble is not 1.
    case badVersion
    /// Type nibble is above ST_SYN (4).
    case badType
    /// An extension header (type, length) or its body runs past the datagram.
    case truncatedExtension
    /// A selective-ACK extension of length 0 (BEP 29: the bitmask is at least 32 bits;
    /// libtorrent sends other lengths, which are accepted, but an empty mask means nothing).
    case emptySelectiveAck
    /// More than `Packet.maximumExtensions` extensions chained.
    case tooManyExtensions

    /// What is wrong with the datagram, in a few words (for counters and logs).
    public var description: String {
        switch self {
        case .tooShort: "shorter than the 20-byte header"
        case .badVersion: "version is not 1"
        case .badType: "type above ST_SYN"
        case .truncatedExtension: "extension runs past the datagram"
        case .emptySelectiveAck: "selective ACK of length 0"
        case .tooManyExtensions: "extension chain too long"
        }
    }
}
