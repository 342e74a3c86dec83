/// The five µTP packet types (BEP 29, "type" in the high nibble of byte 0).
public enum PacketType: UInt8, Sendable, CustomStringConvertible {
    /// ST_DATA: a payload, consumes a sequence number.
    case data = 0
    /// ST_FIN: the sender's last sequence number (end of its stream).
    case fin = 1
    /// ST_STATE: an acknowledgement without payload; does not consume a sequence number.
    case state = 2
    /// ST_RESET: terminates the connection forcefully.
    case reset = 3
    /// ST_SYN: opens a connection; its connection_id is the initiator's receive id.
    case syn = 4

    /// The BEP 29 name: `DATA`, `FIN`, `STATE`, `RESET` or `SYN`.
    public var description: String {
        switch self {
        case .data: "DATA"
        case .fin: "FIN"
        case .state: "STATE"
        case .reset: "RESET"
        case .syn: "SYN"
        }
    }
}
