// swift run TinyFeedHandler      (pair it with the README's `feedreactor publish` command)
//
// The README's library example, compiled with the package so it stays true: a
// MoldUDP64 feed handler that joins 239.255.1.1:41000 on loopback, recovers gaps
// from 127.0.0.1:41001, and prints a summary at the end of the session.
import MoldUDP64
import Multicast
import Reactor

final class Book: MessageConsumer {
    let reactor: Reactor
    var messages = 0
    var bytes = 0
    init(reactor: Reactor) { self.reactor = reactor }

    // Each message once, in sequence order; the bytes are valid during the call only.
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        messages += 1
        bytes += message.count
    }

    func lost(firstSequence: UInt64, count: UInt64) { print("lost \(count) messages from \(firstSequence)") }

    func endOfSession(nextSequence: UInt64) { reactor.stop() }
}

let reactor = try Reactor(backend: .auto)
let line = try Subscription(group: "239.255.1.1", port: 41000, interface: .name("lo"))
let server = try SocketAddress(resolving: "127.0.0.1:41001")
let book = Book(reactor: reactor)   // the client holds its consumer weakly: keep it
let client = try Client(Client.Configuration(lines: [line], servers: [server]), reactor: reactor, consumer: book)
print("listening on \(line)")
try reactor.run(idle: .block)
print("\(book.messages) messages, \(book.bytes) bytes; \(client.counters.summary)")
