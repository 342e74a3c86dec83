import Testing
import Foundation
import Reactor
import TestSupport
import MoldUDP64

/// Wireshark's MoldUDP64 dissector as an independent judge of the wire format:
/// publisher traffic (heartbeat, data, end of session) and retransmission
/// requests and answers are captured on loopback with tshark, then dissected
/// with `-d udp.port==PORT,moldudp64`; no frame may be malformed or carry an
/// expert warning or error. Needs root (capturing) and tshark on PATH.
@Suite(.enabled(if: TestEnvironment.isRoot && WiresharkCapture.tshark != nil,
                "needs root and tshark (Debian: apt-get install tshark) to capture on lo"))
struct PublisherWiresharkTests {
    @Test func publisherAndRetransmissionTrafficDissectsCleanly() throws {
        let reactor = try Reactor(backend: .epoll)
        let (feedSocket, feedAddress) = try loopbackSocket()
        let feed = CollectingHandler()
        try reactor.register(feedSocket, handler: feed)
        let (serverSocket, serverAddress) = try loopbackSocket()
        let (clientSocket, _) = try loopbackSocket()
        let answers = CollectingHandler()
        try reactor.register(clientSocket, handler: answers)
        let (senderSocket, _) = try loopbackSocket()
        defer { senderSocket.close() }

        let capture = try WiresharkCapture(ports: [feedAddress.port, serverAddress.port])
        defer { capture.stop() }

        let store = RetransmissionStore()
        var configuration = Publisher.Configuration(session: testSession)
        configuration.heartbeatInterval = 50_000_000
        configuration.maxPacketSize = 400
        configuration.loss = LossSimulation(dropPacketNumbers: [2, 4])
        let publisher = Publisher(configuration, sink: UDPPacketSink(socket: senderSocket, destination: feedAddress), store: store)
        try publisher.attach(to: reactor)
        let server = RetransmissionServer(socket: serverSocket, store: store, configuration: .init(session: testSession))
        try reactor.register(serverSocket, handler: server)

        // Messages of many sizes (empty ones too), packed several to a packet.
        var random = SeededRandom(seed: 5)
        for sequence in UInt64(1)...200 {
            let message = testMessage(sequence, length: Int(random.next() % 120))
            _ = try message.withUnsafeBytes { raw throws(PublisherError) in try publisher.append(raw) }
            if sequence % 25 == 0 { try reactor.runOnce(timeout: 0) }
        }
        try pump(reactor) { publisher.counters.dataPackets > 0 && publisher.nextDeadline > reactor.now + 1_000_000 }
        // A heartbeat after silence, then the end of the session.
        let heartbeats = publisher.counters.heartbeats
        try pump(reactor, cycles: 100) { publisher.counters.heartbeats > heartbeats }
        publisher.endSession()
        let sent = Int(publisher.counters.packetsSent)
        try pump(reactor) { feed.payloads.count == sent }
        #expect(feed.payloads.count == sent)

        // Ask for everything, in requests the answers cap by packet size.
        var next: UInt64 = 1
        while next < publisher.nextSequenceNumber {
            let before = answers.payloads.count
            try clientSocket.send(requestBytes(sequence: next, count: 50), to: serverAddress)
            try pump(reactor) { answers.payloads.count > before }
            let answer = try #require(answers.payloads.count > before ? ParsedPacket(answers.payloads[before]) : nil)
            next = answer.sequenceNumber + UInt64(answer.messages.count)
        }
        publisher.detach()
        // What the publisher sent in all: while the requests were answered its
        // timer kept running and may have repeated the end of session (a slow,
        // loaded machine gives it time to).
        let sentInAll = Int(publisher.counters.packetsSent)

        let file = try capture.finish(frames: sentInAll + 2 * Int(server.counters.answers))
        let frames = try WiresharkCapture.dissect(file, ports: [feedAddress.port, serverAddress.port],
                                                  filter: "moldudp64", fields: ["_ws.col.Info"])
        let problems = try WiresharkCapture.dissect(file, ports: [feedAddress.port, serverAddress.port],
                                                    filter: "_ws.malformed || _ws.expert.severity >= warning",
                                                    fields: ["frame.number", "_ws.col.Info"])
        #expect(problems.isEmpty, "tshark flags frames: \(problems.prefix(5))")
        // Everything sent was captured and recognised as MoldUDP64.
        let requests = frames.filter { $0.contains("Request") }.count
        #expect(requests == Int(server.counters.answers))
        #expect(frames.count == sentInAll + 2 * Int(server.counters.answers))
        #expect(frames.contains { $0.contains("Heartbeat") })
        #expect(frames.contains { $0.contains("End Of Session") })
        #expect(frames.filter { $0.contains("Messages") }.count
                == Int(publisher.counters.dataPackets - publisher.counters.dataPacketsDropped + server.counters.answers))
    }
}

