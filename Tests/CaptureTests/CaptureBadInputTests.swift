import Capture
import Testing

/// Bad input is a clear error at its offset or a counted skip, never a crash
/// or a read past the bytes.
struct CaptureBadInputTests {
    typealias F = FrameBuilder
    let payload: [UInt8] = Array(repeating: 0xAB, count: 100)
    var frame: [UInt8] { F.ethernet(etherType: 0x0800, F.ipv4Packet(body: F.udp(source: 1, destination: 2, payload: payload))) }

    func error(_ file: [UInt8]) -> CaptureError? {
        do {
            _ = try F.datagrams(file)
            return nil
        } catch let error as CaptureError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func wrongMagic() {
        let error = error(Array("GIF89a, not a capture at all".utf8))
        #expect(error == .unknownFormat(magic: 0x4749_4638))
        #expect("\(error!)".contains("not a pcap or pcapng file"))
    }

    @Test func truncatedFiles() {
        let whole = F.pcap(records: [(0, 0, frame, nil), (0, 0, frame, nil)])
        #expect(error([]) == .truncated(offset: 0, needed: 24, available: 0))
        #expect(error(Array(whole[0..<10])) == .truncated(offset: 0, needed: 24, available: 10))
        // Cut inside the second record's header, then inside its data.
        let second = 24 + 16 + frame.count
        #expect(error(Array(whole[0..<(second + 5)])) == .truncated(offset: second, needed: 16, available: 5))
        #expect(error(Array(whole[0..<(whole.count - 1)])) == .truncated(offset: second, needed: 16 + frame.count, available: 16 + frame.count - 1))
        // pcapng cut inside a block.
        let ng = F.sectionHeader(big: false) + F.interface(big: false) + F.enhancedPacket(timestamp: 1, bytes: frame, big: false)
        if case .truncated = error(Array(ng.dropLast(3))) {} else { Issue.record("pcapng cut short was not reported as truncated") }
    }

    @Test func truncatedTailKeepsTheRecordsBefore() throws {
        let whole = F.pcap(records: [(0, 0, frame, nil), (0, 0, frame, nil)])
        try whole.dropLast(7).withUnsafeBytes { bytes in
            let reader = try DatagramReader(bytes)
            #expect(try reader.next()?.payload.count == payload.count)
            #expect(throws: CaptureError.self) { try reader.next() }
        }
    }

    @Test func absurdRecordLengths() {
        var file = F.pcap(records: [(0, 0, frame, nil)])
        // incl_len of the first record (offset 24 + 8) set to 0x7FFFFFFF.
        file.replaceSubrange(32..<36, with: F.le32(0x7FFF_FFFF))
        #expect(error(file) == .absurdLength(offset: 24, length: 0x7FFF_FFFF))
        var ng = F.sectionHeader(big: false) + F.interface(big: false)
        let epbAt = ng.count
        ng += F.enhancedPacket(timestamp: 1, bytes: frame, big: false)
        ng.replaceSubrange((epbAt + 4)..<(epbAt + 8), with: F.le32(0x4000_0000))
        #expect(error(ng) == .absurdLength(offset: epbAt, length: 0x4000_0000))
        // A captured length larger than its block.
        var inner = F.sectionHeader(big: false) + F.interface(big: false)
        let at = inner.count
        inner += F.enhancedPacket(timestamp: 1, bytes: frame, big: false)
        inner.replaceSubrange((at + 20)..<(at + 24), with: F.le32(UInt32(frame.count + 100)))
        if case .malformed = error(inner) {} else { Issue.record("captured length past the block was not reported") }
        // Block length not a multiple of 4, and shorter than 12.
        var odd = F.sectionHeader(big: false)
        odd += F.le32(1) + F.le32(13) + Array(repeating: 0, count: 5)
        if case .malformed = error(odd) {} else { Issue.record("block length 13 was not reported") }
        // An EPB naming an interface nobody declared.
        let orphan = F.sectionHeader(big: false) + F.enhancedPacket(interface: 3, timestamp: 1, bytes: frame, big: false)
        #expect(error(orphan) == .unknownInterface(offset: 28, interface: 3))
        // A section header with a broken byte-order magic.
        var badSection = F.sectionHeader(big: false)
        badSection.replaceSubrange(8..<12, with: [1, 2, 3, 4])
        if case .badByteOrderMagic = error(badSection) {} else { Issue.record("bad byte-order magic was not reported") }
    }

    @Test func snapLengthCutMidPacketIsCounted() throws {
        let cut = Array(frame[0..<60])
        let headerCut = Array(frame[0..<20])
        let (datagrams, counters) = try F.datagrams(F.pcap(snapLength: 60, records: [(0, 0, cut, frame.count), (0, 0, headerCut, frame.count), (0, 0, frame, nil)]))
        #expect(datagrams.count == 1)
        #expect(counters.cut == 2)
        // The same short frame without the snap length's say-so is malformed, not cut.
        let (_, lying) = try F.datagrams(F.pcap(records: [(0, 0, cut, nil)]))
        #expect(lying.malformed == 1 && lying.cut == 0)
    }

    @Test func nonUDPAndNonIPFramesAreCounted() throws {
        let tcp = F.ethernet(etherType: 0x0800, F.ipv4Packet(protocolNumber: 6, body: Array(repeating: 0, count: 20)))
        let arp = F.ethernet(etherType: 0x0806, Array(repeating: 0, count: 28))
        let runt = Array(repeating: UInt8(0), count: 9)
        let badUDPLength = F.ethernet(etherType: 0x0800, F.ipv4Packet(body: F.be16(1) + F.be16(2) + F.be16(4) + [0, 0]))
        let notIPv4 = F.ethernet(etherType: 0x0800, [0x65] + Array(repeating: 0, count: 30))
        let unknownLink = F.pcap(linkType: 147, records: [(0, 0, frame, nil)])
        let (datagrams, counters) = try F.datagrams(F.pcap(records: [(0, 0, tcp, nil), (0, 0, arp, nil), (0, 0, runt, nil),
                                                                    (0, 0, badUDPLength, nil), (0, 0, notIPv4, nil), (0, 0, frame, nil)]))
        #expect(datagrams.count == 1)
        #expect(counters.notUDP == 1 && counters.notIP == 1 && counters.malformed == 3)
        let (none, other) = try F.datagrams(unknownLink)
        #expect(none.isEmpty && other.unsupportedLinkType == 1)
    }
}
