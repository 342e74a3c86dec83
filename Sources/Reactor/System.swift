import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a nonblocking system call: it did something, or there was
/// nothing to do now. Anything else is a thrown `SystemError`.
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// The one layer of libc/CFeedReactor calls. Each wrapper:
/// - retries EINTR (done in C for the data-path calls),
/// - returns `.wouldBlock` for EAGAIN where that is a normal answer,
/// - traps, naming the call, for an errno that can only mean a bug in this
///   package (EBADF, EFAULT, ENOTSOCK: we passed a descriptor or pointer we do
///   not own),
/// - throws `SystemError` otherwise.
///
/// Tests inject failures here through `SystemFaults`.
@usableFromInline
enum System {
    @inline(__always)
    static func check(_ rc: Int, _ call: StaticString) throws(SystemError) -> Int {
        if rc >= 0 { return rc }
        let errno = Int32(-rc)
        trapOnBug(errno, call)
        throw SystemError(call: "\(call)", errno: errno)
    }

    @inline(__always)
    static func trapOnBug(_ errno: Int32, _ call: StaticString) {
        if errno == EBADF || errno == EFAULT || errno == ENOTSOCK {
            fatalError("\(call) returned \(String(cString: strerror(errno))): a FeedReactor bug (descriptor or buffer not ours)")
        }
    }

    @inline(__always)
    static func injected(_ call: SystemFaults.Call) -> Int32? {
        SystemFaults.enabled ? SystemFaults.take(call) : nil
    }

    static func receiveBatch(fd: Int32, messages: UnsafeMutablePointer<fr_mmsghdr>, count: Int,
                             controlSize: Int, into out: UnsafeMutablePointer<fr_datagram>) throws(SystemError) -> IOResult<Int> {
        if let errno = injected(.recvmmsg) {
            if errno == EAGAIN { return .wouldBlock }
            throw SystemError(call: "recvmmsg", errno: errno)
        }
        let n = fr_batch_receive(fd, messages, UInt32(count), controlSize, out)
        if n == -EAGAIN { return .wouldBlock }
        return .processed(try check(Int(n), "recvmmsg"))
    }

    /// One datagram into slot 0 (busy polling). Faults: the `.recvmmsg` injection.
    static func receiveOne(fd: Int32, messages: UnsafeMutablePointer<fr_mmsghdr>, controlSize: Int,
                           into out: UnsafeMutablePointer<fr_datagram>) throws(SystemError) -> IOResult<Int> {
        if let errno = injected(.recvmmsg) {
            if errno == EAGAIN { return .wouldBlock }
            throw SystemError(call: "recvfrom", errno: errno)
        }
        let n = fr_receive_one(fd, messages, controlSize, out)
        if n == -EAGAIN { return .wouldBlock }
        return .processed(try check(Int(n), controlSize == 0 ? "recvfrom" : "recvmsg"))
    }

    static func sendTo(fd: Int32, bytes: UnsafeRawBufferPointer, address: UnsafePointer<sockaddr>?,
                       length: socklen_t) throws(SystemError) -> IOResult<Int> {
        if let errno = injected(.sendto) {
            if errno == EAGAIN { return .wouldBlock }
            throw SystemError(call: "sendto", errno: errno)
        }
        let n = fr_sendto(fd, bytes.baseAddress, bytes.count, address, length)
        if n == -Int(EAGAIN) { return .wouldBlock }
        return .processed(try check(n, "sendto"))
    }

    static func sendBatch(fd: Int32, messages: UnsafeMutablePointer<fr_mmsghdr>, count: Int) throws(SystemError) -> IOResult<Int> {
        if let errno = injected(.sendmmsg) {
            if errno == EAGAIN { return .wouldBlock }
            throw SystemError(call: "sendmmsg", errno: errno)
        }
        let n = fr_sendmmsg(fd, messages, UInt32(count))
        if n == -EAGAIN { return .wouldBlock }
        return .processed(try check(Int(n), "sendmmsg"))
    }

    static func epollWait(_ epfd: Int32, _ events: UnsafeMutableRawPointer, _ max: Int, timeoutNanos: Int64) throws(SystemError) -> Int {
        if let errno = injected(.epollWait) {
            if errno == EINTR { return 0 }
            throw SystemError(call: "epoll_wait", errno: errno)
        }
        let n = fr_epoll_wait(epfd, events.assumingMemoryBound(to: epoll_event.self), Int32(max), timeoutNanos)
        return try check(Int(n), "epoll_wait")
    }

