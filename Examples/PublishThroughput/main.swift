// swift build -c release --product PublishThroughput && taskset -c 1 .build/release/PublishThroughput [--runs 5] [--messages 10000000] [--message-size 40] [--packet-size 1400] [--udp [--backend epoll|uring] [--coalesce]] [--cold-store] [--no-store]
//
// Publisher hot path throughput: append 40-byte messages (numbered, packed into
// 1400-byte MoldUDP64 packets, kept in the retransmission store; the sizes are
// options: `--packet-size 64 --message-size 42` sends one message a packet,
// the 20-byte header and a 2-byte length before each). `--coalesce` gathers an
// epoll duty cycle's packets into one sendmmsg (SendOptions.coalesce). Without --udp
// packets go to a sink that drops them (packing alone); with --udp each packet is
// sent through a reactor (epoll: sendto; io_uring: SQEs; --backend) on a socket
// connected (as the C baseline's) to a
// loopback socket nobody reads (the kernel drops what does not fit its buffer);
// the loop runs a reactor poll every --poll-every messages (default 64, the C
// baseline's sendmmsg batch), as a duty cycle would. Packets/s counts packets the
// sink handed over (a refused send is a send failure, not a packet). The store
// is prefaulted before each run (RetransmissionStore.prefault) so the run measures
// the steady state; --cold-store leaves the first lap's page faults in.
// --no-store publishes without one (no retransmission possible): what keeping
// each message costs, measured beside the rest.
// Prints messages/second and packets/second per run and the medians.
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
let messageSize = argument("--message-size", default: 40)
let packetSize = argument("--packet-size", default: 1400)
let useUDP = CommandLine.arguments.contains("--udp")
let coalesce = CommandLine.arguments.contains("--coalesce")
let keepMessages = !CommandLine.arguments.contains("--no-store")
/// Messages between reactor polls (a duty cycle's worth of appends).
let pollEvery = max(1, argument("--poll-every", default: 64))
let backend: BackendKind = CommandLine.arguments.firstIndex(of: "--backend")
    .flatMap { $0 + 1 < CommandLine.arguments.count ? BackendKind(rawValue: CommandLine.arguments[$0 + 1]) : nil } ?? .epoll
var packetRates: [Double] = []
let session = try SessionID(validating: "PUBBENCH01")
let target = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
let message = [UInt8](repeating: 0x5A, count: messageSize)
var rates: [Double] = []

for run in 1...runs {
    let store = keepMessages ? RetransmissionStore(messageCapacity: 1 << 20, byteCapacity: 64 << 20) : nil
    // Steady state, not the first lap's page faults (--cold-store keeps them).
    if !CommandLine.arguments.contains("--cold-store") { store?.prefault() }
    var configuration = Publisher.Configuration(session: session)
    configuration.flushDelay = 1_000_000_000   // packets close on size, not on time
    configuration.heartbeatInterval = 0
    configuration.maxPacketSize = packetSize
    // io_uring send buffers sized to the packets (as tx-bench sizes them), not the
    // 2 KiB default: the pool the kernel copies from stays small in cache.
    var reactorConfiguration = Reactor.Configuration(backend: backend)
    reactorConfiguration.uringSendBufferSize = max(64, packetSize)
    let reactor = try Reactor(reactorConfiguration)
    let sink: any PacketSink = useUDP
        ? try UDPPacketSink(reactor: reactor, socket: UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0)),
                            destination: try target.localAddress(), options: SendOptions(queueCapacity: 256, slotSize: max(64, packetSize), coalesce: coalesce),
                            connect: true)
        : DiscardingSink()
    let publisher = Publisher(configuration, sink: sink, store: store)
    let start = fr_monotonic_ns()
    try message.withUnsafeBytes { bytes in
        for i in 0..<messages {
            try publisher.append(bytes, now: 1)
            if i % pollEvery == pollEvery - 1 { try reactor.poll() }
        }
    }
    publisher.flush(now: 1)
    try reactor.poll()
    let seconds = Double(fr_monotonic_ns() - start) / 1e9
    rates.append(Double(messages) / seconds)
    packetRates.append(Double(publisher.counters.packetsSent) / seconds)
    print("run \(run): \(Int(rates.last!)) messages/s \(Int(packetRates.last!)) packets/s "
          + "(\(publisher.counters.dataPackets) packets, \(publisher.counters.sendFailures) send failures)")
}
print("median: \(Int(rates.sorted()[rates.count / 2])) messages/s \(Int(packetRates.sorted()[packetRates.count / 2])) packets/s "
      + "(\(messages) messages of \(messageSize) bytes in packets of up to \(packetSize) per run, "
      + "\(useUDP ? "\(backend)\(coalesce ? " coalesced" : "") loopback" : "packing only")\(keepMessages ? "" : ", no store"))")
