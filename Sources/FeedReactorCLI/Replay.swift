import ArgumentParser
import Capture
import CFeedReactor
import MoldUDP64
import Multicast
import Reactor

/// `feedreactor replay`: sends a capture's UDP payloads to a group, in capture
/// order, paced by the recorded timestamps (scaled by --speed), at a fixed
/// --rate, or as fast as the socket takes them, on the reactor's timers.
/// With --serve-rerequests PORT it also answers MoldUDP64 re-requests from
/// the capture's own messages (a `RetransmissionStore` filled from the
/// captured packets, served by a `RetransmissionServer`).
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a capture's UDP payloads onto a multicast group.",
        discussion: """
        Reads pcap or pcapng (any link type the capture module decodes). The last stderr line \
        is `sent=<n> bytes=<n> loops=<n> send_retries=<n> ...`.
        """)

    @Argument(help: "The capture to replay (pcap or pcapng).") var file: String
    @Option(help: "Multicast group to send to.") var group: String
    @Option(help: "UDP port to send to.") var port: UInt16
    @Option(help: "Interface to send on: an address, index or name.") var interface: String?
    @Option(help: "Pace by the capture's timestamps, this many times faster (default 1.0).") var speed: Double?
    @Option(help: "Send at this many datagrams per second instead.") var rate: Double?
    @Flag(name: .customLong("top-speed"), help: "Send as fast as the socket takes them.") var topSpeed = false
    @Option(help: "Only datagrams matching udp-port=N (source or destination port).") var filter: String?
    @Option(help: "Play the capture this many times.") var loop: Int = 1
    @Option(name: .customLong("serve-rerequests"), help: "Answer MoldUDP64 re-requests on this UDP port from the capture's messages.")
    var serveRerequests: UInt16?
    @Option(help: "Stop after this many seconds (with --serve-rerequests: keep answering until then; default 2 s after the last datagram).")
    var timeout: Double?
    @Option(help: "IP_MULTICAST_TTL.") var ttl: Int = 1
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll

    func validate() throws {
        if [speed != nil, rate != nil, topSpeed].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --speed X, --rate PPS and --top-speed")
        }
        if let speed, !(speed > 0) { throw ValidationError("--speed takes a factor above 0 (2.0: twice as fast)") }
        if let rate, !(rate > 0) { throw ValidationError("--rate takes datagrams per second above 0") }
        if loop < 1 { throw ValidationError("--loop takes 1 or more") }
        if let filter, parsePortFilter(filter) == nil { throw ValidationError("--filter takes udp-port=N") }
    }

    func parsePortFilter(_ text: String) -> UInt16? {
        guard text.hasPrefix("udp-port=") else { return nil }
        return UInt16(text.dropFirst("udp-port=".count))
    }

    func run() throws {
        let feed = try CapturedFeed(path: file, port: filter.flatMap(parsePortFilter))
        note("replay: \(feed.count) datagrams from \(file) (\(feed.skippedSummary))")
        let reactor = try Reactor(backend: backend)
        let sendInterface = try interface.map { (text) throws(MulticastError) -> MulticastInterface in try MulticastInterface(parsing: text) }
        let sender = try MulticastSender(group: IPAddress(group), port: port, interface: sendInterface, ttl: ttl)
        _ = try sender.socket.setSendBuffer(bytes: 4 << 20)

        var server: RetransmissionServer?
        if let serveRerequests {
            let (store, session, note_) = feed.retransmissionStore()
            note("replay: \(note_)")
            if let store, let session {
                let socket = try UDPSocket.bound(to: .any(port: serveRerequests, ipv6: false))
                var configuration = RetransmissionServer.Configuration(session: session)
                configuration.perRequesterLimit = RateLimit(rate: 100_000, burst: 10_000)
                configuration.totalLimit = RateLimit(rate: 100_000, burst: 10_000)
                let answering = RetransmissionServer(socket: socket, store: store, configuration: configuration)
                try reactor.register(socket, handler: answering)
                server = answering
            }
        }
        let pace: ReplayPacer.Pace = topSpeed ? .topSpeed : rate.map { .rate($0) } ?? .speed(speed ?? 1)
        let linger = server != nil ? (timeout == nil ? UInt64(2_000_000_000) : UInt64.max) : 0
        let pacer = ReplayPacer(feed: feed, sender: sender, pace: pace, loops: loop, linger: linger)
        let stopper = Stopper()
        if let timeout { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: stopper) }
        try pacer.start(on: reactor)
        note("replay: sending to \(sender.destination) \(pace)")
        try reactor.run(idle: .block)
        var summary = "sent=\(pacer.sent) bytes=\(pacer.bytes) loops=\(pacer.loopsDone) send_retries=\(pacer.retries) "
            + "send_errors=\(pacer.errors) timed_out=\(stopper.fired && !pacer.finished)"
        if let server {
            let s = server.counters
            summary += " requests=\(s.datagrams) answers=\(s.answers) retransmitted=\(s.messagesSent) unanswerable=\(s.unanswerable)"
        }
        if stopper.fired && !pacer.finished {
            note("replay: incomplete: --timeout passed after \(pacer.sent) of \(feed.count * loop) datagrams")
            note(summary)
            throw ExitCode(2)
        }
        note(summary)
    }
}

