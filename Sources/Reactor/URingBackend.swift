import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// io_uring backend: one ring per reactor, one multishot `IORING_OP_RECVMSG` per
/// registered socket reading into that socket's own provided buffer ring.
///
/// - Setup: `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (Linux
///   6.1), else `SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG` (6.0). Completion
///   work runs only when the reactor asks for events, so a reap is a bounded
///   batch; and the kernel raises `IORING_SQ_TASKRUN` when work waits, so
///   `poll()` with nothing pending makes no system call. The ring belongs to the
///   thread that created the reactor: drive it from that thread only.
/// - Receive: each completion names a buffer; the backend fills the
///   registration's `fr_datagram` slots from the buffers (header, source
///   address, control, payload) and delivers them in batches of at most
///   `ReceiveOptions.slotCount`. The buffers go back to the ring as soon as the
///   handler returns, so the handler's view is valid during the callback only.
/// - A multishot receive ends (a completion without `IORING_CQE_F_MORE`) when
///   the buffer ring is empty (`-ENOBUFS`: the datagrams stay queued in the
///   socket), when the CQ overflowed, or on a socket error. The backend re-arms
///   it at once after returning the buffers, and counts it
///   (`Counters.bufferExhaustions`, `Counters.receiveRearms`).
/// - user_data = operation (8 bits) | token slot (24 bits) | token generation
///   (32 bits): a completion of a registration that is gone fails the token
///   lookup and is dropped (`Counters.staleEvents`).
/// - Deregistering cancels the multishot receive; the socket's buffers stay
///   mapped until its final completion arrives (the kernel may still be writing
///   into them), then the buffer group is unregistered and unmapped.
/// - Wakeups: a multishot poll on the reactor's cross-thread eventfd. Timers:
///   the reactor passes the wheel's next deadline as the wait timeout
///   (`IORING_ENTER_EXT_ARG`), exactly as with epoll.
/// - Buffers: each holds the recvmsg header, 32 bytes for the source address
///   (none with `ReceiveOptions.sourceAddresses` off),
///   `ReceiveOptions.controlSize` and `slotSize` bytes of payload (at least
///   `Configuration.uringBufferSize` in all); `uringBufferCount` of them per
///   socket. A payload longer than `slotSize` is cut and flagged, as with epoll.
/// - Sends: `UDPSocket.send` (`sendto`) is shared with the epoll backend; it
///   allocates nothing and needs no completion.
/// - Host loops: `descriptor` is an eventfd registered with
///   `IORING_REGISTER_EVENTFD`, created on first use. It becomes readable when
///   completions or deferred completion work are pending; each `poll()` resets
///   it first. A poll that found work can leave it readable once more (the
///   kernel signals the completions it posted during that poll), so a host loop
///   may see one extra empty poll; it never misses work.
/// - Closing: the kernel tears a ring down in a worker that, a few milliseconds
///   later, queues cleanup work on every thread that submitted to it
///   (io_uring/io_uring.c, io_ring_exit_work: task_work_add(TWA_SIGNAL)). A
///   blocking call that thread is in at that moment (an epoll wait of another
///   reactor, say) returns early with EINTR, as after a signal.
final class URingBackend: Backend {
    let kind = BackendKind.uring
    let ring: OpaquePointer
    let setupFlags: UInt32
    let bufferCount: Int
    let minimumBufferSize: Int
    let completions: UnsafeMutablePointer<fr_uring_completion>
    let completionCapacity: Int
    var wakeupDescriptor: Int32 = -1
    var hostDescriptor: Int32 = -1
    /// Receivers of deregistered sockets whose multishot receive has not ended yet.
    var retiring: [URingReceiver] = []
    var needsSweep = false
    var nextGroup: UInt32 = 0
    var freeGroups: [UInt16] = []
    var dispatching = false
    var closeRequested = false
    var torndown = false

    /// What a completion belongs to (the top 8 bits of its user_data).
    enum Operation: UInt64 {
        case receive = 1
        case cancel = 2
        case wakeup = 3
    }

    static let cancelData = Operation.cancel.rawValue << 56
    static let wakeupData = Operation.wakeup.rawValue << 56
    /// Token slots must fit the 24 bits user_data leaves them.
    static let maxSlots = 1 << 24

