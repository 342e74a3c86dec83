/// Per-connection buffers and socket options of a TCP stream.
public struct TCPStreamOptions: Sendable {
    /// Bytes of the receive buffer the handler's `received` sees; a frame must
    /// fit in it (the largest SoupBinTCP packet is 65,537 bytes).
    public var receiveCapacity: Int = 64 * 1024
    /// Bytes the send ring holds; `write` accepts at most what is free.
    public var sendCapacity: Int = 64 * 1024
    /// `writable` fires once the ring has drained to this many bytes or fewer
    /// (after a `write` accepted less than offered). Default: half the ring.
    public var sendLowWater: Int? = nil
    /// TCP_NODELAY: no Nagle delay for small writes (the default: feed handlers
    /// care about latency, and writes are batched in the ring anyway).
    public var noDelay: Bool = true
    /// Reads per readiness event before moving on to other connections (fairness).
    public var maxReadsPerWake: Int = 4
    /// SO_SNDBUF / SO_RCVBUF for the socket; nil leaves the kernel's autotuning.
    /// (Accepted streams inherit the listener's: set them in the listener's `stream`.)
    public var kernelSendBuffer: Int? = nil
    /// SO_RCVBUF in bytes for the socket; nil leaves the kernel's autotuning.
    public var kernelReceiveBuffer: Int? = nil

    /// Options with receive and send rings of the given sizes in bytes, and
    /// TCP_NODELAY on (`noDelay`), the right default for request-response traffic.
    public init(receiveCapacity: Int = 64 * 1024, sendCapacity: Int = 64 * 1024, noDelay: Bool = true) {
        self.receiveCapacity = receiveCapacity
        self.sendCapacity = sendCapacity
        self.noDelay = noDelay
    }

    var lowWater: Int { min(sendLowWater ?? sendCapacity / 2, sendCapacity) }

    func validate() throws(ReactorError) {
        guard receiveCapacity > 0, sendCapacity > 0, maxReadsPerWake > 0 else {
            throw .invalidArgument("TCPStreamOptions: receiveCapacity, sendCapacity and maxReadsPerWake must be positive")
        }
    }
}

/// How a listener accepts.
public struct TCPListenerOptions: Sendable {
    /// listen(2) backlog: connections the kernel completes before they are accepted.
    public var backlog: Int32 = 1024
    /// SO_REUSEADDR: bind a port whose earlier connections are still in TIME_WAIT.
    public var reuseAddress: Bool = true
    /// SO_REUSEPORT: several listeners (one per reactor) on one port.
    public var reusePort: Bool = false
    /// The most accepted connections of this listener alive at once; one more is
    /// accepted and closed at once (counted in `tcpCounters.overLimit`) so the
    /// kernel's queue does not fill with connections nobody serves.
    public var maxConnections: Int = 100_000
    /// Connections accepted per readiness event before other work (fairness).
    public var maxAcceptsPerWake: Int = 64
    /// Options of each accepted stream.
    public var stream = TCPStreamOptions()
    /// Where accepted connections' buffers come from; nil allocates them per
    /// connection. A pool's buffer sizes override `stream`'s capacities.
    public var pool: TCPConnectionPool? = nil

    /// Listener options: the `listen` backlog, the most connections alive at once
    /// (more are accepted and closed, counted in `TCPCounters.overLimit`), the options
    /// for accepted streams, and an optional buffer pool.
    public init(backlog: Int32 = 1024, maxConnections: Int = 100_000, stream: TCPStreamOptions = TCPStreamOptions(),
                pool: TCPConnectionPool? = nil) {
        self.backlog = backlog
        self.maxConnections = maxConnections
        self.stream = stream
        self.pool = pool
    }
}
