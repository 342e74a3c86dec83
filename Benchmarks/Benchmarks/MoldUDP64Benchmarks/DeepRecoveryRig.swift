import MoldUDP64
import Reactor

/// Recovery with a deep reorder buffer (issue 18): 256 packets of which every
/// fourth is withheld, so 192 wait in the buffer while 64 gaps are requested
/// (with a learned answer cap) and the answers land in the middle of the
/// buffer, last gap first. Zero allocations per round.
final class DeepRecoveryRig {
    let session: Session
    let rerequester: Rerequester
    let consumer = SummingConsumer()
    let requests = CountingRequestSink()
    let round = PacketRun(count: 256)
    let serverName: UnsafeMutableRawBufferPointer
    var now: UInt64 = 1_000_000_000

    init() throws {
        let server = try SocketAddress("127.0.0.1", port: 41_998)
        let counters = MoldCounters()
        session = Session(configuration: .init(reorderWindowPackets: 0), counters: counters)
        rerequester = try Rerequester(configuration: .init(servers: [server], maxMessagesPerRequest: 10), counters: counters)
        session.consumer = consumer
        rerequester.sink = requests
        serverName = rawSockaddr(server)
        for _ in 0..<100 { recoveryRound() }
    }

    deinit {
        round.deallocate()
        serverName.deallocate()
    }

    @inline(__always)
    func recoveryRound() {
        session.switchSession(to: benchSession, startingAt: 1)
        rerequester.reset()
        consumer.lastSequence = 0
        let before = consumer.delivered
        for index in 0..<round.count where index % 4 != 1 {
            do {
                _ = try session.receive(round.packet(index), now: now)
            } catch {
                fatalError("DeepRecoveryRig: \(error)")
            }
        }
        precondition(session.bufferedPackets == 191, "DeepRecoveryRig: expected 191 packets buffered")
        let requestsBefore = requests.requests
        rerequester.poll(now: now, session: session)
        precondition(requests.requests - requestsBefore == 64, "DeepRecoveryRig: expected one request per gap")
        var index = round.count - 3
        while index >= 1 {
            rerequester.receiveAnswer(round.packet(index), from: UnsafeRawBufferPointer(serverName), session: session, now: now)
            index -= 4
        }
        rerequester.poll(now: now, session: session)
        // Time moves on so the request rate limit refills between rounds.
        now &+= 1_000_000_000
        precondition(consumer.delivered == before + UInt64(round.count * messagesPerPacket),
                     "DeepRecoveryRig: the round did not recover every message")
        precondition(rerequester.inFlightCount == 0, "DeepRecoveryRig: requests still in flight after the answers")
    }
}

/// A copy of `address` as a raw sockaddr (what `Datagram.sourceAddress` is);
/// the caller deallocates it.
func rawSockaddr(_ address: SocketAddress) -> UnsafeMutableRawBufferPointer {
    address.withSockaddr { raw, length in
        let name = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(length), alignment: 8)
        name.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(length)))
        return name
    }
}
