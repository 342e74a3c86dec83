// swift run -c release MoldThroughput [--runs 5] [--packets 100000] [--rounds 10] [--loss-every N] [--poll-every N]
//
// In-memory MoldUDP64 parse + sequence throughput: 10-message packets built up
// front in one buffer, then each run validates every packet (`Packet(_:)`) and
// feeds it to a `Session` (`receive(_:now:)`), whose consumer touches each
// message. Prints messages/second per run and the median.
//
// With --loss-every N, every Nth packet is held back and handed over later as a
// retransmission (30 packets later), so the reorder buffer's store-and-drain
// path is measured too ("recovering" steady state). The late packet goes in
// through `Rerequester.receiveAnswer(_:from:session:now:)` from a configured
// server address, and `Rerequester.poll(now:session:)` runs after every packet,
// so the loop covers every call a reactor Client makes per datagram and tick.
//
// With scripts/malloc_count.so preloaded (scripts/malloc-count.sh builds and
// preloads it), also prints heap allocations per message inside the measured loop.
import MoldUDP64
import Reactor
#if canImport(Glibc)
import Glibc
#endif

final class Sink: MessageConsumer {
    var messages = 0
    var bytes = 0
    @inline(never)
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        messages &+= 1
        bytes &+= message.count
    }
}

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    return parsed
}

let runs = argument("--runs", default: 5)
let packetCount = argument("--packets", default: 100_000)
let lossEvery = argument("--loss-every", default: 0)
let rounds = argument("--rounds", default: 10)
// A reactor Client polls the Rerequester from a timer (about once a
// millisecond); polling after every packet, the default, is the worst case.
let pollEvery = max(1, argument("--poll-every", default: 1))
let perPacket = 10

// Build the stream: packet i holds messages i*10+1 ... i*10+10 of 8...40 bytes.
var stream: [UInt8] = []
var offsets: [Int] = []
var random = SystemRandomNumberGenerator()
let session = Array("BENCH00001".utf8)
for index in 0..<packetCount {
    offsets.append(stream.count)
    stream.append(contentsOf: session)
    withUnsafeBytes(of: UInt64(index * perPacket + 1).bigEndian) { stream.append(contentsOf: $0) }
    withUnsafeBytes(of: UInt16(perPacket).bigEndian) { stream.append(contentsOf: $0) }
    for _ in 0..<perPacket {
        let size = Int.random(in: 8...40, using: &random)
        withUnsafeBytes(of: UInt16(size).bigEndian) { stream.append(contentsOf: $0) }
        stream.append(contentsOf: repeatElement(UInt8(size), count: size))
    }
}
offsets.append(stream.count)

// Arrival order: with loss, packet i (i % lossEvery == 0) arrives 30 packets later.
var order: [(packet: Int, retransmission: Bool)] = []
var held: [(due: Int, packet: Int)] = []
for index in 0..<packetCount {
    if lossEvery > 0 && index % lossEvery == lossEvery - 1 {
        held.append((index + 30, index))
    } else {
        order.append((index, false))
    }
    while let first = held.first, first.due <= index {
        order.append((first.packet, true))
        held.removeFirst()
    }
}
order.append(contentsOf: held.map { ($0.packet, true) })

typealias CountFunction = @convention(c) () -> UInt64
let mallocCount: CountFunction? = dlsym(nil, "mold_malloc_count")  // nil is RTLD_DEFAULT on glibc
    .map { unsafeBitCast($0, to: CountFunction.self) }

if let mallocCount {
    // Canary: building the stream allocated, so a working counter is non-zero here.
    print("allocations during setup: \(mallocCount())")
}

final class NoSend: RequestSink {
    var requests = 0
    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) { requests &+= 1 }
}

let sink = Sink()
let counters = MoldCounters()
let receiver = Session(configuration: .init(maxBufferedPackets: 4096, slotBytes: 512), counters: counters)
receiver.consumer = sink
let server = try! SocketAddress("127.0.0.1", port: 41_500)
let rerequester = try! Rerequester(configuration: .init(servers: [server], requestsPerSecond: 1_000_000_000,
                                                        requestBurst: 1_000), counters: counters)
let requestSink = NoSend()
rerequester.sink = requestSink
let serverName = server.withSockaddr { raw, length in Array(UnsafeRawBufferPointer(start: raw, count: Int(length))) }
let sessionID = SessionID("BENCH00001")!
var rates: [Double] = []
var now: UInt64 = 1
stream.withUnsafeBytes { all in
  serverName.withUnsafeBytes { source in
    order.withUnsafeBufferPointer { order in
        for run in 0..<runs {
            let allocationsBefore = mallocCount?() ?? 0
            let start = DispatchTimeLike.now()
            for _ in 0..<rounds {
                receiver.switchSession(to: sessionID, startingAt: 1)
                rerequester.reset()
                for (packet, retransmission) in order {
                    let bytes = UnsafeRawBufferPointer(rebasing: all[offsets[packet]..<offsets[packet + 1]])
                    if retransmission {
                        rerequester.receiveAnswer(bytes, from: source, session: receiver, now: now)
                    } else {
                        guard let parsed = try? Packet(bytes) else { fatalError("bench stream is malformed") }
                        receiver.receive(parsed, now: now)
                    }
                    if lossEvery > 0 && packet % pollEvery == 0 { rerequester.poll(now: now, session: receiver) }
                    now &+= 1_000
                }
            }
            let seconds = Double(DispatchTimeLike.now() - start) / 1e9
            let allocations = (mallocCount?() ?? 0) - allocationsBefore
            let messages = Double(rounds * packetCount * perPacket)
            rates.append(messages / seconds)
            var line = "run \(run + 1): \(Int(messages / seconds)) messages/s"
            if mallocCount != nil { line += ", \(allocations) allocations (\(Double(allocations) / messages) per message)" }
            print(line)
        }
    }
  }
}
precondition(receiver.nextExpected == UInt64(packetCount * perPacket + 1), "not everything was delivered")
let sorted = rates.sorted()
print("median: \(Int(sorted[sorted.count / 2])) messages/s (\(rounds * packetCount * perPacket) messages per run, loss-every \(lossEvery), delivered \(sink.messages), recovered \(counters.recovered), requests \(counters.requests))")

enum DispatchTimeLike {
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
