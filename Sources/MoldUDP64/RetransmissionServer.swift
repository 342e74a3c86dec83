import Reactor

/// Answers MoldUDP64 request packets from a `RetransmissionStore`: each valid
/// request gets one downstream packet, sent unicast to the requesting address,
/// holding as many of the requested messages as fit `maxPacketSize`, starting at
/// the requested sequence number (MoldUDP64 1.00: "the server may return fewer
/// messages than requested").
///
/// Hostile input is counted and ignored, never answered: a datagram that is not
/// exactly 20 bytes, a sequence number of 0, a count of 0, another session. A
/// request for messages not sent yet, or long evicted, gets no answer (the store
/// counts it); one that reaches back past the oldest held message is answered
/// from the oldest. Each requester (address and port) has a rate limit, and all
/// requesters together another; the table of requesters has a fixed size.
///
/// ```swift
/// let socket = try UDPSocket.bound(to: SocketAddress("0.0.0.0", port: 41001))
/// let server = RetransmissionServer(socket: socket, store: store,
///                                   configuration: .init(session: session))
/// try reactor.register(socket, handler: server)
/// ```
public final class RetransmissionServer: DatagramHandler {
    /// The session answered, packet size, answer size and rate limits.
    public struct Configuration: Sendable {
        /// The session whose messages the server answers; requests for others are
        /// counted in `wrongSession` and dropped.
        public var session: SessionID
        /// The largest answer packet (UDP payload), as for the publisher.
        public var maxPacketSize: Int = 1400
        /// The most messages in one answer (at most 0xFFFE).
        public var maxMessagesPerAnswer: Int = PacketWriter.maxMessageCount
        /// Requesters tracked for rate limiting; beyond that the least recently
        /// seen one of a hash set is forgotten.
        public var requesterCapacity: Int = 1024
        /// Each requester's limit. Default: 500 requests/s, bursts of 100.
        public var perRequesterLimit = RateLimiter(rate: 500, burst: 100)
        /// The limit over all requesters (bounds the answer traffic even under
        /// spoofed-source floods). Default: 20,000 requests/s, bursts of 2,000.
        public var totalLimit = RateLimiter(rate: 20_000, burst: 2_000)

        /// A configuration for `session` with the defaults above.
        public init(session: SessionID) { self.session = session }
    }

    /// What came in and what went out.
    public struct Counters: Sendable, Equatable {
        /// Every datagram received.
        public var datagrams: UInt64 = 0
        /// Not a request: wrong length (or cut by the receive slot), sequence
        /// number 0, count 0, or an unusable source address.
        public var malformed: UInt64 = 0
        /// A well-formed request for another session.
        public var wrongSession: UInt64 = 0
        /// Refused by the requester's own limit, or by the total limit.
        public var rateLimited: UInt64 = 0
        /// Requests refused by the total limit (also counted in `rateLimited`).
        public var totalRateLimited: UInt64 = 0
        /// Valid requests with nothing to answer (see RetransmissionStore.counters).
        public var unanswerable: UInt64 = 0
        /// Answers sent, and the messages in them.
        public var answers: UInt64 = 0
        /// Messages in the answers sent.
        public var messagesSent: UInt64 = 0
        /// A stored message larger than maxPacketSize allows (a configuration mismatch).
        public var oversizedMessages: UInt64 = 0
        /// Answers the socket would not take (full send buffer, ENOBUFS).
        public var sendFailures: UInt64 = 0
        /// Requester-table entries reused for a new requester.
        public var requestersForgotten: UInt64 = 0
    }

    /// The configuration the server was made with.
    public let configuration: Configuration
    /// The messages it answers from (the publisher's store).
    public let store: RetransmissionStore
    /// The socket requests arrive on and answers leave from.
    public let socket: UDPSocket
    /// What came in and what went out so far.
    public var counters: Counters {
        var counters = tally
        counters.requestersForgotten = requesters.evictions
        return counters
    }
    /// Internal rather than `public private(set)`, so whole-module optimization
    /// can drop dynamic exclusivity checks from the per-request path.
    var tally = Counters()

