import ArgumentParser
import CFeedReactor
import Histogram
import Multicast
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor latency-bench`: one-way UDP latency over loopback through two
/// reactors (ping on one pinned thread, echo on another), reported as RTT/2 in
/// the same line format as the C baseline `Benchmarks/c/pingpong.c`. With
/// `--timestamps` the echo side also reads the kernel receive timestamp
/// (SO_TIMESTAMPNS) and reports how long after it the callback ran.
struct LatencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency-bench",
        abstract: "Ping-pong over loopback through two reactors; one-way latency percentiles.")

    @Option(help: "Round trips measured.") var count: Int = 100_000
    @Option(help: "Round trips before measuring.") var warmup: Int = 10_000
    @Option(help: "Datagram bytes.") var size: Int = 64
    @Option(help: IdleOption.help) var idle: IdleOption = IdleOption(argument: "spin")!
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
    @Option(name: .customLong("pin"), help: "CPU of the ping side.") var pingCPU: Int = 0
    @Option(name: .customLong("echo-pin"), help: "CPU of the echo side.") var echoCPU: Int = 1
    @Flag(help: "Kernel receive timestamps on the echo side.") var timestamps = false
    @Flag(name: .customLong("no-busy-poll"),
          help: "Spin through epoll_wait rather than reading the sockets directly (Configuration.busyPollSockets = 0).")
    var noBusyPoll = false

    var configuration: Reactor.Configuration {
        var configuration = Reactor.Configuration(backend: backend)
        if noBusyPoll { configuration.busyPollSockets = 0 }
        return configuration
    }

    func run() throws {
        let echoSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        if timestamps { try echoSocket.setOption(level: SOL_SOCKET, name: SO_TIMESTAMPNS, value: 1, call: "setsockopt(SO_TIMESTAMPNS)") }
        let echoAddress = try echoSocket.localAddress()
        let echo = EchoThread(socket: echoSocket, configuration: configuration, idle: idle.strategy, cpu: echoCPU, timestamps: timestamps)
        try echo.start()

        try? Reactor.pinCurrentThread(toCPU: pingCPU)
        let reactor = try Reactor(configuration)
        let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        // Connected, as the C pinger is: each send skips the route lookup an
        // unconnected sendto makes, and only the echo side's answers arrive.
        try socket.connect(to: echoAddress)
        let pinger = Pinger(size: max(16, size), warmup: warmup, count: count)
        let token = try reactor.register(socket, options: ReceiveOptions(slotCount: 8), handler: pinger)
        pinger.socket = reactor.socket(for: token)
        pinger.sendNext()
        try reactor.run(idle: idle.strategy)
        pinger.finish()
        echo.join()

        let h = pinger.oneWay
        print("samples=\(h.totalCount) min_ns=\(h.min) p50_ns=\(h.valueAtPercentile(50)) p99_ns=\(h.valueAtPercentile(99)) "
              + "p999_ns=\(h.valueAtPercentile(99.9)) max_ns=\(h.max)")
        if timestamps, let k = echo.handler?.afterKernel, k.totalCount > 0 {
            note("kernel-receive-to-callback: p50_ns=\(k.valueAtPercentile(50)) p99_ns=\(k.valueAtPercentile(99)) "
                 + "p999_ns=\(k.valueAtPercentile(99.9)) (echo side, \(k.totalCount) samples)")
        }
        note("backend=\(reactor.backendKind) idle=\(idle.strategy)")
    }
}

/// Sends one datagram, waits for it to come back, records RTT/2, sends the next.
final class Pinger: DatagramHandler {
    let warmup: Int
    let count: Int
    var socket: UDPSocket?
    let payload: UnsafeMutableRawBufferPointer
    var sentAt: UInt64 = 0
    var round = 0
    var oneWay = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)

    init(size: Int, warmup: Int, count: Int) {
        self.warmup = warmup
        self.count = count
        payload = .allocate(byteCount: size, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { payload.deallocate() }

    func sendNext() {
        payload.storeBytes(of: UInt64(round).littleEndian, toByteOffset: 0, as: UInt64.self)
        payload.storeBytes(of: fr_realtime_ns().littleEndian, toByteOffset: 8, as: UInt64.self)
        sentAt = fr_monotonic_ns()
        _ = try? socket?.send(UnsafeRawBufferPointer(payload))
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        let now = fr_monotonic_ns()
        for datagram in batch where datagram.count >= 8 {
            guard UInt64(littleEndian: datagram.bytes.loadUnaligned(as: UInt64.self)) == UInt64(round) else { continue }
            if round >= warmup { _ = oneWay.record((now - sentAt) / 2) }
            round += 1
            if round == warmup + count {
                reactor.stop()
                return
            }
            sendNext()
        }
    }

    /// Tells the echo side to stop.
    func finish() {
        payload.storeBytes(of: UInt64.max, toByteOffset: 0, as: UInt64.self)
        _ = try? socket?.send(UnsafeRawBufferPointer(payload))
    }
}

/// Answers every datagram to its sender; stops at the end marker.
final class Echo: DatagramHandler {
    let timestamps: Bool
    var afterKernel = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)

    init(timestamps: Bool) { self.timestamps = timestamps }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        guard let socket = reactor.socket(for: batch.token) else { return }
        for datagram in batch where datagram.count >= 8 {
            if UInt64(littleEndian: datagram.bytes.loadUnaligned(as: UInt64.self)) == .max {
                reactor.stop()
                return
            }
            if timestamps, let received = datagram.kernelTimestamp {
                let now = fr_realtime_ns()
                if now > received { _ = afterKernel.record(now - received) }
            }
            let from = datagram.sourceAddress
            _ = try? socket.send(datagram.bytes, toRaw: from.baseAddress!, length: from.count)
        }
    }
}

/// The echo reactor on its own pinned thread.
final class EchoThread: @unchecked Sendable {
    let socket: UDPSocket
    let configuration: Reactor.Configuration
    let idle: IdleStrategy
    let cpu: Int
    let timestamps: Bool
    let thread = ReactorThread()
    var handler: Echo?

    init(socket: UDPSocket, configuration: Reactor.Configuration, idle: IdleStrategy, cpu: Int, timestamps: Bool) {
        self.socket = socket
        self.configuration = configuration
        self.idle = idle
        self.cpu = cpu
        self.timestamps = timestamps
    }

    func start() throws {
        try thread.start { [self] thread in
            try? Reactor.pinCurrentThread(toCPU: cpu)
            let reactor = try Reactor(configuration)
            let echo = Echo(timestamps: timestamps)
            handler = echo
            try reactor.register(socket, options: ReceiveOptions(slotCount: 8, controlSize: timestamps ? 64 : 0), handler: echo)
            thread.ready()
            try reactor.run(idle: idle)
        }
    }

    func join() { thread.join() }
}
