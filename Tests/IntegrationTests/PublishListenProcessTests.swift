import Foundation
import MoldUDP64
import Reactor
import Testing
import TestSupport

/// `feedreactor publish` and `feedreactor listen` as separate processes on
/// loopback multicast, the way users and outside rigs drive them.
@Suite(.serialized) struct PublishListenProcessTests {
    /// The `feedreactor` built next to this test bundle.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("feedreactor")
    }

    static var binaryExists: Bool { FileManager.default.isExecutableFile(atPath: binary.path) }

    /// A free UDP port above 40000, chosen by the kernel.
    func freePort() throws -> UInt16 {
        for _ in 0..<100 {
            let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
            let port = try socket.localAddress().port
            socket.close()
            if port > 40_000 { return port }
        }
        throw ReactorError.invalidArgument("no free port above 40000")
    }

    final class Run: @unchecked Sendable {
        let process = ChildProcess()
        let stdout = Pipe()
        let stderr = Pipe()
        var out = Data()
        var err = Data()
        let lock = NSLock()
        /// Signalled once per pipe when its reader saw end of file.
        let drained = DispatchSemaphore(value: 0)

        init(_ arguments: [String]) throws {
            process.executableURL = PublishListenProcessTests.binary
            process.arguments = arguments
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            // One reader thread per pipe, each to end of file: `finish` waits for
            // both, so no chunk read on another thread can land after it returns
            // (a readabilityHandler still running when cleared could, and cut the
            // text short).
            read(stdout.fileHandleForReading) { run, data in run.out.append(data) }
            read(stderr.fileHandleForReading) { run, data in run.err.append(data) }
        }

        func read(_ handle: FileHandle, _ append: @escaping @Sendable (Run, Data) -> Void) {
            Thread { [self] in
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    lock.lock(); append(self, data); lock.unlock()
                }
                drained.signal()
            }.start()
        }

        var errorText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
        var outputText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }

        /// Waits (bounded) until stderr contains `text`.
        func waitFor(_ text: String, seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if errorText.contains(text) { return true }
                if !process.isRunning { return errorText.contains(text) }
                RunLoop.current.run(until: Date().addingTimeInterval(0.01))
            }
            return false
        }

        func finish(seconds: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { RunLoop.current.run(until: Date().addingTimeInterval(0.01)) }
            if process.isRunning { process.terminate(); process.waitUntilExit(); return nil }
            process.waitUntilExit()
            // Both readers reach end of file once the process and its children
            // closed the pipes (bounded: a child left holding one must not hang).
            _ = drained.wait(timeout: .now() + 5)
            _ = drained.wait(timeout: .now() + 5)
            return process.terminationStatus
        }
    }

    /// Lines of `--print` output that are not `<seq> <hex>` of the generator's
    /// message, for sequence numbers 1, 2, ... in order.
    static func mismatches(_ lines: [Substring], payloads: PayloadGenerator) -> Int {
        var mismatches = 0
        for (index, line) in lines.enumerated() {
            let sequence = UInt64(index + 1)
            let expected = "\(sequence) " + payloads.payload(sequence: sequence).map { String(format: "%02x", $0) }.joined()
            if line != expected { mismatches += 1 }
        }
        return mismatches
    }

    @Test(.enabled(if: PublishListenProcessTests.binaryExists, "needs the feedreactor executable (swift build)"))
    func listenRecoversEverythingFromPublishInAnotherProcess() throws {
        let port = try freePort(), retransmit = try freePort()
        let group = "239.255.61.\(port % 200 + 1)"
        let listen = try Run(["listen", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                              "--rerequest", "127.0.0.1:\(retransmit)", "--session", "PROC000001",
                              "--until-end-of-session", "--timeout", "60", "--print", "--backend", "epoll"])
        #expect(listen.waitFor("listening", seconds: 20), "listen did not start: \(listen.errorText)")
        let publish = try Run(["publish", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                               "--session", "PROC000001", "--messages", "20000", "--rate", "40000",
                               "--size", "8:48", "--retransmit-port", "\(retransmit)", "--drop", "0.05",
                               "--seed", "9", "--linger", "3"])
        let listenStatus = listen.finish(seconds: 60)
        let publishStatus = publish.finish(seconds: 30)
        #expect(publishStatus == 0, "publish: \(publish.errorText)")
        #expect(listenStatus == 0, "listen: \(listen.errorText)")

        // Every message, in order, with the publisher's deterministic bytes.
        let lines = listen.outputText.split(separator: "\n")
        #expect(lines.count == 20_000)
        #expect(Self.mismatches(lines, payloads: PayloadGenerator(seed: 9, sizes: 8...48)) == 0)
        let summary = listen.errorText.split(separator: "\n").last ?? ""
        #expect(summary.contains("delivered=20000"))
        #expect(summary.contains("missing=none"))
        #expect(!summary.contains("recovered=0 "), "with 5% loss something must have been recovered: \(summary)")
    }

    @Test(.enabled(if: PublishListenProcessTests.binaryExists, "needs the feedreactor executable (swift build)"))
    func listenExitsNonZeroNamingMissingRangesWithoutAServer() throws {
        let port = try freePort(), nobody = try freePort()
        let group = "239.255.62.\(port % 200 + 1)"
        let listen = try Run(["listen", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                              "--rerequest", "127.0.0.1:\(nobody)", "--until-end-of-session", "--timeout", "3",
                              "--backend", "epoll"])
        #expect(listen.waitFor("listening", seconds: 20))
        let publish = try Run(["publish", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                               "--session", "GAPS000001", "--messages", "2000", "--rate", "20000",
                               "--drop", "0.2", "--seed", "4", "--linger", "0"])
        let status = listen.finish(seconds: 30)
        _ = publish.finish(seconds: 30)
        #expect(status != nil && status != 0)
        #expect(listen.errorText.contains("incomplete: missing "), "\(listen.errorText)")
        let summary = listen.errorText.split(separator: "\n").last ?? ""
        #expect(summary.hasPrefix("delivered="))
        #expect(!summary.contains("missing=none"))
    }
}
