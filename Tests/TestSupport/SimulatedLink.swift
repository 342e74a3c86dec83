/// SplitMix64: a small, fast, seeded generator so a simulated run is the same
/// every time (Steele, Lea, Flood: "Fast splittable pseudorandom number generators").
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double(next() >> 11) / Double(1 << 53) < p
    }
}

/// A one-way datagram link for protocol tests, driven by a fake clock:
/// seeded random loss (single and in bursts), duplication, reordering (extra
/// delay for some datagrams) and fixed delay plus jitter. Nothing touches a
/// socket; `receive(upTo:)` returns what has arrived by then.
///
/// ```swift
/// let link = SimulatedLink(seed: 7, impairment: .init(lossRate: 0.01, duplicateRate: 0.01))
/// link.send(bytes, now: clock)
/// for datagram in link.receive(upTo: clock + 1_000_000) { ... }
/// ```
public final class SimulatedLink {
    public struct Impairment: Sendable {
        /// Probability that a datagram is lost on its own.
        public var lossRate: Double
        /// Probability that a datagram starts a loss burst.
        public var burstRate: Double
        /// Datagrams lost in a burst (including the first).
        public var burstLength: ClosedRange<Int>
        /// Probability that a datagram is delivered twice.
        public var duplicateRate: Double
        /// Probability that a datagram is held back by `reorderDelay`.
        public var reorderRate: Double
        public var reorderDelay: ClosedRange<UInt64>
        /// Base one-way delay and uniform jitter on top of it (ns).
        public var delay: UInt64
        public var jitter: UInt64

        public init(lossRate: Double = 0, burstRate: Double = 0, burstLength: ClosedRange<Int> = 1...1,
                    duplicateRate: Double = 0, reorderRate: Double = 0,
                    reorderDelay: ClosedRange<UInt64> = 0...0, delay: UInt64 = 50_000, jitter: UInt64 = 0) {
            self.lossRate = lossRate
            self.burstRate = burstRate
            self.burstLength = burstLength
            self.duplicateRate = duplicateRate
            self.reorderRate = reorderRate
            self.reorderDelay = reorderDelay
            self.delay = delay
            self.jitter = jitter
        }

        public static let perfect = Impairment()
    }

    public var impairment: Impairment
    /// When set and returning true, the datagram is dropped (deterministic loss).
    public var dropIf: (([UInt8]) -> Bool)?
    /// A dead link drops everything.
    public var isUp = true
    public private(set) var sent = 0
    public private(set) var dropped = 0
    public private(set) var duplicated = 0
    public private(set) var reordered = 0

    var random: SeededGenerator
    var burstRemaining = 0
    var order: UInt64 = 0
    /// Datagrams in flight, sorted by (due, order), from `head` on: arrivals advance
    /// `head` instead of shifting the array (a window of a thousand datagrams in
    /// flight made every receive O(n)); the consumed prefix is dropped now and then.
    var queue: [(due: UInt64, order: UInt64, bytes: [UInt8])] = []
    var head = 0

    public init(seed: UInt64, impairment: Impairment = .perfect) {
        random = SeededGenerator(seed: seed)
        self.impairment = impairment
    }

    public var inFlight: Int { queue.count - head }
    /// When the next datagram arrives, if any is in flight.
    public var nextArrival: UInt64? { head < queue.count ? queue[head].due : nil }

    public func send(_ bytes: [UInt8], now: UInt64) {
        sent += 1
        if !isUp || dropIf?(bytes) == true { dropped += 1; return }
        if burstRemaining > 0 { burstRemaining -= 1; dropped += 1; return }
        if random.chance(impairment.burstRate) {
            burstRemaining = Int.random(in: impairment.burstLength, using: &random) - 1
            dropped += 1
            return
        }
        if random.chance(impairment.lossRate) { dropped += 1; return }
        enqueue(bytes, due: now + delayOne())
        if random.chance(impairment.duplicateRate) {
            duplicated += 1
            enqueue(bytes, due: now + delayOne())
        }
    }

    /// Everything that has arrived by `now`, in arrival order.
    public func receive(upTo now: UInt64) -> [[UInt8]] {
        var end = head
        while end < queue.count && queue[end].due <= now { end += 1 }
        let arrived = queue[head..<end].map(\.bytes)
        head = end
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return arrived
    }

    func delayOne() -> UInt64 {
        var delay = impairment.delay
        if impairment.jitter > 0 { delay += UInt64.random(in: 0...impairment.jitter, using: &random) }
        if random.chance(impairment.reorderRate) {
            reordered += 1
            delay += UInt64.random(in: impairment.reorderDelay, using: &random)
        }
        return delay
    }

    func enqueue(_ bytes: [UInt8], due: UInt64) {
        order += 1
        var low = head
        var high = queue.count
        while low < high {
            let middle = (low + high) / 2
            if queue[middle].due <= due { low = middle + 1 } else { high = middle }
        }
        queue.insert((due, order, bytes), at: low)
    }
}
