import Reactor

/// Events of one `UTPStream`, on the reactor thread.
public protocol UTPStreamDelegate: AnyObject {
    /// The connection is established (for `connect`; accepted streams start connected).
    func connected(_ stream: UTPStream)
    /// In-order bytes, zero-copy: valid only during this call.
    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream)
    /// The peer finished sending (its FIN); all its bytes were delivered.
    func endOfStream(_ stream: UTPStream)
    /// `write` may accept bytes again.
    func writable(_ stream: UTPStream)
    /// The stream is over: `nil` after both sides closed cleanly.
    func closed(_ stream: UTPStream, error: UTPError?)
}

extension UTPStreamDelegate {
    /// Default: nothing.
    public func connected(_ stream: UTPStream) {}
    /// Default: nothing.
    public func endOfStream(_ stream: UTPStream) {}
    /// Default: nothing.
    public func writable(_ stream: UTPStream) {}
    /// Default: nothing.
    public func closed(_ stream: UTPStream, error: UTPError?) {}
}

/// A reliable, ordered byte stream over µTP, driven by its `UTPSocket`'s reactor.
/// `write` copies into the connection's send ring and returns what it accepted
/// (backpressure: 0 when full, `writable` when room returns); received bytes are
/// handed to the delegate straight from the datagram buffer.
///
/// ```swift
/// let stream = try socket.connect(to: peer)
/// stream.delegate = self
/// let accepted = stream.write(bytes)
/// stream.shutdown()                 // FIN after what was written
/// ```
public final class UTPStream: UTPConnectionDelegate {
    /// The connection underneath (state, counters, RTT, congestion window).
    public let connection: UTPConnection
    /// The socket that drives the stream.
    public unowned let socket: UTPSocket
    /// Hears the stream's events on the reactor's thread. Held weakly.
    public weak var delegate: (any UTPStreamDelegate)?

    init(connection: UTPConnection, socket: UTPSocket) {
        self.connection = connection
        self.socket = socket
        connection.delegate = self
        // The connection keeps its stream alive for as long as it lives.
        connection.context = self
    }

    /// The peer's address and port.
    public var peer: SocketAddress { connection.peer }
    /// True while data flows (the connection is `.connected`).
    public var isConnected: Bool { connection.state == .connected }
    /// The connection's statistics.
    public var statistics: UTPConnection.Statistics { connection.statistics }

    /// Queues bytes; returns how many were accepted.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        connection.write(bytes, now: socket.reactor.now)
    }

    /// Bytes `write` would accept now.
    public var writableBytes: Int { connection.writableBytes }

    /// Sends FIN after the queued bytes; reading continues until the peer's FIN.
    public func shutdown() { connection.shutdown(now: socket.reactor.now) }

    /// Graceful close (FIN both ways); `closed` follows.
    public func close() { connection.close(now: socket.reactor.now) }

    /// Immediate close with a RESET.
    public func abort() { connection.abort(now: socket.reactor.now) }

    /// Forwards to the delegate's `connected(_:)`.
    public func connected(_ connection: UTPConnection) { delegate?.connected(self) }
    /// Forwards to the delegate's `received(_:on:)`; the bytes are valid only during the call.
    public func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection) { delegate?.received(bytes, on: self) }
    /// Forwards to the delegate's `endOfStream(_:)`.
    public func endOfStream(_ connection: UTPConnection) { delegate?.endOfStream(self) }
    /// Forwards to the delegate's `writable(_:)`.
    public func writable(_ connection: UTPConnection) { delegate?.writable(self) }
    /// Forwards to the delegate's `closed(_:error:)` and releases the stream's hold on the connection.
    public func closed(_ connection: UTPConnection, error: UTPError?) {
        delegate?.closed(self, error: error)
        connection.context = nil  // break the stream <-> connection cycle
    }
}
