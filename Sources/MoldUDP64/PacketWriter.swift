/// Builds MoldUDP64 downstream packets in a buffer the caller owns
/// (MoldUDP64 1.00, "Downstream Packet").
///
/// Wire layout, big-endian:
/// ```
/// 0..<10   session
/// 10..<18  sequence number of the first message (for heartbeats and end of
///          session: the next sequence number to be sent)
/// 18..<20  message count (0 = heartbeat, 0xFFFF = end of session)
/// 20...    message blocks: length (u16, not counting itself) + data
/// ```
/// The header's count is rewritten on every append, so `packet` is a complete,
/// valid packet at any moment. Nothing here allocates.
///
/// ```swift
/// let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1400, alignment: 8)
/// var writer = PacketWriter(buffer: buffer)
/// writer.begin(session: session, sequenceNumber: 1)
/// _ = writer.append(message)          // false: does not fit, send and begin again
/// socket.send(writer.packet, to: group)
/// ```
public struct PacketWriter {
    /// The MoldUDP64 header (`Packet.headerLength`).
    public static var headerSize: Int { Packet.headerLength }
    /// The length prefix in front of each message.
    public static let blockHeaderSize = 2
    /// The count that marks a heartbeat.
    public static let heartbeatCount: UInt16 = 0
    /// The count that marks the end of a session.
    public static let endOfSessionCount: UInt16 = 0xFFFF
    /// The most messages in one data packet (0xFFFF is the end-of-session mark).
    public static let maxMessageCount = 0xFFFE
    /// The largest message a block can carry (its length is a u16).
    public static let maxMessageLength = Int(UInt16.max)

    /// Where packets are built; owned by the caller and reused packet after packet.
    public let buffer: UnsafeMutableRawBufferPointer
    /// The most bytes a packet may have (the UDP payload limit): at most `buffer.count`.
    public let limit: Int
    /// The most messages one data packet may carry.
    public let messageLimit: Int
    /// Bytes written so far (header included); 0 before `begin`.
    public private(set) var byteCount = 0
    /// Messages in the packet being built.
    public private(set) var messageCount = 0
    /// Sequence number of the packet's first message.
    public private(set) var sequenceNumber: UInt64 = 0

    /// A writer that builds MoldUDP64 packets in place in `buffer` (caller-owned,
    /// outliving the writer); building and framing a packet allocate nothing.
    ///
    /// - Parameters:
    ///   - buffer: at least 22 bytes (a header and one empty message).
    ///   - limit: the largest packet to build; defaults to the whole buffer.
    ///   - messageLimit: the most messages per packet (at most 0xFFFE).
    public init(buffer: UnsafeMutableRawBufferPointer, limit: Int? = nil, messageLimit: Int = PacketWriter.maxMessageCount) {
        let limit = limit ?? buffer.count
        precondition(buffer.baseAddress != nil && limit <= buffer.count
                     && limit >= Self.headerSize + Self.blockHeaderSize,
                     "PacketWriter needs a buffer of at least 22 bytes and a limit within it")
        precondition(messageLimit >= 1 && messageLimit <= Self.maxMessageCount,
                     "messageLimit must be 1...65534 (0xFFFF marks the end of session)")
        self.buffer = buffer
        self.limit = limit
        self.messageLimit = messageLimit
    }

    /// The packet built so far (header and blocks).
    @inlinable public var packet: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<byteCount]) }

    /// True when a packet has been begun and holds no message yet.
    @inlinable public var isEmpty: Bool { messageCount == 0 }

    /// The largest message that fits in an empty packet under `limit`.
    @inlinable public static func largestMessage(limit: Int) -> Int {
        min(maxMessageLength, limit - headerSize - blockHeaderSize)
    }

    /// Starts a data packet whose first message will be `sequenceNumber`.
    public mutating func begin(session: SessionID, sequenceNumber: UInt64) {
        byteCount = Self.writeHeader(into: buffer, session: session, sequenceNumber: sequenceNumber, count: 0)
        messageCount = 0
        self.sequenceNumber = sequenceNumber
    }

    /// True when a message of `length` bytes fits the packet being built.
    @inlinable
    public func fits(length: Int) -> Bool {
        messageCount < messageLimit && length <= Self.maxMessageLength
            && byteCount + Self.blockHeaderSize + length <= limit
    }

    /// Appends one message block. Returns false, changing nothing, when it does
    /// not fit (send this packet and begin the next one).
    @discardableResult
    public mutating func append(_ message: UnsafeRawBufferPointer) -> Bool {
        guard byteCount >= Self.headerSize, fits(length: message.count) else { return false }
        let base = buffer.baseAddress!
        // Safety: `fits` checked that 2 + message.count bytes remain below limit <= buffer.count.
        base.storeBytes(of: UInt16(message.count).bigEndian, toByteOffset: byteCount, as: UInt16.self)
        if message.count > 0 {
            (base + byteCount + Self.blockHeaderSize).copyMemory(from: message.baseAddress!, byteCount: message.count)
        }
        byteCount += Self.blockHeaderSize + message.count
        messageCount += 1
        base.storeBytes(of: UInt16(messageCount).bigEndian, toByteOffset: 18, as: UInt16.self)
        return true
    }

    /// Writes a heartbeat (count 0) carrying the next sequence number into
    /// `buffer`; returns its length (20).
    @inlinable
    public static func heartbeat(session: SessionID, nextSequenceNumber: UInt64,
                                 into buffer: UnsafeMutableRawBufferPointer) -> Int {
        writeHeader(into: buffer, session: session, sequenceNumber: nextSequenceNumber, count: heartbeatCount)
    }

    /// Writes an end-of-session packet (count 0xFFFF) carrying the next sequence
    /// number into `buffer`; returns its length (20).
    @inlinable
    public static func endOfSession(session: SessionID, nextSequenceNumber: UInt64,
                                    into buffer: UnsafeMutableRawBufferPointer) -> Int {
        writeHeader(into: buffer, session: session, sequenceNumber: nextSequenceNumber, count: endOfSessionCount)
    }

    @inlinable
    static func writeHeader(into buffer: UnsafeMutableRawBufferPointer, session: SessionID,
                            sequenceNumber: UInt64, count: UInt16) -> Int {
        precondition(buffer.count >= headerSize, "a MoldUDP64 header needs 20 bytes")
        let base = buffer.baseAddress!
        // Safety: 20 writable bytes checked above.
        session.write(to: base)
        base.storeBytes(of: sequenceNumber.bigEndian, toByteOffset: 10, as: UInt64.self)
        base.storeBytes(of: count.bigEndian, toByteOffset: 18, as: UInt16.self)
        return headerSize
    }
}
