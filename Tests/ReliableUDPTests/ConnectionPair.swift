import ReliableUDP
import TestSupport

/// Two connections joined by two seeded simulated links on a fake clock.
/// `step()` moves every datagram that has arrived, runs both connections'
/// timers and flushes, then advances the clock to the next event.
final class ConnectionPair {
    var now: UInt64 = 1_000_000_000
    let a: Connection
    let b: Connection
    let aToB: SimulatedLink
    let bToA: SimulatedLink
    /// What B delivers (A's messages).
    var onB: (ReceivedMessage) -> Void = { _ in }
    var onA: (ReceivedMessage) -> Void = { _ in }
    var steps = 0

    init(configuration: Configuration = Configuration(), seed: UInt64 = 1,
         impairment: SimulatedLink.Impairment = .perfect, reverse: SimulatedLink.Impairment? = nil) throws {
        a = try Connection(configuration: configuration, localID: 0xA, peerID: 0xB, now: now)
        b = try Connection(configuration: configuration, localID: 0xB, peerID: 0xA, now: now)
        aToB = SimulatedLink(seed: seed, impairment: impairment)
        bToA = SimulatedLink(seed: seed &+ 1, impairment: reverse ?? impairment)
    }

    /// A transmit closure onto `link`.
    func sender(_ link: SimulatedLink) -> (UnsafeRawBufferPointer) -> Bool {
        { [unowned self] datagram in link.send(Array(datagram), now: self.now); return true }
    }

    func deliverArrivals() {
        for datagram in aToB.receive(upTo: now) {
            datagram.withUnsafeBytes { raw in b.receive(raw, now: now) { onB($0) } }
        }
        for datagram in bToA.receive(upTo: now) {
            datagram.withUnsafeBytes { raw in a.receive(raw, now: now) { onA($0) } }
        }
    }

    /// One round: arrivals, timers + flush on both sides, then the clock moves
    /// to the next arrival or deadline (at most `maxStep` ahead).
    func step(maxStep: UInt64 = 10_000_000) {
        steps += 1
        deliverArrivals()
        a.maintain(now: now, transmit: sender(aToB))
        b.maintain(now: now, transmit: sender(bToA))
        var next = now + maxStep
        for candidate in [aToB.nextArrival, bToA.nextArrival, a.nextDeadline, b.nextDeadline] {
            if let candidate { next = min(next, candidate) }
        }
        now = max(now + 1, next)
    }

    /// Steps until `condition` holds or `limit` steps pass.
    func run(limit: Int = 1_000_000, until condition: () -> Bool) {
        var count = 0
        while !condition() && count < limit {
            step()
            count += 1
        }
    }
}

/// Test payloads: 8-byte index, 8-byte check word, so "nothing invented" can
/// be verified on every delivered message.
enum TestPayload {
    static let magic: UInt64 = 0x5EED_F00D_CAFE_BABE

    static func make(_ index: UInt64, size: Int = 16) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: max(16, size))
        withUnsafeBytes(of: index.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: (index ^ magic).littleEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        return bytes
    }

    /// The index, or nil when the bytes are not a payload `make` produced.
    static func index(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= 16 else { return nil }
        let index = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let check = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard check == index ^ magic else { return nil }
        for position in 16..<bytes.count where bytes[position] != UInt8(truncatingIfNeeded: index) { return nil }
        return index
    }
}

extension SimulatedLink.Impairment {
    /// Loss at `rate` (a tenth of it in bursts of 2-5), 1% duplication, 2%
    /// reordering by up to 2 ms, 1 ms delay with 200 µs jitter.
    static func lossy(_ rate: Double) -> Self {
        .init(lossRate: rate * 0.9, burstRate: rate * 0.1 / 3.5, burstLength: 2...5, duplicateRate: 0.01,
              reorderRate: 0.02, reorderDelay: 100_000...2_000_000, delay: 1_000_000, jitter: 200_000)
    }
}
