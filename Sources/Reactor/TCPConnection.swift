import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection's state inside the reactor: its receive ring (what the
/// handler has not consumed yet), its send ring (what the kernel has not taken
/// yet), and where it is in its life. Backends drive it: on epoll through
/// `readReady` / `writeReady` (readv / writev of the ring spans), on io_uring by
/// handing it receive and send completions. Handlers never see it; they name a
/// connection by its `Token`.
///
/// Reused: a pooled connection goes back to its pool when closed, so every
/// callback re-checks `token` after calling out (a handler may close its
/// connection, and another may take the object, inside any callback).
final class TCPConnection {
    enum Phase { case idle, connecting, open, closed }

    var token = Token(slot: .max, generation: 0)
    var descriptor: Int32 = -1
    var handler: (any TCPStreamHandler)?
    var phase = Phase.idle
    var receive: ByteRing
    var send: ByteRing
    /// Two iovecs for readv / sendmsg of the ring spans.
    let vectors: UnsafeMutablePointer<iovec>
    let pooled: Bool
    /// The pool whose memory the rings are, while in use.
    var pool: TCPConnectionPool?

    var lowWater = 0
    var maxReadsPerWake = 4
    /// The listener that accepted it (its connection count), if any.
    var listener: Token?
    /// Its index in the reactor's `liveStreams` while registered, else -1.
    var liveIndex = -1
    var connectTimer = TimerHandle.invalid

    /// The receive ring was full and the handler consumed nothing: reading is
    /// paused until it consumes (or `resumeReading`).
    var readPaused = false
    /// The peer sent FIN; nothing more will arrive.
    var peerEOF = false
    /// `shutdownWrite` was asked: shut the write side once the ring is flushed.
    var shutdownRequested = false
    var writeShut = false
    /// `close(flush: true)` with bytes queued: close once they are sent.
    var closeWhenFlushed = false
    /// A `write` accepted less than offered: say `writable` at the low mark.
    var wantsWritable = false
    /// Inside a callback of this connection: writes are flushed when it returns
    /// (one sendmsg per callback instead of one per write).
    var inCallback = false
    /// io_uring: a send SQE of the send ring is in flight; the kernel may still
    /// read the ring, so a closed connection goes back to its pool only at that
    /// completion (`kernelReleased`).
    var kernelHoldsSend = false


    init(receive: ByteRing, send: ByteRing, pooled: Bool) {
        self.receive = receive
        self.send = send
        self.pooled = pooled
        vectors = .allocate(filledWith: iovec(), count: 2)
    }

    /// A connection with buffers of its own.
    convenience init(options: TCPStreamOptions) {
        self.init(receive: .allocate(capacity: options.receiveCapacity), send: .allocate(capacity: options.sendCapacity),
                  pooled: false)
    }

    deinit {
        vectors.deallocate()
        if !pooled {
            receive.deallocate()
            send.deallocate()
        }
    }

    /// Ready for a new connection on `descriptor`.
    func reset(descriptor: Int32, handler: any TCPStreamHandler, options: TCPStreamOptions, phase: Phase) {
        self.descriptor = descriptor
        self.handler = handler
        self.phase = phase
        receive.removeAll()
        send.removeAll()
        lowWater = min(options.lowWater, send.capacity)
        maxReadsPerWake = options.maxReadsPerWake
        listener = nil
        connectTimer = .invalid
        readPaused = false
        peerEOF = false
        shutdownRequested = false
        writeShut = false
        closeWhenFlushed = false
        wantsWritable = false
        inCallback = false
    }

    /// Readable interest: open, not paused, not at EOF, not closing.
    var wantsRead: Bool { phase == .open && !readPaused && !peerEOF && !closeWhenFlushed }
    /// Writable interest: a connect in progress, or bytes queued. Armed only while
    /// the ring is non-empty (level-triggered EPOLLOUT would fire on every wait).
    var wantsWrite: Bool { phase == .connecting || (phase == .open && !send.isEmpty && !writeShut) }

    // MARK: - Handler-facing operations (through Reactor)

