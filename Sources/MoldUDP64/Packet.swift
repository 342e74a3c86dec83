/// Why a datagram is not a valid MoldUDP64 downstream packet. Each case names
/// where the bytes went wrong so a capture can be checked against the spec.
public enum PacketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Shorter than the 20-byte header (session 10 + sequence 8 + count 2).
    case tooShort(length: Int)
    /// Message block `index` (0-based) starting at byte `offset` has a length
    /// field, or data, that runs past the end of the datagram.
    case truncatedBlock(index: Int, offset: Int)
    /// The header declares more messages than the datagram holds blocks.
    case countMismatch(declared: Int, found: Int)
    /// Bytes left over after the last counted block (or after the header of a
    /// heartbeat / end-of-session packet, which the spec gives no blocks): the
    /// header's count is smaller than what was sent.
    case trailingBytes(count: Int)
    /// Sequence number 0 (MoldUDP64 numbers messages from 1), or one whose
    /// packet would end past 2^64-1 (sequence + count must fit in 64 bits).
    case invalidSequence(UInt64)

    /// What is wrong with the packet, and what it suggests about the sender.
    public var description: String {
        switch self {
        case .tooShort(let length):
            "MoldUDP64 packet of \(length) bytes is shorter than the 20-byte header; is the sender speaking MoldUDP64?"
        case .truncatedBlock(let index, let offset):
            "MoldUDP64 message block \(index) at byte \(offset) runs past the end of the datagram (truncated by the sender or a too-small receive buffer)"
        case .countMismatch(let declared, let found):
            "MoldUDP64 header declares \(declared) messages but the datagram holds only \(found); the sender's framing is broken"
        case .trailingBytes(let count):
            "MoldUDP64 packet has \(count) bytes after its last counted message block; the header's count is wrong"
        case .invalidSequence(let value):
            "MoldUDP64 sequence number \(value) is invalid (must be at least 1, and sequence + count must fit in 64 bits)"
        }
    }
}

/// A zero-copy, validated view of one MoldUDP64 downstream packet.
///
/// Wire format (MoldUDP64 1.00, "Downstream Packet"): session (10 bytes ASCII),
/// sequence number of the first message (u64 big-endian), message count
/// (u16 big-endian), then `count` blocks of length (u16 big-endian, not counting
/// itself) + data. Count 0 is a heartbeat and 0xFFFF the end of session; both
/// carry the sequence number of the next message instead of a first message.
///
/// `init` walks every block once and rejects anything malformed, so iteration
/// afterwards cannot read past the buffer. The view is only as long-lived as the
/// bytes it points at (for a reactor datagram: the handler callback).
///
/// ```swift
/// let packet = try Packet(datagram.bytes)
/// for message in packet.messages { use(message.sequence, message.bytes) }
/// ```
public struct Packet {
    /// The MoldUDP64 header size: session 10 + sequence 8 + count 2.
    public static let headerLength = 20
    /// Message count of an end-of-session packet.
    public static let endOfSessionCount: UInt16 = 0xFFFF

    /// What a packet means to a receiver.
    public enum Kind: Equatable, Sendable {
        /// Carries one or more messages.
        case data
        /// Count 0: no messages; `sequenceNumber` is the next one to be sent.
        case heartbeat
        /// Count 0xFFFF: the session is over; `sequenceNumber` is one past the last.
        case endOfSession
    }

    /// The whole datagram.
    public let bytes: UnsafeRawBufferPointer
    /// The session the packet belongs to.
    public let session: SessionID
    /// The first message's sequence number (data), or the next one (heartbeat,
    /// end of session).
    public let sequenceNumber: UInt64
    /// Number of messages (0 for heartbeat and end of session).
    public let messageCount: Int
    /// Data, heartbeat or end of session, from the message count.
    public let kind: Kind

