import ArgumentParser
import CFeedReactor
import Histogram
import Reactor
import ReliableUDP

/// `feedreactor rudp-bench --connect ADDR:PORT`: sends messages to a
/// `rudp-echo`, measures each one's round trip, prints
/// `msgs_per_s=<n> delivered=<n> resent=<n> p50_us=<x> p99_us=<x> p999_us=<x>`
/// (one-way latency as RTT/2). Exit 0 only when every `delivery` message came back.
struct RudpBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rudp-bench",
        abstract: "ReliableUDP throughput and latency against rudp-echo.")

    @Option(help: "The rudp-echo address, ADDR:PORT.") var connect: String
    @Option(help: "none, order or delivery.") var guarantee: Guarantee = .delivery
    @Option(help: "Message bytes (at least 16).") var size: Int = 64
    @Option(help: "Messages to send.") var messages: Int = 100_000
    @Option(help: "delivery messages in flight (sent, not yet echoed) at most.") var window: Int = 64
    @Option(name: .customLong("grouping-us"), help: "Coalesce messages for up to this many µs (0: off).")
    var groupingMicroseconds: UInt64 = 0
    @Option(name: .customLong("key-file"), help: "Pre-shared key (as for rudp-echo).") var keyFile: String?
    @Option(help: "Give up after this many seconds.") var timeout: Double = 60
    @Option(name: .customLong("granularity-us"),
            help: "Timer granularity (RFC 9002 §6.1.2 kGranularity) in µs: the floor of the loss time threshold and of the PTO. The RFC recommends 1000; the reactor's timers tick every 100.")
    var granularityMicroseconds: UInt64 = 100

    func run() throws {
        guard size >= 16 else { throw ValidationError("--size must be at least 16 (index and timestamp)") }
        let reactor = try Reactor()
        let socket = try UDPSocket()
        try socket.connect(to: SocketAddress(parsing: connect))
        _ = try? socket.setReceiveBuffer(bytes: 8 << 20)
        var configuration = Configuration()
        configuration.maxMessageSize = max(size, 64)
        guard granularityMicroseconds > 0 else { throw ValidationError("--granularity-us must be at least 1") }
        configuration.granularity = granularityMicroseconds * 1000
        if groupingMicroseconds > 0 { configuration.grouping = .init(delay: groupingMicroseconds * 1000) }
        let protection = try clientProtection(keyFile: keyFile)
        let client = BenchClient(guarantee: guarantee, size: size, messages: messages, window: window)
        let endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, configuration: configuration,
                                    protection: protection, delegate: client)
        client.endpoint = endpoint
        try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: Stopper())
        try reactor.run()
        let elapsed = Double(max(1, client.lastReceive &- client.firstSend)) / 1e9
        let h = client.oneWay
        func micros(_ percentile: Double) -> String { fixed(Double(h.valueAtPercentile(percentile)) / 1000, 1) }
        let resent = endpoint.connection?.counters.retransmitted ?? 0
        print("msgs_per_s=\(Int(Double(client.delivered) / elapsed)) delivered=\(client.delivered) resent=\(resent) "
              + "p50_us=\(micros(50)) p99_us=\(micros(99)) p999_us=\(micros(99.9))")
        if let connection = endpoint.connection {
            note("sent=\(client.sent) packets_sent=\(connection.counters.packetsSent) lost=\(connection.counters.packetsLost) "
                 + "pto=\(connection.counters.probeTimeouts) cwnd=\(connection.congestionWindow) srtt_us=\(connection.rtt.smoothed / 1000) "
                 + "duplicates=\(client.duplicates) state=\(connection.state)")
        } else {
            note("rudp-bench: no handshake with \(connect) within \(timeout) s; is rudp-echo running there (and with the same --key-file)?")
        }
        if guarantee == .delivery && client.delivered != UInt64(messages) {
            note("rudp-bench: \(UInt64(messages) - client.delivered) delivery messages did not come back")
            throw ExitCode(1)
        }
        if endpoint.connection == nil { throw ExitCode(1) }
    }
}

final class BenchClient: EndpointDelegate, TimerHandler {
    let guarantee: Guarantee
    let messages: Int
    let window: Int
    let payload: UnsafeMutableRawBufferPointer
    var endpoint: Endpoint?
    var sent = 0
    var delivered: UInt64 = 0
    var duplicates: UInt64 = 0
    var firstSend: UInt64 = 0
    var lastReceive: UInt64 = 0
    var seen: [Bool]
    var oneWay = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    init(guarantee: Guarantee, size: Int, messages: Int, window: Int) {
        self.guarantee = guarantee
        self.messages = messages
        self.window = window
        payload = .allocate(byteCount: size, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        seen = [Bool](repeating: false, count: messages)
    }

    func endpointEstablished(_ endpoint: Endpoint) {
        firstSend = fr_monotonic_ns()
        pump()
    }

    func endpointWritable(_ endpoint: Endpoint) { pump() }

    func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage) {
        let now = fr_monotonic_ns()
        guard message.bytes.count >= 16 else { return }
        let index = Int(UInt64(littleEndian: message.bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        let stamp = UInt64(littleEndian: message.bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard index < messages, !seen[index] else { duplicates += 1; return }
        seen[index] = true
        delivered += 1
        lastReceive = now
        if now > stamp { _ = oneWay.record((now - stamp) / 2) }
        if delivered == UInt64(messages) { endpoint.reactor.stop(); return }
        pump()
    }

    func endpoint(_ endpoint: Endpoint, ended state: Connection.State) {
        note("rudp-bench: connection ended (\(state))")
        endpoint.reactor.stop()
    }

    /// Unreliable tiers end one second after the last send, whatever came back.
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) { reactor.stop() }

    func pump() {
        guard let endpoint else { return }
        // Unreliable tiers are not windowed (a lost echo would hold a slot forever).
        let limit = guarantee == .delivery ? window : Int.max
        while sent < messages && sent - Int(delivered) < limit {
            let index = UInt64(sent)
            let stamp = fr_monotonic_ns()
            payload.storeBytes(of: index.littleEndian, toByteOffset: 0, as: UInt64.self)
            payload.storeBytes(of: stamp.littleEndian, toByteOffset: 8, as: UInt64.self)
            do throws(SendError) {
                try endpoint.send(guarantee, UnsafeRawBufferPointer(payload))
            } catch {
                if case .wouldBlock = error {} else { note("rudp-bench: \(error)"); endpoint.reactor.stop() }
                return
            }
            sent += 1
            if sent == messages && guarantee != .delivery {
                _ = try? endpoint.reactor.schedule(after: 1_000_000_000, handler: self)
            }
        }
    }
}
