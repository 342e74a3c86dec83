// swift run -c release MoldCapture -w FILE [--messages 10000000] [--per-packet 10] [--seed 1]
//
// Writes a MoldUDP64 session as a pcap capture (PcapWriter: Ethernet + IPv4 +
// UDP to 239.1.1.1:41000, one packet every 10 µs of capture time), shaped like
// Examples/MoldThroughput's in-memory stream: session BENCH00001, --per-packet
// messages of 8...40 bytes each, then an end-of-session packet. Benchmarks/capture.sh
// uses it to measure `feedreactor listen --pcap` against MoldThroughput.
import Capture
import MoldUDP64
#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

guard let path = argument("-w") else {
    print("usage: MoldCapture -w FILE [--messages N] [--per-packet N] [--seed S]")
    exit(1)
}

/// Everything in one function: its locals are not main-actor globals.
func generate(path: String) throws {
    let messages = UInt64(argument("--messages") ?? "") ?? 10_000_000
    let perPacket = UInt64(argument("--per-packet") ?? "") ?? 10
    var random = SplitMix64(seed: UInt64(argument("--seed") ?? "") ?? 1)
    let session = Array("BENCH00001".utf8)
    let writer = try PcapWriter(path: path, bufferBytes: 4 << 20)
    let source = PcapWriter.Endpoint(CapturedAddress(ipv4: 0x0A00_0001), port: 30_000)
    let destination = PcapWriter.Endpoint(CapturedAddress(ipv4: 0xEF01_0101), port: 41_000)
    var packet = [UInt8](repeating: 0, count: 20 + Int(perPacket) * 42)
    var time: UInt64 = 1_764_579_000_000_000_000

    func header(_ sequence: UInt64, _ count: UInt16) {
        for index in 0..<10 { packet[index] = session[index] }
        for index in 0..<8 { packet[10 + index] = UInt8(truncatingIfNeeded: sequence >> (56 - 8 * UInt64(index))) }
        packet[18] = UInt8(count >> 8)
        packet[19] = UInt8(count & 0xFF)
    }

    func emit(_ length: Int) throws {
        try packet.withUnsafeBytes { try writer.writeUDP(UnsafeRawBufferPointer(rebasing: $0[0..<length]), timestamp: time,
                                                         source: source, destination: destination) }
        time += 10_000
    }

    var next: UInt64 = 1
    while next <= messages {
        let count = min(perPacket, messages - next + 1)
        header(next, UInt16(count))
        var length = 20
        for _ in 0..<count {
            let size = 8 + Int(random.next() % 33)
            packet[length] = 0
            packet[length + 1] = UInt8(size)
            for index in 0..<size { packet[length + 2 + index] = UInt8(size) }
            length += 2 + size
        }
        try emit(length)
        next += count
    }
    header(next, 0xFFFF)
    try emit(20)
    try writer.close()
    print("wrote \(path): \(messages) messages in \(writer.records) packets, \(writer.bytesWritten) bytes")
}

try generate(path: path)