/// A tshark capture on lo, started and stopped by a test.
final class WiresharkCapture {
    static let tshark: String? = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    let file: URL
    /// tshark's packet summaries (-P -l: one line per captured frame, flushed).
    let summaries: URL
    let log: URL
    var pid: pid_t = 0

    /// Starts capturing UDP traffic to or from `ports` on lo, and returns once
    /// tshark writes its capture file (dumpcap opens the interface and sets the
    /// filter before it creates the file, so nothing sent afterwards is missed).
    init(ports: [UInt16]) throws {
        let directory = FileManager.default.temporaryDirectory
        let name = "feedside-\(getpid())-\(ports[0])"
        file = directory.appendingPathComponent("\(name).pcapng")
        summaries = directory.appendingPathComponent("\(name).out")
        log = directory.appendingPathComponent("\(name).log")
        try? FileManager.default.removeItem(at: file)
        pid = try Self.spawn(Self.tshark!, ["-i", "lo", "-w", file.path, "-P", "-l",
                                            "-f", ports.map { "udp port \($0)" }.joined(separator: " or ")],
                             stdout: summaries.path, stderr: log.path)
        guard Self.poll(seconds: 20, while: { self.isRunning }, until: {
            ((try? FileManager.default.attributesOfItem(atPath: self.file.path)[.size]) as? Int ?? 0) > 0
        }) else {
            stop()
            throw CaptureError("tshark did not start capturing within 20 s: \(Self.text(log))")
        }
    }

    /// False once tshark has exited (it is reaped here, so `stop` will not signal a reused pid).
    var isRunning: Bool {
        guard pid > 0 else { return false }
        if waitpid(pid, nil, WNOHANG) == 0 { return true }
        pid = 0
        return false
    }

    /// posix_spawn with the signal mask cleared: test runners call this from
    /// worker threads that block SIGINT and SIGTERM, and a child inherits the
    /// mask (Foundation's Process keeps it), so tshark could not be stopped.
    static func spawn(_ path: String, _ arguments: [String], stdout: String, stderr: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw CaptureError("posix_spawn \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits until tshark has captured `frames` frames (it prints a summary line
    /// for each one it has written), then stops it and returns the capture file.
    func finish(frames: Int) throws -> URL {
        let captured = Self.poll(seconds: 10, while: { self.isRunning }, until: {
            Self.text(self.summaries).split(separator: "\n").count >= frames
        })
        stop()
        guard captured else {
            throw CaptureError("tshark captured \(Self.text(summaries).split(separator: "\n").count) of \(frames) frames: \(Self.text(log))")
        }
        return file
    }

    static func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Polls `condition` every 20 ms until it holds (true) or `seconds` pass or
    /// `alive` turns false (false). Waiting on another process's output files has
    /// no better signal than looking at them.
    static func poll(seconds: Double, while alive: () -> Bool, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && alive() {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// SIGINT makes tshark finish the capture file and exit.
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGINT)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit {
        stop()
        for url in [file, summaries, log] { try? FileManager.default.removeItem(at: url) }
    }

    /// Runs `tshark -r` with the ports decoded as MoldUDP64; returns one line per
    /// frame matching `filter`, with `fields` separated by tabs.
    static func dissect(_ file: URL, ports: [UInt16], filter: String, fields: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tshark!)
        process.arguments = ["-r", file.path]
            + ports.flatMap { ["-d", "udp.port==\($0),moldudp64"] }
            + ["-Y", filter, "-T", "fields"] + fields.flatMap { ["-e", $0] }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CaptureError("tshark -r \(file.path) failed with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

struct CaptureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
