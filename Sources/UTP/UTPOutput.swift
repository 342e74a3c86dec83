import Reactor

/// What became of one datagram handed to the network.
public enum UTPSendResult: Sendable {
    /// The kernel took the datagram.
    case sent
    /// The kernel had no room or refused it for a transient reason; the protocol's
    /// retransmission recovers it.
    case dropped
    /// EMSGSIZE: larger than the path MTU the kernel knows (DF is set, IP_MTU_DISCOVER).
    case tooBig(pathMTU: Int)
}

/// Where connections put their packets: the socket wiring, or a simulated link in
/// tests. Called synchronously; `packet` is valid only during the call.
public protocol UTPOutput: AnyObject {
    /// Sends `packet` (valid only during the call) to `address`, synchronously.
    /// Never retries: the protocol retransmits what is dropped.
    func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult
    /// The largest IP packet the kernel would send towards `address` (its route's
    /// path MTU or interface MTU), asked once per connection when
    /// `UTPConfiguration.routeMTU` is on. Nil: unknown (the default; tests).
    func pathMTU(to address: SocketAddress) -> Int?
    /// Sends a datagram the network may fragment (DF clear): a retransmission of a
    /// packet sized for a path MTU that has since shrunk (its sequence number and
    /// bytes are fixed, so it cannot be re-split). Default: `transmit`.
    func transmitFragmentable(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult
}

extension UTPOutput {
    /// Unknown: the connection uses `UTPConfiguration.mtu` as its ceiling.
    public func pathMTU(to address: SocketAddress) -> Int? { nil }
    /// Sends as `transmit` does (an output without DF control, such as a test link).
    public func transmitFragmentable(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        transmit(packet, to: address)
    }
}

/// Events of one connection, on the thread that drives it.
public protocol UTPConnectionDelegate: AnyObject {
    /// The SYN was answered (initiator) — the acceptor is connected from the start.
    func connected(_ connection: UTPConnection)
    /// In-order bytes. Zero-copy: `bytes` points into the received datagram or the
    /// reorder buffer and is valid only during this call; copy what you keep.
    func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection)
    /// The peer's FIN: every byte before it has been delivered.
    func endOfStream(_ connection: UTPConnection)
    /// Send-buffer space became free after `write` accepted less than offered.
    func writable(_ connection: UTPConnection)
    /// The connection is gone: `nil` after an orderly close, the reason otherwise.
    func closed(_ connection: UTPConnection, error: UTPError?)
}

extension UTPConnectionDelegate {
    /// Default: nothing.
    public func connected(_ connection: UTPConnection) {}
    /// Default: nothing.
    public func endOfStream(_ connection: UTPConnection) {}
    /// Default: nothing.
    public func writable(_ connection: UTPConnection) {}
    /// Default: nothing.
    public func closed(_ connection: UTPConnection, error: UTPError?) {}
}
