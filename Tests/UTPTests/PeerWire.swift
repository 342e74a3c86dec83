import Reactor
import UTP

/// Just enough of the BitTorrent peer protocol (BEP 3) to move a whole torrent
/// over a `UTPStream`: handshake, bitfield, interested, unchoke, request, piece.
/// As a downloader it pipelines 16 KiB requests; as a seeder it answers requests
/// from the file's bytes, respecting the stream's backpressure.
final class PeerWire: UTPStreamDelegate {
    static let block = 16 * 1024
    static let pipeline = 32

    let infoHash: [UInt8]
    let size: Int
    let pieceLength: Int
    /// Seeder: the bytes to serve. Downloader: where they land.
    var data: [UInt8]
    let seeding: Bool
    var stream: UTPStream?
    var inbox: [UInt8] = []
    var outbox: [UInt8] = []
    var outboxSent = 0
    var handshakeReceived = false
    var handshakeSent = false
    var choked = true
    var nextRequest = 0
    var outstanding = 0
    var receivedBytes = 0
    var blocksReceived = 0
    var requestsServed = 0
    var closed = false
    var closeError: UTPError?
    var protocolError: String?
    var bitfieldSeen = false

    init(infoHash: [UInt8], size: Int, pieceLength: Int, data: [UInt8]?, seeding: Bool) {
        self.infoHash = infoHash
        self.size = size
        self.pieceLength = pieceLength
        self.data = data ?? [UInt8](repeating: 0, count: size)
        self.seeding = seeding
    }

    var pieceCount: Int { (size + pieceLength - 1) / pieceLength }
    var complete: Bool { receivedBytes == size }

    func attach(_ stream: UTPStream) {
        self.stream = stream
        stream.delegate = self
    }

    // MARK: stream events

    func connected(_ stream: UTPStream) {
        if !seeding { sendHandshake() }
    }

    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) {
        inbox.append(contentsOf: bytes)
        parse()
        flush()
    }

    func writable(_ stream: UTPStream) { flush() }

    func closed(_ stream: UTPStream, error: UTPError?) {
        closed = true
        closeError = error
    }

    // MARK: protocol

    func sendHandshake() {
        guard !handshakeSent else { return }
        handshakeSent = true
        var message: [UInt8] = [19] + Array("BitTorrent protocol".utf8) + [UInt8](repeating: 0, count: 8)
        message += infoHash
        message += Array("-FR0001-".utf8) + [UInt8](repeating: 0x41, count: 12)
        queue(message)
        if seeding {
            var bitfield = [UInt8](repeating: 0, count: (pieceCount + 7) / 8)
            for piece in 0..<pieceCount { bitfield[piece / 8] |= 0x80 >> UInt8(piece % 8) }
            queue(messageID: 5, bitfield)
            queue(messageID: 1, [])          // unchoke
        } else {
            queue(messageID: 2, [])          // interested
        }
    }

    func parse() {
        var offset = 0
        if !handshakeReceived {
            guard inbox.count >= 68 else { return }
            guard inbox[0] == 19, Array(inbox[28..<48]) == infoHash else {
                protocolError = "bad handshake"
                stream?.abort()
                return
            }
            handshakeReceived = true
            offset = 68
            sendHandshake()
        }
        while inbox.count - offset >= 4 {
            let length = Int(be32(inbox, offset))
            guard inbox.count - offset - 4 >= length else { break }
            if length > 0 { handle(id: inbox[offset + 4], body: offset + 5, length: length - 1) }
            offset += 4 + length
        }
        inbox.removeFirst(offset)
    }

    func handle(id: UInt8, body: Int, length: Int) {
        switch id {
        case 0: choked = true
        case 1:
            choked = false
            requestMore()
        case 5: bitfieldSeen = true
        case 6 where seeding:
            let piece = Int(be32(inbox, body)), begin = Int(be32(inbox, body + 4)), count = Int(be32(inbox, body + 8))
            let start = piece * pieceLength + begin
            guard count <= 128 * 1024, start >= 0, start + count <= size else { protocolError = "bad request"; return }
            var message = u32(UInt32(9 + count)) + [7] + u32(UInt32(piece)) + u32(UInt32(begin))
            message += data[start..<(start + count)]
            queue(message)
            requestsServed += 1
        case 7 where !seeding:
            let piece = Int(be32(inbox, body)), begin = Int(be32(inbox, body + 4))
            let count = length - 8
            let start = piece * pieceLength + begin
            guard start >= 0, start + count <= size else { protocolError = "bad piece"; return }
            data.replaceSubrange(start..<(start + count), with: inbox[(body + 8)..<(body + 8 + count)])
            receivedBytes += count
            blocksReceived += 1
            outstanding -= 1
            requestMore()
        default: break
        }
    }

    func requestMore() {
        guard !choked else { return }
        while outstanding < PeerWire.pipeline && nextRequest < size {
            let piece = nextRequest / pieceLength
            let begin = nextRequest % pieceLength
            let count = min(PeerWire.block, min(pieceLength - begin, size - nextRequest))
            queue(messageID: 6, u32(UInt32(piece)) + u32(UInt32(begin)) + u32(UInt32(count)))
            nextRequest += count
            outstanding += 1
        }
    }

    func queue(messageID: UInt8, _ body: [UInt8]) {
        queue(u32(UInt32(body.count + 1)) + [messageID] + body)
    }

    func queue(_ bytes: [UInt8]) {
        outbox += bytes
        flush()
    }

    func flush() {
        guard let stream, outboxSent < outbox.count else { return }
        let accepted = outbox[outboxSent...].withUnsafeBytes { stream.write($0) }
        outboxSent += accepted
        if outboxSent == outbox.count {
            outbox.removeAll(keepingCapacity: true)
            outboxSent = 0
        } else if outboxSent > 1 << 20 {
            outbox.removeFirst(outboxSent)
            outboxSent = 0
        }
    }

    func be32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    func u32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
