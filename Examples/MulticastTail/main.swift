// swift run -c release MulticastTail --group 239.1.1.1 --port 41000 --interface lo
//
// Joins one or more multicast groups on one port and prints, every second, the
// datagrams and bytes per second of each group (told apart by the pktinfo
// destination of every datagram). Options:
//   --group G            repeat for several groups on the same port
//   --interface I        name (eth0), index (2) or address (10.0.0.5, fe80::1%eth0)
//   --source S           the sender for source-specific groups (232/8, ff3x::)
//   --timestamps         also print the mean kernel-to-handler latency
//   --seconds N          stop after N seconds (default: until Ctrl-C)
//   --backend epoll|uring|auto
// Try it on one host: (IPv6 needs a real interface, not lo)
//   swift run MulticastTail --group 239.1.1.1 --group 239.1.1.2 --port 41000 --interface lo
// and send with anything that sends multicast, e.g.
//   python3 -c 'import socket,struct,time;s=socket.socket(2,2);s.setsockopt(0,32,struct.pack("4s4si",bytes(4),bytes(4),1))
//   while 1: s.sendto(b"x"*64,("239.1.1.1",41000)); time.sleep(0.001)'
import ArgumentParser
import Multicast
import Reactor

/// Counts per subscription on the receive path (preallocated arrays, no
/// allocation per datagram) and prints once a second from a reactor timer.
final class RateCounter: DatagramHandler, TimerHandler {
    let receiver: MulticastReceiver
    var datagrams: [UInt64]
    var bytes: [UInt64]
    var latencyTotal: UInt64 = 0
    var latencySamples: UInt64 = 0
    var unmatched: UInt64 = 0
    var lastReport: UInt64 = 0

    init(receiver: MulticastReceiver) {
        self.receiver = receiver
        datagrams = Array(repeating: 0, count: receiver.memberships.count)
        bytes = Array(repeating: 0, count: receiver.memberships.count)
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        let now = receiver.options.timestamps ? PacketInfo.realtimeNow() : 0
        for datagram in batch {
            let info = datagram.packetInfo
            guard let destination = info.destination,
                  let index = receiver.subscriptionIndex(destination: destination, source: datagram.sourceIP,
                                                        interfaceIndex: info.interfaceIndex ?? 0) else {
                unmatched &+= 1
                continue
            }
            datagrams[index] &+= 1
            bytes[index] &+= UInt64(datagram.count)
            if let received = info.kernelTimestamp, now >= received {
                latencyTotal &+= now - received
                latencySamples &+= 1
            }
        }
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        let elapsed = Double(now - lastReport) / 1e9
        lastReport = now
        var line = ""
        for (index, membership) in receiver.memberships.enumerated() {
            let rate = Double(datagrams[index]) / elapsed
            let megabits = Double(bytes[index]) * 8 / elapsed / 1e6
            line += "\(membership.subscription.group): \(Int(rate)) dgram/s \((megabits * 100).rounded() / 100) Mbit/s  "
            datagrams[index] = 0
            bytes[index] = 0
        }
        if latencySamples > 0 {
            line += "latency \(latencyTotal / latencySamples / 1000) µs  "
            latencyTotal = 0
            latencySamples = 0
        }
        if unmatched > 0 { line += "other \(unmatched)" }
        print(line)
    }
}

final class Stopper: TimerHandler {
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) { reactor.stop() }
}

@main
struct MulticastTail: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join multicast groups and print rates per group.")

    @Option(name: .long, help: "A group to join (repeat for several on the same port).")
    var group: [String]
    @Option(name: .long, help: "The UDP port.")
    var port: UInt16
    @Option(name: .long, help: "Interface: name, index or address (fe80::1%eth0).")
    var interface: String?
    @Option(name: .long, help: "Source for SSM groups (232/8, ff3x::).")
    var source: String?
    @Flag(name: .long, help: "Measure kernel-to-handler latency (SO_TIMESTAMPNS).")
    var timestamps = false
    @Option(name: .long, help: "Stop after this many seconds.")
    var seconds: Double?
    @Option(name: .long, help: "epoll, uring or auto.")
    var backend: String = "auto"

    func validate() throws {
        if group.isEmpty { throw ValidationError("give at least one --group") }
        if BackendKind(rawValue: backend) == nil { throw ValidationError("--backend is epoll, uring or auto") }
    }

    func run() throws {
        let interface = try interface.map { try MulticastInterface(parsing: $0) }
        let subscriptions = try group.map { try Subscription(group: $0, port: port, source: source, interface: interface) }
        let receiver = try MulticastReceiver(subscriptions[0], options: .init(timestamps: timestamps, receiveBufferBytes: 4 << 20))
        for subscription in subscriptions.dropFirst() { try receiver.join(subscription) }

        let reactor = try Reactor(backend: BackendKind(rawValue: backend)!)
        let counter = RateCounter(receiver: receiver)
        counter.lastReport = reactor.now
        try receiver.register(with: reactor, handler: counter)
        try reactor.schedule(after: 1_000_000_000, period: 1_000_000_000, handler: counter)
        let stopper = Stopper()
        if let seconds { try reactor.schedule(after: Nanoseconds.seconds(seconds), handler: stopper) }
        print("joined \(subscriptions.map(\.description).joined(separator: ", ")) on \(reactor.backendKind)")
        try reactor.run()
    }
}
