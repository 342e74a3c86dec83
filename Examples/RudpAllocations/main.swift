// scripts/malloc-count.sh .build/release/RudpAllocations [--grouping] [--messages N]
//
// Counts heap allocations per `delivery` message in steady state: two
// ReliableUDP Connections joined directly (each datagram handed straight to the
// other side, acknowledgements flowing back), after a warm-up. Run it under
// scripts/malloc-count.sh, whose preload provides `mold_malloc_count`.
#if canImport(Glibc)
import Glibc
#endif
import ReliableUDP

typealias CountFunction = @convention(c) () -> UInt64
let mallocCount: CountFunction? = dlsym(nil, "mold_malloc_count").map { unsafeBitCast($0, to: CountFunction.self) }

let arguments = CommandLine.arguments
let grouping = arguments.contains("--grouping")
let messages = arguments.firstIndex(of: "--messages").flatMap { Int(arguments[$0 + 1]) } ?? 100_000

var configuration = Configuration()
if grouping { configuration.grouping = .init(delay: 100_000) }
let a = try Connection(configuration: configuration, localID: 1, peerID: 2, now: 0)
let b = try Connection(configuration: configuration, localID: 2, peerID: 1, now: 0)
let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
payload.initializeMemory(as: UInt8.self, repeating: 7)
var now: UInt64 = 1_000_000_000
var delivered = 0

@MainActor func exchange() {
    now += 10_000
    do { try a.send(.delivery, UnsafeRawBufferPointer(payload), now: now) } catch { fatalError("send: \(error)") }
    a.maintain(now: now) { datagram in
        b.receive(datagram, now: now) { _ in delivered += 1 }
        return true
    }
    b.maintain(now: now) { datagram in
        a.receive(datagram, now: now) { _ in }
        return true
    }
}

for _ in 0..<10_000 { exchange() }
let before = mallocCount?() ?? 0
let deliveredBefore = delivered
for _ in 0..<messages { exchange() }
let after = mallocCount?() ?? 0
guard let mallocCount else {
    print("no allocation counter: run under scripts/malloc-count.sh")
    exit(2)
}
_ = mallocCount
let count = delivered - deliveredBefore
print("grouping=\(grouping) messages=\(count) allocations=\(after - before) per_message=\(Double(after - before) / Double(max(1, count))) unacknowledged=\(a.unacknowledged)")
