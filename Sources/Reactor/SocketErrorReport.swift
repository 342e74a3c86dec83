import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// One report from a UDP socket's error queue (ip(7) IP_RECVERR, ipv6(7)
/// IPV6_RECVERR): an ICMP error about a datagram we sent, or a local send error.
/// Read with `UDPSocket.nextError()` after `enableErrorQueue()`.
///
/// ```swift
/// try socket.enableErrorQueue()
/// while let report = try socket.nextError() {
///     if let mtu = report.pathMTU, let peer = report.destination { lower(peer, to: mtu) }
/// }
/// ```
public struct SocketErrorReport: Sendable, Equatable {
    /// Where the kernel learnt about the error (linux/errqueue.h SO_EE_ORIGIN_*).
    public enum Origin: Sendable, Equatable {
        /// This host refused the send (EMSGSIZE: larger than the route's MTU with DF).
        case local
        /// An ICMPv4 message from a router or the peer.
        case icmp
        /// An ICMPv6 message.
        case icmp6
        /// Any other origin (timestamping, zero-copy completions), by number.
        case other(UInt8)
    }

    /// The address the offending datagram was sent to (nil if the kernel gave none).
    public let destination: SocketAddress?
    /// ee_errno: EMSGSIZE for "too big", ECONNREFUSED for a closed port, EHOSTUNREACH, ...
    public let errno: Int32
    /// Where the report came from: this host, or an ICMP message.
    public let origin: Origin
    /// ICMP type (meaningful for the ICMP origins): 3 destination unreachable.
    public let icmpType: UInt8
    /// ICMP code: 4 fragmentation needed, 3 port unreachable (with type 3).
    public let icmpCode: UInt8
    /// The MTU this report names, when it is a "too big" report: ICMP "fragmentation
    /// needed" (RFC 1191: the next-hop MTU), ICMPv6 "packet too big" (RFC 8201), or a
    /// local EMSGSIZE (the route's MTU). Nil for every other report.
    public let pathMTU: Int?

    init(_ raw: fr_error_report) {
        var copy = raw
        destination = withUnsafeBytes(of: &copy.destination) { bytes in
            SocketAddress(raw: bytes.baseAddress, length: Int(raw.destination_length))
        }
        errno = Int32(bitPattern: raw.error)
        switch raw.origin {
        case 1: origin = .local
        case 2: origin = .icmp
        case 3: origin = .icmp6
        default: origin = .other(UInt8(truncatingIfNeeded: raw.origin))
        }
        icmpType = UInt8(truncatingIfNeeded: raw.type)
        icmpCode = UInt8(truncatingIfNeeded: raw.code)
        pathMTU = raw.mtu > 0 ? Int(raw.mtu) : nil
    }
}
