import ArgumentParser
import Capture
import CFeedReactor
import Multicast
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor record`: joins a group as `listen` does and writes every
/// datagram to a classic pcap file (nanosecond timestamps, Ethernet link
/// type: the format tshark/Wireshark and tcpreplay all open) with its kernel
/// receive timestamp (SO_TIMESTAMPNS) and its real source and destination
/// (the sender's address, the pktinfo destination), rotating by size.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a multicast feed to a pcap file with kernel receive timestamps.",
        discussion: """
        Frames are Ethernet II + IPv4/IPv6 + UDP headers synthesised around each received \
        payload (LINKTYPE_ETHERNET; --link raw writes LINKTYPE_RAW). With --rotate-mb the \
        files are FILE, FILE.1, FILE.2, ... (before the extension). The last stderr line is \
        `recorded=<n> bytes=<n> files=<n> dps=<n> ...` (dps: datagrams per second from the \
        first to the last one). Exit 0 when --count was reached or --seconds passed; 2 when \
        --timeout ended it first.
        """)

    @Option(help: "Multicast group.") var group: String
    @Option(help: "UDP port.") var port: UInt16
    @Option(help: "Interface to join on: an address, index or name.") var interface: String?
    @Option(help: "Source address for a source-specific (SSM) group.") var source: String?
    @Option(name: .customShort("w"), help: "The pcap file to write.") var file: String
    @Option(help: "Stop after this many datagrams.") var count: UInt64?
    @Option(help: "Stop after this many seconds of recording.") var seconds: Double?
    @Option(name: .customLong("rotate-mb"), help: "Start a new file when this one would pass this many MB.")
    var rotateMegabytes: Double?
    @Option(help: "Give up after this many seconds (exit 2 when --count was not reached).") var timeout: Double?
    @Option(help: "ethernet or raw (link type of the file).") var link: String = "ethernet"
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
    @Option(help: "Receive buffer bytes (SO_RCVBUFFORCE as root).") var rcvbuf: Int = 32 << 20
    @Option(name: .customLong("start-file"), help: "Join, print ready, then read nothing until this file exists (benchmarks).")
    var startFile: String?

    func validate() throws {
        if count == nil && seconds == nil && timeout == nil {
            throw ValidationError("say when to stop: --count N, --seconds S or --timeout S")
        }
        if link != "ethernet" && link != "raw" { throw ValidationError("--link is ethernet or raw") }
        if let rotateMegabytes, rotateMegabytes < 0.01 { throw ValidationError("--rotate-mb takes at least 0.01 (10 kB)") }
    }

    func run() throws {
        let reactor = try Reactor(backend: backend)
        let target = try SocketAddress(group, port: port)
        guard IPAddress(target).isMulticast else { throw ValidationError("--group \(group) is not a multicast address") }
        let socket = try joinMulticast(group: target, interface: interface, source: source,
                                       receiveBuffer: rcvbuf, packetInfo: true, timestamps: true)
        let writer: PcapWriter
        do {
            writer = try PcapWriter(path: file, linkType: link == "raw" ? .raw : .ethernet,
                                    rotateBytes: rotateMegabytes.map { Int($0 * 1e6) })
        } catch {
            throw CaptureFailure("\(error)")
        }
        let recorder = Recorder(writer: writer, group: capturedAddress(target), port: port, target: count)
        note("ready")
        if let startFile { while access(startFile, F_OK) != 0 { fr_sleep_ns(200_000) } }
        // 64 KiB slots: no UDP datagram is truncated.
        try reactor.register(socket, options: ReceiveOptions(slotCount: 64, slotSize: 65_536,
                                                             controlSize: Int(fr_mc_control_size())),
                             handler: recorder)
        let stopper = Stopper()
        if let timeout { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: stopper) }
        let duration = Stopper()
        if let seconds { try reactor.schedule(after: Nanoseconds.seconds(seconds), handler: duration) }
        let interrupt = InterruptWatch()
        try interrupt.start(on: reactor)
        note("recording \(group):\(port) to \(file) backend=\(reactor.backendKind)")
        try reactor.run(idle: .block)
        if let failure = recorder.failure { throw CaptureFailure("record: \(failure)") }
        do { try writer.close() } catch { throw CaptureFailure("record: \(error)") }
        let span = Double(recorder.lastTime &- recorder.firstTime) / 1e9
        let rate = recorder.recorded > 1 && span > 0 ? UInt64(Double(recorder.recorded - 1) / span) : 0
        let summary = "recorded=\(recorder.recorded) bytes=\(writer.bytesWritten) files=\(writer.fileCount) dps=\(rate) "
            + "truncated=\(recorder.truncated) no_timestamp=\(recorder.withoutTimestamp) "
            + "no_pktinfo=\(recorder.withoutDestination) timed_out=\(stopper.fired) interrupted=\(interrupt.fired) "
            + "last_file=\(writer.currentPath)"
        if stopper.fired || interrupt.fired, let count, recorder.recorded < count {
            note("record: incomplete: \(recorder.recorded) of \(count) datagrams before the \(interrupt.fired ? "interrupt" : "timeout")")
            note(summary)
            throw ExitCode(2)
        }
        note(summary)
    }
}

/// Writes each received datagram to the pcap writer. Per datagram: one pass
/// over the cmsg chain on the stack, one copy into the writer's buffer; no
/// allocation.
final class Recorder: DatagramHandler {
    let writer: PcapWriter
    let group: CapturedAddress
    let port: UInt16
    let target: UInt64?
    var recorded: UInt64 = 0
    var truncated: UInt64 = 0
    var withoutTimestamp: UInt64 = 0
    var withoutDestination: UInt64 = 0
    var firstTime: UInt64 = 0
    var lastTime: UInt64 = 0
    var failure: CaptureError?

    init(writer: PcapWriter, group: CapturedAddress, port: UInt16, target: UInt64?) {
        self.writer = writer
        self.group = group
        self.port = port
        self.target = target
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        if recorded == 0 { firstTime = fr_monotonic_ns() }
        for datagram in batch {
            if let target, recorded >= target { break }
            if datagram.isTruncated { truncated &+= 1 }
            var info = fr_packet_info()
            let control = datagram.control
            let found = fr_mc_parse_control(control.baseAddress, control.count, &info)
            var timestamp = info.timestamp_ns
            if found & FR_PKTINFO_TIMESTAMP == 0 {
                withoutTimestamp &+= 1
                timestamp = fr_realtime_ns()
            }
            var destination = group
            if found & FR_PKTINFO_DESTINATION != 0 {
                destination = withUnsafeBytes(of: &info.destination) {
                    CapturedAddress(isIPv6: info.family == UInt32(AF_INET6), bytes: $0.baseAddress!)
                }
            } else {
                withoutDestination &+= 1
            }
            let name = datagram.sourceAddress
            guard name.count >= 8, let base = name.baseAddress else { continue }
            let family = Int32(base.load(as: UInt16.self))
            // Safety: sin_port at offset 2 of both sockaddr_in and sockaddr_in6;
            // sin_addr at 4 (16 bytes), sin6_addr at 8 (28 bytes): lengths checked.
            let sourcePort = UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let isIPv6 = family == AF_INET6
            guard !isIPv6 || name.count >= 24 else { continue }
            let source = CapturedAddress(isIPv6: isIPv6, bytes: base + (isIPv6 ? 8 : 4))
            guard source.isIPv6 == destination.isIPv6 else { continue }
            do {
                try writer.writeUDP(datagram.bytes, timestamp: timestamp,
                                    source: .init(source, port: sourcePort), destination: .init(destination, port: port))
            } catch {
                failure = error
                reactor.stop()
                return
            }
            recorded &+= 1
        }
        lastTime = fr_monotonic_ns()
        if let target, recorded >= target { reactor.stop() }
    }
}

/// SIGINT or SIGTERM ends a recording cleanly (the buffered records are written
/// and the file closed): the handler only sets a flag, which a 50 ms timer on
/// the reactor reads (nothing else is async-signal-safe).
final class InterruptWatch: TimerHandler {
    nonisolated(unsafe) static var signalled: sig_atomic_t = 0
    var fired = false

    func start(on reactor: Reactor) throws {
        signal(SIGINT) { _ in InterruptWatch.signalled = 1 }
        signal(SIGTERM) { _ in InterruptWatch.signalled = 1 }
        // A parent may have left them blocked (a child inherits the mask; test
        // runners and some supervisors block both): take them back.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
        try reactor.schedule(after: 50_000_000, period: 50_000_000, handler: self)
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if Self.signalled != 0 {
            fired = true
            reactor.stop()
        }
    }
}
