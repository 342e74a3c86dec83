import Reactor
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
@testable import MoldUDP64

/// A whole MoldUDP64 receiver (Session + Rerequester) against test-side
/// re-request servers, over simulated links, on a fake clock. It checks every
/// delivery against the feed as it happens.
final class MoldRig: MessageConsumer, RequestSink {
    var feed: MoldFeed
    let counters = MoldCounters()
    let session: Session
    let rerequester: Rerequester
    let downstream: SimulatedLink
    var requestLinks: [SimulatedLink] = []
    var answerLinks: [SimulatedLink] = []
    let servers: [SocketAddress]
    var serverAlive: [Bool]
    /// Most messages one answer carries (the spec lets a server send fewer).
    var answerMaxMessages = 64
    /// What the re-request servers hold, when it differs from the live feed.
    var serverStore: MoldFeed?
    /// Models of stingy exchange servers, one per server, replacing the
    /// plain answers (and the answer links) when set.
    var stingy: [StingyServer]?
    /// The project's own `RetransmissionServer`s (I/O-free core), one per
    /// server, replacing the plain answers when set; answers travel the
    /// answer links.
    var retransmissionServers: [RetransmissionServer]?
    /// The address the servers see requests come from.
    let clientAddress = try! SocketAddress("127.0.0.1", port: 40_999)
    /// Per sequence number (index seq - 1): arrived on the live feed.
    private(set) var liveReceived: [Bool] = []
    /// One past the last message published live so far (servers answer only those).
    private(set) var publishedEnd: UInt64 = 1
    var now: UInt64 = 1_000_000_000

    private(set) var delivered: [UInt64] = []
    private(set) var wrongBytes = 0
    private(set) var outOfOrder = 0
    private(set) var lost: [Range<UInt64>] = []
    private(set) var unrecoverableReports: [Range<UInt64>] = []
    private(set) var requests: [(time: UInt64, server: Int, first: UInt64, count: UInt16)] = []
    private(set) var foreignReports: [SessionID] = []
    /// Requests that asked for messages the reorder buffer held when sent.
    private(set) var requestsForBuffered = 0
    private(set) var endedAt: UInt64?
    var expectedNext: UInt64

    init(feed: MoldFeed, session configuration: Session.Configuration = .init(),
         rerequester rerequestConfiguration: Rerequester.Configuration? = nil,
         servers serverCount: Int = 1, downstream impairment: SimulatedLink.Impairment = .perfect,
         requestImpairment: SimulatedLink.Impairment = .perfect,
         answerImpairment: SimulatedLink.Impairment = .perfect, seed: UInt64 = 1) throws {
        self.feed = feed
        servers = try (0..<serverCount).map { try SocketAddress("127.0.0.1", port: UInt16(41_000 + $0)) }
        serverAlive = Array(repeating: true, count: serverCount)
        session = Session(configuration: configuration, counters: counters)
        var rerequest = rerequestConfiguration ?? Rerequester.Configuration(servers: [])
        rerequest.servers = servers
        rerequester = try Rerequester(configuration: rerequest, counters: counters)
        downstream = SimulatedLink(seed: seed, impairment: impairment)
        for index in 0..<serverCount {
            requestLinks.append(SimulatedLink(seed: seed &+ 100 &+ UInt64(index), impairment: requestImpairment))
            answerLinks.append(SimulatedLink(seed: seed &+ 200 &+ UInt64(index), impairment: answerImpairment))
        }
        expectedNext = configuration.startSequence
        session.consumer = self
        rerequester.sink = self
    }

