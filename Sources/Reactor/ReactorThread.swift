import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A thread that builds and drives one reactor. A reactor must be created and
/// driven on its own thread (io_uring rings are single-issuer), so `body` builds
/// it there; `start` returns once `body` has called `ready()`, or rethrows what
/// `body` threw before that. What `body` throws after `ready()` is `failure`,
/// readable after `join()`.
///
/// ```swift
/// let thread = ReactorThread()
/// var remote: RemoteHandle?
/// try thread.start(pinnedTo: 1) { thread in
///     let reactor = try Reactor()
///     remote = reactor.remote
///     thread.ready()
///     try reactor.run()
/// }
/// remote?.stop(); thread.join()
/// ```
public final class ReactorThread: @unchecked Sendable {
    let started = System.Latch()
    // Written by the thread before it opens `started`, read by `start` after.
    var failureBeforeReady: (any Error)?
    var thread: pthread_t?
    let readyOnce = Atomic<Bool>(false)

    /// A thread object, not yet started; `start(pinnedTo:_:)` creates the thread.
    public init() {}

    /// What `body` threw after it called `ready()`. Written by the thread: read
    /// it after `join()`.
    public private(set) var failure: (any Error)?

    /// Starts the thread (pinned to `cpu` first, when given) and waits until
    /// `body` calls `ready()` or returns.
    public func start(pinnedTo cpu: Int? = nil, _ body: @escaping (ReactorThread) throws -> Void) throws {
        precondition(thread == nil, "ReactorThread started twice")
        do {
            thread = try System.startThread { [self] in
                do {
                    if let cpu { try Reactor.pinCurrentThread(toCPU: cpu) }
                    try body(self)
                } catch {
                    if readyOnce.load(ordering: .acquiring) {
                        failure = error
                    } else {
                        failureBeforeReady = error
                    }
                }
                ready()
            }
        } catch {
            throw ReactorError.system(error)
        }
        started.wait()
        if let failureBeforeReady { throw failureBeforeReady }
    }

    /// Called by `body` once its reactor is set up: `start` returns.
    public func ready() {
        if !readyOnce.exchange(true, ordering: .acquiringAndReleasing) { started.open() }
    }

    /// Waits for the thread to end (after its reactor was stopped).
    public func join() {
        guard let thread else { return }
        System.join(thread)
        self.thread = nil
    }

    /// True when called on this thread.
    public var isCurrent: Bool { thread.map(System.isCurrentThread) ?? false }
}
