import CFeedReactor
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A reactor as a Swift Concurrency executor: jobs run on the reactor's thread,
/// between duty cycles, next to its sockets. An actor whose `unownedExecutor` is
/// this one touches the reactor's handlers and sockets without a hop, and a task
/// started with it as its task executor runs there too.
///
/// ```swift
/// actor Book {
///     let executor: ReactorExecutor
///     nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
///     init(executor: ReactorExecutor) { self.executor = executor }
/// }
/// // On the reactor's thread, before or while it runs:
/// let executor = ReactorExecutor(reactor)
/// ```
///
/// Create it on the thread that runs the reactor (it remembers that thread for
/// `checkIsolated()`), and share one per reactor. Jobs arrive through
/// `reactor.remote.post`: each costs one small allocation and the mailbox's lock,
/// so keep per-packet work in handlers and use the executor for control work.
/// The reactor must be running (`run()`, or a host loop calling `poll()`) for jobs to run.
public final class ReactorExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    // @unchecked: `remote` is Sendable; `thread` is written once in init.
    let remote: RemoteHandle
    let thread: pthread_t
    unowned(unsafe) let reactor: Reactor

    /// An executor for `reactor`. Call it on the reactor's thread (it records the
    /// thread for `checkIsolated()`); create one per reactor and share it.
    public init(_ reactor: Reactor) {
        self.reactor = reactor
        remote = reactor.remote
        thread = pthread_self()
    }

    /// The reactor itself, synchronously, for code isolated to this executor (an
    /// actor on it, a task preferring it, a handler): no hop, no copy. Traps when
    /// called from another thread.
    ///
    /// ```swift
    /// func send(_ bytes: [UInt8]) throws {     // in an actor on the executor
    ///     try executor.withReactor { reactor in _ = try reactor.socket(for: token)?.send(bytes, to: peer) }
    /// }
    /// ```
    public func withReactor<T, E: Error>(_ body: (Reactor) throws(E) -> T) throws(E) -> T {
        checkIsolated()
        return try body(reactor)
    }

    /// Runs `job` on the reactor's thread, in the duty cycle after this call (posted
    /// through `reactor.remote`; callable from any thread). The reactor must keep
    /// running for the job to run.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        remote.post { [self] in
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
    }

    /// This executor as the serial executor of an actor (`unownedExecutor`).
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// This executor as a task executor (`Task(executorPreference:)`, `withTaskExecutorPreference`).
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// True on the reactor's thread: in its handlers, timers and posted work, and in
    /// jobs on this executor.
    public var isOnReactorThread: Bool { pthread_equal(thread, pthread_self()) != 0 }

    /// Called by `assumeIsolated` / `preconditionIsolated` when the running code is
    /// not a job of this executor (a handler callback, say): being on the reactor's
    /// thread is being isolated to it, since nothing else runs there.
    public func checkIsolated() {
        precondition(isOnReactorThread, "not on the reactor's thread: reach the reactor through its executor or remote.post")
    }
}

extension Reactor {
    /// Runs `body` on the reactor's thread during its next duty cycle and returns
    /// its result: one-off work (register a socket, read counters, reconfigure)
    /// from any task. `body` gets the reactor; the caller suspends meanwhile.
    ///
    /// ```swift
    /// let datagrams = try await remote.run { reactor in reactor.counters.datagrams }
    /// ```
    ///
    /// The reactor must be running; `body` runs before the next cycle's I/O.
    public nonisolated(nonsending) func run<T: Sendable, E: Error>(
        _ body: @escaping @Sendable (Reactor) throws(E) -> T
    ) async throws(E) -> T {
        try await ReactorAccess(self).run(body)
    }
}

/// A Sendable reference to a reactor for work posted to its thread: the reactor
/// is only ever touched inside closures that run there.
public struct ReactorAccess: @unchecked Sendable {
    // @unchecked: `reactor` is dereferenced only on the reactor's thread (in posted work).
    unowned(unsafe) let reactor: Reactor
    /// The reactor's cross-thread door.
    public let remote: RemoteHandle

    /// Call on the reactor's thread (or while nothing else uses the reactor).
    public init(_ reactor: Reactor) {
        self.reactor = reactor
        remote = reactor.remote
    }

    /// Runs `body` on the reactor's thread and returns its result (see `Reactor.run(_:)`).
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable (Reactor) throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            remote.post { [self] in
                do throws(E) {
                    continuation.resume(returning: .success(try body(reactor)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Posts `body` to the reactor's thread without waiting.
    public func post(_ body: @escaping @Sendable (Reactor) -> Void) {
        remote.post { [self] in body(reactor) }
    }
}
