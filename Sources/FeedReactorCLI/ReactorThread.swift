import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// A thread for a second reactor (the demo's feed side, latency-bench's echo
/// side). A reactor must be created and driven on its own thread (io_uring rings
/// are single-issuer), so `body` builds it there; `start` returns once `body`
/// has called `ready()`, or rethrows what `body` threw before that.
final class ReactorThread: @unchecked Sendable {
    var thread = pthread_t()
    var body: ((ReactorThread) throws -> Void)?
    var failure: (any Error)?
    var mutex = pthread_mutex_t()
    var condition = pthread_cond_t()
    var isReady = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func start(_ body: @escaping (ReactorThread) throws -> Void) throws {
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<ReactorThread>.fromOpaque(raw!).takeRetainedValue()
            do { try me.body?(me) } catch { me.failure = error }
            me.ready()
            return nil
        }, box.toOpaque())
        guard rc == 0 else { box.release(); throw ReactorError.system(SystemError(call: "pthread_create", errno: rc)) }
        pthread_mutex_lock(&mutex)
        while !isReady { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
        if let failure { throw failure }
    }

    /// Called by `body` once its reactor is set up.
    func ready() {
        pthread_mutex_lock(&mutex)
        isReady = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func join() { pthread_join(thread, nil) }
}
