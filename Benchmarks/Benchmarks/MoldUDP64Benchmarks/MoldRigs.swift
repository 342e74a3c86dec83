import BenchmarkSupport
import MoldUDP64
import Multicast
import Reactor

let benchSession = SessionID("BENCH")!
let messagesPerPacket = 10
let messageLength = 24

/// Consumes messages without allocating: counts them and folds a byte of each
/// into a sum so the payload is really read.
final class SummingConsumer: MessageConsumer {
    var delivered: UInt64 = 0
    var lastSequence: UInt64 = 0
    var byteSum: UInt64 = 0

    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        precondition(sequence == lastSequence + 1 || lastSequence == 0 || sequence == 1,
                     "SummingConsumer: out of order delivery")
        lastSequence = sequence
        delivered &+= 1
        byteSum &+= UInt64(message[message.count - 1])
    }

    func lost(firstSequence: UInt64, count: UInt64) {
        preconditionFailure("SummingConsumer: \(count) messages from \(firstSequence) lost")
    }
}

/// Counts the requests a Rerequester asks for (records nothing else).
final class CountingRequestSink: RequestSink {
    var requests = 0
    var messagesAsked = 0
    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
        requests += 1
        messagesAsked += Int(count)
    }
}

/// A run of `count` prebuilt 10-message packets numbered from 1, in one buffer.
struct PacketRun {
    let storage: UnsafeMutableRawBufferPointer
    let stride: Int
    let count: Int
    var length: Int

    init(count: Int) {
        stride = PacketWriter.headerSize + messagesPerPacket * (PacketWriter.blockHeaderSize + messageLength)
        self.count = count
        storage = .allocate(byteCount: stride * count, alignment: 16)
        let message = UnsafeMutableRawBufferPointer.allocate(byteCount: messageLength, alignment: 8)
        defer { message.deallocate() }
        var length = 0
        for index in 0..<count {
            var writer = PacketWriter(buffer: UnsafeMutableRawBufferPointer(rebasing: storage[(index * stride)..<((index + 1) * stride)]))
            let first = UInt64(index * messagesPerPacket + 1)
            writer.begin(session: benchSession, sequenceNumber: first)
            for offset in 0..<UInt64(messagesPerPacket) {
                message.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: first + offset))
                precondition(writer.append(UnsafeRawBufferPointer(message)), "PacketRun: message does not fit")
            }
            length = writer.byteCount
        }
        self.length = length
    }

    /// Packet `index` (0-based), valid while the run lives.
    @inline(__always)
    func packet(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage.baseAddress! + index * stride, count: length)
    }

    /// Renumbers packet `index` to start at `first` (the header's sequence field).
    @inline(__always)
    func renumber(_ index: Int, first: UInt64) {
        storage.storeBytes(of: first.bigEndian, toByteOffset: index * stride + 10, as: UInt64.self)
    }

    func deallocate() { storage.deallocate() }
}

/// A Session and a Rerequester on a fake clock, with a consumer and a request
/// sink that allocate nothing.
final class SessionRig {
    let session: Session
    let rerequester: Rerequester
    let consumer = SummingConsumer()
    let requests = CountingRequestSink()
    /// Steady state: one packet renumbered each iteration.
    let live = PacketRun(count: 1)
    /// Recovery rounds: packets 1...8 with two withheld and answered later.
    let round = PacketRun(count: 8)
    let withheld = [1, 4]
    /// The configured server's address as a raw sockaddr (what `Datagram.sourceAddress` is).
    let serverName: UnsafeMutableRawBufferPointer
    var next: UInt64 = 1
    var now: UInt64 = 1_000_000_000

    init() throws {
        let server = try SocketAddress("127.0.0.1", port: 41_999)
        let counters = MoldCounters()
        // reorderWindowPackets 0: a missing range is a gap at once, so each
        // recovery round requests and recovers within the round.
        session = Session(configuration: .init(reorderWindowPackets: 0), counters: counters)
        rerequester = try Rerequester(configuration: .init(servers: [server]), counters: counters)
        session.consumer = consumer
        rerequester.sink = requests
        serverName = rawSockaddr(server)
        for _ in 0..<1_000 { recoveryRound() }
        precondition(requests.requests >= 1_000, "SessionRig: recovery rounds sent no requests")
        restart()
        for _ in 0..<1_000 { steady() }
    }

    deinit {
        live.deallocate()
        round.deallocate()
        serverName.deallocate()
    }

    /// One in-order live packet of 10 messages and a recovery poll (which finds
    /// nothing to do: the steady state).
    @inline(__always)
    func steady() {
        let before = consumer.delivered
        live.renumber(0, first: next)
        do {
            _ = try session.receive(live.packet(0), now: now)
        } catch {
            fatalError("SessionRig: \(error)")
        }
        next += UInt64(messagesPerPacket)
        rerequester.poll(now: now, session: session)
        now &+= 10_000
        precondition(consumer.delivered == before + UInt64(messagesPerPacket), "SessionRig: packet not delivered")
    }

    /// One recovery round from a fresh start: 8 packets of which 2 are withheld,
    /// the rerequester asks for them, and they come back as answers. Then the
    /// session restarts (`switchSession` + `reset`) for the next round.
    @inline(__always)
    func recoveryRound() {
        restart()
        let before = consumer.delivered
        for index in 0..<round.count where !withheld.contains(index) {
            do {
                _ = try session.receive(round.packet(index), now: now)
            } catch {
                fatalError("SessionRig: \(error)")
            }
        }
        let requestsBefore = requests.requests
        rerequester.poll(now: now, session: session)
        precondition(requests.requests > requestsBefore, "SessionRig: no request for the withheld packets")
        for index in withheld {
            rerequester.receiveAnswer(round.packet(index), from: UnsafeRawBufferPointer(serverName), session: session, now: now)
        }
        rerequester.poll(now: now, session: session)
        // Time moves on so the request rate limit refills between rounds.
        now &+= 1_000_000
        precondition(consumer.delivered == before + UInt64(round.count * messagesPerPacket),
                     "SessionRig: the round did not recover every message")
        precondition(rerequester.inFlightCount == 0, "SessionRig: requests still in flight after the answers")
    }

    /// Starts the session over at sequence 1 (the author's allocation-free reset).
    @inline(__always)
    func restart() {
        session.switchSession(to: benchSession, startingAt: 1)
        rerequester.reset()
        consumer.lastSequence = 0
        next = 1
    }
}
