/// An IPv4 or IPv6 address as read from a captured header, by value.
public struct CapturedAddress: Hashable, Sendable, CustomStringConvertible {
    /// True for a 16-byte IPv6 address, false for a 4-byte IPv4 address.
    public let isIPv6: Bool
    /// The address bytes in network order; IPv4 uses the first 4 of `high`.
    public let high: UInt64
    /// The last 8 address bytes in network order (IPv6 only; 0 for IPv4).
    public let low: UInt64

    /// Reads 4 (IPv4) or 16 (IPv6) bytes at `pointer`.
    public init(isIPv6: Bool, bytes pointer: UnsafeRawPointer) {
        self.isIPv6 = isIPv6
        var value = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &value) { out in
            // Safety: out holds 16 bytes; IPv4 copies 4 of them.
            out.baseAddress!.copyMemory(from: pointer, byteCount: isIPv6 ? 16 : 4)
        }
        (high, low) = value
    }

    /// An IPv4 address from its host-order value (0x7F000001 is 127.0.0.1).
    public init(ipv4 value: UInt32) {
        var big = value.bigEndian
        self.init(isIPv6: false, bytes: &big)
    }

    /// Calls `body` with the 4 or 16 address bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var value = (high, low)
        return withUnsafeBytes(of: &value) { body(UnsafeRawBufferPointer(rebasing: $0[0..<(isIPv6 ? 16 : 4)])) }
    }

    /// True for 224.0.0.0/4 (IPv4) or ff00::/8 (IPv6).
    public var isMulticast: Bool {
        withBytes { isIPv6 ? $0[0] == 0xFF : $0[0] & 0xF0 == 0xE0 }
    }

    /// Dotted quad or RFC 5952 text (longest run of zero groups as ::).
    public var description: String {
        withBytes { bytes in
            if !isIPv6 { return "\(bytes[0]).\(bytes[1]).\(bytes[2]).\(bytes[3])" }
            let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
            var best = (start: -1, length: 0), run = (start: -1, length: 0)
            for (index, group) in groups.enumerated() {
                if group == 0 {
                    run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
                    if run.length > best.length { best = run }
                } else { run = (-1, 0) }
            }
            if best.length < 2 { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
            let head = groups[..<best.start].map { String($0, radix: 16) }.joined(separator: ":")
            let tail = groups[(best.start + best.length)...].map { String($0, radix: 16) }.joined(separator: ":")
            return head + "::" + tail
        }
    }
}

/// A UDP datagram found in a capture: its payload (a view into the capture,
/// or into the reassembler's buffer for a reassembled IPv4 datagram, valid
/// until the next datagram is read), its endpoints and its capture time.
public struct CapturedDatagram {
    /// Capture time in nanoseconds since the Unix epoch (of the last fragment,
    /// for a reassembled datagram).
    public let timestamp: UInt64
    /// The IP source address.
    public let source: CapturedAddress
    /// The UDP source port.
    public let sourcePort: UInt16
    /// The IP destination address (the group, for multicast feeds).
    public let destination: CapturedAddress
    /// The UDP destination port.
    public let destinationPort: UInt16
    /// The UDP payload: a view into the mapped capture or the reassembler's buffer,
    /// valid until the next datagram is read. Copy what you keep.
    public let payload: UnsafeRawBufferPointer
}
