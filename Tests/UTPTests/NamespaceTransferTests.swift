import Foundation
import Testing
import TestSupport

/// `feedreactor utp-cat` across a router namespace with a tbf bottleneck and an
/// nftables 2% UDP drop (scripts/utp-netns.sh, step 1): byte-exact. Root only;
/// the 50 MiB run and the competition with TCP are the script's full mode. And
/// path-MTU discovery through a router whose next hop has MTU 1280
/// (scripts/utp-pmtu.sh): the ICMP "fragmentation needed" sets the path MTU.
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
        let (status, text) = try Self.runScript("utp-netns.sh", ["4", "200mbit", "2"], environment: ["TRANSFER_ONLY": "1"])
        #expect(status == 0)
        #expect(text.contains("alone bytes=4194304 byte_exact=yes"))
    }

    @Test("ICMP fragmentation needed from a router: the path MTU becomes the next hop's 1280, byte-exact")
    func icmpFragmentationNeededFromARouter() throws {
        guard TestEnvironment.isRoot else { print("skipped: needs root (network namespaces)"); return }
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { print("skipped: no feedreactor next to the tests"); return }
        let (status, text) = try Self.runScript("utp-pmtu.sh", ["4", "1280"])
        #expect(status == 0)
        #expect(text.contains("pmtu byte_exact=yes mtu=1280"))
        #expect(!text.contains("too_big_reports=0"), "the ICMP report reached the connection")
        // Without discovery every packet starts at 1500: those in flight when the ICMP
        // comes back are resent with DF clear (fragmentable), the rest at 1280.
        let (plainStatus, plain) = try Self.runScript("utp-pmtu.sh", ["4", "1280"], environment: ["NO_DISCOVERY": "1"])
        #expect(plainStatus == 0)
        #expect(plain.contains("pmtu byte_exact=yes mtu=1280"))
    }

    /// Runs a script of scripts/ with our feedreactor; its stdout. The scripts
    /// delete their namespaces on exit and bound their utp-cats with --timeout.
    static func runScript(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
        let process = ChildProcess()
        process.executableURL = Self.root.appendingPathComponent("scripts/" + name)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["FEEDREACTOR": Self.binary]) { $1 }) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()  // ends when the script exits
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text)
        return (process.terminationStatus, text)
    }
}
