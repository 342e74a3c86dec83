/// Sizes and timings of one connection. Every buffer is allocated once, from
/// these numbers, when the connection is made.
///
/// ```swift
/// var configuration = Configuration()
/// configuration.grouping = .init(delay: 200_000)   // coalesce for up to 200 µs
/// configuration.maxMessageSize = 512
/// ```
public struct Configuration: Sendable {
    /// The largest message accepted by `send`/`write`; larger ones are refused
    /// with `SendError.messageTooLarge` naming this limit.
    public var maxMessageSize = 1024
    /// Largest datagram sent (path MTU minus IP/UDP headers). A message must fit
    /// one datagram with its frame header and, when protected, the tag.
    public var maxDatagramSize = 1452
    /// `delivery` messages sent but not yet acknowledged, at most (send buffer
    /// slots, each `maxMessageSize` bytes). A power of two.
    public var sendWindow = 1024
    /// `delivery` messages the receiver buffers out of order (receive slots); the
    /// limit it advertises to the peer. A power of two.
    public var receiveWindow = 1024
    /// `none` and `order` messages queued before they are sent.
    public var unreliableQueue = 256
    /// Packets in flight tracked for acknowledgement. A power of two.
    public var maxPacketsInFlight = 4096
    /// Coalescing of small messages into one datagram: off (`nil`) sends each
    /// flush's messages at once; otherwise messages wait up to `delay` ns for a
    /// full datagram.
    public var grouping: Grouping? = nil
    /// An idle connection sends a heartbeat (PING frame) after this long
    /// without sending anything ack-eliciting (ns).
    public var heartbeatPeriod: UInt64 = 1_000_000_000
    /// The peer is declared dead after this long without a valid packet (ns).
    public var deadPeerTimeout: UInt64 = 10_000_000_000
    /// The receiver acknowledges at the latest this long after an
    /// ack-eliciting packet (RFC 9000 §13.2.1 max_ack_delay), ns.
    public var maxAckDelay: UInt64 = 1_000_000
    /// Acknowledge at once after this many ack-eliciting packets (RFC 9000
    /// §13.2.2 recommends 2).
    public var ackElicitingThreshold = 2
    /// The RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    /// `Endpoint` replaces it with the handshake's round trip (see
    /// `Connection.seedRTT(_:)`).
    public var initialRTT: UInt64 = 333_000_000
    /// kGranularity (RFC 9002 §6.1.2), ns: the floor of the loss time threshold
    /// and of the PTO's variance term. The RFC recommends 1 ms, and requires
    /// only that it be at least the local timer granularity: on a `Reactor` (a
    /// timer wheel ticking every 100 µs by default) it may be as low as
    /// that tick, which shortens the recovery of a loss the packet threshold
    /// cannot catch (a tail loss) on a link with an RTT well under 1 ms.
    public var granularity: UInt64 = Connection.granularity
    /// Congestion window before any loss, in datagrams (RFC 9002 §7.2: 10).
    public var initialWindowPackets = 10
    /// Ranges of received packet numbers kept for ACK frames.
    public var ackRanges = 32

    /// Coalescing of small messages: how long one may wait for others to share its datagram.
    public struct Grouping: Sendable {
        /// Longest a message waits for more to fill its datagram (ns).
        public var delay: UInt64
        /// Grouping with a wait of at most `delay` nanoseconds.
        public init(delay: UInt64) { self.delay = delay }
    }

    /// The defaults documented on each property; change fields, then `validate()`.
    public init() {}

    /// Checks the numbers; the error names the field to fix.
    public func validate() throws(ConfigurationError) {
        func powerOfTwo(_ value: Int) -> Bool { value > 0 && value & (value - 1) == 0 }
        guard maxMessageSize > 0, maxMessageSize <= Int(UInt16.max) else {
            throw .invalid("maxMessageSize \(maxMessageSize) must be 1...65535")
        }
        let needed = WireFormat.headerLength + WireFormat.ackFrameFixed
            + WireFormat.maxAckRanges * WireFormat.ackRangeLength + 1 + WireFormat.dataFrameOverhead
            + maxMessageSize + WireFormat.tagLength
        guard maxDatagramSize >= needed, maxDatagramSize <= 65_507 else {
            throw .invalid("maxDatagramSize \(maxDatagramSize) must be \(needed)...65507 for maxMessageSize \(maxMessageSize) (header, a full ACK, a PING, a DATA frame and a tag must fit)")
        }
        guard powerOfTwo(sendWindow), powerOfTwo(receiveWindow), powerOfTwo(maxPacketsInFlight) else {
            throw .invalid("sendWindow, receiveWindow and maxPacketsInFlight must be powers of two (got \(sendWindow), \(receiveWindow), \(maxPacketsInFlight))")
        }
        guard unreliableQueue > 0, ackRanges > 0, ackRanges <= WireFormat.maxAckRanges + 1 else {
            throw .invalid("unreliableQueue must be positive and ackRanges 1...\(WireFormat.maxAckRanges + 1)")
        }
        guard granularity > 0 else {
            throw .invalid("granularity must be positive (the timer granularity in ns; RFC 9002 recommends 1_000_000)")
        }
        guard heartbeatPeriod > 0, deadPeerTimeout > heartbeatPeriod else {
            throw .invalid("deadPeerTimeout (\(deadPeerTimeout) ns) must be longer than heartbeatPeriod (\(heartbeatPeriod) ns)")
        }
    }
}

/// A `Configuration` that cannot work.
public enum ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text names the field, its value and what it must be.
    case invalid(String)
    /// `ReliableUDP configuration:` followed by the field to fix.
    public var description: String {
        switch self {
        case .invalid(let text): "ReliableUDP configuration: \(text)"
        }
    }
}

/// Why `send`, `write` or `sendWritten` refused a message.
public enum SendError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message is larger than `Configuration.maxMessageSize`.
    case messageTooLarge(size: Int, limit: Int)
    /// The send buffer for `tier` is full (backpressure): `limit` messages of it
    /// are waiting (`Configuration.sendWindow` unacknowledged `delivery`
    /// messages, or `unreliableQueue` queued `none`/`order` ones). Nothing was
    /// queued; wait for `writable`, or raise that limit.
    case wouldBlock(tier: Guarantee, limit: Int)
    /// A message set holds more than 65,536 messages of one tier.
    case setTooLarge
    /// The connection is closed, or the peer was declared dead.
    case closed

    /// What was refused and what to do (raise a limit, wait for `writable`, reconnect).
    public var description: String {
        switch self {
        case .messageTooLarge(let size, let limit):
            "ReliableUDP message of \(size) bytes exceeds maxMessageSize \(limit); raise Configuration.maxMessageSize or split the message"
        case .wouldBlock(let tier, let limit):
            tier == .delivery
                ? "ReliableUDP send buffer full: \(limit) delivery messages unacknowledged (Configuration.sendWindow \(limit)); wait for writable, or raise sendWindow"
                : "ReliableUDP send queue full: \(limit) \(tier) messages queued (Configuration.unreliableQueue \(limit)); wait for writable, or raise unreliableQueue"
        case .setTooLarge:
            "ReliableUDP message set holds more than 65,536 messages of one tier; end the set sooner"
        case .closed:
            "ReliableUDP connection is closed or the peer is dead; open a new connection"
        }
    }
}
