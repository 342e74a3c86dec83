import Foundation
import Testing
import TestSupport

/// `feedreactor utp-cat` across a router namespace with a tbf bottleneck and an
/// nftables 2% UDP drop (scripts/utp-netns.sh, step 1): byte-exact. Root only;
/// the 50 MiB run and the competition with TCP are the script's full mode.
@Suite("µTP through a lossy, rate-limited namespace path", .serialized)
struct NamespaceTransferTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("feedreactor").path
    }

    @Test func lossyBottleneckTransferIsByteExact() throws {
        guard TestEnvironment.isRoot else { print("skipped: needs root (network namespaces)"); return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") else {
            print("skipped: nft missing (apt-get install -y nftables)"); return
        }
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { print("skipped: no feedreactor next to the tests"); return }
        let process = Process()
        process.executableURL = Self.root.appendingPathComponent("scripts/utp-netns.sh")
        process.arguments = ["4", "200mbit", "2"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["FEEDREACTOR": Self.binary, "TRANSFER_ONLY": "1"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()  // ends when the script exits (its utp-cats have --timeout)
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text)
        #expect(process.terminationStatus == 0)
        #expect(text.contains("alone bytes=4194304 byte_exact=yes"))
    }
}
