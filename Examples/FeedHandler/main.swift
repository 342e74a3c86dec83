// swift run -c release FeedHandler --group 239.255.1.1 --port 41000 --rerequest 127.0.0.1:41001
//
// A minimal MoldUDP64 feed handler: join a multicast line, recover gaps from a
// re-request server, receive every message in order exactly once. Try it with
// `swift run -c release MiniPublisher` in another terminal.
import MoldUDP64
import Multicast
import Reactor

final class Printer: MessageConsumer {
    var count = 0
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        count += 1
        if sequence % 10_000 == 0 { print("message \(sequence): \(message.count) bytes") }
    }
    func endOfSession(nextSequence: UInt64) {
        print("end of session after \(count) messages")
        stop = true
    }
    var stop = false
}

var options = [String: String]()
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst(), let value = arguments.popFirst() { options[key] = value }

let reactor = try Reactor(backend: .auto)
let line = try Subscription(group: options["--group"] ?? "239.255.1.1", port: UInt16(options["--port"] ?? "41000")!,
                            interface: .address(try IPAddress(options["--interface"] ?? "127.0.0.1")))
let server = try SocketAddress(parsing: options["--rerequest"] ?? "127.0.0.1:41001")
let printer = Printer()
let client = try Client(Client.Configuration(lines: [line], servers: [server]), reactor: reactor, consumer: printer)
while !printer.stop { try reactor.runOnce(timeout: 100_000_000) }
print(client.counters.summary)
