import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// A nonblocking TCP stream socket: a value holding a descriptor, handed to a
/// reactor with `Reactor.register(_:options:handler:)` (or made by
/// `Reactor.connect`, which also watches the connect complete).
///
/// ```swift
/// let (stream, connected) = try TCPStream.connect(to: SocketAddress("127.0.0.1", port: 9000))
/// // connected is usually false: the handshake completes when the socket turns
/// // writable, and `connectResult()` then says how it went.
/// ```
public struct TCPStream: Sendable {
    /// The socket's file descriptor (nonblocking, close-on-exec).
    public let descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Starts a nonblocking connect. Returns the stream and whether it connected
    /// at once (rare; loopback can). A failure the kernel knows at once (no
    /// route: ENETUNREACH) is thrown.
    public static func connect(to address: SocketAddress, noDelay: Bool = true) throws(ReactorError) -> (stream: TCPStream, connected: Bool) {
        try connect(to: address, options: TCPStreamOptions(noDelay: noDelay))
    }

    /// Starts a nonblocking connect with `options`' socket options set first.
    public static func connect(to address: SocketAddress, options: TCPStreamOptions) throws(ReactorError) -> (stream: TCPStream, connected: Bool) {
        let fd: Int32
        do { fd = try System.tcpSocket(family: address.family) } catch { throw .system(error) }
        let stream = TCPStream(descriptor: fd)
        do {
            try stream.apply(options)
            return (stream, try System.connect(fd, address))
        } catch let error as ReactorError {
            System.close(fd)
            throw error
        } catch {
            System.close(fd)
            throw .system(error as! SystemError)
        }
    }

    /// TCP_NODELAY and the kernel buffer sizes of `options`.
    func apply(_ options: TCPStreamOptions) throws(ReactorError) {
        if options.noDelay { try setNoDelay(true) }
        if let bytes = options.kernelSendBuffer { try setSendBuffer(bytes: bytes) }
        if let bytes = options.kernelReceiveBuffer { try setReceiveBuffer(bytes: bytes) }
    }

    /// How an in-progress connect ended once the socket is writable: nil when
    /// connected, else the error (SO_ERROR: ECONNREFUSED, ETIMEDOUT, ...).
    public func connectResult() -> SystemError? {
        let errno = System.socketError(descriptor)
        return errno == 0 ? nil : SystemError(call: "connect", errno: errno)
    }

    /// TCP_NODELAY on or off.
    public func setNoDelay(_ on: Bool) throws(ReactorError) {
        do { try setNoDelayOption(on) } catch { throw .system(error) }
    }

    func setNoDelayOption(_ on: Bool) throws(SystemError) {
        try System.setOption(descriptor, level: fr_ipproto_tcp(), name: fr_tcp_nodelay_option(), value: on ? 1 : 0,
                             call: "setsockopt(TCP_NODELAY)")
    }

    /// Reads an integer socket option (`getsockopt`).
    ///
    /// - Throws: `ReactorError.system` naming the call and errno.
    public func option(level: Int32, name: Int32) throws(ReactorError) -> Int32 {
        var value: Int32 = 0
        let rc = fr_getsockopt_int(descriptor, level, name, &value)
        guard rc == 0 else { throw .system(SystemError(call: "getsockopt", errno: -rc)) }
        return value
    }

    /// TCP_NODELAY as the kernel has it.
    public var noDelay: Bool { ((try? option(level: fr_ipproto_tcp(), name: fr_tcp_nodelay_option())) ?? 0) != 0 }

    /// The local address and port of the stream.
    ///
    /// - Throws: `ReactorError.system` when `getsockname` fails.
    public func localAddress() throws(ReactorError) -> SocketAddress {
        do { return try System.localAddress(descriptor) } catch { throw .system(error) }
    }

    /// The peer's address and port.
    ///
    /// - Throws: `ReactorError.system` when `getpeername` fails (ENOTCONN before
    ///   the connect completed).
    public func peerAddress() throws(ReactorError) -> SocketAddress {
        do { return try System.peerAddress(descriptor) } catch { throw .system(error) }
    }

    /// SO_SNDBUF / SO_RCVBUF (SO_*BUFFORCE as root). Returns what the kernel reports.
    @discardableResult
    public func setSendBuffer(bytes: Int) throws(ReactorError) -> Int {
        try UDPSocket(registered: descriptor).setSendBuffer(bytes: bytes)
    }

    /// SO_RCVBUF (SO_RCVBUFFORCE as root) in bytes. Returns what the kernel reports
    /// afterwards (about twice the request).
    @discardableResult
    public func setReceiveBuffer(bytes: Int) throws(ReactorError) -> Int {
        try UDPSocket(registered: descriptor).setReceiveBuffer(bytes: bytes)
    }

    /// SO_LINGER with a zero timeout: close() then sends RST instead of FIN
    /// (tests of peer resets; abortive close).
    public func setResetOnClose() throws(ReactorError) {
        let rc = fr_tcp_set_linger_zero(descriptor)
        guard rc == 0 else { throw .system(SystemError(call: "setsockopt(SO_LINGER)", errno: -rc)) }
    }

    /// Closes the descriptor. Only for a stream that is not registered: a
    /// registered stream is closed with `Reactor.close(_:flush:)`.
    public func close() { System.close(descriptor) }
}
