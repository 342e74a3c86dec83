/// Finds the UDP datagram in one captured frame: link layer (Ethernet with
/// stacked 802.1Q / 802.1ad tags, Linux cooked SLL and SLL2, raw IP), then
/// IPv4 (fragments go to a `FragmentReassembler`) or IPv6 (extension headers
/// skipped, RFC 8200 §4), then UDP (RFC 768). Every length is checked against
/// the captured bytes; a frame that is not a whole UDP datagram is counted in
/// `DecodeCounters`, never read past.
public enum FrameDecoder {
    /// What one frame held.
    public enum Result {
        /// A whole UDP datagram (reassembled, when it came in fragments); its payload
        /// is a view, valid until the next frame is decoded.
        case datagram(CapturedDatagram)
        /// Counted in the counters (not UDP, cut, a fragment held, ...).
        case skipped
    }

    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86DD
    /// 802.1Q, 802.1ad (QinQ) and the pre-standard 0x9100 outer tag.
    static func isVLANTag(_ type: UInt16) -> Bool { type == 0x8100 || type == 0x88A8 || type == 0x9100 }
    /// More tags than this in one frame is garbage, not a network.
    static let maximumVLANTags = 8
    static let udpProtocol: UInt8 = 17

    /// Decodes `record`; counts what it skips in `counters`.
    public static func decode(_ record: CaptureRecord, reassembler: FragmentReassembler,
                              counters: inout DecodeCounters) -> Result {
        let frame = record.bytes
        var offset: Int
        var etherType: UInt16
        switch record.linkType {
        case .ethernet:
            guard frame.count >= 14 else { return cut(record, &counters) }
            etherType = frame.networkUInt16(at: 12)
            offset = 14
        case .linuxSLL:
            // packet type, ARPHRD, address length, 8 address bytes, protocol (big endian).
            guard frame.count >= 16 else { return cut(record, &counters) }
            etherType = frame.networkUInt16(at: 14)
            offset = 16
        case .linuxSLL2:
            // protocol, reserved, interface index, ARPHRD, packet type, address length, 8 address bytes.
            guard frame.count >= 20 else { return cut(record, &counters) }
            etherType = frame.networkUInt16(at: 0)
            offset = 20
        case .raw, .ipv4, .ipv6:
            guard frame.count >= 1 else { return cut(record, &counters) }
            let version = frame[0] >> 4
            guard version == 4 || version == 6 else { counters.notIP &+= 1; return .skipped }
            guard record.linkType == .raw || (record.linkType == .ipv4) == (version == 4) else {
                counters.malformed &+= 1
                return .skipped
            }
            etherType = version == 4 ? etherTypeIPv4 : etherTypeIPv6
            offset = 0
        default:
            counters.unsupportedLinkType &+= 1
            return .skipped
        }
        var tags = 0
        while isVLANTag(etherType) {
            tags += 1
            guard tags <= maximumVLANTags else { counters.malformed &+= 1; return .skipped }
            guard frame.count >= offset + 4 else { return cut(record, &counters) }
            etherType = frame.networkUInt16(at: offset + 2)
            offset += 4
        }
        let packet = UnsafeRawBufferPointer(rebasing: frame[offset...])
        switch etherType {
        case etherTypeIPv4: return decodeIPv4(packet, record: record, reassembler: reassembler, counters: &counters)
        case etherTypeIPv6: return decodeIPv6(packet, record: record, counters: &counters)
        default:
            counters.notIP &+= 1
            return .skipped
        }
    }

    /// A header did not fit the captured bytes: cut by the snap length, or a
    /// frame shorter than it says.
    static func cut(_ record: CaptureRecord, _ counters: inout DecodeCounters) -> Result {
        if record.isCut { counters.cut &+= 1 } else { counters.malformed &+= 1 }
        return .skipped
    }

