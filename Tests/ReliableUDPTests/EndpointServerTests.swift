import Testing
import Reactor
import ReliableUDP
import TestSupport

/// Reactor wiring over real loopback sockets: the cookie handshake, many
/// endpoints on one port, connection limit, handshake floods, idle timeout.
@Suite struct EndpointServerTests {
    static func smallConfiguration() -> Configuration {
        var configuration = Configuration()
        configuration.sendWindow = 16
        configuration.receiveWindow = 16
        configuration.unreliableQueue = 16
        configuration.maxPacketsInFlight = 256
        configuration.maxMessageSize = 256
        configuration.maxDatagramSize = 700
        configuration.initialRTT = 10_000_000
        // Generous: the whole suite runs in parallel on a shared 2-core machine,
        // and a starved loop must not look like a dead peer.
        configuration.deadPeerTimeout = 60_000_000_000
        return configuration
    }

    final class Echo: EndpointServerDelegate {
        var accepted = 0
        var ended = 0
        func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) {
            try? server.send(to: id, message.guarantee, message.bytes)
        }
        func server(_ server: EndpointServer, accepted id: UInt64) { accepted += 1 }
        func server(_ server: EndpointServer, ended id: UInt64, state: Connection.State) { ended += 1 }
    }

    final class Client: EndpointDelegate {
        var established = false
        var received: [UInt64] = []
        var endedState: Connection.State?
        func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage) {
            received.append(TestPayload.index(message.bytes) ?? .max)
        }
        func endpointEstablished(_ endpoint: Endpoint) { established = true }
        func endpoint(_ endpoint: Endpoint, ended state: Connection.State) { endedState = state }
    }

    static func makeServer(_ reactor: Reactor, maxConnections: Int = 1024,
                           configuration: Configuration = smallConfiguration()) throws -> (EndpointServer, Echo, SocketAddress) {
        let (socket, address) = try loopbackSocket()
        _ = try? socket.setReceiveBuffer(bytes: 4 << 20)
        let echo = Echo()
        let server = try EndpointServer(reactor: reactor, socket: socket, configuration: configuration,
                                        maxConnections: maxConnections, delegate: echo)
        return (server, echo, address)
    }

    static func connect(_ reactor: Reactor, to address: SocketAddress, configuration: Configuration = smallConfiguration())
        throws -> (Endpoint, Client) {
        // connect() picks a unique ephemeral port; bound(to: port 0) sets
        // SO_REUSEADDR, with which two of 1,000 sockets can get the same port.
        let socket = try UDPSocket()
        try socket.connect(to: address)
        let client = Client()
        let endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, configuration: configuration,
                                    receiveSlots: 8, delegate: client)
        return (endpoint, client)
    }

    @Test func thousandEndpointsOnOnePortEachExchangeMessages() throws {
        var reactorConfiguration = Reactor.Configuration()
        reactorConfiguration.maxRegistrations = 1100
        let reactor = try Reactor(reactorConfiguration)
        defer { reactor.close() }
        let (server, echo, address) = try Self.makeServer(reactor)
        var clients: [(Endpoint, Client)] = []
        for _ in 0..<1000 {
            clients.append(try Self.connect(reactor, to: address))
            if clients.count % 100 == 0 { _ = try reactor.poll() }
        }
        try pump(reactor, cycles: 20_000, timeout: 5_000_000) { clients.allSatisfy { $0.1.established } }
        #expect(clients.allSatisfy { $0.1.established })
        #expect(server.connectionCount == 1000)
        #expect(echo.accepted == 1000)
        let perClient: UInt64 = 5
        for (endpoint, _) in clients {
            for index in 0..<perClient {
                try TestPayload.make(index).withUnsafeBytes { try endpoint.send(.delivery, $0) }
            }
        }
        try pump(reactor, cycles: 50_000, timeout: 5_000_000) {
            clients.allSatisfy { $0.1.received.count == Int(perClient) }
        }
        #expect(clients.allSatisfy { $0.1.received == Array(0..<perClient) })
        #expect(server.counters.unknownConnection == 0 && server.counters.wrongSource == 0)
    }

    @Test func connectionLimitRefusesTheRest() throws {
        let reactor = try Reactor()
        defer { reactor.close() }
        let (server, _, address) = try Self.makeServer(reactor, maxConnections: 3)
        var clients: [(Endpoint, Client)] = []
        for _ in 0..<5 { clients.append(try Self.connect(reactor, to: address)) }
        try pump(reactor, cycles: 2000, timeout: 2_000_000) {
            server.counters.refusedAtLimit >= 2 && clients.filter { $0.1.established }.count == 3
        }
        #expect(server.connectionCount == 3)
        #expect(clients.filter { $0.1.established }.count == 3)
        #expect(server.counters.refusedAtLimit >= 2)
    }

    @Test func handshakeFloodAllocatesNothing() throws {
        let reactor = try Reactor()
        defer { reactor.close() }
        let (server, _, address) = try Self.makeServer(reactor)
        let (flooder, _) = try loopbackSocket()
        defer { flooder.close() }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: WireFormat.helloPaddedLength, alignment: 8)
        defer { buffer.deallocate() }
        var random = SeededGenerator(seed: 5)
        for index in 0..<4000 {
            let message: Handshake.Message = index % 2 == 0
                ? .hello(source: random.next(), window: 16)
                : .helloWithCookie(source: random.next(), window: UInt32.max, timestamp: reactor.now / 1_000_000_000,
                                   cookie: .init(high: random.next(), low: random.next()))
            let length = Handshake.encode(message, destination: 0, into: buffer)
            _ = try flooder.send(UnsafeRawBufferPointer(start: buffer, count: length), to: address)
            // A short hello (unpadded) must not even get a cookie.
            if index % 100 == 0 { _ = try flooder.send(UnsafeRawBufferPointer(start: buffer, count: 40), to: address) }
            if index % 64 == 0 { _ = try reactor.poll() }
        }
        try pump(reactor, cycles: 200, timeout: 2_000_000) { server.counters.cookiesRejected + server.counters.hellos >= 3900 }
        #expect(server.connectionCount == 0)
        #expect(server.counters.accepted == 0)
        #expect(server.counters.cookiesRejected > 1800)
        #expect(server.counters.hellos > 1800)
        #expect(server.counters.malformed >= 30)
    }

    @Test func silentPeerIsRemovedAfterTheIdleTimeout() throws {
        var configuration = Self.smallConfiguration()
        configuration.heartbeatPeriod = 50_000_000
        configuration.deadPeerTimeout = 1_500_000_000
        let reactor = try Reactor()
        defer { reactor.close() }
        let (server, echo, address) = try Self.makeServer(reactor, configuration: configuration)
        let (endpoint, client) = try Self.connect(reactor, to: address, configuration: configuration)
        try pump(reactor, cycles: 1000, timeout: 2_000_000) { client.established }
        #expect(server.connectionCount == 1)
        // The handshake's round trip over loopback is the first RTT sample, not 333 ms.
        let handshakeRTT = try #require(endpoint.handshakeRTT)
        #expect(handshakeRTT < 100_000_000)
        #expect(endpoint.connection?.rtt.hasSamples == true)
        #expect(endpoint.connection?.rtt.smoothed == handshakeRTT)
        // Heartbeats keep it alive past the timeout.
        let start = reactor.now
        try pump(reactor, cycles: 10_000, timeout: 10_000_000) { reactor.now > start + 1_800_000_000 }
        #expect(server.connectionCount == 1)
        #expect(endpoint.connection?.counters.heartbeatsSent ?? 0 > 3)
        // The client vanishes without CLOSE.
        endpoint.close(sendingClose: false)
        try pump(reactor, cycles: 20_000, timeout: 10_000_000) { echo.ended == 1 }
        #expect(echo.ended == 1)
        #expect(server.connectionCount == 0)
    }
}
