/// What an endpoint saw and dropped. Plain integers: reading them allocates nothing.
public struct UTPCounters: Sendable, Equatable {
    /// Datagrams handed to the endpoint.
    public var packetsReceived: UInt64 = 0
    /// Packets the endpoint's connections sent (and RESETs it sent itself).
    public var packetsSent: UInt64 = 0
    /// Datagrams that were not µTP packets, by `MalformedReason`.
    public var malformed = [UInt64](repeating: 0, count: MalformedReason.allCases.count)
    /// Packets for no known connection (answered with a RESET unless they were RESETs).
    public var unknownConnection: UInt64 = 0
    /// SYNs refused because the connection table was full.
    public var synRefused: UInt64 = 0
    /// Packets whose ack_nr acknowledges something never sent (forged or corrupt).
    public var ackOutOfWindow: UInt64 = 0
    /// Data packets too far ahead of the reorder buffer, or too big for a slot.
    public var outOfWindow: UInt64 = 0
    /// Data packets received again.
    public var duplicates: UInt64 = 0
    /// RESETs sent and received.
    public var resetsSent: UInt64 = 0
    /// RESETs received from peers.
    public var resetsReceived: UInt64 = 0
    /// Sends the kernel refused (would-block or error); the protocol retransmits.
    public var sendFailures: UInt64 = 0
    /// "Too big" reports applied: ICMP "fragmentation needed", ICMPv6 "packet too
    /// big" or a local EMSGSIZE naming an MTU, read from the socket's error queue.
    public var pathMTUReports: UInt64 = 0

    /// All counters at zero.
    public init() {}

    /// Malformed datagrams over all reasons.
    public var malformedTotal: UInt64 { malformed.reduce(0, +) }

    /// Counts one datagram dropped as malformed for `reason`.
    public mutating func count(_ reason: MalformedReason) { malformed[reason.rawValue] &+= 1 }
}
