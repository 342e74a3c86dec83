import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A tshark capture on lo, started and stopped by a test.
public final class WiresharkCapture {
    public static let tshark: String? = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    public let file: URL
    /// tshark's packet summaries (-P -l: one line per captured frame, flushed).
    let summaries: URL
    let log: URL
    var pid: pid_t = 0

    /// Starts capturing UDP traffic to or from `ports` on lo, and returns once
    /// tshark writes its capture file (dumpcap opens the interface and sets the
    /// filter before it creates the file, so nothing sent afterwards is missed).
    public init(ports: [UInt16], options: [String] = [], transport: String = "udp") throws {
        let directory = FileManager.default.temporaryDirectory
        let name = "feedside-\(getpid())-\(ports[0])"
        file = directory.appendingPathComponent("\(name).\(options.contains("pcap") ? "pcap" : "pcapng")")
        summaries = directory.appendingPathComponent("\(name).out")
        log = directory.appendingPathComponent("\(name).log")
        try? FileManager.default.removeItem(at: file)
        pid = try Self.spawn(Self.tshark!, options + ["-i", "lo", "-w", file.path, "-P", "-l",
                                            "-f", ports.map { "\(transport) port \($0)" }.joined(separator: " or ")],
                             stdout: summaries.path, stderr: log.path)
        guard Self.poll(seconds: 20, while: { self.isRunning }, until: {
            ((try? FileManager.default.attributesOfItem(atPath: self.file.path)[.size]) as? Int ?? 0) > 0
        }) else {
            stop()
            throw TestFailure("tshark did not start capturing within 20 s: \(Self.text(log))")
        }
    }

    /// False once tshark has exited (it is reaped here, so `stop` will not signal a reused pid).
    var isRunning: Bool {
        guard pid > 0 else { return false }
        if waitpid(pid, nil, WNOHANG) == 0 { return true }
        pid = 0
        return false
    }

    /// posix_spawn (see `ChildProcess.spawn`: the signal mask cleared, so tshark
    /// can be stopped) with stdout and stderr into files.
    public static func spawn(_ path: String, _ arguments: [String], stdout: String, stderr: String) throws -> pid_t {
        try ChildProcess.spawn(path, arguments, streams: [(1, stdout), (2, stderr)])
    }

    /// Waits until tshark has captured `frames` frames (it prints a summary line
    /// for each one it has written), then stops it and returns the capture file.
    public func finish(frames: Int) throws -> URL {
        let captured = Self.poll(seconds: 10, while: { self.isRunning }, until: {
            Self.text(self.summaries).split(separator: "\n").count >= frames
        })
        stop()
        guard captured else {
            throw TestFailure("tshark captured \(Self.text(summaries).split(separator: "\n").count) of \(frames) frames: \(Self.text(log))")
        }
        return file
    }

    /// Waits until tshark's frame summaries satisfy `condition` (a TCP capture
    /// waits for the last FIN, say), then stops it and returns the capture file.
    public func finish(seconds: Double = 30, until condition: @escaping (String) -> Bool) throws -> URL {
        let captured = Self.poll(seconds: seconds, while: { self.isRunning }, until: { condition(Self.text(self.summaries)) })
        stop()
        guard captured else {
            throw TestFailure("tshark's capture never showed what was awaited: \(Self.text(log)); "
                              + "last frames: \(Self.text(summaries).split(separator: "\n").suffix(8))")
        }
        return file
    }

    /// Runs `tshark -r` with `decodeAs` rules (`tcp.port==P,soupbintcp`); one
    /// line per frame matching `filter`, with `fields` separated by tabs.
    public static func dissect(_ file: URL, decodeAs: [String], filter: String, fields: [String]) throws -> [String] {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: tshark!)
        process.arguments = ["-r", file.path] + decodeAs.flatMap { ["-d", $0] }
            + ["-Y", filter, "-T", "fields"] + fields.flatMap { ["-e", $0] }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("tshark -r \(file.path) failed with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    public static func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Polls `condition` every 20 ms until it holds (true) or `seconds` pass or
    /// `alive` turns false (false). Waiting on another process's output files has
    /// no better signal than looking at them.
    public static func poll(seconds: Double, while alive: () -> Bool, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && alive() {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// SIGINT makes tshark finish the capture file and exit.
    public func stop() {
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
    public static func dissect(_ file: URL, ports: [UInt16], filter: String, fields: [String]) throws -> [String] {
        try dissect(file, decodeAs: ports.map { "udp.port==\($0),moldudp64" }, filter: filter, fields: fields)
    }
}

/// A test rig failure (a peer that did not start, a request nobody answered).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
