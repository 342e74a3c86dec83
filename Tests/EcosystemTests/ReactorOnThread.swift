import Foundation
import Reactor
import Synchronization

/// A reactor running on its own thread for async tests: built there (io_uring is
/// single-issuer), `setUp` runs there, then `run()` until `stop()`. Bounded: every
/// wait has a deadline.
final class ReactorOnThread<Context>: @unchecked Sendable {
    // @unchecked: `context` and `reactor` are set on the reactor thread before `ready` is signalled and only read after.
    let ready = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    var context: Context!
    var access: ReactorAccess!
    var executor: ReactorExecutor!
    var failure: (any Error)?

    init(backend: BackendKind = .epoll, setUp: @escaping (Reactor) throws -> Context) throws {
        nonisolated(unsafe) let setUp = setUp   // runs on the new thread only
        let thread = Thread { [self] in
            do {
                let reactor = try Reactor(backend: backend)
                access = ReactorAccess(reactor)
                executor = ReactorExecutor(reactor)
                context = try setUp(reactor)
                ready.signal()
                try reactor.run(idle: .block)
                reactor.close()
            } catch {
                failure = error
                ready.signal()
            }
            done.signal()
        }
        thread.start()
        guard ready.wait(timeout: .now() + 20) == .success else { throw ReactorError.invalidArgument("reactor thread did not start") }
        if let failure { throw failure }
    }

    /// Stops the reactor and waits (bounded) for its thread to end.
    func stop() {
        access.remote.stop()
        _ = done.wait(timeout: .now() + 20)
    }
}
