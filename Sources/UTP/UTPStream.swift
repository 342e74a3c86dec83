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
    public func connected(_ stream: UTPStream) {}
    public func endOfStream(_ stream: UTPStream) {}
    public func writable(_ stream: UTPStream) {}
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
    public let connection: UTPConnection
    public unowned let socket: UTPSocket
    public weak var delegate: (any UTPStreamDelegate)?

    init(connection: UTPConnection, socket: UTPSocket) {
        self.connection = connection
        self.socket = socket
        connection.delegate = self
        // The connection keeps its stream alive for as long as it lives.
        connection.context = self
    }

    public var peer: SocketAddress { connection.peer }
    public var isConnected: Bool { connection.state == .connected }
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

    public func connected(_ connection: UTPConnection) { delegate?.connected(self) }
    public func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection) { delegate?.received(bytes, on: self) }
    public func endOfStream(_ connection: UTPConnection) { delegate?.endOfStream(self) }
    public func writable(_ connection: UTPConnection) { delegate?.writable(self) }
    public func closed(_ connection: UTPConnection, error: UTPError?) {
        delegate?.closed(self, error: error)
        connection.context = nil  // break the stream <-> connection cycle
    }
}
