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
    /// The file descriptor (nonblocking, close-on-exec).
    public let descriptor: Int32

    /// A new nonblocking, close-on-exec UDP socket.
    public init(ipv6: Bool = false) throws(ReactorError) {
        do { descriptor = try System.udpSocket(family: ipv6 ? AF_INET6 : AF_INET) } catch { throw .system(error) }
    }

    /// Adopts a descriptor created elsewhere (it is switched to nonblocking).
    public init(adopting descriptor: Int32) throws(ReactorError) {
        do { try System.setNonblocking(descriptor) } catch { throw .system(error) }
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

    /// Sets an integer socket option; `call` names it in the error.
    ///
    /// - Throws: `ReactorError.system` naming `call` and the errno.
    public func setOption(level: Int32, name: Int32, value: Int32, call: String = "setsockopt") throws(ReactorError) {
        do { try System.setOption(descriptor, level: level, name: name, value: value, call: call) } catch { throw .system(error) }
    }

    /// Reads an integer socket option (`getsockopt`).
    ///
    /// - Throws: `ReactorError.system` naming the call and errno.
    public func option(level: Int32, name: Int32) throws(ReactorError) -> Int32 {
        do { return try System.option(descriptor, level: level, name: name) } catch { throw .system(error) }
    }

    /// SO_REUSEADDR: bind an address another socket holds, e.g. a multicast port
    /// several receivers share. Set before `bind`.
    ///
    /// - Throws: `ReactorError.system` when `setsockopt` fails.
    public func setReuseAddress(_ on: Bool) throws(ReactorError) {
        try setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: on ? 1 : 0, call: "setsockopt(SO_REUSEADDR)")
    }

    /// SO_REUSEPORT: several sockets bind the same address and port, and the kernel
    /// spreads unicast datagrams over them (one per reactor). Set before `bind`.
    ///
    /// - Throws: `ReactorError.system` when `setsockopt` fails.
    public func setReusePort(_ on: Bool) throws(ReactorError) {
        try setOption(level: SOL_SOCKET, name: SO_REUSEPORT, value: on ? 1 : 0, call: "setsockopt(SO_REUSEPORT)")
    }

    /// Sets the receive buffer. As root SO_RCVBUFFORCE lifts the net.core.rmem_max
    /// cap. Returns what the kernel reports afterwards (twice the request: it counts
    /// its own bookkeeping).
    @discardableResult
    public func setReceiveBuffer(bytes: Int) throws(ReactorError) -> Int {
        do { return try System.setBuffer(descriptor, receive: true, bytes: bytes) } catch { throw .system(error) }
    }

    /// SO_SNDBUF (SO_SNDBUFFORCE as root, which lifts net.core.wmem_max) in bytes.
    /// Returns what the kernel reports afterwards (about twice the request).
    @discardableResult
    public func setSendBuffer(bytes: Int) throws(ReactorError) -> Int {
        do { return try System.setBuffer(descriptor, receive: false, bytes: bytes) } catch { throw .system(error) }
    }

    /// Binds the socket to `address` (port 0: the kernel picks one; read it back
    /// with `localAddress()`).
    ///
    /// - Throws: `ReactorError.system`; EADDRINUSE's message says how to find the holder.
    public func bind(to address: SocketAddress) throws(ReactorError) {
        do { try System.bind(descriptor, to: address) } catch { throw .system(error) }
    }

    /// Connects (sets the default destination and filters what is received to that peer).
    public func connect(to address: SocketAddress) throws(ReactorError) {
        do { try System.connect(descriptor, to: address) } catch { throw .system(error) }
    }

    /// The bound address and port (the port the kernel picked for port 0).
    ///
    /// - Throws: `ReactorError.system` when `getsockname` fails.
    public func localAddress() throws(ReactorError) -> SocketAddress {
        do { return try System.localAddress(descriptor) } catch { throw .system(error) }
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
        try System.receiveFrom(descriptor, into: buffer)
    }

    /// Closes the descriptor. Only for a socket that is not registered: a registered
    /// socket is closed by `Reactor.deregister` (unless it is told to keep it open).
    public func close() {
        System.close(descriptor)
    }
}
