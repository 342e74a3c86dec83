import Logging
import Multicast
import Reactor

/// A MoldUDP64 receiver on a reactor: one or two multicast lines (A/B), a
/// dedicated re-request socket, and a timer, wired to a `Session` (ordering,
/// exactly-once delivery, gap detection) and a `Rerequester` (recovery).
///
/// - A/B arbitration: both lines feed the same session, so the first copy of a
///   sequence number wins and later copies are counted as duplicates of the line
///   they came on (`lineCounters`).
/// - The request socket is bound to its own ephemeral port, so several clients
///   on one host each get their own answers. Answers are accepted only from the
///   configured servers and for the current session.
/// - Nothing on the receive, sequencing or recovery path allocates.
///
/// ```swift
/// var configuration = Client.Configuration(
///     lines: [try Subscription(group: "239.1.1.1", port: 41000)],
///     servers: [try SocketAddress("127.0.0.1", port: 41001)])
/// let client = try Client(configuration, reactor: reactor, consumer: myConsumer)
/// try reactor.run()
/// ```
public final class Client: RequestSink, TimerHandler {
    /// What a client joins and whom it asks: its lines, its re-request servers, and
    /// the tuning of its session, recovery, sockets and logging.
    public struct Configuration: Sendable {
        /// The multicast lines: one, or two carrying the same feed (A/B).
        public var lines: [Subscription]
        /// Re-request servers, tried round-robin with failover.
        public var servers: [SocketAddress]
        /// Session tuning: reorder window, buffer sizes, a pinned session name.
        public var session: Session.Configuration
        /// Recovery tuning; its `servers` are replaced by `servers` above.
        public var rerequest: Rerequester.Configuration
        /// SO_RCVBUF for each line and for the socket the servers' answers arrive
        /// on (SO_RCVBUFFORCE as root); nil keeps the kernel's default. Answers come
        /// in bursts too: `maxInFlight` requests of two or more packets each,
        /// answered together, overflow a default buffer of 208 KiB on a loaded host.
        public var receiveBufferBytes: Int?
        /// Ask the kernel for receive timestamps on the lines (see `PacketInfo`).
        public var timestamps: Bool
        /// How often the recovery timer runs when there is nothing else to do.
        public var pollInterval: UInt64
        /// recvmmsg batch and slot size for every socket.
        public var receive: ReceiveOptions
        /// Diagnostics: setup, failovers, give-ups. Never used per packet.
        public var logger: Logger
        /// True when another recovery path takes the gaps (SoupBinTCP's
        /// `SoupRecovery` on `rerequester.handoff`): then `servers` may be empty.
        public var recoversElsewhere: Bool = false

        /// A configuration for `lines` (one, or two for A/B arbitration) and re-request
        /// `servers` (at least one, all of one address family), with default tuning.
        public init(lines: [Subscription], servers: [SocketAddress]) {
            self.lines = lines
            self.servers = servers
            session = Session.Configuration()
            rerequest = Rerequester.Configuration(servers: servers)
            receiveBufferBytes = 8 << 20
            timestamps = false
            pollInterval = 1_000_000
            receive = ReceiveOptions(slotCount: 64, slotSize: 2048)
            logger = Logger(label: "feedreactor.moldudp64.client")
        }
    }

    /// What arrived on one line.
    public struct LineCounters: Sendable, Equatable {
        /// Datagrams read from this line's socket.
        public var datagrams: UInt64 = 0
        /// Messages that another line (or an earlier copy) had delivered already.
        public var duplicates: UInt64 = 0
        /// Datagrams from this line that were not valid MoldUDP64 (truncated, bad
        /// framing); each is dropped and counted, never delivered.
        public var malformed: UInt64 = 0
    }

    /// Why `Client.init` refused its configuration.
    public enum ClientError: Error, CustomStringConvertible {
        /// The configuration has no line to join.
        case noLines
        /// More than two lines: a client arbitrates one or two (A/B) copies of one feed.
        case tooManyLines(Int)
        /// No re-request server: recovery would have nowhere to ask.
        case noServers
        /// Some re-request servers are IPv4 and some IPv6; the request socket has one family.
        case mixedFamilies

        /// What is wrong and which option fixes it.
        public var description: String {
            switch self {
            case .noLines: return "a client needs at least one line (--group)"
            case .tooManyLines(let n): return "a client takes one or two lines (A/B), not \(n)"
            case .noServers: return "a client needs at least one re-request server (--rerequest HOST:PORT)"
            case .mixedFamilies: return "re-request servers must all be IPv4 or all IPv6"
            }
        }
    }

