import Foundation
import Logging
import Reactor
import ServiceLifecycle
import Synchronization

/// A reactor as a swift-service-lifecycle `Service`: `run()` starts a thread,
/// builds the reactor there (io_uring rings are single-issuer), calls `setUp`,
/// and runs duty cycles until graceful shutdown or cancellation; then `tearDown`
/// runs on the reactor's thread, the reactor is closed (every socket with it) and
/// `run()` returns.
///
/// ```swift
/// let feed = ReactorService(name: "feed", configuration: .init(backend: .auto)) { reactor in
///     try reactor.register(socket, handler: handler)
/// }
/// let group = ServiceGroup(configuration: .init(services: [.init(service: feed)],
///                                               gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
public final class ReactorService: Service, @unchecked Sendable {
    // @unchecked: the closures run on the reactor's thread only; `state` is behind a mutex.
    /// The service's name in its log lines and its thread's name.
    public let name: String
    let configuration: Reactor.Configuration
    let idle: IdleStrategy
    let logger: Logger
    let setUp: (Reactor) throws -> Void
    let tearDown: (Reactor) -> Void
    /// What the reactor does when shutdown is asked for; by default it stops at
    /// once. `ClientService` uses it to finish recovery first.
    var shutdown: (Reactor) -> Void = { $0.stop() }

    struct State {
        var remote: RemoteHandle?
        var shutdownRequested = false
    }
    let state = Mutex(State())

    /// A service that, when run, builds a reactor on a thread of its own, calls
    /// `setUp` there and runs it until shutdown; nothing is opened before `run()`.
    ///
    /// - Parameters:
    ///   - name: the service's name in logs and its thread's name.
    ///   - configuration: the reactor's backend and capacities.
    ///   - idle: how the reactor waits when there is nothing to do.
    ///   - logger: start, stop and failure notices.
    ///   - setUp: on the reactor's thread before the first cycle: register sockets,
    ///     schedule timers. A throw ends `run()` with that error.
    ///   - tearDown: on the reactor's thread after the last cycle, before the
    ///     reactor closes (print a summary, flush).
    public init(name: String = "reactor", configuration: Reactor.Configuration = .init(), idle: IdleStrategy = .block,
                logger: Logger = Logger(label: "feedreactor.service"),
                setUp: @escaping (Reactor) throws -> Void, tearDown: @escaping (Reactor) -> Void = { _ in }) {
        self.name = name
        self.configuration = configuration
        self.idle = idle
        self.logger = logger
        self.setUp = setUp
        self.tearDown = tearDown
    }

    /// Starts the reactor on its own thread, runs `setUp` there, and returns when
    /// the reactor stopped: on graceful shutdown (SIGTERM/SIGINT via a
    /// `ServiceGroup`) or task cancellation, after `tearDown` ran and the reactor closed.
    ///
    /// - Throws: what `setUp` threw, or what the reactor threw while running.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await self.runThread()
            } onCancel: {
                self.requestShutdown(immediately: true)
            }
        } onGracefulShutdown: {
            self.requestShutdown(immediately: false)
        }
    }

    /// Asks the reactor to end: graceful (the `shutdown` hook, on its thread) or at once.
    func requestShutdown(immediately: Bool) {
        let remote = state.withLock { state -> RemoteHandle? in
            state.shutdownRequested = true
            return state.remote
        }
        guard let remote else { return }   // not started yet: it will see the flag
        if immediately {
            remote.stop()
        } else {
            remote.post { [self] in
                if let reactor = currentReactor?.value { shutdown(reactor) }
            }
        }
    }

    /// Set on the reactor's thread while it runs.
    nonisolated(unsafe) var currentReactor: UncheckedBox<Reactor>?

    func runThread() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { [self] in
                do {
                    let reactor = try Reactor(configuration)
                    currentReactor = UncheckedBox(reactor)
                    defer { currentReactor = nil; reactor.close() }
                    try setUp(reactor)
                    let early = state.withLock { state -> Bool in
                        state.remote = reactor.remote
                        return state.shutdownRequested
                    }
                    logger.info("reactor service running", metadata: ["service": "\(name)", "backend": "\(reactor.backendKind)"])
                    if early { shutdown(reactor) }
                    try reactor.run(idle: idle)
                    state.withLock { $0.remote = nil }
                    tearDown(reactor)
                    logger.info("reactor service stopped", metadata: ["service": "\(name)"])
                    continuation.resume()
                } catch {
                    state.withLock { $0.remote = nil }
                    logger.error("reactor service failed", metadata: ["service": "\(name)", "error": "\(error)"])
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "feedreactor-\(name)"
            thread.start()
        }
    }
}

/// Carries a non-Sendable value to the thread that owns it.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
