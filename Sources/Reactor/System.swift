import CFeedReactor
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of a nonblocking system call: it did something, or there was
/// nothing to do now. Anything else is a thrown `SystemError`.
public enum IOResult<Value> {
    /// The call did its work; the value is what it produced (a count, a length).
    case processed(Value)
    /// EAGAIN / EWOULDBLOCK: nothing to do now; wait for readiness and try again.
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
/// Tests inject failures here through `SystemFaults`. Package access: the
/// Multicast module and the CLI call the system through it too.
package enum System {
    @inline(__always)
    package static func check(_ rc: Int, _ call: StaticString) throws(SystemError) -> Int {
        if rc >= 0 { return rc }
        let errno = Int32(-rc)
        trapOnBug(errno, call)
        throw SystemError(call: "\(call)", errno: errno)
    }

    @inline(__always)
    package static func trapOnBug(_ errno: Int32, _ call: StaticString) {
        if errno == EBADF || errno == EFAULT || errno == ENOTSOCK {
            fatalError("\(call) returned \(errorText(errno)): a FeedReactor bug (descriptor or buffer not ours)")
        }
    }

    /// The errno injected for the next `call` on this thread, if any. One relaxed
    /// atomic load when no thread has injected anything.
    @inline(__always)
    package static func injected(_ call: SystemFaults.Call) -> Int32? {
        SystemFaults.activeThreads.load(ordering: .relaxed) > 0 ? SystemFaults.take(call) : nil
    }

    /// The most items the next `call` on this thread may handle (a partial
    /// sendmmsg, as a full socket buffer would give), if a test said so.
    @inline(__always)
    package static func limit(_ call: SystemFaults.Call) -> Int? {
        SystemFaults.activeThreads.load(ordering: .relaxed) > 0 ? SystemFaults.takeLimit(call) : nil
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
        let n = fr_sendmmsg(fd, messages, UInt32(min(count, limit(.sendmmsg) ?? count)))
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

    /// io_uring_submit of what is queued; with `waitFor` > 0 also waits (at most
    /// `timeout` ns) for that many completions. Faults: `.uringSubmit`.
    static func uringSubmit(_ ring: OpaquePointer, waitFor: Int = 0, timeout: Int64 = 1_000_000) throws(SystemError) {
        if let errno = injected(.uringSubmit) { throw SystemError(call: "io_uring_submit", errno: errno) }
        let rc = waitFor > 0 ? fr_uring_submit_wait(ring, UInt32(clamping: waitFor), timeout) : fr_uring_submit(ring)
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

    package static func close(_ fd: Int32) {
        let rc = fr_close(fd)
        if rc < 0 { trapOnBug(-rc, "close") }
    }
}

/// Test hook: make the next call(s) of a wrapped system call fail with an errno,
/// as the kernel would, or handle fewer items than asked (a partial sendmmsg).
///
/// Faults are per thread: what a test injects applies only to system calls made
/// on the thread that injected them, so suites running in parallel never see
/// each other's faults. Drive the reactor under test on the injecting thread (a
/// synchronous test does), and `reset()` when done (`defer`). With no thread
/// injecting, each wrapped call costs one relaxed atomic load.
package enum SystemFaults {
    package enum Call: Int, CaseIterable, Sendable {
        case recvmmsg, sendto, sendmmsg, epollWait
        case socket, setsockopt, getsockopt, fcntl, bind, connect, getsockname, recvfrom
        case eventfd, multicastJoin, multicastLeave, threadCreate, setAffinity, getAffinity
        // Reactor v2: registrations, io_uring submission, plain descriptors.
        case epollCtl, uringSQE, uringSubmit, pipe, timerfd
        // io_uring registered files (a datagram socket's sends use its slot).
        case uringRegister
        // TCP (System+TCP.swift)
        case tcpSocket, listen, accept, readv, sendv, shutdown   // (bind, connect, setsockopt: shared with UDP setup)
    }

    /// Threads with a fault table installed (the fast-path switch).
    package static let activeThreads = Atomic<Int>(0)

    /// One thread's faults; reachable only from that thread (a C thread-local).
    final class Table {
        var pending: [[Int32]] = Array(repeating: [], count: Call.allCases.count)
        var limits: [Int?] = Array(repeating: nil, count: Call.allCases.count)
    }

    /// This thread's table, created on first use.
    static var table: Table {
        if let raw = fr_thread_fault_table() { return Unmanaged<Table>.fromOpaque(raw).takeUnretainedValue() }
        let table = Table()
        fr_set_thread_fault_table(Unmanaged.passRetained(table).toOpaque())
        activeThreads.add(1, ordering: .relaxed)
        return table
    }

    /// Queue `errno` for the next `times` calls of `call` on this thread.
    package static func inject(_ call: Call, errno: Int32, times: Int = 1) {
        table.pending[call.rawValue].append(contentsOf: repeatElement(errno, count: times))
    }

    /// Let the next `call` on this thread handle at most `count` items (sendmmsg:
    /// datagrams), once.
    package static func limit(_ call: Call, to count: Int) {
        table.limits[call.rawValue] = count
    }

    /// Forgets this thread's faults.
    package static func reset() {
        guard let raw = fr_thread_fault_table() else { return }
        fr_set_thread_fault_table(nil)
        Unmanaged<Table>.fromOpaque(raw).release()
        activeThreads.subtract(1, ordering: .relaxed)
    }

    static func take(_ call: Call) -> Int32? {
        guard let raw = fr_thread_fault_table() else { return nil }
        let table = Unmanaged<Table>.fromOpaque(raw).takeUnretainedValue()
        guard !table.pending[call.rawValue].isEmpty else { return nil }
        return table.pending[call.rawValue].removeFirst()
    }

    static func takeLimit(_ call: Call) -> Int? {
        guard let raw = fr_thread_fault_table() else { return nil }
        let table = Unmanaged<Table>.fromOpaque(raw).takeUnretainedValue()
        defer { table.limits[call.rawValue] = nil }
        return table.limits[call.rawValue]
    }
}
