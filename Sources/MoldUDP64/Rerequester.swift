import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Why a `Rerequester.Configuration` was refused.
public enum RerequesterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `maxMessagesPerRequest` outside 1...65534 (0 and 0xFFFF mean heartbeat and
    /// end of session on the wire).
    case invalidMessagesPerRequest(Int)
    /// Another setting out of range; the text names it and the allowed values.
    case invalidSetting(String)

    /// Which setting is wrong and what it may be.
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
/// - Requests only missing ranges (never what is delivered or buffered), and
///   never a range that is already in flight, nor one whose answer the full
///   reorder buffer would drop (`Session.canKeep(from:)`): that waits until
///   delivery makes room. Due requests go lowest sequence number first.
/// - Adapts to what each server answers. MoldUDP64 1.00 lets a server return
///   fewer messages than asked, and busy exchange servers cap answers (a dozen
///   messages, in packets of a few). Once a server's answers come back short,
///   its cap is learned (the most it answered one request) and large gaps are
///   cut into pieces of that size, up to `maxInFlight` of them outstanding
///   within the rate limit, so recovery runs in parallel instead of one
///   partial answer per round trip. An answer whose last packet is full (the
///   largest message seen would not have fitted) was cut by the packet size,
///   not a cap: nothing is learned from it, so a lost packet is still asked
///   for whole, and when the server answers with one packet the rest is asked
///   for at once. Every `probeInterval`-th request to a
///   capped server asks for twice the cap, so a cap that grows is noticed;
///   `capDecreaseAfter` short answers in a row lower it.
/// - An answer with fewer messages than asked keeps the request alive: once it
///   has brought the server's cap, or `continuationDelay` after its last
///   packet, the rest is asked for again at once (no timeout is waited out).
/// - A request not answered within its timeout is retried (the timeout doubles
///   each attempt since the last progress, up to `maxRequestTimeout`) on
///   another server when there is one.
/// - A range is given up only with evidence that no server can send it:
///   servers answered other requests but none of this range for
///   `giveUpAfter` (default 10 s), and the live feed has moved past it; or
///   every server has been silent for `silenceDeadline` while requests were
///   outstanding, and then everything missing behind the live feed is given up
///   at once, each range named once to the sink. A range still ahead of the
///   live feed (a forged far-future sequence number) is never given up: it is
///   retried at the capped backoff.
/// - Requests go to the server with the fewest unanswered requests (ties
///   round-robin); one that misses `failoverAfterTimeouts` answers in a row is
///   skipped for `serverProbeInterval`, then tried again.
/// - All sends share one rate limit (`requestsPerSecond`, bursts of
///   `requestBurst`; `Reactor.RateLimiter`), so a forged far-future sequence
///   number cannot make the client flood its servers.
/// - Answers count only from configured server addresses and for the current
///   session (`receiveAnswer`); anything else is counted and dropped.
///
/// ```swift
/// let rerequester = try Rerequester(configuration: .init(servers: [server]), counters: counters)
/// rerequester.sink = client
/// rerequester.poll(now: reactor.now, session: session)        // from a timer
/// rerequester.receiveAnswer(datagram.bytes, from: datagram.sourceAddress, session: session, now: reactor.now)
/// ```
public final class Rerequester {
    /// How recovery behaves: servers, request size, concurrency, timeouts (all in
    /// nanoseconds), failover, rate limit and cap learning.
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
        /// How long servers may answer other requests but never a range before
        /// it is given up (once the live feed is past it).
        public var giveUpAfter: UInt64
        /// How long every server may be silent, with requests outstanding,
        /// before everything missing behind the live feed is given up at once.
        public var silenceDeadline: UInt64
        /// Consecutive unanswered requests after which a server is skipped.
        public var failoverAfterTimeouts: Int
        /// How long a failed server is skipped before it is tried again.
        public var serverProbeInterval: UInt64
        /// Sustained request rate (all servers together).
        public var requestsPerSecond: UInt64
        /// Requests that may go out back to back.
        public var requestBurst: UInt64
        /// After a partial answer, how long to wait for more of its packets
        /// before asking again for the rest.
        public var continuationDelay: UInt64
        /// Every this many requests to a server with a learned cap, one asks
        /// for twice the cap (0: never probe).
        public var probeInterval: Int
        /// Short answers in a row (at or below the cap) that lower a learned cap.
        public var capDecreaseAfter: Int

        /// A configuration for `servers`; every other argument is the property of the
        /// same name (times in nanoseconds). `Rerequester.init` checks the values.
        public init(servers: [SocketAddress], maxMessagesPerRequest: Int = 1024, maxInFlight: Int = 64,
                    requestTimeout: UInt64 = 20_000_000, maxRequestTimeout: UInt64 = 500_000_000,
                    giveUpAfter: UInt64 = 10_000_000_000, silenceDeadline: UInt64 = 5_000_000_000,
                    failoverAfterTimeouts: Int = 2,
                    serverProbeInterval: UInt64 = 1_000_000_000, requestsPerSecond: UInt64 = 5_000,
                    requestBurst: UInt64 = 64, continuationDelay: UInt64 = 1_000_000,
                    probeInterval: Int = 64, capDecreaseAfter: Int = 8) {
            self.servers = servers
            self.maxMessagesPerRequest = maxMessagesPerRequest
            self.maxInFlight = maxInFlight
            self.requestTimeout = requestTimeout
            self.maxRequestTimeout = maxRequestTimeout
            self.giveUpAfter = giveUpAfter
            self.silenceDeadline = silenceDeadline
            self.failoverAfterTimeouts = failoverAfterTimeouts
            self.serverProbeInterval = serverProbeInterval
            self.requestsPerSecond = requestsPerSecond
            self.requestBurst = requestBurst
            self.continuationDelay = continuationDelay
            self.probeInterval = probeInterval
            self.capDecreaseAfter = capDecreaseAfter
        }
    }

    /// What one server's answers looked like (for `listen`'s summary and the demo).
    public struct ServerStatistics: Sendable, Equatable {
        /// Requests whose answer (one or more packets) was seen complete.
        public var answeredRequests: UInt64 = 0
        /// Messages those answers carried for the ranges asked.
        public var answeredMessages: UInt64 = 0
        /// The most messages one request brought back.
        public var largestAnswer: UInt64 = 0
        /// The learned cap on messages per answer (0: none seen, answers were whole).
        public var answerCap: UInt64 = 0
        /// Short answers seen (fewer messages than asked).
        public var shortAnswers: UInt64 = 0
        /// Short answers whose last packet was full (the next message could
        /// not have fitted): cut by the packet size, not a message cap, so no
        /// cap is learned from them.
        public var fullPacketAnswers: UInt64 = 0
        /// The most packets one answer came in (1: the server answers each
        /// request with one packet, as `RetransmissionServer` does).
        public var largestAnswerPackets: UInt64 = 0
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
        /// Messages asked for by the last send, and received for them since.
        var asked: UInt64 = 0
        var received: UInt64 = 0
        /// Answer packets for the last send, and whether the latest was full.
        var packets: UInt64 = 0
        var lastPacketFull = false
        /// First send, or the last progress: the give-up clock.
        var since: UInt64 = 0
    }

    /// The configuration, as checked by `init`.
    public let configuration: Configuration
    /// The counters recovery updates (requests, timeouts, give-ups).
    public let counters: MoldCounters
    /// Who sends the requests. Held weakly so the sink may own the rerequester.
    public weak var sink: (any RequestSink)?
    /// A second recovery path (SoupBinTCP) offered large gaps and everything UDP
    /// cannot recover; ranges it takes are not requested here.
    public weak var handoff: (any GapHandoff)?

    var inFlight: [InFlight]
    /// Requests sent and not yet answered, timed out or given up.
    public private(set) var inFlightCount = 0
    var consecutiveTimeouts: [Int]
    var skippedUntil: [UInt64]
    var nextServer = 0
    /// Per server: answer statistics, requests sent (for the probe schedule),
    /// and the current run of short answers.
    var statistics: [ServerStatistics]
    var requestsSent: [UInt64]
    var shortStreak: [Int]
    var shortStreakMax: [UInt64]
    /// The last time any configured server answered.
    var lastAnswer: UInt64 = 0
    /// The first request sent since the last answer (0: none outstanding).
    var waitingSince: UInt64 = 0
    /// The largest answer packet and message block seen (bytes), for
    /// `isFull(_:session:)`.
    var largestAnswerPacket = 0
    var largestBlock = 0
    /// The previous poll, for `counters.recoveryNanoseconds`.
    var lastPoll: UInt64 = 0
    let limiter: RateLimiter
    /// The request rate limit's theoretical arrival time (GCRA state).
    var theoreticalArrival: UInt64 = 0

    /// A rerequester for `configuration`, updating `counters`.
    ///
    /// - Throws: `RerequesterError` when a setting is out of range (the error says which).
    public init(configuration: Configuration, counters: MoldCounters = MoldCounters()) throws(RerequesterError) {
        guard (1...0xFFFE).contains(configuration.maxMessagesPerRequest) else {
            throw .invalidMessagesPerRequest(configuration.maxMessagesPerRequest)
        }
        guard configuration.maxInFlight >= 1 else { throw .invalidSetting("maxInFlight must be at least 1") }
        guard configuration.requestTimeout > 0 else { throw .invalidSetting("requestTimeout must be above 0 ns") }
        guard configuration.requestsPerSecond >= 1 && configuration.requestsPerSecond <= 1_000_000_000 else {
            throw .invalidSetting("requestsPerSecond must be 1...1e9")
        }
        guard configuration.failoverAfterTimeouts >= 1 else { throw .invalidSetting("failoverAfterTimeouts must be at least 1") }
        guard configuration.silenceDeadline > 0 && configuration.giveUpAfter > 0 else {
            throw .invalidSetting("giveUpAfter and silenceDeadline must be above 0 ns")
        }
        guard configuration.probeInterval >= 0 && configuration.capDecreaseAfter >= 1 else {
            throw .invalidSetting("probeInterval must be 0 or more and capDecreaseAfter at least 1")
        }
        self.configuration = configuration
        self.counters = counters
        inFlight = Array(repeating: InFlight(), count: configuration.maxInFlight)
        let servers = configuration.servers.count
        consecutiveTimeouts = Array(repeating: 0, count: servers)
        skippedUntil = Array(repeating: 0, count: servers)
        statistics = Array(repeating: ServerStatistics(), count: servers)
        requestsSent = Array(repeating: 0, count: servers)
        shortStreak = Array(repeating: 0, count: servers)
        shortStreakMax = Array(repeating: 0, count: servers)
        limiter = RateLimiter(rate: configuration.requestsPerSecond, burst: max(1, configuration.requestBurst))
    }

    /// What server `index`'s answers looked like so far.
    public func statistics(server index: Int) -> ServerStatistics { statistics[index] }

    /// `key=value` pairs per server: answers, messages per answer, the largest
    /// and the learned cap (for `listen`'s summary).
    public var serverSummary: String {
        statistics.indices.map { index in
            let stats = statistics[index]
            let mean = stats.answeredRequests > 0 ? Double(stats.answeredMessages) / Double(stats.answeredRequests) : 0
            return "server\(index)_answers=\(stats.answeredRequests) server\(index)_messages_per_answer=\(formatTenths(mean)) "
                + "server\(index)_largest_answer=\(stats.largestAnswer) server\(index)_answer_cap=\(stats.answerCap)"
        }.joined(separator: " ")
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
        lastAnswer = now
        waitingSince = 0
        counters.answers &+= 1
        session.receive(packet, now: now, retransmission: true)
        guard packet.kind == .data else { return }
        let answerStart = packet.sequenceNumber
        let answerEnd = packet.nextSequenceNumber
        let full = isFull(packet, session: session)
        for index in inFlight.indices where inFlight[index].active {
            let entry = inFlight[index]
            guard entry.start < answerEnd && answerStart < entry.end else { continue }
            inFlight[index].received &+= min(entry.end, answerEnd) - max(entry.start, answerStart)
            inFlight[index].packets &+= 1
            inFlight[index].lastPacketFull = full
            guard let remaining = session.firstMissing(atOrAfter: entry.start, below: entry.end) else {
                noteAnswer(index)
                complete(index)
                continue
            }
            if remaining.lowerBound > entry.start {
                // Progress: a partial answer.
                inFlight[index].start = remaining.lowerBound
                inFlight[index].attempts = 0
                inFlight[index].since = now
            }
            guard session.canKeep(from: remaining.lowerBound) else {
                // The reorder buffer is full of nearer data, so the session
                // dropped this answer (or would drop the rest). Asking again
                // now would bring the same answer to the same full buffer, in
                // a loop that eats the whole rate limit; the range stays a
                // declared gap and is asked for once delivery makes room.
                noteAnswer(index)
                complete(index)
                continue
            }
            inFlight[index].answered = true
            let stats = statistics[inFlight[index].server]
            let cap = stats.answerCap
            // A full packet from a server known to answer with one packet
            // (the project's own, and most MTU-bound servers) ends its answer.
            let packetEnded = full && stats.largestAnswerPackets == 1
            if packetEnded || (cap > 0 && inFlight[index].received >= min(inFlight[index].asked, cap)) {
                // The answer brought all the server gives per request: ask
                // for the rest now rather than wait for packets that will not come.
                noteAnswer(index)
                inFlight[index].due = true
            } else {
                // More packets of the same answer may follow: wait briefly.
                inFlight[index].due = false
                inFlight[index].deadline = now &+ configuration.continuationDelay
            }
        }
    }

    /// True when `packet` (an answer) is full: the largest message block
    /// seen would not have fitted after it within the largest packet seen
    /// (live or answer), so the packet size, not a message cap, ended it.
    /// Below 548 bytes (a 576-byte datagram, which every IPv4 host must
    /// accept, RFC 791, less IP and UDP headers) no packet counts as full: no
    /// server limits its packets below that, and tests with tiny messages
    /// must still see message caps learned.
    func isFull(_ packet: Packet, session: Session) -> Bool {
        var blocks = packet.messages.makeIterator()
        while let message = blocks.next() { largestBlock = max(largestBlock, 2 + message.bytes.count) }
        largestAnswerPacket = max(largestAnswerPacket, packet.bytes.count)
        let limit = max(largestAnswerPacket, session.largestLivePacket, 548)
        return packet.bytes.count + largestBlock > limit
    }

    // MARK: - Timer work

    /// Ages the session's reorder window, times out and retries requests, and
    /// requests newly declared gaps, within the rate limit. Call it from a timer
    /// (every millisecond or at `nextDeadline`) and after receiving packets.
    public func poll(now: UInt64, session: Session) {
        if inFlightCount > 0 && now > lastPoll && lastPoll > 0 { counters.recoveryNanoseconds &+= now - lastPoll }
        // With requests outstanding, `nextDeadline` is at most maxRequestTimeout
        // away: polls further apart than twice that mean this client was not
        // running (descheduled, stopped in a debugger, a slow host). Answers
        // may be waiting in its socket; that time is not held against servers.
        let stallLimit = 2 * max(configuration.maxRequestTimeout, configuration.requestTimeout)
        if lastPoll > 0 && now > lastPoll && now - lastPoll > stallLimit {
            let stall = now - lastPoll
            if waitingSince > 0 { waitingSince &+= stall }
            for index in inFlight.indices where inFlight[index].active { inFlight[index].since &+= stall }
        }
        lastPoll = now
        session.advance(now: now)
        guard let id = session.current else { return }
        if waitingSince > 0 && now &- waitingSince >= configuration.silenceDeadline {
            giveUpEverything(session: session)
        }
        sweep(now: now, session: session)
        var limited = !sendDue(now: now, session: session, id: id)
        if !limited { limited = !requestNewGaps(now: now, session: session, id: id) }
        if limited { counters.rateLimited &+= 1 }
    }

    /// The earliest time `poll` has work to do, if any (for a one-shot timer).
    public func nextDeadline(session: Session) -> UInt64? {
        var earliest = session.nextWindowDeadline
        for entry in inFlight where entry.active {
            // A due entry waits for the rate limit: the next token's time.
            let when = entry.due ? limiter.nextAdmission(theoreticalArrival) : entry.deadline
            earliest = min(earliest ?? when, when)
        }
        if waitingSince > 0 {
            let when = waitingSince &+ configuration.silenceDeadline
            earliest = min(earliest ?? when, when)
        }
        return earliest
    }

    /// Forgets every outstanding request (after `Session.switchSession`).
    public func reset() {
        for index in inFlight.indices { inFlight[index] = InFlight() }
        inFlightCount = 0
        waitingSince = 0
    }

    // MARK: - Internals

    /// Drops satisfied requests, trims the rest to what is still missing, and
    /// handles deadlines.
    func sweep(now: UInt64, session: Session) {
        guard inFlightCount > 0 else { return }
        let taken = handoff?.handedOff
        for index in inFlight.indices where inFlight[index].active {
            guard let remaining = session.firstMissing(atOrAfter: inFlight[index].start, below: inFlight[index].end),
                  !(taken?.contains(remaining.lowerBound) ?? false) else {
                complete(index)
                continue
            }
            inFlight[index].start = remaining.lowerBound
            guard !inFlight[index].due && now >= inFlight[index].deadline else { continue }
            if inFlight[index].answered {
                // The continuation wait after a partial answer ran out: ask again
                // for the rest from the same server, without blaming it.
                noteAnswer(index)
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
            // Every server is being skipped: a second path (TCP) takes the range now.
            if let handoff, !udpAvailable(now: now),
               handoff.takeOver(remaining.lowerBound..<inFlight[index].end, udpAvailable: false, now: now) {
                complete(index)
                continue
            }
            // Give up only with evidence: servers answered since this range was
            // first asked for (they are alive) but never it, for giveUpAfter, and
            // the live feed has moved past it. A range ahead of the feed
            // (revealed by a forged or corrupt sequence number, or not sent yet)
            // keeps being asked for at the capped backoff instead.
            let entry = inFlight[index]
            if now &- entry.since >= configuration.giveUpAfter && lastAnswer > entry.since
                && session.latestLiveEnd >= entry.end {
                giveUp(index, session: session)
            } else {
                inFlight[index].server = pickServer(now: now, avoiding: server)
                inFlight[index].due = true
            }
        }
    }

    /// Sends the retries and continuations that are due, lowest sequence
    /// number first: the range delivery waits for gets the next token, however
    /// many further-ahead entries are due (they are older than any new gap, so
    /// they go before `requestNewGaps`). An entry whose answer the session
    /// could not keep is dropped instead (asked for again once there is room);
    /// one whose range became partly buffered asks only for the missing run
    /// before the buffered part. Returns false when the rate limit stopped it.
    func sendDue(now: UInt64, session: Session, id: SessionID) -> Bool {
        while true {
            var lowest = -1
            for index in inFlight.indices where inFlight[index].active && inFlight[index].due
                && (lowest < 0 || inFlight[index].start < inFlight[lowest].start) {
                lowest = index
            }
            guard lowest >= 0 else { return true }
            let start = inFlight[lowest].start
            guard let missing = session.firstMissing(atOrAfter: start, below: inFlight[lowest].end),
                  session.canKeep(from: missing.lowerBound) else {
                complete(lowest)
                continue
            }
            guard limiter.admit(&theoreticalArrival, now: now) else { return false }
            // Never ask again for what is buffered: what lies after a buffered
            // run is a gap of its own, requested by `requestNewGaps`.
            inFlight[lowest].start = missing.lowerBound
            inFlight[lowest].end = missing.upperBound
            send(lowest, session: id, now: now)
        }
    }

    /// Requests declared gaps not yet in flight. Returns false when the rate
    /// limit stopped it.
    func requestNewGaps(now: UInt64, session: Session, id: SessionID) -> Bool {
        // Nothing declared beyond what was delivered: the common case, one compare.
        guard session.declaredEnd > session.nextExpected else { return true }
        guard inFlightCount < inFlight.count || configuration.servers.isEmpty else { return true }
        var cursor = session.nextExpected
        while let gap = session.firstGap(atOrAfter: cursor) {
            let start = gap.lowerBound
            var end = gap.upperBound
            if let handoff {
                if let taken = handoff.handedOff {
                    if taken.contains(start) {
                        cursor = taken.upperBound
                        continue
                    }
                    if start < taken.lowerBound && end > taken.lowerBound { end = taken.lowerBound }
                }
                if handoff.takeOver(start..<end, udpAvailable: udpAvailable(now: now), now: now) {
                    cursor = max(end, handoff.handedOff?.upperBound ?? end)
                    continue
                }
            }
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
            // The buffer is full of nearer data: an answer from here on would
            // be dropped (and so would everything further ahead). Ask once
            // delivery has made room.
            guard session.canKeep(from: start) else { return true }
            if configuration.servers.isEmpty {
                // Nobody to ask: the whole gap is lost as soon as it is declared
                // (in one step, however long a forged sequence number made it).
                sink?.unrecoverable(firstSequence: start, count: end - start)
                session.markUnrecoverable(start..<end)
                cursor = end
                continue
            }
            guard inFlightCount < inFlight.count else { return true }
            guard limiter.admit(&theoreticalArrival, now: now) else { return false }
            let server = pickServer(now: now, avoiding: nil)
            end = min(end, start &+ askSize(server: server))
            let index = inFlight.firstIndex { !$0.active }!
            inFlight[index] = InFlight(active: true, start: start, end: end, server: server, since: now)
            inFlightCount += 1
            send(index, session: id, now: now)
            cursor = end
        }
        return true
    }

    /// How many messages to ask server `server` for in one request: its learned
    /// cap (twice that on a probe), or the configured maximum while it has
    /// answered everything asked.
    func askSize(server: Int) -> UInt64 {
        let maximum = UInt64(configuration.maxMessagesPerRequest)
        let cap = statistics[server].answerCap
        guard cap > 0 && cap < maximum else { return maximum }
        let probe = configuration.probeInterval > 0
            && requestsSent[server] % UInt64(configuration.probeInterval) == UInt64(configuration.probeInterval) - 1
        return probe ? min(maximum, 2 * cap) : cap
    }

    func send(_ index: Int, session id: SessionID, now: UInt64) {
        let attempts = inFlight[index].attempts
        let server = inFlight[index].server
        let base = configuration.requestTimeout
        let shift = min(attempts, 32)
        let backoff = base << UInt64(shift)
        let timeout = (backoff >> UInt64(shift)) == base
            ? min(backoff, max(configuration.maxRequestTimeout, configuration.requestTimeout))
            : configuration.maxRequestTimeout
        // Ask for no more than the server answers per request; what lies
        // beyond is requested as a piece of its own by `requestNewGaps`.
        inFlight[index].end = min(inFlight[index].end, inFlight[index].start &+ askSize(server: server))
        inFlight[index].deadline = now &+ timeout
        inFlight[index].attempts = attempts + 1
        inFlight[index].due = false
        inFlight[index].answered = false
        inFlight[index].asked = inFlight[index].end - inFlight[index].start
        inFlight[index].received = 0
        inFlight[index].packets = 0
        inFlight[index].lastPacketFull = false
        requestsSent[server] &+= 1
        counters.requests &+= 1
        if waitingSince == 0 { waitingSince = now }
        sink?.sendRequest(serverIndex: server, session: id,
                          firstSequence: inFlight[index].start,
                          count: UInt16(inFlight[index].asked))
    }

    /// Learns from the answer to entry `index`'s last request, once it is
    /// complete (all it asked for, the server's cap, or the continuation wait
    /// ran out). Called at most once per send.
    func noteAnswer(_ index: Int) {
        let entry = inFlight[index]
        guard entry.asked > 0 else { return }
        inFlight[index].asked = 0
        let server = entry.server
        let received = entry.received
        guard received > 0 else { return }
        statistics[server].answeredRequests &+= 1
        statistics[server].answeredMessages &+= received
        statistics[server].largestAnswer = max(statistics[server].largestAnswer, received)
        statistics[server].largestAnswerPackets = max(statistics[server].largestAnswerPackets, entry.packets)
        counters.answerMessagesHighWater = max(counters.answerMessagesHighWater, received)
        let cap = statistics[server].answerCap
        if received < entry.asked {
            statistics[server].shortAnswers &+= 1
            if entry.lastPacketFull {
                // Cut by the packet size: the next message did not fit. Pieces
                // of this many messages would split lost packets that the
                // server answers whole (packets carry fewer, smaller or larger
                // messages), so this is no cap; the rest is asked for from
                // where the answer ended.
                statistics[server].fullPacketAnswers &+= 1
                return
            }
            if cap == 0 || received > cap {
                // The first short answer, or one larger than the cap: the cap
                // is at least what this answer carried.
                statistics[server].answerCap = received
                shortStreak[server] = 0
                shortStreakMax[server] = 0
                return
            }
            // Short of the cap: a lost packet of the answer, or a cap that
            // shrank. Only a run of them lowers the cap.
            shortStreak[server] += 1
            shortStreakMax[server] = max(shortStreakMax[server], received)
            if shortStreak[server] >= configuration.capDecreaseAfter {
                statistics[server].answerCap = shortStreakMax[server]
                shortStreak[server] = 0
                shortStreakMax[server] = 0
            }
        } else {
            // A whole answer: a probe answered in full raises the cap.
            if cap > 0 && received > cap { statistics[server].answerCap = received }
            shortStreak[server] = 0
            shortStreakMax[server] = 0
        }
    }

    func giveUp(_ index: Int, session: Session) {
        let start = inFlight[index].start
        let end = inFlight[index].end
        complete(index)
        giveUpMissing(start..<end, session: session)
    }

    /// Every server has been silent past the deadline: everything missing
    /// behind the live feed is given up at once (servers that come back are
    /// asked for what is missing after it).
    func giveUpEverything(session: Session) {
        waitingSince = 0
        let limit = min(session.declaredEnd, session.latestLiveEnd)
        for index in inFlight.indices where inFlight[index].active && inFlight[index].end <= limit {
            complete(index)
        }
        guard limit > session.nextExpected else { return }
        giveUpMissing(session.nextExpected..<limit, session: session)
        // Entries that straddled the limit now start past what was given up.
        for index in inFlight.indices where inFlight[index].active {
            inFlight[index].start = max(inFlight[index].start, limit)
            if inFlight[index].start >= inFlight[index].end { complete(index) }
        }
    }

    /// Names each missing range in `range` to the sink once, then has the
    /// session report them lost in order.
    func giveUpMissing(_ range: Range<UInt64>, session: Session) {
        var cursor = range.lowerBound
        while let missing = session.firstMissing(atOrAfter: cursor, below: range.upperBound) {
            cursor = missing.upperBound
            // The other path (TCP) gets the range before it is called lost.
            if let handoff, handoff.takeOver(missing, udpAvailable: false, now: lastPoll) { continue }
            sink?.unrecoverable(firstSequence: missing.lowerBound, count: missing.upperBound - missing.lowerBound)
            counters.rangesGivenUp &+= 1
            session.markUnrecoverable(missing)
        }
    }

    /// False when no re-request server can be asked now (none configured, or
    /// every one skipped after timeouts).
    func udpAvailable(now: UInt64) -> Bool {
        skippedUntil.contains { $0 <= now }
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
}

/// `value` with one decimal, without Foundation.
func formatTenths(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
