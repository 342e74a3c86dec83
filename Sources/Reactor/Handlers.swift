/// Receives the datagrams of one registered socket.
///
/// Handlers are classes the reactor keeps a reference to; the reactor calls them
/// on its own thread, never concurrently. A throwing `receive` does not stop the
/// reactor: the error goes to `failed(_:token:reactor:)` and the registration
/// stays (deregister there if the socket is unusable).
///
/// ```swift
/// final class Counter: DatagramHandler {
///     var count = 0
///     func receive(_ batch: DatagramBatch, reactor: Reactor) { count += batch.count }
/// }
/// ```
public protocol DatagramHandler: AnyObject {
    /// The datagrams read from the socket, valid only during this call.
    func receive(_ batch: DatagramBatch, reactor: Reactor) throws
    /// The handler threw, or the socket reported an error (ECONNREFUSED from a
    /// connected peer that went away, ENOBUFS). Default: ignore it; it is counted
    /// in `Reactor.counters`.
    func failed(_ error: any Error, token: Token, reactor: Reactor)
}

extension DatagramHandler {
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {}
}

/// Receives timer expirations.
public protocol TimerHandler: AnyObject {
    /// `timer` fired; `now` is the duty cycle's clock reading. For a periodic timer
    /// the handle stays valid until cancelled.
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor)
}