    /// The configuration the client was made with.
    public let configuration: Configuration
    /// The client's counters (shared with its session and rerequester): delivered,
    /// recovered, requested, lost. Read them on the reactor's thread.
    public let counters: MoldCounters
    /// One entry per line, in `configuration.lines` order.
    public private(set) var lineCounters: ContiguousArray<LineCounters>
    /// The session state machine: sequencing, reorder buffer, gap detection.
    public let session: Session
    /// Recovery: what is requested from which server, timeouts, failover, give-ups.
    public let rerequester: Rerequester
    /// Bytes of request packets (encoded in place, no allocation).
    let requestBuffer: UnsafeMutableRawBufferPointer
    let requestSocket: UDPSocket
    var lineTokens: [Token] = []
    var requestToken: Token?
    var timer = TimerHandle.invalid
    weak var reactor: Reactor?
    var isClosed = false
    var receivers: [LineReceiver] = []
    /// The bound port of each line (the kernel's choice where a subscription said 0).
    public private(set) var linePorts: [UInt16] = []
    /// The local address answers come back to.
    public var requestAddress: SocketAddress? { try? requestSocket.localAddress() }
    var answerReceiver: AnswerReceiver?
    /// Told about every request the client sends (recovery timing in the demo).
    public weak var observer: (any RecoveryObserver)?
    /// Requests whose send failed (send buffer full, ENOBUFS): they time out and retry.
    public private(set) var requestSendFailures: UInt64 = 0

    /// Joins the lines, opens the request socket and starts the recovery timer.
    public init(_ configuration: Configuration, reactor: Reactor, consumer: any MessageConsumer) throws {
        guard !configuration.lines.isEmpty else { throw ClientError.noLines }
        guard configuration.lines.count <= 2 else { throw ClientError.tooManyLines(configuration.lines.count) }
        guard !configuration.servers.isEmpty || configuration.recoversElsewhere else { throw ClientError.noServers }
        let ipv6 = configuration.servers.first?.isIPv6 ?? false
        guard configuration.servers.allSatisfy({ $0.isIPv6 == ipv6 }) else { throw ClientError.mixedFamilies }
        self.configuration = configuration
        counters = MoldCounters()
        lineCounters = ContiguousArray(repeating: LineCounters(), count: configuration.lines.count)
        var sessionConfiguration = configuration.session
        if configuration.lines.count == 2 {
            // With A/B lines the reactor reads a whole batch of one line before the
            // other's copies of the same packets; a packet-count window shorter than
            // a batch would declare gaps the other line is about to fill.
            sessionConfiguration.reorderWindowPackets = min(4096, max(sessionConfiguration.reorderWindowPackets,
                                                                      2 * configuration.receive.slotCount))
        }
        session = Session(configuration: sessionConfiguration, counters: counters)
        var rerequest = configuration.rerequest
        rerequest.servers = configuration.servers
        rerequester = try Rerequester(configuration: rerequest, counters: counters)
        requestBuffer = .allocate(byteCount: Request.size, alignment: 8)
        requestSocket = try UDPSocket.bound(to: .any(port: 0, ipv6: ipv6))
        self.reactor = reactor
        session.consumer = consumer
        rerequester.sink = self
        do {
            try start(reactor)
        } catch {
            close()
            throw error
        }
    }

    deinit { requestBuffer.deallocate() }

    func start(_ reactor: Reactor) throws {
        let answers = AnswerReceiver(client: self)
        answerReceiver = answers
        if let bytes = configuration.receiveBufferBytes { _ = try requestSocket.setReceiveBuffer(bytes: bytes) }
        requestToken = try reactor.register(requestSocket, options: configuration.receive, handler: answers)
        for (index, subscription) in configuration.lines.enumerated() {
            let receiver = try MulticastReceiver(
                subscription, options: .init(timestamps: configuration.timestamps,
                                             receiveBufferBytes: configuration.receiveBufferBytes))
            linePorts.append(receiver.port)
            let handler = LineReceiver(client: self, line: index)
            receivers.append(handler)
            do {
                lineTokens.append(try receiver.register(with: reactor, options: configuration.receive, handler: handler))
            } catch {
                // Not handed to the reactor: the socket is still ours to close.
                receiver.close()
                throw error
            }
        }
        timer = try reactor.schedule(after: configuration.pollInterval, period: configuration.pollInterval, handler: self)
        configuration.logger.info("MoldUDP64 client started", metadata: [
            "lines": "\(configuration.lines.map(\.description))", "servers": "\(configuration.servers.map(\.description))",
            "backend": "\(reactor.backendKind)",
        ])
    }

