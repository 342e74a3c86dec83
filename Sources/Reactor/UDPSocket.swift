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

    public func setOption(level: Int32, name: Int32, value: Int32, call: String = "setsockopt") throws(ReactorError) {
        do { try System.setOption(descriptor, level: level, name: name, value: value, call: call) } catch { throw .system(error) }
    }

    public func option(level: Int32, name: Int32) throws(ReactorError) -> Int32 {
        do { return try System.option(descriptor, level: level, name: name) } catch { throw .system(error) }
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
        do { return try System.setBuffer(descriptor, receive: true, bytes: bytes) } catch { throw .system(error) }
    }

    @discardableResult
    public func setSendBuffer(bytes: Int) throws(ReactorError) -> Int {
        do { return try System.setBuffer(descriptor, receive: false, bytes: bytes) } catch { throw .system(error) }
    }

    public func bind(to address: SocketAddress) throws(ReactorError) {
        do { try System.bind(descriptor, to: address) } catch { throw .system(error) }
    }

    /// Connects (sets the default destination and filters what is received to that peer).
    public func connect(to address: SocketAddress) throws(ReactorError) {
        do { try System.connect(descriptor, to: address) } catch { throw .system(error) }
    }

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

    public func close() {
        System.close(descriptor)
    }
}
