import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address without a port, held by value: copying, comparing and
/// reading one from a received datagram allocate nothing.
///
/// ```swift
/// let group = try IPAddress("239.1.1.1")
/// group.isMulticast                  // true
/// try IPAddress("ff3e::8000:1").isSourceSpecificMulticast  // true
/// ```
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// AF_INET or AF_INET6.
    public let family: Int32
    /// The address bytes in network order; IPv4 uses the first 4.
    @usableFromInline let high: UInt64
    @usableFromInline let low: UInt64

    /// Parses dotted IPv4 or IPv6 text ("10.0.0.1", "fd00::1"). A zone suffix
    /// ("%eth0") is not part of an address; see `MulticastInterface`.
    public init(_ text: String) throws(MulticastError) {
        var bytes = (UInt64(0), UInt64(0))
        // Safety: inet_pton writes 4 (AF_INET) or 16 (AF_INET6) bytes into the
        // 16-byte tuple, and only on success.
        guard let parsed = withUnsafeMutableBytes(of: &bytes, { System.parseAddress(text, into: $0.baseAddress!) }) else {
            throw .invalidAddress(text)
        }
        family = parsed
        (high, low) = bytes
    }

    /// An address from raw network-order bytes (4 for IPv4, 16 for IPv6).
    @inlinable
    public init(family: Int32, bytes: UnsafeRawPointer) {
        self.family = family
        var value = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &value) { out in
            // Safety: out holds 16 bytes; IPv4 copies 4 of them.
            out.baseAddress!.copyMemory(from: bytes, byteCount: family == AF_INET6 ? 16 : 4)
        }
        (high, low) = value
    }

    /// The address part of a socket address.
    public init(_ address: SocketAddress) {
        self = address.withSockaddr { raw, _ in
            // Safety: sin_addr sits at offset 4 of sockaddr_in, sin6_addr at 8 of sockaddr_in6.
            IPAddress(family: address.family, bytes: raw + (address.isIPv6 ? 8 : 4))
        }
    }

    /// True for an IPv6 address (`family == AF_INET6`).
    public var isIPv6: Bool { family == AF_INET6 }

    /// The first byte (IPv4: the first octet; IPv6: 0xff for multicast).
    @usableFromInline var firstByte: UInt8 { UInt8(truncatingIfNeeded: high) }
    @usableFromInline func byte(_ index: Int) -> UInt8 {
        withUnsafeBytes(of: (high, low)) { $0[index] }
    }

    /// 224.0.0.0/4 or ff00::/8.
    public var isMulticast: Bool { isIPv6 ? firstByte == 0xff : firstByte & 0xf0 == 0xe0 }

    /// The source-specific multicast ranges of RFC 4607: 232.0.0.0/8, and for
    /// IPv6 ff3x::/32 (RFC 3306 with prefix length 0).
    public var isSourceSpecificMulticast: Bool {
        if !isIPv6 { return firstByte == 232 }
        return firstByte == 0xff && byte(1) & 0xf0 == 0x30 && byte(2) == 0 && byte(3) == 0
    }

    /// The scope nibble of an IPv6 multicast address (RFC 4291 2.7): 1 interface-local,
    /// 2 link-local, 5 site-local, 8 organization-local, 14 global. nil otherwise.
    public var multicastScope: UInt8? {
        guard isIPv6, firstByte == 0xff else { return nil }
        return byte(1) & 0x0f
    }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        isIPv6 ? high == 0 && low == UInt64(1).bigEndian : firstByte == 127
    }

    /// fe80::/10 (IPv6 link-local unicast).
    public var isLinkLocalUnicast: Bool { isIPv6 && firstByte == 0xfe && byte(1) & 0xc0 == 0x80 }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// A socket address of this address, a port and (IPv6) a scope id.
    public func socketAddress(port: UInt16, scope: UInt32 = 0) -> SocketAddress {
        var storage = sockaddr_storage()
        let length = withUnsafeMutableBytes(of: &storage) { raw -> Int in
            if isIPv6 {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = port.bigEndian
                address.sin6_scope_id = scope
                withUnsafeMutableBytes(of: &address.sin6_addr) { $0.storeBytes(of: (high, low), as: (UInt64, UInt64).self) }
                raw.storeBytes(of: address, as: sockaddr_in6.self)
                return MemoryLayout<sockaddr_in6>.size
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.storeBytes(of: UInt32(truncatingIfNeeded: high), as: UInt32.self) }
            raw.storeBytes(of: address, as: sockaddr_in.self)
            return MemoryLayout<sockaddr_in>.size
        }
        // Safety: storage holds a complete sockaddr_in / sockaddr_in6 of `length` bytes.
        return withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: length)! }
    }

    /// The address in its usual text form: `239.1.1.1` or `ff02::1`.
    public var description: String {
        withUnsafeBytes(of: (high, low)) { bytes in
            System.formatAddress(family: family, bytes: bytes.baseAddress!) ?? "<family \(family)>"
        }
    }
}
