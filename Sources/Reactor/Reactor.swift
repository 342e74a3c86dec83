import CFeedReactor
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A single-threaded event loop over nonblocking UDP sockets and timers.
///
/// One thread owns one reactor; nothing in it locks (other threads talk to it
/// through `remote`). Each duty cycle waits for I/O (or not, per the idle
/// strategy), reads the clock once into `now`, delivers datagram batches to
/// their handlers, fires due timers, and returns how much work it did.
///
/// ```swift
/// let reactor = try Reactor()
/// let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 41000))
/// let token = try reactor.register(socket, handler: myHandler)
/// _ = try reactor.schedule(after: 1_000_000_000, handler: myTimer)
/// try reactor.run()               // until reactor.stop() or remote.stop()
/// ```
///
/// Other ways to drive it: `runOnce(timeout:)`, `poll()` (never blocks), or wait
/// on `descriptor` in a host loop and call `poll()` when it is readable.
public final class Reactor {
    /// How a reactor is built: backend, timer wheel, capacities, io_uring sizes, the
    /// clock and the logger. Everything sized here is allocated once, in `Reactor.init`.
    ///
    /// ```swift
    /// var configuration = Reactor.Configuration(backend: .auto)
    /// configuration.maxRegistrations = 64
    /// let reactor = try Reactor(configuration)
    /// ```
    public struct Configuration {
        /// The kernel interface: `.epoll` (default), `.uring`, or `.auto` (io_uring where
        /// it works, epoll otherwise; `Reactor.backendKind` says which it got).
        public var backend: BackendKind = .epoll
        /// Timer wheel resolution in nanoseconds (default 100 µs).
        public var timerTick: UInt64 = 100_000
        /// Timer wheel buckets per rotation.
        public var timerSlots: Int = 8192
        /// The most timers alive at once (preallocated).
        public var timerCapacity: Int = 65_536
        /// The most sockets registered at once.
        public var maxRegistrations: Int = 1024
        /// Events reaped per wait.
        public var maxEventsPerWait: Int = 64
        /// io_uring submission queue entries.
        public var uringEntries: Int = 256
        /// io_uring provided buffers per socket, and their size.
        public var uringBufferCount: Int = 1024
        /// io_uring: bytes per provided receive buffer; a longer datagram is truncated.
        public var uringBufferSize: Int = 2048
        /// io_uring send buffers shared by the ring's sockets (one per send in
        /// flight), and their size (the largest datagram io_uring can send).
        public var uringSendBuffers: Int = 256
        /// io_uring: bytes per send buffer, the largest datagram a send on this ring accepts.
        public var uringSendBufferSize: Int = 2048
        /// io_uring TCP: run streams and listeners on completions (multishot
        /// accept and recv, send SQEs); false watches them with poll SQEs and
        /// reads and writes with readv / sendmsg, as epoll does.
        public var uringStreamCompletions: Bool = true
        /// io_uring TCP: provided buffers shared by every stream's multishot recv
        /// (a power of two up to 32768; one reactor-wide buffer group), and
        /// their size in bytes. Allocated (mapped, not touched) at the first
        /// TCP registration.
        public var uringStreamBufferCount: Int = 512
        /// io_uring TCP: bytes per shared receive buffer (at most one buffer per recv completion).
        public var uringStreamBufferSize: Int = 16384
        /// io_uring: datagrams of at least this many bytes go out with
        /// IORING_OP_SEND_ZC / SENDMSG_ZC (0: never). See URingBackend.
        public var uringZeroCopyThreshold: Int = 0
        /// Busy polling: under `run(idle: .spin)` on the epoll backend with at most
        /// this many sockets registered (datagram sockets and TCP streams), a cycle
        /// skips `epoll_wait` and reads every socket directly (recvmmsg or readv,
        /// which say EAGAIN at once when one is empty), as a hand-written spin loop
        /// would: bytes are picked up one system call after they land instead of
        /// two. Posted work is noticed through the mailbox's counter, without the
        /// eventfd. With listeners, descriptors or streams waiting to write also
        /// registered, every `busyPollReadinessEvery`-th cycle waits for readiness
        /// (with a zero timeout) to hear them. More sockets than this, another idle
        /// strategy or io_uring: readiness as usual. 0 turns it off.
        public var busyPollSockets: Int = 4
        /// Busy polling with registrations that need readiness (listeners,
        /// descriptors, connecting or writing streams): one cycle in this many
        /// asks epoll (timeout 0), so they are heard within that many cycles.
        public var busyPollReadinessEvery: Int = 16
        /// The clock; MonotonicClock unless a test supplies another.
        public var clock: (any ReactorClock)? = nil
        /// Diagnostics: setup, the `.auto` fallback, limits hit. Never used per
        /// datagram or per timer. Without `LoggingSystem.bootstrap` swift-log writes
        /// to stderr; give a logger with `logLevel = .critical` to silence it.
        public var logger = Logger(label: "feedreactor.reactor")

