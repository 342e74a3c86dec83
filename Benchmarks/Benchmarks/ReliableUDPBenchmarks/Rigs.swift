import BenchmarkSupport
import Reactor
import ReliableUDP
import ReliableUDPCrypto

let messageSize = 64
/// Messages per loopback iteration.
let burst = 16

/// Two connections joined directly: A's datagrams go straight into B and back.
final class ConnectionRig {
    let a: Connection
    let b: Connection
    let payload: UnsafeMutableRawBufferPointer
    var now: UInt64 = 1_000_000_000
    var delivered = 0

    /// `encrypted`: both sides seal and open with ChaCha20-Poly1305 (`SealedPackets`).
    init(grouping: Bool, encrypted: Bool = false) throws {
        var configuration = Configuration()
        if grouping { configuration.grouping = .init(delay: 100_000) }
        a = try Connection(configuration: configuration, localID: 1, peerID: 2, now: now)
        b = try Connection(configuration: configuration, localID: 2, peerID: 1, now: now)
        if encrypted {
            let key = [UInt8](repeating: 0x42, count: 32)
            a.protection = try SealedPackets(preSharedKey: key, isInitiator: true)
            b.protection = try SealedPackets(preSharedKey: key, isInitiator: false)
        }
        payload = .allocate(byteCount: messageSize, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 7)
        for _ in 0..<10_000 { exchange() }
    }

    /// One message A → B; every datagram is handed over at once, acks come back.
    func exchange() {
        now += 10_000
        do { try a.send(.delivery, UnsafeRawBufferPointer(payload), now: now) } catch { fatalError("send: \(error)") }
        let b = self.b
        let a = self.a
        let now = self.now
        a.maintain(now: now) { datagram in
            b.receive(datagram, now: now) { _ in self.delivered += 1 }
            return true
        }
        b.maintain(now: now) { datagram in
            a.receive(datagram, now: now) { _ in }
            return true
        }
        precondition(a.unacknowledged < 1000, "acknowledgements are not coming back")
    }
}

final class Sink: EndpointServerDelegate {
    var received = 0
    func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) { received += 1 }
}

final class Client: EndpointDelegate {
    var established = false
    func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage) {}
    func endpointEstablished(_ endpoint: Endpoint) { established = true }
}

/// Endpoint → EndpointServer over loopback on one reactor: `burst` messages per iteration.
final class LoopbackRig {
    let reactor: Reactor
    let server: EndpointServer
    let endpoint: Endpoint
    let sink = Sink()
    let client = Client()
    let payload: UnsafeMutableRawBufferPointer

    init(grouping: Bool) throws {
        reactor = try Reactor()
        var configuration = Configuration()
        if grouping { configuration.grouping = .init(delay: 50_000) }
        let serverSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        let address = try serverSocket.localAddress()
        server = try EndpointServer(reactor: reactor, socket: serverSocket, configuration: configuration, delegate: sink)
        let socket = try UDPSocket()
        try socket.connect(to: address)
        endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, configuration: configuration, delegate: client)
        payload = .allocate(byteCount: messageSize, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 7)
        let client = self.client
        pump(reactor, what: "handshake") { client.established }
        for _ in 0..<2000 { exchange() }
    }

    func exchange() {
        let target = sink.received + burst
        for _ in 0..<burst {
            do { try endpoint.send(.delivery, UnsafeRawBufferPointer(payload)) } catch { fatalError("send: \(error)") }
        }
        let sink = self.sink
        pump(reactor, what: "rudp loopback") { sink.received >= target }
    }
}

final class Counter: DatagramHandler {
    var received = 0
    func receive(_ batch: DatagramBatch, reactor: Reactor) { received += batch.count }
}

/// The baseline: the same `burst` 64-byte datagrams sent on a connected socket
/// and received through a reactor, no protocol.
final class RawUDPRig {
    let reactor: Reactor
    let sender: UDPSocket
    let counter = Counter()
    let payload: UnsafeMutableRawBufferPointer

    init() throws {
        reactor = try Reactor()
        let receiver = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        let address = try receiver.localAddress()
        try reactor.register(receiver, handler: counter)
        sender = try UDPSocket()
        try sender.connect(to: address)
        payload = .allocate(byteCount: messageSize, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 7)
        for _ in 0..<2000 { exchange() }
    }

    func exchange() {
        let target = counter.received + burst
        for _ in 0..<burst { sendOrDie("raw udp") { try sender.send(UnsafeRawBufferPointer(payload)) } }
        let counter = self.counter
        pump(reactor, what: "raw udp loopback") { counter.received >= target }
    }
}
