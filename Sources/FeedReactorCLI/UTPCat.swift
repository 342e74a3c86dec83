import ArgumentParser
import CFeedReactor
import Reactor
import UTP
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor utp-cat`: netcat over µTP, used like libutp's `ucat`.
///
///     feedreactor utp-cat -l -p 9000 > received.bin          # listen
///     feedreactor utp-cat 127.0.0.1 9000 < file.bin          # connect and send
struct UTPCat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "utp-cat",
        abstract: "Copy stdin to a µTP stream and the stream to stdout (like libutp's ucat).",
        discussion: """
        Listen with -l [-p PORT] or connect to HOST PORT. Exits 0 once stdin has ended, \
        everything sent was acknowledged and the peer's FIN arrived. The last stderr line is \
        `bytes_in=<n> bytes_out=<n> resent=<n> rtt_ms=<x>`.
        """)

    @Flag(name: .short, help: "Listen for one incoming connection.") var listen = false
    @Option(name: .short, help: "Local UDP port (0: any).") var port: UInt16 = 0
    @Option(name: .short, help: "Local address to bind.") var source: String?
    @Option(help: "Give up after this many seconds (0: never).") var timeout: Double = 0
    @Option(help: """
        Path MTU ceiling in bytes, overriding the kernel's route MTU (default: the route's MTU \
        towards the peer, at most 1500; discovery probes between 576 and it).
        """) var mtu: Int?
    @Flag(help: "Send every packet at the MTU ceiling; no probing (an ICMP report still lowers it).")
    var noMtuDiscovery = false
    @Flag(help: "LEDBAT above target: libutp's linear decrease (at most 3,000 bytes per RTT) instead of LEDBAT++'s multiplicative one.")
    var libutpDecrease = false
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
    @Option(help: """
        Every this many seconds, a stderr line `stats t=<s> bytes_in=<n> bytes_out=<n> window=<bytes> \
        delay_ms=<mean queueing delay µTP measured in the interval> ...` (0: none).
        """) var statsInterval: Double = 0
    @Argument(help: "Host to connect to.") var host: String?
    @Argument(help: "Port to connect to.") var remotePort: UInt16?

    func validate() throws {
        if listen && host != nil { throw ValidationError("-l listens; give HOST PORT only to connect") }
        if !listen && (host == nil || remotePort == nil) { throw ValidationError("give HOST PORT to connect, or -l [-p PORT] to listen") }
        if let mtu, mtu < 576 || mtu > 65_535 { throw ValidationError("--mtu must be within 576...65535") }
    }

    func run() throws {
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = !noMtuDiscovery
        configuration.multiplicativeDecrease = !libutpDecrease
        if let mtu {
            configuration.mtu = mtu
            configuration.routeMTU = false
        }
        let reactor = try Reactor(Reactor.Configuration(backend: backend))
        let target = try host.map { try SocketAddress($0, port: remotePort!) }
        let bindAddress = try SocketAddress(source ?? ((target?.isIPv6 ?? false) ? "::" : "0.0.0.0"), port: port)
        let socket = try UTPSocket(reactor: reactor, bindTo: bindAddress, configuration: configuration)
        let cat = CatSession()
        if listen {
            socket.acceptor = cat
            note("listening on \(socket.localAddress)")
        } else {
            let stream = try socket.connect(to: target!)
            cat.attach(stream)
        }
        let start = reactor.now
        let deadline: UInt64? = timeout > 0 ? start &+ Nanoseconds.seconds(timeout) : nil
        var finishedAt: UInt64?
        var reporter = IntervalStats(start: start, interval: statsInterval)
        while true {
            if let connection = cat.stream?.connection { reporter.report(connection, now: reactor.now) }
            _ = try reactor.runOnce(timeout: cat.stdinReadable ? 200_000 : 1_000_000)
            cat.readStdin()
            if cat.failure != nil { break }
            if cat.isDone {
                if finishedAt == nil { finishedAt = reactor.now }
                // Linger briefly so a retransmitted FIN from the peer is answered.
                if reactor.now &- finishedAt! > 200_000_000 || cat.closed { break }
            }
            if let deadline, reactor.now >= deadline {
                note("utp-cat: timed out after \(timeout) s (use a larger --timeout)")
                cat.failure = .timedOut
                break
            }
        }
        let stats = cat.stream?.statistics ?? UTPConnection.Statistics()
        if let connection = cat.stream?.connection {
            let meanDelay: String = fixed(stats.meanQueueingDelayMicroseconds / 1000)
            let maximumDelay: String = fixed(Double(stats.maximumQueueingDelay) / 1000)
            let seconds: String = fixed(Double(reactor.now &- start) / 1e9)
            var line = "mtu=\(connection.pathMTU.current) mtu_ceiling=\(connection.pathMTU.ceiling) too_big_reports=\(socket.tooBigReports) probes=\(connection.pathMTU.probesSent) timeouts=\(stats.timeouts)"
            line += " fragmentable_resends=\(stats.fragmentableResends)"
            line += " fast_resent=\(stats.fastRetransmissions) window=\(connection.congestion.window)"
            line += " queueing_delay_ms_mean=\(meanDelay) queueing_delay_ms_max=\(maximumDelay) seconds=\(seconds)"
            note(line)
        }
        let rtt = cat.stream.map { Double($0.connection.rtt.smoothed) / 1e6 } ?? 0
        note("bytes_in=\(stats.bytesReceived) bytes_out=\(stats.bytesSent) resent=\(stats.retransmissions) rtt_ms=\(fixed(rtt))")
        socket.close()
        reactor.close()
        if let failure = cat.failure {
            note("utp-cat: \(failure)")
            throw ExitCode(1)
        }
    }
}

/// utp-cat's `--stats-interval` lines: what LEDBAT saw in each interval.
struct IntervalStats {
    let start: UInt64
    let interval: UInt64
    var next: UInt64
    var delaySum: UInt64 = 0
    var delaySamples: UInt64 = 0

    init(start: UInt64, interval: Double) {
        self.start = start
        self.interval = interval > 0 ? Nanoseconds.seconds(interval) : 0
        next = start &+ self.interval
    }

    mutating func report(_ connection: UTPConnection, now: UInt64) {
        guard interval > 0, now >= next else { return }
        next = now &+ interval
        let stats = connection.statistics
        let samples = stats.queueingDelaySamples &- delaySamples
        let mean = samples == 0 ? 0 : Double(stats.queueingDelaySum &- delaySum) / Double(samples) / 1000
        delaySum = stats.queueingDelaySum
        delaySamples = stats.queueingDelaySamples
        var line = "stats t=\(fixed(Double(now &- start) / 1e9)) bytes_in=\(stats.bytesReceived) bytes_out=\(stats.bytesSent)"
        line += " window=\(connection.congestion.window) delay_ms=\(fixed(mean)) base_delay_us=\(connection.delays.base)"
        line += " rtt_ms=\(fixed(Double(connection.rtt.smoothed) / 1e6)) losses=\(connection.congestion.losses)"
        note(line)
    }
}

/// The stream side of utp-cat: stdin into the stream, the stream to stdout.
final class CatSession: UTPAcceptor, UTPStreamDelegate {
    var stream: UTPStream?
    var stdinDone = false
    var peerFinished = false
    var closed = false
    var failure: UTPError?
    var stdinReadable = true
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    deinit { buffer.deallocate() }

    var isDone: Bool {
        guard let stream else { return false }
        return stdinDone && peerFinished && stream.connection.isSendComplete
    }

    func attach(_ stream: UTPStream) {
        self.stream = stream
        stream.delegate = self
    }

    func accepted(_ stream: UTPStream, on socket: UTPSocket) {
        guard self.stream == nil else { stream.abort(); return }
        socket.acceptor = nil
        note("accepted \(stream.peer)")
        attach(stream)
    }

    /// Reads what stdin has (without blocking) into the stream's free space.
    func readStdin() {
        guard let stream, stream.isConnected, !stdinDone else { return }
        while stream.writableBytes > 0 {
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            stdinReadable = poll(&descriptor, 1, 0) > 0
            guard stdinReadable else { return }
            let n = read(0, buffer.baseAddress, min(buffer.count, stream.writableBytes))
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { return }
                stdinDone = true
                stream.shutdown()
                return
            }
            if n == 0 {
                stdinDone = true
                stream.shutdown()
                return
            }
            let written = stream.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            precondition(written == n, "writableBytes promised room")
        }
    }

    func connected(_ stream: UTPStream) { note("connected to \(stream.peer)") }

    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) {
        var offset = 0
        while offset < bytes.count {
            let n = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = .aborted
                stream.abort()
                return
            }
            offset += n
        }
    }

    func endOfStream(_ stream: UTPStream) { peerFinished = true }

    func closed(_ stream: UTPStream, error: UTPError?) {
        closed = true
        if let error, !isDone { failure = error }
    }
}
