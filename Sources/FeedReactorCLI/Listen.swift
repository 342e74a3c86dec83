import ArgumentParser
import CFeedReactor
import MoldUDP64
import Multicast
import Reactor
import SoupBinTCP

/// `feedreactor listen`: a MoldUDP64 client on the command line (DESIGN.md).
struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive a MoldUDP64 feed, recover gaps, deliver in order.",
        // ArgumentParser's generated usage shows every option as optional; two are not.
        usage: """
        feedreactor listen --group <group> --port <port> --rerequest <host:port> [--rerequest <host:port> ...]
                           (--count <n> | --until-end-of-session | --timeout <seconds>) [<options>]
        feedreactor listen --group <group> --port <port> --soup <host:port> [--rerequest <host:port> ...]
                           (--count <n> | --until-end-of-session | --timeout <seconds>) [<options>]
        feedreactor listen --pcap <file> [--port <port>] [<options>]
        """,
        discussion: """
        With --print each delivered message is one stdout line `<seq> <hex payload>`, in \
        sequence order. The last stderr line is a `key=value` summary. Exit 0 when the \
        requested count or the end of session was reached with nothing missing; otherwise \
        non-zero, naming the missing ranges. With --timeout alone, listening that long \
        is the job: exit 0 when nothing is missing.
        """)

    @Option(help: "Multicast group of line A.") var group: String?
    @Option(parsing: .unconditional, help: "UDP port of line A (with --pcap: only datagrams to this port).", transform: portNumber("--port")) var port: UInt16?
    @Option(name: .customLong("group-b"), help: "Multicast group of line B (A/B arbitration).") var groupB: String?
    @Option(name: .customLong("port-b"), parsing: .unconditional, help: "UDP port of line B (default: --port).", transform: portNumber("--port-b")) var portB: UInt16?
    @Option(help: "Interface to join on: an address, index or name.") var interface: String?
    @Option(help: "Source address for a source-specific (SSM) group.") var source: String?
    @Option(help: ArgumentHelp("Re-request server HOST:PORT, HOST an address or a name (repeat for failover).", valueName: "host:port"), transform: hostPort("--rerequest")) var rerequest: [String] = []
    @Option(help: "Accept only this session id.") var session: String?
    @Option(name: .customLong("from-seq"), parsing: .unconditional, help: "First sequence number to deliver.", transform: wholeNumber("--from-seq", 1...UInt64.max)) var fromSeq: UInt64 = 1
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto
    @Option(help: IdleOption.help) var idle: IdleOption = IdleOption(argument: "block")!
    @Option(parsing: .unconditional, help: "Stop after this many messages.", transform: wholeNumber("--count", 1...UInt64.max)) var count: UInt64?
    @Flag(name: .customLong("until-end-of-session"), help: "Stop at the end of session.") var untilEndOfSession = false
    @Option(parsing: .unconditional, help: "Give up after this many seconds (alone: listen this long).", transform: decimal("--timeout", 0.001...31_536_000, unit: " s")) var timeout: Double?
    @Option(name: .customLong("reorder-ms"), parsing: .unconditional, help: "Reorder window in milliseconds.", transform: decimal("--reorder-ms", 0...60_000, unit: " ms")) var reorderMilliseconds: Double = 2
    @Flag(help: "Print each message as `<seq> <hex>` on stdout.") var print = false
    @Option(help: "Read this pcap/pcapng capture instead of the network (see ListenPcap.swift).") var pcap: String?
    @Option(name: .customLong("buffer-mb"), help: "Reorder buffer for out-of-order data, in MiB (allocated at start).")
    var bufferMegabytes: Int = 64
    @Option(help: ArgumentHelp("SoupBinTCP server HOST:PORT for TCP recovery (publish --soup-port): late joins, big gaps, and whatever UDP re-requests cannot recover.", valueName: "host:port"), transform: hostPort("--soup")) var soup: String?
    @Option(name: .customLong("soup-user"), help: "SoupBinTCP username.") var soupUser: String = ""
    @Option(name: .customLong("soup-password"), help: "SoupBinTCP password.") var soupPassword: String = ""
    @Option(name: .customLong("soup-threshold"), parsing: .unconditional, help: "With --rerequest too: gaps of at least this many messages go to TCP.", transform: wholeNumber("--soup-threshold", 1...UInt64.max))
    var soupThreshold: UInt64 = 10_000

    func validate() throws {
        if pcap == nil && (group == nil || port == nil) { throw ValidationError("listen needs --group G --port P (the feed's multicast line), or --pcap FILE to read a capture") }
        if rerequest.isEmpty && soup == nil && pcap == nil { throw ValidationError("listen needs --rerequest HOST:PORT, the retransmission server that answers for gaps (e.g. --rerequest 127.0.0.1:41001; repeat it for failover), or --soup HOST:PORT to recover over SoupBinTCP") }
        if count == nil && !untilEndOfSession && timeout == nil && pcap == nil {
            throw ValidationError("say when to stop: --count N, --until-end-of-session or --timeout SECONDS")
        }
        if let session, SessionID(session) == nil {
            throw ValidationError("--session takes at most 10 printable ASCII characters")
        }
        if fromSeq == 0 { throw ValidationError("--from-seq starts at 1 (MoldUDP64 numbers messages from 1)") }
        if !(1...65_536).contains(bufferMegabytes) { throw ValidationError("--buffer-mb takes 1...65536 MiB") }
    }

    func run() throws {
        if let pcap { return try runPcap(pcap) }
        guard let group, let port else { throw ValidationError("give --group G --port P, or --pcap FILE") }
        let reactor = try Reactor(backend: backend)
        let joinInterface = try interface.map { (text) throws(MulticastError) -> MulticastInterface in
            try MulticastInterface(parsing: text)
        }
        var lines = [try Subscription(group: group, port: port, source: source, interface: joinInterface)]
        if let groupB {
            lines.append(try Subscription(group: groupB, port: portB ?? port, source: source, interface: joinInterface))
        }
        let servers = try rerequest.map { (text) throws(ReactorError) -> SocketAddress in try SocketAddress(resolving: text) }
        var configuration = Client.Configuration(lines: lines, servers: servers)
        configuration.session.pinnedSession = session.flatMap(SessionID.init)
        configuration.session.startSequence = fromSeq
        configuration.session.reorderWindow = UInt64(reorderMilliseconds * 1e6)
        configuration.receiveBufferBytes = 32 << 20
        configuration.session.bufferBytes = bufferMegabytes << 20
        configuration.recoversElsewhere = soup != nil

        let consumer = ListenConsumer(print: print, target: count, untilEndOfSession: untilEndOfSession, reactor: reactor)
        let client = try Client(configuration, reactor: reactor, consumer: consumer)
        var recovery: SoupRecovery?
        if let soup {
            recovery = try SoupRecovery(configuration: .init(server: try SocketAddress(resolving: soup), username: soupUser,
                                                             password: soupPassword, threshold: soupThreshold),
                                        client: client, reactor: reactor)
        }
        let stopper = Stopper()
        if let timeout { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: stopper) }
        note("listening: \(lines.map(\.description).joined(separator: " + ")) backend=\(reactor.backendKind)")
        try reactor.run(idle: idle.strategy)
        consumer.flush()

        var missing = consumer.lostRanges
        client.appendMissingRanges(to: &missing)
        // With --timeout as the only stop condition, reaching it is the job done.
        let timeoutOnly = count == nil && !untilEndOfSession
        let reached = consumer.reachedTarget || (untilEndOfSession && client.session.isFinished) || (timeoutOnly && stopper.fired)
        var summary = client.counters.summary + " " + client.rerequester.serverSummary
        for (index, line) in client.lineCounters.enumerated() {
            let name = index == 0 ? "a" : "b"
            summary += " line_\(name)_datagrams=\(line.datagrams) line_\(name)_duplicates=\(line.duplicates)"
        }
        if let recovery {
            summary += " " + recovery.summary
            if let failure = recovery.lastFailure { note("listen: TCP recovery over --soup failed: \(failure)") }
        }
        summary += " next=\(client.session.nextExpected) timed_out=\(stopper.fired) backend=\(reactor.backendKind)"
        try finishListen(summary: summary, missing: missing, reached: reached,
                         shortfall: "stopped before the \(untilEndOfSession ? "end of session" : "requested count") (timeout)")
    }

}

