import Foundation
import Multicast
import Reactor
import Testing
import TestSupport

/// `Examples/FeedService` (a MoldUDP64 client in a ServiceGroup) receiving SIGTERM
/// in its own process: it shuts down cleanly, with its summary and exit 0.
@Suite struct FeedServiceSignalTests {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("FeedService")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path), "needs the FeedService example (swift build)"))
    func sigtermShutsTheClientDownCleanly() throws {
        let (server, serverAddress) = try loopbackSocket()
        defer { server.close() }
        let group = "239.255.83.1"
        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = ["--group", group, "--port", "0", "--interface", "127.0.0.1", "--rerequest", "\(serverAddress)"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }
        var text = output.readFirstLine()
        let port = try #require(text.split(separator: "=").last.flatMap { UInt16($0.prefix { $0.isNumber }) }, "\(text)")

        // 1,000 messages in 10 packets, in order, nothing to recover.
        let feed = MoldFeed(session: "SIGTERM001", messages: MoldFeed.messages(count: 1_000, seed: 5))
        let sender = try MulticastSender(group: IPAddress(group), port: port, interface: .address(try IPAddress("127.0.0.1")))
        for packet in feed.packets(perPacket: 25) { _ = try packet.withUnsafeBytes { try sender.socket.send($0, to: sender.destination) } }

        // SIGTERM: the ServiceGroup's graceful shutdown leaves the lines, lets
        // recovery in flight finish (none here), closes the sockets, prints the summary.
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { RunLoop.current.run(until: Date().addingTimeInterval(0.01)) }
        #expect(!process.isRunning, "SIGTERM did not end the service")
        process.waitUntilExit()
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(process.terminationReason == .exit, "\(text)")
        let summary = try #require(text.split(separator: "\n").first { $0.hasPrefix("summary ") }, "\(text)")
        #expect(summary.contains("in_flight=0"), "\(summary)")
        #expect(summary.contains("missing=none"), "\(summary)")
    }
}
