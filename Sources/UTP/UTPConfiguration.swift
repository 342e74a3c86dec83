/// Tunables of a µTP endpoint and its connections. Defaults follow libutp and
/// libtorrent where they have one (named at each field); all times in nanoseconds.
public struct UTPConfiguration: Sendable {
    /// Bytes the application may queue for sending per connection (the byte ring).
    /// `write` accepts at most what is free (backpressure).
    public var sendBufferBytes = 1 << 20
    /// Packets that may be unacknowledged at once (a power of two). Bounds the
    /// window in packets; 1,024 × 1,452 bytes ≈ 1.4 MB.
    public var sendSlots = 1024
    /// Out-of-order packets held per connection (a power of two); packets further
    /// ahead than this are dropped and counted.
    public var reorderSlots = 512
    /// Largest out-of-order payload held (in-order packets of any size are delivered
    /// directly). 2,048 covers any Ethernet-sized peer packet.
    public var reorderSlotBytes = 2048
    /// Receive window advertised in wnd_size (bytes), less what sits out of order.
    public var receiveWindow = 1 << 20
    /// Largest connection table: further SYNs are refused with a RESET and counted
    /// (a SYN flood cannot grow memory without bound).
    public var maximumConnections = 256
    /// The largest path MTU used (bytes of IP packet): the ceiling of discovery, and
    /// the size used without discovery. With `routeMTU` the kernel's MTU towards the
    /// peer lowers it further (loopback's 65,536 stays capped here). Payload per
    /// packet = MTU - IP header - 8 (UDP) - 20 (µTP).
    public var mtu = 1500
    /// Take the ceiling from the kernel too: the MTU of the route to each peer (IP_MTU
    /// of a probe socket connected to it: the interface MTU, or a path MTU the kernel
    /// learnt from ICMP), capped by `mtu`. Off: `mtu` alone (an override).
    public var routeMTU = true
    /// The floor of path-MTU discovery: every IPv4 host accepts 576 bytes (RFC 791).
    public var minimumMTU = 576
    /// Probe for a larger path MTU (binary search between `minimumMTU` and `mtu`).
    public var mtuDiscovery = true
    /// RTO floor (libtorrent's utp_min_timeout is 500 ms).
    public var minimumRTO: UInt64 = 500_000_000
    /// RTO ceiling (libtorrent caps at 60 s).
    public var maximumRTO: UInt64 = 60_000_000_000
    /// First SYN timeout; doubles per retry (libtorrent uses 3 s before an RTT exists).
    public var synTimeout: UInt64 = 1_000_000_000
    /// SYN transmissions before `connect` fails (libutp gives up after the 3rd retry).
    public var maximumSynAttempts = 4
    /// Consecutive RTO expiries without progress before the connection is given up
    /// (libutp: 4 retransmissions of the same packet).
    public var maximumTimeouts = 6
    /// Idle time after which a keepalive (a duplicate ACK) is sent (libutp: 29 s,
    /// under the common 30 s NAT timeout).
    public var keepaliveInterval: UInt64 = 29_000_000_000
    /// How long a closed connection stays to re-acknowledge a retransmitted FIN.
    public var linger: UInt64 = 1_000_000_000
    /// LEDBAT target queueing delay: 100 ms (RFC 6817 §2.5, libutp CCONTROL_TARGET).
    public var targetDelay: UInt64 = 100_000_000
    /// LEDBAT: most the window grows per RTT, in bytes (libutp MAX_CWND_INCREASE_BYTES_PER_RTT).
    public var maximumWindowGainPerRTT = 3000
    /// Above the target delay, shrink the window multiplicatively, by
    /// W·(delay/target − 1) per RTT (at most half), as LEDBAT++ does
    /// (draft-irtf-iccrg-ledbat-plus-plus-01 §4.3), instead of libutp's at most
    /// `maximumWindowGainPerRTT`: µTP then yields to a TCP flow within a few RTTs
    /// rather than half a minute. Off: exactly libutp's rule. Growth is unchanged.
    public var multiplicativeDecrease = true
    /// Smallest congestion window (bytes). One packet may always be in flight.
    public var minimumWindow = 3000
    /// The congestion window at connection start (bytes).
    public var initialWindow = 16 * 1024
    /// Halve the window on loss at most once per this interval (libutp MAX_WINDOW_DECAY: 100 ms).
    public var lossDecayInterval: UInt64 = 100_000_000
    /// Per-minute delay minima kept for the base delay (libutp keeps 13 minutes;
    /// RFC 6817 §2.4.2 suggests BASE_HISTORY of 10 minutes).
    public var baseDelayMinutes = 13
    /// Duplicate ACKs, or packets selectively acknowledged past a hole, that count
    /// as a loss (libutp DUPLICATE_ACKS_BEFORE_RESEND, RFC 5681 §3.2).
    public var duplicateAckThreshold = 3

    /// The defaults documented on each property.
    public init() {}

    /// µTP payload bytes per packet for a path MTU (IPv4: 20-byte IP header; IPv6: 40).
    public static func payloadSize(mtu: Int, ipv6: Bool) -> Int {
        mtu - (ipv6 ? 40 : 20) - 8 - Packet.headerSize
    }
}