    // MARK: MessageConsumer

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        if sequence != expectedNext { outOfOrder += 1 }
        expectedNext = sequence + 1
        delivered.append(sequence)
        let index = Int(sequence) - 1
        // memcmp, not elementsEqual: a debug build's generic compare dominated
        // long-session tests.
        if index >= feed.messages.count || feed.messages[index].count != message.count
            || feed.messages[index].withUnsafeBytes({ memcmp($0.baseAddress!, message.baseAddress!, message.count) }) != 0 {
            wrongBytes += 1
        }
    }

    func lost(firstSequence: UInt64, count: UInt64) {
        if firstSequence != expectedNext { outOfOrder += 1 }
        expectedNext = firstSequence + count
        lost.append(firstSequence..<(firstSequence + count))
    }

    func foreignSession(_ session: SessionID, current: SessionID) { foreignReports.append(session) }
    func endOfSession(nextSequence: UInt64) { endedAt = now }

    // MARK: RequestSink

    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
        // Issue 18: never ask for what is buffered.
        if let slot = self.session.buffer.firstEntry(endingAfter: firstSequence),
           self.session.buffer.first[slot] < firstSequence + UInt64(count) {
            requestsForBuffered += 1
        }
        requests.append((now, serverIndex, firstSequence, count))
        requestLinks[serverIndex].send(MoldFeed.request(session: session.bytes, first: firstSequence, count: count), now: now)
    }

    func unrecoverable(firstSequence: UInt64, count: UInt64) {
        unrecoverableReports.append(firstSequence..<(firstSequence + count))
    }

    // MARK: Driving

    /// Delivers an answer as if it came from `address` (raw sockaddr path).
    func answer(_ bytes: [UInt8], from address: SocketAddress) {
        bytes.withUnsafeBytes { payload in
            address.withSockaddr { raw, length in
                rerequester.receiveAnswer(payload, from: UnsafeRawBufferPointer(start: raw, count: Int(length)),
                                          session: session, now: now)
            }
        }
    }

    func receiveLive(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = try? session.receive($0, now: now) }
        let count = Int(UInt16(bytes[18]) << 8 | UInt16(bytes[19]))
        let first = Int(truncatingIfNeeded: bytes[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        // Only the feed's own numbers (a forged far-future one is not tracked).
        guard count > 0 && count < 0xFFFF && first >= 1 && first - 1 + count <= feed.messages.count else { return }
        if liveReceived.count < first - 1 + count { liveReceived += Array(repeating: false, count: first - 1 + count - liveReceived.count) }
        for index in (first - 1)..<(first - 1 + count) { liveReceived[index] = true }
    }

    /// Runs of messages that never arrived live, below `end`.
    func liveMissingRuns(below end: UInt64) -> [Range<UInt64>] {
        var runs: [Range<UInt64>] = []
        var runStart: UInt64?
        for sequence in 1..<end {
            let index = Int(sequence) - 1
            let arrived = index < liveReceived.count && liveReceived[index]
            if !arrived && runStart == nil { runStart = sequence }
            if arrived, let start = runStart { runs.append(start..<sequence); runStart = nil }
        }
        if let start = runStart { runs.append(start..<end) }
        return runs
    }

    /// The fewest requests an answer cap of `cap` messages allows for what
    /// never arrived live: one per `cap` messages of each missing run.
    func minimumRequests(cap: Int, below end: UInt64) -> Int {
        liveMissingRuns(below: end).reduce(0) { $0 + (Int($1.upperBound - $1.lowerBound) + cap - 1) / cap }
    }

    /// Sends `packets` on the downstream link one per `interval`, then a
    /// heartbeat every `heartbeatInterval` (and end of session if asked), and
    /// runs until `done` or `limit` of simulated time.
    /// `offsets`, when given, are the packets' send times after the start
    /// instead (non-decreasing, one per packet).
    func run(_ packets: [[UInt8]], interval: UInt64 = 10_000, offsets: [UInt64]? = nil, heartbeatInterval: UInt64 = 1_000_000,
             endOfSession: Bool = false, limit: UInt64 = 60_000_000_000,
             inject: ((Int, MoldRig) -> Void)? = nil, until done: (MoldRig) -> Bool) {
        let start = now
        func due(_ index: Int) -> UInt64 { offsets?[index] ?? UInt64(index) * interval }
        var nextPacket = 0
        var nextHeartbeat = UInt64.max
        while now - start < limit && !done(self) {
            while nextPacket < packets.count && start + due(nextPacket) <= now {
                inject?(nextPacket, self)
                let packet = packets[nextPacket]
                if packet[18..<20] != [0, 0] && packet[18..<20] != [0xFF, 0xFF] {
                    let first = packet[10..<18].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    let count = UInt64(packet[18]) << 8 | UInt64(packet[19])
                    publishedEnd = max(publishedEnd, first + count)
                }
                downstream.send(packet, now: now)
                nextPacket += 1
                if nextPacket == packets.count { nextHeartbeat = now }
            }
            if nextHeartbeat <= now {
                downstream.send(endOfSession ? feed.endOfSession() : feed.heartbeat(), now: now)
                nextHeartbeat = now + heartbeatInterval
            }
            for datagram in downstream.receive(upTo: now) { receiveLive(datagram) }
            for server in servers.indices {
                if let model = stingy?[server] {
                    model.publishedEnd = publishedEnd
                    for request in requestLinks[server].receive(upTo: now) where serverAlive[server] {
                        model.receive(request: request, now: now)
                    }
                    for answer in model.answers(upTo: now) { self.answer(answer, from: servers[server]) }
                    continue
                }
                if let own = retransmissionServers?[server] {
                    for request in requestLinks[server].receive(upTo: now) where serverAlive[server] {
                        let answer = request.withUnsafeBytes { bytes in
                            clientAddress.withSockaddr { raw, length in
                                own.answer(to: bytes, from: UnsafeRawBufferPointer(start: raw, count: Int(length)), now: now)
                                    .map { Array($0) }
                            }
                        }
                        if let answer { answerLinks[server].send(answer, now: now) }
                    }
                    for answer in answerLinks[server].receive(upTo: now) { self.answer(answer, from: servers[server]) }
                    continue
                }
                for request in requestLinks[server].receive(upTo: now) where serverAlive[server] {
                    if let answer = (serverStore ?? feed).answer(request: request, maxMessages: answerMaxMessages,
                                                                           publishedEnd: publishedEnd) {
                        answerLinks[server].send(answer, now: now)
                    }
                }
                for answer in answerLinks[server].receive(upTo: now) { self.answer(answer, from: servers[server]) }
            }
            rerequester.poll(now: now, session: session)
            // Jump to the next event, at least 1 µs ahead.
            var next = nextHeartbeat
            if nextPacket < packets.count { next = min(next, start + due(nextPacket)) }
            for link in [downstream] + requestLinks + answerLinks { if let arrival = link.nextArrival { next = min(next, arrival) } }
            for model in stingy ?? [] { if let arrival = model.nextArrival { next = min(next, arrival) } }
            if let deadline = rerequester.nextDeadline(session: session) { next = min(next, deadline) }
            now = max(now + 1_000, min(next, now + 10_000_000))
        }
    }

    /// Every message of the feed from `first` was delivered once, in order, intact.
    func deliveredAll(from first: UInt64 = 1) -> Bool {
        delivered.count == Int(feed.nextSequence - first) && delivered.first == first && outOfOrder == 0 && wrongBytes == 0
    }
}
