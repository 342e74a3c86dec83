import Testing
import SoupBinTCP

@Suite struct SoupPacketTests {
    func parse(_ bytes: [UInt8], max: Int = 65_535) throws -> (PacketType, [UInt8], Int)? {
        try bytes.withUnsafeBytes { raw in
            guard let packet = try SoupPacket.first(in: raw, maxFrameLength: max) else { return nil }
            return (packet.type, Array(packet.payload), packet.frameLength)
        }
    }

    func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Login Request written by hand from SoupBinTCP 3.00, 2.3.1: length 47, 'L',
    /// username 6, password 10, requested session 10, requested sequence 20.
    @Test func loginRequestFromTheSpec() throws {
        let wire: [UInt8] = [0x00, 0x2F, 0x4C] + ascii("feed  ") + ascii("secret    ") + ascii("          ")
            + ascii("                 123")
        let fields = try wire.withUnsafeBytes { raw -> ([UInt8], [UInt8], [UInt8], UInt64?) in
            let packet = try #require(try SoupPacket.first(in: raw))
            #expect(packet.type == .loginRequest)
            #expect(packet.frameLength == 49)
            return (Array(SoupFields.trimmed(packet.username!)), Array(SoupFields.trimmed(packet.password!)),
                    Array(SoupFields.trimmed(packet.session!)), packet.sequenceNumber)
        }
        #expect(fields.0 == ascii("feed") && fields.1 == ascii("secret") && fields.2.isEmpty && fields.3 == 123)
        // The writer produces the same bytes.
        var out = [UInt8](repeating: 0, count: 49)
        let size = out.withUnsafeMutableBytes { buffer in
            ascii("feed").withUnsafeBytes { user in ascii("secret").withUnsafeBytes { pass in
                [UInt8]().withUnsafeBytes { session in
                    SoupWriter.loginRequest(username: user, password: pass, session: session, sequence: 123,
                                            to: buffer.baseAddress!)
                } } }
        }
        #expect(size == 49 && out == wire)
    }

    /// Login Accepted (2.2.1): session 10 and sequence number 20, both left padded.
    @Test func loginAcceptedFromTheSpec() throws {
        let wire: [UInt8] = [0x00, 0x1F, 0x41] + ascii("FEED000001") + ascii("                   7")
        try wire.withUnsafeBytes { raw in
            let packet = try #require(try SoupPacket.first(in: raw))
            #expect(packet.type == .loginAccepted)
            #expect(Array(packet.session!) == ascii("FEED000001"))
            #expect(packet.sequenceNumber == 7)
        }
        var out = [UInt8](repeating: 0, count: 33)
        _ = out.withUnsafeMutableBytes { buffer in
            ascii("FEED000001").withUnsafeBytes { SoupWriter.loginAccepted(session: $0, sequence: 7, to: buffer.baseAddress!) }
        }
        #expect(out == wire)
        // A short session is padded on the left.
        _ = out.withUnsafeMutableBytes { buffer in
            ascii("ABC").withUnsafeBytes { SoupWriter.loginAccepted(session: $0, sequence: 1, to: buffer.baseAddress!) }
        }
        #expect(Array(out[3..<13]) == ascii("       ABC"))
    }

    @Test func everyOtherTypeFromHandWrittenBytes() throws {
        let cases: [([UInt8], PacketType, [UInt8])] = [
            ([0x00, 0x06, 0x2B] + ascii("hello"), .debug, ascii("hello")),
            ([0x00, 0x02, 0x4A, 0x41], .loginRejected, [0x41]),
            ([0x00, 0x02, 0x4A, 0x53], .loginRejected, [0x53]),
            ([0x00, 0x04, 0x53, 1, 2, 3], .sequencedData, [1, 2, 3]),
            ([0x00, 0x01, 0x48], .serverHeartbeat, []),
            ([0x00, 0x01, 0x5A], .endOfSession, []),
            ([0x00, 0x03, 0x55, 9, 9], .unsequencedData, [9, 9]),
            ([0x00, 0x01, 0x52], .clientHeartbeat, []),
            ([0x00, 0x01, 0x4F], .logoutRequest, []),
        ]
        for (wire, type, payload) in cases {
            let parsed = try #require(try parse(wire))
            #expect(parsed.0 == type && parsed.1 == payload && parsed.2 == wire.count)
            var out = [UInt8](repeating: 0, count: wire.count)
            let size = out.withUnsafeMutableBytes { buffer -> Int in
                switch type {
                case .loginRejected:
                    return SoupWriter.loginRejected(RejectReason(rawValue: payload[0])!, to: buffer.baseAddress!)
                case .serverHeartbeat, .endOfSession, .clientHeartbeat, .logoutRequest:
                    return SoupWriter.empty(type, to: buffer.baseAddress!)
                default:
                    return payload.withUnsafeBytes { SoupWriter.data(type, $0, to: buffer.baseAddress!) }
                }
            }
            #expect(size == wire.count && out == wire, "\(type)")
        }
        let reason = try ([0x00, 0x02, 0x4A, 0x53] as [UInt8]).withUnsafeBytes { raw throws(FrameError) in
            try SoupPacket.first(in: raw)?.rejectReason
        }
        #expect(reason == .sessionNotAvailable)
    }