        /// A configuration with `backend` and the defaults above.
        public init(backend: BackendKind = .epoll) { self.backend = backend }
    }

    /// What happened so far, for tests, summaries and monitoring.
    public struct Counters: Sendable {
        /// Duty cycles run (`runOnce`, `poll`, each `run` iteration), busy or idle.
        public var cycles: UInt64 = 0
        /// Datagrams delivered to handlers.
        public var datagrams: UInt64 = 0
        /// Batches delivered to handlers (`datagrams / batches` is the mean batch size).
        public var batches: UInt64 = 0
        /// Reserved for truncated datagrams; not incremented at present. A truncated
        /// datagram is flagged on itself: check `Datagram.isTruncated`.
        public var truncated: UInt64 = 0
        /// Timer callbacks run (each firing of a periodic timer counts).
        public var timersFired: UInt64 = 0
        /// Times a handler's `receive` threw (the error went to its `failed`).
        public var handlerErrors: UInt64 = 0
        /// Errors a socket or the backend reported for a registration (each also went to
        /// the handler's `failed`).
        public var socketErrors: UInt64 = 0
        /// Events dropped because their token's generation no longer matched: the
        /// registration was removed after the kernel queued the event. Harmless.
        public var staleEvents: UInt64 = 0
        /// Closures posted through `remote` that ran on the reactor's thread.
        public var posted: UInt64 = 0
        /// io_uring: a socket's provided buffer ring ran empty (-ENOBUFS ended its
        /// multishot receive; the datagrams wait in the socket until it is re-armed).
        public var bufferExhaustions: UInt64 = 0
        /// io_uring: multishot receives re-armed after the kernel ended them.
        public var receiveRearms: UInt64 = 0
        /// Cycles that read the sockets directly instead of waiting for readiness
        /// (`Configuration.busyPollSockets`).
        public var busyPollCycles: UInt64 = 0
        /// Datagrams handed to the kernel by `send` at once (epoll: the system
        /// call took them; io_uring: an SQE holds them).
        public var sendsDirect: UInt64 = 0
        /// Datagrams `send` put into a socket's queue (epoll would-block).
        public var sendsQueued: UInt64 = 0
        /// Datagrams `send` refused (queue full, too large, kernel error, stale token).
        public var sendsRefused: UInt64 = 0
        /// Queued datagrams sent later, when the socket was writable again.
        public var queuedSendsFlushed: UInt64 = 0
        /// Sends that failed after `send` returned (a queued datagram, an io_uring
        /// completion); each also went to the handler's `failed`.
        public var sendErrors: UInt64 = 0
    }

    /// The configuration the reactor was built with.
    public let configuration: Configuration
    /// The backend actually in use: `.epoll` or `.uring`, never `.auto`.
    public let backendKind: BackendKind
    /// The clock reading of the current (or last) duty cycle, in nanoseconds.
    public private(set) var now: UInt64
    /// What the reactor did so far. Plain integer increments on the hot path: read
    /// them on the reactor's thread (or through `remote.run`), e.g. from a timer.
    public var counters: Counters {
        get { tally }
        set { tally = newValue }
    }
    // The counters' storage is internal, not a public stored var: with whole-
    // module optimization the compiler then proves its accesses never overlap
    // and drops the dynamic exclusivity checks (swift_beginAccess, a TLS
    // lookup each) from every send and delivery.
    var tally = Counters()
    /// TCP listeners and streams (Reactor+TCP.swift).
    public internal(set) var tcpCounters = TCPCounters()
    /// The reactor's timer wheel (`schedule(at:...)` and `cancel(_:)` use it);
    /// exposed to inspect `count` and deadlines. Reactor thread only.
    public let timers: TimerWheel
    /// The cross-thread door: post work, wake up, stop.
    public let remote: RemoteHandle

