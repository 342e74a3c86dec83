// The code of Sources/ReliableUDP/ReliableUDP.docc/GettingStartedWithReliableUDP.md,
// line for line (DocumentationArticleTests checks that), run and checked.

import Testing
import TestSupport
import Reactor
import ReliableUDP

/// The server side: echoes every message back with the guarantee it came with.
final class EchoService: EndpointServerDelegate {
    func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) {
        try? server.send(to: id, message.guarantee, message.bytes)   // copies `message.bytes`
    }
}

/// The client side: sends once the handshake is done, stops the reactor at the answer.
final class Greeter: EndpointDelegate {
    var answer: String?
    func endpointEstablished(_ endpoint: Endpoint) {
        try? Array("hello".utf8).withUnsafeBytes { try endpoint.send(.delivery, $0) }
    }
    func endpoint(_ endpoint: Endpoint, received message: ReceivedMessage) {
        answer = String(decoding: message.bytes, as: UTF8.self)   // a copy: the view ends with this call
        endpoint.reactor.stop()
    }
}

@Suite struct ReliableUDPGettingStartedTests {
    @Test func echoOverLoopback() throws {
        let reactor = try Reactor()
        let echo = EchoService(), greeter = Greeter()   // delegates are held weakly: keep them
        let serverSocket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        let server = try EndpointServer(reactor: reactor, socket: serverSocket, delegate: echo)

        let clientSocket = try UDPSocket()
        try clientSocket.connect(to: serverSocket.localAddress())
        let endpoint = try Endpoint(reactor: reactor, connectedSocket: clientSocket, delegate: greeter)

        let watchdog = RecordingTimer()   // stops a reactor that ran too long (not in the article)
        watchdog.onFire = { _, _, reactor in reactor.stop() }
        try reactor.schedule(after: Nanoseconds.seconds(UInt64(10)), handler: watchdog)
        try reactor.run()   // until the greeter stops it
        print(greeter.answer ?? "no answer", endpoint.connection?.counters.messagesDelivered ?? 0)
        reactor.close()

        #expect(watchdog.fired.isEmpty)
        #expect(greeter.answer == "hello")
        #expect(server.counters.accepted == 1)
        #expect(endpoint.isEstablished)
    }
}
