import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// What the kernel said about one received datagram besides its bytes: the
/// destination group (IP_PKTINFO / IPV6_PKTINFO), the interface it arrived on,
/// and, when asked for, when it was received (SO_TIMESTAMPNS). Read from the
/// datagram's ancillary data into a value on the stack: nothing is allocated.
///
/// ```swift
/// for datagram in batch {
///     let info = datagram.packetInfo
///     if info.destination == groupA { ... }
///     if let received = info.kernelTimestamp { latency = PacketInfo.realtimeNow() - received }
/// }
/// ```
public struct PacketInfo: Equatable, Sendable {
    /// The header's destination address (the group for multicast); nil when the
    /// socket did not ask for pktinfo.
    public let destination: IPAddress?
    /// The ingress interface index; nil without pktinfo.
    public let interfaceIndex: UInt32?
    /// Kernel receive time in nanoseconds of CLOCK_REALTIME; nil unless the
    /// receiver enabled timestamps.
    public let kernelTimestamp: UInt64?

    /// Parses a cmsg chain (one pass, bounded by its length).
    @inlinable
    public init(control: UnsafeRawBufferPointer) {
        var info = fr_packet_info()
        let found = fr_mc_parse_control(control.baseAddress, control.count, &info)
        if found & FR_PKTINFO_DESTINATION != 0 {
            destination = withUnsafeBytes(of: &info.destination) {
                IPAddress(family: Int32(info.family), bytes: $0.baseAddress!)
            }
            interfaceIndex = info.interface_index
        } else {
            destination = nil
            interfaceIndex = nil
        }
        kernelTimestamp = found & FR_PKTINFO_TIMESTAMP != 0 ? info.timestamp_ns : nil
    }

    /// CLOCK_REALTIME now, in nanoseconds: the clock `kernelTimestamp` is on.
    @inlinable
    public static func realtimeNow() -> UInt64 { fr_realtime_ns() }
}

extension Datagram {
    /// Destination, ingress interface and receive time of this datagram (see
    /// `PacketInfo`). Needs a registration with control space, which
    /// `MulticastReceiver.register` sets up.
    @inlinable public var packetInfo: PacketInfo { PacketInfo(control: control) }

    /// The destination group (from pktinfo); nil without pktinfo.
    @inlinable public var destination: IPAddress? { packetInfo.destination }

    /// The interface index the datagram arrived on; nil without pktinfo.
    @inlinable public var interfaceIndex: UInt32? { packetInfo.interfaceIndex }

    /// Kernel receive time (CLOCK_REALTIME ns); nil unless timestamps were enabled.
    @inlinable public var kernelTimestamp: UInt64? { packetInfo.kernelTimestamp }

    /// The sender's address without its port.
    @inlinable public var sourceIP: IPAddress? {
        let name = sourceAddress
        guard name.count >= 8, let base = name.baseAddress else { return nil }
        let family = Int32(base.load(as: UInt16.self))
        // Safety: sin_addr is at offset 4 of sockaddr_in (16 bytes), sin6_addr at 8
        // of sockaddr_in6 (28 bytes); the length check keeps the read inside.
        if family == AF_INET6 { return name.count >= 24 ? IPAddress(family: family, bytes: base + 8) : nil }
        return family == AF_INET ? IPAddress(family: family, bytes: base + 4) : nil
    }
}
