/// One multicast subscription: a group, a UDP port, for source-specific groups
/// the one sender to admit, and optionally the interface to join on. Checked
/// when made, so a bad combination fails here with a message rather than later
/// as a kernel errno.
///
/// ```swift
/// let asm = try Subscription(group: "239.1.1.1", port: 41000)
/// let ssm = try Subscription(group: "232.1.1.1", port: 41000, source: "10.0.0.5",
///                            interface: .name("eth0"))
/// let v6 = try Subscription(group: "ff32::8000:1", port: 41000, source: "fe80::1",
///                           interface: .name("eth0"))
/// ```
public struct Subscription: Hashable, Sendable, CustomStringConvertible {
    /// The multicast group, in 224.0.0.0/4 or ff00::/8 (checked at init).
    public let group: IPAddress
    /// The UDP destination port. 0 lets the kernel pick when a receiver binds
    /// for it (tests); read the result from `MulticastReceiver.port`.
    public let port: UInt16
    /// The admitted sender of a source-specific (SSM) group; nil for any-source (ASM).
    public let source: IPAddress?
    /// The interface to join on; nil lets the kernel pick by route.
    public let interface: MulticastInterface?

    /// Rules (RFC 4607 for SSM ranges, RFC 4291 2.7 for IPv6 scopes):
    /// - the group is multicast;
    /// - a group in 232/8 or ff3x::/32 needs a source; any other group refuses one;
    /// - the source is a unicast address of the group's family;
    /// - an IPv6 group of interface- or link-local scope names its interface.
    public init(group: IPAddress, port: UInt16, source: IPAddress? = nil,
                interface: MulticastInterface? = nil) throws(MulticastError) {
        guard group.isMulticast else { throw .notMulticast(group) }
        if let source {
            guard group.isSourceSpecificMulticast else { throw .sourceNotAllowed(group: group, source: source) }
            guard source.family == group.family, !source.isMulticast, !source.isUnspecified else {
                throw .invalidSource(source, group: group)
            }
        } else if group.isSourceSpecificMulticast {
            throw .sourceRequired(group: group)
        }
        if let scope = group.multicastScope, scope <= 2, interface == nil {
            throw .interfaceRequired(group: group)
        }
        self.group = group
        self.port = port
        self.source = source
        self.interface = interface
    }

    /// The same, from address text.
    public init(group: String, port: UInt16, source: String? = nil,
                interface: MulticastInterface? = nil) throws(MulticastError) {
        let sourceAddress = try source.map { (text) throws(MulticastError) -> IPAddress in try IPAddress(text) }
        try self.init(group: IPAddress(group), port: port, source: sourceAddress, interface: interface)
    }

    /// True for an SSM subscription (it has a source).
    public var isSourceSpecific: Bool { source != nil }

    /// `group port N`, or `(source, group) port N` for a source-specific subscription.
    public var description: String {
        var text = source.map { "(\($0), \(group))" } ?? group.description
        text += " port \(port)"
        if let interface { text += " on \(interface)" }
        return text
    }
}
