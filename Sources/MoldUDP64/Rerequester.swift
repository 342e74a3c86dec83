import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Why a `Rerequester.Configuration` was refused.
public enum RerequesterError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidMessagesPerRequest(Int)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .invalidMessagesPerRequest(let value):
            "messages per request \(value) is out of range: use 1...65534 (0 means heartbeat and 0xFFFF end of session on the wire)"
        case .invalidSetting(let text):
            text
        }
    }
}

/// Turns a `Session`'s declared gaps into MoldUDP64 re-requests, with no I/O
/// and no clock of its own: `poll(now:session:)` decides, a `RequestSink` sends.
///
/// - Requests only missing ranges, at most `maxMessagesPerRequest` messages
///   each, and never a range that is already in flight.
/// - A request not answered within its timeout is retried (the timeout doubles
///   each attempt, up to `maxRequestTimeout`) on the next server; after
///   `maxAttempts` sends, once the live feed has moved past the range, the
///   still-missing messages are given up: the sink hears `unrecoverable` and
///   the session reports them lost in order. A range still ahead of the live
///   feed keeps being retried at the capped backoff.
/// - Requests go to the server with the fewest unanswered requests (ties
///   round-robin); one that misses `failoverAfterTimeouts` answers in a row is
///   skipped for `serverProbeInterval`, then tried again; a retry goes to
///   another server than the one that timed out.
/// - All sends share one rate limit (`requestsPerSecond`, bursts of
///   `requestBurst`), so a forged far-future sequence number cannot make the
///   client flood its servers.
/// - Answers count only from configured server addresses and for the current
///   session (`receiveAnswer`); anything else is counted and dropped.
/// - An answer with fewer messages than asked (allowed by the spec) keeps the
///   request alive; the rest is asked for again after `continuationDelay`.
///
/// ```swift
/// let rerequester = try Rerequester(configuration: .init(servers: [server]), counters: counters)
/// rerequester.sink = client
/// rerequester.poll(now: reactor.now, session: session)        // from a timer
/// rerequester.receiveAnswer(datagram.bytes, from: datagram.sourceAddress, session: session, now: reactor.now)
/// ```
public final class Rerequester {
    public struct Configuration: Sendable {
        /// Re-request servers, by index in `RequestSink.sendRequest`.
        public var servers: [SocketAddress]
        /// Most messages asked for in one request (1...65534).
        public var maxMessagesPerRequest: Int
        /// Most requests outstanding at once.
        public var maxInFlight: Int
        /// Time to wait for the first answer to a request.
        public var requestTimeout: UInt64
        /// Cap on the doubled timeout of later attempts.
        public var maxRequestTimeout: UInt64
        /// Sends of one range before giving up on it.
        public var maxAttempts: Int
        /// Consecutive unanswered requests after which a server is skipped.
        public var failoverAfterTimeouts: Int
        /// How long a failed server is skipped before it is tried again.
        public var serverProbeInterval: UInt64
        /// Sustained request rate (all servers together).
        public var requestsPerSecond: UInt64
        /// Requests that may go out back to back.
        public var requestBurst: UInt64
        /// After a partial answer, how long to wait for more before asking again.
        public var continuationDelay: UInt64

        public init(servers: [SocketAddress], maxMessagesPerRequest: Int = 1024, maxInFlight: Int = 32,
                    requestTimeout: UInt64 = 20_000_000, maxRequestTimeout: UInt64 = 500_000_000,
                    maxAttempts: Int = 6, failoverAfterTimeouts: Int = 2,
                    serverProbeInterval: UInt64 = 1_000_000_000, requestsPerSecond: UInt64 = 5_000,
                    requestBurst: UInt64 = 64, continuationDelay: UInt64 = 1_000_000) {
            self.servers = servers
            self.maxMessagesPerRequest = maxMessagesPerRequest
            self.maxInFlight = maxInFlight
            self.requestTimeout = requestTimeout
            self.maxRequestTimeout = maxRequestTimeout
            self.maxAttempts = maxAttempts
            self.failoverAfterTimeouts = failoverAfterTimeouts
            self.serverProbeInterval = serverProbeInterval
            self.requestsPerSecond = requestsPerSecond
            self.requestBurst = requestBurst
            self.continuationDelay = continuationDelay
        }
    }

