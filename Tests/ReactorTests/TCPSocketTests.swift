import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// Socket setup: listeners, accepted and connecting streams, injected faults.
@Suite struct TCPSocketTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func listenerBindsAndAcceptsNonblockingCloexec(host: String) throws {
        let listener = try TCPListener.bound(to: SocketAddress(host, port: 0))
        defer { listener.close() }
        let address = try listener.localAddress()
        #expect(address.port != 0)
        #expect(address.isIPv6 == (host == "::1"))
        #expect(try TCPStream(descriptor: listener.descriptor).option(level: SOL_SOCKET, name: SO_REUSEADDR) != 0)
        let (client, _) = try TCPStream.connect(to: address)
        defer { client.close() }
        #expect(client.noDelay)
        var accepted: (stream: TCPStream, peer: SocketAddress)?
        for _ in 0..<1000 where accepted == nil {
            if case .processed(let pair) = try listener.accept() { accepted = pair } else { fr_sleep_ns(100_000) }
        }
        let pair = try #require(accepted)
        defer { pair.stream.close() }
        #expect(pair.peer == (try client.localAddress()))
        let flags = fcntl(pair.stream.descriptor, F_GETFL)
        #expect(flags & O_NONBLOCK != 0)
        #expect(fcntl(pair.stream.descriptor, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func acceptedStreamsInheritNoDelayFromTheListener() throws {
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { listener.close() }
        try TCPStream(descriptor: listener.descriptor).setNoDelay(true)
        let (client, _) = try TCPStream.connect(to: listener.localAddress(), noDelay: false)
        defer { client.close() }
        #expect(!client.noDelay)
        var accepted: TCPStream?
        for _ in 0..<1000 where accepted == nil {
            if case .processed(let pair) = try listener.accept() { accepted = pair.stream } else { fr_sleep_ns(100_000) }
        }
        let stream = try #require(accepted)
        defer { stream.close() }
        // Reactor.listen relies on this to skip a setsockopt per accepted connection.
        #expect(stream.noDelay)
    }

    @Test func acceptWithNothingPendingWouldBlock() throws {
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { listener.close() }
        guard case .wouldBlock = try listener.accept() else {
            Issue.record("accept returned a connection nobody made")
            return
        }
    }

    @Test func bindingAPortInUseSaysHowToFixIt() throws {
        var options = TCPListenerOptions()
        options.reuseAddress = false
        let first = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0), options: options)
        defer { first.close() }
        #expect {
            _ = try TCPListener.bound(to: first.localAddress(), options: options)
        } throws: { error in
            "\(error)".contains("bind") && "\(error)".contains("pick another port")
        }
    }
}
