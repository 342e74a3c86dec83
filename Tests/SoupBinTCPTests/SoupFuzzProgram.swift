import MoldUDP64
import SoupBinTCP

/// One fuzz input against both ends of SoupBinTCP. The first byte picks how
/// the rest is cut into reads (1 to 16 bytes, or all at once); the bytes go to a
/// server connection (as a client's stream) and to a client (as a server's
/// stream). Invariants (a violation traps, which libFuzzer reports): no read
/// past a buffer (AddressSanitizer), `consumed` never exceeds what was given,
/// the client delivers strictly increasing sequence numbers, the server's
/// connection count never goes negative, outputs never exceed their capacity.
/// Shared by Fuzz/SoupFuzz.swift and the regression tests.
public func runSoupFuzzProgram(_ input: UnsafeRawBufferPointer) {
    guard let first = input.first else { return }
    let body = UnsafeRawBufferPointer(rebasing: input[1...])
    let chunk = first == 0 ? max(1, body.count) : Int(first % 16) + 1

    final class Output: SoupOutput {
        var used = 0
        let capacity = 4096
        var writableSpace: Int { capacity - used }
        func write(_ bytes: UnsafeRawBufferPointer) {
            precondition(bytes.count <= writableSpace, "output overrun")
            used += bytes.count
            if used > capacity / 2 { used = 0 }   // the peer reads now and then
        }
    }
    final class Checker: MessageConsumer {
        var last: UInt64 = 0
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
            precondition(sequence > last || last == 0, "delivery out of order")
            last = sequence
        }
    }

    let store = RetransmissionStore(messageCapacity: 64, byteCapacity: 65_536)
    for index in 0..<8 { withUnsafeBytes(of: UInt64(index)) { _ = store.append($0) } }
    guard let server = try? SoupServer(configuration: .init(session: "FUZZ", maxConnections: 2), store: store) else {
        return
    }
    let checker = Checker()
    guard let client = try? SoupClient(configuration: .init(firstSequence: 1), consumer: checker) else { return }
    let output = Output()
    var now: UInt64 = 1_000_000_000
    client.connected(now: now, output: output)
    var connection = server.accept(now: now)
    var serverPending = 0
    var clientPending = 0
    var offset = 0
    while offset < body.count {
        let end = min(body.count, offset + chunk)
        serverPending = feed(body, from: offset - serverPending, to: end) { bytes in
            guard let open = connection else { return bytes.count }
            let (used, status) = open.receive(bytes, now: now, output: output)
            precondition(used <= bytes.count)
            if case .close = status { connection = server.accept(now: now) }
            return used
        }
        clientPending = feed(body, from: offset - clientPending, to: end) { bytes in
            let (used, status) = client.receive(bytes, now: now, output: output)
            precondition(used <= bytes.count)
            if case .close = status { client.disconnected(); client.connected(now: now, output: output) }
            return used
        }
        now &+= UInt64(body[offset]) << 24
        _ = connection?.service(now: now, output: output)
        _ = client.service(now: now, output: output)
        precondition(server.connectionCount >= 0 && server.connectionCount <= 2)
        offset = end
    }
}

/// Calls `handle` with body[start..<end] and returns how many bytes it left unconsumed.
private func feed(_ body: UnsafeRawBufferPointer, from start: Int, to end: Int,
                  _ handle: (UnsafeRawBufferPointer) -> Int) -> Int {
    let bytes = UnsafeRawBufferPointer(rebasing: body[max(0, start)..<end])
    return bytes.count - handle(bytes)
}
