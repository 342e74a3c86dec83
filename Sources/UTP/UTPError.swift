/// Why a µTP connection ended other than by an orderly FIN exchange.
public enum UTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer to the SYN after all retries: nothing listens there, or a firewall drops UDP.
    case connectionTimedOut
    /// Repeated retransmission timeouts without progress: the peer vanished or the path broke.
    case timedOut
    /// The peer sent ST_RESET: it closed the connection or does not know it.
    case reset
    /// Closed locally with `abort()` (a RESET was sent).
    case aborted
    /// The connection table is full (raise `UTPConfiguration.maximumConnections`).
    case tooManyConnections

    /// What happened and what to check.
    public var description: String {
        switch self {
        case .connectionTimedOut: "no answer to SYN: check that the peer listens on that UDP port and that UDP is not filtered"
        case .timedOut: "retransmissions timed out: the peer stopped answering"
        case .reset: "connection reset by the peer"
        case .aborted: "connection aborted locally"
        case .tooManyConnections: "connection table full: raise UTPConfiguration.maximumConnections"
        }
    }
}
