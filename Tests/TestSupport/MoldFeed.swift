/// A test-side MoldUDP64 feed written straight from the spec (MoldUDP64 1.00),
/// independent of the package's own encoder, so tests of the receiver do not
/// check the package against itself. Messages live in a plain array: message
/// `i` has sequence number `i + 1`.
///
/// ```swift
/// let feed = MoldFeed(session: "TEST000001", messages: MoldFeed.messages(count: 1000, seed: 1))
/// let packets = feed.packets(perPacket: 10)          // the live stream
/// let answer = feed.answer(request: requestBytes)    // a re-request server
/// ```
public struct MoldFeed: Sendable {
    /// The 10 session bytes, space padded.
    public let session: [UInt8]
    public var messages: [[UInt8]]

    public init(session: String, messages: [[UInt8]]) {
        var bytes = Array(session.utf8.prefix(10))
        while bytes.count < 10 { bytes.append(0x20) }
        self.session = bytes
        self.messages = messages
    }

    /// `count` deterministic messages of sizes in `sizes`; message bytes encode
    /// their index so a misordered delivery is caught by comparing bytes.
    public static func messages(count: Int, seed: UInt64 = 1, sizes: ClosedRange<Int> = 8...40) -> [[UInt8]] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            let size = Int.random(in: sizes, using: &random)
            var message = [UInt8](repeating: 0, count: size)
            for offset in 0..<size { message[offset] = UInt8(truncatingIfNeeded: (index &* 31) &+ offset &* 7 &+ Int(seed)) }
            if size >= 8 {
                withUnsafeBytes(of: UInt64(index + 1).bigEndian) { message.replaceSubrange(0..<8, with: $0) }
            }
            return message
        }
    }

    /// One past the last sequence number.
    public var nextSequence: UInt64 { UInt64(messages.count) + 1 }

    /// A downstream packet: header, then each message as u16 big-endian length + bytes.
    public static func encode(session: [UInt8], sequence: UInt64, count: UInt16, blocks: [[UInt8]]) -> [UInt8] {
        var bytes = session
        withUnsafeBytes(of: sequence.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: count.bigEndian) { bytes.append(contentsOf: $0) }
        for block in blocks {
            withUnsafeBytes(of: UInt16(block.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: block)
        }
        return bytes
    }

    /// A data packet with messages `first ..< first + count`.
    public func packet(first: UInt64, count: Int) -> [UInt8] {
        let start = Int(first) - 1
        return Self.encode(session: session, sequence: first, count: UInt16(count),
                           blocks: Array(messages[start..<(start + count)]))
    }

    /// The live stream from `first`: packets of `perPacket` messages.
    public func packets(from first: UInt64 = 1, perPacket: Int) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var sequence = first
        while sequence < nextSequence {
            let count = min(perPacket, Int(nextSequence - sequence))
            result.append(packet(first: sequence, count: count))
            sequence += UInt64(count)
        }
        return result
    }

    /// Count 0: no messages, `next` is the next sequence number to be sent.
    public func heartbeat(next: UInt64? = nil) -> [UInt8] {
        Self.encode(session: session, sequence: next ?? nextSequence, count: 0, blocks: [])
    }

    /// Count 0xFFFF: the session is over.
    public func endOfSession(next: UInt64? = nil) -> [UInt8] {
        Self.encode(session: session, sequence: next ?? nextSequence, count: 0xFFFF, blocks: [])
    }

    /// A 20-byte request packet (session, first sequence number, count).
    public static func request(session: [UInt8], first: UInt64, count: UInt16) -> [UInt8] {
        encode(session: session, sequence: first, count: count, blocks: [])
    }

    /// What a re-request server answers to a 20-byte request: a downstream
    /// packet with as many of the asked-for messages as fit `maxMessages` and
    /// `maxBytes` (the spec allows fewer than asked), or nil when the request is
    /// malformed, for another session, or for messages the feed does not have.
    /// `publishedEnd`: one past the last message sent so far; a real server
    /// cannot answer for messages it has not published.
    public func answer(request: [UInt8], maxMessages: Int = 64, maxBytes: Int = 1400, publishedEnd: UInt64? = nil) -> [UInt8]? {
        guard request.count == 20, Array(request[0..<10]) == session else { return nil }
        let first = request[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let count = Int(UInt16(request[18]) << 8 | UInt16(request[19]))
        return answer(first: first, count: count, maxMessages: maxMessages, maxBytes: maxBytes, publishedEnd: publishedEnd)
    }

    public func answer(first: UInt64, count: Int, maxMessages: Int = 64, maxBytes: Int = 1400,
                       publishedEnd: UInt64? = nil) -> [UInt8]? {
        let end = min(nextSequence, publishedEnd ?? nextSequence)
        guard first >= 1, first < end, count > 0, count < 0xFFFF else { return nil }
        var blocks: [[UInt8]] = []
        var size = 20
        var sequence = first
        while sequence < end && blocks.count < min(count, maxMessages) {
            let message = messages[Int(sequence) - 1]
            if !blocks.isEmpty && size + 2 + message.count > maxBytes { break }
            blocks.append(message)
            size += 2 + message.count
            sequence += 1
        }
        return Self.encode(session: session, sequence: first, count: UInt16(blocks.count), blocks: blocks)
    }
}