    let answerBuffer: UnsafeMutableRawBufferPointer
    var writer: PacketWriter
    let requesters: RequesterTable
    var totalArrival: UInt64 = 0

    /// A server answering re-requests for `configuration.session` from `store`;
    /// register `socket` with a reactor and this server as its handler. Its answer buffer
    /// and requester table are allocated here, once.
    ///
    /// - Parameters:
    ///   - socket: the socket to register with the reactor for this server
    ///     (answers are sent on it, so they come from the address clients asked).
    ///   - store: the messages it can answer for.
    ///   - configuration: the session it serves, answer limits and rate limits.
    public init(socket: UDPSocket, store: RetransmissionStore, configuration: Configuration) {
        precondition(configuration.maxPacketSize >= PacketWriter.headerSize + PacketWriter.blockHeaderSize,
                     "maxPacketSize must be at least 22 bytes")
        self.socket = socket
        self.store = store
        self.configuration = configuration
        answerBuffer = .allocate(byteCount: configuration.maxPacketSize, alignment: 16)
        writer = PacketWriter(buffer: answerBuffer, messageLimit: configuration.maxMessagesPerAnswer)
        requesters = RequesterTable(capacity: configuration.requesterCapacity, limit: configuration.perRequesterLimit)
    }

    deinit { answerBuffer.deallocate() }

    /// Answers the batch's requests from the store, within the rate limits;
    /// malformed, truncated and foreign-session requests are counted and dropped.
    public func receive(_ batch: DatagramBatch, reactor: Reactor) {
        let now = reactor.now
        for datagram in batch {
            guard !datagram.isTruncated else {
                // Longer than the receive slot, so longer than a request.
                tally.datagrams &+= 1
                tally.malformed &+= 1
                continue
            }
            let source = datagram.sourceAddress
            guard let answer = answer(to: datagram.bytes, from: source, now: now),
                  let address = source.baseAddress else { continue }
            // Through the reactor that delivered the request (queued when the
            // socket is full; refused, and counted, when the queue is too).
            if case .refused = reactor.send(batch.token, answer, toRaw: address, length: source.count) {
                tally.sendFailures &+= 1
            }
        }
    }

    /// The I/O-free core: judges one received datagram from the raw sockaddr
    /// `source` and returns the answer packet to send back (valid until the next
    /// call), or nil when it deserves none. Everything is counted.
    public func answer(to bytes: UnsafeRawBufferPointer, from source: UnsafeRawBufferPointer, now: UInt64) -> UnsafeRawBufferPointer? {
        tally.datagrams &+= 1
        let request: Request
        do {
            request = try Request(decoding: bytes)
        } catch {
            tally.malformed &+= 1
            return nil
        }
        guard request.session == configuration.session else {
            tally.wrongSession &+= 1
            return nil
        }
        switch requesters.admit(source: source, now: now) {
        case .unknownAddress:
            tally.malformed &+= 1
            return nil
        case .limited:
            tally.rateLimited &+= 1
            return nil
        case .admitted:
            break
        }
        guard configuration.totalLimit.admit(&totalArrival, now: now) else {
            tally.totalRateLimited &+= 1
            return nil
        }
        let wanted = min(Int(request.messageCount), configuration.maxMessagesPerAnswer)
        let range = store.available(from: request.sequenceNumber, count: wanted)
        guard !range.isEmpty else {
            tally.unanswerable &+= 1
            return nil
        }
        writer.begin(session: configuration.session, sequenceNumber: range.lowerBound)
        var sequence = range.lowerBound
        while sequence < range.upperBound, let message = store.message(sequence), writer.append(message) {
            sequence += 1
        }
        guard !writer.isEmpty else {
            tally.oversizedMessages &+= 1
            return nil
        }
        tally.answers &+= 1
        tally.messagesSent &+= UInt64(writer.messageCount)
        return writer.packet
    }
}
