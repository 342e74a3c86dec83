import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// A nonblocking listening TCP socket. Like `UDPSocket` it is a value holding a
/// descriptor; `Reactor.listen` takes the descriptor over.
///
/// ```swift
/// let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
/// let port = try listener.localAddress().port
/// try reactor.listen(listener, handler: server)
/// ```
public struct TCPListener: Sendable {
    /// The listening socket's file descriptor (nonblocking, close-on-exec).
    public let descriptor: Int32

    /// Binds `address` (IPv4 or IPv6; port 0 picks a free port) and listens.
    public static func bound(to address: SocketAddress, options: TCPListenerOptions = TCPListenerOptions()) throws(ReactorError) -> TCPListener {
        let fd: Int32
        do { fd = try System.tcpSocket(family: address.family) } catch { throw .system(error) }
        do {
            if options.reuseAddress { try System.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, call: "setsockopt(SO_REUSEADDR)") }
            if options.reusePort { try System.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1, call: "setsockopt(SO_REUSEPORT)") }
            try System.bind(fd, address)
            try System.listen(fd, backlog: options.backlog)
        } catch {
            System.close(fd)
            throw .system(error)
        }
        return TCPListener(descriptor: fd)
    }

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// The address the listener is bound to, with the port the kernel picked for port 0.
    ///
    /// - Throws: `ReactorError.system` when `getsockname` fails.
    public func localAddress() throws(ReactorError) -> SocketAddress {
        do { return try System.localAddress(descriptor) } catch { throw .system(error) }
    }

    /// Accepts one pending connection without a reactor (tools, tests):
    /// `.wouldBlock` when none is pending.
    public func accept() throws(ReactorError) -> IOResult<(stream: TCPStream, peer: SocketAddress)> {
        var peer = SocketAddress.any(port: 0)
        do {
            switch try System.accept(descriptor, peer: &peer) {
            case .wouldBlock: return .wouldBlock
            case .processed(let fd): return .processed((TCPStream(descriptor: fd), peer))
            }
        } catch { throw .system(error) }
    }

    /// Closes the descriptor. Do it only when the listener is not registered with
    /// a reactor (deregister it first).
    public func close() { System.close(descriptor) }
}
