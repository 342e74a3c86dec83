import Foundation
import Reactor
import Testing
import TestSupport
@testable import UTP
#if canImport(Glibc)
import Glibc
#endif

/// Collects one stream's bytes; sends `source` and shuts down when told to.
final class SocketApp: UTPAcceptor, UTPStreamDelegate {
    var stream: UTPStream?
    var received: [UInt8] = []
    var endOfStream = false
    var source: [UInt8] = []
    var offset = 0

    func accepted(_ stream: UTPStream, on socket: UTPSocket) {
        stream.delegate = self
        self.stream = stream
    }
    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) { received.append(contentsOf: bytes) }
    func endOfStream(_ stream: UTPStream) { endOfStream = true }
    func connected(_ stream: UTPStream) { pump() }
    func writable(_ stream: UTPStream) { pump() }

    func pump() {
        guard let stream, stream.isConnected else { return }
        while offset < source.count {
            let accepted = source[offset...].withUnsafeBytes { stream.write($0) }
            if accepted == 0 { return }
            offset += accepted
        }
        stream.shutdown()
    }
}

@Suite("UTPSocket on a reactor: the send path, the kernel's MTU, the error queue")
struct UTPSocketTests {
    @Test("a transfer over loopback through Reactor.send is byte-exact", arguments: TestEnvironment.backends)
    func loopbackTransfer(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        defer { reactor.close() }
        let server = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        let client = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        defer { server.close(); client.close() }
        let receiver = SocketApp()
        server.acceptor = receiver
        let sender = SocketApp()
        sender.source = pattern(2 << 20, seed: 41)
        let stream = try client.connect(to: server.localAddress)
        stream.delegate = sender
        sender.stream = stream
        _ = try pump(reactor, cycles: 200_000, timeout: 1_000_000) { receiver.endOfStream }
        #expect(receiver.received == sender.source)
        #expect(client.sendErrors == 0, "last error: \(String(describing: client.lastSendError))")
        // Loopback's MTU (65,536) is capped by UTPConfiguration.mtu.
        #expect(stream.connection.pathMTU.ceiling == UTPConfiguration().mtu)
        #expect(reactor.counters.sendsDirect + reactor.counters.sendsQueued > 0, "sends went through the reactor")
    }

    @Test("routeMTU reads the kernel's MTU towards a peer: loopback's interface MTU")
    func routeMTUOnLoopback() throws {
        let text = try String(contentsOfFile: "/sys/class/net/lo/mtu", encoding: .utf8)
        let loopback = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        // IPv4 caps a route's MTU at 65,535 (IP_MAX_MTU: the total-length field).
        #expect(try UDPSocket.routeMTU(to: SocketAddress("127.0.0.1", port: 9)) == min(loopback, 65_535))
        #expect(try UDPSocket.routeMTU(to: SocketAddress("::1", port: 9)) == loopback)
    }

    @Test("the error queue reports ICMP port unreachable for a datagram to a closed port")
    func errorQueueReportsICMP() throws {
        let (socket, _) = try loopbackSocket()
        defer { socket.close() }
        try socket.enableErrorQueue()
        // A port nobody listens on: bind one, read it back, close it.
        let (closed, address) = try loopbackSocket()
        closed.close()
        _ = try socket.send([1, 2, 3], to: address)
        // A queued report makes the socket poll POLLERR (always reported): wait for it.
        var descriptor = pollfd(fd: socket.descriptor, events: 0, revents: 0)
        #expect(poll(&descriptor, 1, 5_000) == 1 && descriptor.revents & Int16(POLLERR) != 0)
        let found = try #require(try socket.nextError(), "no report in the error queue")
        #expect(found.origin == .icmp)
        #expect(found.errno == ECONNREFUSED)
        #expect(found.icmpType == 3 && found.icmpCode == 3)
        #expect(found.pathMTU == nil)
        #expect(found.destination == address)
        #expect(try socket.nextError() == nil)
    }
}
