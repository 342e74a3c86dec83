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
    /// Sends were queued (or refused for a full queue) and the socket can take
    /// more again: the queue drained (epoll), or send buffers came back
    /// (io_uring). Once per such episode. Default: nothing.
    func writable(token: Token, reactor: Reactor)
}

extension DatagramHandler {
    /// Default: ignores the error; it is already counted in `Reactor.counters`
    /// (`handlerErrors` or `socketErrors`).
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {}
    /// Default: nothing. Implement it when you queue sends and want to know the queue drained.
    public func writable(token: Token, reactor: Reactor) {}
}

/// Hears readiness of a plain descriptor registered with
/// `Reactor.register(descriptor:interest:handler:)`: a pipe, a timerfd, an
/// eventfd, another library's socket. The reactor reads and writes nothing for
/// it; the handler does, nonblocking, on the reactor's thread.
///
/// Readiness is level-triggered on every backend: while the descriptor stays
/// readable (the handler left data unread) and readable interest is set, the
/// next duty cycle reports it again. End of file and errors (EPOLLHUP,
/// EPOLLERR, POLLHUP, POLLERR) are reported as readiness of the interests set,
/// so the handler's own read or write meets them.
///
/// ```swift
/// final class TimerfdTicks: DescriptorHandler {
///     func readable(token: Token, reactor: Reactor) { /* read(fd, &expirations, 8) */ }
/// }
/// ```
public protocol DescriptorHandler: AnyObject {
    /// The descriptor has data, end of file or an error to read. Level-triggered:
    /// called again in the next cycle if you leave data unread. Runs on the reactor's thread.
    func readable(token: Token, reactor: Reactor)
    /// Default: nothing (set writable interest only when you want it).
    func writable(token: Token, reactor: Reactor)
    /// The backend could not watch the descriptor any more (io_uring: its poll
    /// ended with an error). Default: nothing; it is counted in
    /// `Reactor.counters.socketErrors`.
    func failed(_ error: any Error, token: Token, reactor: Reactor)
}

extension DescriptorHandler {
    /// Default: nothing.
    public func writable(token: Token, reactor: Reactor) {}
    /// Default: ignores the error; it is counted in `Reactor.counters.socketErrors`.
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {}
}

/// Receives timer expirations.
public protocol TimerHandler: AnyObject {
    /// `timer` fired; `now` is the duty cycle's clock reading. For a periodic timer
    /// the handle stays valid until cancelled.
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor)
}
