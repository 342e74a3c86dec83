import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// TCP on epoll: level-triggered readiness, readv into the receive ring,
/// sendmsg of the send ring's spans. A stream is in the epoll set only while
/// it wants something (readable: open and not paused; writable: connecting, or
/// bytes queued), so a paused or idle connection costs no wakeups and a
/// half-closed one no EPOLLHUP storm.
extension EpollBackend {
    func addTCP(_ registration: Registration) throws(ReactorError) {
        if let listener = registration.listener {
            do {
                try System.epollControl(epfd, EPOLL_CTL_ADD, listener.descriptor, events: UInt32(EPOLLIN.rawValue),
                                        data: registration.token.raw)
            } catch { throw .system(error) }
            return
        }
        guard let connection = registration.stream else { return }
        do { try updateTCP(connection) } catch { throw .system(error) }
    }

    /// Brings the epoll set in line with what the connection wants: ADD, MOD or
    /// DEL, and nothing when it already matches (the common case, no syscall).
    func updateTCP(_ connection: TCPConnection) throws(SystemError) {
        let read = connection.wantsRead
        let write = connection.wantsWrite
        guard read != connection.registeredRead || write != connection.registeredWrite else { return }
        let wasIn = connection.registeredRead || connection.registeredWrite
        if !read && !write {
            try System.epollControl(epfd, EPOLL_CTL_DEL, connection.descriptor, events: 0, data: 0)
        } else {
            var events: UInt32 = 0
            if read { events |= UInt32(EPOLLIN.rawValue) }
            if write { events |= UInt32(EPOLLOUT.rawValue) }
            try System.epollControl(epfd, wasIn ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, connection.descriptor,
                                    events: events, data: connection.token.raw)
        }
        connection.registeredRead = read
        connection.registeredWrite = write
    }

    func removeTCP(_ registration: Registration) {
        if let connection = registration.stream {
            guard connection.registeredRead || connection.registeredWrite else { return }
            connection.registeredRead = false
            connection.registeredWrite = false
        }
        _ = try? System.epollControl(epfd, EPOLL_CTL_DEL, registration.descriptor, events: 0, data: 0)
    }

    /// One readiness event of a TCP registration.
    func dispatchTCP(_ registration: Registration, flags: UInt32, into reactor: Reactor) -> Int {
        if let listener = registration.listener { return listener.acceptReady(reactor: reactor) }
        guard let connection = registration.stream else { return 0 }
        let token = connection.token
        let trouble = UInt32(EPOLLERR.rawValue | EPOLLHUP.rawValue)
        var work = 0
        if flags & (UInt32(EPOLLIN.rawValue) | trouble) != 0 && connection.wantsRead {
            work += connection.readReady(reactor: reactor)
        }
        guard connection.token == token else { return work }
        if flags & (UInt32(EPOLLOUT.rawValue) | trouble) != 0 && connection.wantsWrite {
            work += connection.writeReady(reactor: reactor)
        }
        return work
    }

    /// Busy polling a TCP registration: accept, read and flush without a wait
    /// (each answers EAGAIN at once when there is nothing to do).
    func pollTCP(_ registration: Registration, into reactor: Reactor) -> Int {
        if let listener = registration.listener { return listener.acceptReady(reactor: reactor) }
        guard let connection = registration.stream else { return 0 }
        let token = connection.token
        var work = 0
        if connection.wantsRead { work += connection.readReady(reactor: reactor) }
        if connection.token == token && connection.wantsWrite && connection.phase == .open && !connection.send.isEmpty {
            work += connection.writeReady(reactor: reactor)
        }
        return work
    }
}
