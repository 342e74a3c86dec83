import ArgumentParser
import CFeedReactor
import Histogram
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor tcp-bench sink|source|echo|pingpong`: TCP throughput and latency
/// on the reactor, with rx-bench's conventions (`ready` on stderr once
/// listening, one `key=value` result line on stdout).
struct TCPBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp-bench",
        abstract: "TCP bulk transfer, echo and ping-pong on the reactor.",
        subcommands: [Sink.self, Source.self, EchoServer.self, PingPong.self])

    struct Common: ParsableArguments {
        @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
        @Option(help: "block or spin.") var idle: IdleOption = IdleOption(argument: "block")!
        @Option(help: "Pin the reactor thread to this CPU.") var cpu: Int?
        @Option(help: "Give up after this many seconds (exit 1).") var timeout: Double = 120

        func reactor(maxRegistrations: Int = 1024) throws -> Reactor {
            if let cpu { _ = fr_pin_to_cpu(Int32(cpu)) }
            var configuration = Reactor.Configuration(backend: backend)
            configuration.maxRegistrations = maxRegistrations
            return try Reactor(configuration)
        }

        /// Runs until the handler stops the reactor, or the timeout (a timer).
        func run(_ reactor: Reactor) throws {
            let deadline = TimeoutTimer()
            try reactor.schedule(after: UInt64(timeout * 1e9), handler: deadline)
            try reactor.run(idle: idle.strategy)
            if deadline.fired { throw ValidationError("timed out after \(timeout) s") }
        }
    }

    struct Sink: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept one connection, read until EOF; prints gbps=<x> bytes=<n> (first to last byte).")
        @Option(help: "ADDR:PORT to listen on.") var listen: String
        @Option(help: "Receive buffer bytes per connection.") var receiveBuffer: Int = 256 * 1024
        @OptionGroup var common: Common

        func run() throws {
            let reactor = try common.reactor()
            let sink = ByteSink()
            var options = TCPListenerOptions(maxConnections: 1)
            options.stream.receiveCapacity = receiveBuffer
            options.stream.sendCapacity = 4096
            let listener = try TCPListener.bound(to: SocketAddress(parsing: listen))
            try reactor.listen(listener, options: options, handler: OneHandler(sink))
            note("ready")
            try common.run(reactor)
            let seconds = Double(sink.last &- sink.first) / 1e9
            print("gbps=\(fixed(seconds > 0 ? Double(sink.bytes) * 8 / seconds / 1e9 : 0)) bytes=\(sink.bytes)")
            note("backend=\(reactor.backendKind) read_stalls=\(reactor.tcpCounters.readStalls) cycles=\(reactor.counters.cycles)")
        }
    }

    struct Source: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connect and send N bytes as fast as the peer takes them.")
        @Option(help: "ADDR:PORT to connect to.") var connect: String
        @Option(help: "Bytes to send.") var bytes: Int
        @Option(help: "Bytes per write call.") var writeSize: Int = 64 * 1024
        @Option(help: "Send ring bytes.") var sendBuffer: Int = 256 * 1024
        @OptionGroup var common: Common

        func run() throws {
            let reactor = try common.reactor()
            let source = ByteSource(total: bytes, writeSize: writeSize)
            var options = TCPStreamOptions(receiveCapacity: 4096, sendCapacity: sendBuffer)
            options.sendLowWater = sendBuffer / 2
            try reactor.connect(to: SocketAddress(parsing: connect), options: options, timeout: 5_000_000_000, handler: source)
            try common.run(reactor)
            if let failure = source.failure { throw ValidationError("source: \(failure)") }
            let seconds = Double(source.last &- source.first) / 1e9
            print("bytes=\(source.sent) gbps=\(fixed(seconds > 0 ? Double(source.sent) * 8 / seconds / 1e9 : 0))")
        }
    }

    struct EchoServer: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "echo", abstract: "Echo every connection until the timeout.")
        @Option(help: "ADDR:PORT to listen on.") var listen: String
        @Option(help: "The most connections at once (a pool of that many is preallocated).") var maxConnections: Int = 10_000
        @Option(help: "Buffer bytes per connection, each way.") var buffer: Int = 16 * 1024
        @OptionGroup var common: Common

        func run() throws {
            let reactor = try common.reactor(maxRegistrations: maxConnections + 16)
            let pool = TCPConnectionPool(capacity: maxConnections, receiveCapacity: buffer, sendCapacity: buffer)
            var options = TCPListenerOptions(maxConnections: maxConnections, pool: pool)
            options.stream = TCPStreamOptions(receiveCapacity: buffer, sendCapacity: buffer)
            let listener = try TCPListener.bound(to: SocketAddress(parsing: listen), options: options)
            let echo = StreamEcho()
            try reactor.listen(listener, options: options, handler: OneHandler(echo))
            note("ready")
            do { try common.run(reactor) } catch is ValidationError {}   // the timeout ends an echo server
            let c = reactor.tcpCounters
            note("accepted=\(c.accepted) over_limit=\(c.overLimit) bytes=\(c.bytesReceived) resets=\(c.resets) "
                 + "cycles=\(reactor.counters.cycles) busy_poll_cycles=\(reactor.counters.busyPollCycles)")
        }
    }

    struct PingPong: ParsableCommand {
        // DESIGN.md's contract spells it `pingpong` (the default would be `ping-pong`).
        static let configuration = CommandConfiguration(
            commandName: "pingpong",
            abstract: "Ping-pong SIZE-byte messages; prints p50_ns p99_ns p999_ns (RTT/2) and msgs_per_s.")
        @Option(help: "ADDR:PORT of an echo server.") var connect: String
        @Option(help: "Round trips measured (over all connections).") var count: Int = 100_000
        @Option(help: "Round trips before measuring.") var warmup: Int = 10_000
        @Option(help: "Message bytes.") var size: Int = 64
        @Option(help: "Connections, each with one message in flight.") var connections: Int = 1
        @OptionGroup var common: Common

        func run() throws {
            guard size >= 8, connections >= 1, count >= 1 else { throw ValidationError("--size >= 8, --connections and --count >= 1") }
            let reactor = try common.reactor(maxRegistrations: connections + 16)
            let pool = TCPConnectionPool(capacity: connections, receiveCapacity: max(4096, size * 2), sendCapacity: max(4096, size * 2))
            let pinger = StreamPinger(size: size, warmup: warmup, count: count, connections: connections)
            let address = try SocketAddress(parsing: connect)
            for _ in 0..<connections {
                try reactor.connect(to: address, options: TCPStreamOptions(receiveCapacity: pool.receiveCapacity,
                                                                           sendCapacity: pool.sendCapacity),
                                    timeout: 10_000_000_000, pool: pool, handler: pinger)
            }
            try common.run(reactor)
            if let failure = pinger.failure { throw ValidationError("pingpong: \(failure)") }
            let h = pinger.oneWay
            let seconds = Double(pinger.finishedAt &- pinger.startedAt) / 1e9
            print("p50_ns=\(h.valueAtPercentile(50)) p99_ns=\(h.valueAtPercentile(99)) p999_ns=\(h.valueAtPercentile(99.9)) "
                  + "msgs_per_s=\(Int(seconds > 0 ? Double(pinger.measured) / seconds : 0))")
        }
    }
}

/// Ends a run that took too long.
final class TimeoutTimer: TimerHandler {
    var fired = false
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        fired = true
        reactor.stop()
    }
}

/// Hands every accepted connection to one stream handler.
final class OneHandler: TCPListenerHandler {
    let handler: any TCPStreamHandler
    init(_ handler: any TCPStreamHandler) { self.handler = handler }
    func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? { handler }
}

/// Counts bytes from the first to the last; stops the reactor at EOF.
final class ByteSink: TCPStreamHandler {
    var bytes = 0
    var first: UInt64 = 0
    var last: UInt64 = 0

    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        let now = fr_monotonic_ns()
        if bytes == 0 { first = now }
        last = now
        bytes += spans.count
        return spans.count
    }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) { reactor.stop() }
}

/// Writes `total` bytes in `writeSize` calls, as fast as the ring takes them.
final class ByteSource: TCPStreamHandler {
    let total: Int
    let chunk: UnsafeMutableRawBufferPointer
    var sent = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    var failure: TCPCloseReason?

    init(total: Int, writeSize: Int) {
        self.total = total
        chunk = .allocate(byteCount: max(1, writeSize), alignment: 64)
        chunk.initializeMemory(as: UInt8.self, repeating: 0x5A)
    }

    deinit { chunk.deallocate() }

    func connected(token: Token, reactor: Reactor) {
        first = fr_monotonic_ns()
        fill(token, reactor)
    }

    func writable(token: Token, reactor: Reactor) { fill(token, reactor) }

    func fill(_ token: Token, _ reactor: Reactor) {
        while sent < total {
            let n = reactor.write(token, UnsafeRawBufferPointer(rebasing: chunk[0..<min(chunk.count, total - sent)]))
            sent += n
            if n == 0 { return }
        }
        reactor.close(token, flush: true)
    }

    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int { spans.count }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
        last = fr_monotonic_ns()
        if reason != .local(flushed: true) { failure = reason }
        reactor.stop()
    }
}

/// Echoes what fits in the send ring; the rest waits (and reading pauses) until
/// `writable`.
final class StreamEcho: TCPStreamHandler {
    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        var consumed = reactor.write(token, spans.first)
        if consumed == spans.first.count && !spans.second.isEmpty { consumed += reactor.write(token, spans.second) }
        return consumed
    }

    func writable(token: Token, reactor: Reactor) { reactor.resumeReading(token) }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
}

/// C connections, each with one SIZE-byte message in flight: a message back in
/// full records RTT/2 and sends the next. The first 8 bytes carry the send time.
final class StreamPinger: TCPStreamHandler {
    let size: Int
    let warmup: Int
    let count: Int
    let connections: Int
    let payload: UnsafeMutableRawBufferPointer
    var connected = 0
    var rounds = 0
    var measured = 0
    var startedAt: UInt64 = 0
    var finishedAt: UInt64 = 0
    var failure: TCPCloseReason?
    var tokens: [Token] = []
    var oneWay = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    init(size: Int, warmup: Int, count: Int, connections: Int) {
        self.size = size
        self.warmup = warmup
        self.count = count
        self.connections = connections
        payload = .allocate(byteCount: size, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0)
        tokens.reserveCapacity(connections)
    }

    deinit { payload.deallocate() }

    func connected(token: Token, reactor: Reactor) {
        tokens.append(token)
        connected += 1
        // Everyone starts together, once all are connected.
        guard connected == connections else { return }
        if warmup == 0 { startedAt = fr_monotonic_ns() }
        for t in tokens { send(t, reactor) }
    }

    func send(_ token: Token, _ reactor: Reactor) {
        payload.storeBytes(of: fr_monotonic_ns(), toByteOffset: 0, as: UInt64.self)
        _ = reactor.write(token, UnsafeRawBufferPointer(payload))
    }

    func received(_ spans: ByteSpans, token: Token, reactor: Reactor) -> Int {
        var offset = 0
        while spans.count - offset >= size {
            var sentAt: UInt64 = 0
            withUnsafeMutableBytes(of: &sentAt) { spans.copyBytes(from: offset, count: 8, into: $0.baseAddress!) }
            let now = fr_monotonic_ns()
            offset += size
            rounds += 1
            if rounds == warmup { startedAt = now }
            if rounds > warmup {
                _ = oneWay.record((now &- sentAt) / 2)
                measured += 1
                if measured == count {
                    finishedAt = now
                    reactor.stop()
                    return offset
                }
            }
            send(token, reactor)
        }
        return offset
    }

    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {
        if measured < count {
            failure = reason
            reactor.stop()
        }
    }
}
