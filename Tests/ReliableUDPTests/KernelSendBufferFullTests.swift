import Testing
import Reactor
import ReliableUDP
import TestSupport

/// Wiring: the kernel's send buffer fills, then the reactor's send queue, and no
/// `delivery` message is lost, duplicated or reordered. Loopback UDP never says
/// EAGAIN (loopback_xmit frees each datagram's buffer charge at once), so the
/// sender sits in front of a veth whose tbf qdisc (20 mbit/s) holds datagrams
/// charged to the sending socket, with a 4 KiB SO_SNDBUF and a send queue of 4.
/// epoll: sendto says EAGAIN, the reactor queues 4 datagrams (`sendsQueued`),
/// refuses the next (`sendsBlocked`), the connection holds it and sends it on
/// `writable`; the queue's datagrams go out on EPOLLOUT (`queuedSendsFlushed`).
/// io_uring: sends are MSG_DONTWAIT SQEs holding one of the ring's pool buffers;
/// an -EAGAIN completion blocks the socket until POLLOUT (sends meanwhile count as
/// queued), and the 5th send in flight is refused just the same. (Seen here:
/// about 430 refusals and 290 queued sends per 300 messages on epoll, 537 and 286
/// on io_uring.)
@Suite struct KernelSendBufferFullTests {
    static let messages: UInt64 = 300
    static let size = 1000

    static func configuration() -> Configuration {
        var configuration = EndpointServerTests.smallConfiguration()
        configuration.sendWindow = 64
        configuration.receiveWindow = 64
        configuration.maxMessageSize = size
        configuration.maxDatagramSize = 1400
        return configuration
    }

    final class Recorder: EndpointServerDelegate, EndpointDelegate {
        var received: [UInt64] = []
        var accepted: [UInt64] = []
        var established = false
        var writable = 0
        func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) {
            received.append(TestPayload.index(message.bytes) ?? .max)
        }
        func server(_ server: EndpointServer, accepted id: UInt64) { accepted.append(id) }
        func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage) {
            received.append(TestPayload.index(message.bytes) ?? .max)
        }
        func endpointEstablished(_ endpoint: Endpoint) { established = true }
        func endpointWritable(_ endpoint: Endpoint) { writable += 1 }
    }

    /// Sends `messages` with `send` whenever it takes them (it returns false
    /// while the send window is full), pumping until `done`.
    static func sendAll(_ reactor: Reactor, send: (UnsafeRawBufferPointer) -> Bool, done: () -> Bool) throws {
        var next: UInt64 = 0
        let payloads = (0..<messages).map { TestPayload.make($0, size: size) }
        try pump(reactor, cycles: 20_000, timeout: 1_000_000) {
            while next < messages {
                guard payloads[Int(next)].withUnsafeBytes(send) else { break }
                next += 1
            }
            return next == messages && done()
        }
    }

    static func expectReactorPushedBack(_ reactor: Reactor, backend: BackendKind, blocked: UInt64) {
        #expect(blocked > 0, "the reactor's send queue never filled")
        #expect(reactor.counters.sendsRefused >= blocked)
        // The kernel said EAGAIN: datagrams waited in the reactor (epoll: its
        // queue, flushed on EPOLLOUT; io_uring: behind the blocked socket's POLLOUT).
        #expect(reactor.counters.sendsQueued > 0)
        if backend == .epoll {
            #expect(reactor.counters.queuedSendsFlushed == reactor.counters.sendsQueued)
        }
    }

    /// An Endpoint and an EndpointServer on one reactor, one of them (`throttled`)
    /// behind the throttled link with SO_SNDBUF 4 KiB and a send queue of 4, the
    /// other in the link's namespace. `close()` ends it all.
    struct Rig {
        let link: ThrottledLink
        let reactor: Reactor
        let server: EndpointServer
        let endpoint: Endpoint
        let serverSide = Recorder()
        let client = Recorder()

        init(backend: BackendKind, throttledServer: Bool) throws {
            link = try ThrottledLink()
            do {
                reactor = try Reactor(backend: backend)
                let throttled = try UDPSocket.bound(to: SocketAddress(link.localAddress, port: 0))
                _ = try throttled.setSendBuffer(bytes: 4096)
                let free = try link.peerSocket()
                let serverSocket = throttledServer ? throttled : free
                let socket = throttledServer ? free : throttled
                server = try EndpointServer(reactor: reactor, socket: serverSocket, configuration: configuration(),
                                            sendQueue: throttledServer ? 4 : 1024, delegate: serverSide)
                try socket.connect(to: serverSocket.localAddress())
                endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, configuration: configuration(),
                                        sendQueue: throttledServer ? 256 : 4, delegate: client)
                let (client, serverSide) = (client, serverSide)
                try pump(reactor, cycles: 5000, timeout: 1_000_000) { client.established && serverSide.accepted.count == 1 }
            } catch {
                link.close()
                throw error
            }
        }

        func close() {
            reactor.close()
            link.close()
        }
    }

    /// An Endpoint behind the throttled link sends to an EndpointServer.
    @Test(.enabled(if: TestEnvironment.isRoot, "needs root: a veth pair with a tbf qdisc in a network namespace"),
          arguments: TestEnvironment.backends)
    func endpointQueueFillsAndEveryMessageArrivesOnceInOrder(backend: BackendKind) throws {
        let rig = try Rig(backend: backend, throttledServer: false)
        defer { rig.close() }
        try Self.sendAll(rig.reactor, send: { (try? rig.endpoint.send(.delivery, $0)) != nil }) {
            rig.serverSide.received.count == Int(Self.messages)
        }
        #expect(rig.serverSide.received == Array(0..<Self.messages))
        Self.expectReactorPushedBack(rig.reactor, backend: backend, blocked: rig.endpoint.sendsBlocked)
        #expect(rig.endpoint.sendErrors == 0)
        #expect(rig.server.counters.sendsBlocked == 0)
    }

    /// An EndpointServer behind the throttled link sends to an Endpoint.
    @Test(.enabled(if: TestEnvironment.isRoot, "needs root: a veth pair with a tbf qdisc in a network namespace"),
          arguments: TestEnvironment.backends)
    func serverQueueFillsAndEveryMessageArrivesOnceInOrder(backend: BackendKind) throws {
        let rig = try Rig(backend: backend, throttledServer: true)
        defer { rig.close() }
        let id = try #require(rig.serverSide.accepted.first)
        try Self.sendAll(rig.reactor, send: { (try? rig.server.send(to: id, .delivery, $0)) != nil }) {
            rig.client.received.count == Int(Self.messages)
        }
        #expect(rig.client.received == Array(0..<Self.messages))
        Self.expectReactorPushedBack(rig.reactor, backend: backend, blocked: rig.server.counters.sendsBlocked)
        #expect(rig.server.counters.sendErrors == 0)
        #expect(rig.endpoint.sendsBlocked == 0)
    }
}
