/// A zero-copy, validated view of a ReliableUDP packet header (see `WireFormat`).
/// The view is only as long-lived as the bytes it points at.
///
/// ```swift
/// let packet = try PacketView(datagram.bytes)
/// if packet.type == .data { var frames = packet.frames; while let f = try frames.next() { ... } }
/// ```
public struct PacketView {
    /// The whole datagram (header included); a view valid while the datagram is.
    public let bytes: UnsafeRawBufferPointer
    /// The packet type (header byte 1).
    public let type: PacketType
    /// True when the payload is sealed (`WireFormat.protectedFlag`).
    public let isProtected: Bool
    /// The destination connection id (0 in a first hello).
    public let destination: UInt64
    /// The packet number.
    public let packetNumber: UInt64


    /// Validates the header of `bytes` (length, version, type).
    ///
    /// - Throws: `WireError.truncatedHeader`, `.unsupportedVersion` or `.unknownPacketType`.
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= WireFormat.headerLength, let base = bytes.baseAddress else { throw .truncatedHeader }
        guard base.load(as: UInt8.self) == WireFormat.version else { throw .unsupportedVersion }
        guard let type = PacketType(rawValue: base.load(fromByteOffset: 1, as: UInt8.self)) else { throw .unknownPacketType }
        let flags = base.load(fromByteOffset: 2, as: UInt8.self)
        guard flags & ~WireFormat.protectedFlag == 0, base.load(fromByteOffset: 3, as: UInt8.self) == 0 else {
            throw .reservedBitsSet
        }
        self.bytes = bytes
        self.type = type
        isProtected = flags & WireFormat.protectedFlag != 0
        if isProtected && bytes.count < WireFormat.headerLength + WireFormat.tagLength { throw .truncatedTag }
        destination = BigEndian.u64(base, 4)
        packetNumber = BigEndian.u64(base, 12)
    }

    /// The header bytes (the AEAD's associated data).
    public var header: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[0..<WireFormat.headerLength])
    }

    /// Everything after the header (ciphertext + tag when protected).
    public var body: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[WireFormat.headerLength...])
    }

    /// The frames of an unprotected data packet.
    public var frames: FrameReader { FrameReader(body) }
}

/// One DATA frame: a message and where it belongs.
public struct DataFrame {
    /// The guarantee (tier) the message was sent with.
    public let guarantee: Guarantee
    /// The message's sequence number in its tier (0 for `none`).
    public let sequence: UInt64
    /// How far into its message set the message is (0 outside a set): the set
    /// began at `sequence - setOffset`.
    public let setOffset: UInt16
    /// The message, pointing into the datagram.
    public let payload: UnsafeRawBufferPointer

    /// The sequence number of the first message of its set.
    public var setBase: UInt64 { sequence - UInt64(setOffset) }
}

/// One ACK frame, ranges still encoded (read them with `ranges`).
public struct AckFrame {
    /// How long the peer held the acknowledgement, microseconds.
    public let ackDelayMicroseconds: UInt32
    /// The peer accepts delivery messages with sequence numbers below this.
    public let deliveryLimit: UInt64
    /// The largest packet number acknowledged.
    public let largest: UInt64
    /// Packets below `largest` acknowledged with it in the first range.
    public let firstRange: UInt32
    /// Further ranges encoded after the first (gap, length pairs).
    public let rangeCount: Int
    let rangeBytes: UnsafeRawBufferPointer

    /// The acknowledged ranges, highest first, as an iterator (no closure,
    /// so no captured state to box).
    public var ranges: Ranges { Ranges(frame: self) }

    /// Iterates an ACK frame's ranges, highest first, decoding them in place.
    public struct Ranges: IteratorProtocol {
        let frame: AckFrame
        var index = -1
        var low: UInt64 = 0

        /// The next range, inclusive at both ends; nil after the last.
        public mutating func next() -> (low: UInt64, high: UInt64)? {
            if index < 0 {
                index = 0
                low = frame.largest - UInt64(frame.firstRange)
                return (low, frame.largest)
            }
            guard index < frame.rangeCount, let base = frame.rangeBytes.baseAddress else { return nil }
            let gap = UInt64(BigEndian.u32(base, index * 8))
            let length = UInt64(BigEndian.u32(base, index * 8 + 4))
            index += 1
            // Validated in FrameReader: low >= gap + 2 + length.
            let high = low - gap - 2
            low = high - length
            return (low, high)
        }
    }

    /// Calls `body(low, high)` for each acknowledged range, highest first.