    /// Validates `bytes` as a downstream packet.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(PacketError) {
        guard bytes.count >= Self.headerLength, let base = bytes.baseAddress else {
            throw .tooShort(length: bytes.count)
        }
        // Safety: 20 header bytes were checked to be present just above.
        let sequence = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: 10, as: UInt64.self))
        let rawCount = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 18, as: UInt16.self))
        guard sequence != 0 else { throw .invalidSequence(sequence) }
        let kind: Kind
        let count: Int
        switch rawCount {
        case 0: kind = .heartbeat; count = 0
        case Self.endOfSessionCount: kind = .endOfSession; count = 0
        default: kind = .data; count = Int(rawCount)
        }
        if kind != .data {
            guard bytes.count == Self.headerLength else { throw .trailingBytes(count: bytes.count - Self.headerLength) }
        } else {
            // The receiver works with the exclusive end (sequence + count, the next
            // expected number), so that must fit in a UInt64; 2^64-1 itself is
            // never a message's number (a feed would need 584 years at 1e9/s).
            guard sequence <= UInt64.max - UInt64(count) else { throw .invalidSequence(sequence) }
            var offset = Self.headerLength
            var index = 0
            while index < count {
                guard offset < bytes.count else { throw .countMismatch(declared: count, found: index) }
                guard offset + 2 <= bytes.count else { throw .truncatedBlock(index: index, offset: offset) }
                // Safety: the two length bytes were checked to be inside the buffer.
                let length = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                guard offset + 2 + length <= bytes.count else { throw .truncatedBlock(index: index, offset: offset) }
                offset += 2 + length
                index += 1
            }
            guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
        }
        self.bytes = bytes
        self.session = SessionID(wire: base)
        self.sequenceNumber = sequence
        self.messageCount = count
        self.kind = kind
    }

    /// One past the last message's sequence number: the sequence number a
    /// receiver expects next after this packet.
    @inlinable public var nextSequenceNumber: UInt64 { sequenceNumber &+ UInt64(messageCount) }

    /// The messages, in order, with their sequence numbers.
    @inlinable public var messages: MessageBlocks {
        MessageBlocks(blocks: UnsafeRawBufferPointer(rebasing: bytes[Self.headerLength...]),
                      firstSequence: sequenceNumber, count: messageCount)
    }
}

/// One message: its sequence number and a view of its bytes.
public struct Message {
    /// The message's sequence number.
    public let sequence: UInt64
    /// The message's bytes, without the length prefix: a view into the packet (or
    /// the reorder buffer), valid only during the callback that received it. Copy
    /// what you keep.
    public let bytes: UnsafeRawBufferPointer

    @inlinable init(sequence: UInt64, bytes: UnsafeRawBufferPointer) {
        self.sequence = sequence
        self.bytes = bytes
    }
}

/// A run of already-validated MoldUDP64 message blocks (u16 big-endian length +
/// data), as found after a packet header and as kept by the reorder buffer.
public struct MessageBlocks: Sequence {
    @usableFromInline let blocks: UnsafeRawBufferPointer
    /// The sequence number of the first message.
    public let firstSequence: UInt64
    /// How many messages the blocks hold.
    public let count: Int

    @inlinable
    init(blocks: UnsafeRawBufferPointer, firstSequence: UInt64, count: Int) {
        self.blocks = blocks
        self.firstSequence = firstSequence
        self.count = count
    }

    /// An iterator over the messages, in sequence order.
    @inlinable public func makeIterator() -> Iterator {
        Iterator(blocks: blocks, sequence: firstSequence, remaining: count)
    }

    /// Walks the blocks: each step reads one length prefix.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let blocks: UnsafeRawBufferPointer
        @usableFromInline var offset = 0
        @usableFromInline var sequence: UInt64
        @usableFromInline var remaining: Int

        @inlinable init(blocks: UnsafeRawBufferPointer, sequence: UInt64, remaining: Int) {
            self.blocks = blocks
            self.sequence = sequence
            self.remaining = remaining
        }

        /// The next message (a view, valid only during the callback), or nil after the last.
        @inlinable public mutating func next() -> Message? {
            // The blocks were validated when they were framed; the bound checks
            // stay anyway (two compares) so a misuse cannot read out of bounds.
            guard remaining > 0, offset + 2 <= blocks.count else { return nil }
            // Safety: two length bytes are inside the buffer (checked above).
            let length = Int(UInt16(bigEndian: blocks.baseAddress!.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            guard offset + 2 + length <= blocks.count else { return nil }
            let message = Message(sequence: sequence,
                                  bytes: UnsafeRawBufferPointer(start: blocks.baseAddress! + offset + 2, count: length))
            offset += 2 + length
            sequence &+= 1
            remaining -= 1
            return message
        }

        /// Byte offset of the next block within the run.
        @inlinable public var byteOffset: Int { offset }
    }
}