/// The payloads of a capture's UDP datagrams, copied out once at start (a
/// reassembled datagram lives in the reassembler only until the next one),
/// with their capture times.
final class CapturedFeed {
    var starts: [Int] = [0]
    var timestamps: [UInt64] = []
    let skippedSummary: String
    /// All payloads back to back, allocated once after reading.
    let storage: UnsafeMutableRawBufferPointer

    init(path: String, port: UInt16?) throws {
        let (file, datagrams) = try openCapture(path)
        var filtered = 0
        var bytes: [UInt8] = []
        do {
            while let datagram = try datagrams.next() {
                if let port, datagram.sourcePort != port && datagram.destinationPort != port { filtered += 1; continue }
                bytes.append(contentsOf: datagram.payload)
                starts.append(bytes.count)
                timestamps.append(datagram.timestamp)
            }
        } catch {
            note("replay: \(path): \(error)")
        }
        withExtendedLifetime(file) {}
        skippedSummary = "\(datagrams.counters.summary) filtered=\(filtered)"
        storage = .allocate(byteCount: max(1, bytes.count), alignment: 8)
        _ = storage.initializeMemory(as: UInt8.self, from: bytes)
    }

    deinit { storage.deallocate() }

    var count: Int { timestamps.count }

    func payload(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[starts[index]..<starts[index + 1]])
    }

    /// A store holding the capture's MoldUDP64 messages from the first data
    /// packet's session, in sequence order (packets sorted, so reordering and
    /// A/B copies in the capture do not matter), up to the first message the
    /// capture lacks; the store is contiguous by construction.
    func retransmissionStore() -> (RetransmissionStore?, SessionID?, String) {
        var packets: [(sequence: UInt64, index: Int)] = []
        var session: SessionID?
        var messageBytes = 0
        for index in 0..<count {
            let raw = payload(index)
            guard let packet = try? Packet(raw), packet.kind == .data else { continue }
            if session == nil { session = packet.session }
            guard packet.session == session else { continue }
            packets.append((packet.sequenceNumber, index))
            messageBytes += raw.count
        }
        guard let session, let first = packets.min(by: { $0.sequence < $1.sequence }) else {
            return (nil, nil, "no MoldUDP64 data packets in the capture: nothing to serve")
        }
        packets.sort { $0.sequence < $1.sequence }
        let store = RetransmissionStore(messageCapacity: max(1024, min(1 << 30, messageBytes / 2 + 1024)),
                                        byteCapacity: max(1 << 20, messageBytes * 2), firstSequenceNumber: first.sequence)
        var hole: UInt64?
        for entry in packets {
            guard let packet = try? Packet(payload(entry.index)) else { continue }
            if packet.sequenceNumber > store.nextSequenceNumber { hole = store.nextSequenceNumber; break }
            for message in packet.messages where message.sequence == store.nextSequenceNumber {
                store.append(message.bytes)
            }
        }
        let held = "serving re-requests for session \(session) messages \(store.firstSequenceNumber)..<\(store.nextSequenceNumber)"
        return (store, session, hole.map { held + " (the capture lacks \($0) and, from there on, is not served)" } ?? held)
    }
}

