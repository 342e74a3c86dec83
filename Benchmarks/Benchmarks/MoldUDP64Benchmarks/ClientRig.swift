import BenchmarkSupport
import FeedReactorMetrics
import Logging
import MoldUDP64
import Multicast
import Reactor

/// A Client on a reactor with one line on 239.255.77.2 over lo, and a loopback
/// UDP socket as its re-request server that the rig answers from. Built and
/// warmed up outside the measured region.
final class ClientRig {
    let reactor: Reactor
    let client: Client
    let consumer = SummingConsumer()
    let sender: MulticastSender
    /// The re-request server: the rig reads requests here and answers from it.
    let server: UDPSocket
    /// Where answers go: the client's request socket, on 127.0.0.1.
    let answerAddress: SocketAddress
    let requestBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    /// Two packets: the live one and, in recovery, the one withheld and answered.
    let packets = PacketRun(count: 2)
    var next: UInt64 = 1
    /// With `instrumented`: swift-metrics export every 100 us (each timer tick) and
    /// swift-log loggers on the reactor and the client, to show they add nothing.
    var exporter: MetricsExporter?

    init(backend: BackendKind, instrumented: Bool = false) throws {
        var reactorConfiguration = Reactor.Configuration(backend: backend)
        if instrumented { reactorConfiguration.logger = Logger(label: "bench.reactor") }
        reactor = try Reactor(reactorConfiguration)
        let loopback = try IPAddress("127.0.0.1")
        let group = try IPAddress("239.255.77.2")
        server = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        var configuration = Client.Configuration(
            lines: [try Subscription(group: group, port: 0, interface: .address(loopback))],
            servers: [try server.localAddress()])
        configuration.session.pinnedSession = benchSession
        // A gap is requested as soon as it shows, and the request rate limit
        // never holds a request back: the rig recovers one packet per iteration,
        // far faster than a real feed would need.
        configuration.session.reorderWindowPackets = 0
        configuration.rerequest.requestsPerSecond = 1_000_000_000
        configuration.rerequest.requestBurst = 1_000
        if instrumented { configuration.logger = Logger(label: "bench.client") }
        client = try Client(configuration, reactor: reactor, consumer: consumer)
        if instrumented {
            // swift-metrics' default backend (none bootstrapped): what is measured is the
            // exporter's snapshot on the reactor; a real backend's own cost is its own.
            let exporter = MetricsExporter(logger: Logger(label: "bench.metrics"))
            exporter.watch(reactor, name: "bench")
            exporter.watch(client, name: "bench")
            try exporter.start(on: reactor, interval: 100_000)
            self.exporter = exporter
        }
        guard let requestPort = client.requestAddress?.port else { fatalError("ClientRig: request socket has no address") }
        answerAddress = try SocketAddress("127.0.0.1", port: requestPort)
        sender = try MulticastSender(group: group, port: client.linePorts[0], interface: .address(loopback), source: loopback)
        for _ in 0..<1_000 { exchange() }
        for _ in 0..<1_000 { recover() }
    }

    deinit {
        sender.close()
        client.close()
        server.close()
        reactor.close()
        requestBuffer.deallocate()
        packets.deallocate()
    }

    /// One live packet of 10 messages, in order: sent to the line, polled until delivered.
    @inline(__always)
    func exchange() {
        let target = consumer.delivered + UInt64(messagesPerPacket)
        packets.renumber(0, first: next)
        next += UInt64(messagesPerPacket)
        sendOrDie("ClientRig") { try sender.send(packets.packet(0)) }
        pump(reactor, what: "ClientRig") { consumer.delivered >= target }
    }

    /// One recovered packet: the line carries packet N+1 but not N; the client
    /// requests N from the server socket, the rig reads the request and answers
    /// with packet N, and the client delivers all 20 messages.
    @inline(__always)
    func recover() {
        let target = consumer.delivered + UInt64(2 * messagesPerPacket)
        let missing = next
        packets.renumber(1, first: missing)
        packets.renumber(0, first: missing + UInt64(messagesPerPacket))
        next += UInt64(2 * messagesPerPacket)
        sendOrDie("ClientRig") { try sender.send(packets.packet(0)) }
        pump(reactor, what: "ClientRig (request)") { receivedRequest(for: missing) }
        sendOrDie("ClientRig") { try server.send(packets.packet(1), to: answerAddress) }
        pump(reactor, what: "ClientRig (answer)") { consumer.delivered >= target }
    }

    /// Reads one request from the server socket, if any: true when it asks for
    /// `first`. A request for an earlier range is a retry sent while this
    /// process was descheduled past the request timeout; it is skipped.
    @inline(__always)
    func receivedRequest(for first: UInt64) -> Bool {
        do {
            guard case .processed(let received) = try server.receive(into: requestBuffer) else { return false }
            let request = try Request(decoding: UnsafeRawBufferPointer(rebasing: requestBuffer[0..<received.length]))
            precondition(request.sequenceNumber <= first, "ClientRig: request for \(request.sequenceNumber), expected \(first)")
            return request.sequenceNumber == first
        } catch {
            fatalError("ClientRig: reading the request failed: \(error)")
        }
    }
}