    let backend: any Backend
    let clock: any ReactorClock
    /// Registrations and their generations by token slot (SlotTable: every send
    /// and completion looks one up, with no exclusivity check).
    let registrations: SlotTable<Registration?>
    let generations: SlotTable<UInt32>
    var freeSlots: [UInt32]
    /// The live datagram registrations, in registration order (busy polling walks these).
    var live: ContiguousArray<Registration> = []
    /// Live registrations of other kinds (TCP streams included).
    var otherRegistrations = 0
    /// The registered TCP streams (busy polling reads these directly), in no
    /// particular order: each knows its index, so removal is O(1) however many
    /// connections there are.
    var liveStreams: ContiguousArray<TCPConnection> = []
    /// TCP registrations deregistered, reused by the next ones from the next
    /// duty cycle on, on both backends. No event or completion names the object:
    /// epoll's data and io_uring's user_data carry the token (slot and
    /// generation; an io_uring stream's index and serial), which changes at
    /// deregistration, so one arriving late fails its lookup and is dropped.
    var spareRegistrations: Recycler<Registration>
    var stopped = false
    var closed = false
    /// The mailbox's second array: posted work is swapped into it and run from
    /// it, so a drain allocates nothing.
    var mailboxDrain = ContiguousArray<RemoteHandle.Posted>()
    /// Channels whose items this reactor receives (`attach(_:receiver:)`).
    var channels = ContiguousArray<any ChannelDrain>()

    /// Builds a reactor: opens the backend (epoll instance or io_uring ring),
    /// allocates the registration table and the timer wheel. Create it on the thread
    /// that will run it (io_uring rings are single-issuer).
    ///
    /// - Throws: `ReactorError.backendUnavailable` when `.uring` cannot run here,
    ///   `ReactorError.system` when the kernel refuses the epoll instance, ring or
    ///   eventfd (the error says why, e.g. the locked-memory limit).
    public init(_ configuration: Configuration = Configuration()) throws(ReactorError) {
        self.configuration = configuration
        clock = configuration.clock ?? MonotonicClock()
        now = clock.now()
        timers = TimerWheel(tickNanoseconds: configuration.timerTick, slots: configuration.timerSlots,
                            capacity: configuration.timerCapacity, start: now)
        backend = try BackendFactory.make(configuration)
        backendKind = backend.kind
        configuration.logger.debug("reactor ready", metadata: ["backend": "\(backend.kind)"])
        freeSlots = (0..<UInt32(configuration.maxRegistrations)).reversed()
        spareRegistrations = Recycler(capacity: min(configuration.maxRegistrations, 4096))
        mailboxDrain.reserveCapacity(64)
        do {
            remote = try RemoteHandle()
            try backend.addWakeup(descriptor: remote.eventDescriptor)
        } catch {
            backend.close()
            throw error
        }
        // Last: nothing after it throws, so deinit frees what it allocates.
        registrations = SlotTable(repeating: nil, count: configuration.maxRegistrations)
        generations = SlotTable(repeating: 1, count: configuration.maxRegistrations)
    }

    /// Convenience: a reactor on a given backend.
    public convenience init(backend: BackendKind) throws(ReactorError) {
        try self.init(Configuration(backend: backend))
    }

    deinit {
        close()
        registrations.deallocate()
        generations.deallocate()
    }

    /// Closes every registered socket and the backend. Further use is an error.
    public func close() {
        guard !closed else { return }
        closed = true
        for slot in 0..<registrations.count {
            if let registration = registrations[slot] { _ = deregister(registration.token) }
        }
        backend.close()
    }

    // MARK: - Registration

