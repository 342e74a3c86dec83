import BenchmarkSupport
import MoldUDP64
import Reactor

/// Takes packets and drops them (counting), so the publisher's packing is
/// measured alone.
final class DiscardingSink: PacketSink {
    var packets = 0
    func send(_ packet: UnsafeRawBufferPointer) -> Bool {
        packets += 1
        return true
    }
}

/// A Publisher with a retransmission store on a fake clock, sending either to a
/// discarding sink or through a UDPPacketSink to a loopback socket nobody reads
/// (the kernel drops what does not fit its receive buffer; the send succeeds).
final class PublisherRig {
    let publisher: Publisher
    let discarding = DiscardingSink()
    /// The unread destination socket of the UDP variant.
    let destination: UDPSocket?
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: messageLength, alignment: 8)
    var now: UInt64 = 1_000_000_000

    init(udp: Bool) throws {
        var configuration = Publisher.Configuration(session: benchSession)
        configuration.flushDelay = 100_000
        let sink: any PacketSink
        if udp {
            let target = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
            destination = target
            sink = UDPPacketSink(socket: try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0)),
                                 destination: try target.localAddress())
        } else {
            destination = nil
            sink = discarding
        }
        publisher = Publisher(configuration, sink: sink, store: RetransmissionStore())
        message.initializeMemory(as: UInt8.self, repeating: 0x42)
        for _ in 0..<100_000 { append() }
        for _ in 0..<1_000 { heartbeat() }
        precondition(publisher.counters.packetsSent > 0 && publisher.counters.sendFailures == 0,
                     "PublisherRig: packets were not sent")
    }

    deinit {
        if let sink = publisher.sink as? UDPPacketSink { sink.socket.close() }
        destination?.close()
        message.deallocate()
    }

    /// One message appended 1 µs after the previous one: packets fill up and go
    /// out when full, and a poll sends one whose flush delay ran out.
    @inline(__always)
    func append() {
        do {
            try publisher.append(UnsafeRawBufferPointer(message), now: now)
        } catch {
            fatalError("PublisherRig: \(error)")
        }
        now &+= 1_000
        publisher.poll(now: now)
    }

    /// A heartbeat interval of silence, then a poll: one heartbeat.
    @inline(__always)
    func heartbeat() {
        now &+= publisher.configuration.heartbeatInterval
        let sent = publisher.poll(now: now)
        precondition(sent >= 1, "PublisherRig: no heartbeat after a silent interval")
    }
}

/// A RetransmissionServer over a filled store, answered through its I/O-free
/// core with a raw sockaddr, on a fake clock.
final class ServerRig {
    let store = RetransmissionStore(messageCapacity: 65_536)
    let server: RetransmissionServer
    let request = UnsafeMutableRawBufferPointer.allocate(byteCount: Request.size, alignment: 8)
    let requesterName: UnsafeMutableRawBufferPointer
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: messageLength, alignment: 8)
    var now: UInt64 = 1_000_000_000
    var cursor: UInt64 = 1
    var checksum = 0

    init() throws {
        let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        server = RetransmissionServer(socket: socket, store: store, configuration: .init(session: benchSession))
        message.initializeMemory(as: UInt8.self, repeating: 0x17)
        for _ in 0..<60_000 { store.append(UnsafeRawBufferPointer(message)) }
        requesterName = try SocketAddress("127.0.0.1", port: 42_001).withSockaddr { address, length in
            let name = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(length), alignment: 8)
            name.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
            return name
        }
        for _ in 0..<1_000 { answer() }
        for _ in 0..<1_000 { storeAppendAndRead() }
        for _ in 0..<1_000 { requestRoundTrip() }
    }

    deinit {
        server.socket.close()
        request.deallocate()
        requesterName.deallocate()
        message.deallocate()
    }

    /// A valid 20-byte request for 10 messages inside the store; the answer
    /// must carry them. Time advances 10 ms so the rate limits never refuse.
    @inline(__always)
    func answer() {
        let first = store.firstSequenceNumber + cursor % 50_000
        cursor &+= 1
        _ = Request(session: benchSession, sequenceNumber: first, messageCount: 10).encode(into: request)
        guard let packet = server.answer(to: UnsafeRawBufferPointer(request), from: UnsafeRawBufferPointer(requesterName),
                                         now: now) else {
            fatalError("ServerRig: no answer to a valid request (\(server.counters))")
        }
        checksum &+= packet.count
        now &+= 10_000_000
    }

    /// Appends a message (evicting the oldest once full) and reads one back.
    @inline(__always)
    func storeAppendAndRead() {
        let sequence = store.append(UnsafeRawBufferPointer(message))
        guard let stored = store.message(sequence - 1_000) else { fatalError("ServerRig: stored message missing") }
        checksum &+= stored.count
    }

    /// Encodes a request and decodes it again.
    @inline(__always)
    func requestRoundTrip() {
        cursor &+= 1
        let original = Request(session: benchSession, sequenceNumber: cursor, messageCount: UInt16(truncatingIfNeeded: cursor) | 1)
        _ = original.encode(into: request)
        do {
            let decoded = try Request(decoding: UnsafeRawBufferPointer(request))
            precondition(decoded == original, "ServerRig: request did not survive encode + decode")
        } catch {
            fatalError("ServerRig: \(error)")
        }
    }
}
