import Testing
import TestSupport
@testable import MoldUDP64

@Suite struct PacketTests {
    let feed = MoldFeed(session: "ABC", messages: [[1, 2, 3], [], [9]])

    func parse(_ bytes: [UInt8]) throws(PacketError) -> (SessionID, UInt64, Packet.Kind, [[UInt8]]) {
        var result: (SessionID, UInt64, Packet.Kind, [[UInt8]])?
        var failure: PacketError?
        bytes.withUnsafeBytes { raw in
            do {
                let packet = try Packet(raw)
                result = (packet.session, packet.sequenceNumber, packet.kind, packet.messages.map { Array($0.bytes) })
            } catch let error as PacketError { failure = error } catch {}
        }
        if let failure { throw failure }
        return result!
    }

    @Test func parsesDataPacket() throws {
        let (session, sequence, kind, messages) = try parse(feed.packet(first: 1, count: 3))
        #expect(session == SessionID("ABC"))
        #expect(session.description == "ABC")
        #expect(sequence == 1)
        #expect(kind == .data)
        #expect(messages == [[1, 2, 3], [], [9]])
    }

    @Test func heartbeatAndEndOfSession() throws {
        let heartbeat = try parse(feed.heartbeat(next: 4))
        #expect(heartbeat.1 == 4 && heartbeat.2 == .heartbeat && heartbeat.3.isEmpty)
        let end = try parse(feed.endOfSession(next: 4))
        #expect(end.1 == 4 && end.2 == .endOfSession)
    }

    @Test func rejectsMalformed() {
        let good = feed.packet(first: 1, count: 3)
        #expect(throws: PacketError.tooShort(length: 19)) { try parse(Array(good[0..<19])) }
        // Cut inside the last block's data, and inside a length field.
        #expect(throws: PacketError.truncatedBlock(index: 2, offset: 27)) { try parse(Array(good.dropLast())) }
        #expect(throws: PacketError.truncatedBlock(index: 2, offset: 27)) { try parse(Array(good[0..<28])) }
        // Count says 4, three blocks present.
        var more = good
        more[19] = 4
        #expect(throws: PacketError.countMismatch(declared: 4, found: 3)) { try parse(more) }
        // Count says 2, three blocks present.
        var fewer = good
        fewer[19] = 2
        #expect(throws: PacketError.trailingBytes(count: 3)) { try parse(fewer) }
        #expect(throws: PacketError.trailingBytes(count: 1)) { try parse(feed.heartbeat() + [0]) }
        #expect(throws: PacketError.invalidSequence(0)) { try parse(feed.heartbeat(next: 0)) }
        // The packet's end (sequence + count) would pass 2^64-1.
        let overflow = MoldFeed.encode(session: feed.session, sequence: .max - 1, count: 2, blocks: [[1], [2]])
        #expect(throws: PacketError.invalidSequence(.max - 1)) { try parse(overflow) }
        let last = MoldFeed.encode(session: feed.session, sequence: .max - 1, count: 1, blocks: [[1]])
        #expect(throws: Never.self) { try parse(last) }
    }

    @Test func sessionIDText() {
        #expect(SessionID("TOO LONG ID!") == nil)
        #expect(SessionID("héllo") == nil)
        #expect(SessionID("0123456789")?.bytes == Array("0123456789".utf8))
        #expect(SessionID("AB")?.bytes == Array("AB        ".utf8))
    }
}
