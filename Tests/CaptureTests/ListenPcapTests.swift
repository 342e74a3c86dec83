import Capture
import Foundation
import MoldUDP64
import Testing

/// `feedreactor listen --pcap` over captures written here: exactly-once
/// in-order delivery through duplicates, reordering and A/B copies; exit 2
/// naming exactly the missing ranges; --from-seq; bad files.
@Suite(.enabled(if: CLIProcess.binaryExists, "needs the feedreactor executable (swift build)"))
struct ListenPcapTests {
    static let session = Array("PCAPTEST01".utf8)

    /// Message n's bytes: n repeated (n % 7 + 1) times.
    static func message(_ sequence: UInt64) -> [UInt8] { Array(repeating: UInt8(sequence & 0xFF), count: Int(sequence % 7) + 1) }

    /// A MoldUDP64 downstream packet (MoldUDP64 1.00: session, sequence, count, blocks).
    static func packet(_ first: UInt64, _ count: Int, endOfSession: Bool = false) -> [UInt8] {
        var bytes = session + FrameBuilder.be32(UInt32(first >> 32)) + FrameBuilder.be32(UInt32(first & 0xFFFF_FFFF))
        bytes += FrameBuilder.be16(endOfSession ? 0xFFFF : UInt16(count))
        if !endOfSession {
            for sequence in first..<(first + UInt64(count)) {
                let message = message(sequence)
                bytes += FrameBuilder.be16(UInt16(message.count)) + message
            }
        }
        return bytes
    }

    /// Writes (line, packet) pairs, 1 ms apart; line 0 is 239.1.1.1:41000, line 1 239.1.1.2:41000.
    func capture(_ packets: [(line: Int, bytes: [UInt8])], name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("listen-pcap-\(getpid())-\(name).pcap").path
        let writer = try PcapWriter(path: path)
        for (index, entry) in packets.enumerated() {
            try entry.bytes.withUnsafeBytes { bytes in
                try writer.writeUDP(bytes, timestamp: 1_700_000_000_000_000_000 + UInt64(index) * 1_000_000,
                                    source: .init(CapturedAddress(ipv4: 0x0A00_0001), port: 30000),
                                    destination: .init(CapturedAddress(ipv4: 0xEF01_0101 + UInt32(entry.line)), port: 41000))
            }
        }
        try writer.close()
        return path
    }

    func expectedLines(_ sequences: [UInt64]) -> String {
        sequences.map { "\($0) " + Self.message($0).map { String(format: "%02x", $0) }.joined() + "\n" }.joined()
    }

    @Test func gapsAreNamedExactlyAndEverythingElseDeliveredOnce() throws {
        // Missing: 5-7 and 20. Line B repeats some packets (A/B copies); 11-12 arrive after 13-19.
        let packets: [(Int, [UInt8])] = [
            (0, Self.packet(1, 2)), (1, Self.packet(1, 2)), (0, Self.packet(3, 2)), (1, Self.packet(3, 2)),
            (0, Self.packet(8, 3)), (0, Self.packet(13, 7)), (0, Self.packet(11, 2)), (1, Self.packet(11, 2)),
            (0, Self.packet(8, 3)), (0, Self.packet(21, 2)), (0, Self.packet(23, 0, endOfSession: true)),
        ]
        let path = try capture(packets, name: "gaps")
        defer { unlink(path) }
        let (status, listen) = try CLIProcess.run(["listen", "--pcap", path, "--print", "--until-end-of-session"])
        #expect(status == 2, "\(listen.errorText)")
        #expect(listen.outputText == expectedLines(Array(1...4) + Array(8...19) + [21, 22]))
        #expect(listen.errorText.contains("listen: incomplete: missing 5-7, 20 (2 ranges, 4 messages)\n"), "\(listen.errorText)")
        #expect(listen.summary.hasSuffix("missing=5-7,20"), "\(listen.summary)")
        #expect(listen.summary.contains("delivered=18 "))
        #expect(listen.summary.contains("line_a_datagrams=8 line_a_duplicates=3 line_b_datagrams=3 line_b_duplicates=6"), "\(listen.summary)")
    }

    @Test func completeCaptureExitsZeroAndFromSeqWorks() throws {
        let packets: [(Int, [UInt8])] = [(0, Self.packet(1, 5)), (1, Self.packet(1, 5)), (1, Self.packet(6, 5)),
                                          (0, Self.packet(6, 5)), (0, Self.packet(11, 0, endOfSession: true))]
        let path = try capture(packets, name: "complete")
        defer { unlink(path) }
        let (status, all) = try CLIProcess.run(["listen", "--pcap", path, "--print", "--until-end-of-session"])
        #expect(status == 0, "\(all.errorText)")
        #expect(all.outputText == expectedLines(Array(1...10)))
        #expect(all.summary.hasSuffix("missing=none"))
        let (fromStatus, from) = try CLIProcess.run(["listen", "--pcap", path, "--print", "--from-seq", "7", "--port", "41000"])
        #expect(fromStatus == 0, "\(from.errorText)")
        #expect(from.outputText == expectedLines(Array(7...10)))
        // --count beyond what the capture holds: incomplete.
        let (countStatus, counted) = try CLIProcess.run(["listen", "--pcap", path, "--count", "11"])
        #expect(countStatus == 2)
        #expect(counted.errorText.contains("the capture ended before the requested count"))
        // A port with no traffic delivers nothing and misses nothing.
        let (otherStatus, other) = try CLIProcess.run(["listen", "--pcap", path, "--port", "9", "--count", "1"])
        #expect(otherStatus == 2)
        #expect(other.summary.contains("delivered=0 "))
    }

    @Test func badFilesAreClearErrors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("listen-pcap-\(getpid())-bad.pcap").path
        defer { unlink(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("this is not a capture file".utf8))
        let (status, listen) = try CLIProcess.run(["listen", "--pcap", path])
        #expect(status == 1)
        #expect(listen.errorText.contains("not a pcap or pcapng file"), "\(listen.errorText)")
        let (missingStatus, missing) = try CLIProcess.run(["listen", "--pcap", path + ".nonexistent"])
        #expect(missingStatus == 1)
        #expect(missing.errorText.contains("open failed"), "\(missing.errorText)")
        // A capture cut short mid-record: the records before it count, the cut is reported.
        let whole = try capture([(0, Self.packet(1, 3)), (0, Self.packet(4, 3))], name: "cut")
        defer { unlink(whole) }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        try bytes.dropLast(5).write(to: URL(fileURLWithPath: whole))
        let (cutStatus, cut) = try CLIProcess.run(["listen", "--pcap", whole, "--print"])
        #expect(cutStatus == 0)
        #expect(cut.outputText == expectedLines([1, 2, 3]))
        #expect(cut.errorText.contains("capture cut short"), "\(cut.errorText)")
    }
}
