import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address held by value (no allocation to copy or
/// compare).
///
/// ```swift
/// let server = try SocketAddress("127.0.0.1", port: 41000)
/// let group = try SocketAddress(parsing: "[ff02::1]:41000")
/// ```
public struct SocketAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var storage: sockaddr_storage
    /// Bytes of `sockaddr` in use: `sizeof(sockaddr_in)` or `sizeof(sockaddr_in6)`.
    public private(set) var length: socklen_t

    /// An IPv4 or IPv6 address (numeric only, no name lookup) and port.
    ///
    /// - Throws: `ReactorError.invalidAddress` when `host` is not a numeric address.
    public init(_ host: String, port: UInt16) throws(ReactorError) {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        guard fr_make_sockaddr(host, port, &storage, &length) == 0 else { throw .invalidAddress(host) }
        self.storage = storage
        self.length = length
    }

    /// Parses "a.b.c.d:port", "[v6]:port" or "host:port" with a literal address.
    public init(parsing text: String) throws(ReactorError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text.index(after: close) < text.endIndex, text[text.index(after: close)] == ":" else {
                throw .invalidAddress(text)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .invalidAddress(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText) else { throw .invalidAddress(text) }
        try self.init(String(host), port: port)
    }

    /// Copies the address a datagram view points at.
    public init?(raw: UnsafeRawPointer?, length: Int) {
        guard let raw, length > 0, length <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            // Safety: length was checked against the destination size above.
            dst.baseAddress!.copyMemory(from: raw, byteCount: length)
        }
        self.storage = storage
        self.length = socklen_t(length)
    }

    /// The wildcard address of a family (0.0.0.0 or ::) with a port.
    public static func any(port: UInt16, ipv6: Bool = false) -> SocketAddress {
        // Built in place, not parsed: handing a String to C allocates, and the
        // accept loop makes one of these per wake. The wildcard is all zeros
        // but the family and the port (sin_port and sin6_port sit at offset 2).
        var storage = sockaddr_storage()
        storage.ss_family = sa_family_t(ipv6 ? AF_INET6 : AF_INET)
        var address = SocketAddress(storage: storage,
                                    length: socklen_t(ipv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size))
        address.port = port
        return address
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(storage.ss_family) }
    /// True for an IPv6 address.
    public var isIPv6: Bool { family == AF_INET6 }

    /// The port in host byte order; setting it keeps the address.
    public var port: UInt16 {
        get { withSockaddr { raw, _ in UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)) } }
        set {
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.storeBytes(of: newValue.bigEndian, toByteOffset: 2, as: UInt16.self)
            }
        }
    }

    /// The address part only, as text ("127.0.0.1", "ff02::1").
    public var host: String {
        let text = description
        if text.hasPrefix("[") { return String(text.dropFirst().prefix { $0 != "]" && $0 != "%" }) }
        return String(text.prefix { $0 != ":" })
    }

    /// For IPv4: the address in host byte order.
    public var ipv4: UInt32? {
        guard family == AF_INET else { return nil }
        return withSockaddr { raw, _ in UInt32(bigEndian: raw.load(fromByteOffset: 4, as: UInt32.self)) }
    }

    /// For IPv6: the 16 address bytes.
    public var ipv6Bytes: [UInt8]? {
        guard family == AF_INET6 else { return nil }
        return withSockaddr { raw, _ in Array(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(start: raw, count: 24)[8..<24])) }
    }

    /// Calls body with a pointer to the sockaddr and its length.
    @inlinable
    public func withSockaddr<R, E: Error>(_ body: (UnsafeRawPointer, socklen_t) throws(E) -> R) throws(E) -> R {
        try withUnsafeBytes(of: storage) { (raw) throws(E) -> R in try body(raw.baseAddress!, length) }
    }

    /// Same family, address, port and (IPv6) scope id as the sockaddr at `raw`
    /// (no allocation). The scope id counts: a link-local address names a
    /// different host on each link (RFC 4007 section 6).
    @inlinable
    public func matches(_ raw: UnsafeRawPointer) -> Bool {
        withUnsafeBytes(of: storage) { fr_sockaddr_equal($0.baseAddress!, raw) == 1 }
    }

    /// Same family, address and port (and, for IPv6, scope); compares the sockaddrs.
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.withSockaddr { a, _ in rhs.matches(a) }
    }

    /// Hashes what `==` compares, straight from the bytes (no allocation).
    public func hash(into hasher: inout Hasher) {
        withSockaddr { raw, _ in
            hasher.combine(storage.ss_family)
            // Safety: sin_port / sin6_port sit at offset 2 of either family.
            hasher.combine(raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            if family == AF_INET6 {
                // Safety: sockaddr_in6 holds sin6_addr at 8..<24 and sin6_scope_id at 24.
                hasher.combine(raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                hasher.combine(raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                hasher.combine(raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
            } else if family == AF_INET {
                // Safety: sockaddr_in holds sin_addr at offset 4.
                hasher.combine(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            }
        }
    }

    /// `a.b.c.d:port` or `[v6]:port`.
    public var description: String {
        withSockaddr { raw, _ in
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: 80) { buffer in
                _ = fr_format_sockaddr(raw.assumingMemoryBound(to: sockaddr.self), buffer.baseAddress!, 80)
                return String(cString: buffer.baseAddress!)
            }
        }
    }
}
