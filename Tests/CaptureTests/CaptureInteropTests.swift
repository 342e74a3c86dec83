import Capture
import Foundation
import MoldUDP64
import Reactor
import Testing
import TestSupport

/// The capture module against the tools feed engineers use: files tshark
/// (dumpcap) writes, in pcap and pcapng, captured here on lo, read back
/// datagram for datagram; a `record`ed feed dissected by Wireshark's
/// MoldUDP64 dissector without a malformed frame; `replay` of that capture
/// into a live `listen` delivering what `listen --pcap` delivers, byte for
/// byte; `replay --serve-rerequests` answering from the capture.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && WiresharkCapture.tshark != nil && CLIProcess.binaryExists,
                             "needs root, tshark (apt-get install tshark) and the feedreactor executable"))
struct CaptureInteropTests {
    func freePort() throws -> UInt16 {
        let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { socket.close() }
        return try socket.localAddress().port
    }

    @Test(arguments: [["-F", "pcap"], []]) func tsharkWrittenFilesReadBack(options: [String]) throws {
        let (receiver, address) = try loopbackSocket()
        defer { receiver.close() }
        let (sender, _) = try loopbackSocket()
        defer { sender.close() }
        let capture = try WiresharkCapture(ports: [address.port], options: options)
        let payloads: [[UInt8]] = (0..<50).map { index in (0..<(index * 29 % 1400)).map { UInt8(($0 + index) & 0xFF) } }
        let before = PacketInfoClock.realtime()
        for payload in payloads { _ = try payload.withUnsafeBytes { try sender.send($0, to: address) } }
        let file = try capture.finish(frames: payloads.count)
        let after = PacketInfoClock.realtime()
        let mapped = try CaptureFile(path: file.path)
        let reader = try DatagramReader(mapped.bytes)
        if options.isEmpty { #expect(reader.reader.format == .pcapng) } else { #expect(reader.reader.format != .pcapng) }
        var seen: [[UInt8]] = []
        while let datagram = try reader.next() {
            guard datagram.destinationPort == address.port else { continue }
            seen.append(Array(datagram.payload))
            #expect(datagram.destination == CapturedAddress(ipv4: 0x7F00_0001))
            #expect(datagram.timestamp >= before - 1_000_000_000 && datagram.timestamp <= after + 1_000_000_000)
        }
        #expect(seen == payloads)
        #expect(reader.counters.malformed == 0 && reader.counters.cut == 0)
    }

    @Test func recordReplayAndListenPcapAgree() throws {
        let port = try freePort(), replayPort = try freePort(), serve = try freePort()
        let group = "239.255.93.\(port % 200 + 1)", replayGroup = "239.255.94.\(replayPort % 200 + 1)"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("record-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("feed.pcap").path

        // publish -> record
        let record = try CLIProcess(["record", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                                     "-w", file, "--timeout", "30", "--count", "1000000"])
        #expect(record.waitFor("recording", seconds: 20), "record did not start: \(record.errorText)")
        let (publishStatus, publish) = try CLIProcess.run(["publish", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                                                           "--session", "RECORD0001", "--messages", "3000", "--rate", "30000",
                                                           "--size", "0:120", "--seed", "3", "--linger", "0.2"])
        #expect(publishStatus == 0, "\(publish.errorText)")
        record.process.interrupt()
        #expect(record.finish(seconds: 20) == 2, "record: \(record.errorText)")
        #expect(record.summary.contains("interrupted=true"), "\(record.summary)")
        #expect(record.summary.contains("no_timestamp=0 no_pktinfo=0"), "\(record.summary)")

        // tshark: every frame MoldUDP64, none malformed or flagged.
        let url = URL(fileURLWithPath: file)
        let problems = try WiresharkCapture.dissect(url, ports: [port], filter: "_ws.malformed || _ws.expert.severity >= warning",
                                                    fields: ["frame.number", "_ws.col.Info"])
        #expect(problems.isEmpty, "tshark flags frames: \(problems.prefix(5))")
        let frames = try WiresharkCapture.dissect(url, ports: [port], filter: "moldudp64", fields: ["frame.time_epoch", "ip.dst"])
        let recorded = record.summary.split(separator: " ").first { $0.hasPrefix("recorded=") }.map { String($0.dropFirst(9)) }
        #expect(recorded == "\(frames.count)")
        #expect(frames.allSatisfy { $0.hasSuffix("\t\(group)") })

        // listen --pcap: every message, the publisher's bytes.
        let (offlineStatus, offline) = try CLIProcess.run(["listen", "--pcap", file, "--print", "--until-end-of-session"])
        #expect(offlineStatus == 0, "\(offline.errorText)")
        let payloads = PayloadGenerator(seed: 3, sizes: 0...120)
        let expected = (1...3000).map { "\($0) " + payloads.payload(sequence: UInt64($0)).map { String(format: "%02x", $0) }.joined() + "\n" }.joined()
        #expect(offline.outputText == expected)

        // replay -> live listen: the same lines.
        let live = try CLIProcess(["listen", "--group", replayGroup, "--port", "\(replayPort)", "--interface", "127.0.0.1",
                                   "--rerequest", "127.0.0.1:\(serve)", "--until-end-of-session", "--timeout", "30",
                                   "--print", "--backend", "epoll"])
        #expect(live.waitFor("listening", seconds: 20), "listen did not start: \(live.errorText)")
        let (replayStatus, replay) = try CLIProcess.run(["replay", file, "--group", replayGroup, "--port", "\(replayPort)",
                                                         "--interface", "127.0.0.1", "--speed", "2", "--serve-rerequests", "\(serve)",
                                                         "--timeout", "2"])
        #expect(live.finish(seconds: 30) == 0, "listen: \(live.errorText)")
        #expect(replayStatus == 0, "replay: \(replay.errorText)")
        #expect(live.outputText == offline.outputText)
        #expect(replay.summary.hasPrefix("sent=\(frames.count) "), "\(replay.summary)")
    }

    @Test func replayServesRerequestsFromTheCapture() throws {
        // A capture of three MoldUDP64 packets; replay it to a group nobody
        // joined and ask its server for messages 2...5.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(getpid()).pcap").path
        defer { unlink(path) }
        let writer = try PcapWriter(path: path)
        // Out of order in the capture, with an A/B copy: the store sorts them.
        for (index, first) in [UInt64(4), 1, 1, 7].enumerated() {
            let bytes = ListenPcapTests.packet(first, 3)
            try bytes.withUnsafeBytes {
                try writer.writeUDP($0, timestamp: UInt64(index) * 1000, source: .init(CapturedAddress(ipv4: 0x0A00_0001), port: 1),
                                    destination: .init(CapturedAddress(ipv4: 0xEF01_0101), port: 41000))
            }
        }
        try writer.close()
        let serve = try freePort()
        let group = "239.255.95.\(serve % 200 + 1)"
        let replay = try CLIProcess(["replay", path, "--group", group, "--port", "9", "--interface", "127.0.0.1",
                                     "--rate", "20", "--loop", "2", "--filter", "udp-port=41000",
                                     "--serve-rerequests", "\(serve)", "--timeout", "2"])
        #expect(replay.waitFor("sending to", seconds: 20), "\(replay.errorText)")
        #expect(replay.errorText.contains("messages 1..<10"), "\(replay.errorText)")
        let reactor = try Reactor(backend: .epoll)
        let (client, _) = try loopbackSocket()
        let answers = CollectingHandler()
        try reactor.register(client, handler: answers)
        let request = Request(session: try SessionID(validating: "PCAPTEST01"), sequenceNumber: 2, messageCount: 4)
        var buffer = [UInt8](repeating: 0, count: Request.size)
        _ = buffer.withUnsafeMutableBytes { request.encode(into: $0) }
        _ = try buffer.withUnsafeBytes { try client.send($0, to: SocketAddress("127.0.0.1", port: serve)) }
        try pump(reactor, cycles: 2000) { !answers.payloads.isEmpty }
        // 4 datagrams twice at 20/s, then answering until the timeout.
        #expect(replay.finish(seconds: 10) == 0, "\(replay.errorText)")
        #expect(replay.summary.hasPrefix("sent=8 "), "\(replay.summary)")
        #expect(replay.summary.contains("loops=2 "), "\(replay.summary)")
        #expect(replay.summary.contains("answers=1 "), "\(replay.summary)")
        let answer = try #require(answers.payloads.first)
        // The answer holds messages 2...5 exactly as captured.
        var expected = ListenPcapTests.session + FrameBuilder.be32(0) + FrameBuilder.be32(2) + FrameBuilder.be16(4)
        for sequence in UInt64(2)...5 {
            expected += FrameBuilder.be16(UInt16(ListenPcapTests.message(sequence).count)) + ListenPcapTests.message(sequence)
        }
        #expect(answer == expected)
    }
}

/// CLOCK_REALTIME in nanoseconds (what capture timestamps count).
enum PacketInfoClock {
    static func realtime() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
