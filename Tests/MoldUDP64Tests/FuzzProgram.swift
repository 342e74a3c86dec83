// The MoldUDP64 fuzz program, shared by Fuzz/MoldFuzz.swift (libFuzzer) and
// FuzzRegressionTests (replays of inputs that once failed).
import MoldUDP64
import Reactor

final class FuzzChecker: MessageConsumer, RequestSink {
    var expected: UInt64 = 1
    var requests = 0

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        precondition(sequence == expected, "delivered \(sequence), expected \(expected)")
        expected = sequence &+ 1
        // Touch every byte so AddressSanitizer sees any out-of-bounds view.
        var sum: UInt8 = 0
        for byte in message { sum &+= byte }
        fuzzBlackHole(sum)
    }

    func lost(firstSequence: UInt64, count: UInt64) {
        precondition(firstSequence == expected && count > 0, "lost \(firstSequence)+\(count), expected \(expected)")
        expected = firstSequence &+ count
    }

    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
        precondition(count >= 1 && count < 0xFFFF && serverIndex == 0)
        requests += 1
    }
}

@inline(never) func fuzzBlackHole(_ value: UInt8) { if value == 0x5A && Int.random(in: 0..<2) == 7 { print(value) } }

let fuzzServer = try! SocketAddress("127.0.0.1", port: 41_999)
let fuzzStranger = try! SocketAddress("127.0.0.2", port: 41_999)
let fuzzSessionBytes: [UInt8] = Array("FUZZ      ".utf8)

/// A data packet of `count` messages from `first`; message sizes come from `sizes`.
func fuzzPacket(first: UInt64, count: Int, sizes: UInt8, kind: UInt16? = nil) -> [UInt8] {
    var bytes = fuzzSessionBytes
    withUnsafeBytes(of: first.bigEndian) { bytes.append(contentsOf: $0) }
    withUnsafeBytes(of: (kind ?? UInt16(count)).bigEndian) { bytes.append(contentsOf: $0) }
    if kind == nil {
        for index in 0..<count {
            let size = Int((sizes &+ UInt8(truncatingIfNeeded: index) &* 37) % 90)
            withUnsafeBytes(of: UInt16(size).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: repeatElement(UInt8(truncatingIfNeeded: first &+ UInt64(index)), count: size))
        }
    }
    return bytes
}

/// Runs one fuzz input (see Fuzz/MoldFuzz.swift for the operation encoding).
/// Shared by the libFuzzer target and FuzzRegressionTests; a broken invariant traps.
@discardableResult
func runMoldFuzzProgram(_ input: UnsafeRawBufferPointer) -> MoldCounters {
    let size = input.count
    // 1. The input itself as one datagram.
    if let packet = try? Packet(input) {
        var total = 0
        for message in packet.messages { total &+= message.bytes.count }
        precondition(total <= size)
    }
    // 2. The input as a program against a Session + Rerequester.
    let counters = MoldCounters()
    let session = Session(configuration: .init(reorderWindow: 1_000_000, reorderWindowPackets: 2,
                                               maxBufferedPackets: 8, slotBytes: 64), counters: counters)
    let rerequester = try! Rerequester(configuration: .init(servers: [fuzzServer], maxMessagesPerRequest: 7,
                                                            maxInFlight: 4, requestTimeout: 500_000,
                                                            giveUpAfter: 1_000_000, silenceDeadline: 2_000_000, requestsPerSecond: 100_000,
                                                            requestBurst: 4), counters: counters)
    let checker = FuzzChecker()
    session.consumer = checker
    rerequester.sink = checker
    var now: UInt64 = 1_000_000_000
    var offset = 0
    func byte() -> UInt8? {
        guard offset < size else { return nil }
        defer { offset += 1 }
        return input[offset]
    }
    func withSource(_ address: SocketAddress, _ body: (UnsafeRawBufferPointer) -> Void) {
        address.withSockaddr { raw, length in body(UnsafeRawBufferPointer(start: raw, count: Int(length))) }
    }
    while let op = byte() {
        switch op & 7 {
        case 0, 1:
            let length = min(Int(byte() ?? 0) * 2, size - offset)
            let datagram = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + length)])
            offset += length
            if op & 7 == 0 {
                _ = try? session.receive(datagram, now: now)
            } else {
                withSource(fuzzServer) { rerequester.receiveAnswer(datagram, from: $0, session: session, now: now) }
            }
        case 2:
            now &+= UInt64(byte() ?? 0) * 50_000
            rerequester.poll(now: now, session: session)
        case 3, 5:
            let delta = Int64(Int8(bitPattern: byte() ?? 0))
            let count = Int((byte() ?? 0) % 12) + 1
            let first = UInt64(max(1, Int64(truncatingIfNeeded: session.nextExpected) &+ delta))
            let packet = fuzzPacket(first: first, count: count, sizes: byte() ?? 0)
            packet.withUnsafeBytes { raw in
                if op & 7 == 3 {
                    _ = try? session.receive(raw, now: now)
                } else {
                    withSource(fuzzServer) { rerequester.receiveAnswer(raw, from: $0, session: session, now: now) }
                    rerequester.poll(now: now, session: session)
                }
            }
        case 4:
            let delta = UInt64(byte() ?? 0)
            let kind: UInt16 = (op & 8) == 0 ? 0 : 0xFFFF
            fuzzPacket(first: session.nextExpected &+ delta, count: 0, sizes: 0, kind: kind).withUnsafeBytes {
                _ = try? session.receive($0, now: now)
            }
        case 6:
            let start = session.nextExpected &+ UInt64(byte() ?? 0)
            session.markUnrecoverable(start..<(start &+ UInt64(byte() ?? 1)))
        default:
            let packet = fuzzPacket(first: session.nextExpected, count: 3, sizes: byte() ?? 0)
            let before = counters.delivered
            packet.withUnsafeBytes { raw in
                withSource(fuzzStranger) { rerequester.receiveAnswer(raw, from: $0, session: session, now: now) }
            }
            precondition(counters.delivered == before, "an answer from an unknown address was delivered")
        }
        precondition(session.bufferedPackets <= 8, "reorder buffer over its bound")
        precondition(rerequester.inFlightCount <= 4, "more requests in flight than allowed")
    }
    return counters
}
