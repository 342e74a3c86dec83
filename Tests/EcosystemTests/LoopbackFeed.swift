import MoldUDP64
import Multicast
import Reactor
import TestSupport

/// A MoldUDP64 client on a reactor, fed over loopback multicast by a `MoldFeed`
/// (written from the spec) through a `MulticastSender`, with a re-request server
/// on the same reactor answering from the feed. Reactor thread only.
final class LoopbackFeed: DatagramHandler, TimerHandler {
    let feed: MoldFeed
    let reactor: Reactor
    var client: Client!
    let sender: MulticastSender
    /// The group and the port the client's line was bound to.
    var destination: SocketAddress
    var packets: [[UInt8]]
    var sent = 0
    var sentMessages: UInt64 = 0
    var window: UInt64 = .max
    var pacer = TimerHandle.invalid

    init(reactor: Reactor, messages: Int, perPacket: Int = 100, group: String,
         configure: (inout Client.Configuration) -> Void = { _ in },
         makeClient: (Client.Configuration, Reactor) throws -> Client) throws {
        self.reactor = reactor
        feed = MoldFeed(session: "ECO0000001", messages: MoldFeed.messages(count: messages, seed: 3, sizes: 8...12))
        packets = feed.packets(perPacket: perPacket)
        let (server, serverAddress) = try loopbackSocket()
        let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
        var configuration = Client.Configuration(lines: [try Subscription(group: group, port: 0, interface: loopback)],
                                                 servers: [serverAddress])
        configuration.receiveBufferBytes = 8 << 20
        configure(&configuration)
        sender = try MulticastSender(group: IPAddress(group), port: 1, interface: loopback)
        destination = sender.destination
        try reactor.register(server, handler: self)
        client = try makeClient(configuration, reactor)
        destination.port = client.linePorts[0]
    }

    convenience init(reactor: Reactor, messages: Int, perPacket: Int = 100, group: String, consumer: any MessageConsumer,
                     configure: (inout Client.Configuration) -> Void = { _ in }) throws {
        try self.init(reactor: reactor, messages: messages, perPacket: perPacket, group: group, configure: configure) {
            try Client($0, reactor: $1, consumer: consumer)
        }
    }

    /// Sends the next `count` packets (fewer at the end); returns how many went.
    @discardableResult
    func send(_ count: Int) throws -> Int {
        let end = min(packets.count, sent + count)
        for index in sent..<end {
            _ = try packets[index].withUnsafeBytes { try sender.socket.send($0, to: destination) }
            sentMessages += UInt64(packets[index][18]) << 8 | UInt64(packets[index][19])
        }
        defer { sent = end }
        return end - sent
    }

    var allSent: Bool { sent == packets.count }

    func sendEndOfSession() throws {
        _ = try feed.endOfSession().withUnsafeBytes { try sender.socket.send($0, to: destination) }
    }

    /// Sends on a 100 µs timer, keeping at most `window` messages ahead of what the
    /// client delivered (flow control without sleeping); then the end of session
    /// every 10 ms, as a publisher repeats it.
    func startPacedSending(window: UInt64) throws {
        self.window = window
        pacer = try reactor.schedule(after: 100_000, period: 100_000, handler: self)
    }

    var endRepeats: UInt64 = 0

    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        if allSent {
            endRepeats += 1
            if endRepeats % 100 == 1 { try? sendEndOfSession() }
            return
        }
        var burst = 0
        while !allSent && burst < 50 && sentMessages < client.counters.delivered &+ window {
            _ = try? send(1)
            burst += 1
        }
    }

    /// The re-request server: answers from the feed, for what was sent.
    func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
        let socket = reactor.socket(for: batch.token)!
        for datagram in batch {
            guard let answer = feed.answer(request: Array(datagram.bytes), publishedEnd: sentMessages + 1) else { continue }
            _ = try answer.withUnsafeBytes { bytes in
                try socket.send(bytes, toRaw: datagram.sourceAddress.baseAddress!, length: datagram.sourceAddress.count)
            }
        }
    }
}

/// Counts deliveries and checks their order.
final class OrderChecker: MessageConsumer {
    var next: UInt64 = 1
    var delivered = 0
    var outOfOrder = 0
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        if sequence != next { outOfOrder += 1 }
        next = sequence + 1
        delivered += 1
    }
}
