/// Writes µTP headers (BEP 29) into caller-owned memory: no allocation.
public enum PacketWriter {
    /// Selective-ACK masks are sent in whole 32-bit words, at least one (BEP 29 says the
    /// length is a multiple of 4 and at least 4; libutp refuses other lengths).
    public static let selectiveAckWord = 4

    /// The header fields of one outgoing packet.
    public struct Header {
        /// The packet type.
        public var type: PacketType
        /// The connection id the receiver knows the connection by.
        public var connectionID: UInt16
        /// Our clock, in microseconds (wraps at 2^32).
        public var timestamp: UInt32
        /// Our clock minus the peer's last timestamp, in microseconds (0 before any).
        public var timestampDifference: UInt32
        /// Our receive window, in bytes.
        public var windowSize: UInt32
        /// The packet's sequence number.
        public var sequenceNumber: UInt16
        /// The last sequence number received in order.
        public var ackNumber: UInt16

        /// A header; each argument is the field of the same name.
        public init(type: PacketType, connectionID: UInt16, timestamp: UInt32, timestampDifference: UInt32,
                    windowSize: UInt32, sequenceNumber: UInt16, ackNumber: UInt16) {
            self.type = type
            self.connectionID = connectionID
            self.timestamp = timestamp
            self.timestampDifference = timestampDifference
            self.windowSize = windowSize
            self.sequenceNumber = sequenceNumber
            self.ackNumber = ackNumber
        }
    }

    /// Writes the header and, when `selectiveAckBytes` > 0, an empty selective-ACK
    /// extension of that many bytes (a multiple of 4) for the caller to fill.
    /// Returns the header length written (20, or 22 + mask length).
    /// `buffer` must hold at least `20 + 2 + selectiveAckBytes` bytes.
    @discardableResult
    public static func write(_ header: Header, selectiveAckBytes: Int = 0, into buffer: UnsafeMutableRawPointer) -> Int {
        precondition(selectiveAckBytes >= 0 && selectiveAckBytes % selectiveAckWord == 0 && selectiveAckBytes <= 252)
        buffer.storeBytes(of: header.type.rawValue << 4 | Packet.version, toByteOffset: 0, as: UInt8.self)
        buffer.storeBytes(of: selectiveAckBytes > 0 ? Packet.selectiveAckExtension : 0, toByteOffset: 1, as: UInt8.self)
        buffer.storeBytes(of: header.connectionID.bigEndian, toByteOffset: 2, as: UInt16.self)
        buffer.storeBytes(of: header.timestamp.bigEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: header.timestampDifference.bigEndian, toByteOffset: 8, as: UInt32.self)
        buffer.storeBytes(of: header.windowSize.bigEndian, toByteOffset: 12, as: UInt32.self)
        buffer.storeBytes(of: header.sequenceNumber.bigEndian, toByteOffset: 16, as: UInt16.self)
        buffer.storeBytes(of: header.ackNumber.bigEndian, toByteOffset: 18, as: UInt16.self)
        guard selectiveAckBytes > 0 else { return Packet.headerSize }
        buffer.storeBytes(of: 0, toByteOffset: 20, as: UInt8.self)          // no further extension
        buffer.storeBytes(of: UInt8(selectiveAckBytes), toByteOffset: 21, as: UInt8.self)
        // Safety: the caller provides 22 + selectiveAckBytes bytes (documented above).
        (buffer + 22).initializeMemory(as: UInt8.self, repeating: 0, count: selectiveAckBytes)
        return Packet.headerSize + 2 + selectiveAckBytes
    }
}
