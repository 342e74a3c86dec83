import BenchmarkSupport
import Reactor
import UTP

/// Packets between two endpoints in preallocated memory: a UTPOutput that keeps
/// what it is given, and hands it to the other side when the rig says so.
final class PacketQueue: UTPOutput {
    static let slotBytes = 2048
    let storage: UnsafeMutableRawPointer
    var lengths: [Int]
    var count = 0
    /// Drop the next packet handed over (to make a hole).
    var dropNext = false

    init(capacity: Int) {
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity * PacketQueue.slotBytes, alignment: 16)
        lengths = [Int](repeating: 0, count: capacity)
    }

    deinit { storage.deallocate() }

    func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        if dropNext { dropNext = false; return .sent }
        precondition(count < lengths.count && packet.count <= PacketQueue.slotBytes, "PacketQueue full")
        (storage + count * PacketQueue.slotBytes).copyMemory(from: packet.baseAddress!, byteCount: packet.count)
        lengths[count] = packet.count
        count += 1
        return .sent
    }

    /// Delivers everything queued to `endpoint` as one batch.
    func deliver(to endpoint: UTPEndpoint, from address: SocketAddress, now: UInt64) {
        let delivering = count
        count = 0
        for index in 0..<delivering {
            endpoint.receive(UnsafeRawBufferPointer(start: storage + index * PacketQueue.slotBytes, count: lengths[index]),
                             from: address, now: now)
        }
        endpoint.flushAcks(now: now)
    }
}

/// Counts delivered bytes; accepts one connection.
final class Sink: UTPConnectionDelegate, UTPListener, UTPStreamDelegate, UTPAcceptor {
    var bytes = 0
    var connection: UTPConnection?
    var stream: UTPStream?
    func accepted(_ connection: UTPConnection) { connection.delegate = self; self.connection = connection }
    func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection) { self.bytes += bytes.count }
    func accepted(_ stream: UTPStream, on socket: UTPSocket) { stream.delegate = self; self.stream = stream }
    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) { self.bytes += bytes.count }
}

final class MemoryRig {
    let toServer = PacketQueue(capacity: 1024)
    let toClient = PacketQueue(capacity: 1024)
    let client: UTPEndpoint
    let server: UTPEndpoint
    let sink = Sink()
    let connection: UTPConnection
    let clientAddress = try! SocketAddress("10.0.0.1", port: 1)
    let serverAddress = try! SocketAddress("10.0.0.2", port: 2)
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 1452, alignment: 16)
    var now: UInt64 = 1_000_000_000

    init() throws {
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = false
        client = UTPEndpoint(configuration: configuration, output: toServer)
        server = UTPEndpoint(configuration: configuration, output: toClient)
        server.listener = sink
        connection = try client.connect(to: serverAddress, now: now)
        exchange()
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        for _ in 0..<1_000 { packet() }
        for _ in 0..<100 { lossRound() }
    }

    deinit { payload.deallocate() }

    func exchange() {
        now += 50_000
        toServer.deliver(to: server, from: clientAddress, now: now)
        now += 50_000
        toClient.deliver(to: client, from: serverAddress, now: now)
    }

    /// One full-sized DATA packet: written, sent, received, delivered, ACKed, ACK processed.
    @inline(__always)
    func packet() {
        let target = sink.bytes + 1452
        _ = connection.write(UnsafeRawBufferPointer(rebasing: payload[0..<1452]), now: now)
        exchange()
        precondition(sink.bytes == target, "MemoryRig: the packet was not delivered")
        client.poll(now: now)
    }

    /// Eight packets, the first lost: the receiver SACKs the other seven and the
    /// sender repairs the hole by fast retransmit (no timeout).
    @inline(__always)
    func lossRound() {
        let target = sink.bytes + 8 * 1452
        toServer.dropNext = true
        _ = connection.write(UnsafeRawBufferPointer(payload), now: now)
        var rounds = 0
        while sink.bytes < target {
            exchange()
            rounds += 1
            precondition(rounds < 100, "MemoryRig: the hole was not repaired from SACKs")
        }
    }
}

/// Two UTPSockets on one reactor over loopback; one data packet and its ACK.
final class SocketRig {
    let reactor: Reactor
    let server: UTPSocket
    let client: UTPSocket
    let stream: UTPStream
    let sink = Sink()
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 1400, alignment: 16)

    init(backend: BackendKind) throws {
        reactor = try Reactor(backend: backend)
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = false
        server = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0), configuration: configuration)
        client = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0), configuration: configuration)
        server.acceptor = sink
        stream = try client.connect(to: server.localAddress)
        payload.initializeMemory(as: UInt8.self, repeating: 0x33)
        pump(reactor, what: "SocketRig (connect)") { stream.isConnected && sink.stream != nil }
        for _ in 0..<2_000 { packet() }
    }

    deinit {
        payload.deallocate()
        client.close()
        server.close()
        reactor.close()
    }

    @inline(__always)
    func packet() {
        let target = sink.bytes + payload.count
        _ = stream.write(UnsafeRawBufferPointer(payload))
        pump(reactor, what: "SocketRig (data)") { sink.bytes >= target && stream.connection.unacknowledgedBytes == 0 }
    }
}
