import Foundation
import Reactor
import Testing
import TestSupport
import UTP

/// Our µTP against libtorrent 2.0's (Debian python3-libtorrent), driven by
/// Tests/libtorrent/libtorrent_peer.py with TCP disabled in libtorrent, so every
/// byte crosses both µTP implementations. Skips, saying why, without the module.
@Suite("µTP interoperability with libtorrent", .serialized)
struct LibtorrentInteropTests {
    static let helper = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("libtorrent/libtorrent_peer.py").path
    static let python = "/usr/bin/python3"

    static var libtorrentMissing: String? {
        guard FileManager.default.isExecutableFile(atPath: python) else { return "no /usr/bin/python3" }
        let probe = ChildProcess()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import libtorrent"]
        probe.standardError = FileHandle.nullDevice
        do { try probe.run() } catch { return "cannot run python3: \(error)" }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 ? nil : "python3-libtorrent is not installed (apt-get install -y python3-libtorrent)"
    }

    /// A helper process whose stdout lines are collected on a background thread.
    final class Helper: @unchecked Sendable {
        let process = ChildProcess()
        let input = Pipe()
        let output = Pipe()
        let lock = NSLock()
        var text = ""

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: LibtorrentInteropTests.python)
            process.arguments = [LibtorrentInteropTests.helper] + arguments
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            output.fileHandleForReading.readabilityHandler = { [unowned self] handle in
                let data = handle.availableData
                lock.lock(); text += String(decoding: data, as: UTF8.self); lock.unlock()
            }
            try process.run()
        }

        var lines: [String] { lock.lock(); defer { lock.unlock() }; return text.split(separator: "\n").map(String.init) }

        func line(startingWith prefix: String) -> [String: String]? {
            guard let line = lines.first(where: { $0.hasPrefix(prefix) }) else { return nil }
            var fields: [String: String] = [:]
            for pair in line.split(separator: " ").dropFirst() {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }

        /// Waits (bounded, 60 s) for a line; nil if the process ends or time runs out.
        func wait(for prefix: String, seconds: Double = 60) -> [String: String]? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let fields = line(startingWith: prefix) { return fields }
                if !process.isRunning { return line(startingWith: prefix) }
                Thread.sleep(forTimeInterval: 0.01)  // waiting on another process, not on our own logic
            }
            return nil
        }

        func stop() {
            try? input.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if process.isRunning { process.terminate() }
            output.fileHandleForReading.readabilityHandler = nil
        }
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "utp-interop-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    final class Acceptor: UTPAcceptor {
        let wire: PeerWire
        var accepted = 0
        init(wire: PeerWire) { self.wire = wire }
        func accepted(_ stream: UTPStream, on socket: UTPSocket) {
            accepted += 1
            wire.attach(stream)
        }
    }

    @Test("download a whole torrent from libtorrent over our µTP")
    func downloadFromLibtorrent() throws {
        if let reason = Self.libtorrentMissing {
            print("skipped: \(reason)")
            return
        }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let size = 6 * 1024 * 1024 + 12_345
        let seeder = try Helper(["seed", "--dir", directory, "--size", "\(size)"])
        defer { seeder.stop() }
        let ready = try #require(seeder.wait(for: "ready"), "libtorrent did not start seeding: \(seeder.lines)")
        let port = try #require(UInt16(ready["port"] ?? ""))
        let expected = try [UInt8](Data(contentsOf: URL(fileURLWithPath: ready["file"]!)))
        #expect(expected.count == size)

        let reactor = try Reactor()
        defer { reactor.close() }
        let socket = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        defer { socket.close() }
        let wire = PeerWire(infoHash: Self.hexBytes(ready["infohash"]!), size: size,
                            pieceLength: Int(ready["piece_length"]!)!, data: nil, seeding: false)
        let stream = try socket.connect(to: SocketAddress("127.0.0.1", port: port))
        wire.attach(stream)
        try pump(reactor, cycles: 200_000, timeout: 5_000_000) { wire.complete || wire.closed || wire.protocolError != nil }
        #expect(wire.protocolError == nil)
        #expect(!wire.closed, "closed early: \(String(describing: wire.closeError))")
        #expect(wire.receivedBytes == size)
        #expect(wire.data == expected, "every byte checked against the seeded file")
        let stats = stream.statistics
        print("libtorrent->us: \(size) bytes, packets sent \(stats.packetsSent), resent \(stats.retransmissions), malformed \(socket.endpoint.counters.malformedTotal)")
        #expect(socket.endpoint.counters.malformedTotal == 0)
        stream.close()
        try pump(reactor, cycles: 200, timeout: 5_000_000) { wire.closed }
    }

    @Test("libtorrent downloads a whole torrent from us over µTP (it checks every piece's SHA-1)")
    func libtorrentDownloadsFromUs() throws {
        if let reason = Self.libtorrentMissing {
            print("skipped: \(reason)")
            return
        }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let size = 4 * 1024 * 1024 + 777
        let maker = try Helper(["make", "--dir", directory + "/ours", "--size", "\(size)"])
        let made = try #require(maker.wait(for: "made"), "could not make the torrent: \(maker.lines)")
        maker.stop()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: made["file"]!)))

        let reactor = try Reactor()
        defer { reactor.close() }
        let socket = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        defer { socket.close() }
        let wire = PeerWire(infoHash: Self.hexBytes(made["infohash"]!), size: size,
                            pieceLength: Int(made["piece_length"]!)!, data: bytes, seeding: true)
        let acceptor = Acceptor(wire: wire)
        socket.acceptor = acceptor
        let leecher = try Helper(["leech", "--torrent", made["torrent"]!, "--peer", "127.0.0.1:\(socket.localAddress.port)",
                                  "--dir", directory + "/theirs", "--timeout", "60"])
        defer { leecher.stop() }
        try pump(reactor, cycles: 400_000, timeout: 5_000_000) {
            leecher.line(startingWith: "done") != nil || leecher.line(startingWith: "failed") != nil || !leecher.process.isRunning
        }
        let done = leecher.line(startingWith: "done")
        print("us->libtorrent: accepted \(acceptor.accepted) counters \(socket.endpoint.counters) handshake \(wire.handshakeReceived) inbox \(wire.inbox.count) served \(wire.requestsServed) err \(String(describing: wire.protocolError)) closed \(wire.closed) \(String(describing: wire.closeError))")
        #expect(done != nil, "libtorrent did not finish: \(leecher.lines)")
        #expect(done?["bytes"] == "\(size)")
        #expect(acceptor.accepted >= 1)
        #expect(wire.requestsServed > 0)
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/theirs/payload.bin")))
        #expect(written == bytes)
    }
}