    /// Copies what fits into the send ring; sends at once unless inside a
    /// callback of this connection (then when it returns).
    func write(_ bytes: UnsafeRawBufferPointer, reactor: Reactor) -> Int {
        guard phase == .open || phase == .connecting, !shutdownRequested, !closeWhenFlushed else { return 0 }
        let accepted = send.write(bytes)
        if accepted < bytes.count {
            wantsWritable = true
            reactor.tcpCounters.sendStalls &+= 1
        }
        if accepted > 0 && !inCallback && phase == .open {
            flush(reactor: reactor)
        }
        return accepted
    }

    func shutdownWrite(reactor: Reactor) {
        guard phase == .open || phase == .connecting, !shutdownRequested else { return }
        shutdownRequested = true
        if !inCallback && phase == .open { flush(reactor: reactor) }
    }

    func close(flush: Bool, reactor: Reactor) {
        guard phase != .closed && phase != .idle else { return }
        if flush && phase == .open && !send.isEmpty && !writeShut {
            closeWhenFlushed = true
            if !inCallback { self.flush(reactor: reactor) }
            return
        }
        finish(.local(flushed: send.isEmpty), reactor: reactor)
    }

    /// Offers the unconsumed bytes again and resumes a paused read.
    func resumeReading(reactor: Reactor) {
        guard phase == .open, !closeWhenFlushed else { return }
        if !receive.isEmpty { offer(reactor: reactor) }
        guard token.generation != 0, phase == .open else { return }
        if readPaused && !receive.isFull {
            readPaused = false
            reactor.streamInterestChanged(self)
        }
    }

    // MARK: - Readiness (epoll) and completions

    /// Reads until the socket is empty, the ring is full, or this wake's share.
    /// Returns the reads that delivered bytes.
    func readReady(reactor: Reactor) -> Int {
        let token = self.token
        var work = 0
        var reads = 0
        while reads < maxReadsPerWake && self.token == token && wantsRead {
            reads += 1
            if receive.isFull {
                pauseReading(reactor: reactor)
                break
            }
            let count = receive.writableVectors(vectors)
            let asked = receive.freeSpace
            do {
                switch try System.readv(descriptor, vectors, count) {
                case .wouldBlock:
                    return work
                case .processed(0):
                    endOfStream(reactor: reactor)
                    return work
                case .processed(let n):
                    receive.commit(n)
                    reactor.tcpCounters.bytesReceived &+= UInt64(n)
                    work += 1
                    offer(reactor: reactor)
                    // A short read drained the socket: skip the readv that would
                    // only say EAGAIN (level-triggered epoll reports it again).
                    if n < asked { return work }
                }
            } catch {
                failed(error, reactor: reactor)
                return work
            }
        }
        if self.token == token && phase == .open && receive.isFull && !readPaused { pauseReading(reactor: reactor) }
        return work
    }

    /// Bytes from a completion (io_uring's provided buffer): straight to the
    /// handler when the ring is empty and they would fit in it (no copy), the
    /// unconsumed rest copied into the ring; else copied behind what is there
    /// and offered. Returns how many it took: fewer than offered means the ring
    /// is full and the handler consumed nothing, so reading pauses and the
    /// caller keeps the rest for `resumeReading` (all, once the connection ended).
    func deliver(_ bytes: UnsafeRawBufferPointer, reactor: Reactor) -> Int {
        let token = self.token
        if receive.isEmpty && bytes.count <= receive.capacity {
            let consumed = callReceived(ByteSpans(first: bytes, second: UnsafeRawBufferPointer(start: nil, count: 0)),
                                        reactor: reactor)
            guard self.token == token, phase == .open else { return bytes.count }
            // The handler saw these: kept, not offered again until more arrive.
            return consumed + receive.write(UnsafeRawBufferPointer(rebasing: bytes[consumed...]))
        }
        var taken = 0
        while taken < bytes.count {
            let stored = receive.write(UnsafeRawBufferPointer(rebasing: bytes[taken...]))
            if stored == 0 { break }   // full, and the last offer consumed nothing
            taken += stored
            offer(reactor: reactor)
            guard self.token == token, phase == .open else { return bytes.count }
        }
        if taken < bytes.count && !readPaused { pauseReading(reactor: reactor) }
        return taken
    }

