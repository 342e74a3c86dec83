// swift-tools-version: 6.0
// The fixture of `scripts/undocumented.py --self-test` (not part of FeedReactor).
import PackageDescription

let package = Package(
    name: "Fixture",
    products: [.library(name: "Fixture", targets: ["Fixture"])],
    targets: [.target(name: "Fixture")]
)
