/// How a registered datagram socket sends through its reactor.
///
/// epoll sends at once (sendmsg/sendmmsg); what the kernel will not take now
/// (EAGAIN, ENOBUFS) waits in a per-socket queue of `queueCapacity` slots of
/// `slotSize` bytes, allocated at registration. io_uring copies each datagram
/// into a send buffer of the ring's pool (`Reactor.Configuration.uringSendBuffers`)
/// and queues an SQE; at most `queueCapacity` of one socket's sends are in
/// flight at once.
public struct SendOptions: Sendable {
    /// Datagrams a socket may have waiting (epoll: queued; io_uring: in flight).
    public var queueCapacity: Int = 64
    /// The largest datagram a send accepts (bytes per queue slot).
    public var slotSize: Int = 2048
    /// epoll: gather the datagrams sent during a duty cycle in the socket's
    /// queue and hand them to the kernel with sendmmsg at the end of the cycle
    /// (or at once when the queue is full), instead of one sendto each. Sends
    /// then reach the wire when the cycle ends, as every send does on io_uring
    /// (which ignores this option). Off by default: a sender outside the
    /// reactor's cycles must then call `Reactor.flushSends()` itself.
    public var coalesce: Bool = false

    /// Options with a queue of `queueCapacity` datagrams of up to `slotSize`
    /// bytes, gathered per duty cycle when `coalesce` (epoll).
    public init(queueCapacity: Int = 64, slotSize: Int = 2048, coalesce: Bool = false) {
        self.queueCapacity = queueCapacity
        self.slotSize = slotSize
        self.coalesce = coalesce
    }
}

/// Why a send was not taken. Each refusal is counted in
/// `Reactor.Counters.sendsRefused`.
public enum SendRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The socket's queue (epoll) or its share of send buffers (io_uring) is
    /// full. The handler hears `writable` when there is room again.
    case queueFull
    /// Larger than `SendOptions.slotSize` (or the io_uring send buffer size).
    case tooLarge(Int)
    /// The token names no live datagram registration.
    case notRegistered
    /// The kernel refused this datagram (EMSGSIZE, ECONNREFUSED, EACCES, ...).
    case failed(SystemError)

    /// What was refused and what to do about it.
    public var description: String {
        switch self {
        case .queueFull:
            return "send queue full; wait for writable, or raise SendOptions.queueCapacity / Configuration.uringSendBuffers"
        case .tooLarge(let bytes):
            return "datagram of \(bytes) bytes exceeds the send slot; raise SendOptions.slotSize "
                + "(and Configuration.uringSendBufferSize with io_uring)"
        case .notRegistered: return "the token names no live datagram registration (deregistered already?)"
        case .failed(let error): return error.description
        }
    }
}

/// The outcome of one `Reactor.send`.
public enum SendResult: Equatable, Sendable {
    /// Handed to the kernel (epoll: the system call took it, or with
    /// `SendOptions.coalesce` the sendmmsg at the end of this duty cycle will;
    /// io_uring: an SQE holds it, submitted at the end of this duty cycle, and
    /// a failure in its completion goes to the handler's `failed`).
    case sent
    /// The kernel would not take it now; it waits in the socket's bounded
    /// queue, in order, and goes out when the socket is writable.
    case queued
    /// Not taken, and not kept: see the reason.
    case refused(SendRefusal)
}

/// The outcome of a batch send: how many of the batch's datagrams went which way
/// (in order: the first `sent`, then `queued`, then `refused`, except that a
/// datagram the kernel refused with an error is counted in `refused` where it stood).
public struct SendBatchResult: Equatable, Sendable {
    /// Datagrams the kernel took (or io_uring holds in SQEs).
    public var sent = 0
    /// Datagrams put into the socket's send queue (they go out when it is writable).
    public var queued = 0
    /// Datagrams neither sent nor queued.
    public var refused = 0
    /// The last kernel error among the refused, if any.
    public var lastError: SystemError?

    /// An empty result: nothing sent, queued or refused.
    public init() {}
}
