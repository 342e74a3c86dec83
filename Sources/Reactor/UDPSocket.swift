import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// A nonblocking UDP socket. A value holding a descriptor: whoever registers it
/// with a `Reactor` hands the descriptor over, and the reactor closes it on
/// deregistration. Otherwise call `close()` yourself.
///
/// ```swift
/// var socket = try UDPSocket(ipv6: false)
/// try socket.setReuseAddress(true)
/// try socket.bind(to: SocketAddress("127.0.0.1", port: 0))
/// let port = try socket.localAddress().port
/// ```
public struct UDPSocket: Sendable {
    public let descriptor: Int32

    /// A new nonblocking, close-on-exec UDP socket.
    public init(ipv6: Bool = false) throws(ReactorError) {
        let fd = fr_socket_udp(ipv6 ? AF_INET6 : AF_INET)
        guard fd >= 0 else { throw .system(SystemError(call: "socket", errno: -fd)) }
        descriptor = fd
    }

    /// Adopts a descriptor created elsewhere (it is switched to nonblocking).
    public init(adopting descriptor: Int32) throws(ReactorError) {
        let rc = fr_set_nonblocking(descriptor)
        guard rc == 0 else { throw .system(SystemError(call: "fcntl(O_NONBLOCK)", errno: -rc)) }
        self.descriptor = descriptor
    }

    /// Wraps a descriptor known to be a nonblocking UDP socket (no system call).
    init(registered descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// A socket bound to `address` (port 0 picks a free port), with SO_REUSEADDR.
    public static func bound(to address: SocketAddress, reusePort: Bool = false) throws(ReactorError) -> UDPSocket {
        let socket = try UDPSocket(ipv6: address.isIPv6)
        do {
            try socket.setReuseAddress(true)
            if reusePort { try socket.setOption(level: SOL_SOCKET, name: SO_REUSEPORT, value: 1, call: "setsockopt(SO_REUSEPORT)") }
            try socket.bind(to: address)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    public func setOption(level: Int32, name: Int32, value: Int32, call: String = "setsockopt") throws(ReactorError) {
        let rc = fr_setsockopt_int(descriptor, level, name, value)
        guard rc == 0 else { throw .system(SystemError(call: call, errno: -rc)) }
    }

    public func option(level: Int32, name: Int32) throws(ReactorError) -> Int32 {
        var value: Int32 = 0
        let rc = fr_getsockopt_int(descriptor, level, name, &value)
        guard rc == 0 else { throw .system(SystemError(call: "getsockopt", errno: -rc)) }
        return value
    }

    public func setReuseAddress(_ on: Bool) throws(ReactorError) {
        try setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: on ? 1 : 0, call: "setsockopt(SO_REUSEADDR)")
    }

    public func setReusePort(_ on: Bool) throws(ReactorError) {
        try setOption(level: SOL_SOCKET, name: SO_REUSEPORT, value: on ? 1 : 0, call: "setsockopt(SO_REUSEPORT)")
    }

    /// Sets the receive buffer. As root SO_RCVBUFFORCE lifts the net.core.rmem_max
    /// cap. Returns what the kernel reports afterwards (twice the request: it counts
    /// its own bookkeeping).
    @discardableResult
    public func setReceiveBuffer(bytes: Int) throws(ReactorError) -> Int {
        let rc = fr_set_receive_buffer(descriptor, Int32(clamping: bytes), fr_geteuid() == 0 ? 1 : 0)
        guard rc >= 0 else { throw .system(SystemError(call: "setsockopt(SO_RCVBUF)", errno: -rc)) }
        return Int(rc)
    }

    @discardableResult
    public func setSendBuffer(bytes: Int) throws(ReactorError) -> Int {
        let rc = fr_set_send_buffer(descriptor, Int32(clamping: bytes), fr_geteuid() == 0 ? 1 : 0)
        guard rc >= 0 else { throw .system(SystemError(call: "setsockopt(SO_SNDBUF)", errno: -rc)) }
        return Int(rc)
    }

    public func bind(to address: SocketAddress) throws(ReactorError) {
        let rc = address.withSockaddr { fr_bind(descriptor, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        guard rc == 0 else { throw .system(SystemError(call: "bind(\(address))", errno: -rc)) }
    }

    /// Connects (sets the default destination and filters what is received to that peer).
    public func connect(to address: SocketAddress) throws(ReactorError) {
        let rc = address.withSockaddr { fr_connect(descriptor, $0.assumingMemoryBound(to: sockaddr.self), $1) }
        guard rc == 0 else { throw .system(SystemError(call: "connect(\(address))", errno: -rc)) }
    }

    public func localAddress() throws(ReactorError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        let rc = fr_getsockname(descriptor, &storage, &length)
        guard rc == 0 else { throw .system(SystemError(call: "getsockname", errno: -rc)) }
        return withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: Int(length))! }
    }

    /// Sends one datagram. `.wouldBlock` when the send buffer is full; ENOBUFS and
    /// ECONNREFUSED (a connected peer that went away) are thrown as `SystemError`
    /// for the caller to count.
    public func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress? = nil) throws(SystemError) -> IOResult<Int> {
        if let address {
            return try address.withSockaddr { (raw, length) throws(SystemError) -> IOResult<Int> in
                try System.sendTo(fd: descriptor, bytes: bytes, address: raw.assumingMemoryBound(to: sockaddr.self), length: length)
            }
        }
        return try System.sendTo(fd: descriptor, bytes: bytes, address: nil, length: 0)
    }

    /// Sends to the raw sockaddr of a received datagram (answering a request
    /// without copying the address).
    public func send(_ bytes: UnsafeRawBufferPointer, toRaw address: UnsafeRawPointer, length: Int) throws(SystemError) -> IOResult<Int> {
        try System.sendTo(fd: descriptor, bytes: bytes, address: address.assumingMemoryBound(to: sockaddr.self), length: socklen_t(length))
    }

    /// Convenience for tests and tools (allocates nothing, but takes an array).
    @discardableResult
    public func send(_ bytes: [UInt8], to address: SocketAddress? = nil) throws(SystemError) -> IOResult<Int> {
        do {
            return try bytes.withUnsafeBytes { raw in try send(raw, to: address) }
        } catch let error as SystemError {
            throw error
        } catch {
            fatalError("unreachable: \(error)")
        }
    }

    /// Receives one datagram without a reactor (tools and tests).
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<(length: Int, from: SocketAddress?, truncated: Bool)> {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        var truncated: Int32 = 0
        let n = fr_recvfrom(descriptor, buffer.baseAddress, buffer.count, &storage, &length, &truncated)
        if n == -Int(EAGAIN) { return .wouldBlock }
        let count = try System.check(n, "recvfrom")
        let from = withUnsafeBytes(of: &storage) { SocketAddress(raw: $0.baseAddress!, length: Int(length)) }
        return .processed((count, from, truncated != 0))
    }

    public func close() {
        System.close(descriptor)
    }
}
