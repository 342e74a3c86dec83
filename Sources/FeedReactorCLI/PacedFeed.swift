import CFeedReactor
import MoldUDP64
import Reactor

/// Appends `total` deterministic messages to a publisher at `rate` messages per
/// second, driven by a 1 ms periodic timer on the publisher's reactor, then ends
/// the session and, after `linger`, stops the reactor (the retransmission server
/// answers until then).
final class PacedFeed: TimerHandler {
    let publisher: Publisher
    let payloads: PayloadGenerator
    let total: UInt64
    let rate: Double
    let linger: UInt64
    /// Put the publish time (CLOCK_MONOTONIC ns) in each message's first 8 bytes
    /// (the demo measures publish-to-delivery latency with it).
    let stampTime: Bool
    var sent: UInt64 = 0
    var start: UInt64 = 0
    var endedAt: UInt64 = 0
    var tick = TimerHandle.invalid
    let buffer: UnsafeMutableRawBufferPointer
    /// Set (from any thread) when the receiving side is done: stop lingering.
    var onEnd: (() -> Void)?
    /// Called on the reactor's thread when the session ends (after the last message).
    var onSessionEnd: ((UInt64) -> Void)?

    static let tickInterval: UInt64 = 1_000_000

    init(publisher: Publisher, payloads: PayloadGenerator, total: UInt64, rate: Double, linger: UInt64, stampTime: Bool) {
        self.publisher = publisher
        self.payloads = payloads
        self.total = total
        self.rate = rate
        self.linger = linger
        self.stampTime = stampTime
        buffer = .allocate(byteCount: max(16, payloads.sizes.upperBound), alignment: 8)
    }

    deinit { buffer.deallocate() }

    func start(on reactor: Reactor) throws {
        start = reactor.now
        try publisher.attach(to: reactor)
        tick = try reactor.schedule(after: Self.tickInterval, period: Self.tickInterval, handler: self)
    }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if endedAt != 0 {
            if now >= endedAt &+ linger { reactor.cancel(tick); reactor.stop() }
            return
        }
        let elapsed = Double(now &- start) / 1e9
        let due = rate > 0 ? min(total, UInt64(elapsed * rate)) : total
        // At most 100k per tick so a stalled reactor does not flood on wake-up.
        var budget = 100_000
        while sent < due && budget > 0 {
            let sequence = publisher.nextSequenceNumber
            var length = payloads.fill(sequence: sequence, into: buffer)
            if stampTime {
                length = max(length, 8)
                buffer.storeBytes(of: fr_monotonic_ns().littleEndian, toByteOffset: 0, as: UInt64.self)
            }
            do {
                try publisher.append(UnsafeRawBufferPointer(rebasing: buffer[0..<length]), now: now)
            } catch {
                note("publish: \(error)")
                reactor.stop()
                return
            }
            sent += 1
            budget -= 1
        }
        if sent == total {
            publisher.endSession(now: now)
            onSessionEnd?(now)
            endedAt = now
        }
    }
}

/// Parses "MIN:MAX" (or a single number) into a size range.
func parseSizes(_ text: String) -> ClosedRange<Int>? {
    let parts = text.split(separator: ":")
    guard let low = parts.first.flatMap({ Int($0) }) else { return nil }
    let high = parts.count > 1 ? Int(parts[1]) : low
    guard parts.count <= 2, let high, low >= 0, high >= low, high <= 1300 else { return nil }
    return low...high
}
