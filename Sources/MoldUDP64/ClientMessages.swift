import Multicast
import Reactor

/// One delivered MoldUDP64 message, copied out of its packet (the views a
/// `MessageConsumer` sees live only during the callback; an async consumer
/// runs later, so it gets a copy).
public struct MoldMessage: Sendable, Equatable {
    /// The message's MoldUDP64 sequence number.
    public let sequence: UInt64
    /// The message's bytes (without the 2-byte length prefix), copied.
    public let bytes: [UInt8]

    /// A message with `sequence` and a copy of its `bytes`.
    public init(sequence: UInt64, bytes: [UInt8]) {
        self.sequence = sequence
        self.bytes = bytes
    }
}

extension Client {
    /// A client whose deliveries are an AsyncSequence, for a consumer in Swift
    /// Concurrency. Call on the reactor's thread; iterate from any task.
    ///
    /// ```swift
    /// let (client, messages) = try Client.messages(configuration, reactor: reactor)
    /// Task {
    ///     for await message in messages { book.apply(message.sequence, message.bytes) }
    /// }
    /// ```
    ///
    /// - Each element is a copy (one array per message); use a `MessageConsumer`
    ///   where zero allocations per message matter.
    /// - Messages are handed over in batches: those delivered in one duty cycle (at
    ///   most `batchSize` at a time) cost one lock and one wake-up together.
    /// - Backpressure: when `highWatermark` messages wait unconsumed, the client
    ///   stops reading its multicast lines (the kernel buffers, then drops; what it
    ///   drops is recovered through the re-request servers like any loss); answers to
    ///   requests already in flight still arrive. Reading resumes at `lowWatermark`.
    /// - Gaps given up on are skipped (counted in `client.counters.unrecoverable`);
    ///   the end of session ends the sequence.
    /// - Cancelling the consuming task ends the sequence, closes the client and frees
    ///   its registrations (on the reactor's thread).
    public static func messages(_ configuration: Configuration, reactor: Reactor, highWatermark: Int = 65_536,
                                lowWatermark: Int = 16_384, batchSize: Int = 512)
        throws -> (client: Client, messages: BatchedSequence<MoldMessage>) {
        let handoff = BatchedHandoff<MoldMessage>(reactor: reactor, highWatermark: highWatermark,
                                                  lowWatermark: lowWatermark, batchSize: batchSize)
        let consumer = MessageStreamConsumer(handoff: handoff)
        let client = try Client(configuration, reactor: reactor, consumer: consumer)
        consumer.client = client
        handoff.onBackpressure(
            producer: consumer,
            pause: { [weak consumer] reactor in consumer?.pauseLines(reactor) },
            resume: { [weak consumer] reactor in consumer?.resumeLines(reactor) },
            cancelled: { [weak consumer] _ in consumer?.close() })
        return (client, BatchedSequence(handoff))
    }
}

/// The `MessageConsumer` behind `Client.messages`: copies each message into the
/// handoff's batch and hands the batch over at the end of the duty cycle (a
/// timer due at once fires after the cycle's I/O).
final class MessageStreamConsumer: MessageConsumer, TimerHandler {
    let handoff: BatchedHandoff<MoldMessage>
    weak var client: Client?
    var paused: [PausedRegistration] = []
    var flushScheduled = false

    init(handoff: BatchedHandoff<MoldMessage>) { self.handoff = handoff }

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        handoff.append(MoldMessage(sequence: sequence, bytes: Array(message)))
        if !flushScheduled, let reactor = client?.reactor {
            flushScheduled = (try? reactor.schedule(at: reactor.now, handler: self)) != nil
        }
    }

    func endOfSession(nextSequence: UInt64) { handoff.finish() }

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        flushScheduled = false
        handoff.flush()
    }

    func pauseLines(_ reactor: Reactor) {
        guard let client else { return }
        paused = client.lineTokens.compactMap { reactor.pauseReading($0) }
        client.lineTokens = []
    }

    func resumeLines(_ reactor: Reactor) {
        guard let client else { return }
        var tokens: [Token] = []
        for registration in paused {
            do {
                tokens.append(try reactor.resumeReading(registration))
            } catch {
                client.configuration.logger.error("could not resume reading a line", metadata: ["error": "\(error)"])
                registration.close()
            }
        }
        paused = []
        client.lineTokens = tokens
    }

    func close() {
        for registration in paused { registration.close() }
        paused = []
        client?.close()
    }
}

extension Client {
    /// Closes the live lines (leaving their groups) and keeps the request socket
    /// and the recovery timer: answers to requests in flight still arrive and are
    /// delivered. For a clean shutdown: leave the lines, wait until
    /// `rerequester.inFlightCount` is 0 (or a deadline), then `close()`.
    public func leaveLines() {
        guard let reactor else { return }
        for token in lineTokens { reactor.deregister(token) }
        lineTokens = []
    }
}
