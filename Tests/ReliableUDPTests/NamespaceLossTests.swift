import Foundation
import Testing
import TestSupport

/// `feedreactor rudp-bench --guarantee delivery` against `rudp-echo` across a
/// veth pair between two network namespaces with nftables dropping 1% and then
/// 5% of packets at random in each direction (scripts/rudp-netns.sh, which
/// creates and deletes its own uniquely named namespaces): every message must
/// come back. Root only; the comparison with TCP is the script's full mode.
@Suite("ReliableUDP through a lossy namespace pair", .serialized)
struct NamespaceLossTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("feedreactor").path
    }

    @Test func deliveryCompletesAtOneAndFivePercentLoss() throws {
        guard TestEnvironment.isRoot else { print("skipped: needs root (network namespaces, nftables)"); return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            print("skipped: nft missing (apt-get install -y nftables)"); return
        }
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { print("skipped: no feedreactor next to the tests"); return }
        let messages = 3000
        let process = ChildProcess()
        process.executableURL = Self.root.appendingPathComponent("scripts/rudp-netns.sh")
        process.arguments = ["1", "5"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["FEEDREACTOR": Self.binary, "MESSAGES": "\(messages)", "RUDP_ONLY": "1", "TIMEOUT": "30"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ends when the script exits: its rudp-bench and rudp-echo have --timeout.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text)
        #expect(process.terminationStatus == 0)
        for loss in ["1", "5"] {
            let line = text.split(separator: "\n").first { $0.hasPrefix("loss=\(loss)% rudp ") }
            #expect(line?.contains(" delivered=\(messages) ") == true, "loss \(loss)%: \(line ?? "no line")")
        }
    }
}