/// Sends the feed on reactor timers: each firing sends every datagram that is
/// due (up to a budget, so timers and the server keep running) and schedules
/// itself for the next due time.
final class ReplayPacer: TimerHandler {
    enum Pace: CustomStringConvertible {
        case speed(Double)
        case rate(Double)
        case topSpeed

        var description: String {
            switch self {
            case .speed(let factor): return "at \(factor)x the captured pace"
            case .rate(let rate): return "at \(Int(rate)) datagrams/s"
            case .topSpeed: return "at top speed"
            }
        }
    }

    let feed: CapturedFeed
    let sender: MulticastSender
    let pace: Pace
    let loops: Int
    let linger: UInt64
    var index = 0
    var loopsDone = 0
    var loopStart: UInt64 = 0
    var sent: UInt64 = 0
    var bytes: UInt64 = 0
    var retries: UInt64 = 0
    var errors: UInt64 = 0
    var finished = false
    var finishedAt: UInt64 = 0
    static let budget = 256

    init(feed: CapturedFeed, sender: MulticastSender, pace: Pace, loops: Int, linger: UInt64) {
        self.feed = feed
        self.sender = sender
        self.pace = pace
        self.loops = loops
        self.linger = linger
    }

    func start(on reactor: Reactor) throws {
        loopStart = reactor.now
        try reactor.schedule(after: 0, handler: self)
    }

    /// When datagram `index` of the current loop is due (reactor time).
    func due(_ index: Int) -> UInt64 {
        switch pace {
        case .topSpeed: return 0
        case .rate(let rate): return loopStart &+ UInt64(Double(index) * 1e9 / rate)
        case .speed(let factor):
            let offset = feed.timestamps[index] &- feed.timestamps[0]
            // A capture whose clock stepped backwards sends that datagram at once.
            return loopStart &+ (feed.timestamps[index] < feed.timestamps[0] ? 0 : UInt64(Double(offset) / factor))
        }
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if finished {
            if now >= finishedAt &+ linger { reactor.stop() } else { reschedule(at: now &+ 50_000_000, reactor) }
            return
        }
        var budget = Self.budget
        while index < feed.count && budget > 0 {
            if case .topSpeed = pace {} else if due(index) > now { break }
            var result: IOResult<Int> = .wouldBlock
            do {
                result = try sender.send(feed.payload(index))
            } catch {
                errors &+= 1
                result = .processed(0)
            }
            if case .wouldBlock = result {
                // The send buffer is full: try again shortly, same datagram.
                retries &+= 1
                break
            }
            sent &+= 1
            bytes &+= UInt64(feed.starts[index + 1] - feed.starts[index])
            index += 1
            budget -= 1
        }
        if index == feed.count {
            loopsDone += 1
            if loopsDone < loops {
                index = 0
                loopStart = now
            } else {
                finished = true
                finishedAt = now
                if linger == 0 { reactor.stop(); return }
                reschedule(at: now &+ 50_000_000, reactor)
                return
            }
        }
        let next = budget == 0 || retries > 0 && index < feed.count && due(index) <= now ? now &+ 20_000 : due(index)
        reschedule(at: next, reactor)
    }

    func reschedule(at deadline: UInt64, _ reactor: Reactor) {
        do { try reactor.schedule(at: deadline, handler: self) } catch {
            note("replay: \(error)")
            reactor.stop()
        }
    }
}
