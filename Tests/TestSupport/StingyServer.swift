/// A model of a busy exchange re-request server, for recovery tests on a fake
/// clock (and, wrapped in a socket handler, over loopback): it answers each
/// request with at most `maxMessagesPerAnswer` messages, split into packets
/// of at most `maxMessagesPerPacket` (MoldUDP64 1.00 lets a server return
/// fewer messages than asked), loses a seeded fraction of whole answers,
/// delays answers, goes silent in bursts, and cannot answer for messages it
/// has not published or never held (`unavailable`).
///
/// Written from the spec with `MoldFeed`, independent of the package's
/// `RetransmissionServer`.
///
/// ```swift
/// let server = StingyServer(feed: feed, seed: 3, behaviour: .init(maxMessagesPerAnswer: 14, maxMessagesPerPacket: 7,
///                                                                 answerLoss: 0.2))
/// server.receive(request: bytes, now: now)
/// for packet in server.answers(upTo: now) { client.answer(packet) }
/// ```
public final class StingyServer {
    public struct Behaviour: Sendable {
        public var maxMessagesPerAnswer: Int
        public var maxMessagesPerPacket: Int
        /// Probability that a whole answer (all its packets) never arrives.
        public var answerLoss: Double
        /// Probability that one packet of an answer is lost on its own.
        public var packetLoss: Double
        /// Delay from request to answer (uniform in the range), ns.
        public var delay: ClosedRange<UInt64>
        /// Probability, per request, that the server starts a silent spell,
        /// and how long the spell lasts (no answers at all), ns.
        public var silenceRate: Double
        public var silence: ClosedRange<UInt64>
        /// Sequence numbers the server cannot send (its store lost them).
        public var unavailable: [Range<UInt64>]

        public init(maxMessagesPerAnswer: Int = 14, maxMessagesPerPacket: Int = 7, answerLoss: Double = 0.2,
                    packetLoss: Double = 0, delay: ClosedRange<UInt64> = 200_000...2_000_000,
                    silenceRate: Double = 0, silence: ClosedRange<UInt64> = 0...0, unavailable: [Range<UInt64>] = []) {
            self.maxMessagesPerAnswer = maxMessagesPerAnswer
            self.maxMessagesPerPacket = maxMessagesPerPacket
            self.answerLoss = answerLoss
            self.packetLoss = packetLoss
            self.delay = delay
            self.silenceRate = silenceRate
            self.silence = silence
            self.unavailable = unavailable
        }
    }

    public var feed: MoldFeed
    public var behaviour: Behaviour
    /// One past the last message published (nothing at or after it is answered).
    public var publishedEnd: UInt64 = 1
    public var isAlive = true
    public private(set) var requests = 0
    public private(set) var answersSent = 0
    public private(set) var answersLost = 0
    public private(set) var packetsSent = 0
    public private(set) var messagesSent = 0
    var random: SeededGenerator
    var silentUntil: UInt64 = 0
    /// Answer packets on their way: a perfect link, sent at their due time.
    let outbound = SimulatedLink(seed: 0, impairment: .init(delay: 0))

    public init(feed: MoldFeed, seed: UInt64, behaviour: Behaviour = .init()) {
        self.feed = feed
        self.behaviour = behaviour
        random = SeededGenerator(seed: seed)
    }

    /// When the next answer packet is due, if any.
    public var nextArrival: UInt64? { outbound.nextArrival }

    /// Takes one 20-byte request received at `now`.
    public func receive(request: [UInt8], now: UInt64) {
        requests += 1
        guard isAlive, now >= silentUntil else { return }
        if random.chance(behaviour.silenceRate) {
            silentUntil = now + UInt64.random(in: behaviour.silence, using: &random)
            return
        }
        let packets = answer(to: request)
        guard !packets.isEmpty else { return }
        if random.chance(behaviour.answerLoss) { answersLost += 1; return }
        answersSent += 1
        let due = now + UInt64.random(in: behaviour.delay, using: &random)
        for (index, packet) in packets.enumerated() where !random.chance(behaviour.packetLoss) {
            // The packets of one answer leave back to back, 5 µs apart.
            outbound.send(packet, now: due + UInt64(index) * 5_000)
        }
    }

    /// The answer packets for a request, without loss or delay: the first
    /// `maxMessagesPerAnswer` available messages from the requested one, in
    /// packets of `maxMessagesPerPacket`; empty when malformed, for another
    /// session, or for messages the server does not have.
    public func answer(to request: [UInt8]) -> [[UInt8]] {
        guard request.count == 20, Array(request[0..<10]) == feed.session else { return [] }
        let first = request[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let count = UInt64(UInt16(request[18]) << 8 | UInt16(request[19]))
        guard first >= 1, count > 0, count < 0xFFFF else { return [] }
        var end = min(first + min(count, UInt64(behaviour.maxMessagesPerAnswer)), publishedEnd, feed.nextSequence)
        for hole in behaviour.unavailable where hole.upperBound > first && hole.lowerBound < end {
            // An answer is a contiguous run from the requested number: it stops at a hole.
            end = max(first, hole.lowerBound)
        }
        guard end > first else { return [] }
        messagesSent += Int(end - first)
        var packets: [[UInt8]] = []
        var sequence = first
        while sequence < end {
            let count = min(UInt64(behaviour.maxMessagesPerPacket), end - sequence)
            packets.append(feed.packet(first: sequence, count: Int(count)))
            sequence += count
        }
        packetsSent += packets.count
        return packets
    }

    /// Every answer packet due by `now`, in order.
    public func answers(upTo now: UInt64) -> [[UInt8]] { outbound.receive(upTo: now) }
}