/// The end of a `listen` run (live or `--pcap`): the `key=value` summary is the last
/// stderr line; exit 2 names the missing ranges, or says why the job stopped short.
func finishListen(summary: String, missing: RangeList, reached: Bool, shortfall: String) throws {
    let line = summary + " missing=\(missing.summaryValue)"
    if !reached || !missing.isEmpty {
        let why = !missing.isEmpty
            ? "missing \(missing.description) (\(missing.rangeCount) ranges, \(missing.messageCount) messages)"
            : shortfall
        note("listen: incomplete: \(why)")
        note(line)
        throw ExitCode(2)
    }
    note(line)
}

/// Ends `run()` when the timeout passes.
final class Stopper: TimerHandler {
    var fired = false
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        fired = true
        reactor.stop()
    }
}

/// Counts and (optionally) prints what the client delivers; stops the reactor
/// at the target count or the end of session. Printing writes into a
/// preallocated buffer flushed with one fwrite per 64 KiB.
final class ListenConsumer: MessageConsumer {
    let print: Bool
    let target: UInt64?
    let untilEndOfSession: Bool
    unowned let reactor: Reactor
    var delivered: UInt64 = 0
    var reachedTarget = false
    var lostRanges = RangeList(limit: 64)
    let output: UnsafeMutablePointer<UInt8>
    /// A UInt64 has at most 20 decimal digits.
    let digits = UnsafeMutablePointer<UInt8>.allocate(capacity: 20)
    let capacity = 1 << 16
    var used = 0

