// scripts/fuzz.sh [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over MoldUDP64 input handling. Each input is read as a
// small program of operations, so the fuzzer reaches deep Session states (early
// packets, overlaps, eviction, lost markers, end of session) instead of only
// the header checks:
//
//   op 0: raw datagram (live)            op 1: raw datagram (answer from server 0)
//   op 2: advance the clock              op 3: synthetic data packet near nextExpected
//   op 4: synthetic heartbeat / end      op 5: synthetic answer + Rerequester.poll
//   op 6: give up on a range             op 7: answer from an unknown address
//
// Invariants checked on every delivery (a violation traps, which libFuzzer
// reports as a crash): sequence numbers are delivered exactly once, in order,
// without holes except reported losses; the reorder buffer never exceeds its
// configured size; nothing reads past a buffer (AddressSanitizer).
import MoldUDP64
import Reactor

final class Checker: MessageConsumer, RequestSink {
    var expected: UInt64 = 1
    var requests = 0

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        precondition(sequence == expected, "delivered \(sequence), expected \(expected)")
        expected = sequence &+ 1
        // Touch every byte so AddressSanitizer sees any out-of-bounds view.
        var sum: UInt8 = 0
        for byte in message { sum &+= byte }
        blackHole(sum)
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

@inline(never) func blackHole(_ value: UInt8) { if value == 0x5A && Int.random(in: 0..<2) == 7 { print(value) } }

let server = try! SocketAddress("127.0.0.1", port: 41_999)
let stranger = try! SocketAddress("127.0.0.2", port: 41_999)
let sessionBytes: [UInt8] = Array("FUZZ      ".utf8)

/// A data packet of `count` messages from `first`; message sizes come from `sizes`.
func synthesize(first: UInt64, count: Int, sizes: UInt8, kind: UInt16? = nil) -> [UInt8] {
    var bytes = sessionBytes
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
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
    let rerequester = try! Rerequester(configuration: .init(servers: [server], maxMessagesPerRequest: 7,
                                                            maxInFlight: 4, requestTimeout: 500_000,
                                                            maxAttempts: 2, requestsPerSecond: 100_000,
                                                            requestBurst: 4), counters: counters)
    let checker = Checker()
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
                withSource(server) { rerequester.receiveAnswer(datagram, from: $0, session: session, now: now) }
            }
        case 2:
            now &+= UInt64(byte() ?? 0) * 50_000
            rerequester.poll(now: now, session: session)
        case 3, 5:
            let delta = Int64(Int8(bitPattern: byte() ?? 0))
            let count = Int((byte() ?? 0) % 12) + 1
            let first = UInt64(max(1, Int64(truncatingIfNeeded: session.nextExpected) &+ delta))
            let packet = synthesize(first: first, count: count, sizes: byte() ?? 0)
            packet.withUnsafeBytes { raw in
                if op & 7 == 3 {
                    _ = try? session.receive(raw, now: now)
                } else {
                    withSource(server) { rerequester.receiveAnswer(raw, from: $0, session: session, now: now) }
                    rerequester.poll(now: now, session: session)
                }
            }
        case 4:
            let delta = UInt64(byte() ?? 0)
            let kind: UInt16 = (op & 8) == 0 ? 0 : 0xFFFF
            synthesize(first: session.nextExpected &+ delta, count: 0, sizes: 0, kind: kind).withUnsafeBytes {
                _ = try? session.receive($0, now: now)
            }
        case 6:
            let start = session.nextExpected &+ UInt64(byte() ?? 0)
            session.markUnrecoverable(start..<(start &+ UInt64(byte() ?? 1)))
        default:
            let packet = synthesize(first: session.nextExpected, count: 3, sizes: byte() ?? 0)
            let before = counters.delivered
            packet.withUnsafeBytes { raw in
                withSource(stranger) { rerequester.receiveAnswer(raw, from: $0, session: session, now: now) }
            }
            precondition(counters.delivered == before, "an answer from an unknown address was delivered")
        }
        precondition(session.bufferedPackets <= 8, "reorder buffer over its bound")
        precondition(rerequester.inFlightCount <= 4, "more requests in flight than allowed")
    }
    return 0
}