    /// One outstanding request.
    struct InFlight {
        var active = false
        var start: UInt64 = 0
        var end: UInt64 = 0
        var server = 0
        var deadline: UInt64 = 0
        /// Sends since the last progress.
        var attempts = 0
        /// Waiting for a token to be (re)sent.
        var due = false
        /// An answer made progress since the last send: the deadline is a
        /// continuation wait, not a timeout.
        var answered = false
    }

    public let configuration: Configuration
    public let counters: MoldCounters
    /// Who sends the requests. Held weakly so the sink may own the rerequester.
    public weak var sink: (any RequestSink)?

    var inFlight: [InFlight]
    public private(set) var inFlightCount = 0
    var consecutiveTimeouts: [Int]
    var skippedUntil: [UInt64]
    var nextServer = 0
    /// Generic cell rate algorithm: the theoretical arrival time of the next
    /// request; a send is allowed while it is at most `burst` intervals ahead.
    var theoreticalArrival: UInt64 = 0
    let emissionInterval: UInt64
    let burstTolerance: UInt64

    public init(configuration: Configuration, counters: MoldCounters = MoldCounters()) throws(RerequesterError) {
        guard (1...0xFFFE).contains(configuration.maxMessagesPerRequest) else {
            throw .invalidMessagesPerRequest(configuration.maxMessagesPerRequest)
        }
        guard configuration.maxInFlight >= 1 else { throw .invalidSetting("maxInFlight must be at least 1") }
        guard configuration.maxAttempts >= 1 else { throw .invalidSetting("maxAttempts must be at least 1") }
        guard configuration.requestTimeout > 0 else { throw .invalidSetting("requestTimeout must be above 0 ns") }
        guard configuration.requestsPerSecond >= 1 && configuration.requestsPerSecond <= 1_000_000_000 else {
            throw .invalidSetting("requestsPerSecond must be 1...1e9")
        }
        guard configuration.failoverAfterTimeouts >= 1 else { throw .invalidSetting("failoverAfterTimeouts must be at least 1") }
        self.configuration = configuration
        self.counters = counters
        inFlight = Array(repeating: InFlight(), count: configuration.maxInFlight)
        consecutiveTimeouts = Array(repeating: 0, count: configuration.servers.count)
        skippedUntil = Array(repeating: 0, count: configuration.servers.count)
        emissionInterval = 1_000_000_000 / configuration.requestsPerSecond
        burstTolerance = emissionInterval * max(1, configuration.requestBurst) - emissionInterval
    }

    // MARK: - Answers

    /// The configured server whose address is the sockaddr in `raw` (a
    /// `Datagram.sourceAddress`), or nil. No allocation.
    public func serverIndex(matching raw: UnsafeRawBufferPointer) -> Int? {
        guard let base = raw.baseAddress, raw.count >= MemoryLayout<sockaddr_in>.size else { return nil }
        // Safety: at least a sockaddr_in is present; a v6 name needs its full size
        // before `matches` reads its address bytes.
        let family = Int32(base.loadUnaligned(as: sa_family_t.self))
        if family == AF_INET6 && raw.count < MemoryLayout<sockaddr_in6>.size { return nil }
        for index in configuration.servers.indices where configuration.servers[index].matches(base) {
            return index
        }
        return nil
    }

    /// Handles one datagram from the re-request socket: drops (and counts) it
    /// unless it comes from a configured server, parses, checks the session,
    /// and passes it to the session as a retransmission.
    public func receiveAnswer(_ bytes: UnsafeRawBufferPointer, from source: UnsafeRawBufferPointer,
                              session: Session, now: UInt64) {
        guard let server = serverIndex(matching: source) else {
            counters.unknownSource &+= 1
            return
        }
        let packet: Packet
        do { packet = try Packet(bytes) } catch {
            counters.malformed &+= 1
            return
        }
        receiveAnswer(packet, fromServer: server, session: session, now: now)
    }

