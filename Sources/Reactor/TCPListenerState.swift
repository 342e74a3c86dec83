import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// A registered listener inside the reactor: its handler, options and how many
/// of its connections are alive. Backends drive it: epoll calls `acceptReady`
/// on readiness (accept4 in a loop), io_uring hands it each descriptor of its
/// multishot accept through `adopt`.
final class TCPListenerState {
    var token = Token(slot: .max, generation: 0)
    let descriptor: Int32
    let handler: any TCPListenerHandler
    let options: TCPListenerOptions
    var liveConnections = 0
    var isOpen = true

    init(descriptor: Int32, handler: any TCPListenerHandler, options: TCPListenerOptions) {
        self.descriptor = descriptor
        self.handler = handler
        self.options = options
    }

    /// Accepts what is pending, up to this wake's share. Returns connections taken.
    func acceptReady(reactor: Reactor) -> Int {
        var work = 0
        let token = self.token
        var peer = SocketAddress.any(port: 0)
        while work < options.maxAcceptsPerWake && isOpen && self.token == token {
            do {
                switch try System.accept(descriptor, peer: &peer) {
                case .wouldBlock:
                    return work
                case .processed(let fd):
                    work += 1
                    adopt(fd, peer: peer, reactor: reactor)
                }
            } catch {
                failed(error, reactor: reactor)
                return work
            }
        }
        return work
    }

    /// One accepted descriptor: over the limit or refused, it is closed at once;
    /// otherwise it becomes a stream registration of the handler's choosing.
    func adopt(_ fd: Int32, peer: SocketAddress, reactor: Reactor) {
        if liveConnections >= options.maxConnections {
            reactor.tcpCounters.overLimit &+= 1
            System.close(fd)
            return
        }
        guard let streamHandler = handler.accept(peer: peer, listener: token, reactor: reactor) else {
            reactor.tcpCounters.refused &+= 1
            System.close(fd)
            return
        }
        let connection = options.pool?.take() ?? TCPConnection(options: options.stream)
        connection.reset(descriptor: fd, handler: streamHandler, options: options.stream, phase: .open)
        connection.listener = token
        // Accepted sockets inherit TCP_NODELAY from the listener (set in
        // `Reactor.listen`), so there is no setsockopt per connection.
        do {
            try reactor.registerStream(connection)
        } catch {
            reactor.tcpCounters.listenerErrors &+= 1
            System.close(fd)
            connection.recycle()
            return
        }
        liveConnections += 1
        reactor.tcpCounters.accepted &+= 1
        _ = connection.callOut(reactor: reactor) { token in streamHandler.connected(token: token, reactor: reactor) }
    }

    /// EMFILE / ENFILE / ENOBUFS / ENOMEM: the listener stays; the handler hears it.
    func failed(_ error: SystemError, reactor: Reactor) {
        reactor.tcpCounters.listenerErrors &+= 1
        handler.failed(error, listener: token, reactor: reactor)
    }
}
