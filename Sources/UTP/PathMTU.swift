/// Path MTU discovery for one connection (RFC 4821 "packetization layer PMTUD",
/// the way libtorrent's uTP does it): data is sent at `current`, a confirmed size;
/// now and then one DATA packet is padded up to `probeSize` and sent with DF set
/// (the socket uses IP_MTU_DISCOVER = IP_PMTUDISC_DO). The first probe tries the
/// ceiling itself (the route's MTU: most paths carry it whole), later ones the
/// middle of `floor...ceiling`. Acknowledged: the floor rises to it. Lost or timed
/// out: the ceiling falls below it. An MTU reported by the network (ICMP
/// "fragmentation needed", RFC 1191 §4; ICMPv6 "packet too big", RFC 8201 §4; a
/// local EMSGSIZE) becomes the ceiling and is tried next as it is. The search ends
/// when floor and ceiling are within `resolution` bytes.
///
/// The padding is a chain of extensions of an unassigned type, which BEP 29 says
/// a receiver skips by length; a lost probe is retransmitted without it, so no
/// data depends on a probe's size.
public struct PathMTU: Sendable {
    /// Stop searching when floor and ceiling are this close.
    public static let resolution = 16
    /// The extension type used for padding (unassigned; skipped by length).
    public static let paddingExtension: UInt8 = 0x7F

    /// The packet size in use (IP packet bytes), confirmed to get through.
    public private(set) var current: Int
    /// The largest size known to get through.
    public private(set) var floor: Int
    /// The upper bound of the search: the configured ceiling, lowered below each
    /// probe size that failed.
    public private(set) var ceiling: Int
    /// The size of the probe in flight, 0 when none is.
    public private(set) var probeSize = 0
    /// The sequence number of the DATA packet carrying the probe, nil when none is.
    public private(set) var probeSequence: UInt16?
    /// Probes sent so far.
    public private(set) var probesSent: UInt64 = 0
    /// Whether the next probe tries `ceiling` itself rather than the middle.
    var ceilingUntried = true
    let enabled: Bool

    /// A search between `floor` and `ceiling` (IP packet bytes). Without `discovery`
    /// the connection uses `ceiling` (the larger bound) and never probes.
    public init(floor: Int, ceiling: Int, discovery: Bool) {
        let top = max(floor, ceiling)
        self.enabled = discovery
        self.floor = discovery ? floor : top
        self.ceiling = top
        current = discovery ? floor : top
    }

    /// Whether the search is still open.
    public var isSearching: Bool { enabled && ceiling - floor >= PathMTU.resolution }

    /// The IP packet size to pad the next DATA packet to, if a probe is due now.
    mutating func nextProbe() -> Int? {
        guard isSearching, probeSequence == nil else { return nil }
        return ceilingUntried ? ceiling : (floor + ceiling + 1) / 2
    }

    mutating func probing(sequence: UInt16, size: Int) {
        probeSequence = sequence
        probeSize = size
        probesSent &+= 1
        ceilingUntried = false
    }

    mutating func acknowledged(sequence: UInt16) {
        guard sequence == probeSequence else { return }
        probeSequence = nil
        floor = probeSize
        current = probeSize
    }

    mutating func lost(sequence: UInt16) {
        guard sequence == probeSequence else { return }
        probeSequence = nil
        ceiling = probeSize - 1
    }

    /// A retransmission timeout: an outstanding probe counts as too big. Returns true
    /// when the probe was the only packet outstanding (the timeout then says nothing
    /// about congestion; libtorrent ignores such a loss too).
    mutating func timedOut(oldestUnacked: UInt16, newest: UInt16) -> Bool {
        guard let probe = probeSequence else { return false }
        lost(sequence: probe)
        return oldestUnacked == probe && newest == probe
    }

    /// EMSGSIZE on send, or an MTU the network reported: nothing larger than
    /// `reported` gets through (below the refused size when no MTU was named).
    /// A reported MTU below the ceiling becomes the ceiling and the next probe tries
    /// it. Returns the probe's sequence number when the probe was larger (it was
    /// dropped: resend it unpadded now rather than wait for the loss to show).
    @discardableResult
    mutating func tooBig(reported: Int, packetSize: Int) -> UInt16? {
        let limit = reported > 0 ? reported : packetSize - 1
        // A report only lowers the ceiling (RFC 1191 §3), and never below 68 bytes,
        // the IPv4 minimum (RFC 791), which only a forged message would name.
        let lowered = max(min(ceiling, limit), 68)
        if reported > 0 && lowered < ceiling { ceilingUntried = true }
        ceiling = lowered
        var dropped: UInt16?
        if let probe = probeSequence, probeSize > ceiling {
            probeSequence = nil
            dropped = probe
        }
        floor = min(floor, ceiling)
        current = min(current, ceiling)
        return dropped
    }
}
