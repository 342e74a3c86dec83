/// How TCP registrations sit in the reactor: kinds `.stream` and `.listener`
/// of `RegistrationKind`. epoll watches them through its plain-descriptor
/// readiness (level-triggered EPOLLIN/EPOLLOUT); io_uring runs them on
/// completions (multishot accept and recv, send SQEs: URingBackend+TCP.swift),
/// or, in its fallback, poll SQEs re-armed after the callbacks. The interest
/// follows the connection's state: readable while open and not paused,
/// writable only while a connect is in progress or the send ring holds bytes
/// (io_uring's completion path reads only the readable bit, and writable while
/// connecting).
extension Reactor {
    @inline(__always)
    func tcpConnection(for token: Token) -> TCPConnection? {
        guard case .stream(let connection)? = registration(for: token)?.kind, connection.token == token else { return nil }
        return connection
    }

    @inline(__always)
    func tcpListener(for token: Token) -> TCPListenerState? {
        guard case .listener(let listener)? = registration(for: token)?.kind else { return nil }
        return listener
    }

    func registerStream(_ connection: TCPConnection) throws(ReactorError) {
        let registration = try add(descriptor: connection.descriptor, kind: .stream(connection),
                                   interest: connection.desiredInterest, closesDescriptor: true)
        connection.token = registration.token
        otherRegistrations += 1
        connection.liveIndex = liveStreams.count
        liveStreams.append(connection)
    }

    func registerListener(_ listener: TCPListenerState) throws(ReactorError) {
        let registration = try add(descriptor: listener.descriptor, kind: .listener(listener), interest: .readable,
                                   closesDescriptor: true)
        listener.token = registration.token
        otherRegistrations += 1
    }

    /// Takes a stream out of `liveStreams`: the last one moves into its place.
    func removeLiveStream(_ connection: TCPConnection) {
        let index = connection.liveIndex
        guard index >= 0, index < liveStreams.count, liveStreams[index] === connection else { return }
        let last = liveStreams.removeLast()
        if index < liveStreams.count {
            liveStreams[index] = last
            last.liveIndex = index
        }
        connection.liveIndex = -1
    }

    /// A connection ended (`TCPConnection.finish`): forget it and close its descriptor.
    func streamFinished(_ connection: TCPConnection) {
        releaseListenerSlot(connection)
        deregister(connection.token)
    }

    func releaseListenerSlot(_ connection: TCPConnection) {
        if let listener = connection.listener, let state = tcpListener(for: listener) { state.liveConnections -= 1 }
        connection.listener = nil
    }

    /// Called by `deregister` for every registration: a TCP stream deregistered
    /// by the user (not through `close`) ends silently and goes back to its
    /// pool once its registration is gone.
    @inline(__always)
    func releaseTCP(_ registration: Registration) {
        switch registration.kind {
        case .listener(let listener):
            listener.isOpen = false
        case .stream(let connection) where connection.phase != .closed && connection.phase != .idle:
            connection.phase = .closed
            if connection.connectTimer != .invalid { cancel(connection.connectTimer) }
            releaseListenerSlot(connection)
            // Recycled after the current cycle's events for this token are stale:
            // the registration's generation changes when deregister returns.
            connection.recycle()
        default:
            break
        }
    }

    /// Brings the backend's interest in line with the connection's state (no
    /// system call when it already matches).
    @inline(__always)
    func streamInterestChanged(_ connection: TCPConnection) {
        guard connection.phase != .closed, let registration = registration(for: connection.token) else { return }
        let interest = connection.desiredInterest
        guard interest != registration.interest else { return }
        do {
            try backend.setInterest(registration, interest)
            registration.interest = interest
        } catch {
            if case .system(let systemError) = error { connection.failed(systemError, reactor: self) }
        }
    }

    /// Sends the ring now (epoll: sendmsg of its spans; io_uring: a send SQE,
    /// unless one is in flight). False when the connection failed.
    @inline(__always)
    func streamSend(_ connection: TCPConnection) -> Bool {
        backend.sendStream(connection, reactor: self)
    }

    func streamConnectResult(_ connection: TCPConnection) -> SystemError? {
        TCPStream(descriptor: connection.descriptor).connectResult()
    }
}

extension TCPConnection: DescriptorHandler {
    func readable(token: Token, reactor: Reactor) { _ = readReady(reactor: reactor) }
    func writable(token: Token, reactor: Reactor) { _ = writeReady(reactor: reactor) }

    /// The backend could not watch the socket any more (an io_uring poll error).
    func backendFailed(_ error: ReactorError, reactor: Reactor) {
        if case .system(let systemError) = error { failed(systemError, reactor: reactor) }
    }

    var desiredInterest: Interest {
        var interest: Interest = []
        if wantsRead { interest.insert(.readable) }
        if wantsWrite { interest.insert(.writable) }
        return interest
    }
}

extension TCPListenerState: DescriptorHandler {
    func readable(token: Token, reactor: Reactor) { _ = acceptReady(reactor: reactor) }

    func backendFailed(_ error: ReactorError, reactor: Reactor) {
        if case .system(let systemError) = error { failed(systemError, reactor: reactor) }
    }
}
