/// A MoldUDP64 request packet: what a client sends to a retransmission server
/// to ask for messages again (MoldUDP64 1.00, "Request Packet").
///
/// Wire layout, 20 bytes, big-endian:
/// ```
/// 0..<10   session            ASCII, space padded
/// 10..<18  sequence number    first message wanted
/// 18..<20  message count      messages wanted
/// ```
/// The server answers with ordinary downstream packets sent to the requester,
/// possibly with fewer messages than asked for.
///
/// ```swift
/// let request = Request(session: session, sequenceNumber: 42, messageCount: 10)
/// var wire = [UInt8](repeating: 0, count: Request.size)
/// wire.withUnsafeMutableBytes { _ = request.encode(into: $0) }
/// let back = try wire.withUnsafeBytes { try Request(decoding: $0) }
/// ```
public struct Request: Equatable, Sendable {
    /// The size of a request packet on the wire: a MoldUDP64 header (session,
    /// first sequence number, count) and nothing else.
    public static var size: Int { Packet.headerLength }

    /// The session whose messages are wanted.
    public var session: SessionID
    /// The first sequence number wanted (1 or more).
    public var sequenceNumber: UInt64
    /// How many messages are wanted (1 or more).
    public var messageCount: UInt16

    /// A request for `messageCount` messages from `sequenceNumber` of `session`.
    /// `encode(into:)` writes it; the values are checked when decoded, not here.
    public init(session: SessionID, sequenceNumber: UInt64, messageCount: UInt16) {
        self.session = session
        self.sequenceNumber = sequenceNumber
        self.messageCount = messageCount
    }

    /// Decodes and validates a received request: exactly 20 bytes, sequence
    /// number at least 1, count at least 1. The session is not judged here (the
    /// server compares it with its own).
    @inlinable
    public init(decoding bytes: UnsafeRawBufferPointer) throws(MoldFormatError) {
        guard bytes.count == Self.size, let base = bytes.baseAddress else { throw .requestLength(bytes.count) }
        // Safety: 20 bytes checked above; unaligned loads, big-endian per the spec.
        let sequence = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 10, as: UInt64.self))
        let count = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 18, as: UInt16.self))
        guard sequence != 0 else { throw .requestSequenceZero }
        guard count != 0 else { throw .requestCountZero }
        self.init(session: SessionID(wire: base), sequenceNumber: sequence, messageCount: count)
    }

    /// Writes the 20-byte request into `buffer` and returns 20. The buffer must
    /// hold at least 20 bytes (a programming error otherwise).
    @inlinable
    @discardableResult
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        // The request has the downstream header's layout (session, u64, u16).
        PacketWriter.writeHeader(into: buffer, session: session, sequenceNumber: sequenceNumber, count: messageCount)
    }
}