    static func decodeIPv4(_ packet: UnsafeRawBufferPointer, record: CaptureRecord, reassembler: FragmentReassembler,
                           counters: inout DecodeCounters) -> Result {
        guard packet.count >= 20 else { return cut(record, &counters) }
        let versionAndLength = packet[0]
        let headerLength = Int(versionAndLength & 0x0F) * 4
        let totalLength = Int(packet.networkUInt16(at: 2))
        guard versionAndLength >> 4 == 4, headerLength >= 20, totalLength >= headerLength else {
            counters.malformed &+= 1
            return .skipped
        }
        // Bytes past totalLength are Ethernet padding (frames of at least 60 bytes).
        guard packet.count >= totalLength else { return cut(record, &counters) }
        guard packet[9] == udpProtocol else { counters.notUDP &+= 1; return .skipped }
        // Safety: 20 <= headerLength <= totalLength <= packet.count; addresses at 12 and 16.
        let base = packet.baseAddress!
        let source = CapturedAddress(isIPv6: false, bytes: base + 12)
        let destination = CapturedAddress(isIPv6: false, bytes: base + 16)
        let body = packet.slice(headerLength, totalLength - headerLength)
        let flagsAndOffset = packet.networkUInt16(at: 6)
        let moreFragments = flagsAndOffset & 0x2000 != 0
        let fragmentOffset = Int(flagsAndOffset & 0x1FFF) * 8
        if moreFragments || fragmentOffset != 0 {
            let key = FragmentReassembler.Key(source: packet.networkUInt32(at: 12), destination: packet.networkUInt32(at: 16),
                                              identification: packet.networkUInt16(at: 4), protocolNumber: packet[9])
            guard let whole = reassembler.add(key, offset: fragmentOffset, moreFragments: moreFragments, bytes: body,
                                              now: record.timestamp, counters: &counters) else { return .skipped }
            return decodeUDP(whole, source: source, destination: destination, record: record, counters: &counters)
        }
        return decodeUDP(body, source: source, destination: destination, record: record, counters: &counters)
    }

    static func decodeIPv6(_ packet: UnsafeRawBufferPointer, record: CaptureRecord, counters: inout DecodeCounters) -> Result {
        guard packet.count >= 40 else { return cut(record, &counters) }
        guard packet[0] >> 4 == 6 else { counters.malformed &+= 1; return .skipped }
        let payloadLength = Int(packet.networkUInt16(at: 4))
        // A payload length of 0 with a hop-by-hop header means a jumbogram (RFC 2675): not for UDP feeds.
        guard payloadLength > 0 else { counters.malformed &+= 1; return .skipped }
        guard packet.count >= 40 + payloadLength else { return cut(record, &counters) }
        let base = packet.baseAddress!
        let source = CapturedAddress(isIPv6: true, bytes: base + 8)
        let destination = CapturedAddress(isIPv6: true, bytes: base + 24)
        var next = packet[6]
        var offset = 40
        let end = 40 + payloadLength
        // Extension headers (RFC 8200 §4.1 order, but any order is walked).
        for _ in 0..<16 {
            switch next {
            case udpProtocol:
                return decodeUDP(packet.slice(offset, end - offset), source: source, destination: destination,
                                 record: record, counters: &counters)
            case 0, 43, 60: // hop-by-hop, routing, destination options: (length + 1) * 8 bytes
                guard end >= offset + 2 else { counters.malformed &+= 1; return .skipped }
                let length = (Int(packet[offset + 1]) + 1) * 8
                guard end >= offset + length else { counters.malformed &+= 1; return .skipped }
                next = packet[offset]
                offset += length
            case 44: // fragment header, 8 bytes (RFC 8200 §4.5)
                guard end >= offset + 8 else { counters.malformed &+= 1; return .skipped }
                let fragment = packet.networkUInt16(at: offset + 2)
                // An atomic fragment (offset 0, M clear, RFC 6946) is a whole datagram.
                guard fragment & 0xFFF9 == 0 else { counters.ipv6Fragments &+= 1; return .skipped }
                next = packet[offset]
                offset += 8
            case 51: // authentication header: (length + 2) * 4 bytes (RFC 4302 §2.2)
                guard end >= offset + 2 else { counters.malformed &+= 1; return .skipped }
                let length = (Int(packet[offset + 1]) + 2) * 4
                guard end >= offset + length else { counters.malformed &+= 1; return .skipped }
                next = packet[offset]
                offset += length
            default:
                counters.notUDP &+= 1
                return .skipped
            }
        }
        counters.malformed &+= 1
        return .skipped
    }

    static func decodeUDP(_ segment: UnsafeRawBufferPointer, source: CapturedAddress, destination: CapturedAddress,
                          record: CaptureRecord, counters: inout DecodeCounters) -> Result {
        guard segment.count >= 8 else { counters.malformed &+= 1; return .skipped }
        let length = Int(segment.networkUInt16(at: 4))
        guard length >= 8, length <= segment.count else { counters.malformed &+= 1; return .skipped }
        counters.datagrams &+= 1
        return .datagram(CapturedDatagram(timestamp: record.timestamp, source: source,
                                          sourcePort: segment.networkUInt16(at: 0), destination: destination,
                                          destinationPort: segment.networkUInt16(at: 2),
                                          payload: segment.slice(8, length - 8)))
    }
}