    public func forEachRange(_ body: (UInt64, UInt64) -> Void) {
        var high = largest
        var low = largest - UInt64(firstRange)
        body(low, high)
        guard let base = rangeBytes.baseAddress else { return }
        for index in 0..<rangeCount {
            let gap = UInt64(BigEndian.u32(base, index * 8))
            let length = UInt64(BigEndian.u32(base, index * 8 + 4))
            // Validated in FrameReader: low >= gap + 2 + length.
            high = low - gap - 2
            low = high - length
            body(low, high)
        }
    }
}

/// A frame of a data packet.
public enum Frame {
    /// Padding (one zero byte); skipped.
    case padding
    /// A message.
    case data(DataFrame)
    /// An acknowledgement.
    case ack(AckFrame)
    /// A heartbeat: asks for an acknowledgement, carries nothing.
    case ping
    /// The sender closes the connection; `reason` is its code (0: normal close).
    case close(reason: UInt16)
}

/// Walks the frames of a data packet, validating each before it is returned:
/// nothing is read past the buffer, and a malformed frame throws.
public struct FrameReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    /// A reader over the frames in `bytes` (a data packet's body).
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }


    /// The next frame, validated; nil at the end.
    ///
    /// - Throws: `WireError` for an unknown frame type or a frame that runs past the
    ///   body, naming what is wrong.
    public mutating func next() throws(WireError) -> Frame? {
        guard offset < bytes.count, let base = bytes.baseAddress else { return nil }
        let remaining = bytes.count - offset
        guard let type = FrameType(rawValue: base.load(fromByteOffset: offset, as: UInt8.self)) else {
            throw .unknownFrameType
        }
        switch type {
        case .padding:
            offset += 1
            return .padding
        case .ping:
            offset += 1
            return .ping
        case .close:
            guard remaining >= WireFormat.closeFrameLength else { throw .truncatedFrame }
            let reason = BigEndian.u16(base, offset + 1)
            offset += WireFormat.closeFrameLength
            return .close(reason: reason)
        case .data:
            guard remaining >= WireFormat.dataFrameOverhead else { throw .truncatedFrame }
            guard let tier = Guarantee(rawValue: base.load(fromByteOffset: offset + 1, as: UInt8.self)) else {
                throw .unknownGuarantee
            }
            let setOffset = BigEndian.u16(base, offset + 2)
            let length = Int(BigEndian.u16(base, offset + 4))
            let sequence = BigEndian.u64(base, offset + 6)
            guard UInt64(setOffset) <= sequence else { throw .badSetOffset }
            guard remaining - WireFormat.dataFrameOverhead >= length else { throw .truncatedFrame }
            let start = offset + WireFormat.dataFrameOverhead
            offset = start + length
            return .data(DataFrame(guarantee: tier, sequence: sequence, setOffset: setOffset,
                                   payload: UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])))
        case .ack:
            guard remaining >= WireFormat.ackFrameFixed else { throw .truncatedFrame }
            let delay = BigEndian.u32(base, offset + 1)
            let limit = BigEndian.u64(base, offset + 5)
            let largest = BigEndian.u64(base, offset + 13)
            let first = BigEndian.u32(base, offset + 21)
            let count = Int(base.load(fromByteOffset: offset + 25, as: UInt8.self))
            guard count <= WireFormat.maxAckRanges else { throw .badAckRanges }
            guard remaining - WireFormat.ackFrameFixed >= count * WireFormat.ackRangeLength else { throw .truncatedFrame }
            guard UInt64(first) <= largest else { throw .badAckRanges }
            let rangeStart = offset + WireFormat.ackFrameFixed
            // RFC 9000 §19.3.1: each range's largest is the previous smallest
            // minus gap minus 2; both it and its smallest must stay >= 0.
            var low = largest - UInt64(first)
            for index in 0..<count {
                let gap = UInt64(BigEndian.u32(base, rangeStart + index * 8))
                let length = UInt64(BigEndian.u32(base, rangeStart + index * 8 + 4))
                guard low >= gap + 2 + length else { throw .badAckRanges }
                low = low - gap - 2 - length
            }
            let rangeEnd = rangeStart + count * WireFormat.ackRangeLength
            offset = rangeEnd
            return .ack(AckFrame(ackDelayMicroseconds: delay, deliveryLimit: limit, largest: largest,
                                 firstRange: first, rangeCount: count,
                                 rangeBytes: UnsafeRawBufferPointer(rebasing: bytes[rangeStart..<rangeEnd])))
        }
    }
}
