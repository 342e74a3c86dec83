// swift run FeedService --group 239.255.1.1 --port 41000 --interface 127.0.0.1 --rerequest 127.0.0.1:41001
//
// A MoldUDP64 client run as a swift-service-lifecycle service: SIGTERM or SIGINT
// (Ctrl-C) shuts it down gracefully: it leaves the lines, lets re-requests in
// flight finish (up to 1 s), closes its sockets and prints its summary. Pair it
// with `feedreactor publish` (see the README). Port 0 binds a kernel-chosen port,
// printed as `ready port=<n>`.
import FeedReactorServices
import Foundation
import Logging
import MoldUDP64
import Multicast
import Reactor
import ServiceLifecycle
import Synchronization

var options = [String: String]()
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst(), let value = arguments.popFirst() { options[key] = value }

/// Lines to stdout at once (a test reads them from a pipe).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

final class Tally: MessageConsumer {
    var delivered = 0
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { delivered += 1 }
}

let interface = try options["--interface"].map { (text) throws(MulticastError) -> MulticastInterface in try MulticastInterface(parsing: text) }
let line = try Subscription(group: options["--group"] ?? "239.255.1.1", port: UInt16(options["--port"] ?? "41000") ?? 41000,
                            interface: interface)
let server = try SocketAddress(resolving: options["--rerequest"] ?? "127.0.0.1:41001")
var logger = Logger(label: "FeedService")
logger.logLevel = .notice

let service = ClientService(configuration: Client.Configuration(lines: [line], servers: [server]),
                            logger: logger, makeConsumer: { _ in Tally() },
                            onStart: { client in say("ready port=\(client.linePorts[0])") },
                            onSummary: { summary in say("summary \(summary)") })
let group = ServiceGroup(configuration: .init(services: [.init(service: service)],
                                              gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