    /// Gives the handler the ring's bytes and drops what it consumed.
    func offer(reactor: Reactor) {
        let token = self.token
        let consumed = callReceived(receive.readable, reactor: reactor)
        guard self.token == token, phase != .closed else { return }
        receive.consume(consumed)
        if readPaused && consumed > 0 {
            readPaused = false
            reactor.streamInterestChanged(self)
        }
    }

    /// One `received` call: the flush of what it wrote happens after it returns
    /// (or after the outer callback, when called from inside one).
    @inline(__always)
    func callReceived(_ spans: ByteSpans, reactor: Reactor) -> Int {
        guard let handler else { return 0 }
        var consumed = 0
        guard callOut(reactor: reactor, { token in consumed = handler.received(spans, token: token, reactor: reactor) }) else {
            return 0
        }
        return max(0, min(consumed, spans.count))
    }

    /// Runs a handler callback with writes deferred; afterwards (outermost call
    /// only) flushes what it wrote. False when the callback ended the connection.
    @inline(__always)
    func callOut(reactor: Reactor, _ body: (Token) -> Void) -> Bool {
        let token = self.token
        let outer = !inCallback
        inCallback = true
        body(token)
        guard self.token == token else { return false }
        if outer {
            inCallback = false
            if phase == .open && (!send.isEmpty || shutdownRequested || closeWhenFlushed || wantsWritable) {
                flush(reactor: reactor)
            }
        }
        return self.token == token && phase != .closed
    }

    func pauseReading(reactor: Reactor) {
        readPaused = true
        reactor.tcpCounters.readStalls &+= 1
        reactor.streamInterestChanged(self)
    }

    /// The socket is writable (epoll): a connect completed, or the ring can drain.
    func writeReady(reactor: Reactor) -> Int {
        if phase == .connecting {
            connectCompleted(reactor.streamConnectResult(self), reactor: reactor)
            return 1
        }
        flush(reactor: reactor)
        return 1
    }

    /// Sends what the ring holds (sendmsg of its spans), then the follow-ups:
    /// the deferred shutdown or close, `writable` once below the low mark (and
    /// sending what that wrote, again), and the interest.
    func flush(reactor: Reactor) {
        let token = self.token
        while true {
            if !send.isEmpty && !writeShut {
                guard reactor.streamSend(self) else { return }   // failed and finished
            }
            guard self.token == token, phase == .open else { return }
            if send.isEmpty {
                if closeWhenFlushed {
                    finish(.local(flushed: true), reactor: reactor)
                    return
                }
                if shutdownRequested && !writeShut {
                    writeShut = true
                    do { try System.shutdown(descriptor, how: Int32(SHUT_WR)) } catch {
                        failed(error, reactor: reactor)
                        return
                    }
                    if peerEOF {
                        finish(.peerClosed, reactor: reactor)
                        return
                    }
                }
            }
            guard wantsWritable && send.count <= lowWater && !closeWhenFlushed && !inCallback else { break }
            wantsWritable = false
            inCallback = true
            handler?.writable(token: token, reactor: reactor)
            guard self.token == token else { return }
            inCallback = false
            // Whatever it wrote goes out on the next turn of the loop.
            guard phase == .open else { return }
        }
        reactor.streamInterestChanged(self)
    }

    /// Sends directly (epoll). Returns false when the connection failed (finished).
    func sendDirectly(reactor: Reactor) -> Bool {
        while !send.isEmpty {
            let count = send.readableVectors(vectors)
            do {
                switch try System.sendv(descriptor, vectors, count) {
                case .wouldBlock:
                    return true
                case .processed(let n):
                    send.consume(n)
                    reactor.tcpCounters.bytesSent &+= UInt64(n)
                }
            } catch {
                failed(error, reactor: reactor)
                return false
            }
        }
        return true
    }

    /// A connect finished: nil error means connected.
    func connectCompleted(_ error: SystemError?, reactor: Reactor) {
        guard phase == .connecting else { return }
        if connectTimer != .invalid {
            reactor.cancel(connectTimer)
            connectTimer = .invalid
        }
        if let error {
            reactor.tcpCounters.connectFailures &+= 1
            finish(.connectFailed(error), reactor: reactor)
            return
        }
        phase = .open
        reactor.tcpCounters.connected &+= 1
        guard let handler else { return }
        if callOut(reactor: reactor, { token in handler.connected(token: token, reactor: reactor) }) {
            flush(reactor: reactor)   // interest: now reading, and writing if it wrote
        }
    }

