/// A MoldUDP64 session identifier: 10 ASCII bytes, space padded
/// (MoldUDP64 1.00, "Downstream Packet": Session, 10 bytes, alphanumeric).
///
/// Held as two integers so comparing sessions on the hot path is two compares
/// and copying one allocates nothing.
///
/// ```swift
/// let id = SessionID("NASDAQ0001")!
/// id.description  // "NASDAQ0001"
/// ```
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    /// The wire length of a session identifier.
    public static let length = 10

    /// Bytes 0..<8 in wire order (first byte in the lowest address).
    @usableFromInline let head: UInt64
    /// Bytes 8..<10 in wire order.
    @usableFromInline let tail: UInt16

    /// Reads the 10 wire bytes at `pointer`.
    @inlinable
    public init(wire pointer: UnsafeRawPointer) {
        // Safety: the caller guarantees 10 readable bytes; unaligned loads are used
        // because a session sits at offset 0 of a datagram with no alignment promise.
        head = pointer.loadUnaligned(as: UInt64.self)
        tail = pointer.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
    }

    /// A session from text, saying what is wrong with text that cannot be one.
    public init(validating text: String) throws(MoldFormatError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.length else { throw .sessionTooLong(text) }
        guard let id = SessionID(text) else { throw .sessionNotPrintableASCII(text) }
        self = id
    }

    /// True when the 10 bytes at `pointer` are this session (no copy).
    @inlinable
    public func matches(wire pointer: UnsafeRawPointer) -> Bool {
        // Safety: the caller guarantees 10 readable bytes.
        pointer.loadUnaligned(as: UInt64.self) == head
            && pointer.loadUnaligned(fromByteOffset: 8, as: UInt16.self) == tail
    }

    /// A session from text: at most 10 printable ASCII characters, padded with
    /// spaces. Returns nil for longer or non-ASCII text.
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.length, utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        var bytes = [UInt8](repeating: 0x20, count: Self.length)
        bytes.replaceSubrange(0..<utf8.count, with: utf8)
        self = bytes.withUnsafeBytes { SessionID(wire: $0.baseAddress!) }
    }

    /// Writes the 10 wire bytes to `pointer`.
    @inlinable
    public func write(to pointer: UnsafeMutableRawPointer) {
        // Safety: the caller guarantees 10 writable bytes.
        pointer.storeBytes(of: head, as: UInt64.self)
        pointer.storeBytes(of: tail, toByteOffset: 8, as: UInt16.self)
    }

    /// The 10 wire bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.length)
        out.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
        return out
    }

    /// The identifier without its space padding; bytes outside printable ASCII
    /// are shown as `\xNN` so a forged session cannot corrupt a log line.
    public var description: String {
        var text = ""
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7F {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16)
                text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        while text.last == " " { text.removeLast() }
        return text
    }
}