    /// Leaves the lines, closes the sockets and stops the timer.
    /// Once only. When the reactor is gone already, its deinit closed every socket
    /// registered with it: only a request socket it never got is closed here.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        guard let reactor else {
            if requestToken == nil { requestSocket.close() }
            lineTokens = []
            requestToken = nil
            return
        }
        reactor.cancel(timer)
        for token in lineTokens { reactor.deregister(token) }
        if let requestToken { reactor.deregister(requestToken) } else { requestSocket.close() }
        lineTokens = []
        requestToken = nil
        self.reactor = nil
    }

    /// The ranges still missing below the highest sequence number known, up to `limit` ranges.
    public func missingRanges(limit: Int = 16) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        var cursor = session.nextExpected
        while ranges.count < limit, let range = session.firstMissing(atOrAfter: cursor, below: session.highestKnown) {
            ranges.append(range)
            cursor = range.upperBound
        }
        return ranges
    }

    /// Every range still missing below the highest sequence number known,
    /// merged, into `list` (which keeps up to its limit and counts the rest).
    public func appendMissingRanges(to list: inout RangeList) {
        var cursor = session.nextExpected
        while let range = session.firstMissing(atOrAfter: cursor, below: session.highestKnown) {
            list.append(range)
            cursor = range.upperBound
        }
    }

    // MARK: - Receive paths

    @inline(__always)
    func receiveLive(_ batch: DatagramBatch, line: Int, now: UInt64) {
        lineCounters[line].datagrams &+= UInt64(batch.count)
        for datagram in batch {
            if datagram.isTruncated {
                counters.malformed &+= 1
                lineCounters[line].malformed &+= 1
                continue
            }
            let duplicatesBefore = counters.duplicates
            do {
                try session.receive(datagram.bytes, now: now)
            } catch {
                lineCounters[line].malformed &+= 1
            }
            lineCounters[line].duplicates &+= counters.duplicates &- duplicatesBefore
        }
        rerequester.poll(now: now, session: session)
    }

    @inline(__always)
    func receiveAnswers(_ batch: DatagramBatch, now: UInt64) {
        for datagram in batch {
            if datagram.isTruncated {
                counters.malformed &+= 1
                continue
            }
            rerequester.receiveAnswer(datagram.bytes, from: datagram.sourceAddress, session: session, now: now)
        }
        rerequester.poll(now: now, session: session)
    }

    // MARK: - RequestSink

    /// Encodes a re-request (a 20-byte MoldUDP64 header) and sends it to server
    /// `serverIndex`; a refused send is counted, and the rerequester's timeout
    /// covers it. Called by the rerequester on the reactor's thread.
    public func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
        let request = Request(session: session, sequenceNumber: firstSequence, messageCount: count)
        let length = request.encode(into: requestBuffer)
        observer?.requestSent(firstSequence: firstSequence, count: count, now: reactor?.now ?? 0)
        // Through the reactor the request socket is registered with. A refused
        // request times out and is retried (or fails over).
        guard let reactor, let requestToken else {
            requestSendFailures &+= 1
            return
        }
        let bytes = UnsafeRawBufferPointer(rebasing: requestBuffer[0..<length])
        if case .refused = reactor.send(requestToken, bytes, to: configuration.servers[serverIndex]) {
            requestSendFailures &+= 1
        }
    }

    /// Logs the give-up (a warning); the session reports the range to the consumer
    /// as `lost(firstSequence:count:)`.
    public func unrecoverable(firstSequence: UInt64, count: UInt64) {
        configuration.logger.warning("gave up recovering messages after every retry; reported to the consumer as lost",
                                     metadata: ["first": "\(firstSequence)", "count": "\(count)"])
    }

    /// Logs the failover (a notice with the server and when it is probed again).
    public func serverSkipped(serverIndex: Int, timeouts: Int, until: UInt64) {
        configuration.logger.notice("re-request server not answering; failing over to the others", metadata: [
            "server": "\(configuration.servers[serverIndex])", "timeouts": "\(timeouts)",
            "probeAgainInMs": "\((until &- (reactor?.now ?? until)) / 1_000_000)",
        ])
    }

    // MARK: - TimerHandler

    /// The client's recovery timer: lets the rerequester send, time out and give up.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        rerequester.poll(now: now, session: session)
    }
}

/// Sees each re-request the client sends (for measuring recovery).
public protocol RecoveryObserver: AnyObject {
    /// The client sent a re-request for `count` messages from `firstSequence`, at
    /// `now` nanoseconds on the reactor's clock. Runs on the reactor's thread; keep it cheap.
    func requestSent(firstSequence: UInt64, count: UInt16, now: UInt64)
}

/// One line's socket handler: forwards batches to the client with the line index.
final class LineReceiver: DatagramHandler {
    unowned let client: Client
    let line: Int

    init(client: Client, line: Int) {
        self.client = client
        self.line = line
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        client.receiveLive(batch, line: line, now: reactor.now)
    }
}

/// The request socket's handler: answers from re-request servers.
final class AnswerReceiver: DatagramHandler {
    unowned let client: Client

    init(client: Client) { self.client = client }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        client.receiveAnswers(batch, now: reactor.now)
    }
}
