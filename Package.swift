// swift-tools-version: 6.1
import PackageDescription
import Foundation

// io_uring support is compiled in only where liburing's header is installed
// (Debian: liburing-dev). Without it the package still builds; the io_uring
// backend then reports itself unavailable and `.auto` picks epoll.
let haveLiburing = FileManager.default.fileExists(atPath: "/usr/include/liburing.h")
    && ProcessInfo.processInfo.environment["FEEDREACTOR_NO_URING"] == nil

// ReliableUDP's encryption (ReliableUDPCrypto, swift-crypto) is opt-in for now:
// FEEDREACTOR_CRYPTO=1 builds it (BoringSSL takes minutes) with its tests and
// `--key-file` in rudp-echo / rudp-bench; without it `--key-file` says so.
let haveCrypto = ProcessInfo.processInfo.environment["FEEDREACTOR_CRYPTO"] != nil
let cryptoTargets: [Target.Dependency] = haveCrypto ? ["ReliableUDPCrypto"] : []

let package = Package(
    name: "FeedReactor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Reactor", targets: ["Reactor"]),
        .library(name: "Multicast", targets: ["Multicast"]),
        .library(name: "MoldUDP64", targets: ["MoldUDP64"]),
        .library(name: "ReliableUDP", targets: ["ReliableUDP"]),
        .executable(name: "feedreactor", targets: ["FeedReactorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .target(
            name: "CFeedReactor",
            cSettings: haveLiburing ? [.define("FR_HAVE_LIBURING", to: "1")] : [],
            linkerSettings: haveLiburing ? [.linkedLibrary("uring")] : []
        ),
        .target(name: "Reactor", dependencies: ["CFeedReactor"]),
        .target(name: "Multicast", dependencies: ["Reactor", "CFeedReactor"]),
        .target(name: "MoldUDP64", dependencies: ["Reactor", "Multicast"]),
        .target(name: "ReliableUDP", dependencies: ["Reactor"]),
        .executableTarget(
            name: "FeedReactorCLI",
            dependencies: [
                "Reactor", "Multicast", "MoldUDP64", "ReliableUDP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ] + cryptoTargets
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
        .executableTarget(name: "FeedHandler", dependencies: ["MoldUDP64", "Multicast", "Reactor"], path: "Examples/FeedHandler"),
        .executableTarget(name: "MiniPublisher", dependencies: ["MoldUDP64", "Multicast", "Reactor"], path: "Examples/MiniPublisher"),
        .target(name: "TestSupport", dependencies: ["Reactor"], path: "Tests/TestSupport"),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "TestSupport", "CFeedReactor"]),
        .testTarget(name: "MulticastTests", dependencies: ["Multicast", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MoldUDP64", "Reactor", "TestSupport"]),
        .testTarget(name: "MoldUDP64Tests", dependencies: ["MoldUDP64", "Multicast", "TestSupport"]),
        .testTarget(name: "ReliableUDPTests", dependencies: ["ReliableUDP", "Reactor", "TestSupport"] + cryptoTargets),
    ]
)

if haveCrypto {
    package.products.append(.library(name: "ReliableUDPCrypto", targets: ["ReliableUDPCrypto"]))
    package.dependencies.append(.package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"))
    package.targets.append(.target(name: "ReliableUDPCrypto",
                                   dependencies: ["ReliableUDP", .product(name: "Crypto", package: "swift-crypto")]))
}
