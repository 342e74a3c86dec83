import CFeedReactor

/// How TCP registrations sit in the reactor's registration table, and the
/// hooks `TCPConnection` and `TCPListenerState` call into their backend.
///
/// (On today's Backend contract a TCP registration is a `Registration` whose
/// `stream` or `listener` is set; only the epoll backend drives them.)
extension Reactor {
    /// Receives nothing: TCP registrations carry no datagram handler.
    final class NoDatagrams: DatagramHandler, Sendable {
        static let shared = NoDatagrams()
        func receive(_ batch: DatagramBatch, reactor: Reactor) {}
    }

    @inline(__always)
    func tcpConnection(for token: Token) -> TCPConnection? {
        guard let connection = registration(for: token)?.stream, connection.token == token else { return nil }
        return connection
    }

    @inline(__always)
    func tcpListener(for token: Token) -> TCPListenerState? {
        registration(for: token)?.listener
    }

    func requireTCPBackend() throws(ReactorError) {
        guard backend is EpollBackend else {
            throw .backendUnavailable(backend: "TCP on \(backendKind)",
                                      reason: "TCP streams run on the epoll backend for now; use Reactor(backend: .epoll)")
        }
    }

    /// Takes a slot for a TCP registration and adds it to the backend.
    func addTCPRegistration(descriptor: Int32, configure: (Registration) -> Void) throws(ReactorError) -> Registration {
        try requireTCPBackend()
        guard let slot = freeSlots.popLast() else {
            throw .registrationCapacityExhausted(capacity: configuration.maxRegistrations)
        }
        let token = Token(slot: slot, generation: generations[Int(slot)])
        let registration = Registration(token: token, descriptor: descriptor, handler: NoDatagrams.shared,
                                        options: ReceiveOptions(slotCount: 1, slotSize: 1))
        configure(registration)
        do {
            try backend.add(registration)
        } catch {
            freeSlots.append(slot)
            throw error
        }
        registrations[Int(slot)] = registration
        live.append(registration)
        return registration
    }

    func registerStream(_ connection: TCPConnection) throws(ReactorError) {
        _ = try addTCPRegistration(descriptor: connection.descriptor) { registration in
            connection.token = registration.token
            registration.stream = connection
        }
    }

    func registerListener(_ listener: TCPListenerState) throws(ReactorError) {
        _ = try addTCPRegistration(descriptor: listener.descriptor) { registration in
            listener.token = registration.token
            registration.listener = listener
        }
    }

    /// A connection ended (`TCPConnection.finish`): forget it and close its descriptor.
    func streamFinished(_ connection: TCPConnection) {
        if let listener = connection.listener, let state = tcpListener(for: listener) { state.liveConnections -= 1 }
        connection.listener = nil
        deregister(connection.token)
    }

    /// Called by `deregister` for a TCP registration: a stream deregistered by the
    /// user (not through `close`) ends silently and goes back to its pool.
    func releaseTCP(_ registration: Registration) {
        if let listener = registration.listener {
            listener.isOpen = false
            return
        }
        guard let connection = registration.stream, connection.phase != .closed else { return }
        connection.phase = .closed
        if connection.connectTimer != .invalid { cancel(connection.connectTimer) }
        if let listener = connection.listener, let state = tcpListener(for: listener) { state.liveConnections -= 1 }
        backend.remove(registration)
        // The registration is gone once deregister returns; recycle after it.
        registration.stream = nil
        connection.recycle()
    }

    func streamInterestChanged(_ connection: TCPConnection) {
        guard connection.phase != .closed, let epoll = backend as? EpollBackend else { return }
        do { try epoll.updateTCP(connection) } catch { connection.failed(error, reactor: self) }
    }

    /// Sends the ring now (epoll: sendmsg). False when the connection failed.
    func streamSend(_ connection: TCPConnection) -> Bool {
        connection.sendDirectly(reactor: self)
    }

    func streamConnectResult(_ connection: TCPConnection) -> SystemError? {
        TCPStream(descriptor: connection.descriptor).connectResult()
    }
}