    /// Registers a socket: from now on its datagrams go to `handler` in batches,
    /// and `send(_:_:to:)` sends through it. The reactor owns the descriptor
    /// until `deregister`. Receive buffers and the send queue are allocated
    /// here, once.
    ///
    /// `interest: []` registers a socket that only sends (a publisher's): the
    /// reactor never reads it, and the backend does not watch it (epoll: not in
    /// the epoll set; io_uring: no receive armed) except while sends wait for
    /// room. A watched socket has a waiter on its wait queue, which the kernel
    /// wakes each time a sent datagram is freed (sock_wfree); a send-only
    /// socket spares that, about a tenth of a loopback send's cost here.
    /// (A datagram socket's writable readiness is the reactor's business while
    /// sends are queued, so `.writable` is not an interest it takes.)
    ///
    /// ```swift
    /// let token = try reactor.register(socket, send: SendOptions(coalesce: true), interest: [], handler: sink)
    /// ```
    @discardableResult
    public func register(_ socket: UDPSocket, options: ReceiveOptions = ReceiveOptions(),
                         send sendOptions: SendOptions = SendOptions(), interest: Interest = .readable,
                         handler: any DatagramHandler) throws(ReactorError) -> Token {
        guard options.slotCount > 0, options.slotSize > 0, options.controlSize >= 0 else {
            throw .invalidArgument("ReceiveOptions: slotCount and slotSize must be positive")
        }
        guard !interest.contains(.writable) else {
            throw .invalidArgument("a datagram socket's interest is .readable or [] (send-only); its writable "
                                   + "readiness is watched while sends are queued, and the handler hears `writable`")
        }
        guard sendOptions.queueCapacity > 0, sendOptions.slotSize > 0 else {
            throw .invalidArgument("SendOptions: queueCapacity and slotSize must be positive")
        }
        let endpoint = DatagramEndpoint(handler: handler, options: options, sendOptions: sendOptions)
        let registration = try add(descriptor: socket.descriptor, kind: .datagram(endpoint), interest: interest,
                                   closesDescriptor: true)
        live.append(registration)
        return registration.token
    }

    /// Registers any descriptor for readiness only (a pipe, a timerfd, an
    /// eventfd, another library's socket): `handler` hears `readable` /
    /// `writable` while the descriptor is ready and that interest is set
    /// (level-triggered); the reactor reads and writes nothing. The descriptor
    /// should be nonblocking. It stays the caller's: the reactor never closes it
    /// unless `closeOnDeregister` is true (then `deregister`, and the reactor's
    /// `close`, close it).
    ///
    /// ```swift
    /// let token = try reactor.register(descriptor: timerfd, interest: .readable, handler: ticks)
    /// ```
    @discardableResult
    public func register(descriptor: Int32, interest: Interest, closeOnDeregister: Bool = false,
                         handler: any DescriptorHandler) throws(ReactorError) -> Token {
        guard descriptor >= 0 else { throw .invalidArgument("register(descriptor:): \(descriptor) is not a descriptor") }
        let registration = try add(descriptor: descriptor, kind: .descriptor(handler), interest: interest,
                                   closesDescriptor: closeOnDeregister)
        otherRegistrations += 1
        return registration.token
    }

    /// Takes a slot and hands the registration to the backend.
    func add(descriptor: Int32, kind: RegistrationKind, interest: Interest,
             closesDescriptor: Bool) throws(ReactorError) -> Registration {
        if closed { throw .stopped }
        guard let slot = freeSlots.popLast() else {
            configuration.logger.warning("registration refused: capacity exhausted",
                                         metadata: ["maxRegistrations": "\(configuration.maxRegistrations)"])
            throw .registrationCapacityExhausted(capacity: configuration.maxRegistrations)
        }
        let token = Token(slot: slot, generation: generations[Int(slot)])
        let registration: Registration
        if kind.isTCP, let spare = spareRegistrations.take() {
            spare.reuse(token: token, descriptor: descriptor, kind: kind, interest: interest, closesDescriptor: closesDescriptor)
            registration = spare
        } else {
            registration = Registration(token: token, descriptor: descriptor, kind: kind, interest: interest,
                                        closesDescriptor: closesDescriptor)
        }
        do {
            try backend.add(registration)
        } catch {
            freeSlots.append(slot)
            throw error
        }
        registrations[Int(slot)] = registration
        return registration
    }

