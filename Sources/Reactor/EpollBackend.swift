import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// Level-triggered epoll readiness + recvmmsg batches into each socket's slab;
/// sendmsg/sendmmsg at once, a bounded per-socket queue when the kernel says
/// would-block.
///
/// Level-triggered on purpose: a socket that still has datagrams after
/// `maxBatchesPerWake` batches is reported again by the next wait, so one busy
/// socket cannot starve the others and nothing is left unread. The same holds
/// for plain descriptors: one left readable is reported again.
///
/// EPOLLOUT is in a datagram socket's mask only while its send queue holds
/// something: a UDP socket is almost always writable, and a level-triggered
/// EPOLLOUT left armed would report it every cycle. A send-only socket
/// (registered with interest `[]`) is in the epoll set only then: a socket in
/// an epoll set has a waiter on its wait queue, and every sent datagram's
/// free (sock_wfree -> sock_def_write_space_wfree) then wakes that queue.
final class EpollBackend: Backend {
    let kind = BackendKind.epoll
    let epfd: Int32
    let maxEvents: Int
    let events: UnsafeMutableRawPointer
    let eventSize: Int
    var ready = 0
    var wakeupDescriptor: Int32 = -1
    /// This backend's state of each registration, by token slot.
    let entries: SlotTable<Entry?>
    /// Each datagram socket's state again, unretained (`entries` keeps it alive):
    /// a send that can run no handler borrows it instead of retaining it and the
    /// registration per datagram (see `send`).
    let datagramStates: SlotTable<Unmanaged<EpollDatagram>?>
    /// Coalescing sockets with datagrams gathered this cycle, for `submit`
    /// (capacity reserved for every registration: appending never allocates).
    var gathered: ContiguousArray<Registration>
    /// Descriptor states of removed registrations, reused from the next wait on
    /// (a dispatch loop may still hold one this cycle).
    var spareDescriptors: Recycler<EpollDescriptor>

    /// epoll's per-registration state: one case per registration kind.
    enum Entry {
        case datagram(EpollDatagram)
        case descriptor(EpollDescriptor)
    }

    /// epoll user data of the wakeup eventfd (no registration uses slot UInt32.max).
    static let wakeupData = UInt64(UInt32.max)
    static let inFlags = UInt32(EPOLLIN.rawValue)
    static let outFlags = UInt32(EPOLLOUT.rawValue)
    /// Reported whatever the mask: end of file and errors wake both directions.
    static let hangupFlags = UInt32(EPOLLERR.rawValue | EPOLLHUP.rawValue)

    init(maxEvents: Int, maxRegistrations: Int) throws(ReactorError) {
        let fd = fr_epoll_create()
        guard fd >= 0 else { throw .system(SystemError(call: "epoll_create1", errno: -fd)) }
        epfd = fd
        self.maxEvents = max(1, maxEvents)
        eventSize = fr_epoll_event_size()
        events = .allocate(byteCount: self.maxEvents * eventSize, alignment: 8)
        entries = SlotTable(repeating: nil, count: maxRegistrations)
        datagramStates = SlotTable(repeating: nil, count: maxRegistrations)
        gathered = []
        gathered.reserveCapacity(maxRegistrations)
        spareDescriptors = Recycler(capacity: min(maxRegistrations, 4096))
    }

    deinit {
        events.deallocate()
        entries.deallocate()
        datagramStates.deallocate()
    }

    var descriptor: Int32 { epfd }

    // MARK: - Registration hooks (one case per RegistrationKind)

    func add(_ registration: Registration) throws(ReactorError) {
        let slot = Int(registration.token.slot)
        switch registration.kind {
        case .datagram(let endpoint):
            let state = EpollDatagram(endpoint: endpoint, reads: registration.interest.contains(.readable),
                                      descriptor: registration.descriptor, token: registration.token)
            if state.reads {
                do {
                    try System.epollControl(epfd, EPOLL_CTL_ADD, registration.descriptor, events: Self.inFlags,
                                            data: registration.token.raw)
                } catch { throw .system(error) }
                state.inEpoll = true
            }
            entries[slot] = .datagram(state)
            datagramStates[slot] = Unmanaged.passUnretained(state)
        case .descriptor, .stream, .listener:
            let handler = registration.kind.readinessHandler!
            let state: EpollDescriptor
            if let spare = spareDescriptors.take() {
                spare.reuse(handler: handler)
                state = spare
            } else {
                state = EpollDescriptor(handler: handler)
            }
            try apply(registration, state, registration.interest)
            entries[slot] = .descriptor(state)
        }
    }

