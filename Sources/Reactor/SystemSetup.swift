import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// The syscall layer's setup half: sockets, socket options, eventfds, threads
/// and CPU affinity, multicast membership, and the few pure libc helpers
/// (address text, errno text). Hot-path calls live in System.swift. Every
/// wrapper that reaches the kernel has a `SystemFaults` injection point, so
/// tests can make any of them fail as the kernel would.
extension System {
    /// Throws the injected errno of `call` on this thread, if one is queued.
    @inline(__always)
    static func failIfInjected(_ call: SystemFaults.Call, _ name: @autoclosure () -> String) throws(SystemError) {
        if let errno = injected(call) { throw SystemError(call: name(), errno: errno) }
    }

    /// Converts a C shim result (`>= 0` or `-errno`) to a value or a thrown error.
    @inline(__always)
    static func result(_ rc: Int32, _ name: @autoclosure () -> String) throws(SystemError) -> Int32 {
        guard rc >= 0 else { throw SystemError(call: name(), errno: -rc) }
        return rc
    }

    // MARK: - Sockets

    /// socket(2): a nonblocking, close-on-exec UDP socket.
    package static func udpSocket(family: Int32) throws(SystemError) -> Int32 {
        try failIfInjected(.socket, "socket")
        return try result(fr_socket_udp(family), "socket")
    }

    package static func setNonblocking(_ fd: Int32) throws(SystemError) {
        try failIfInjected(.fcntl, "fcntl(O_NONBLOCK)")
        _ = try result(fr_set_nonblocking(fd), "fcntl(O_NONBLOCK)")
    }

