import Synchronization

/// Hands elements from a reactor's thread to one async consumer in batches, with
/// backpressure: the base of `Client.messages` and `MulticastReceiver.datagrams`.
///
/// - The producer (reactor thread) collects elements in a local batch and hands it
///   over with `flush()`: one lock and at most one continuation resume per batch,
///   not per element.
/// - When `highWatermark` elements wait unconsumed, `pause` runs on the reactor's
///   thread (stop reading the socket: the kernel buffer, and for a feed its recovery,
///   take over); when the consumer has taken them down to `lowWatermark`, `resume`
///   runs there. Memory stays bounded by the high watermark plus one batch.
/// - When the consuming task is cancelled (or `cancel()` is called) the sequence
///   ends and `cancelled` runs on the reactor's thread, to free the registration.
public final class BatchedHandoff<Element: Sendable>: @unchecked Sendable {
    // @unchecked: `State` is behind the mutex; the producer-side fields (`pending`,
    // `paused`, the hooks) are touched only on the reactor's thread.
    struct State {
        var batches: [ContiguousArray<Element>] = []
        var head = 0
        var queued = 0
        var waiter: CheckedContinuation<ContiguousArray<Element>?, Never>?
        var finished = false
        var cancelled = false
        var resumePosted = false
        /// Reading is paused (set by the producer at the high watermark, cleared
        /// on the reactor's thread when it resumes).
        var paused = false
    }

    let state = Mutex(State())
    /// Elements waiting unconsumed at which the producer pauses reading (calls `pause`).
    public let highWatermark: Int
    /// Elements waiting unconsumed at or below which reading resumes (calls `resume`).
    public let lowWatermark: Int
    /// Elements per batch: the producer hands a batch over when it holds this many
    /// (or at `flush()`).
    public let batchSize: Int
    let access: ReactorAccess
    /// Producer side, reactor thread only.
    var pending: ContiguousArray<Element> = []
    /// Reading is paused at the high watermark.
    public var paused: Bool { state.withLock { $0.paused } }
    var pauseHook: (Reactor) -> Void = { _ in }
    var resumeHook: (Reactor) -> Void = { _ in }
    var cancelHook: (Reactor) -> Void = { _ in }
    /// The producer, kept alive by its sequence (a `Session` holds its consumer
    /// weakly) until the sequence ends or is cancelled.
    var producer: AnyObject?
    /// Times reading was paused (producer side).
    public private(set) var pauses: UInt64 = 0
    /// The most elements ever waiting unconsumed (the memory bound, in elements).
    public private(set) var highestQueued = 0

    /// Create on the reactor's thread. `batchSize` elements fill a batch.
    public init(reactor: Reactor, highWatermark: Int, lowWatermark: Int, batchSize: Int = 512) {
        precondition(highWatermark > 0 && lowWatermark >= 0 && lowWatermark < highWatermark,
                     "BatchedHandoff: need 0 <= lowWatermark < highWatermark")
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
        self.batchSize = max(1, batchSize)
        access = ReactorAccess(reactor)
        pending.reserveCapacity(min(self.batchSize, 4096))
    }

    /// What to do on the reactor's thread at the watermarks and on cancellation.
    public func onBackpressure(producer: AnyObject? = nil, pause: @escaping (Reactor) -> Void,
                               resume: @escaping (Reactor) -> Void, cancelled: @escaping (Reactor) -> Void) {
        self.producer = producer
        pauseHook = pause
        resumeHook = resume
        cancelHook = cancelled
    }

    // MARK: - Producer (reactor thread)

    /// Adds one element; hands the batch over when it is full. False once the
    /// consumer is gone (stop producing).
    @discardableResult
    public func append(_ element: Element) -> Bool {
        pending.append(element)
        if pending.count >= batchSize { return flush() }
        return true
    }