    @Test func incompleteBytesWaitForMore() throws {
        let wire: [UInt8] = [0x00, 0x04, 0x53, 1, 2, 3]
        for cut in 0..<wire.count {
            let parsed = try parse(Array(wire[0..<cut]))
            #expect(parsed == nil, "cut at \(cut)")
        }
        // Two packets back to back: the first comes out alone.
        let first = try parse(wire + [0x00, 0x01, 0x48])
        #expect(first?.2 == 6)
    }

    @Test func malformedPacketsAreRefusedWithTheReason() throws {
        #expect(throws: FrameError.zeroLength) { try parse([0x00, 0x00, 0x53]) }
        #expect(throws: FrameError.tooLong(length: 65_535, limit: 1024)) { try parse([0xFF, 0xFF, 0x53], max: 1024) }
        #expect(throws: FrameError.unknownType(0x51)) { try parse([0x00, 0x01, 0x51]) }
        #expect(throws: FrameError.wrongPayloadLength(type: .serverHeartbeat, length: 1, expected: 0)) {
            try parse([0x00, 0x02, 0x48, 0x00])
        }
        #expect(throws: FrameError.unknownRejectReason(0x58)) { try parse([0x00, 0x02, 0x4A, 0x58]) }
        let badNumber: [UInt8] = [0x00, 0x1F, 0x41] + ascii("FEED000001") + ascii("             12 3456")
        #expect(throws: FrameError.invalidNumber(type: .loginAccepted)) { try parse(badNumber) }
        let overflow: [UInt8] = [0x00, 0x1F, 0x41] + ascii("FEED000001") + ascii("99999999999999999999")
        #expect(throws: FrameError.invalidNumber(type: .loginAccepted)) { try parse(overflow) }
        // A length of 65535 is legal on the wire when the reader allows it.
        let longest = try parse([0xFF, 0xFF, 0x53] + [UInt8](repeating: 7, count: 65_534))
        #expect(longest?.2 == 65_537)
    }

    @Test func numericFieldsAcceptEitherPadding() {
        func read(_ text: String) -> UInt64? { Array(text.utf8).withUnsafeBytes { SoupFields.readNumber($0) } }
        #expect(read("                  42") == 42)
        #expect(read("42                  ") == 42)
        #expect(read("00000000000000000042") == 42)
        #expect(read("                    ") == 0)
        #expect(read("18446744073709551615") == .max)
        #expect(read("18446744073709551616") == nil)
        #expect(read("               -1   ") == nil)
        var field = [UInt8](repeating: 0, count: 20)
        field.withUnsafeMutableBytes { SoupFields.writeSequence(.max, to: $0.baseAddress!) }
        #expect(field == Array("18446744073709551615".utf8))
    }

    @Test func credentialsCompareWholeFields() throws {
        let credentials = try Credentials([("feed", "secret"), ("other", "pw")])
        func check(_ user: String, _ pass: String) -> Bool {
            var u = Array(user.utf8); u += [UInt8](repeating: 0x20, count: max(0, 6 - u.count))
            var p = Array(pass.utf8); p += [UInt8](repeating: 0x20, count: max(0, 10 - p.count))
            return u.withUnsafeBytes { uu in p.withUnsafeBytes { credentials.accepts(username: uu, password: $0) } }
        }
        #expect(check("feed", "secret"))
        #expect(check("other", "pw"))
        #expect(!check("feed", "secre"))
        #expect(!check("feed", "secretX"))
        #expect(!check("feed", "pw"))
        #expect(!check("", ""))
        #expect(throws: SoupConfigurationError.invalidUsername("toolongname")) { try Credentials([("toolongname", "x")]) }
        #expect(throws: SoupConfigurationError.invalidPassword) { try Credentials([("a", "this is too long")]) }
    }
}