    /// setsockopt(2) with an int value; `call` names the option in errors.
    package static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32, call: String) throws(SystemError) {
        try failIfInjected(.setsockopt, call)
        _ = try result(fr_setsockopt_int(fd, level, name, value), call)
    }

    package static func option(_ fd: Int32, level: Int32, name: Int32) throws(SystemError) -> Int32 {
        try failIfInjected(.getsockopt, "getsockopt")
        var value: Int32 = 0
        _ = try result(fr_getsockopt_int(fd, level, name, &value), "getsockopt")
        return value
    }

    /// SO_RCVBUF / SO_SNDBUF (the FORCE variants as root, past net.core.*mem_max).
    /// Returns what the kernel reports afterwards.
    package static func setBuffer(_ fd: Int32, receive: Bool, bytes: Int) throws(SystemError) -> Int {
        let call = receive ? "setsockopt(SO_RCVBUF)" : "setsockopt(SO_SNDBUF)"
        try failIfInjected(.setsockopt, call)
        let force: Int32 = isRoot ? 1 : 0
        let rc = receive ? fr_set_receive_buffer(fd, Int32(clamping: bytes), force)
                         : fr_set_send_buffer(fd, Int32(clamping: bytes), force)
        return Int(try result(rc, call))
    }

    package static func bind(_ fd: Int32, to address: SocketAddress) throws(SystemError) {
        try failIfInjected(.bind, "bind(\(address))")
        let rc = address.withSockaddr { fr_bind(fd, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        _ = try result(rc, "bind(\(address))")
    }

    package static func connect(_ fd: Int32, to address: SocketAddress) throws(SystemError) {
        try failIfInjected(.connect, "connect(\(address))")
        let rc = address.withSockaddr { fr_connect(fd, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        _ = try result(rc, "connect(\(address))")
    }

    package static func localAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        try failIfInjected(.getsockname, "getsockname")
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        _ = try result(fr_getsockname(fd, &storage, &length), "getsockname")
        // Safety: getsockname stored `length` bytes of a sockaddr into storage.
        guard let address = withUnsafeBytes(of: &storage, { SocketAddress(raw: $0.baseAddress!, length: Int(length)) }) else {
            throw SystemError(call: "getsockname", errno: EAFNOSUPPORT)
        }
        return address
    }

    /// recvfrom(2) of one datagram, for tools and tests (no reactor).
    package static func receiveFrom(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer)
        throws(SystemError) -> IOResult<(length: Int, from: SocketAddress?, truncated: Bool)> {
        if let errno = injected(.recvfrom) {
            if errno == EAGAIN { return .wouldBlock }
            throw SystemError(call: "recvfrom", errno: errno)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        var truncated: Int32 = 0
        let n = fr_recvfrom(fd, buffer.baseAddress, buffer.count, &storage, &length, &truncated)
        if n == -Int(EAGAIN) { return .wouldBlock }
        let count = try check(n, "recvfrom")
        let from = withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: Int(length)) }
        return .processed((count, from, truncated != 0))
    }

    // MARK: - Multicast (joins and socket options)

    /// MCAST_JOIN_GROUP / MCAST_JOIN_SOURCE_GROUP (join) or their LEAVE twins.
    /// Returns 0 or -errno: the caller maps errnos to its own typed errors.
    package static func multicastMembership(_ fd: Int32, join: Bool, interfaceIndex: UInt32,
                                            group: SocketAddress, source: SocketAddress?) -> Int32 {
        if let errno = injected(join ? .multicastJoin : .multicastLeave) { return -errno }
        return group.withSockaddr { groupRaw, groupLength in
            let groupPointer = groupRaw.assumingMemoryBound(to: sockaddr.self)
            guard let source else {
                return fr_mc_membership(fd, join ? 1 : 0, interfaceIndex, groupPointer, groupLength, nil, 0)
            }
            return source.withSockaddr { sourceRaw, sourceLength in
                fr_mc_membership(fd, join ? 1 : 0, interfaceIndex, groupPointer, groupLength,
                                 sourceRaw.assumingMemoryBound(to: sockaddr.self), sourceLength)
            }
        }
    }

    /// Receiver options: IP(V6)_MULTICAST_ALL off, pktinfo, SO_TIMESTAMPNS.
    package static func configureMulticastReceiver(_ fd: Int32, family: Int32, packetInfo: Bool,
                                                   timestamps: Bool) throws(SystemError) {
        let call = "setsockopt(multicast receive options)"
        try failIfInjected(.setsockopt, call)
        _ = try result(fr_mc_configure_receiver(fd, family, packetInfo ? 1 : 0, timestamps ? 1 : 0), call)
    }

    /// Sender options: outgoing interface, TTL / hop limit, loopback.
    package static func configureMulticastSender(_ fd: Int32, family: Int32, interfaceIndex: UInt32,
                                                 hops: Int32, loop: Bool) throws(SystemError) {
        let call = "setsockopt(multicast send options)"
        try failIfInjected(.setsockopt, call)
        _ = try result(fr_mc_configure_sender(fd, family, interfaceIndex, hops, loop ? 1 : 0), call)
    }

    // MARK: - Address text (pure libc, no kernel: nothing to inject)

    /// inet_pton for AF_INET then AF_INET6 into 16 bytes; the family, or nil.
    package static func parseAddress(_ text: String, into bytes: UnsafeMutableRawPointer) -> Int32? {
        if inet_pton(AF_INET, text, bytes) == 1 { return AF_INET }
        if inet_pton(AF_INET6, text, bytes) == 1 { return AF_INET6 }
        return nil
    }

    /// inet_ntop of 4 or 16 network-order bytes.
    package static func formatAddress(family: Int32, bytes: UnsafeRawPointer) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text in
            guard inet_ntop(family, bytes, text.baseAddress, socklen_t(INET6_ADDRSTRLEN)) != nil else { return nil }
            return String(cString: text.baseAddress!)
        }
    }

    /// strerror_r: the text of an errno (thread-safe, unlike strerror).
    package static func errorText(_ errno: Int32) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 128) { text in
            fr_strerror(errno, text.baseAddress, 128)
            return String(cString: text.baseAddress!)
        }
    }

    package static var isRoot: Bool { fr_geteuid() == 0 }

    // MARK: - io_uring registered files

    /// IORING_REGISTER_FILES of an empty (sparse) table of `count` slots.
    /// Faults: `.uringRegister`.
    static func uringRegisterFiles(_ ring: OpaquePointer, count: Int) throws(SystemError) {
        try failIfInjected(.uringRegister, "io_uring_register(IORING_REGISTER_FILES)")
        _ = try result(fr_uring_files_register(ring, UInt32(count)), "io_uring_register(IORING_REGISTER_FILES)")
    }

    /// IORING_REGISTER_FILES_UPDATE of one slot (fd -1 empties it). Faults: `.uringRegister`.
    static func uringSetFile(_ ring: OpaquePointer, slot: UInt32, descriptor: Int32) throws(SystemError) {
        try failIfInjected(.uringRegister, "io_uring_register(IORING_REGISTER_FILES_UPDATE)")
        _ = try result(fr_uring_files_set(ring, slot, descriptor), "io_uring_register(IORING_REGISTER_FILES_UPDATE)")
    }

    // MARK: - Eventfd (the cross-thread wakeup)

    package static func eventDescriptor() throws(SystemError) -> Int32 {
        try failIfInjected(.eventfd, "eventfd")
        return try result(fr_eventfd(), "eventfd")
    }

    /// Adds 1 to an eventfd (a saturated counter already means "wake up").
    @inline(__always)
    package static func signal(eventDescriptor fd: Int32) {
        let rc = fr_eventfd_signal(fd)
        if rc < 0 { trapOnBug(-rc, "write(eventfd)") }
    }

    /// Resets an eventfd's counter (EAGAIN: it was zero).
    @inline(__always)
    package static func drain(eventDescriptor fd: Int32) {
        let rc = fr_eventfd_drain(fd)
        if rc < 0 { trapOnBug(-rc, "read(eventfd)") }
    }

    // MARK: - Idling

    @inline(__always) package static func cpuRelax() { fr_cpu_relax() }
    @inline(__always) package static func yield() { _ = fr_sched_yield() }
    @inline(__always) package static func sleep(nanoseconds: UInt64) { fr_sleep_ns(nanoseconds) }

    // MARK: - Threads and CPUs

    /// pthread_create of a joinable thread running `body`.
    package static func startThread(_ body: @escaping () -> Void) throws(SystemError) -> pthread_t {
        try failIfInjected(.threadCreate, "pthread_create")
        final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
        let box = Unmanaged.passRetained(Box(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            // Safety: raw is the retained Box passed below; taken back exactly once.
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw SystemError(call: "pthread_create", errno: rc)
        }
        return thread
    }

    package static func join(_ thread: pthread_t) {
        let rc = pthread_join(thread, nil)
        if rc != 0 { fatalError("pthread_join returned \(errorText(rc)): a FeedReactor bug (thread joined twice?)") }
    }

    /// sched_setaffinity of the calling thread to one CPU.
    package static func pinCurrentThread(toCPU cpu: Int) throws(SystemError) {
        try failIfInjected(.setAffinity, "sched_setaffinity(cpu \(cpu))")
        _ = try result(fr_pin_to_cpu(Int32(cpu)), "sched_setaffinity(cpu \(cpu))")
    }

    /// sched_setaffinity of the calling thread to `cpus` (as `currentAffinity` gave them).
    package static func setAffinity(_ cpus: [Int]) throws(SystemError) {
        try failIfInjected(.setAffinity, "sched_setaffinity")
        let values = cpus.map { Int32($0) }
        _ = try result(fr_set_affinity(values, Int32(values.count)), "sched_setaffinity")
    }

    /// sched_getaffinity of the calling thread: the CPUs it may run on, ascending.
    package static func currentAffinity() throws(SystemError) -> [Int] {
        try failIfInjected(.getAffinity, "sched_getaffinity")
        var cpus = [Int32](repeating: 0, count: 1024)
        let n = try result(fr_current_affinity(&cpus, Int32(cpus.count)), "sched_getaffinity")
        return cpus.prefix(Int(n)).map(Int.init)
    }

    /// Online CPUs (sysconf), at least 1.
    package static var onlineCPUs: Int { max(1, Int(fr_online_cpus())) }
}