    static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, data: UInt64) throws(SystemError) {
        if let errno = injected(.epollCtl) { throw SystemError(call: "epoll_ctl", errno: errno) }
        _ = try check(Int(fr_epoll_ctl(epfd, op, fd, events, data)), "epoll_ctl")
    }

    // MARK: io_uring submission (the SQE-preparing calls of URingBackend)

    /// Runs an SQE-preparing shim call (`prepare` returns 0 or -errno; -EBUSY:
    /// no SQE even after submitting what was queued). Faults: `.uringSQE`.
    @inline(__always)
    static func uringPrepare(_ call: StaticString, _ prepare: () -> Int32) throws(SystemError) {
        if let errno = injected(.uringSQE) { throw SystemError(call: "\(call)", errno: errno) }
        let rc = prepare()
        if rc < 0 { throw SystemError(call: "\(call)", errno: -rc) }
    }

    /// io_uring_submit of what is queued. Faults: `.uringSubmit`.
    static func uringSubmit(_ ring: OpaquePointer) throws(SystemError) {
        if let errno = injected(.uringSubmit) { throw SystemError(call: "io_uring_submit", errno: errno) }
        let rc = fr_uring_submit(ring)
        if rc < 0 { throw SystemError(call: "io_uring_submit", errno: -rc) }
    }

    // MARK: plain descriptors (pipes, timerfds)

    /// A nonblocking, close-on-exec pipe: (read end, write end).
    static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        if let errno = injected(.pipe) { throw SystemError(call: "pipe2", errno: errno) }
        var fds: (Int32, Int32) = (-1, -1)
        let rc = withUnsafeMutablePointer(to: &fds) { $0.withMemoryRebound(to: Int32.self, capacity: 2) { fr_pipe($0) } }
        _ = try check(Int(rc), "pipe2")
        return (fds.0, fds.1)
    }

    /// A nonblocking, close-on-exec CLOCK_MONOTONIC timerfd.
    static func timerfdCreate() throws(SystemError) -> Int32 {
        if let errno = injected(.timerfd) { throw SystemError(call: "timerfd_create", errno: errno) }
        return Int32(try check(Int(fr_timerfd_create()), "timerfd_create"))
    }

    /// Arms a timerfd: first expiry after `initial` ns (0 disarms), then every `interval` ns.
    static func timerfdSet(_ fd: Int32, initial: UInt64, interval: UInt64) throws(SystemError) {
        if let errno = injected(.timerfd) { throw SystemError(call: "timerfd_settime", errno: errno) }
        _ = try check(Int(fr_timerfd_set(fd, initial, interval)), "timerfd_settime")
    }

    /// read(2) of a nonblocking descriptor.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        let n = fr_read(fd, buffer.baseAddress, buffer.count)
        if n == -Int(EAGAIN) { return .wouldBlock }
        return .processed(try check(n, "read"))
    }

    /// write(2) of a nonblocking descriptor.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        let n = fr_write(fd, bytes.baseAddress, bytes.count)
        if n == -Int(EAGAIN) { return .wouldBlock }
        return .processed(try check(n, "write"))
    }

    static func close(_ fd: Int32) {
        let rc = fr_close(fd)
        if rc < 0 { trapOnBug(-rc, "close") }
    }
}

/// Test hook: make the next call(s) of a wrapped system call fail with an errno,
/// as the kernel would. Off (one branch on a global) unless a test enables it.
/// Used by tests on the reactor thread only.
public enum SystemFaults {
    public enum Call: Int, CaseIterable, Sendable {
        case recvmmsg, sendto, sendmmsg, epollWait
        // Reactor v2: registrations, io_uring submission, plain descriptors.
        case epollCtl, uringSQE, uringSubmit, pipe, timerfd
        // TCP (System+TCP.swift)
        case tcpSocket, bind, listen, accept, connect, setsockopt, readv, sendv, shutdown
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var pending: [[Int32]] = Array(repeating: [], count: Call.allCases.count)

    /// Queue `errno` for the next `times` calls of `call`.
    public static func inject(_ call: Call, errno: Int32, times: Int = 1) {
        pending[call.rawValue].append(contentsOf: repeatElement(errno, count: times))
        enabled = true
    }

    public static func reset() {
        pending = Array(repeating: [], count: Call.allCases.count)
        enabled = false
    }

    static func take(_ call: Call) -> Int32? {
        guard !pending[call.rawValue].isEmpty else { return nil }
        return pending[call.rawValue].removeFirst()
    }
}
