// The µTP fuzz program, shared by Fuzz/UTPFuzz.swift (libFuzzer, scripts/fuzz.sh utp)
// and UTPFuzzRegressionTests. The input drives an endpoint under test as its peer:
//
//   op 0: raw datagram (the next n bytes)        op 1: advance the clock, poll
//   op 2: flush deferred ACKs                    op 3: SYN with a chosen id
//   op 4: synthetic packet for the accepted connection (type, seq/ack offsets,
//         selective ACK and payload from the input)
//   op 5: the application writes                 op 6: the application shuts down
//   op 7: the application connects out
//
// Invariants (a violation traps): synthetic DATA carries bytes derived from its
// seq_nr, so what the connection delivers must be those bytes, in seq order,
// each once — unless raw datagrams were mixed in; the endpoint never holds more
// connections than configured; every packet it sends parses.
import Reactor
import UTP

final class UTPFuzzPeer: UTPOutput, UTPListener, UTPConnectionDelegate {
    var accepted: UTPConnection?
    var outgoing: UTPConnection?
    var lastSentSequence: UInt16 = 0
    var lastSentAck: UInt16 = 0
    var expectedNext: UInt16?
    var rawUsed = false
    var delivered = 0

    func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        guard case .success(let parsed) = Packet.parse(packet) else { preconditionFailure("sent an unparsable packet") }
        lastSentSequence = parsed.sequenceNumber
        lastSentAck = parsed.ackNumber
        return .sent
    }

    func accepted(_ connection: UTPConnection) {
        connection.delegate = self
        if accepted == nil { accepted = connection }
    }

    func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection) {
        delivered += bytes.count
        guard !rawUsed, connection === accepted, let first = bytes.first else { return }
        // Synthetic payloads: every byte is the low byte of its packet's seq_nr.
        for byte in bytes { precondition(byte == first, "delivered bytes of two packets as one") }
        // Empty DATA packets deliver nothing, so the next delivery may skip seq_nrs,
        // but it must move forward, and never deliver one seq_nr twice.
        if let previous = expectedNext {
            let step = first &- UInt8(truncatingIfNeeded: previous)
            precondition(step >= 1 && step <= 200, "out of order: got \(first) after \(UInt8(truncatingIfNeeded: previous))")
        }
        expectedNext = UInt16(first)
    }
}

struct UTPFuzzReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var isAtEnd: Bool { offset >= bytes.count }
    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func take(_ count: Int) -> UnsafeRawBufferPointer {
        let n = min(count, bytes.count - offset)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }
}

func runUTPFuzzProgram(_ input: UnsafeRawBufferPointer) {
    var configuration = UTPConfiguration()
    configuration.maximumConnections = 4
    configuration.sendBufferBytes = 8192
    configuration.sendSlots = 32
    configuration.reorderSlots = 16
    configuration.reorderSlotBytes = 256
    configuration.receiveWindow = 4096
    let peer = UTPFuzzPeer()
    struct Fixed: RandomNumberGenerator {
        var state: UInt64 = 0x1234
        mutating func next() -> UInt64 { state &+= 0x9E37_79B9_7F4A_7C15; return state }
    }
    let endpoint = UTPEndpoint(configuration: configuration, output: peer, random: Fixed())
    endpoint.listener = peer
    let address = try! SocketAddress("127.0.0.1", port: 7000)
    var now: UInt64 = 1_000_000_000
    var reader = UTPFuzzReader(bytes: input)
    var packet = [UInt8](repeating: 0, count: 1024)
    var peerSequence: UInt16 = 500
    var writeBuffer = [UInt8](repeating: 0x5A, count: 2048)
    var steps = 0
    while !reader.isAtEnd && steps < 4096 {
        steps += 1
        switch reader.byte() % 8 {
        case 0:
            let raw = reader.take(Int(reader.byte()))
            if peer.accepted != nil { peer.rawUsed = true }
            endpoint.receive(raw, from: address, now: now)
        case 1:
            now &+= UInt64(reader.byte()) * 5_000_000
            endpoint.poll(now: now)
        case 2:
            endpoint.flushAcks(now: now)
        case 3:
            let id = UInt16(reader.byte()) << 8 | UInt16(reader.byte())
            let length = packet.withUnsafeMutableBytes { raw in
                PacketWriter.write(.init(type: .syn, connectionID: id, timestamp: UInt32(truncatingIfNeeded: now / 1000),
                                         timestampDifference: 0, windowSize: 65_536, sequenceNumber: peerSequence, ackNumber: 0),
                                   into: raw.baseAddress!)
            }
            packet.withUnsafeBytes { endpoint.receive(UnsafeRawBufferPointer(rebasing: $0[0..<length]), from: address, now: now) }
        case 4:
            guard let connection = peer.accepted else { continue }
            let control = reader.byte()
            let type = PacketType(rawValue: control % 5) ?? .data
            let seqDelta = Int(Int8(bitPattern: reader.byte())) / 8
            let ackDelta = UInt16(reader.byte() % 8)
            let sackLength = Int(reader.byte() % 12)
            let payloadLength = Int(reader.byte()) % 200
            let sequence = UInt16(truncatingIfNeeded: Int(peerSequence) + 1 + seqDelta)
            if seqDelta == 0 && (type == .data || type == .fin) { peerSequence = sequence }
            var length = packet.withUnsafeMutableBytes { raw in
                PacketWriter.write(.init(type: type, connectionID: connection.receiveID,
                                         timestamp: UInt32(truncatingIfNeeded: now / 1000), timestampDifference: 1000,
                                         windowSize: UInt32(reader.byte()) << 8, sequenceNumber: sequence,
                                         ackNumber: peer.lastSentSequence &- 1 &- ackDelta), into: raw.baseAddress!)
            }
            if sackLength > 0 {
                packet[1] = 1
                packet[length] = 0
                packet[length + 1] = UInt8(sackLength)
                for index in 0..<sackLength { packet[length + 2 + index] = reader.byte() }
                length += 2 + sackLength
            }
            for index in 0..<payloadLength { packet[length + index] = UInt8(truncatingIfNeeded: sequence) }
            length += type == .data ? payloadLength : 0
            packet.withUnsafeBytes { endpoint.receive(UnsafeRawBufferPointer(rebasing: $0[0..<length]), from: address, now: now) }
        case 5:
            let count = Int(reader.byte()) * 8
            writeBuffer.withUnsafeBytes { raw in
                _ = peer.accepted?.write(UnsafeRawBufferPointer(rebasing: raw[0..<count]), now: now)
                _ = peer.outgoing?.write(UnsafeRawBufferPointer(rebasing: raw[0..<count]), now: now)
            }
        case 6:
            peer.accepted?.shutdown(now: now)
        default:
            if peer.outgoing == nil {
                peer.outgoing = try? endpoint.connect(to: try! SocketAddress("127.0.0.2", port: 7001), now: now)
                peer.outgoing?.delegate = peer
            }
        }
        precondition(endpoint.connectionCount <= configuration.maximumConnections)
    }
    writeBuffer[0] = 0
}