    /// Changes what a plain descriptor registration hears: readable, writable,
    /// both or nothing (epoll: EPOLL_CTL_MOD; io_uring: a poll update SQE). Safe
    /// from inside its callbacks. Throws for a stale token, and for datagram
    /// sockets (always read; watched for writable while sends are queued).
    public func setInterest(_ token: Token, _ interest: Interest) throws(ReactorError) {
        guard let registration = registration(for: token) else { throw .unknownToken(token) }
        if registration.interest == interest { return }
        try backend.setInterest(registration, interest)
        registration.interest = interest
    }

    /// The interest of a live registration (nil for a stale token).
    public func interest(of token: Token) -> Interest? { registration(for: token)?.interest }

    /// Stops receiving for `token` and closes its socket (or, with
    /// `closeSocket: false`, hands the descriptor back to the caller; a plain
    /// descriptor is closed only if it was registered with
    /// `closeOnDeregister: true`). Datagrams still queued for sending are
    /// dropped. Safe from
    /// inside any callback, including the registration's own: the batch being
    /// delivered stays valid until that callback returns, and no further batch
    /// or stale event of this registration is delivered. Returns false for a
    /// stale token.
    @discardableResult
    public func deregister(_ token: Token, closeSocket: Bool = true) -> Bool {
        guard let registration = registration(for: token) else { return false }
        releaseTCP(registration)
        registration.isOpen = false
        backend.remove(registration)
        registrations[Int(token.slot)] = nil
        if case .datagram = registration.kind {
            if let index = live.firstIndex(where: { $0 === registration }) { live.remove(at: index) }
        } else {
            otherRegistrations -= 1
            if case .stream(let connection) = registration.kind { removeLiveStream(connection) }
        }
        generations[Int(token.slot)] &+= 1
        if generations[Int(token.slot)] == 0 { generations[Int(token.slot)] = 1 }
        freeSlots.append(token.slot)
        if closeSocket && registration.closesDescriptor { System.close(registration.descriptor) }
        if registration.kind.isTCP {
            registration.retire()
            spareRegistrations.retire(registration)
        }
        return true
    }

    /// The socket of a live registration (to send on it). No system call.
    @inline(__always)
    public func socket(for token: Token) -> UDPSocket? {
        guard let registration = registration(for: token) else { return nil }
        return UDPSocket(registered: registration.descriptor)
    }

    /// Registrations alive now (sockets, descriptors, TCP listeners and streams).
    public var registrationCount: Int { configuration.maxRegistrations - freeSlots.count }

    /// True while `token`'s registration lives (no reference to it taken).
    @inline(__always)
    func isLive(_ token: Token) -> Bool {
        let slot = Int(token.slot)
        return slot < registrations.count && generations[slot] == token.generation
    }

    @inline(__always)
    func registration(for token: Token) -> Registration? {
        isLive(token) ? registrations[Int(token.slot)] : nil
    }

    // MARK: - Timers

    /// Schedules `handler` at an absolute deadline (nanoseconds on this reactor's
    /// clock). `period` > 0 repeats without drift. O(1), no allocation.
    @discardableResult
    public func schedule(at deadline: UInt64, period: UInt64 = 0, tag: UInt64 = 0,
                         handler: any TimerHandler) throws(ReactorError) -> TimerHandle {
        try timers.schedule(at: deadline, period: period, tag: tag, handler: handler)
    }

    /// Schedules `handler` `delay` nanoseconds after `now`.
    @discardableResult
    public func schedule(after delay: UInt64, period: UInt64 = 0, tag: UInt64 = 0,
                         handler: any TimerHandler) throws(ReactorError) -> TimerHandle {
        try timers.schedule(at: now &+ delay, period: period, tag: tag, handler: handler)
    }

    /// Cancels a timer scheduled with `schedule(at:...)` / `schedule(after:...)`.
    /// Returns false when it already fired (a one-shot) or was cancelled: harmless.
    @discardableResult
    public func cancel(_ timer: TimerHandle) -> Bool { timers.cancel(timer) }

