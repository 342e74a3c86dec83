import CFeedReactor
import Logging
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
/// - Plain descriptors: a one-shot `IORING_OP_POLL_ADD` with the registration's
///   interest, re-armed after its callbacks return. A one-shot poll checks
///   readiness when issued, so a descriptor left ready completes again at once:
///   level-triggered, as with epoll. `setInterest` is an `IORING_OP_POLL_REMOVE`
///   update of the poll in flight (`IORING_POLL_UPDATE_EVENTS`); when that poll
///   had completed already the update finds nothing and the re-arm after the
///   completion takes the new interest.
/// - Sends: `Reactor.send` copies the datagram into a free buffer of the ring's
///   send pool (`Configuration.uringSendBuffers` of `uringSendBufferSize`
///   bytes, allocated with the ring) and queues an `IORING_OP_SENDMSG` SQE
///   (`IORING_OP_SEND` for a connected socket); user_data names the buffer,
///   which goes back to the pool at the send's completion. A socket has at most
///   `SendOptions.queueCapacity` sends in flight; beyond that, or with the pool
///   empty, the send is refused (counted) and the handler hears `writable` once
///   buffers came back. A completion with -errno goes to the handler's
///   `failed`. SQEs prepared during a duty cycle are submitted at its end
///   (`submit`), those prepared outside one by the next wait or `flushSends()`.
///   Datagrams of at least `Configuration.uringZeroCopyThreshold` bytes use
///   `IORING_OP_SEND_ZC`/`SENDMSG_ZC`: the first completion says the send
///   happened, a second (`IORING_CQE_F_NOTIF`) that the kernel let go of the
///   buffer; only then is it reused. A datagram socket is in the ring's
///   registered file table at its token slot (`registerFile`), so its send SQEs
///   carry IOSQE_FIXED_FILE and the kernel takes no file reference per send.
/// - TCP listeners and streams: multishot accept, multishot recv from one
///   provided-buffer group shared by every stream, sends as SQEs of the send
///   ring's spans; see URingBackend+TCP.swift.
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
    /// This backend's state of each registration, by token slot.
    let entries: SlotTable<Entry?>
    /// The datagram states of `entries` again, unretained, for sends to borrow
    /// (no reference counting per datagram). Set and cleared with `entries`,
    /// which keeps each alive.
    let datagramStates: SlotTable<Unmanaged<URingDatagram>?>
    /// The send buffer pool (C) and, per buffer, the token raw of its sender.
    let sender: OpaquePointer?
    let sendOwners: UnsafeMutablePointer<UInt64>
    let sendBufferCount: Int
    let zeroCopyThreshold: Int
    /// Registrations refused for want of buffers, to tell `writable` (preallocated).
    var writableWaiters: ContiguousArray<Token> = []
    /// Sockets with sends waiting to be prepared at the next `submit` (preallocated).
    var sendReady: ContiguousArray<Token> = []
    /// Per send buffer: its socket's send number (order within the socket).
    let sendSequence: UnsafeMutablePointer<UInt32>
    /// The largest datagram a send buffer takes (the pool's, read once).
    let sendBufferSize: Int
    /// One chain's buffer indices in order, for `fr_uring_sender_prepare_chain`
    /// (a chain holds at most every buffer).
    let chainIndices: UnsafeMutablePointer<UInt32>
    var sendsCompleted = 0
    /// The registered file table (`registerFile`).
    var fileTable = FileTable.untried
    enum FileTable { case untried, registered, unavailable }
    /// Receivers of deregistered sockets whose multishot receive has not ended yet.
    var retiring: [URingReceiver] = []
    var needsSweep = false
    var nextGroup: UInt32 = 0
    var freeGroups: [UInt16] = []
    var dispatching = false
    var closeRequested = false
    var torndown = false
    // TCP (URingBackend+TCP.swift).
    let streamOptions: URingStreamOptions
    let logger: Logger
    var streamMode = StreamMode.undecided
    /// The buffer group shared by every stream's multishot recv (nil until the first).
    var streamBuffers: OpaquePointer?
    var streamGroup: UInt16 = 0
    var streamBufferCount = 0
    /// Per provided buffer held for a paused stream: the next held buffer of
    /// that stream (-1: last), and the offset and length of its unread bytes.
    var heldNext: UnsafeMutablePointer<Int32>?
    var heldOffset: UnsafeMutablePointer<Int32>?
    var heldLength: UnsafeMutablePointer<Int32>?
    var heldBuffers = 0
    /// The group ran dry at least once (said once in the log).
    var streamBuffersRanDry = false
    /// Stream states by index (user_data names them), reused through `freeStreams`.
    var streams: ContiguousArray<URingStream?> = []
    var freeStreams: ContiguousArray<Int32> = []
    /// Streams whose reading resumed with held bytes, and those waiting for
    /// buffers to re-arm (-ENOBUFS); listeners whose accept ended (preallocated).
    var streamResumes: ContiguousArray<Int32> = []
    var streamRearms: ContiguousArray<Int32> = []
    var listenerRearms: ContiguousArray<Token> = []

    /// What a completion belongs to (the top 8 bits of its user_data).
    enum Operation: UInt64 {
        case receive = 1
        case cancel = 2
        case wakeup = 3
        /// A plain descriptor's poll (token in the low bits).
        case poll = 4
        /// A poll update's own result (nothing to do).
        case control = 5
        /// A send (the send buffer index in the low bits).
        case send = 6
        /// A datagram socket's POLLOUT poll after -EAGAIN (token in the low bits).
        case sendPoll = 7
        /// A TCP stream's multishot recv (stream index and serial in the low bits).
        case streamReceive = 8
        /// A TCP stream's send of its send-ring spans (stream index and serial).
        case streamSend = 9
        /// A TCP stream's POLLOUT poll while connecting (stream index and serial).
        case streamConnect = 10
        /// A TCP listener's multishot accept (token in the low bits).
        case accept = 11
    }

    /// io_uring's per-registration state: one case per registration kind.
    enum Entry {
        case datagram(URingDatagram)
        case descriptor(URingDescriptor)
        /// TCP on completions (URingBackend+TCP.swift); in the readiness
        /// fallback streams and listeners are `.descriptor`s.
        case stream(URingStream)
        case listener(URingListener)
    }

    static let cancelData = Operation.cancel.rawValue << 56
    static let wakeupData = Operation.wakeup.rawValue << 56
    static let controlData = Operation.control.rawValue << 56
    static let sendData = Operation.send.rawValue << 56
    /// Token slots must fit the 24 bits user_data leaves them.
    static let maxSlots = 1 << 24

    @inline(__always)
    static func receiveData(_ token: Token) -> UInt64 {
        Operation.receive.rawValue << 56 | UInt64(token.slot & 0xFF_FFFF) << 32 | UInt64(token.generation)
    }

    @inline(__always)
    static func pollData(_ token: Token) -> UInt64 {
        Operation.poll.rawValue << 56 | UInt64(token.slot & 0xFF_FFFF) << 32 | UInt64(token.generation)
    }

    @inline(__always)
    static func sendPollData(_ token: Token) -> UInt64 {
        Operation.sendPoll.rawValue << 56 | UInt64(token.slot & 0xFF_FFFF) << 32 | UInt64(token.generation)
    }

    /// The send buffer a send completion's user data names (`sendData | index`).
    @inline(__always)
    static func sendBuffer(fromData data: UInt64) -> Int { Int(data & 0xFF_FFFF) }

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
        let streamBuffers = configuration.uringStreamBufferCount
        guard streamBuffers > 0, streamBuffers <= 32_768, streamBuffers & (streamBuffers - 1) == 0,
              configuration.uringStreamBufferSize > 0, configuration.uringStreamBufferSize <= 1 << 30 else {
            throw .invalidArgument("Reactor.Configuration.uringStreamBufferCount must be a power of two from 1 to 32768 "
                                   + "and uringStreamBufferSize from 1 to 2^30 bytes; got \(streamBuffers) and "
                                   + "\(configuration.uringStreamBufferSize)")
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
        entries = SlotTable(repeating: nil, count: configuration.maxRegistrations)
        datagramStates = SlotTable(repeating: nil, count: configuration.maxRegistrations)
        sendBufferCount = max(0, configuration.uringSendBuffers)
        zeroCopyThreshold = configuration.uringZeroCopyThreshold > 0 ? configuration.uringZeroCopyThreshold : Int.max
        sender = sendBufferCount > 0
            ? fr_uring_sender_create(UInt32(sendBufferCount), max(1, configuration.uringSendBufferSize)) : nil
        sendOwners = .allocate(filledWith: 0, count: max(1, sendBufferCount))
        sendBufferSize = sender.map { fr_uring_sender_buffer_size($0) } ?? 0
        chainIndices = .allocate(filledWith: 0, count: max(1, sendBufferCount))
        sendSequence = .allocate(filledWith: 0, count: max(1, sendBufferCount))
        writableWaiters.reserveCapacity(configuration.maxRegistrations)
        sendReady.reserveCapacity(configuration.maxRegistrations)
        streamOptions = URingStreamOptions(completions: configuration.uringStreamCompletions,
                                           bufferCount: configuration.uringStreamBufferCount,
                                           bufferSize: configuration.uringStreamBufferSize)
        logger = configuration.logger
        streams.reserveCapacity(configuration.maxRegistrations)
        freeStreams.reserveCapacity(configuration.maxRegistrations)
        streamResumes.reserveCapacity(configuration.maxRegistrations)
        streamRearms.reserveCapacity(configuration.maxRegistrations)
        listenerRearms.reserveCapacity(configuration.maxRegistrations)
        if sendBufferCount > 0 && sender == nil {
            fr_uring_destroy(ring)
            completions.deallocate()
            sendOwners.deallocate()
            chainIndices.deallocate()
            sendSequence.deallocate()
            entries.deallocate()
            datagramStates.deallocate()
            throw .system(SystemError(call: "malloc(io_uring send buffers)", errno: ENOMEM))
        }
    }

    deinit {
        teardown()
        completions.deallocate()
        sendOwners.deallocate()
        chainIndices.deallocate()
        sendSequence.deallocate()
        entries.deallocate()
        datagramStates.deallocate()
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
        let slot = Int(registration.token.slot)
        switch registration.kind {
        case .datagram(let endpoint):
            // A send-only socket (interest []) gets no receive: an armed
            // receive's poll waiter would be woken by every sent datagram's free.
            let receiver = registration.interest.contains(.readable) ? try addReceiver(registration, endpoint) : nil
            let state = URingDatagram(endpoint: endpoint, receiver: receiver)
            state.fixedFile = registerFile(registration)
            entries[slot] = .datagram(state)
            datagramStates[slot] = Unmanaged.passUnretained(state)
        case .stream(let connection) where decideStreamMode():
            entries[slot] = .stream(try addStream(registration, connection))
        case .listener(let listener) where decideStreamMode():
            entries[slot] = .listener(try addListener(registration, listener))
        case .descriptor, .stream, .listener:
            let state = URingDescriptor(handler: registration.kind.readinessHandler!)
            entries[slot] = .descriptor(state)
            if !registration.interest.isEmpty {
                do {
                    try arm(registration, state, registration.interest)
                } catch {
                    entries[slot] = nil
                    throw .system(error)
                }
            }
        }
    }

    /// A datagram socket's buffer group and multishot receive.
    func addReceiver(_ registration: Registration, _ endpoint: DatagramEndpoint) throws(ReactorError) -> URingReceiver {
        guard let group = takeGroup() else {
            throw .invalidArgument("io_uring buffer groups exhausted (65536 sockets registered or still closing)")
        }
        var error: Int32 = 0
        let options = endpoint.options
        guard let raw = fr_uring_receiver_create(ring, registration.descriptor, UInt32(group), UInt32(bufferCount),
                                                 minimumBufferSize, UInt32(clamping: options.slotSize),
                                                 options.controlSize, options.sourceAddresses ? 1 : 0,
                                                 &error) else {
            freeGroups.append(group)
            throw .system(SystemError(call: "io_uring_register_buf_ring", errno: error))
        }
        let receiver = URingReceiver(raw: raw, group: group, token: registration.token)
        do {
            try System.uringPrepare("io_uring_get_sqe") { fr_uring_receiver_arm(ring, raw, receiver.userData) }
        } catch {
            fr_uring_receiver_destroy(ring, raw)
            freeGroups.append(group)
            throw .system(error)
        }
        receiver.armed = true
        return receiver
    }

    /// Puts a datagram socket into the ring's registered file table at its token
    /// slot, so its send SQEs name it by index (IOSQE_FIXED_FILE) and the kernel
    /// skips the fget/fput of each send (about 1.2% of a loopback io_uring
    /// sender's time in perf). The table (sparse, `maxRegistrations` slots) is
    /// registered with the first socket; where the kernel refuses it (a table
    /// larger than RLIMIT_NOFILE), or one update fails, sends use the plain
    /// descriptor. Returns whether this socket got its slot.
    func registerFile(_ registration: Registration) -> Bool {
        if fileTable == .untried {
            fileTable = (try? System.uringRegisterFiles(ring, count: entries.count)) != nil ? .registered : .unavailable
        }
        guard fileTable == .registered else { return false }
        return (try? System.uringSetFile(ring, slot: registration.token.slot, descriptor: registration.descriptor)) != nil
    }

    /// A free buffer group id (16 bits: at most 65,536 at once); nil when none is left.
    func takeGroup() -> UInt16? {
        if let free = freeGroups.popLast() { return free }
        guard nextGroup <= UInt32(UInt16.max) else { return nil }
        defer { nextGroup += 1 }
        return UInt16(nextGroup)
    }

    /// Queues a plain descriptor's one-shot poll for `interest`.
    func arm(_ registration: Registration, _ state: URingDescriptor, _ interest: Interest) throws(SystemError) {
        try System.uringPrepare("io_uring_get_sqe") {
            fr_uring_poll_add(ring, registration.descriptor, UInt32(interest.rawValue), Self.pollData(registration.token))
        }
        state.armed = true
    }

    func setInterest(_ registration: Registration, _ interest: Interest) throws(ReactorError) {
        switch entries[Int(registration.token.slot)] {
        case .stream(let stream)?:
            guard let connection = stream.connection else { return }
            do { try applyStreamInterest(stream, connection, interest) } catch { throw .system(error) }
            return
        case .listener?:
            return   // always accepting
        default:
            break
        }
        guard case .descriptor(let state)? = entries[Int(registration.token.slot)] else {
            throw .invalidArgument("setInterest applies to descriptor registrations; a datagram socket is always "
                                   + "read, and its sends are completions")
        }
        do {
            if state.armed {
                // (An empty mask still hears POLLERR/POLLHUP; the completion is
                // then not reported and not re-armed.)
                try System.uringPrepare("io_uring_get_sqe") {
                    fr_uring_poll_update(ring, Self.pollData(registration.token), UInt32(interest.rawValue),
                                         Self.controlData)
                }
            } else if !interest.isEmpty {
                try arm(registration, state, interest)
            }
        } catch { throw .system(error) }
    }

    /// The receiver of a live datagram registration.
    @inline(__always)
    func receiver(of registration: Registration) -> URingReceiver? {
        if case .datagram(let state)? = entries[Int(registration.token.slot)] { return state.receiver }
        return nil
    }

    func remove(_ registration: Registration) {
        let slot = Int(registration.token.slot)
        let entry = entries[slot]
        entries[slot] = nil
        datagramStates[slot] = nil
        switch entry {
        case .datagram(let state)?:
            if let receiver = state.receiver {
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
            // Held sends never reached the kernel: their buffers come back now
            // (those in flight come back at their completions).
            if let sender {
                while let index = state.retry.pop() ?? state.outgoing.pop() { release(sender, Int(index)) }
            }
            if state.blocked {
                _ = fr_uring_cancel(ring, Self.sendPollData(registration.token), Self.cancelData)
                _ = fr_uring_submit(ring)
            }
            // (Sends still in flight keep their own reference to the file.)
            if state.fixedFile { _ = try? System.uringSetFile(ring, slot: registration.token.slot, descriptor: -1) }
        case .stream(let stream)?:
            removeStream(stream)
        case .listener(let state)?:
            removeListener(state, registration.token)
        case .descriptor(let state)?:
            // The caller may close the descriptor next: end the poll now.
            if state.armed {
                _ = fr_uring_cancel(ring, Self.pollData(registration.token), Self.cancelData)
                _ = fr_uring_submit(ring)
            }
        case nil:
            break
        }
    }

    func addWakeup(descriptor: Int32) throws(ReactorError) {
        wakeupDescriptor = descriptor
        let rc = fr_uring_poll_multishot(ring, descriptor, Self.wakeupData)
        guard rc == 0 else { throw .system(SystemError(call: "io_uring_submit", errno: -rc)) }
    }

    // MARK: - Waiting and dispatching

    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int {
        // (fr_uring_wait resets the host loop's eventfd first, when there is one.)
        // Resumed streams with held bytes are work without a completion: don't block.
        let n = fr_uring_wait(ring, streamResumes.isEmpty ? timeoutNanoseconds : 0)
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
        var endpoint: DatagramEndpoint?
        var receiver: URingReceiver?
        /// The user_data of the chunk's completions (0: no chunk).
        var userData: UInt64 = 0
        var datagrams: UnsafeMutablePointer<fr_datagram>?
        var receiverRaw: OpaquePointer?
        var capacity = 0
        var count = 0

        init() {}

        init(_ registration: Registration, _ state: URingDatagram, userData: UInt64) {
            self.registration = registration
            endpoint = state.endpoint
            receiver = state.receiver
            self.userData = userData
            datagrams = state.endpoint.datagrams
            receiverRaw = state.receiver?.raw
            capacity = state.endpoint.options.slotCount
        }
    }

    func dispatch(into reactor: Reactor) -> Int {
        var n = Int(fr_uring_reap(ring, completions, UInt32(completionCapacity)))
        // The idle path: nothing reaped, touch nothing else.
        if n == 0 && !needsSweep && !streamListsPending { return 0 }
        var work = 0
        var chunk = Chunk()
        dispatching = true
        // Take what the last wait made ready; a full array means there may be more
        // (at most a few passes, so timers are not starved).
        var passes = 1
        reaping: while true {
            var i = 0
            while i < n {
                let completion = completions[i]
                i += 1
                switch Operation(rawValue: completion.user_data >> 56) {
                case .receive:
                    work += receive(completion, chunk: &chunk, reactor: reactor)
                case .wakeup:
                    work += flush(&chunk, reactor: reactor)
                    work += wakeup(completion, reactor: reactor)
                case .send:
                    // A chain's completions come together: take the run at once.
                    i += sentRun(from: i - 1, count: n, reactor: reactor) - 1
                case .sendPoll:
                    unblocked(completion, reactor: reactor)
                case .poll, .streamReceive, .streamSend, .streamConnect, .accept:
                    // Their handlers may deregister the socket being gathered: deliver it first.
                    work += flush(&chunk, reactor: reactor)
                    work += readinessOrStream(completion, reactor: reactor)
                case .cancel, .control, nil:
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
        if sendsCompleted > 0 {
            sendsCompleted = 0
            if !writableWaiters.isEmpty && !closeRequested { work += notifyWritable(reactor) }
        }
        if streamListsPending && !closeRequested { work += runStreamLists(reactor) }
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
              case .datagram(let state)? = entries[Int(token.slot)] else {
            // The registration is gone (deregistered, maybe its slot reused): drop
            // the completion. Its buffer belongs to a retiring ring; no recycling.
            reactor.tally.staleEvents &+= 1
            if !more { retired(token) }
            return delivered
        }
        // (A receive completion always has a receiver: send-only sockets arm none.)
        guard let receiver = state.receiver else { return delivered }
        if completion.flags & FR_URING_CQE_F_BUFFER != 0 {
            if chunk.registration == nil {
                chunk = Chunk(registration, state, userData: completion.user_data)
            }
            // Safety: chunk.count < slotCount, the capacity of the endpoint's datagrams.
            if fr_uring_receiver_datagram(receiver.raw, completion.result, completion.flags,
                                          state.endpoint.datagrams + chunk.count) == 0 {
                chunk.count += 1
            }
            if chunk.count == state.endpoint.options.slotCount {
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
        guard let registration = chunk.registration, let endpoint = chunk.endpoint, let receiver = chunk.receiver else {
            return 0
        }
        let count = chunk.count
        chunk = Chunk()
        if count > 0 { reactor.deliver(registration, endpoint, count: count) }
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
        guard self.receiver(of: registration) === receiver else {
            needsSweep = true
            return
        }
        if result == -ENOBUFS {
            reactor.tally.bufferExhaustions &+= 1
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
        guard self.receiver(of: registration) === receiver else {
            needsSweep = true
            return
        }
        if fr_uring_receiver_arm(ring, receiver.raw, receiver.userData) == 0 {
            receiver.armed = true
            reactor.tally.receiveRearms &+= 1
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

    /// A plain descriptor's poll completed: report it, then re-arm with the
    /// interest in force after the callbacks (none: stay disarmed).
    func polled(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        let token = Self.token(fromData: completion.user_data)
        guard let registration = reactor.registration(for: token),
              case .descriptor(let state)? = entries[Int(token.slot)] else {
            reactor.tally.staleEvents &+= 1
            return 0
        }
        state.armed = false
        var work = 0
        if completion.result < 0 {
            // -ECANCELED: a poll removed by an update racing its completion.
            if completion.result != -ECANCELED {
                reactor.socketFailed(registration, SystemError(call: "io_uring poll", errno: -completion.result))
                return 1
            }
        } else {
            let ready = fr_uring_poll_ready(completion.result)
            work = reactor.descriptorReady(registration, state.handler,
                                           readable: ready & FR_READY_READABLE != 0,
                                           writable: ready & FR_READY_WRITABLE != 0)
        }
        // Deregistered (or re-armed through setInterest) during the callbacks?
        guard registration.isOpen, !state.armed, !registration.interest.isEmpty,
              case .descriptor(let current)? = entries[Int(token.slot)], current === state else { return work }
        do {
            try arm(registration, state, registration.interest)
        } catch {
            reactor.socketFailed(registration, error)
        }
        return work
    }

    /// A plain descriptor's poll, or a TCP completion (URingBackend+TCP.swift).
    @inline(__always)
    func readinessOrStream(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        switch Operation(rawValue: completion.user_data >> 56) {
        case .poll: return polled(completion, reactor: reactor)
        case .streamReceive: return streamReceived(completion, reactor: reactor)
        case .streamSend: return streamSent(completion, reactor: reactor)
        case .streamConnect: return streamConnected(completion, reactor: reactor)
        case .accept: return accepted(completion, reactor: reactor)
        default: return 0
        }
    }

    func wakeup(_ completion: fr_uring_completion, reactor: Reactor) -> Int {
        _ = fr_eventfd_drain(wakeupDescriptor)
        if completion.flags & FR_URING_CQE_F_MORE == 0 {
            _ = fr_uring_poll_multishot(ring, wakeupDescriptor, Self.wakeupData)
        }
        return reactor.drainMailbox()
    }

    // MARK: - Sends
    //
    // Order: io_uring gives none between independent SQEs, and a send that
    // met a full socket and was retried by the kernel later would let younger
    // datagrams overtake it. So each socket has at most one chain of send SQEs
    // in flight: its datagrams in order, linked (IOSQE_IO_LINK), each with
    // MSG_DONTWAIT. A full socket fails the first send with -EAGAIN and cancels
    // the rest of the chain (-ECANCELED), in order; both go back to the
    // socket's retry queue, a POLLOUT poll waits for room, and then the retry
    // queue and what was sent meanwhile go out as the next chain.

    func send(_ token: Token, _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawPointer?,
              length: Int, reactor: Reactor) -> SendResult {
        guard let state = datagramStates[Int(token.slot)] else { return .refused(.notRegistered) }
        // Borrowed, not retained: this path runs no handler, so nothing can
        // deregister the socket (and free its state) before it returns.
        return state._withUnsafeGuaranteedRef { send(token, $0, bytes, to: address, length: length) }
    }

    @inline(__always)
    func send(_ token: Token, _ state: URingDatagram, _ bytes: UnsafeRawBufferPointer,
              to address: UnsafeRawPointer?, length: Int) -> SendResult {
        guard let sender, bytes.count <= state.endpoint.sendOptions.slotSize, bytes.count <= sendBufferSize else {
            return .refused(.tooLarge(bytes.count))
        }
        guard state.waiting < state.endpoint.sendOptions.queueCapacity else {
            waitForBuffers(token, state)
            return .refused(.queueFull)
        }
        let rc = fr_uring_sender_fill(sender, bytes.baseAddress, bytes.count, address, socklen_t(length))
        guard rc >= 0 else {
            if rc == -ENOBUFS {
                waitForBuffers(token, state)
                return .refused(.queueFull)
            }
            return .refused(.failed(SystemError(call: "io_uring sendmsg", errno: -rc)))
        }
        let index = Int(rc)
        sendOwners[index] = token.raw
        sendSequence[index] = state.nextSequence
        state.nextSequence &+= 1
        _ = state.outgoing.push(UInt32(index))
        if !state.listed {
            state.listed = true
            sendReady.append(token)
        }
        return state.blocked ? .queued : .sent
    }

    func send(_ registration: Registration, batch: SendBatch, reactor: Reactor) -> SendBatchResult {
        var result = SendBatchResult()
        guard case .datagram(let state)? = entries[Int(registration.token.slot)] else {
            result.refused = batch.count
            batch.removeAll()
            return result
        }
        for index in 0..<batch.count {
            let header = batch.messages[index].msg_hdr
            switch send(registration.token, state, batch.bytes(at: index), to: header.msg_name.map { UnsafeRawPointer($0) },
                        length: Int(header.msg_namelen)) {
            case .sent: result.sent += 1
            case .queued: result.queued += 1
            case .refused(let reason):
                result.refused += 1
                if case .failed(let error) = reason { result.lastError = error }
            }
        }
        batch.removeAll()
        return result
    }

    func waitForBuffers(_ token: Token, _ state: URingDatagram) {
        if !state.wantsWritable {
            state.wantsWritable = true
            writableWaiters.append(token)
        }
    }

    /// A run of send completions from `start` (below `count`): consecutive plain
    /// successes of one socket (a chain, as it usually completes) are counted
    /// with one lookup; anything else goes through `sent`. Returns how many it took.
    @inline(__always)
    func sentRun(from start: Int, count: Int, reactor: Reactor) -> Int {
        let first = completions[start]
        guard let sender, first.result >= 0, first.flags == 0, Self.sendBuffer(fromData: first.user_data) < sendBufferCount else {
            sent(first, reactor: reactor)
            return 1
        }
        let owner = sendOwners[Self.sendBuffer(fromData: first.user_data)]
        var end = start + 1
        while end < count {
            let next = completions[end]
            let index = Self.sendBuffer(fromData: next.user_data)
            guard next.user_data >> 56 == Operation.send.rawValue, next.result >= 0, next.flags == 0,
                  index < sendBufferCount, sendOwners[index] == owner else { break }
            end += 1
        }
        let token = Token(raw: owner)
        // (A stale owner's buffers come back all the same.)
        if reactor.isLive(token), case .datagram(let state)? = entries[Int(token.slot)] {
            state.inFlight -= end - start
        }
        for k in start..<end { release(sender, Self.sendBuffer(fromData: completions[k].user_data)) }
        return end - start
    }

    /// A send's completion: done (the buffer goes back; for a zero-copy send at
    /// its second, IORING_CQE_F_NOTIF completion), -EAGAIN/-ECANCELED (back to
    /// the retry queue, in order), or an error for the handler.
    func sent(_ completion: fr_uring_completion, reactor: Reactor) {
        guard let sender else { return }
        let index = Self.sendBuffer(fromData: completion.user_data)
        guard index < sendBufferCount else { return }
        if completion.flags & FR_URING_CQE_F_NOTIF != 0 {
            release(sender, index)
            return
        }
        let owner = Token(raw: sendOwners[index])
        let kernelKeepsBuffer = completion.flags & FR_URING_CQE_F_MORE != 0
        if let registration = reactor.registration(for: owner), case .datagram(let state)? = entries[Int(owner.slot)] {
            state.inFlight -= 1
            let result = completion.result
            if (result == -EAGAIN || result == -ECANCELED) && !kernelKeepsBuffer {
                // Not sent: first again next time, in send order. (Sorted by
                // send number, not taken in completion order: io_uring does not
                // promise the order of a failed chain's CQEs.)
                if let last = state.retry.last, precedes(UInt32(index), last) { state.retryUnordered = true }
                _ = state.retry.push(UInt32(index))
                if !state.listed {
                    state.listed = true
                    sendReady.append(owner)
                }
                if result == -EAGAIN && !state.blocked { block(registration, state, reactor: reactor) }
                return
            }
            if result < 0 {
                reactor.sendFailed(registration, SystemError(call: "io_uring sendmsg", errno: -result))
            }
        }
        // A zero-copy send's buffer is the kernel's until its notification.
        if !kernelKeepsBuffer { release(sender, index) }
    }

    @inline(__always)
    func release(_ sender: OpaquePointer, _ index: Int) {
        fr_uring_sender_release(sender, UInt32(index))
        sendsCompleted += 1
    }

    /// The socket's send buffer is full: hold its sends until POLLOUT.
    func block(_ registration: Registration, _ state: URingDatagram, reactor: Reactor) {
        state.blocked = true
        do {
            try System.uringPrepare("io_uring_get_sqe") {
                fr_uring_poll_add(ring, registration.descriptor, FR_READY_WRITABLE, Self.sendPollData(registration.token))
            }
        } catch {
            // No poll: retry at the next submit instead (a spin at worst, never a stall).
            state.blocked = false
        }
    }

    /// POLLOUT after -EAGAIN: the held sends go out with this cycle's submit.
    func unblocked(_ completion: fr_uring_completion, reactor: Reactor) {
        let token = Self.token(fromData: completion.user_data)
        guard reactor.registration(for: token) != nil, case .datagram(let state)? = entries[Int(token.slot)] else {
            reactor.tally.staleEvents &+= 1
            return
        }
        state.blocked = false
    }

    /// Buffers came back: tell the sockets that were refused for want of them.
    func notifyWritable(_ reactor: Reactor) -> Int {
        guard let sender, fr_uring_sender_available(sender) > 0 else { return 0 }
        var work = 0
        var index = 0
        // A handler may send (and be refused, appending again): index, don't iterate,
        // and only the waiters present now.
        let waiting = writableWaiters.count
        while index < waiting {
            let token = writableWaiters[index]
            index += 1
            guard let registration = reactor.registration(for: token),
                  case .datagram(let state)? = entries[Int(token.slot)] else { continue }
            if state.waiting >= state.endpoint.sendOptions.queueCapacity {
                writableWaiters.append(token)   // still full: keep waiting
                continue
            }
            state.wantsWritable = false
            reactor.sendsDrained(registration, state.endpoint)
            work += 1
        }
        writableWaiters.removeFirst(waiting)
        return work
    }

    /// Prepares one chain of a socket's held sends: retries first, then new
    /// ones, in one shim call. Returns how many SQEs it prepared.
    @discardableResult
    func prepareChain(_ registration: Registration, _ state: URingDatagram, _ sender: OpaquePointer) -> Int {
        let n = min(state.retry.count + state.outgoing.count, Int(fr_uring_sq_space(ring)), sendBufferCount)
        guard n > 0 else { return 0 }
        if state.retryUnordered {
            state.retryUnordered = false
            state.retry.sort(by: precedes)
        }
        var taken = 0
        while taken < n, let index = state.retry.pop() { chainIndices[taken] = index; taken += 1 }
        while taken < n, let index = state.outgoing.pop() { chainIndices[taken] = index; taken += 1 }
        let file = state.fixedFile ? Int32(registration.token.slot) : registration.descriptor
        var prepared = 0
        do {
            try System.uringPrepare("io_uring_get_sqe") {
                let rc = fr_uring_sender_prepare_chain(ring, sender, chainIndices, UInt32(taken), file,
                                                       state.fixedFile ? 1 : 0, Self.sendData, zeroCopyThreshold)
                prepared = Int(max(0, rc))
                return min(0, rc)
            }
        } catch {
            prepared = 0
        }
        // What did not make the chain stays first in line for the next submit,
        // in order (all of it ahead of `outgoing`, so `retry` holds it).
        var back = taken
        while back > prepared {
            back -= 1
            _ = state.retry.pushFront(chainIndices[back])
        }
        state.inFlight += prepared
        return prepared
    }

    /// Buffer `a`'s datagram was sent (by its socket) before buffer `b`'s. (Send
    /// numbers wrap; a socket holds far fewer than 2^31 at once.)
    @inline(__always)
    func precedes(_ a: UInt32, _ b: UInt32) -> Bool {
        Int32(bitPattern: sendSequence[Int(a)] &- sendSequence[Int(b)]) < 0
    }

    func pendingSends(_ registration: Registration) -> Int {
        guard case .datagram(let state)? = entries[Int(registration.token.slot)] else { return 0 }
        return state.waiting
    }

    /// Submits the SQEs prepared during the cycle (sends, re-arms) now.
    func submit(reactor: Reactor) {
        guard !torndown else { return }
        var prepared = 0
        if !sendReady.isEmpty, let sender {
            var kept = 0
            for position in sendReady.indices {
                let token = sendReady[position]
                guard reactor.registration(for: token) != nil,
                      case .datagram(let state)? = entries[Int(token.slot)] else { continue }
                // One chain in flight per socket, none while the socket is full.
                if !state.blocked && state.inFlight == 0 {
                    prepared += prepareChain(reactor.registration(for: token)!, state, sender)
                }
                if state.retry.isEmpty && state.outgoing.isEmpty {
                    state.listed = false
                } else {
                    sendReady[kept] = token
                    kept += 1
                }
            }
            sendReady.removeLast(sendReady.count - kept)
        }
        // Send chains: with DEFER_TASKRUN a linked SQE is issued as task work
        // when its predecessor completes, one link per plain io_uring_enter;
        // waiting here for the chains' completions runs them whole in this one
        // enter. Each send is MSG_DONTWAIT, so none of them waits on the
        // network (the timeout only bounds a surprise). EBUSY/EAGAIN: the
        // kernel is short of room; the next wait submits them.
        _ = try? System.uringSubmit(ring, waitFor: prepared)
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
        for slot in 0..<entries.count {
            if case .datagram(let state)? = entries[slot], let receiver = state.receiver {
                fr_uring_receiver_destroy(nil, receiver.raw)
            }
        }
        entries.reset(to: nil)
        datagramStates.reset(to: nil)
        teardownStreams()
        // (After the ring: the kernel no longer reads the send buffers.)
        fr_uring_sender_destroy(sender)
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

/// io_uring's state of one datagram socket: its receiver, its sends.
final class URingDatagram {
    let endpoint: DatagramEndpoint
    /// Its multishot receive; nil for a send-only socket (interest []).
    let receiver: URingReceiver?
    /// Filled send buffers waiting for the next chain, in order.
    let outgoing: IndexQueue
    /// Sends of the last chain that did not go out (-EAGAIN, -ECANCELED): before `outgoing`.
    let retry: IndexQueue
    /// Send SQEs prepared whose completion has not arrived (one chain).
    var inFlight = 0
    /// The socket said -EAGAIN: sends are held until its POLLOUT poll completes.
    var blocked = false
    /// In `URingBackend.sendReady`.
    var listed = false
    /// A send was refused since the last `writable`.
    var wantsWritable = false
    /// In the ring's registered file table at its token slot (sends use IOSQE_FIXED_FILE).
    var fixedFile = false
    /// The next send's number (`URingBackend.sendSequence`).
    var nextSequence: UInt32 = 0
    /// `retry` got a send out of order: sorted before the next chain.
    var retryUnordered = false

    init(endpoint: DatagramEndpoint, receiver: URingReceiver?) {
        self.endpoint = endpoint
        self.receiver = receiver
        outgoing = IndexQueue(capacity: endpoint.sendOptions.queueCapacity)
        retry = IndexQueue(capacity: endpoint.sendOptions.queueCapacity)
    }

    /// Send buffers this socket holds: waiting, retrying or in flight (at most
    /// `SendOptions.queueCapacity`).
    var waiting: Int { outgoing.count + retry.count + inFlight }
}

/// io_uring's state of one plain descriptor.
final class URingDescriptor {
    let handler: any DescriptorHandler
    /// A poll is in flight.
    var armed = false

    init(handler: any DescriptorHandler) { self.handler = handler }
}