    /// Handles a validated answer from configured server `server`.
    public func receiveAnswer(_ packet: Packet, fromServer server: Int, session: Session, now: UInt64) {
        guard let current = session.current, packet.session == current else {
            counters.foreignSession &+= 1
            return
        }
        // Any answer shows the server is alive.
        consecutiveTimeouts[server] = 0
        skippedUntil[server] = 0
        session.receive(packet, now: now, retransmission: true)
        guard packet.kind == .data else { return }
        let answerStart = packet.sequenceNumber
        let answerEnd = packet.nextSequenceNumber
        for index in inFlight.indices where inFlight[index].active {
            guard inFlight[index].start < answerEnd && answerStart < inFlight[index].end else { continue }
            guard let remaining = session.firstMissing(atOrAfter: inFlight[index].start, below: inFlight[index].end) else {
                complete(index)
                continue
            }
            if remaining.lowerBound > inFlight[index].start {
                // Progress: a partial answer. Wait briefly for more, then ask for the rest.
                inFlight[index].start = remaining.lowerBound
                inFlight[index].attempts = 0
                inFlight[index].answered = true
                inFlight[index].due = false
                inFlight[index].deadline = now &+ configuration.continuationDelay
            }
        }
    }

    // MARK: - Timer work

    /// Ages the session's reorder window, times out and retries requests, and
    /// requests newly declared gaps, within the rate limit. Call it from a timer
    /// (every millisecond or at `nextDeadline`) and after receiving packets.
    public func poll(now: UInt64, session: Session) {
        session.advance(now: now)
        guard let id = session.current else { return }
        sweep(now: now, session: session)
        var limited = false
        // Retries first: they are older than any new gap.
        for index in inFlight.indices where inFlight[index].active && inFlight[index].due {
            guard takeToken(now: now) else { limited = true; break }
            send(index, session: id, now: now)
        }
        if !limited { limited = !requestNewGaps(now: now, session: session, id: id) }
        if limited { counters.rateLimited &+= 1 }
    }

    /// The earliest time `poll` has work to do, if any (for a one-shot timer).
    public func nextDeadline(session: Session) -> UInt64? {
        var earliest = session.nextWindowDeadline
        for entry in inFlight where entry.active {
            // A due entry waits for the rate limit: the next token's time.
            let nextToken = theoreticalArrival > burstTolerance ? theoreticalArrival - burstTolerance : 0
            let when = entry.due ? nextToken : entry.deadline
            earliest = min(earliest ?? when, when)
        }
        return earliest
    }

    /// Forgets every outstanding request (after `Session.switchSession`).
    public func reset() {
        for index in inFlight.indices { inFlight[index] = InFlight() }
        inFlightCount = 0
    }

    // MARK: - Internals

    /// Drops satisfied requests, trims the rest to what is still missing, and
    /// handles deadlines.
    func sweep(now: UInt64, session: Session) {
        guard inFlightCount > 0 else { return }
        for index in inFlight.indices where inFlight[index].active {
            guard let remaining = session.firstMissing(atOrAfter: inFlight[index].start, below: inFlight[index].end) else {
                complete(index)
                continue
            }
            inFlight[index].start = remaining.lowerBound
            guard !inFlight[index].due && now >= inFlight[index].deadline else { continue }
            if inFlight[index].answered {
                // The continuation wait after a partial answer ran out: ask again
                // for the rest from the same server, without blaming it.
                inFlight[index].due = true
                continue
            }
            counters.timeouts &+= 1
            let server = inFlight[index].server
            consecutiveTimeouts[server] += 1
            if consecutiveTimeouts[server] >= configuration.failoverAfterTimeouts {
                skippedUntil[server] = now &+ configuration.serverProbeInterval
                sink?.serverSkipped(serverIndex: server, timeouts: consecutiveTimeouts[server], until: skippedUntil[server])
            }
            // Give up only when the live feed has moved past the range: a range
            // ahead of it (revealed by a forged or corrupt sequence number, or a
            // server that cannot serve what was not sent yet) keeps being asked
            // for at the capped backoff instead, and live data can still fill it.
            if inFlight[index].attempts >= configuration.maxAttempts && session.latestLiveEnd >= inFlight[index].end {
                giveUp(index, session: session)
            } else {
                inFlight[index].server = pickServer(now: now, avoiding: server)
                inFlight[index].due = true
            }
        }
    }