    init(print: Bool, target: UInt64?, untilEndOfSession: Bool, reactor: Reactor) {
        self.print = print
        self.target = target
        self.untilEndOfSession = untilEndOfSession
        self.reactor = reactor
        output = .allocate(capacity: capacity)
    }

    deinit {
        output.deallocate()
        digits.deallocate()
    }

    /// Ignore what arrives after the target (a TCP read can hold more messages
    /// than asked for; `soup-client` prints exactly --count).
    var stopAtTarget = false

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        if stopAtTarget && reachedTarget { return }
        delivered &+= 1
        if print { write(sequence: sequence, message: message) }
        if let target, delivered >= target {
            reachedTarget = true
            reactor.stop()
        }
    }

    func lost(firstSequence: UInt64, count: UInt64) {
        lostRanges.append(firstSequence..<firstSequence + count)
    }

    func endOfSession(nextSequence: UInt64) {
        if untilEndOfSession {
            reachedTarget = true
            reactor.stop()
        }
    }

    func foreignSession(_ session: SessionID, current: SessionID) {
        note("listen: ignoring packets of session '\(session)' (locked onto '\(current)')")
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    func write(sequence: UInt64, message: UnsafeRawBufferPointer) {
        let needed = 21 + 1 + message.count * 2 + 1
        if used + needed > capacity { flush() }
        if needed > capacity {
            // A message longer than the buffer: print it directly.
            var line = Array("\(sequence) ".utf8)
            for byte in message { line += [Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]] }
            line.append(UInt8(ascii: "\n"))
            fr_write_stdout(line, line.count)
            return
        }
        // Decimal sequence number: digits right to left, then copied in order.
        var value = sequence
        var count = 0
        repeat {
            digits[count] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
            count += 1
        } while value > 0
        for i in 0..<count { output[used + i] = digits[count - 1 - i] }
        used += count
        output[used] = UInt8(ascii: " ")
        used += 1
        Self.hex.withUnsafeBufferPointer { hex in
            for byte in message {
                output[used] = hex[Int(byte >> 4)]
                output[used + 1] = hex[Int(byte & 0x0F)]
                used += 2
            }
        }
        output[used] = UInt8(ascii: "\n")
        used += 1
    }

    func flush() {
        guard used > 0 else { return }
        fr_write_stdout(output, used)
        used = 0
    }
}