    func setInterest(_ registration: Registration, _ interest: Interest) throws(ReactorError) {
        switch entries[Int(registration.token.slot)] {
        case .descriptor(let state)?:
            try apply(registration, state, interest)
        case .datagram?, nil:
            throw .invalidArgument("setInterest applies to descriptor registrations; a datagram socket is always "
                                   + "read, and is watched for writable while its send queue holds datagrams")
        }
    }

    /// Puts a plain descriptor's interest into epoll: ADD, MOD, or DEL for none
    /// (an fd in epoll with an empty mask would still report EPOLLHUP every wait).
    func apply(_ registration: Registration, _ state: EpollDescriptor, _ interest: Interest) throws(ReactorError) {
        let mask = (interest.contains(.readable) ? Self.inFlags : 0) | (interest.contains(.writable) ? Self.outFlags : 0)
        do {
            if mask == 0 {
                if state.inEpoll {
                    try System.epollControl(epfd, EPOLL_CTL_DEL, registration.descriptor, events: 0, data: 0)
                }
                state.inEpoll = false
            } else {
                try System.epollControl(epfd, state.inEpoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, registration.descriptor,
                                        events: mask, data: registration.token.raw)
                state.inEpoll = true
            }
        } catch { throw .system(error) }
    }

    func remove(_ registration: Registration) {
        let slot = Int(registration.token.slot)
        var watched = true
        var retired: EpollDescriptor?
        switch entries[slot] {
        case .descriptor(let state)?:
            watched = state.inEpoll
            retired = state
        case .datagram(let state)?:
            watched = state.inEpoll
        case nil:
            break
        }
        entries[slot] = nil
        datagramStates[slot] = nil
        // ENOENT/EBADF here would mean the reactor's bookkeeping is wrong.
        if watched { _ = try? System.epollControl(epfd, EPOLL_CTL_DEL, registration.descriptor, events: 0, data: 0) }
        if let retired {
            retired.reuse(handler: RetiredDescriptor.handler)   // keeps no handler alive meanwhile
            spareDescriptors.retire(retired)
        }
    }

    func addWakeup(descriptor: Int32) throws(ReactorError) {
        wakeupDescriptor = descriptor
        do {
            try System.epollControl(epfd, EPOLL_CTL_ADD, descriptor, events: Self.inFlags, data: Self.wakeupData)
        } catch { throw .system(error) }
    }

