// swift build -c release --product PublishThroughput && taskset -c 1 .build/release/PublishThroughput [--runs 5] [--messages 10000000] [--udp]
//
// Publisher hot path throughput: append 40-byte messages (numbered, packed into
// 1400-byte MoldUDP64 packets, kept in the retransmission store). Without --udp
// packets go to a sink that drops them (packing alone); with --udp each packet is
// sent with sendto to a loopback socket nobody reads (the kernel drops what does
// not fit its buffer). Prints messages/second per run and the median.
import CFeedReactor
import MoldUDP64
import Reactor

final class DiscardingSink: PacketSink {
    var packets = 0
    func send(_ packet: UnsafeRawBufferPointer) -> Bool { packets += 1; return true }
}

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else { return value }
    return parsed
}

let runs = argument("--runs", default: 5)
let messages = argument("--messages", default: 10_000_000)
let useUDP = CommandLine.arguments.contains("--udp")
let session = try SessionID(validating: "PUBBENCH01")
let target = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
let sender = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
let message = [UInt8](repeating: 0x5A, count: 40)
var rates: [Double] = []

for run in 1...runs {
    let store = RetransmissionStore(messageCapacity: 1 << 20, byteCapacity: 64 << 20)
    var configuration = Publisher.Configuration(session: session)
    configuration.flushDelay = 1_000_000_000   // packets close on size, not on time
    configuration.heartbeatInterval = 0
    let sink: any PacketSink = useUDP ? UDPPacketSink(socket: sender, destination: try target.localAddress()) : DiscardingSink()
    let publisher = Publisher(configuration, sink: sink, store: store)
    let start = fr_monotonic_ns()
    try message.withUnsafeBytes { bytes in
        for _ in 0..<messages { try publisher.append(bytes, now: 1) }
    }
    publisher.flush(now: 1)
    let seconds = Double(fr_monotonic_ns() - start) / 1e9
    rates.append(Double(messages) / seconds)
    print("run \(run): \(Int(rates.last!)) messages/s (\(publisher.counters.dataPackets) packets)")
}
print("median: \(Int(rates.sorted()[rates.count / 2])) messages/s (\(messages) messages of 40 bytes per run, \(useUDP ? "sendto loopback" : "packing only"))")
