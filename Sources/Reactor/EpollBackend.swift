import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// Level-triggered epoll readiness + recvmmsg batches into each socket's slab.
///
/// Level-triggered on purpose: a socket that still has datagrams after
/// `maxBatchesPerWake` batches is reported again by the next wait, so one busy
/// socket cannot starve the others and nothing is left unread.
final class EpollBackend: Backend {
    let kind = BackendKind.epoll
    let epfd: Int32
    let maxEvents: Int
    let events: UnsafeMutableRawPointer
    let eventSize: Int
    var ready = 0
    var wakeupDescriptor: Int32 = -1

    /// epoll user data of the wakeup eventfd (no registration uses slot UInt32.max).
    static let wakeupData = UInt64(UInt32.max)

    init(maxEvents: Int) throws(ReactorError) {
        let fd = fr_epoll_create()
        guard fd >= 0 else { throw .system(SystemError(call: "epoll_create1", errno: -fd)) }
        epfd = fd
        self.maxEvents = max(1, maxEvents)
        eventSize = fr_epoll_event_size()
        events = .allocate(byteCount: self.maxEvents * eventSize, alignment: 8)
    }

    deinit { events.deallocate() }

    var descriptor: Int32 { epfd }

    func add(_ registration: Registration) throws(ReactorError) {
        if registration.stream != nil || registration.listener != nil { return try addTCP(registration) }
        registration.slab = BufferSlab(options: registration.options)
        do {
            try System.epollControl(epfd, EPOLL_CTL_ADD, registration.descriptor,
                                    events: UInt32(EPOLLIN.rawValue), data: registration.token.raw)
        } catch {
            registration.slab = nil
            throw .system(error)
        }
    }

    func remove(_ registration: Registration) {
        if registration.slab == nil { return removeTCP(registration) }
        // ENOENT/EBADF here would mean the reactor's bookkeeping is wrong.
        _ = try? System.epollControl(epfd, EPOLL_CTL_DEL, registration.descriptor, events: 0, data: 0)
    }

    func addWakeup(descriptor: Int32) throws(ReactorError) {
        wakeupDescriptor = descriptor
        do {
            try System.epollControl(epfd, EPOLL_CTL_ADD, descriptor, events: UInt32(EPOLLIN.rawValue), data: Self.wakeupData)
        } catch { throw .system(error) }
    }

    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int {
        do {
            ready = try System.epollWait(epfd, events, maxEvents, timeoutNanos: timeoutNanoseconds)
        } catch {
            ready = 0
            throw .system(error)
        }
        return ready
    }

    func dispatch(into reactor: Reactor) -> Int {
        var work = 0
        let base = events.assumingMemoryBound(to: epoll_event.self)
        for i in 0..<ready {
            let data = fr_epoll_event_data(base, Int32(i))
            if data == Self.wakeupData {
                work += drainWakeup(into: reactor)
                continue
            }
            // A registration closed earlier in this cycle (or whose slot was
            // reused) leaves a stale event behind: one generation compare drops it.
            guard let registration = reactor.registration(for: Token(raw: data)) else {
                reactor.counters.staleEvents &+= 1
                continue
            }
            if registration.slab == nil {
                work += dispatchTCP(registration, flags: fr_epoll_event_flags(base, Int32(i)), into: reactor)
                continue
            }
            work += read(registration, into: reactor)
        }
        ready = 0
        return work
    }

    /// recvmmsg needs no readiness: a socket can be read at any time.
    var readsDirectly: Bool { true }

    func drainWakeup(into reactor: Reactor) -> Int {
        _ = fr_eventfd_drain(wakeupDescriptor)
        return reactor.drainMailbox()
    }

    /// Busy polling one socket. While it keeps delivering, batches as usual; once
    /// it was found empty, a single-datagram recvfrom (no msghdr to copy in) is
    /// the probe, and what it finds is delivered at once: the datagram that ends
    /// a quiet spell reaches its handler one cheap system call after landing.
    func pollDirectly(_ registration: Registration, into reactor: Reactor) -> Int {
        if registration.slab == nil { return pollTCP(registration, into: reactor) }
        if registration.pollingBusy {
            let n = read(registration, into: reactor)
            registration.pollingBusy = n > 0
            return n
        }
        guard let slab = registration.slab else { return 0 }
        do {
            switch try System.receiveOne(fd: registration.descriptor, messages: slab.messages,
                                         controlSize: slab.controlSize, into: registration.datagrams) {
            case .wouldBlock:
                return 0
            case .processed(let n):
                registration.pollingBusy = true
                reactor.deliver(registration, count: n)
                return n
            }
        } catch {
            reactor.socketFailed(registration, error)
            return 0
        }
    }

    /// Reads batches from one socket until it is empty or has had its share.
    @inline(__always)
    func read(_ registration: Registration, into reactor: Reactor) -> Int {
        guard let slab = registration.slab else { return 0 }
        var total = 0
        var batches = 0
        while registration.isOpen && batches < registration.options.maxBatchesPerWake {
            batches += 1
            do {
                switch try System.receiveBatch(fd: registration.descriptor, messages: slab.messages, count: slab.count,
                                                controlSize: slab.controlSize, into: registration.datagrams) {
                case .wouldBlock:
                    return total
                case .processed(let n):
                    total += n
                    reactor.deliver(registration, count: n)
                    // A short batch means the queue is (almost surely) empty: skip
                    // the recvmmsg that would only say EAGAIN. Level-triggered
                    // epoll reports the socket again if more arrived meanwhile.
                    if n < slab.count { return total }
                }
            } catch {
                reactor.socketFailed(registration, error)
                return total
            }
        }
        return total
    }

    func close() {
        System.close(epfd)
    }
}
