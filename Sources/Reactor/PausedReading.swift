/// A socket whose reading is paused: still open, its multicast memberships and its
/// kernel receive queue intact, but not registered, so the reactor reads nothing
/// from it. `Reactor.resumeReading(_:)` registers it again with the same options
/// and handler.
///
/// Datagram registrations are always read (`setInterest` refuses them), so pausing
/// is deregistering with `closeSocket: false` and registering again: the token
/// changes and receive buffers are allocated again on resume. That is fine at
/// watermark crossings, not per packet.
public struct PausedRegistration {
    /// The socket, still open, no longer registered: datagrams wait in its kernel buffer.
    public let socket: UDPSocket
    /// The receive options it was registered with (used again on resume).
    public let options: ReceiveOptions
    /// The send options it was registered with (used again on resume).
    public let sendOptions: SendOptions
    /// The handler that receives its datagrams again after `Reactor.resumeReading(_:)`.
    public let handler: any DatagramHandler

    /// Closes the socket without resuming it.
    public func close() { socket.close() }
}

extension Reactor {
    /// Stops reading `token`'s socket (see `PausedRegistration`). nil for a stale token.
    public func pauseReading(_ token: Token) -> PausedRegistration? {
        guard let registration = registration(for: token), let endpoint = registration.datagram else { return nil }
        let paused = PausedRegistration(socket: UDPSocket(registered: registration.descriptor),
                                        options: endpoint.options, sendOptions: endpoint.sendOptions,
                                        handler: endpoint.handler)
        deregister(token, closeSocket: false)
        return paused
    }

    /// Reads a paused socket again; returns its new token.
    public func resumeReading(_ paused: PausedRegistration) throws(ReactorError) -> Token {
        try register(paused.socket, options: paused.options, send: paused.sendOptions, handler: paused.handler)
    }
}