    /// Nanoseconds until the next timer is due: 0 if one is due now, -1 if none.
    public var nanosecondsUntilNextTimer: Int64 {
        guard let deadline = timers.nextDeadline() else { return -1 }
        let current = clock.now()
        return deadline <= current ? 0 : Int64(clamping: deadline - current)
    }

    // MARK: - Running

    /// A descriptor that becomes readable when the reactor has I/O to handle. A
    /// host loop waits on it (with `nanosecondsUntilNextTimer` as its timeout) and
    /// calls `poll()` when it is readable or the timeout passes.
    public var descriptor: Int32 { backend.descriptor }

    /// One duty cycle that never blocks. Returns the work done (datagrams,
    /// timers, posted closures).
    @discardableResult
    public func poll() throws(ReactorError) -> Int {
        try cycle(waitNanoseconds: 0)
    }

    /// One duty cycle that waits up to `timeout` nanoseconds (nil: until I/O or the
    /// next timer) for something to do.
    @discardableResult
    public func runOnce(timeout: UInt64? = nil) throws(ReactorError) -> Int {
        var wait = nanosecondsUntilNextTimer
        if let timeout {
            let limit = Int64(clamping: timeout)
            wait = wait < 0 ? limit : min(wait, limit)
        }
        return try cycle(waitNanoseconds: wait)
    }

    /// Runs duty cycles until `stop()` (or `remote.stop()`), idling per `idle`
    /// when a cycle found no work.
    public func run(idle: IdleStrategy = .block) throws(ReactorError) {
        stopped = false
        // A local, not a property: mutating a class's stored property around an
        // opaque call (the pause, the yield) costs a dynamic exclusivity check
        // per empty cycle.
        var idleState = IdleState(idle)
        var sinceReadiness = 0
        while !stopped && !remote.stopRequested.load(ordering: .acquiring) {
            // (Re-decided every cycle: handlers register and deregister sockets.)
            var busyPolling = idle == .spin && backend.readsDirectly
                && live.count + liveStreams.count <= configuration.busyPollSockets
            if busyPolling && otherRegistrations > 0 {
                // Listeners, descriptors and streams' writable or connect events
                // come only from readiness: ask for it one cycle in N.
                sinceReadiness += 1
                if sinceReadiness >= configuration.busyPollReadinessEvery {
                    sinceReadiness = 0
                    busyPolling = false
                }
            }
            let work = busyPolling
                ? try busyPollCycle()
                : try cycle(waitNanoseconds: idle == .block ? nanosecondsUntilNextTimer : 0)
            // Busy polling needs no pause: its system calls are one.
            if work == 0 && !busyPolling {
                idleState?.idle { timers.count > 0 ? nanosecondsUntilNextTimer : -1 }
            } else {
                idleState?.emptyCycles = 0
            }
        }
        remote.stopRequested.store(false, ordering: .releasing)
    }

    /// Makes `run()` return after the current duty cycle (reactor thread; from
    /// other threads use `remote.stop()`).
    public func stop() { stopped = true }

    /// The duty cycle: wait, read the clock once, dispatch I/O, fire timers,
    /// then submit what the handlers and timers prepared (io_uring SQEs).
    @inline(__always)
    func cycle(waitNanoseconds: Int64) throws(ReactorError) -> Int {
        if closed { throw .stopped }
        spareRegistrations.releaseRetired()
        _ = try backend.wait(timeoutNanoseconds: waitNanoseconds)
        now = clock.now()
        tally.cycles &+= 1
        var work = backend.dispatch(into: self)
        if timers.count > 0 { work += fireDueTimers() }
        if !closed { backend.submit(reactor: self) }
        return work
    }

    /// Fires the timers due at `now`; returns how many fired.
    @inline(__always)
    func fireDueTimers() -> Int {
        let fired = timers.advance(to: now) { handle, handler, tag in
            handler.timerFired(handle, tag: tag, now: now, reactor: self)
        }
        tally.timersFired &+= UInt64(fired)
        return fired
    }

