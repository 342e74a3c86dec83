import Testing
import MoldUDP64

/// A downstream packet parsed the slow, obvious way, to check what the writers
/// produce (the client's `Packet` view is tested on its own).
struct ParsedPacket: Equatable {
    var session: [UInt8]
    var sequenceNumber: UInt64
    var count: UInt16
    var messages: [[UInt8]]

    /// nil when the bytes are not a well-formed packet: short header, a block that
    /// overruns, trailing bytes, or a data count that does not match the blocks.
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 20 else { return nil }
        session = Array(bytes[0..<10])
        sequenceNumber = bytes[10..<18].reduce(0) { $0 << 8 | UInt64($1) }
        count = UInt16(bytes[18]) << 8 | UInt16(bytes[19])
        messages = []
        var offset = 20
        let blocks = count == 0xFFFF ? 0 : Int(count)
        for _ in 0..<blocks {
            guard offset + 2 <= bytes.count else { return nil }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
            guard offset + length <= bytes.count else { return nil }
            messages.append(Array(bytes[offset..<(offset + length)]))
            offset += length
        }
        guard offset == bytes.count else { return nil }
    }

    init?(_ bytes: UnsafeRawBufferPointer) { self.init(Array(bytes)) }

    var isHeartbeat: Bool { count == 0 }
    var isEndOfSession: Bool { count == 0xFFFF }
}

/// A message whose bytes say which sequence number it is (checkable anywhere).
func testMessage(_ sequence: UInt64, length: Int) -> [UInt8] {
    (0..<length).map { UInt8(truncatingIfNeeded: sequence &* 31 &+ UInt64($0)) }
}

let testSession = try! SessionID(validating: "TESTSESS1")

@Suite struct PacketWriterTests {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)

    @Test func writesHeaderAndBlocks() throws {
        defer { buffer.deallocate() }
        var writer = PacketWriter(buffer: buffer, limit: 1400)
        writer.begin(session: testSession, sequenceNumber: 0x0102_0304_0506_0708)
        let messages: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 0xAB, count: 300)]
        for message in messages {
            #expect(message.withUnsafeBytes { writer.append($0) })
        }
        let bytes = Array(writer.packet)
        #expect(bytes.count == 20 + 2 + 3 + 2 + 0 + 2 + 300)
        // Session: ASCII, space padded; sequence and count big-endian (MoldUDP64 1.00).
        #expect(Array(bytes[0..<10]) == Array("TESTSESS1 ".utf8))
        #expect(Array(bytes[10..<20]) == [1, 2, 3, 4, 5, 6, 7, 8, 0, 3])
        #expect(Array(bytes[20..<25]) == [0, 3, 1, 2, 3])
        let parsed = try #require(ParsedPacket(bytes))
        #expect(parsed.messages == messages)
        #expect(parsed.sequenceNumber == 0x0102_0304_0506_0708)
    }

    @Test func refusesWhatDoesNotFitTheLimit() throws {
        defer { buffer.deallocate() }
        var writer = PacketWriter(buffer: buffer, limit: 100)
        writer.begin(session: testSession, sequenceNumber: 1)
        let message = [UInt8](repeating: 7, count: 30)
        // 20 + 2 * 32 = 84; a third block needs 116 > 100.
        #expect(message.withUnsafeBytes { writer.append($0) })
        #expect(message.withUnsafeBytes { writer.append($0) })
        #expect(!message.withUnsafeBytes { writer.append($0) })
        #expect(writer.messageCount == 2 && writer.byteCount == 84)
        // Exactly filling the limit is allowed: 84 + 2 + 14 = 100.
        let filler = [UInt8](repeating: 9, count: 14)
        #expect(filler.withUnsafeBytes { writer.append($0) })
        #expect(writer.byteCount == 100)
        #expect(!writer.fits(length: 0))
        #expect(ParsedPacket(writer.packet)?.messages.count == 3)
        #expect(PacketWriter.largestMessage(limit: 1400) == 1378)
    }

    @Test func capsMessagesPerPacket() throws {
        defer { buffer.deallocate() }
        var writer = PacketWriter(buffer: buffer, messageLimit: 2)
        writer.begin(session: testSession, sequenceNumber: 5)
        let message: [UInt8] = [1]
        #expect(message.withUnsafeBytes { writer.append($0) })
        #expect(message.withUnsafeBytes { writer.append($0) })
        #expect(!message.withUnsafeBytes { writer.append($0) })
        // Beginning again starts a fresh packet in the same buffer.
        writer.begin(session: testSession, sequenceNumber: 7)
        #expect(writer.isEmpty && writer.byteCount == 20)
        #expect(ParsedPacket(writer.packet) == ParsedPacket(session: testSession, sequence: 7, count: 0))
    }

    @Test func writesHeartbeatAndEndOfSession() throws {
        defer { buffer.deallocate() }
        let heartbeatLength = PacketWriter.heartbeat(session: testSession, nextSequenceNumber: 42, into: buffer)
        let heartbeat = try #require(ParsedPacket(UnsafeRawBufferPointer(rebasing: buffer[0..<heartbeatLength])))
        #expect(heartbeat.isHeartbeat && heartbeat.sequenceNumber == 42 && heartbeatLength == 20)
        let endLength = PacketWriter.endOfSession(session: testSession, nextSequenceNumber: 43, into: buffer)
        let end = try #require(ParsedPacket(UnsafeRawBufferPointer(rebasing: buffer[0..<endLength])))
        #expect(end.isEndOfSession && end.sequenceNumber == 43 && endLength == 20)
        #expect(Array(buffer[18..<20]) == [0xFF, 0xFF])
    }
}

extension ParsedPacket {
    init(session: SessionID, sequence: UInt64, count: UInt16, messages: [[UInt8]] = []) {
        self.session = Array(session.description.utf8) + Array(repeating: 0x20, count: 10 - session.description.utf8.count)
        sequenceNumber = sequence
        self.count = count
        self.messages = messages
    }
}
