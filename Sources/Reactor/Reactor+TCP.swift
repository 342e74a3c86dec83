/// TCP on the reactor: listeners, streams, writes with backpressure, and the
/// close paths. Connections are named by `Token`, like every registration; a
/// stale token is harmless (a write returns 0, a close does nothing).
///
/// ```swift
/// let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
/// try reactor.listen(listener, handler: server)            // server: TCPListenerHandler
/// let token = try reactor.connect(to: address, timeout: 1_000_000_000, handler: client)
/// let accepted = reactor.write(token, bytes)               // what fit in the send ring
/// reactor.close(token, flush: true)
/// ```
extension Reactor {
    /// Registers a listening socket (the reactor takes its descriptor over).
    /// Each accepted connection goes to the stream handler `handler.accept`
    /// picks, with `options.stream` buffers (or `options.pool`'s).
    @discardableResult
    public func listen(_ listener: TCPListener, options: TCPListenerOptions = TCPListenerOptions(),
                       handler: any TCPListenerHandler) throws(ReactorError) -> Token {
        try options.stream.validate()
        guard options.maxConnections >= 0, options.maxAcceptsPerWake > 0 else {
            throw .invalidArgument("TCPListenerOptions: maxConnections must be >= 0 and maxAcceptsPerWake positive")
        }
        // Set once here; accepted sockets inherit it (tcp(7): a socket returned by
        // accept inherits the listener's options), saving a system call per accept.
        try TCPStream(descriptor: listener.descriptor).apply(options.stream)
        let state = TCPListenerState(descriptor: listener.descriptor, handler: handler, options: options)
        try registerListener(state)
        return state.token
    }

    /// Starts a nonblocking connect. `handler.connected` follows when it
    /// completes; `closed(.connectFailed(_))` when it is refused or unreachable;
    /// `closed(.connectTimedOut)` when `timeout` nanoseconds pass first (a
    /// reactor timer). A failure known at once is thrown.
    @discardableResult
    public func connect(to address: SocketAddress, options: TCPStreamOptions = TCPStreamOptions(), timeout: UInt64? = nil,
                        pool: TCPConnectionPool? = nil, handler: any TCPStreamHandler) throws(ReactorError) -> Token {
        try options.validate()
        let (stream, connectedAtOnce) = try TCPStream.connect(to: address, options: options)
        let connection = pool?.take() ?? TCPConnection(options: options)
        connection.reset(descriptor: stream.descriptor, handler: handler, options: options,
                         phase: connectedAtOnce ? .open : .connecting)
        do {
            try registerStream(connection)
        } catch {
            stream.close()
            connection.recycle()
            throw error
        }
        let token = connection.token
        if connectedAtOnce {
            tcpCounters.connected &+= 1
            if connection.callOut(reactor: self, { token in handler.connected(token: token, reactor: self) }) {
                connection.flush(reactor: self)
            }
        } else if let timeout {
            connection.connectTimer = try schedule(after: timeout, tag: token.raw, handler: connection)
        }
        return token
    }

    /// Registers a connected stream (accepted or connected elsewhere).
    @discardableResult
    public func register(_ stream: TCPStream, options: TCPStreamOptions = TCPStreamOptions(), pool: TCPConnectionPool? = nil,
                         handler: any TCPStreamHandler) throws(ReactorError) -> Token {
        try options.validate()
        try stream.apply(options)
        let connection = pool?.take() ?? TCPConnection(options: options)
        connection.reset(descriptor: stream.descriptor, handler: handler, options: options, phase: .open)
        do { try registerStream(connection) } catch {
            connection.recycle()
            throw error
        }
        return connection.token
    }

    /// Copies as much of `bytes` as the connection's send ring has room for and
    /// returns how many it took; the kernel send follows at once (or, inside
    /// this connection's callback, when the callback returns). Less than
    /// `bytes.count` means the ring is full: `writable` fires when it drains to
    /// its low mark. 0 for a stale token, a shut-down write side or a closing
    /// connection.
    @discardableResult
    public func write(_ token: Token, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard let connection = tcpConnection(for: token) else { return 0 }
        return connection.write(bytes, reactor: self)
    }

    /// `write` of an array (tests, tools).
    @discardableResult
    public func write(_ token: Token, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { write(token, $0) }
    }

    /// Closes a connection. With `flush` what is queued is sent first (reading
    /// stops now; `closed(.local(flushed: true))` once the ring is empty);
    /// without, queued bytes are dropped (`.local(flushed: false)` if there were
    /// any). Safe from inside any callback.
    public func close(_ token: Token, flush: Bool = true) {
        tcpConnection(for: token)?.close(flush: flush, reactor: self)
    }

    /// Half-close: shuts the write side down (FIN) once the queued bytes are
    /// sent, and keeps reading; `closed(.peerClosed)` follows the peer's EOF.
    public func shutdownWrite(_ token: Token) {
        tcpConnection(for: token)?.shutdownWrite(reactor: self)
    }

    /// Offers the unconsumed received bytes to the handler again, and resumes
    /// reading if it was paused on a full buffer (after `writable`, say, for a
    /// handler that could not pass bytes on).
    public func resumeReading(_ token: Token) {
        tcpConnection(for: token)?.resumeReading(reactor: self)
    }

    /// Bytes `write` accepted that the kernel has not taken yet (the send ring);
    /// nil for a stale token. On io_uring this includes the bytes of the send
    /// in flight: they leave the ring at its completion, when the kernel says
    /// how many it took (`TCPCounters.bytesSent` counts the same moment), so
    /// `write`'s total is always `bytesSent` plus this, on both backends.
    public func queuedBytes(_ token: Token) -> Int? {
        tcpConnection(for: token)?.send.count
    }

    /// Bytes received but not consumed yet; nil for a stale token.
    public func unconsumedBytes(_ token: Token) -> Int? {
        tcpConnection(for: token)?.receive.count
    }

    /// True when TCP listeners and streams run on io_uring completions
    /// (multishot accept, multishot recv from one shared buffer group, send
    /// SQEs). False on epoll, and on io_uring when that path is off or the
    /// kernel lacks it (`Configuration.uringStreamCompletions`; the reason is
    /// logged): then poll SQEs with readv / sendmsg. Decided at the first TCP
    /// registration; false before it.
    public var tcpUsesCompletions: Bool { backend.streamsUseCompletions }

    /// Live connections accepted by a listener; nil for a stale token.
    public func connectionCount(listener token: Token) -> Int? {
        tcpListener(for: token)?.liveConnections
    }
}

extension TCPConnection: TimerHandler {
    /// The connect timeout (tagged with the token it was set for).
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        guard tag == token.raw, timer == connectTimer else { return }
        connectTimedOut(reactor: reactor)
    }
}
