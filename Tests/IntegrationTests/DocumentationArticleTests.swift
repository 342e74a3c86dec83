import Foundation
import Testing
import TestSupport

/// The DocC articles whose code comes from an example program (which the package
/// builds, and other suites run) show that program's code, line for line.
@Suite struct DocumentationArticleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: [
        ("FeedReactorMetrics/FeedReactorMetrics.docc/ExportingMetrics.md", "Examples/PrometheusExport/main.swift"),
        ("FeedReactorServices/FeedReactorServices.docc/RunningAFeedAsAService.md", "Examples/FeedService/main.swift"),
    ])
    func articleCodeIsTheExample(article: String, example: String) throws {
        let missing = try ArticleCode.blocksMissing(article: article, from: Self.root.appendingPathComponent(example).path)
        #expect(missing.isEmpty, "\(article): blocks not in \(example): \(missing)")
    }
}