    /// A duty cycle without readiness: read each socket, run posted work, fire
    /// timers. Only for backends that can read a socket outside a wait (epoll).
    func busyPollCycle() throws(ReactorError) -> Int {
        if closed { throw .stopped }
        now = clock.now()
        tally.cycles &+= 1
        tally.busyPollCycles &+= 1
        var work = 0
        var index = 0
        // A handler may deregister sockets (shrinking `live`): index, don't iterate.
        while index < live.count {
            work += backend.pollDirectly(live[index], into: self)
            index += 1
        }
        // The same for streams: readv until EAGAIN (a callback may close any).
        index = 0
        while index < liveStreams.count {
            let connection = liveStreams[index]
            if connection.wantsRead { work += connection.readReady(reactor: self) }
            index += 1
        }
        if remote.hasWork {
            work += backend.drainWakeup(into: self)
        }
        if timers.count > 0 { work += fireDueTimers() }
        return work
    }

    // MARK: - Called by backends

    /// Hands the first `count` datagram descriptors of a registration to its handler.
    @inline(__always)
    func deliver(_ registration: Registration, _ endpoint: DatagramEndpoint, count: Int) {
        tally.datagrams &+= UInt64(count)
        tally.batches &+= 1
        let batch = DatagramBatch(base: endpoint.datagrams, count: count, token: registration.token)
        do {
            try endpoint.handler.receive(batch, reactor: self)
        } catch {
            tally.handlerErrors &+= 1
            endpoint.handler.failed(error, token: registration.token, reactor: self)
        }
    }

    /// A plain descriptor is ready: readable first, then writable (unless the
    /// handler deregistered it or dropped the interest meanwhile). Returns the
    /// callbacks run.
    @inline(__always)
    func descriptorReady(_ registration: Registration, _ handler: any DescriptorHandler,
                         readable: Bool, writable: Bool) -> Int {
        var work = 0
        if readable && registration.interest.contains(.readable) {
            handler.readable(token: registration.token, reactor: self)
            work += 1
        }
        if writable && registration.isOpen && registration.interest.contains(.writable) {
            handler.writable(token: registration.token, reactor: self)
            work += 1
        }
        return work
    }

    /// A socket reported an error (ECONNREFUSED from a vanished peer, ENOBUFS, ...),
    /// or the backend could no longer watch a descriptor.
    func socketFailed(_ registration: Registration, _ error: SystemError) {
        tally.socketErrors &+= 1
        failed(registration, ReactorError.system(error))
    }

    /// A send failed after `send` returned (queued datagram, io_uring completion).
    func sendFailed(_ registration: Registration, _ error: SystemError) {
        tally.sendErrors &+= 1
        failed(registration, ReactorError.system(error))
    }

    func failed(_ registration: Registration, _ error: ReactorError) {
        switch registration.kind {
        case .datagram(let endpoint): endpoint.handler.failed(error, token: registration.token, reactor: self)
        case .descriptor(let handler): handler.failed(error, token: registration.token, reactor: self)
        case .stream(let connection): connection.backendFailed(error, reactor: self)
        case .listener(let listener): listener.backendFailed(error, reactor: self)
        }
    }

    /// A socket whose sends were queued or refused can take more again.
    func sendsDrained(_ registration: Registration, _ endpoint: DatagramEndpoint) {
        endpoint.handler.writable(token: registration.token, reactor: self)
    }

    /// Runs work posted from other threads and what ready channels hold, after
    /// the backend read the wakeup eventfd. Returns how many items ran.
    func drainMailbox() -> Int {
        remote.consumeWakeup()
        // Empty unless a posted closure drives this reactor itself (runOnce
        // inside posted work): the outer drain is still running that array.
        let count = mailboxDrain.isEmpty ? remote.take(into: &mailboxDrain) : 0
        if count > 0 {
            // Index, don't iterate: iterating would retain the array, and the
            // removeAll below would then copy it instead of keeping its capacity.
            for index in 0..<count { mailboxDrain[index].work(self) }
            mailboxDrain.removeAll(keepingCapacity: true)
            tally.posted &+= UInt64(count)
        }
        var work = count
        if remote.channelsReady.exchange(false, ordering: .sequentiallyConsistent) { work += drainChannels() }
        if remote.stopRequested.load(ordering: .acquiring) { stopped = true }
        return work
    }
}
