import Testing
import MoldUDP64

@Suite struct RequestTests {
    func decode(_ bytes: [UInt8]) throws(MoldFormatError) -> Request {
        var result: Result<Request, MoldFormatError>!
        bytes.withUnsafeBytes { raw in result = Result { () throws(MoldFormatError) in try Request(decoding: raw) } }
        return try result.get()
    }

    func encode(_ request: Request) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Request.size)
        bytes.withUnsafeMutableBytes { #expect(request.encode(into: $0) == 20) }
        return bytes
    }

    @Test func roundTripsTheWireLayout() throws {
        let request = Request(session: testSession, sequenceNumber: 0x1122_3344_5566_7788, messageCount: 0x0102)
        let bytes = encode(request)
        #expect(bytes == Array("TESTSESS1 ".utf8) + [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x01, 0x02])
        #expect(try decode(bytes) == request)
    }

    @Test func rejectsWhatIsNotARequest() throws {
        let good = encode(Request(session: testSession, sequenceNumber: 1, messageCount: 1))
        #expect(throws: MoldFormatError.requestLength(19)) { try decode(Array(good.dropLast())) }
        #expect(throws: MoldFormatError.requestLength(21)) { try decode(good + [0]) }
        #expect(throws: MoldFormatError.requestLength(0)) { try decode([]) }
        var zeroSequence = good
        zeroSequence.replaceSubrange(10..<18, with: [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: MoldFormatError.requestSequenceZero) { try decode(zeroSequence) }
        var zeroCount = good
        zeroCount.replaceSubrange(18..<20, with: [0, 0])
        #expect(throws: MoldFormatError.requestCountZero) { try decode(zeroCount) }
        // 0xFFFF is a (large) request, not a marker: the server caps the answer.
        var most = good
        most.replaceSubrange(18..<20, with: [0xFF, 0xFF])
        #expect(try decode(most).messageCount == 0xFFFF)
    }

    @Test func sessionNamesAreTenPaddedASCIIBytes() throws {
        #expect(try SessionID(validating: "A").description == "A")
        #expect(try SessionID(validating: "").description == "")
        #expect(try SessionID(validating: "0123456789").description == "0123456789")
        #expect(throws: MoldFormatError.sessionTooLong("0123456789X")) { try SessionID(validating: "0123456789X") }
        #expect(throws: MoldFormatError.sessionNotPrintableASCII("é")) { try SessionID(validating: "é") }
        #expect(throws: MoldFormatError.sessionNotPrintableASCII("a\tb")) { try SessionID(validating: "a\tb") }
        let wire = Array("TESTSESS1 ".utf8)
        #expect(wire.withUnsafeBytes { testSession.matches(wire: $0.baseAddress!) })
        #expect(wire.withUnsafeBytes { SessionID(wire: $0.baseAddress!) } == testSession)
        let other = Array("TESTSESS2 ".utf8)
        #expect(!other.withUnsafeBytes { testSession.matches(wire: $0.baseAddress!) })
        #expect("\(MoldFormatError.requestLength(3))".contains("exactly 20"))
    }
}
