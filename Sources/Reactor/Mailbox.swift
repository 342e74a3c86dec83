import Synchronization

/// The one door into a reactor from other threads: post work to run on the
/// reactor's thread, wake it, or ask it to stop. Posting a closure that
/// captures values allocates its context; taking and running posted work does
/// not (the reactor swaps the queue with a preallocated array of its own). For
/// a stream of values without a lock or an allocation per item, use a
/// `ReactorChannel`.
///
/// The eventfd is written only when no wakeup is pending already: a burst of
/// posts costs one write, and the reactor one read.
///
/// ```swift
/// let remote = reactor.remote
/// Thread { remote.post { reactor in print("on the reactor thread, cycle \(reactor.counters.cycles)") } }.start()
/// ```
public final class RemoteHandle: Sendable {
    /// Work posted from another thread; runs on the reactor's thread with the reactor.
    public typealias Work = @Sendable (Reactor) -> Void

    /// A posted closure as the queue stores it. The struct keeps the function
    /// at its own (concrete) abstraction: a bare closure stored in a generic
    /// array is wrapped in a reabstraction thunk, one heap context per post.
    struct Posted {
        let work: Work
    }

    let eventDescriptor: Int32
    /// Posted work not taken yet. The reactor swaps it with its own empty array.
    let queue: Mutex<ContiguousArray<Posted>>
    let stopRequested = Atomic<Bool>(false)
    /// Posted closures not yet taken (busy polling reads it instead of the eventfd).
    let pending = Atomic<Int>(0)
    /// True from an eventfd write until the reactor has read the eventfd and
    /// looked at the queue: further posts need no write of their own.
    let wakeupPending = Atomic<Bool>(false)
    /// A `ReactorChannel` of this reactor went from empty to non-empty.
    let channelsReady = Atomic<Bool>(false)

    init(capacity: Int = 64) throws(ReactorError) {
        do { eventDescriptor = try System.eventDescriptor() } catch { throw .system(error) }
        var initial = ContiguousArray<Posted>()
        initial.reserveCapacity(capacity)
        queue = Mutex(initial)
    }

    /// Runs `work` on the reactor's thread during its next duty cycle, handing
    /// it the reactor.
    public func post(_ work: @escaping Work) {
        queue.withLock { $0.append(Posted(work: work)) }
        // Sequentially consistent with `wakeupPending` (see `consumeWakeup`): a
        // post that skips the eventfd write is always seen by the drain in progress.
        pending.add(1, ordering: .sequentiallyConsistent)
        wakeup()
    }

    /// Runs `work` on the reactor's thread during its next duty cycle.
    public func post(_ work: @escaping @Sendable () -> Void) {
        post { _ in work() }
    }

    /// Wakes the reactor if it is blocked in the kernel. Writes the eventfd only
    /// when no earlier wakeup is still pending.
    public func wakeup() {
        if !wakeupPending.exchange(true, ordering: .sequentiallyConsistent) {
            System.signal(eventDescriptor: eventDescriptor)
        }
    }

    /// Asks `run()` to return after its current duty cycle.
    public func stop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        wakeup()
    }

    /// Posted work or a ready channel waits (busy polling checks this each cycle).
    @inline(__always)
    var hasWork: Bool {
        pending.load(ordering: .acquiring) > 0 || channelsReady.load(ordering: .acquiring)
    }

    /// The reactor has read the eventfd (reactor thread): the next post writes
    /// it again. Called before the queue and the channels are looked at, so a
    /// post that found a wakeup pending is taken by this drain.
    @inline(__always)
    func consumeWakeup() {
        wakeupPending.store(false, ordering: .sequentiallyConsistent)
    }

    /// Swaps everything posted so far into `drained`, which must be empty
    /// (reactor thread). Both arrays keep their capacity: no allocation once
    /// they have grown to the largest burst.
    @inline(__always)
    func take(into drained: inout ContiguousArray<Posted>) -> Int {
        guard pending.load(ordering: .sequentiallyConsistent) > 0 else { return 0 }
        queue.withLock { swap(&$0, &drained) }
        pending.subtract(drained.count, ordering: .releasing)
        return drained.count
    }

    // The eventfd lives as long as the handle, not the reactor: another thread
    // may still post or stop after the reactor closed, and must never write to
    // a descriptor number that was closed and handed to someone else.
    deinit { System.close(eventDescriptor) }
}
