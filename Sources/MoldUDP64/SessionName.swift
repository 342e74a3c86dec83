/// The 10-byte MoldUDP64 session field: ASCII, left-justified, padded with
/// spaces (MoldUDP64 1.00, "Downstream Packet": Session, Alpha 10).
///
/// Held by value as two integers so that comparing it with the bytes of a
/// received packet is two loads and two compares, with no allocation.
///
/// ```swift
/// let session = try SessionName("20261123A")
/// session.description          // "20261123A"
/// ```
public struct SessionName: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The field's size on the wire.
    public static let size = 10

    /// Bytes 0..<8 and 8..<10 of the field, in wire order (loaded as raw memory).
    @usableFromInline var head: UInt64
    @usableFromInline var tail: UInt16

    /// A session from text: at most 10 printable ASCII characters (trailing
    /// spaces are padding and are added here).
    public init(_ text: String) throws(MoldFormatError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.size else { throw .sessionTooLong(text) }
        guard utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw .sessionNotPrintableASCII(text) }
        var field = [UInt8](repeating: 0x20, count: Self.size)
        field.replaceSubrange(0..<utf8.count, with: utf8)
        self = field.withUnsafeBytes { SessionName(wire: $0.baseAddress!) }
    }

    /// The session field at `wire` (10 bytes must be readable there). Any byte
    /// values are accepted: a receiver compares them, it does not trust them.
    @inlinable
    public init(wire: UnsafeRawPointer) {
        // Safety: the caller guarantees 10 readable bytes; loadUnaligned copes with any alignment.
        head = wire.loadUnaligned(as: UInt64.self)
        tail = wire.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
    }

    /// True when the 10 bytes at `wire` are this session.
    @inlinable
    public func matches(wire: UnsafeRawPointer) -> Bool {
        // Safety: as in init(wire:), 10 readable bytes.
        wire.loadUnaligned(as: UInt64.self) == head
            && wire.loadUnaligned(fromByteOffset: 8, as: UInt16.self) == tail
    }

    /// Writes the 10 wire bytes at `wire`.
    @inlinable
    public func write(to wire: UnsafeMutableRawPointer) {
        // Safety: the caller guarantees 10 writable bytes.
        wire.storeBytes(of: head, as: UInt64.self)
        wire.storeBytes(of: tail, toByteOffset: 8, as: UInt16.self)
    }

    /// The session text without its padding ("20261123A").
    public var description: String {
        var copy = self
        let bytes = withUnsafeBytes(of: &copy.head) { Array($0) } + withUnsafeBytes(of: &copy.tail) { Array($0) }
        var end = bytes.count
        while end > 0 && bytes[end - 1] == 0x20 { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

/// Malformed MoldUDP64 input, or a value that cannot be put on the wire.
public enum MoldFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case sessionTooLong(String)
    case sessionNotPrintableASCII(String)
    /// A request packet is exactly 20 bytes; this one was not.
    case requestLength(Int)
    /// Sequence numbers start at 1 (MoldUDP64 1.00), so a request for 0 is invalid.
    case requestSequenceZero
    /// A request for no messages asks for nothing.
    case requestCountZero

    public var description: String {
        switch self {
        case .sessionTooLong(let text):
            return "session '\(text)' is longer than 10 characters; MoldUDP64 sessions are 10 ASCII bytes"
        case .sessionNotPrintableASCII(let text):
            return "session '\(text)' has non-printable or non-ASCII characters; use letters, digits and spaces"
        case .requestLength(let length):
            return "request packet of \(length) bytes; a MoldUDP64 request is exactly 20 (session, sequence, count)"
        case .requestSequenceZero:
            return "request for sequence number 0; MoldUDP64 sequence numbers start at 1"
        case .requestCountZero:
            return "request for 0 messages; ask for at least 1"
        }
    }
}
