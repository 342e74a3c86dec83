/// Why a TCP connection ended. Each path is its own case, so a handler can tell
/// an orderly end from a reset or a failure to connect.
public enum TCPCloseReason: Equatable, Sendable, CustomStringConvertible {
    /// This side closed it (`Reactor.close(_:flush:)`); `flushed` is false when
    /// queued bytes were discarded (or could not be sent before the close).
    case local(flushed: Bool)
    /// Both directions ended: the peer's EOF arrived after this side had shut
    /// its write side down (`shutdownWrite`), or this side shut down after the
    /// peer's EOF. (Closing in `peerClosed`, the default, is `.local`.)
    case peerClosed
    /// The peer reset the connection: ECONNRESET on a read, EPIPE or ECONNRESET on
    /// a send.
    case reset
    /// Another socket error (ETIMEDOUT from keepalive or retransmission, EHOSTUNREACH
    /// on an established connection, ...).
    case error(SystemError)
    /// An outgoing connect failed: ECONNREFUSED (nobody listens there),
    /// ENETUNREACH / EHOSTUNREACH (no route), ETIMEDOUT from the kernel.
    case connectFailed(SystemError)
    /// An outgoing connect did not complete within the timeout given to
    /// `Reactor.connect`.
    case connectTimedOut

    /// How the stream ended, in words.
    public var description: String {
        switch self {
        case .local(let flushed): return flushed ? "closed locally after flushing" : "closed locally, queued bytes discarded"
        case .peerClosed: return "the peer closed the connection"
        case .reset: return "the peer reset the connection"
        case .error(let error): return "connection error: \(error)"
        case .connectFailed(let error): return "\(error)"   // already "connect failed: <reason>"
        case .connectTimedOut: return "connect timed out; check that the peer is up and reachable, or raise the timeout"
        }
    }
}

/// Handles one TCP connection: bytes in, space to write, and how it ended.
///
/// Callbacks come on the reactor thread, never concurrently. Inside any of them
/// the handler may write, shut down, close or deregister its own connection (or
/// another); no further callback of a closed connection follows, except the
/// one `closed` that reports it.
///
/// ```swift
/// final class Echo: TCPStreamHandler {
///     func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int {
///         var consumed = reactor.write(token, bytes.first)
///         if consumed == bytes.first.count { consumed += reactor.write(token, bytes.second) }
///         return consumed                    // the rest is offered again later
///     }
///     func writable(token: Token, reactor: Reactor) {
///         reactor.resumeReading(token)       // re-offer what could not be echoed
///     }
///     func closed(token: Token, reason: TCPCloseReason, reactor: Reactor) {}
/// }
/// ```
public protocol TCPStreamHandler: AnyObject {
    /// The connection is established: an outgoing connect completed, or the
    /// listener handed over an accepted connection. Default: nothing.
    func connected(token: Token, reactor: Reactor)

    /// Bytes waiting in the connection's receive buffer, oldest first; valid only
    /// during the call. Return how many (from the front) were consumed; the rest
    /// is offered again with the next bytes, so a frame split across reads is
    /// seen whole. When the buffer is full and nothing is consumed, reading
    /// pauses (the peer is held back by TCP flow control) until the handler
    /// consumes something from a later call, or calls `Reactor.resumeReading`.
    func received(_ bytes: ByteSpans, token: Token, reactor: Reactor) -> Int

    /// A `write` accepted fewer bytes than offered earlier, and the send ring has
    /// since drained below its low mark: write more. Default: nothing.
    func writable(token: Token, reactor: Reactor)

    /// The peer ended its stream (EOF; it may still read). Default: close after
    /// flushing what is queued (`closed(.local(flushed: true))` follows). A handler that
    /// wants to keep writing (half-close) overrides this and closes later.
    func peerClosed(token: Token, reactor: Reactor)

    /// The connection is gone and its token is stale; exactly once per connection.
    func closed(token: Token, reason: TCPCloseReason, reactor: Reactor)
}

extension TCPStreamHandler {
    /// Default: nothing.
    public func connected(token: Token, reactor: Reactor) {}
    /// Default: nothing.
    public func writable(token: Token, reactor: Reactor) {}
    /// Default: closes the stream after flushing what is queued (a half-close is rarely wanted).
    public func peerClosed(token: Token, reactor: Reactor) { reactor.close(token, flush: true) }
}

/// Decides, per incoming connection, which handler takes it.
///
/// ```swift
/// final class Server: TCPListenerHandler {
///     func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
///         sessions.count < 100 ? Session() : nil          // nil refuses (closes) it
///     }
/// }
/// ```
public protocol TCPListenerHandler: AnyObject {
    /// A connection from `peer` was accepted: return the handler for it, or nil
    /// to refuse it (it is closed at once and counted in `tcpCounters.refused`).
    /// Not called for connections over the listener's `maxConnections`: those
    /// are refused and counted in `tcpCounters.overLimit`.
    func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)?

    /// The listening socket failed (EMFILE: out of descriptors, ENOBUFS).
    /// The listener stays registered. Default: nothing (it is counted).
    func failed(_ error: SystemError, listener: Token, reactor: Reactor)
}

extension TCPListenerHandler {
    /// Default: ignores it; it is counted in `Reactor.tcpCounters.listenerErrors`,
    /// and the listener keeps accepting.
    public func failed(_ error: SystemError, listener: Token, reactor: Reactor) {}
}
