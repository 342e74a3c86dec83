// swift run -c release MiniPublisher --group 239.255.1.1 --port 41000 --retransmit-port 41001
//
// A minimal MoldUDP64 publisher: 100,000 messages at 50,000/s to a multicast
// group on loopback, 1% of packets dropped on purpose, a retransmission server
// answering re-requests, then end of session. Pair it with `FeedHandler`.
import MoldUDP64
import Multicast
import Reactor

var options = [String: String]()
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst(), let value = arguments.popFirst() { options[key] = value }
let port = UInt16(options["--port"] ?? "41000")!
let retransmitPort = UInt16(options["--retransmit-port"] ?? "41001")!

let reactor = try Reactor(backend: .auto)
let session = try SessionID(validating: "MINI000001")
let sender = try MulticastSender(group: IPAddress(options["--group"] ?? "239.255.1.1"), port: port,
                                 interface: .address(try IPAddress("127.0.0.1")))
let store = RetransmissionStore()
var configuration = Publisher.Configuration(session: session)
configuration.loss = LossSimulation(dropFraction: 0.01, seed: 1)
let publisher = Publisher(configuration, sink: UDPPacketSink(socket: sender.socket, destination: sender.destination), store: store)
try publisher.attach(to: reactor)
let serverSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: retransmitPort))
try reactor.register(serverSocket, handler: RetransmissionServer(socket: serverSocket, store: store,
                                                                 configuration: .init(session: session)))

/// Every millisecond, append the messages due at 50,000/s.
final class Source: TimerHandler {
    let publisher: Publisher
    init(_ publisher: Publisher) { self.publisher = publisher }
    var sent = 0
    var message = [UInt8](repeating: 0x41, count: 32)
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        for _ in 0..<50 where sent < 100_000 {
            sent += 1
            _ = try? message.withUnsafeBytes { try publisher.append($0, now: now) }
        }
        if sent == 100_000 && !publisher.hasEnded { publisher.endSession(now: now) }
    }
}
try reactor.schedule(after: 1_000_000, period: 1_000_000, handler: Source(publisher))
print("publishing to \(sender.destination), retransmissions on 127.0.0.1:\(retransmitPort); Ctrl-C to stop")
try reactor.run()
