import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// The TCP system calls, with the rules of `System`: EINTR retried (in C),
/// EAGAIN is `.wouldBlock`, a bug errno traps naming the call, anything else is a
/// thrown `SystemError`. Each has a `SystemFaults` injection point of its own.
extension System {
    /// An injected errno as the wrapper would report it.
    @inline(__always)
    static func fault(_ call: SystemFaults.Call, _ name: StaticString) throws(SystemError) -> Bool {
        guard let errno = injected(call) else { return false }
        if errno == EAGAIN { return true }
        throw SystemError(call: "\(name)", errno: errno)
    }

    /// A nonblocking, close-on-exec stream socket.
    static func tcpSocket(family: Int32) throws(SystemError) -> Int32 {
        if let errno = injected(.tcpSocket) { throw SystemError(call: "socket(SOCK_STREAM)", errno: errno) }
        return Int32(try check(Int(fr_tcp_socket(family)), "socket(SOCK_STREAM)"))
    }

    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32, call: StaticString) throws(SystemError) {
        if let errno = injected(.setsockopt) { throw SystemError(call: "\(call)", errno: errno) }
        _ = try check(Int(fr_setsockopt_int(fd, level, name, value)), call)
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(SystemError) {
        if let errno = injected(.bind) { throw SystemError(call: "bind(\(address))", errno: errno) }
        let rc = address.withSockaddr { fr_bind(fd, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        if rc < 0 {
            trapOnBug(-rc, "bind")
            throw SystemError(call: "bind(\(address))", errno: -rc)
        }
    }

    static func listen(_ fd: Int32, backlog: Int32) throws(SystemError) {
        if let errno = injected(.listen) { throw SystemError(call: "listen", errno: errno) }
        _ = try check(Int(fr_listen(fd, backlog)), "listen")
    }

    /// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC). `.wouldBlock` when none is pending.
    /// ECONNABORTED (the peer gave up while queued) is also `.wouldBlock`: there is
    /// nothing to hand over, and accept(2) says to retry.
    /// The peer's address comes with the call (no getpeername per connection).
    static func accept(_ fd: Int32, peer: inout SocketAddress) throws(SystemError) -> IOResult<Int32> {
        if try fault(.accept, "accept4") { return .wouldBlock }
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let c = fr_accept(fd, &storage, &length)
        if c == -EAGAIN || c == -ECONNABORTED { return .wouldBlock }
        let descriptor = Int32(try check(Int(c), "accept4"))
        peer = withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: Int(length)) } ?? peer
        return .processed(descriptor)
    }

    /// Starts a nonblocking connect: `.processed(true)` when it completed at once,
    /// `.processed(false)` while in progress; a failure at once is thrown.
    static func connect(_ fd: Int32, _ address: SocketAddress) throws(SystemError) -> Bool {
        if let errno = injected(.connect) { throw SystemError(call: "connect(\(address))", errno: errno) }
        let rc = address.withSockaddr { fr_tcp_connect(fd, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        if rc == 0 { return true }
        if rc == -EINPROGRESS { return false }
        trapOnBug(-rc, "connect")
        throw SystemError(call: "connect(\(address))", errno: -rc)
    }

    /// SO_ERROR: 0 or the pending errno (reading clears it).
    static func socketError(_ fd: Int32) -> Int32 {
        let rc = fr_socket_error(fd)
        if rc < 0 {
            trapOnBug(-rc, "getsockopt(SO_ERROR)")
            return -rc
        }
        return rc
    }

    /// readv into up to two spans. `.processed(0)` is end of stream.
    @inline(__always)
    static func readv(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int32) throws(SystemError) -> IOResult<Int> {
        if try fault(.readv, "readv") { return .wouldBlock }
        let n = fr_readv(fd, iov, count)
        if n == -Int(EAGAIN) { return .wouldBlock }
        return .processed(try check(n, "readv"))
    }

    /// sendmsg(MSG_NOSIGNAL) of up to two spans: a reset peer is EPIPE/ECONNRESET,
    /// never SIGPIPE.
    @inline(__always)
    static func sendv(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int32) throws(SystemError) -> IOResult<Int> {
        if try fault(.sendv, "sendmsg") { return .wouldBlock }
        let n = fr_sendv(fd, iov, count)
        if n == -Int(EAGAIN) { return .wouldBlock }
        return .processed(try check(n, "sendmsg"))
    }

    /// shutdown(SHUT_WR / SHUT_RD / SHUT_RDWR). ENOTCONN (the peer already went)
    /// is not an error worth reporting: the direction is closed either way.
    static func shutdown(_ fd: Int32, how: Int32) throws(SystemError) {
        if let errno = injected(.shutdown) { throw SystemError(call: "shutdown", errno: errno) }
        let rc = fr_shutdown(fd, how)
        if rc == -ENOTCONN { return }
        _ = try check(Int(rc), "shutdown")
    }

    static func peerAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        _ = try check(Int(fr_getpeername(fd, &storage, &length)), "getpeername")
        return withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: Int(length))! }
    }

    // localAddress(_:) is SystemSetup's (shared with UDP sockets).
}
