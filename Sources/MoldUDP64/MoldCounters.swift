/// What a MoldUDP64 receiver has done, shared by its `Session` and
/// `Rerequester` (pass the same instance to both). Plain stored integers:
/// bumping one on the hot path is an add, reading them is free.
///
/// ```swift
/// let counters = MoldCounters()
/// let session = Session(configuration: .init(), counters: counters)
/// let rerequester = try Rerequester(configuration: config, counters: counters)
/// print(counters.summary)   // "delivered=... recovered=... ..."
/// ```
public final class MoldCounters {
    /// Messages handed to the consumer (each sequence number once).
    public var delivered: UInt64 = 0
    /// Of `delivered`, messages that came from a retransmission answer.
    public var recovered: UInt64 = 0
    /// Messages received again after they were delivered or buffered.
    public var duplicates: UInt64 = 0
    /// Missing ranges declared lost after the reorder window.
    public var gaps: UInt64 = 0
    /// Re-request packets handed to the sink.
    public var requests: UInt64 = 0
    /// Re-requests that got no answer in time.
    public var timeouts: UInt64 = 0
    /// Datagrams that failed `Packet` validation.
    public var malformed: UInt64 = 0
    /// Packets of a session other than the one locked onto.
    public var foreignSession: UInt64 = 0
    /// Datagrams on the re-request socket from an address that is not a
    /// configured server.
    public var unknownSource: UInt64 = 0
    /// Most packets ever held in the reorder buffer at once.
    public var bufferHighWater: UInt64 = 0
    /// Messages given up on after every retry (reported as lost, in order).
    public var unrecoverable: UInt64 = 0
    /// Out-of-order messages not kept because the reorder buffer was full
    /// (they are requested again later).
    public var bufferDrops: UInt64 = 0
    /// Requests not sent when due because the rate limit had no room.
    public var rateLimited: UInt64 = 0
    /// Answer packets accepted from configured servers for the current session.
    public var answers: UInt64 = 0
    /// The most messages one request brought back (any server; per server:
    /// `Rerequester.statistics(server:)`).
    public var answerMessagesHighWater: UInt64 = 0
    /// Time during which requests were outstanding (ns, summed between polls).
    public var recoveryNanoseconds: UInt64 = 0
    /// Missing ranges given up on (each named once to the sink and consumer).
    public var rangesGivenUp: UInt64 = 0

    /// Recovered messages per request sent (0 when nothing was requested).
    public var recoveredPerRequest: Double { requests > 0 ? Double(recovered) / Double(requests) : 0 }

    /// All counters at zero. Share one instance between a session and its
    /// rerequester (`Client` does) so that one summary covers both.
    public init() {}

    /// One `key=value` line for logs and the `listen` summary.
    public var summary: String {
        "delivered=\(delivered) recovered=\(recovered) duplicates=\(duplicates) gaps=\(gaps) "
            + "requests=\(requests) timeouts=\(timeouts) malformed=\(malformed) "
            + "foreign_session=\(foreignSession) unknown_source=\(unknownSource) "
            + "buffer_high_water=\(bufferHighWater) unrecoverable=\(unrecoverable) "
            + "buffer_drops=\(bufferDrops) rate_limited=\(rateLimited) answers=\(answers) "
            + "recovered_per_request=\(formatTenths(recoveredPerRequest)) largest_answer=\(answerMessagesHighWater) "
            + "recovery_ms=\(recoveryNanoseconds / 1_000_000) ranges_given_up=\(rangesGivenUp)"
    }
}
