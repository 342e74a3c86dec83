import Foundation

/// Keeps a DocC article's code true: every ```swift block of the article must
/// appear, line for line, in a source file the package compiles (a test that
/// runs it, or an example program).
/// Indentation and blank lines are ignored (the test nests the code in a
/// function), nothing else is.
///
/// ```swift
/// let missing = try ArticleCode.blocksMissing(article: "UTP/UTP.docc/GettingStartedWithUTP.md",
///                                             from: root.appendingPathComponent("Tests/UTPTests/GettingStartedTests.swift").path)
/// #expect(missing.isEmpty, "article blocks not in the test: \(missing)")
/// ```
public enum ArticleCode {
    /// The package's root directory, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The ```swift blocks of `Sources/<article>` (a path under Sources/), each as
    /// its trimmed, non-empty lines.
    public static func blocks(article: String) throws -> [[String]] {
        blocks(in: try String(contentsOf: root.appendingPathComponent("Sources").appendingPathComponent(article),
                              encoding: .utf8))
    }

    /// The ```swift blocks of Markdown `text`, each as its trimmed, non-empty lines.
    public static func blocks(in text: String) -> [[String]] {
        var blocks: [[String]] = []
        var current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed == "```swift" {
                current = []
            } else if current != nil, trimmed == "```" {
                blocks.append(current!)
                current = nil
            } else if current != nil, !trimmed.isEmpty {
                current!.append(trimmed)
            }
        }
        return blocks
    }

    /// The blocks of `article` that do not appear in the file at `sourcePath`
    /// (pass `#filePath`), as their first lines; empty when all do. An article
    /// without any block counts as missing its code.
    public static func blocksMissing(article: String, from sourcePath: String) throws -> [String] {
        let blocks = try blocks(article: article)
        guard !blocks.isEmpty else { return ["\(article) has no swift code block"] }
        return try blocks.filter { try !contains($0, sourcePath: sourcePath) }.map { $0.first ?? "" }
    }

    /// True when the file at `sourcePath` holds `block`'s lines consecutively
    /// (trimmed, blank lines ignored).
    public static func contains(_ block: [String], sourcePath: String) throws -> Bool {
        let source = try String(contentsOfFile: sourcePath, encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return source.indices.contains { start in
            start + block.count <= source.count && Array(source[start..<start + block.count]) == block
        }
    }
}
