import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Why a subscription, join or sender could not be set up. Each message names
/// the cause and the fix; none is a bare errno.
public enum MulticastError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Text that is not an IPv4 or IPv6 address.
    case invalidAddress(String)
    /// The group is not in 224.0.0.0/4 or ff00::/8.
    case notMulticast(IPAddress)
    /// A source-specific group (232/8, ff3x::/32) without a source.
    case sourceRequired(group: IPAddress)
    /// An any-source group with a source.
    case sourceNotAllowed(group: IPAddress, source: IPAddress)
    /// A source that is multicast, unspecified, or of the other family.
    case invalidSource(IPAddress, group: IPAddress)
    /// The port is 0 where a real port is needed, or differs from the receiver's.
    case portMismatch(subscription: UInt16, bound: UInt16)
    /// An IPv6 link-local scope group without an interface.
    case interfaceRequired(group: IPAddress)
    /// No interface was given and no route tells the kernel which to use.
    case noRouteForGroup(IPAddress)
    /// No interface has this name (`ip link` lists them).
    case unknownInterfaceName(String)
    /// No interface has this index (`ip link` shows each index).
    case unknownInterfaceIndex(UInt32)
    /// No interface carries this address (`ip addr` lists them); the text is the address as given.
    case noInterfaceWithAddress(String)
    /// The interface has multicast switched off (no IFF_MULTICAST).
    case interfaceCannotMulticast(name: String, index: UInt32)
    /// IPv6 multicast on the loopback interface (Linux does not route it).
    case ipv6OnLoopback(name: String)
    /// A subscription of the other address family than the socket.
    case familyMismatch(group: IPAddress, socketIsIPv6: Bool)
    /// The receiver is already a member of this subscription; joining twice is refused
    /// rather than counted twice by the kernel.
    case alreadyJoined(Subscription)
    /// `leave` named a subscription the receiver did not join.
    case notJoined(Subscription)
    /// The socket must be bound before it is adopted.
    case socketNotBound
    /// More memberships than the kernel allows per socket.
    case membershipLimit(Subscription)
    /// A system call failed (the error names the call and errno, with a hint).
    case system(SystemError)
    /// Creating, binding or registering the socket failed.
    case reactor(ReactorError)

    /// A sentence naming the cause and the fix.
    public var description: String {
        switch self {
        case .invalidAddress(let text):
            return "'\(text)' is not an IP address: write a.b.c.d or an IPv6 address such as ff3e::8000:1"
        case .notMulticast(let address):
            return "\(address) is not a multicast group: use 224.0.0.0/4 (e.g. 239.x.x.x) or ff00::/8 (e.g. ff15::1)"
        case .sourceRequired(let group):
            return "\(group) is a source-specific (SSM) group (232.0.0.0/8, ff3x::/32): give the sender's address as its source, or use an any-source group (239.x.x.x, ff1x::)"
        case .sourceNotAllowed(let group, let source):
            return "\(group) is an any-source (ASM) group and takes no source (\(source)): drop the source, or use an SSM group (232.x.x.x, ff3x::) to filter by sender"
        case .invalidSource(let source, let group):
            return "source \(source) cannot send to \(group): give the sender's unicast address of the same family as the group"
        case .portMismatch(let subscription, let bound):
            return bound == 0
                ? "port \(subscription) is not usable: give a port between 1 and 65535"
                : "subscription port \(subscription) differs from the receiver's bound port \(bound): use one receiver per port"
        case .interfaceRequired(let group):
            return "\(group) has link-local scope, which exists once per link: name the interface (by name, index or address)"
        case .noRouteForGroup(let group):
            return "no route picks an interface for \(group): name the interface (by name, index or address), or add a route for it"
        case .unknownInterfaceName(let name):
            return "no interface named '\(name)': list them with `ip link` and use one of those names"
        case .unknownInterfaceIndex(let index):
            return "no interface with index \(index): list them with `ip link` (the number before the name)"
        case .noInterfaceWithAddress(let text):
            return "no interface has the address \(text): list addresses with `ip addr`, or give the interface by name"
        case .interfaceCannotMulticast(let name, let index):
            return "interface \(name) (index \(index)) has multicast switched off: run `ip link set \(name) multicast on`, or pick another interface"
        case .ipv6OnLoopback(let name):
            return "IPv6 multicast does not work on the loopback interface \(name) on Linux (no multicast route; sends fail with ENETUNREACH): use a real interface or a veth pair between network namespaces"
        case .familyMismatch(let group, let socketIsIPv6):
            return "group \(group) is \(group.isIPv6 ? "IPv6" : "IPv4") but the socket is \(socketIsIPv6 ? "IPv6" : "IPv4"): use one receiver per address family"
        case .alreadyJoined(let subscription):
            return "\(subscription) is already joined on this socket: leave it first, or drop the duplicate"
        case .notJoined(let subscription):
            return "\(subscription) is not joined on this socket: join it before leaving"
        case .socketNotBound:
            return "the adopted socket is not bound: bind it to the subscription's port (any address) first"
        case .membershipLimit(let subscription):
            return "joining \(subscription) exceeds the kernel's memberships per socket: raise net.ipv4.igmp_max_memberships / igmp_max_msf (or net.ipv6.mld_max_msf), or spread groups over several receivers"
        case .system(let error):
            return error.description
        case .reactor(let error):
            return error.description
        }
    }
}