    @inline(__always)
    static func receiveData(_ token: Token) -> UInt64 {
        Operation.receive.rawValue << 56 | UInt64(token.slot & 0xFF_FFFF) << 32 | UInt64(token.generation)
    }

    @inline(__always)
    static func token(fromData data: UInt64) -> Token {
        Token(slot: UInt32(truncatingIfNeeded: data >> 32) & 0xFF_FFFF, generation: UInt32(truncatingIfNeeded: data))
    }

    init(_ configuration: Reactor.Configuration) throws(ReactorError) {
        guard fr_uring_built() != 0 else {
            throw .backendUnavailable(backend: "io_uring", reason:
                "this build has no io_uring support: liburing-dev (/usr/include/liburing.h) was not installed "
                + "when FeedReactor was compiled, or FEEDREACTOR_NO_URING was set; install liburing-dev and "
                + "rebuild, or use --backend epoll")
        }
        guard configuration.maxRegistrations <= Self.maxSlots else {
            throw .invalidArgument("Reactor.Configuration.maxRegistrations must be at most \(Self.maxSlots) with io_uring")
        }
        let count = configuration.uringBufferCount
        guard count > 0, count <= 32_768, count & (count - 1) == 0 else {
            throw .invalidArgument("Reactor.Configuration.uringBufferCount must be a power of two from 1 to 32768 "
                                   + "(io_uring buffer rings); got \(count)")
        }
        guard configuration.uringEntries > 0, configuration.uringEntries <= 32_768 else {
            throw .invalidArgument("Reactor.Configuration.uringEntries must be from 1 to 32768; got \(configuration.uringEntries)")
        }
        var error: Int32 = 0
        guard let ring = fr_uring_create(UInt32(configuration.uringEntries), &error) else {
            throw .backendUnavailable(backend: "io_uring", reason: Self.setupFailure(errno: error))
        }
        self.ring = ring
        setupFlags = fr_uring_setup_flags(ring)
        bufferCount = count
        minimumBufferSize = max(0, configuration.uringBufferSize)
        // One reap pass takes at most a CQ's worth; the array is sized once.
        completionCapacity = max(64, Int(fr_uring_cq_entries(ring)))
        completions = .allocate(filledWith: fr_uring_completion(), count: completionCapacity)
    }

    deinit {
        teardown()
        completions.deallocate()
    }

    /// Why io_uring_setup failed, and what to do about it.
    static func setupFailure(errno: Int32) -> String {
        let fallback = "or use --backend epoll"
        switch errno {
        case ENOSYS:
            return "io_uring_setup is not available (kernel older than 5.1 or built without CONFIG_IO_URING, "
                + "or a seccomp filter answers ENOSYS); run on Linux 6.1+ with io_uring, \(fallback)"
        case EPERM, EACCES:
            switch fr_uring_sysctl_disabled() {
            case 2:
                return "kernel.io_uring_disabled=2 forbids io_uring for every process; as root run "
                    + "`sysctl kernel.io_uring_disabled=0`, \(fallback)"
            case 1:
                return "kernel.io_uring_disabled=1 allows io_uring only for CAP_SYS_ADMIN or members of "
                    + "kernel.io_uring_group; run as root, add this user to that group, \(fallback)"
            default:
                return "io_uring_setup was denied (EPERM), most likely by a seccomp profile (container "
                    + "runtimes block io_uring by default); allow io_uring_setup/io_uring_enter/"
                    + "io_uring_register, \(fallback)"
            }
        case EINVAL:
            return "this kernel (\(kernelRelease())) lacks IORING_SETUP_SINGLE_ISSUER and multishot recvmsg, "
                + "which need Linux 6.0 or newer (6.1 for DEFER_TASKRUN); upgrade the kernel \(fallback)"
        case ENOMEM:
            return "the kernel could not allocate the ring; lower Reactor.Configuration.uringEntries or raise "
                + "the locked-memory limit (ulimit -l), \(fallback)"
        case EMFILE, ENFILE:
            return "out of file descriptors; raise the open-file limit (ulimit -n), \(fallback)"
        default:
            return "io_uring_setup failed: \(String(cString: strerror(errno))) (errno \(errno)); \(fallback)"
        }
    }

