/// The link-layer header a capture's frames start with: the LINKTYPE_* values of
/// the tcpdump.org link-layer header registry (pcap's `network` field and
/// pcapng's IDB `LinkType`). The readers decode the ones listed here; any other
/// value is read but its frames are counted as `unsupportedLinkType`.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The LINKTYPE_* number.
    public let rawValue: UInt32
    /// The link type with this LINKTYPE_* number (known or not).
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// LINKTYPE_ETHERNET: a 14-byte Ethernet II header (tcpreplay and Wireshark both
    /// take it; `record` writes it).
    public static let ethernet = LinkType(rawValue: 1)
    /// LINKTYPE_RAW: an IPv4 or IPv6 header first (version nibble says which).
    public static let raw = LinkType(rawValue: 101)
    /// LINKTYPE_LINUX_SLL: Linux "cooked" v1, 16-byte header (`tcpdump -i any`).
    public static let linuxSLL = LinkType(rawValue: 113)
    /// LINKTYPE_IPV4: raw IPv4 only.
    public static let ipv4 = LinkType(rawValue: 228)
    /// LINKTYPE_IPV6: raw IPv6 only.
    public static let ipv6 = LinkType(rawValue: 229)
    /// LINKTYPE_LINUX_SLL2: Linux "cooked" v2, 20-byte header (newer `-i any`).
    public static let linuxSLL2 = LinkType(rawValue: 276)

    /// A short name (`ethernet`, `raw-ip`, `linux-sll`, ...) or `linktype-N` for an unknown one.
    public var description: String {
        switch self {
        case .ethernet: return "ethernet"
        case .raw: return "raw-ip"
        case .linuxSLL: return "linux-sll"
        case .ipv4: return "ipv4"
        case .ipv6: return "ipv6"
        case .linuxSLL2: return "linux-sll2"
        default: return "linktype-\(rawValue)"
        }
    }
}