    /// Hands over what was collected (call at the end of each receive batch).
    @discardableResult
    public func flush() -> Bool {
        guard !pending.isEmpty else { return true }
        let batch = pending
        pending = []
        pending.reserveCapacity(min(batchSize, 4096))
        var waiter: CheckedContinuation<ContiguousArray<Element>?, Never>?
        let (pause, cancelled) = state.withLock { state -> (Bool, Bool) in
            if state.cancelled { return (false, true) }
            if let taken = state.waiter {
                state.waiter = nil
                waiter = taken
                return (false, false)
            }
            state.batches.append(batch)
            state.queued += batch.count
            if state.queued > highestQueued { highestQueued = state.queued }
            if state.queued >= highWatermark && !state.paused {
                state.paused = true
                return (true, false)
            }
            return (false, false)
        }
        if cancelled { return false }
        waiter?.resume(returning: batch)
        if pause {
            pauses &+= 1
            pauseHook(access.reactor)
        }
        return true
    }

    /// Ends the sequence after what was handed over.
    public func finish() {
        flush()
        let waiter = state.withLock { state -> CheckedContinuation<ContiguousArray<Element>?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
        producer = nil
    }

    /// Elements handed over and not yet taken by the consumer.
    public var queued: Int { state.withLock { $0.queued } }

    // MARK: - Consumer (any task)

    /// The next batch, nil when finished or cancelled.
    func nextBatch() async -> ContiguousArray<Element>? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ContiguousArray<Element>?, Never>) in
                let (batch, ready, postResume) = state.withLock { state -> (ContiguousArray<Element>?, Bool, Bool) in
                    if state.head < state.batches.count {
                        let batch = state.batches[state.head]
                        state.head += 1
                        if state.head == state.batches.count {
                            state.batches.removeAll(keepingCapacity: true)
                            state.head = 0
                        }
                        state.queued -= batch.count
                        var post = false
                        if state.paused && state.queued <= lowWatermark && !state.resumePosted {
                            state.resumePosted = true
                            post = true
                        }
                        return (batch, true, post)
                    }
                    if state.finished || state.cancelled { return (nil, true, false) }
                    state.waiter = continuation
                    return (nil, false, false)
                }
                if postResume { postResumeCheck() }
                if ready { continuation.resume(returning: batch) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// On the reactor's thread: resume reading if it was paused.
    func postResumeCheck() {
        access.post { [self] reactor in
            let resume = state.withLock { state -> Bool in
                state.resumePosted = false
                guard state.paused, !state.cancelled else { return false }
                state.paused = false
                return true
            }
            if resume { resumeHook(reactor) }
        }
    }

    /// Ends the sequence from the consumer side and frees the producer (its
    /// `cancelled` hook runs on the reactor's thread). Safe to call more than once.
    public func cancel() {
        let (waiter, first) = state.withLock { state -> (CheckedContinuation<ContiguousArray<Element>?, Never>?, Bool) in
            let first = !state.cancelled
            state.cancelled = true
            state.batches.removeAll()
            state.head = 0
            state.queued = 0
            defer { state.waiter = nil }
            return (state.waiter, first)
        }
        waiter?.resume(returning: nil)
        if first {
            access.post { [self] reactor in
                cancelHook(reactor)
                producer = nil
            }
        }
    }
}

/// The consumer's view of a `BatchedHandoff`: an AsyncSequence of its elements.
/// One consumer only; iterating takes whole batches and returns their elements.
public struct BatchedSequence<Element: Sendable>: AsyncSequence, Sendable {
    /// The handoff this sequence consumes. One consumer per handoff.
    public let handoff: BatchedHandoff<Element>

    /// Wraps `handoff` as an `AsyncSequence`. Iterate it from one task only.
    public init(_ handoff: BatchedHandoff<Element>) { self.handoff = handoff }

    /// Iterates the elements batch by batch: one lock per batch, none per element.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let handoff: BatchedHandoff<Element>
        var batch: ContiguousArray<Element> = []
        var index = 0

        /// The next element, waiting (without blocking a thread) for the reactor's next
        /// batch; nil once the producer finished or the consuming task was cancelled.
        /// Each element is a copy, so it stays valid after the callback that made it.
        public mutating func next() async -> Element? {
            if index == batch.count {
                guard let next = await handoff.nextBatch() else { return nil }
                batch = next
                index = 0
                if batch.isEmpty { return nil }
            }
            defer { index += 1 }
            return batch[index]
        }
    }

    /// An iterator over the handoff's elements. Call once: the sequence has a single consumer.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handoff: handoff) }
}