extension System {
    /// A one-shot gate between threads (pthread mutex + condition variable):
    /// `wait` blocks until some thread called `open`. For thread start-up and
    /// hand-offs, never on a reactor's hot path.
    package final class Latch: @unchecked Sendable {
        var mutex = pthread_mutex_t()
        var condition = pthread_cond_t()
        var isOpen = false

        package init() {
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&condition, nil)
        }

        deinit {
            pthread_cond_destroy(&condition)
            pthread_mutex_destroy(&mutex)
        }

        package func open() {
            pthread_mutex_lock(&mutex)
            isOpen = true
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }

        package func wait() {
            pthread_mutex_lock(&mutex)
            while !isOpen { pthread_cond_wait(&condition, &mutex) }
            pthread_mutex_unlock(&mutex)
        }

        /// Waits at most `nanoseconds`; true if it opened.
        package func wait(nanoseconds: UInt64) -> Bool {
            let deadline = fr_realtime_ns() &+ nanoseconds
            var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            pthread_mutex_lock(&mutex)
            while !isOpen {
                if pthread_cond_timedwait(&condition, &mutex, &time) == ETIMEDOUT { break }
            }
            let opened = isOpen
            pthread_mutex_unlock(&mutex)
            return opened
        }
    }

    package static func isCurrentThread(_ thread: pthread_t) -> Bool { pthread_equal(pthread_self(), thread) != 0 }
}
