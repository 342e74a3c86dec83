// swift-tools-version: 6.1
import PackageDescription
import Foundation

// io_uring support is compiled in only where liburing's header is installed
// (Debian: liburing-dev). Without it the package still builds; the io_uring
// backend then reports itself unavailable and `.auto` picks epoll.
let haveLiburing = FileManager.default.fileExists(atPath: "/usr/include/liburing.h")
    && ProcessInfo.processInfo.environment["FEEDREACTOR_NO_URING"] == nil

let package = Package(
    name: "FeedReactor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "Multicast", targets: ["Multicast"]),
        .library(name: "MoldUDP64", targets: ["MoldUDP64"]),
        .library(name: "FeedReactorMetrics", targets: ["FeedReactorMetrics"]),
        .library(name: "FeedReactorServices", targets: ["FeedReactorServices"]),
        .library(name: "SoupBinTCP", targets: ["SoupBinTCP"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "ReliableUDP", targets: ["ReliableUDP"]),
        .library(name: "ReliableUDPCrypto", targets: ["ReliableUDPCrypto"]),
        .library(name: "UTP", targets: ["UTP"]),
        .executable(name: "feedreactor", targets: ["FeedReactorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The Swift server ecosystem (issue 16): diagnostics, metrics, lifecycle, docs.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // ReliableUDP's opt-in encryption (ChaCha20-Poly1305); BoringSSL adds about
        // 4 CPU-minutes to a clean debug build and 5 to a release build here.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(
            name: "CFeedReactor",
            cSettings: haveLiburing ? [.define("FR_HAVE_LIBURING", to: "1")] : [],
            linkerSettings: haveLiburing ? [.linkedLibrary("uring")] : []
        ),
        .target(name: "Reactor", dependencies: ["CFeedReactor", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Multicast", dependencies: ["Reactor", "CFeedReactor"]),
        .target(name: "MoldUDP64", dependencies: ["Reactor", "Multicast", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "FeedReactorMetrics",
            dependencies: ["Reactor", "Multicast", "MoldUDP64", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        .target(
            name: "FeedReactorServices",
            dependencies: [
                "Reactor", "MoldUDP64", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "SoupBinTCP", dependencies: ["Reactor", "MoldUDP64"]),
        .target(name: "Capture"),
        .target(name: "ReliableUDP", dependencies: ["Reactor"]),
        .target(name: "ReliableUDPCrypto", dependencies: ["ReliableUDP", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "UTP", dependencies: ["Reactor", "CFeedReactor"]),
        .executableTarget(
            name: "FeedReactorCLI",
            dependencies: [
                "Reactor", "Multicast", "MoldUDP64", "Capture", "UTP", "ReliableUDP", "ReliableUDPCrypto", "SoupBinTCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(name: "EmbeddedLoop", dependencies: ["Reactor", "CFeedReactor"], path: "Examples/EmbeddedLoop"),
        .executableTarget(
            name: "MulticastTail",
            dependencies: ["Reactor", "Multicast", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/MulticastTail"
        ),
        .executableTarget(name: "PublishThroughput", dependencies: ["MoldUDP64", "Reactor", "CFeedReactor"], path: "Examples/PublishThroughput"),
        .executableTarget(name: "RudpAllocations", dependencies: ["ReliableUDP"], path: "Examples/RudpAllocations"),
        .executableTarget(name: "MoldThroughput", dependencies: ["MoldUDP64"], path: "Examples/MoldThroughput"),
        .executableTarget(name: "MoldCapture", dependencies: ["Capture", "MoldUDP64"], path: "Examples/MoldCapture"),
        .executableTarget(name: "FeedHandler", dependencies: ["MoldUDP64", "Multicast", "Reactor"], path: "Examples/FeedHandler"),
        .executableTarget(
            name: "PrometheusExport",
            dependencies: [
                "FeedReactorMetrics", "MoldUDP64", "Multicast", "Reactor",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Examples/PrometheusExport"
        ),
        .executableTarget(
            name: "FeedService",
            dependencies: [
                "FeedReactorServices", "MoldUDP64", "Multicast", "Reactor",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/FeedService"
        ),
        .executableTarget(name: "TinyFeedHandler", dependencies: ["MoldUDP64", "Multicast", "Reactor"], path: "Examples/TinyFeedHandler"),
        .executableTarget(name: "MiniPublisher", dependencies: ["MoldUDP64", "Multicast", "Reactor"], path: "Examples/MiniPublisher"),
        .target(name: "TestSupport", dependencies: ["Reactor"], path: "Tests/TestSupport"),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "TestSupport", "CFeedReactor"]),
        .testTarget(name: "MulticastTests", dependencies: ["Multicast", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MoldUDP64", "Reactor", "TestSupport"]),
        .testTarget(name: "MoldUDP64Tests", dependencies: ["MoldUDP64", "Multicast", "TestSupport"]),
        .testTarget(
            name: "EcosystemTests",
            dependencies: [
                "Reactor", "Multicast", "MoldUDP64", "FeedReactorMetrics", "FeedReactorServices", "TestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SoupBinTCPTests", dependencies: ["SoupBinTCP", "MoldUDP64", "Multicast", "Reactor", "TestSupport"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "MoldUDP64", "Reactor", "TestSupport"]),
        .testTarget(name: "ReliableUDPTests", dependencies: ["ReliableUDP", "ReliableUDPCrypto", "Reactor", "TestSupport"]),
        .testTarget(name: "UTPTests", dependencies: ["UTP", "Reactor", "TestSupport"]),
    ]
)

