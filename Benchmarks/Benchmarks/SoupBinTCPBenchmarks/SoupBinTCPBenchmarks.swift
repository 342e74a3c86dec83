// swift package --disable-sandbox benchmark --target SoupBinTCPBenchmarks
//
// Allocation gates for SoupBinTCP's steady state: a server connection sending
// sequenced messages out of the store as they are published (the live stream,
// and replay, which is the same loop), and a client parsing and delivering a
// read's worth of Sequenced Data packets. Both must read 0; the canary must not.
// Wiring.Loopback: the same over a real loopback connection on one epoll
// reactor — SoupTCPServer sends what was published, SoupTCPClient reads, parses
// and delivers it (TCP ring, readv, sendmsg, timers): 0 per step as well.

import Benchmark
import BenchmarkSupport
import MoldUDP64
import Reactor
import SoupBinTCP

/// Takes whatever is written and forgets it (a peer that always reads).
final class DiscardingOutput: SoupOutput {
    var written = 0
    var writableSpace: Int { 1 << 20 }
    func write(_ bytes: UnsafeRawBufferPointer) { written &+= bytes.count }
}

final class CountingConsumer: MessageConsumer {
    var delivered: UInt64 = 0
    var bytes = 0
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        delivered = sequence
        bytes &+= message.count
    }
}

/// A logged-in server connection; each step publishes 10 messages and sends them.
final class ServerRig {
    let server: SoupServer
    let connection: SoupServerConnection
    let output = DiscardingOutput()
    let message = [UInt8](repeating: 0x4D, count: 40)
    var now: UInt64 = 1_000_000_000

    init() throws {
        server = try SoupServer(configuration: .init(session: "BENCH"), store: RetransmissionStore(messageCapacity: 4096))
        connection = server.accept(now: now)!
        var login = [UInt8](repeating: 0, count: 49)
        _ = login.withUnsafeMutableBytes { buffer in
            [UInt8]().withUnsafeBytes { none in
                SoupWriter.loginRequest(username: none, password: none, session: none, sequence: 1, to: buffer.baseAddress!)
            }
        }
        _ = login.withUnsafeBytes { connection.receive($0, now: now, output: output) }
        precondition(connection.state == .streaming, "the benchmark login was refused")
        step()
    }

    func step() {
        message.withUnsafeBytes { bytes in
            for _ in 0..<10 { server.store.append(bytes) }
        }
        now &+= 1_000
        let (sent, status) = connection.service(now: now, output: output)
        precondition(sent == 10 && status == .open, "the server did not send the published messages")
    }
}

/// A logged-in client; each step parses one read of 10 Sequenced Data packets.
final class ClientRig {
    let client: SoupClient
    let consumer = CountingConsumer()
    let output = DiscardingOutput()
    var read: [UInt8] = []

    init() throws {
        client = try SoupClient(configuration: .init(firstSequence: 1), consumer: consumer)
        client.connected(now: 0, output: output)
        var accepted = [UInt8](repeating: 0, count: 33)
        _ = accepted.withUnsafeMutableBytes { buffer in
            Array("BENCH".utf8).withUnsafeBytes { SoupWriter.loginAccepted(session: $0, sequence: 1, to: buffer.baseAddress!) }
        }
        _ = accepted.withUnsafeBytes { client.receive($0, now: 0, output: output) }
        precondition(client.state == .streaming, "the benchmark client did not log in")
        let message = [UInt8](repeating: 0x4D, count: 40)
        var frame = [UInt8](repeating: 0, count: 43)
        _ = frame.withUnsafeMutableBytes { buffer in
            message.withUnsafeBytes { SoupWriter.data(.sequencedData, $0, to: buffer.baseAddress!) }
        }
        for _ in 0..<10 { read += frame }
        step()
    }

    func step() {
        let before = consumer.delivered
        let (used, status) = read.withUnsafeBytes { client.receive($0, now: 0, output: output) }
        precondition(used == read.count && status == .open && consumer.delivered == before + 10,
                     "the client did not deliver the read")
    }
}

/// SoupTCPServer → SoupTCPClient over loopback; each step publishes 10 messages
/// and runs the reactor until the client delivered them.
final class WiringRig {
    let reactor: Reactor
    let store = RetransmissionStore(messageCapacity: 1 << 16)
    let soup: SoupTCPServer
    let tcp: SoupTCPClient
    let consumer = CountingConsumer()
    let message = [UInt8](repeating: 0x4D, count: 40)

    init() throws {
        reactor = try Reactor(backend: .epoll)
        soup = try SoupTCPServer(server: SoupServer(configuration: .init(session: "BENCH"), store: store),
                                 address: SocketAddress("127.0.0.1", port: 0), reactor: reactor)
        tcp = try SoupTCPClient(client: SoupClient(configuration: .init(firstSequence: 1), consumer: consumer),
                                server: soup.localAddress, reactor: reactor)
        step()   // (pumps through the connect and the login too)
        // Warm up: the rings, the store's index and the timers reach steady state.
        for _ in 0..<2000 { step() }
    }

    func step() {
        message.withUnsafeBytes { bytes in
            for _ in 0..<10 { store.append(bytes) }
        }
        let target = store.nextSequenceNumber - 1
        soup.publish(now: reactor.now)
        let consumer = self.consumer
        pump(reactor, what: "soup wiring") { consumer.delivered >= target }
    }
}

let benchmarks: @Sendable () -> Void = {
    registerGate("Server.SendSequenced", timed: true) { try ServerRig() } step: { $0.step() }
    registerGate("Client.ReceiveSequenced", timed: true) { try ClientRig() } step: { $0.step() }
    registerGate("Wiring.Loopback", timed: true) { try WiringRig() } step: { $0.step() }
    registerCanary()
}