    // MARK: - Waiting and dispatching

    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int {
        spareDescriptors.releaseRetired()
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
            let token = Token(raw: data)
            guard let registration = reactor.registration(for: token), let entry = entries[Int(token.slot)] else {
                reactor.tally.staleEvents &+= 1
                continue
            }
            let flags = fr_epoll_event_flags(base, Int32(i))
            switch entry {
            case .datagram(let state):
                if state.reads && (flags & Self.outFlags == 0 || flags & (Self.inFlags | Self.hangupFlags) != 0) {
                    work += read(registration, state, into: reactor)
                }
                // (A send-only socket hears its errors through the flush's sendmmsg.)
                if (flags & Self.outFlags != 0 || (!state.reads && flags & Self.hangupFlags != 0)) && registration.isOpen {
                    work += flushQueue(registration, state, reactor: reactor)
                }
            case .descriptor(let state):
                work += reactor.descriptorReady(
                    registration, state.handler,
                    readable: flags & (Self.inFlags | Self.hangupFlags) != 0,
                    writable: flags & (Self.outFlags | Self.hangupFlags) != 0)
            }
        }
        ready = 0
        return work
    }

    /// Hands what coalescing sockets gathered this cycle to the kernel, one
    /// sendmmsg per socket (more when a socket gathered more than one call
    /// takes). What the kernel will not take stays queued behind EPOLLOUT.
    func submit(reactor: Reactor) {
        guard !gathered.isEmpty else { return }
        // Index, don't iterate: iterating would retain the array, and the
        // removeAll below would then copy it instead of keeping its capacity.
        for index in 0..<gathered.count {
            let registration = gathered[index]
            guard registration.isOpen, case .datagram(let state)? = entries[Int(registration.token.slot)] else { continue }
            state.gathering = false
            sendGathered(registration, state, reactor: reactor)
        }
        gathered.removeAll(keepingCapacity: true)
    }

    /// Sends what one coalescing socket gathered; arms EPOLLOUT for the rest.
    /// (The socket stays in `gathered` until `submit`: each socket is listed
    /// once per cycle however often its queue fills.)
    func sendGathered(_ registration: Registration, _ state: EpollDatagram, reactor: Reactor) {
        guard !state.watchingOutput else { return }   // EPOLLOUT flushes it
        _ = flushQueue(registration, state, reactor: reactor)
        if state.queue.count > 0 && registration.isOpen { armOutput(state) }
    }

    func pendingSends(_ registration: Registration) -> Int {
        guard case .datagram(let state)? = entries[Int(registration.token.slot)] else { return 0 }
        return state.queue.count
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
    /// A non-empty send queue is flushed too (nobody waits for EPOLLOUT here).
    func pollDirectly(_ registration: Registration, into reactor: Reactor) -> Int {
        guard case .datagram(let state)? = entries[Int(registration.token.slot)] else { return 0 }
        var work = 0
        if state.queue.count > 0 { work += flushQueue(registration, state, reactor: reactor) }
        guard state.reads else { return work }
        if state.pollingBusy {
            let n = read(registration, state, into: reactor)
            state.pollingBusy = n > 0
            return work + n
        }
        let slab = state.slab
        do {
            switch try System.receiveOne(fd: registration.descriptor, messages: slab.messages,
                                         controlSize: slab.controlSize, into: state.endpoint.datagrams) {
            case .wouldBlock:
                return work
            case .processed(let n):
                state.pollingBusy = true
                reactor.deliver(registration, state.endpoint, count: n)
                return work + n
            }
        } catch {
            reactor.socketFailed(registration, error)
            return work
        }
    }

    /// Reads batches from one socket until it is empty or has had its share.
    @inline(__always)
    func read(_ registration: Registration, _ state: EpollDatagram, into reactor: Reactor) -> Int {
        let slab = state.slab
        let endpoint = state.endpoint
        var total = 0
        var batches = 0
        while registration.isOpen && batches < endpoint.options.maxBatchesPerWake {
            batches += 1
            do {
                switch try System.receiveBatch(fd: registration.descriptor, messages: slab.messages, count: slab.count,
                                                controlSize: slab.controlSize, into: endpoint.datagrams) {
                case .wouldBlock:
                    return total
                case .processed(let n):
                    total += n
                    reactor.deliver(registration, endpoint, count: n)
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

    // MARK: - Sends

    func send(_ token: Token, _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawPointer?,
              length: Int, reactor: Reactor) -> SendResult {
        guard let borrowed = datagramStates[Int(token.slot)] else { return .refused(.notRegistered) }
        // The common cases run no handler: the state is borrowed, not retained
        // (with the registration, two retains and releases a datagram, 9% of a
        // coalescing publisher's time in perf).
        let result: SendResult? = borrowed._withUnsafeGuaranteedRef { state in
            guard bytes.count <= state.queue.slotSize else { return .refused(.tooLarge(bytes.count)) }
            if state.coalescing {
                // Gathered this cycle already, room left: nothing to flush.
                guard state.gathering && !state.watchingOutput,
                      state.queue.append(bytes, toRaw: address, length: length) else { return nil }
                return .sent
            }
            guard state.queue.count == 0 else { return nil }
            return sendDirectly(state, bytes, to: address, length: length)
        }
        return result ?? sendFlushing(token, bytes, to: address, length: length, reactor: reactor)
    }

    /// An uncoalesced send with nothing queued: sendto, else into the queue.
    @inline(__always)
    func sendDirectly(_ state: EpollDatagram, _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawPointer?,
                      length: Int) -> SendResult {
        do {
            switch try System.sendTo(fd: state.descriptor, bytes: bytes,
                                     address: address?.assumingMemoryBound(to: sockaddr.self),
                                     length: socklen_t(length)) {
            case .processed: return .sent
            case .wouldBlock: break
            }
        } catch {
            // ENOBUFS: the kernel is short of memory for now; retry later as for EAGAIN.
            if error.errno != ENOBUFS { return .refused(.failed(error)) }
        }
        return enqueue(state) { $0.append(bytes, toRaw: address, length: length) }
    }

    /// The sends that may flush a queue first, and so run handlers (`failed`,
    /// `writable`) that could deregister the socket: its registration and state
    /// are held strongly.
    @inline(never)
    func sendFlushing(_ token: Token, _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawPointer?,
                      length: Int, reactor: Reactor) -> SendResult {
        guard let registration = reactor.registrations[Int(token.slot)],
              case .datagram(let state)? = entries[Int(token.slot)] else { return .refused(.notRegistered) }
        if state.coalescing && !state.watchingOutput {
            return gather(registration, state, bytes, to: address, length: length, reactor: reactor)
        }
        // A queue whose EPOLLOUT could not be armed: try it here rather than never.
        if state.queue.count > 0 && !state.watchingOutput { _ = flushQueue(registration, state, reactor: reactor) }
        // Queued datagrams go first: sending past them would reorder the stream.
        if state.queue.count == 0 { return sendDirectly(state, bytes, to: address, length: length) }
        return enqueue(state) { $0.append(bytes, toRaw: address, length: length) }
    }

    func send(_ registration: Registration, batch: SendBatch, reactor: Reactor) -> SendBatchResult {
        var result = SendBatchResult()
        guard case .datagram(let state)? = entries[Int(registration.token.slot)] else {
            result.refused = batch.count
            batch.removeAll()
            return result
        }
        // What a coalescing socket gathered goes first, in order.
        if state.gathering { sendGathered(registration, state, reactor: reactor) }
        if state.queue.count == 0 {
            while batch.count > 0 {
                do {
                    // (A partial sendmmsg keeps the rest in the batch, in order.)
                    let n = try batch.flush(on: UDPSocket(registered: registration.descriptor))
                    if n == 0 { break }
                    result.sent += n
                } catch {
                    if error.errno == ENOBUFS { break }
                    // The first unsent datagram was refused by the kernel: drop it, go on.
                    result.refused += 1
                    result.lastError = error
                    batch.removeFirst(1)
                }
            }
        }
        for index in 0..<batch.count {
            switch enqueue(state, { $0.append(from: batch, index: index) }) {
            case .queued: result.queued += 1
            default: result.refused += 1
            }
        }
        batch.removeAll()
        return result
    }

    /// Coalescing: the datagram joins the ones gathered this cycle, sent by
    /// `submit`; a full queue is sent first to make room.
    @inline(__always)
    func gather(_ registration: Registration, _ state: EpollDatagram, _ bytes: UnsafeRawBufferPointer,
                to address: UnsafeRawPointer?, length: Int, reactor: Reactor) -> SendResult {
        if !state.queue.append(bytes, toRaw: address, length: length) {
            sendGathered(registration, state, reactor: reactor)
            guard state.queue.append(bytes, toRaw: address, length: length) else {
                state.wantsWritable = true
                return .refused(.queueFull)
            }
            // The kernel would not take all: the rest waits for EPOLLOUT.
            if state.watchingOutput { state.wantsWritable = true; return .queued }
        }
        if !state.gathering {
            state.gathering = true
            gathered.append(registration)
        }
        return .sent
    }

    /// Puts a datagram into the socket's queue (arming EPOLLOUT with the first).
    @inline(__always)
    func enqueue(_ state: EpollDatagram, _ append: (SendBatch) -> Bool) -> SendResult {
        state.wantsWritable = true
        guard append(state.queue) else { return .refused(.queueFull) }
        if state.queue.count == 1 && !state.watchingOutput { armOutput(state) }
        return .queued
    }

    /// Adds EPOLLOUT to the socket's mask (a send-only socket joins the epoll
    /// set). Failing to arm would leave the queue stuck: then the next send
    /// tries to flush instead (pollDirectly / send paths check the queue).
    func armOutput(_ state: EpollDatagram) {
        if (try? System.epollControl(epfd, state.inEpoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, state.descriptor,
                                     events: (state.reads ? Self.inFlags : 0) | Self.outFlags,
                                     data: state.token.raw)) != nil {
            state.watchingOutput = true
            state.inEpoll = true
        }
    }

    /// Takes EPOLLOUT out of the mask again (a send-only socket leaves the set).
    func disarmOutput(_ state: EpollDatagram) {
        if state.reads {
            _ = try? System.epollControl(epfd, EPOLL_CTL_MOD, state.descriptor, events: Self.inFlags,
                                         data: state.token.raw)
        } else {
            _ = try? System.epollControl(epfd, EPOLL_CTL_DEL, state.descriptor, events: 0, data: 0)
            state.inEpoll = false
        }
        state.watchingOutput = false
    }

    /// EPOLLOUT: sends what is queued, in order. A datagram the kernel refuses
    /// with an error goes to the handler's `failed` and is dropped. Once the
    /// queue is empty EPOLLOUT is disarmed and the handler hears `writable`.
    func flushQueue(_ registration: Registration, _ state: EpollDatagram, reactor: Reactor) -> Int {
        let queue = state.queue
        var sent = 0
        while queue.count > 0 {
            do {
                let n = try queue.flush(on: UDPSocket(registered: registration.descriptor))
                if n == 0 { return sent }
                sent += n
                reactor.tally.queuedSendsFlushed &+= UInt64(n)
            } catch {
                if error.errno == ENOBUFS { return sent }
                queue.removeFirst(1)
                reactor.sendFailed(registration, error)
                if !registration.isOpen { return sent }
            }
        }
        if state.watchingOutput { disarmOutput(state) }
        if state.wantsWritable {
            state.wantsWritable = false
            reactor.sendsDrained(registration, state.endpoint)
        }
        return sent + 1
    }

    func close() {
        System.close(epfd)
    }
}

/// epoll's state of one datagram socket: its receive slab, its send queue.
final class EpollDatagram {
    let endpoint: DatagramEndpoint
    /// The registration's descriptor and token (the send path's, without the registration).
    let descriptor: Int32
    let token: Token
    let slab: BufferSlab
    /// Datagrams the kernel would not take yet, in order (bounded, preallocated).
    let queue: SendBatch
    /// Busy polling: the last direct read found datagrams, so read in batches
    /// (else one cheap recvfrom first).
    var pollingBusy = false
    /// EPOLLOUT is in the mask (the queue is not empty).
    var watchingOutput = false
    /// Registered with readable interest: read it. A send-only socket is not.
    let reads: Bool
    /// In the epoll set: always when it reads, else only while watching output.
    var inEpoll = false
    /// A send was queued or refused since the last `writable`.
    var wantsWritable = false
    /// `SendOptions.coalesce`: sends gather in `queue` until `submit`.
    let coalescing: Bool
    /// In the backend's `gathered` list for this cycle's `submit`.
    var gathering = false

    init(endpoint: DatagramEndpoint, reads: Bool, descriptor: Int32, token: Token) {
        self.endpoint = endpoint
        self.descriptor = descriptor
        self.token = token
        self.reads = reads
        coalescing = endpoint.sendOptions.coalesce
        slab = BufferSlab(options: endpoint.options)
        queue = SendBatch(capacity: max(1, endpoint.sendOptions.queueCapacity),
                          slotSize: max(1, endpoint.sendOptions.slotSize))
    }
}

/// epoll's state of one plain descriptor.
final class EpollDescriptor {
    private(set) var handler: any DescriptorHandler
    /// In the epoll set (interest not empty).
    var inEpoll = false

    init(handler: any DescriptorHandler) { self.handler = handler }

    /// A removed registration's state made ready for another (`Recycler`).
    func reuse(handler: any DescriptorHandler) {
        self.handler = handler
        inEpoll = false
    }
}
