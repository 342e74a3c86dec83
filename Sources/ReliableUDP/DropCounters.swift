/// What a connection refused, by reason, and what it did. Every drop of bad or
/// unwanted input lands here.
public struct DropCounters: Sendable, Equatable {
    /// Malformed datagrams, indexed by `WireError.rawValue`.
    public var malformed = [UInt64](repeating: 0, count: WireError.allCases.count)
    /// A data packet whose destination connection id is not ours.
    public var forgedConnectionID: UInt64 = 0
    /// A packet number already received (duplicate or replay).
    public var duplicatePacket: UInt64 = 0
    /// An ACK for a packet number never sent: the packet is dropped.
    public var ackForUnsentPacket: UInt64 = 0
    /// A `delivery` message beyond the receive window (its packet is not acknowledged).
    public var beyondWindow: UInt64 = 0
    /// A delivery limit from the peer that shrank or is beyond any sane window (ignored / clamped).
    public var absurdWindow: UInt64 = 0
    /// A `delivery` message received again (already delivered).
    public var duplicateMessage: UInt64 = 0
    /// An `order` message that arrived after a later one was delivered, or twice.
    public var lateOrdered: UInt64 = 0
    /// A protected packet that failed authentication (wrong key, altered bytes).
    public var authenticationFailed: UInt64 = 0
    /// A packet without protection on a protected connection, or the reverse.
    public var protectionMismatch: UInt64 = 0
    /// A handshake packet where a data packet was expected, or the reverse.
    public var unexpectedPacketType: UInt64 = 0

    /// All counters at zero.
    public init() {}

    /// Counts one packet dropped for `error`.
    public mutating func count(_ error: WireError) { malformed[error.rawValue] += 1 }
    /// Packets dropped for `error` so far.
    public func malformed(_ error: WireError) -> UInt64 { malformed[error.rawValue] }
    /// Packets dropped as malformed, over all reasons.
    public var totalMalformed: UInt64 { malformed.reduce(0, +) }
}

/// What a connection sent and received.
public struct TransferCounters: Sendable, Equatable {
    /// Datagrams sent (data, acknowledgements, heartbeats, close).
    public var packetsSent: UInt64 = 0
    /// Valid datagrams received for this connection.
    public var packetsReceived: UInt64 = 0
    /// Messages sent (first transmissions; `retransmitted` counts the repeats).
    public var messagesSent: UInt64 = 0
    /// Messages handed to the receiver, in the order their guarantee promises.
    public var messagesDelivered: UInt64 = 0
    /// `delivery` messages sent again after a loss.
    public var retransmitted: UInt64 = 0
    /// Packets declared lost (RFC 9002 §6.1).
    public var packetsLost: UInt64 = 0
    /// Probe timeouts fired (RFC 9002 §6.2).
    public var probeTimeouts: UInt64 = 0
    /// PING heartbeats sent after `heartbeatPeriod` of silence.
    public var heartbeatsSent: UInt64 = 0
    /// Datagrams sent that carried an ACK frame.
    public var acksSent: UInt64 = 0
    /// Congestion events (window halved, RFC 9002 §7.3.2).
    public var congestionEvents: UInt64 = 0
    /// Sends refused for backpressure.
    public var refusedSends: UInt64 = 0
    /// All counters at zero.
    public init() {}
}
