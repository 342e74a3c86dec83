import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// The local interface a group is joined on or sent from: by name, by index, or
/// by one of its addresses. Joins use the index (RFC 3678 `group_req`), so each
/// form is resolved to an index first, in the calling thread's network namespace.
///
/// ```swift
/// let lo = MulticastInterface.address(try IPAddress("127.0.0.1"))
/// let eth = MulticastInterface.name("eth0")
/// let parsed = try MulticastInterface(parsing: "fe80::1%eth0")
/// ```
public enum MulticastInterface: Hashable, Sendable, CustomStringConvertible {
    /// The interface named so, e.g. `eth0` or `lo`.
    case name(String)
    /// The interface with this index (`if_nametoindex`, `ip link`).
    case index(UInt32)
    /// An address of the interface; `zone` ("eth0" or "3") picks one interface
    /// when a link-local address sits on several.
    case address(IPAddress, zone: String? = nil)

    /// What an interface resolved to at join time.
    public struct Resolved: Equatable, Sendable {
        /// The interface's index (what `IP_ADD_MEMBERSHIP`'s `imr_ifindex` and IPv6's
        /// `ipv6mr_interface` take).
        public let index: UInt32
        /// The interface's name.
        public let name: String
        /// IFF_UP is set: the interface is administratively up.
        public let isUp: Bool
        /// IFF_LOOPBACK is set (`lo`).
        public let isLoopback: Bool
        /// IFF_MULTICAST is set.
        public let hasMulticast: Bool
    }

    /// "eth0", "7", "10.0.0.1", "fd00::1", "fe80::1%eth0" or "fe80::1%7".
    public init(parsing text: String) throws(MulticastError) {
        if let index = UInt32(text) {
            self = .index(index)
        } else if let percent = text.firstIndex(of: "%") {
            let zone = String(text[text.index(after: percent)...])
            self = .address(try IPAddress(String(text[..<percent])), zone: zone.isEmpty ? nil : zone)
        } else if let address = try? IPAddress(text) {
            self = .address(address)
        } else {
            self = .name(text)
        }
    }

    /// The text `init(parsing:)` reads back: a name, `#index`, or the address with its `%zone`.
    public var description: String {
        switch self {
        case .name(let name): return name
        case .index(let index): return "#\(index)"
        case .address(let address, let zone): return zone.map { "\(address)%\($0)" } ?? address.description
        }
    }

    /// Looks the interface up: its index, name and flags. Throws naming the fix
    /// when it does not exist.
    public func resolve() throws(MulticastError) -> Resolved {
        let index: UInt32
        switch self {
        case .name(let name):
            index = try Self.index(ofName: name)
        case .index(let value):
            index = value
        case .address(let address, let zone):
            var scope: UInt32 = 0
            if let zone {
                scope = UInt32(zone) ?? 0
                if scope == 0 { scope = try Self.index(ofName: zone) }
            }
            let rc = address.socketAddress(port: 0, scope: scope).withSockaddr { raw, _ in
                fr_if_index_for_address(raw.assumingMemoryBound(to: sockaddr.self))
            }
            guard rc > 0 else { throw .noInterfaceWithAddress(description) }
            index = UInt32(rc)
        }
        var nameBuffer = [CChar](repeating: 0, count: Int(FR_IF_NAME_SIZE))
        var flags: UInt32 = 0
        guard fr_if_indextoname(index, &nameBuffer) == 0, fr_if_flags(index, &flags) == 0 else {
            throw .unknownInterfaceIndex(index)
        }
        let name = nameBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return Resolved(index: index, name: name, isUp: flags & FR_IF_UP != 0,
                        isLoopback: flags & FR_IF_LOOPBACK != 0, hasMulticast: flags & FR_IF_MULTICAST != 0)
    }

    /// Resolves and checks that `group` can be joined or sent on it. Linux loopback
    /// has no IFF_MULTICAST yet delivers IPv4 multicast locally (so it is allowed
    /// for IPv4), but it has no IPv6 multicast route, so IPv6 is refused there.
    public func resolve(for group: IPAddress) throws(MulticastError) -> Resolved {
        let resolved = try resolve()
        if resolved.isLoopback {
            if group.isIPv6 { throw .ipv6OnLoopback(name: resolved.name) }
        } else if !resolved.hasMulticast {
            throw .interfaceCannotMulticast(name: resolved.name, index: resolved.index)
        }
        return resolved
    }

    static func index(ofName name: String) throws(MulticastError) -> UInt32 {
        let rc = fr_if_nametoindex(name)
        guard rc > 0 else { throw .unknownInterfaceName(name) }
        return UInt32(rc)
    }
}
