import Testing
@testable import UTP

@Suite("µTP wire format (BEP 29)")
struct UTPPacketTests {
    func header(_ type: PacketType = .data, extensionByte: UInt8 = 0) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 20)
        let written = bytes.withUnsafeMutableBytes { raw in
            PacketWriter.write(.init(type: type, connectionID: 0xBEEF, timestamp: 0x0102_0304, timestampDifference: 0x0506_0708,
                                     windowSize: 0x0009_0A0B, sequenceNumber: 0xFFFE, ackNumber: 0x1234), into: raw.baseAddress!)
        }
        #expect(written == 20)
        bytes[1] = extensionByte
        return bytes
    }

    func parse(_ bytes: [UInt8]) -> Result<(PacketType, UInt16, [UInt8], [UInt8]), MalformedReason> {
        bytes.withUnsafeBytes { raw in
            Packet.parse(raw).map { ($0.type, $0.sequenceNumber, Array($0.selectiveAck), Array($0.payload)) }
        }
    }

    @Test func headerRoundTrip() throws {
        let bytes = header(.state) + [1, 2, 3]
        #expect(bytes[0] == 0x21, "type ST_STATE (2) in the high nibble, version 1 in the low")
        #expect(Array(bytes[2..<4]) == [0xBE, 0xEF], "big-endian connection_id")
        try bytes.withUnsafeBytes { raw in
            let packet = try Packet.parse(raw).get()
            #expect(packet.type == .state && packet.connectionID == 0xBEEF)
            #expect(packet.timestamp == 0x0102_0304 && packet.timestampDifference == 0x0506_0708)
            #expect(packet.windowSize == 0x0009_0A0B && packet.sequenceNumber == 0xFFFE && packet.ackNumber == 0x1234)
            #expect(Array(packet.payload) == [1, 2, 3] && packet.selectiveAck.isEmpty)
        }
    }

    @Test func selectiveAckBitsStartAtAckPlusTwo() throws {
        // libtorrent sends masks that are not multiples of 4 bytes: accept any length.
        let bytes = header(extensionByte: 1) + [0, 3, 0b0000_0101, 0x80, 0x01] + [9]
        try bytes.withUnsafeBytes { raw in
            let packet = try Packet.parse(raw).get()
            #expect(packet.selectiveAck.count == 3)
            #expect(packet.selectivelyAcknowledges(0x1234 &+ 2))
            #expect(!packet.selectivelyAcknowledges(0x1234 &+ 3))
            #expect(packet.selectivelyAcknowledges(0x1234 &+ 4))
            #expect(packet.selectivelyAcknowledges(0x1234 &+ 2 &+ 15))
            #expect(packet.selectivelyAcknowledges(0x1234 &+ 2 &+ 16))
            #expect(!packet.selectivelyAcknowledges(0x1234 &+ 1), "ack_nr + 1 is never in the mask")
            #expect(!packet.selectivelyAcknowledges(0x1234 &+ 2 &+ 24), "past the last bit")
            #expect(Array(packet.payload) == [9])
        }
    }

    @Test func writerSendsWholeWords() {
        var bytes = [UInt8](repeating: 0xFF, count: 30)
        let length = bytes.withUnsafeMutableBytes { raw in
            PacketWriter.write(.init(type: .state, connectionID: 1, timestamp: 0, timestampDifference: 0, windowSize: 0,
                                     sequenceNumber: 0, ackNumber: 0), selectiveAckBytes: 4, into: raw.baseAddress!)
        }
        #expect(length == 26)
        #expect(bytes[1] == 1 && bytes[20] == 0 && bytes[21] == 4 && Array(bytes[22..<26]) == [0, 0, 0, 0])
    }

    @Test func unknownExtensionsAreSkippedByLength() {
        let bytes = header(extensionByte: 0x42) + [1, 2, 0xAA, 0xBB, 0, 4, 0xFF, 0, 0, 0, 7, 8]
        let result = parse(bytes)
        #expect((try? result.get().2) == [0xFF, 0, 0, 0])
        #expect((try? result.get().3) == [7, 8])
    }

    @Test func selectiveAckOf255BytesIsAccepted() {
        let bytes = header(extensionByte: 1) + [0, 255] + [UInt8](repeating: 0xFF, count: 255)
        #expect((try? parse(bytes).get().2.count) == 255)
    }

    @Test func malformed() {
        #expect(throws: MalformedReason.tooShort) { try parse(Array(header().prefix(19))).get() }
        var wrongVersion = header()
        wrongVersion[0] = 0x02
        #expect(throws: MalformedReason.badVersion) { try parse(wrongVersion).get() }
        var badType = header()
        badType[0] = 0x51
        #expect(throws: MalformedReason.badType) { try parse(badType).get() }
        #expect(throws: MalformedReason.emptySelectiveAck) { try parse(header(extensionByte: 1) + [0, 0]).get() }
        #expect(throws: MalformedReason.truncatedExtension) { try parse(header(extensionByte: 1) + [0, 8, 1, 2]).get() }
        #expect(throws: MalformedReason.truncatedExtension) { try parse(header(extensionByte: 1) + [0]).get() }
        var chain = header(extensionByte: 9)
        for _ in 0..<40 { chain += [9, 0] }
        #expect(throws: MalformedReason.tooManyExtensions) { try parse(chain).get() }
    }
}