    /// Requests declared gaps not yet in flight. Returns false when the rate
    /// limit stopped it.
    func requestNewGaps(now: UInt64, session: Session, id: SessionID) -> Bool {
        // Nothing declared beyond what was delivered: the common case, one compare.
        guard session.declaredEnd > session.nextExpected else { return true }
        var cursor = session.nextExpected
        while let gap = session.firstGap(atOrAfter: cursor) {
            var start = gap.lowerBound
            var end = gap.upperBound
            // Skip what is in flight; stop before the next in-flight range.
            var overlapped = false
            for entry in inFlight where entry.active {
                if entry.start <= start && start < entry.end {
                    cursor = entry.end
                    overlapped = true
                    break
                }
                if entry.start > start && entry.start < end { end = entry.start }
            }
            if overlapped { continue }
            if configuration.servers.isEmpty {
                // Nobody to ask: the whole gap is lost as soon as it is declared
                // (in one step, however long a forged sequence number made it).
                sink?.unrecoverable(firstSequence: start, count: end - start)
                session.markUnrecoverable(start..<end)
                cursor = end
                continue
            }
            end = min(end, start &+ UInt64(configuration.maxMessagesPerRequest))
            guard inFlightCount < inFlight.count else { return true }
            guard takeToken(now: now) else { return false }
            let index = inFlight.firstIndex { !$0.active }!
            inFlight[index] = InFlight(active: true, start: start, end: end,
                                       server: pickServer(now: now, avoiding: nil))
            inFlightCount += 1
            send(index, session: id, now: now)
            start = end
            cursor = end
        }
        return true
    }

    func send(_ index: Int, session id: SessionID, now: UInt64) {
        let attempts = inFlight[index].attempts
        let shift = min(attempts, 32)
        let backoff = configuration.requestTimeout << UInt64(shift)
        let timeout = (backoff >> UInt64(shift)) == configuration.requestTimeout
            ? min(backoff, max(configuration.maxRequestTimeout, configuration.requestTimeout))
            : configuration.maxRequestTimeout
        inFlight[index].deadline = now &+ timeout
        inFlight[index].attempts = attempts + 1
        inFlight[index].due = false
        inFlight[index].answered = false
        counters.requests &+= 1
        sink?.sendRequest(serverIndex: inFlight[index].server, session: id,
                          firstSequence: inFlight[index].start,
                          count: UInt16(inFlight[index].end - inFlight[index].start))
    }

    func giveUp(_ index: Int, session: Session) {
        let start = inFlight[index].start
        let end = inFlight[index].end
        complete(index)
        var cursor = start
        while let missing = session.firstMissing(atOrAfter: cursor, below: end) {
            sink?.unrecoverable(firstSequence: missing.lowerBound, count: missing.upperBound - missing.lowerBound)
            cursor = missing.upperBound
        }
        session.markUnrecoverable(start..<end)
    }

    func complete(_ index: Int) {
        inFlight[index].active = false
        inFlightCount -= 1
    }

    /// Among servers not being skipped (and other than `avoiding`, when there is
    /// a choice), the one with the fewest unanswered requests, ties round-robin:
    /// a server that stopped answering collects unanswered requests, so new ones
    /// go elsewhere even before its first timeout. When every server is skipped,
    /// the one whose skip ends first.
    func pickServer(now: UInt64, avoiding: Int?) -> Int {
        let count = configuration.servers.count
        var best: Int?
        var bestLoad = Int.max
        for step in 0..<count {
            let candidate = (nextServer + step) % count
            if candidate == avoiding && count > 1 { continue }
            guard skippedUntil[candidate] <= now else { continue }
            var load = 0
            for entry in inFlight where entry.active && !entry.due && entry.server == candidate { load += 1 }
            if load < bestLoad {
                best = candidate
                bestLoad = load
            }
        }
        if let best {
            nextServer = (best + 1) % count
            return best
        }
        var earliest = 0
        for candidate in 1..<max(1, count) where skippedUntil[candidate] < skippedUntil[earliest] { earliest = candidate }
        return earliest
    }

    /// One token from the rate limit, if available (GCRA).
    func takeToken(now: UInt64) -> Bool {
        let arrival = max(theoreticalArrival, now)
        guard arrival - now <= burstTolerance else { return false }
        theoreticalArrival = arrival &+ emissionInterval
        return true
    }
}
