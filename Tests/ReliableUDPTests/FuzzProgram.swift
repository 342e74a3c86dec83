import ReliableUDP

/// The ReliableUDP fuzz program (Fuzz/RudpFuzz.swift runs it under libFuzzer;
/// FuzzRegressionTests replays kept inputs). The input is a sequence of
/// operations, each an op byte, a length byte and that many bytes:
///
///   op 0: the bytes as a raw datagram to the receiver
///   op 1: the bytes after a valid header (right connection id, fresh packet
///         number), so frames are reached
///   op 2: advance the clock by the first byte × 1 ms and run `maintain`
///   op 3: send the bytes from the receiver (it then has packets an ACK may name)
///
/// Invariants (a violation traps): delivery messages come out exactly once in
/// sequence order; nothing is delivered from a dropped datagram.
func runRudpFuzzProgram(_ input: UnsafeRawBufferPointer) {
    var configuration = Configuration()
    configuration.sendWindow = 64
    configuration.receiveWindow = 64
    configuration.maxMessageSize = 256
    configuration.maxDatagramSize = 700
    guard let connection = try? Connection(configuration: configuration, localID: 7, peerID: 9, now: 0) else {
        fatalError("fuzz configuration is invalid")
    }
    var now: UInt64 = 0
    var nextDelivery: UInt64 = 0
    var packetNumber: UInt64 = 0
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 300, alignment: 8)
    defer { scratch.deallocate() }
    var offset = 0
    while offset + 2 <= input.count {
        let op = input[offset] % 4
        let length = min(Int(input[offset + 1]), input.count - offset - 2)
        let bytes = UnsafeRawBufferPointer(rebasing: input[(offset + 2)..<(offset + 2 + length)])
        offset += 2 + length
        var deliveredHere = 0
        let deliver: (ReceivedMessage) -> Void = { message in
            deliveredHere += 1
            if message.guarantee == .delivery {
                precondition(message.sequence == nextDelivery || connection.nextExpected > message.sequence,
                             "delivery out of order")
                if message.sequence == nextDelivery { nextDelivery += 1 }
            }
            precondition(message.bytes.count <= 256, "message larger than the datagram allows")
        }
        switch op {
        case 0:
            let accepted = connection.receive(bytes, now: now, deliver: deliver)
            precondition(accepted || deliveredHere == 0, "delivered from a dropped datagram")
        case 1:
            let header: [UInt8] = [1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7] + withUnsafeBytes(of: packetNumber.bigEndian) { Array($0) }
            packetNumber += 1
            header.withUnsafeBytes { scratch.copyMemory(from: $0) }
            UnsafeMutableRawBufferPointer(rebasing: scratch[20..<(20 + length)]).copyMemory(from: bytes)
            let accepted = connection.receive(UnsafeRawBufferPointer(rebasing: scratch[0..<(20 + length)]),
                                              now: now, deliver: deliver)
            precondition(accepted || deliveredHere == 0, "delivered from a dropped datagram")
        case 2:
            now += UInt64(bytes.first ?? 1) * 1_000_000
            connection.maintain(now: now) { _ in true }
        default:
            try? connection.send(Guarantee(rawValue: (bytes.first ?? 0) % 3) ?? .none, bytes, now: now)
            connection.flush(now: now) { _ in true }
        }
    }
}
