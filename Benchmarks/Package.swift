// swift-tools-version: 6.1
import PackageDescription
import Foundation

// The benchmarks live in their own package so that the library's users never
// resolve package-benchmark (and its malloc interposer) or SwiftNIO.
//
// Run from this directory:
//   swift package --disable-sandbox benchmark                      # all suites
//   swift package benchmark thresholds check                       # the allocation gates
//   ./compare.sh                                                   # receive throughput vs C and NIO

// A path dependency's identity is its directory name (the worktree or checkout
// name), not the manifest's package name; derive it so products resolve anywhere.
let feedReactor = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "FeedReactorBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        // The explicit trait matters: the default traits pull in a package that is
        // not available here, and MallocInterposer is what counts allocations.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", "2.101.0"..<"2.102.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The SwiftNIO receiver compare.sh measures against (same CLI as rx-bench).
        .executableTarget(
            name: "NIOReceiver",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Not directly under a folder named Benchmarks: the benchmark plugin
            // treats every executable there as a benchmark suite.
            path: "NIOReceiver/Sources"
        ),
        // The SwiftNIO TCP sink and echo server tcp.sh measures against (same CLI as tcp-bench).
        .executableTarget(
            name: "NIOTCPServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "NIOTCPServer/Sources"
        ),
        // What the suites share (gate configuration, backends, poll loop).
        // Outside Benchmarks/Benchmarks: only executables belong there.
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Reactor", package: feedReactor),
            ],
            path: "BenchmarkSupport"
        ),
    ]
)

// Benchmark suites: one executable target per folder under Benchmarks/<Suite>/,
// each with its thresholds in Thresholds/<Suite>.<benchmark>.p90.json.
// To add a suite: create Benchmarks/<Suite>/<Suite>.swift
// with `let benchmarks: @Sendable () -> Void = { ... }`, add an entry here naming
// the library products it needs, run it, then generate its thresholds.
let suites: [(name: String, products: [String])] = [
    ("ReactorBenchmarks", ["Reactor"]),
    ("MulticastBenchmarks", ["Reactor", "Multicast"]),
    ("MoldUDP64Benchmarks", ["Reactor", "Multicast", "MoldUDP64", "FeedReactorMetrics"]),
    ("SoupBinTCPBenchmarks", ["Reactor", "MoldUDP64", "SoupBinTCP"]),
    ("CaptureBenchmarks", ["Capture"]),
    ("UTPBenchmarks", ["Reactor", "UTP"]),
    ("ReliableUDPBenchmarks", ["Reactor", "ReliableUDP", "ReliableUDPCrypto"]),
    ("TCPBenchmarks", ["Reactor"]),
    ("TCPURingBenchmarks", ["Reactor"]),
]

for suite in suites {
    package.targets.append(
        .executableTarget(
            name: suite.name,
            dependencies: [.product(name: "Benchmark", package: "benchmark"), "BenchmarkSupport",
                           .product(name: "Logging", package: "swift-log")]
                + suite.products.map { .product(name: $0, package: feedReactor) },
            path: "Benchmarks/\(suite.name)",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
}
