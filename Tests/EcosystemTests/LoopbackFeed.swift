import MoldUDP64
import Multicast
import Reactor
import TestSupport

/// A MoldUDP64 client on a reactor, fed over loopback multicast by a `MoldFeed`
/// (written from the spec) through a `MulticastSender`; the re-request server is a
/// plain socket on the same reactor that answers from the feed.
final class LoopbackFeed {
    let feed: MoldFeed
    let reactor: Reactor
    let client: Client
    let sender: MulticastSender
    let serverSocket: UDPSocket
    var packets: [[UInt8]]
    var sent = 0

    init(reactor: Reactor, messages: Int, perPacket: Int = 100, group: String, consumer: any MessageConsumer,
         configure: (inout Client.Configuration) -> Void = { _ in }) throws {
        self.reactor = reactor
        feed = MoldFeed(session: "ECO0000001", messages: MoldFeed.messages(count: messages, seed: 3, sizes: 8...12))
        packets = feed.packets(perPacket: perPacket)
        let (server, serverAddress) = try loopbackSocket()
        serverSocket = server
        let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
        var configuration = Client.Configuration(lines: [try Subscription(group: group, port: 0, interface: loopback)],
                                                 servers: [serverAddress])
        configuration.receiveBufferBytes = 8 << 20
        configure(&configuration)
        client = try Client(configuration, reactor: reactor, consumer: consumer)
        sender = try MulticastSender(group: IPAddress(group), port: client.linePorts[0], interface: loopback)
    }

    /// Sends the next `count` packets (fewer at the end); returns how many went.
    @discardableResult
    func send(_ count: Int) throws -> Int {
        let end = min(packets.count, sent + count)
        for index in sent..<end {
            _ = try packets[index].withUnsafeBytes { try sender.socket.send($0, to: sender.destination) }
        }
        defer { sent = end }
        return end - sent
    }

    var allSent: Bool { sent == packets.count }

    func sendEndOfSession() throws {
        _ = try feed.endOfSession().withUnsafeBytes { try sender.socket.send($0, to: sender.destination) }
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
