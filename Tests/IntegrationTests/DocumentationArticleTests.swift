import Foundation
import Testing
import TestSupport

/// Each DocC article shows code that compiles and runs, line for line: an example
/// program's (which the package builds and other suites run), or a module's
/// `GettingStartedTests` (which run it and check the outcome).
@Suite struct DocumentationArticleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: [
        ("FeedReactorMetrics/FeedReactorMetrics.docc/ExportingMetrics.md", "Examples/PrometheusExport/main.swift"),
        ("FeedReactorServices/FeedReactorServices.docc/RunningAFeedAsAService.md", "Examples/FeedService/main.swift"),
        ("SoupBinTCP/SoupBinTCP.docc/GettingStartedWithSoupBinTCP.md", "Tests/SoupBinTCPTests/GettingStartedTests.swift"),
        ("Capture/Capture.docc/GettingStartedWithCapture.md", "Tests/CaptureTests/GettingStartedTests.swift"),
        ("ReliableUDP/ReliableUDP.docc/GettingStartedWithReliableUDP.md", "Tests/ReliableUDPTests/GettingStartedTests.swift"),
        ("UTP/UTP.docc/GettingStartedWithUTP.md", "Tests/UTPTests/GettingStartedTests.swift"),
    ])
    func articleCodeIsCompiled(article: String, source: String) throws {
        let missing = try ArticleCode.blocksMissing(article: article, from: Self.root.appendingPathComponent(source).path)
        #expect(missing.isEmpty, "\(article): blocks not in \(source): \(missing)")
    }
}
