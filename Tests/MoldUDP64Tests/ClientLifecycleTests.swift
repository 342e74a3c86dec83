import Testing
@testable import MoldUDP64
import Multicast
import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Who closes which descriptor when a client goes away or fails to start.
@Suite struct ClientLifecycleTests {
    final class Ignore: MessageConsumer {
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {}
    }

    let lo = MulticastInterface.address(try! IPAddress("127.0.0.1"))

    func configuration(group: String, port: UInt16 = 0) throws -> Client.Configuration {
        Client.Configuration(lines: [try Subscription(group: group, port: port, interface: lo)],
                             servers: [try SocketAddress("127.0.0.1", port: 9)])
    }

    /// UDP sockets of this network namespace bound to local `port` (/proc/net/udp).
    func socketsBound(toPort port: UInt16) -> Int {
        guard let file = fopen("/proc/net/udp", "r") else { return -1 }
        defer { fclose(file) }
        var count = 0
        var line = [CChar](repeating: 0, count: 512)
        let hex = String(port, radix: 16, uppercase: true)
        let suffix = ":" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            // "  sl  local_address rem_address ...": the second field is ADDR:PORT in hex.
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count > 2, fields[1].hasSuffix(suffix) { count += 1 }
        }
        return count
    }

    /// The socket the servers' answers arrive on gets the lines' receive buffer:
    /// a burst of answers must not overflow the kernel's default of 208 KiB.
    @Test func theAnswerSocketGetsTheConfiguredReceiveBuffer() throws {
        let reactor = try Reactor(backend: .epoll)
        var configuration = try configuration(group: "239.255.78.1")
        configuration.receiveBufferBytes = 1 << 20
        let client = try Client(configuration, reactor: reactor, consumer: Ignore())
        defer { client.close() }
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(client.requestSocket.descriptor, SOL_SOCKET, SO_RCVBUF, &value, &length) == 0)
        // The kernel reports twice what was set; without root, at most net.core.rmem_max.
        var cap = Int.max
        if geteuid() != 0, let file = fopen("/proc/sys/net/core/rmem_max", "r") {
            var line = [CChar](repeating: 0, count: 32)
            if fgets(&line, Int32(line.count), file) != nil {
                let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                cap = Int(text.trimmingPrefix(" ").split(separator: "\n").first ?? "") ?? cap
            }
            fclose(file)
        }
        #expect(Int(value) >= 2 * min(1 << 20, cap), "SO_RCVBUF of the answer socket: \(value)")
    }

    @Test func closeAfterTheReactorIsGoneClosesNothingOfSomeoneElse() throws {
        var reactor: Reactor? = try Reactor(backend: .epoll)
        let client = try Client(configuration(group: "239.255.78.1"), reactor: reactor!, consumer: Ignore())
        // The reactor's deinit closes every socket registered with it, the
        // client's request socket and line included.
        reactor = nil
        // Likely to get one of the descriptor numbers just freed.
        let bystander = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { bystander.close() }
        client.close()
        client.close()
        // Still open: the client closed nothing (a second close of its old number
        // would have closed this socket, or trapped on EBADF).
        #expect(try bystander.localAddress().port != 0)
    }

    @Test func startFailureClosesTheLineSocket() throws {
        // Reserve a port for the line (SO_REUSEADDR, as receivers bind), so this
        // test alone counts the sockets bound to it.
        let reservation = try UDPSocket(ipv6: false)
        defer { reservation.close() }
        try reservation.setReuseAddress(true)
        try reservation.bind(to: .any(port: 0))
        let port = try reservation.localAddress().port
        #expect(socketsBound(toPort: port) == 1)
        // Room for the request socket only: registering the line throws.
        var reactorConfiguration = Reactor.Configuration(backend: .epoll)
        reactorConfiguration.maxRegistrations = 1
        let reactor = try Reactor(reactorConfiguration)
        #expect(throws: ReactorError.registrationCapacityExhausted(capacity: 1)) {
            try Client(configuration(group: "239.255.78.2", port: port), reactor: reactor, consumer: Ignore())
        }
        #expect(socketsBound(toPort: port) == 1, "the line's multicast socket was closed, not leaked")
        #expect(reactor.registrationCount == 0, "the request socket was deregistered")
    }
}
