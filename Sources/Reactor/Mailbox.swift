import CFeedReactor
import Synchronization

/// The one door into a reactor from other threads: post work to run on the
/// reactor's thread, wake it, or ask it to stop. This is the only place in the
/// package with a lock; posting allocates (the closure), running the reactor
/// does not.
///
/// ```swift
/// let remote = reactor.remote
/// Thread { remote.post { print("on the reactor thread") } }.start()
/// ```
public final class RemoteHandle: Sendable {
    let eventDescriptor: Int32
    let queue = Mutex<[@Sendable () -> Void]>([])
    let stopRequested = Atomic<Bool>(false)
    let pending = Atomic<Int>(0)

    init() throws(ReactorError) {
        let fd = fr_eventfd()
        guard fd >= 0 else { throw .system(SystemError(call: "eventfd", errno: -fd)) }
        eventDescriptor = fd
    }

    /// Runs `work` on the reactor's thread during its next duty cycle.
    public func post(_ work: @escaping @Sendable () -> Void) {
        queue.withLock { $0.append(work) }
        pending.add(1, ordering: .releasing)
        wakeup()
    }

    /// Wakes the reactor if it is blocked in the kernel.
    public func wakeup() {
        _ = fr_eventfd_signal(eventDescriptor)
    }

    /// Asks `run()` to return after its current duty cycle.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup()
    }

    /// Takes everything posted so far (reactor thread).
    func take() -> [@Sendable () -> Void] {
        guard pending.load(ordering: .acquiring) > 0 else { return [] }
        let work = queue.withLock { queue -> [@Sendable () -> Void] in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        pending.subtract(work.count, ordering: .releasing)
        return work
    }

    func close() { System.close(eventDescriptor) }
}
