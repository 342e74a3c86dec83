import MoldUDP64
import Testing
import SoupBinTCP

/// An output with a fixed capacity, standing in for a TCP send ring.
final class BufferOutput: SoupOutput {
    var bytes: [UInt8] = []
    var capacity: Int
    init(capacity: Int = 1 << 20) { self.capacity = capacity }
    var writableSpace: Int { capacity - bytes.count }
    func write(_ data: UnsafeRawBufferPointer) {
        precondition(data.count <= writableSpace, "wrote past writableSpace")
        bytes.append(contentsOf: data)
    }
    /// Takes what was written (the peer read it).
    func take() -> [UInt8] {
        defer { bytes.removeAll() }
        return bytes
    }
}

/// Records deliveries.
final class Recorder: MessageConsumer {
    var messages: [(UInt64, [UInt8])] = []
    var lost: [(UInt64, UInt64)] = []
    var ended: UInt64?
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { messages.append((sequence, Array(message))) }
    func lost(firstSequence: UInt64, count: UInt64) { lost.append((firstSequence, count)) }
    func endOfSession(nextSequence: UInt64) { ended = nextSequence }
}

/// Every packet in `bytes`, as (type, payload).
func packets(_ bytes: [UInt8]) throws -> [(PacketType, [UInt8])] {
    try bytes.withUnsafeBytes { raw in
        var out: [(PacketType, [UInt8])] = []
        var offset = 0
        while let packet = try SoupPacket.first(in: UnsafeRawBufferPointer(rebasing: raw[offset...])) {
            out.append((packet.type, Array(packet.payload)))
            offset += packet.frameLength
        }
        #expect(offset == raw.count, "trailing partial packet")
        return out
    }
}

func message(_ sequence: UInt64) -> [UInt8] {
    Array("message \(sequence)".utf8)
}

func store(messages count: Int, capacity: Int = 65_536) -> RetransmissionStore {
    let store = RetransmissionStore(messageCapacity: capacity)
    for sequence in 1...UInt64(max(1, count)) where count > 0 {
        message(sequence).withUnsafeBytes { _ = store.append($0) }
    }
    return store
}

/// A server connection and a client connected through two in-memory pipes.
final class Pair {
    let server: SoupServer
    let connection: SoupServerConnection
    let client: SoupClient
    let recorder = Recorder()
    let toClient: BufferOutput
    let toServer = BufferOutput()
    var clientPending: [UInt8] = []
    var serverPending: [UInt8] = []
    var now: UInt64 = 1_000_000_000
    var serverStatus = SoupConnectionStatus.open
    var clientStatus = SoupConnectionStatus.open

    init(server: SoupServer, client configuration: SoupClient.Configuration, toClientCapacity: Int = 1 << 20) throws {
        self.server = server
        toClient = BufferOutput(capacity: toClientCapacity)
        connection = server.accept(now: now)!
        client = try SoupClient(configuration: configuration, consumer: recorder)
        client.connected(now: now, output: toServer)
    }

    /// Moves bytes both ways and services both ends until nothing moves.
    func exchange(rounds: Int = 10_000) {
        for _ in 0..<rounds {
            var moved = false
            serverPending += toServer.take()
            if !serverPending.isEmpty, serverStatus == .open {
                let (used, status) = serverPending.withUnsafeBytes { connection.receive($0, now: now, output: toClient) }
                serverPending.removeFirst(used)
                serverStatus = status
                moved = moved || used > 0
            }
            if serverStatus == .open {
                let (sent, status) = connection.service(now: now, output: toClient)
                serverStatus = status
                moved = moved || sent > 0
            }
            clientPending += toClient.take()
            if !clientPending.isEmpty, clientStatus == .open {
                let (used, status) = clientPending.withUnsafeBytes { client.receive($0, now: now, output: toServer) }
                clientPending.removeFirst(used)
                clientStatus = status
                moved = moved || used > 0
            }
            if !moved && toServer.bytes.isEmpty && toClient.bytes.isEmpty { return }
        }
    }
}
