import Foundation
import Testing
import TestSupport

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
          arguments: ["demo", "listen", "publish", "rx-bench", "latency-bench", "poll-cost", "soup-client"])
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

    /// The ```swift blocks of "## Using the library" (up to the next `## ` heading).
    func libraryBlocks() throws -> [[String]] {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "\n## Using the library\n"))
        let rest = readme[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return ArticleCode.blocks(in: String(rest[..<end]))
    }

    /// The feed handler the README shows a library user is Examples/TinyFeedHandler,
    /// which the package compiles, line for line.
    @Test func libraryFeedHandlerIsTheCompiledExample() throws {
        let handler = try #require(try libraryBlocks().first { $0.contains("import MoldUDP64") })
        let example = Self.root.appendingPathComponent("Examples/TinyFeedHandler/main.swift").path
        #expect(try ArticleCode.contains(handler, sourcePath: example), "README's feed handler differs from \(example)")
    }

    /// Every product the README's Package.swift snippet names is a library product.
    @Test func libraryProductsExist() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let snippet = try #require(try libraryBlocks().first { $0.contains { $0.hasPrefix(".package(url:") } })
        let named = snippet.compactMap { line -> String? in
            guard let open = line.range(of: ".product(name: \""),
                  let close = line[open.upperBound...].firstIndex(of: "\"") else { return nil }
            return String(line[open.upperBound..<close])
        }
        #expect(named.count >= 5)
        for product in named {
            #expect(manifest.contains(".library(name: \"\(product)\""), "README names product \(product), Package.swift has none")
        }
    }

    @Test func multicastTailOpensWithACommandThatReceives() throws {
        let source = try String(contentsOf: Self.root.appendingPathComponent("Examples/MulticastTail/main.swift"), encoding: .utf8)
        let first = source.split(separator: "\n").first ?? ""
        #expect(first.contains("--interface lo"), "\(first)")
    }
}
