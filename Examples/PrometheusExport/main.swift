// swift run PrometheusExport --port 9464 --seconds 60
//
// A MoldUDP64 publisher, retransmission server and client on one reactor over
// loopback multicast (1% of packets dropped and recovered), with their counters
// exported through swift-metrics to swift-prometheus and served as text on
// http://127.0.0.1:PORT/metrics (port 0: the kernel picks one; the URL is printed).
// The reactor thread updates the metrics once per 100 ms snapshot (MetricsExporter),
// never per packet; a plain blocking HTTP responder on another thread serves the
// registry (which is thread-safe). Try: curl -s http://127.0.0.1:9464/metrics | grep delivered
import FeedReactorMetrics
import Foundation
import MoldUDP64
import Multicast
import Prometheus
import Reactor

var options = [String: String]()
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst(), let value = arguments.popFirst() { options[key] = value }
let httpPort = UInt16(options["--port"] ?? "9464") ?? 9464
let seconds = Double(options["--seconds"] ?? "0") ?? 0

let registry = PrometheusCollectorRegistry()
let exporter = MetricsExporter(factory: PrometheusMetricsFactory(registry: registry))

let reactor = try Reactor(backend: .auto)
let loopback = MulticastInterface.address(try IPAddress("127.0.0.1"))
let session = try SessionID(validating: "PROM000001")

// The consumer side first: it joins and picks its port.
final class Tally: MessageConsumer {
    var delivered = 0
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { delivered += 1 }
}
let serverSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
let client = try Client(Client.Configuration(lines: [try Subscription(group: "239.255.90.1", port: 0, interface: loopback)],
                                             servers: [try serverSocket.localAddress()]),
                        reactor: reactor, consumer: Tally())

// The feed side: 20,000 messages/s, 1% of packets dropped on the wire.
let sender = try MulticastSender(group: IPAddress("239.255.90.1"), port: client.linePorts[0], interface: loopback)
let store = RetransmissionStore()
var configuration = Publisher.Configuration(session: session)
configuration.loss = LossSimulation(dropFraction: 0.01, seed: 1)
let publisher = Publisher(configuration, sink: UDPPacketSink(socket: sender.socket, destination: sender.destination), store: store)
try publisher.attach(to: reactor)
let server = RetransmissionServer(socket: serverSocket, store: store, configuration: .init(session: session))
try reactor.register(serverSocket, handler: server)

final class Source: TimerHandler {
    let publisher: Publisher
    var message = [UInt8](repeating: 0x42, count: 24)
    init(_ publisher: Publisher) { self.publisher = publisher }
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        for _ in 0..<20 { _ = try? message.withUnsafeBytes { try publisher.append($0, now: now) } }
    }
}
try reactor.schedule(after: 1_000_000, period: 1_000_000, handler: Source(publisher))

exporter.watch(reactor, name: "example")
exporter.watch(client, name: "example")
exporter.watch(publisher, name: "example")
exporter.watch(server, name: "example")
try exporter.start(on: reactor, interval: 100_000_000)

// The HTTP side: one blocking listener on loopback, one request per connection.
let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
var one: Int32 = 1
setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
var address = sockaddr_in()
address.sin_family = sa_family_t(AF_INET)
address.sin_port = httpPort.bigEndian
address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
}
guard bound == 0, listen(listener, 16) == 0 else {
    FileHandle.standardError.write(Data("PrometheusExport: cannot listen on 127.0.0.1:\(httpPort): \(String(cString: strerror(errno))); try --port 0\n".utf8))
    exit(1)
}
var length = socklen_t(MemoryLayout<sockaddr_in>.size)
_ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
}
// Written at once (not through print's buffer): a test waits for this line on a pipe.
FileHandle.standardOutput.write(Data("serving metrics on http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))/metrics\n".utf8))

let http = Thread {
    var request = [UInt8](repeating: 0, count: 4096)
    while true {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { continue }
        _ = read(connection, &request, request.count)   // one request line is all a scraper sends
        let body = Array(registry.emitToString().utf8)
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + body
        var offset = 0
        while offset < response.count {
            let written = response[offset...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
        close(connection)
    }
}
http.start()

if seconds > 0 {
    final class Stop: TimerHandler {
        func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) { reactor.stop() }
    }
    try reactor.schedule(after: Nanoseconds.seconds(seconds), handler: Stop())
}
try reactor.run()
exporter.stop(on: reactor)
print("delivered=\(client.counters.delivered) recovered=\(client.counters.recovered)")