    static func kernelRelease() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown kernel" }
        // Safety: uname filled release with a NUL-terminated string inside the tuple.
        return withUnsafeBytes(of: &name.release) { bytes in
            "Linux " + String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// True when completion work is deferred to the reactor's waits (Linux 6.1+).
    var defersTaskRun: Bool { setupFlags & FR_URING_SETUP_DEFER_TASKRUN != 0 }

    var descriptor: Int32 {
        if hostDescriptor < 0 && !torndown {
            let fd = fr_eventfd()
            guard fd >= 0 else { return -1 }
            guard fr_uring_register_eventfd(ring, fd) == 0 else {
                System.close(fd)
                return -1
            }
            hostDescriptor = fd
            // Completions may be pending already (they signalled nobody): let the
            // host loop poll once.
            _ = fr_eventfd_signal(fd)
        }
        return hostDescriptor
    }

    // MARK: - Registration

    func add(_ registration: Registration) throws(ReactorError) {
        let group: UInt16
        if let free = freeGroups.popLast() {
            group = free
        } else if nextGroup <= UInt32(UInt16.max) {
            group = UInt16(nextGroup)
            nextGroup += 1
        } else {
            throw .invalidArgument("io_uring buffer groups exhausted (65536 sockets registered or still closing)")
        }
        var error: Int32 = 0
        let options = registration.options
        guard let raw = fr_uring_receiver_create(ring, registration.descriptor, UInt32(group), UInt32(bufferCount),
                                                 minimumBufferSize, UInt32(clamping: options.slotSize),
                                                 options.controlSize, options.sourceAddresses ? 1 : 0,
                                                 &error) else {
            freeGroups.append(group)
            throw .system(SystemError(call: "io_uring_register_buf_ring", errno: error))
        }
        let receiver = URingReceiver(raw: raw, group: group, token: registration.token)
        let rc = fr_uring_receiver_arm(ring, raw, receiver.userData)
        guard rc == 0 else {
            fr_uring_receiver_destroy(ring, raw)
            freeGroups.append(group)
            throw .system(SystemError(call: "io_uring_submit", errno: -rc))
        }
        receiver.armed = true
        registration.backendState = receiver
    }

    func remove(_ registration: Registration) {
        guard let receiver = registration.backendState as? URingReceiver else { return }
        registration.backendState = nil
        if receiver.armed {
            // The kernel holds the socket (and writes into our buffers) until the
            // receive ends: cancel it now rather than at the next wait, so a
            // closed socket's port is free promptly.
            _ = fr_uring_cancel(ring, receiver.userData, Self.cancelData)
            _ = fr_uring_submit(ring)
        } else {
            needsSweep = true
        }
        retiring.append(receiver)
    }

    func addWakeup(descriptor: Int32) throws(ReactorError) {
        wakeupDescriptor = descriptor
        let rc = fr_uring_poll_multishot(ring, descriptor, Self.wakeupData)
        guard rc == 0 else { throw .system(SystemError(call: "io_uring_submit", errno: -rc)) }
    }

    // MARK: - Waiting and dispatching

    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int {
        // (fr_uring_wait resets the host loop's eventfd first, when there is one.)
        let n = fr_uring_wait(ring, timeoutNanoseconds)
        if n >= 0 { return Int(n) }
        if n == -EEXIST {
            throw .invalidArgument("an io_uring reactor was driven from a thread other than the one that created "
                                   + "it (IORING_SETUP_SINGLE_ISSUER); create, register and run it on one thread")
        }
        throw .system(SystemError(call: "io_uring_enter", errno: -n))
    }

    /// Datagrams of one registration gathered for the next `deliver`. Holds the
    /// registration strongly (its datagram slots must outlive a handler that
    /// deregisters it), plus plain copies of what each datagram needs.
    struct Chunk {
        var registration: Registration?
        var receiver: URingReceiver?
        /// The user_data of the chunk's completions (0: no chunk).
        var userData: UInt64 = 0
        var datagrams: UnsafeMutablePointer<fr_datagram>?
        var receiverRaw: OpaquePointer?
        var capacity = 0
        var count = 0

        init() {}

        init(_ registration: Registration, _ receiver: URingReceiver, userData: UInt64) {
            self.registration = registration
            self.receiver = receiver
            self.userData = userData
            datagrams = registration.datagrams
            receiverRaw = receiver.raw
            capacity = registration.options.slotCount
        }
    }

    func dispatch(into reactor: Reactor) -> Int {
        var n = Int(fr_uring_reap(ring, completions, UInt32(completionCapacity)))
        // The idle path: nothing reaped, touch nothing else.
        if n == 0 && !needsSweep { return 0 }
        var work = 0
        var chunk = Chunk()
        dispatching = true
        // Take what the last wait made ready; a full array means there may be more
        // (at most a few passes, so timers are not starved).
        var passes = 1
        reaping: while true {
            for i in 0..<n {
                let completion = completions[i]
                switch Operation(rawValue: completion.user_data >> 56) {
                case .receive:
                    work += receive(completion, chunk: &chunk, reactor: reactor)
                case .wakeup:
                    work += flush(&chunk, reactor: reactor)
                    work += wakeup(completion, reactor: reactor)
                case .cancel, nil:
                    break  // a cancel's own result; -ENOENT when the receive had ended already
                }
                // A handler closed the reactor: the ring is going away.
                if closeRequested { break reaping }
            }
            if n < completionCapacity || passes == 4 { break }
            passes += 1
            n = Int(fr_uring_reap(ring, completions, UInt32(completionCapacity)))
        }
        work += flush(&chunk, reactor: reactor)
        dispatching = false
        if closeRequested {
            teardown()
        } else if needsSweep {
            sweep()
        }
        return work
    }

    @inline(__always)
    func receive(_ completion: fr_uring_completion, chunk: inout Chunk, reactor: Reactor) -> Int {
        let more = completion.flags & FR_URING_CQE_F_MORE != 0
        // The common case: one more datagram of the socket being gathered. No
        // handler has run since the chunk began, so the registration is still
        // live and needs no lookup (and plain values: no reference counting).
        if more, completion.flags & FR_URING_CQE_F_BUFFER != 0, completion.user_data == chunk.userData,
           let datagrams = chunk.datagrams, let raw = chunk.receiverRaw {
            // Safety: chunk.count < chunk.capacity, the number of slots at datagrams.
            if fr_uring_receiver_datagram(raw, completion.result, completion.flags, datagrams + chunk.count) == 0 {
                chunk.count += 1
            }
            return chunk.count == chunk.capacity ? flush(&chunk, reactor: reactor) : 0
        }
        let token = Self.token(fromData: completion.user_data)
        var delivered = 0
        // Deliver another socket's gathered datagrams before looking this one
        // up: that handler may deregister this socket.
        if let current = chunk.registration, current.token != token {
            delivered += flush(&chunk, reactor: reactor)
        }
        guard let registration = reactor.registration(for: token),
              let state = registration.backendState else {
            // The registration is gone (deregistered, maybe its slot reused): drop
            // the completion. Its buffer belongs to a retiring ring; no recycling.
            reactor.counters.staleEvents &+= 1
            if !more { retired(token) }
            return delivered
        }
        let receiver = unsafeDowncast(state, to: URingReceiver.self)
        if completion.flags & FR_URING_CQE_F_BUFFER != 0 {
            if chunk.registration == nil {
                chunk = Chunk(registration, receiver, userData: completion.user_data)
            }
            // Safety: chunk.count < slotCount, the capacity of registration.datagrams.
            if fr_uring_receiver_datagram(receiver.raw, completion.result, completion.flags,
                                          registration.datagrams + chunk.count) == 0 {
                chunk.count += 1
            }
            if chunk.count == registration.options.slotCount {
                delivered += flush(&chunk, reactor: reactor)
            }
        }
        if !more {
            // Return this socket's buffers before re-arming, so the new receive
            // does not find the ring empty again.
            delivered += flush(&chunk, reactor: reactor)
            ended(registration, receiver, result: completion.result, reactor: reactor)
        }
        return delivered
    }

    /// Delivers the gathered datagrams, then gives their buffers back.
    @inline(__always)
    func flush(_ chunk: inout Chunk, reactor: Reactor) -> Int {
        guard let registration = chunk.registration, let receiver = chunk.receiver else { return 0 }
        let count = chunk.count
        chunk = Chunk()
        if count > 0 { reactor.deliver(registration, count: count) }
        // The handler has returned: its views are dead, the buffers can be reused.
        // (A receiver removed during deliver stays alive until the sweep.)
        _ = fr_uring_receiver_release(receiver.raw)
        return count
    }

    /// A live registration's multishot receive ended: re-arm it unless the error
    /// says the socket cannot receive.
    func ended(_ registration: Registration, _ receiver: URingReceiver, result: Int32, reactor: Reactor) {
        receiver.armed = false
        // Deregistered by the handler during the flush before this: its cancel
        // finds nothing, so this was the final completion and the sweep frees it.
        guard registration.backendState === receiver else {
            needsSweep = true
            return
        }
        if result == -ENOBUFS {
            reactor.counters.bufferExhaustions &+= 1
        } else if result < 0 && result != -ECANCELED {
            let errno = -result
            reactor.socketFailed(registration, SystemError(call: "recvmsg", errno: errno))
            // These cannot heal by retrying; the socket stays registered but idle
            // and the handler (told above) decides.
            if errno == EINVAL || errno == EBADF || errno == ENOTSOCK || errno == EOPNOTSUPP || errno == EFAULT {
                return
            }
        }
        // The handler may have deregistered in failed(): then remove() took it.
        guard registration.backendState === receiver else {
            needsSweep = true
            return
        }
        if fr_uring_receiver_arm(ring, receiver.raw, receiver.userData) == 0 {
            receiver.armed = true
            reactor.counters.receiveRearms &+= 1
        }
    }

    /// The final completion of a deregistered socket's receive: free its buffers.
    func retired(_ token: Token) {
        for receiver in retiring where receiver.token == token {
            receiver.armed = false
            needsSweep = true
        }
    }

    /// A socket with a multishot receive armed must not be read around it: the
    /// kernel could hand later datagrams to one and earlier to the other.
    var readsDirectly: Bool { false }
    func pollDirectly(_ registration: Registration, into reactor: Reactor) -> Int { 0 }
    func drainWakeup(into reactor: Reactor) -> Int { 0 }

    func wakeup(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        _ = fr_eventfd_drain(wakeupDescriptor)
        if completion.flags & FR_URING_CQE_F_MORE == 0 {
            _ = fr_uring_poll_multishot(ring, wakeupDescriptor, Self.wakeupData)
        }
        return reactor.drainMailbox()
    }

    /// Frees receivers whose receive has ended (outside any delivery).
    func sweep() {
        needsSweep = false
        var kept = 0
        for index in retiring.indices {
            let receiver = retiring[index]
            if receiver.armed {
                retiring[kept] = receiver
                kept += 1
            } else {
                fr_uring_receiver_destroy(ring, receiver.raw)
                freeGroups.append(receiver.group)
            }
        }
        retiring.removeLast(retiring.count - kept)
    }

    func close() {
        if dispatching {
            closeRequested = true
        } else {
            teardown()
        }
    }

    /// Destroys the ring (the kernel cancels what is in flight), then the buffers.
    func teardown() {
        guard !torndown else { return }
        torndown = true
        fr_uring_destroy(ring)
        for receiver in retiring { fr_uring_receiver_destroy(nil, receiver.raw) }
        retiring.removeAll()
        if hostDescriptor >= 0 { System.close(hostDescriptor) }
        hostDescriptor = -1
    }
}

/// One socket's io_uring receive state: its buffer ring (a C object) and whether
/// its multishot receive is in flight.
final class URingReceiver {
    let raw: OpaquePointer
    let group: UInt16
    let token: Token
    let userData: UInt64
    var armed = false

    init(raw: OpaquePointer, group: UInt16, token: Token) {
        self.raw = raw
        self.group = group
        self.token = token
        userData = URingBackend.receiveData(token)
    }
}
