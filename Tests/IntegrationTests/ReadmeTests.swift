import Foundation
import Testing

/// What the README promises a new user about the command line stays true: every
/// subcommand and option in its command block, the two-terminal example starting the
/// listener first, MulticastTail's opening command naming an interface.
@Suite struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The fenced block that follows "## The `feedreactor` command".
    func commandBlock() throws -> String {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## The `feedreactor` command"))
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        return String(rest[open.upperBound..<close.lowerBound])
    }

    @Test(.enabled(if: PublishListenProcessTests.binaryExists, "needs the feedreactor executable (swift build)"),
          arguments: ["demo", "listen", "publish", "rx-bench", "latency-bench", "poll-cost"])
    func commandBlockListsEveryOption(_ command: String) throws {
        let block = try commandBlock()
        #expect(block.contains("feedreactor \(command)"), "README's command block lacks \(command)")
        let help = PublishListenProcessTests.Run.self
        let run = try help.init([command, "--help"])
        _ = run.finish(seconds: 20)
        let options = run.outputText.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--"), line.hasPrefix("  --") else { return nil }
            return String(trimmed.prefix { $0 != " " && $0 != "\n" })
        }
        #expect(!options.isEmpty)
        for option in options where option != "--help" {
            #expect(block.contains(option), "README's command block lacks \(command) \(option)")
        }
    }

    @Test func twoTerminalExampleStartsTheListenerFirst() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try #require(readme.range(of: "Two terminals."))
        let after = readme[example.upperBound...]
        let listen = try #require(after.range(of: "feedreactor listen"))
        let publish = try #require(after.range(of: "feedreactor publish"))
        #expect(listen.lowerBound < publish.lowerBound)
    }

    @Test func multicastTailOpensWithACommandThatReceives() throws {
        let source = try String(contentsOf: Self.root.appendingPathComponent("Examples/MulticastTail/main.swift"), encoding: .utf8)
        let first = source.split(separator: "\n").first ?? ""
        #expect(first.contains("--interface lo"), "\(first)")
    }
}