    func connectTimedOut(reactor: Reactor) {
        guard phase == .connecting else { return }
        connectTimer = .invalid
        reactor.tcpCounters.connectTimeouts &+= 1
        finish(.connectTimedOut, reactor: reactor)
    }

    /// The peer's FIN: offer what is left, then tell the handler.
    func endOfStream(reactor: Reactor) {
        peerEOF = true
        reactor.tcpCounters.peerClosures &+= 1
        if writeShut {
            finish(.peerClosed, reactor: reactor)
            return
        }
        reactor.streamInterestChanged(self)
        guard let handler else { return }
        if callOut(reactor: reactor, { token in handler.peerClosed(token: token, reactor: reactor) }) {
            flush(reactor: reactor)
        }
    }

    /// A read or send failed: a reset is `.reset`, anything else `.error`.
    func failed(_ error: SystemError, reactor: Reactor) {
        if error.errno == ECONNRESET || error.errno == EPIPE {
            reactor.tcpCounters.resets &+= 1
            finish(.reset, reactor: reactor)
        } else {
            reactor.tcpCounters.errors &+= 1
            finish(phase == .connecting ? .connectFailed(error) : .error(error), reactor: reactor)
        }
    }

    /// The end: the backend forgets it, the descriptor closes, the handler hears
    /// `closed` once, and the connection goes back to its pool.
    func finish(_ reason: TCPCloseReason, reactor: Reactor) {
        guard phase != .closed && phase != .idle else { return }
        phase = .closed
        if connectTimer != .invalid {
            reactor.cancel(connectTimer)
            connectTimer = .invalid
        }
        let token = self.token
        let handler = self.handler
        reactor.streamFinished(self)
        // Back to the pool before `closed`: a handler that reconnects from
        // inside it (a client's retry) gets this connection again instead of
        // missing the pool. Nothing of self is touched after the call.
        recycle()
        handler?.closed(token: token, reason: reason, reactor: reactor)
    }

    func recycle() {
        handler = nil
        token = Token(slot: .max, generation: 0)
        descriptor = -1
        phase = .idle
        if let pool, !kernelHoldsSend { pool.give(self) }
    }

    /// io_uring: the send that was in flight when the connection closed has
    /// completed; the rings are free for the next connection.
    func kernelReleased() {
        kernelHoldsSend = false
        if phase == .idle, let pool { pool.give(self) }
    }
}

/// What the reactor counts for TCP (all backends).
public struct TCPCounters: Sendable {
    /// Connections accepted by listeners and registered.
    public var accepted: UInt64 = 0
    /// Refused by the listener handler (it returned nil).
    public var refused: UInt64 = 0
    /// Refused because the listener was at `maxConnections`.
    public var overLimit: UInt64 = 0
    /// Outgoing connects that completed.
    public var connected: UInt64 = 0
    /// Outgoing connects the kernel refused (ECONNREFUSED, ENETUNREACH, ...).
    public var connectFailures: UInt64 = 0
    /// Outgoing connects that did not complete within the timeout given to `Reactor.connect`.
    public var connectTimeouts: UInt64 = 0
    /// Bytes read from TCP streams.
    public var bytesReceived: UInt64 = 0
    /// Bytes the kernel took for TCP streams (sendmsg's result; on io_uring a
    /// send completion's), not bytes queued or in flight.
    public var bytesSent: UInt64 = 0
    /// Reads paused because a receive ring was full and its handler consumed nothing.
    public var readStalls: UInt64 = 0
    /// Writes that accepted less than offered (the send ring was full).
    public var sendStalls: UInt64 = 0
    /// Streams whose peer closed its side (FIN).
    public var peerClosures: UInt64 = 0
    /// Streams ended by a reset (ECONNRESET, EPIPE).
    public var resets: UInt64 = 0
    /// Streams ended by any other read or send error.
    public var errors: UInt64 = 0
    /// Listener failures: accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM) and
    /// accepted sockets that could not be registered.
    public var listenerErrors: UInt64 = 0

    /// All counters at zero.
    public init() {}
}
