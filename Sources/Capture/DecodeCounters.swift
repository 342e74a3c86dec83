/// What decoding a capture skipped, and why: every frame that did not yield a
/// UDP datagram is counted in exactly one of these (fragments that were held
/// for reassembly in `fragmentsHeld`).
public struct DecodeCounters: Sendable, Equatable {
    /// Frames read from the file.
    public var frames: UInt64 = 0
    /// UDP datagrams produced (a reassembled one counts once).
    public var datagrams: UInt64 = 0
    /// Frames of a link type this decoder does not read.
    public var unsupportedLinkType: UInt64 = 0
    /// Frames carrying neither IPv4 nor IPv6 (ARP, LLDP, ...).
    public var notIP: UInt64 = 0
    /// IP packets carrying something other than UDP (TCP, ICMP, ...).
    public var notUDP: UInt64 = 0
    /// Frames the snap length cut before the end of their UDP datagram.
    public var cut: UInt64 = 0
    /// Headers that contradict themselves (bad version, lengths that do not fit).
    public var malformed: UInt64 = 0
    /// IPv4 fragments stored to wait for the rest of their datagram.
    public var fragmentsHeld: UInt64 = 0
    /// IPv4 datagrams rebuilt from fragments.
    public var reassembled: UInt64 = 0
    /// Partial datagrams dropped: not completed within the timeout (capture time).
    public var reassemblyTimeouts: UInt64 = 0
    /// Partial datagrams dropped because the table was full (the oldest goes).
    public var reassemblyEvictions: UInt64 = 0
    /// Fragments dropped as inconsistent (past the end, beyond 64 KiB, odd lengths).
    public var badFragments: UInt64 = 0
    /// IPv6 fragments (not reassembled; rare for UDP feeds).
    public var ipv6Fragments: UInt64 = 0

    /// All counters at zero.
    public init() {}

    /// `key=value` pairs for a summary line.
    public var summary: String {
        "frames=\(frames) udp=\(datagrams) not_ip=\(notIP) not_udp=\(notUDP) cut=\(cut) malformed_frames=\(malformed) "
            + "unsupported_link=\(unsupportedLinkType) reassembled=\(reassembled) fragment_timeouts=\(reassemblyTimeouts) "
            + "fragment_evictions=\(reassemblyEvictions) bad_fragments=\(badFragments) ipv6_fragments=\(ipv6Fragments)"
    }
}
