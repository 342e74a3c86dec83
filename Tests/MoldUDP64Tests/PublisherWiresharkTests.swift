import Testing
import Foundation
import Reactor
import TestSupport
import MoldUDP64

/// Wireshark's MoldUDP64 dissector as an independent judge of the wire format:
/// publisher traffic (heartbeat, data, end of session) and retransmission
/// requests and answers are captured on loopback with tshark, then dissected
/// with `-d udp.port==PORT,moldudp64`; no frame may be malformed or carry an
/// expert warning or error. Needs root (capturing) and tshark on PATH.
@Suite(.enabled(if: TestEnvironment.isRoot && WiresharkCapture.tshark != nil,
                "needs root and tshark (Debian: apt-get install tshark) to capture on lo"))
struct PublisherWiresharkTests {
    @Test func publisherAndRetransmissionTrafficDissectsCleanly() throws {
        let reactor = try Reactor(backend: .epoll)
        let (feedSocket, feedAddress) = try loopbackSocket()
        let feed = CollectingHandler()
        try reactor.register(feedSocket, handler: feed)
        let (serverSocket, serverAddress) = try loopbackSocket()
        let (clientSocket, _) = try loopbackSocket()
        let answers = CollectingHandler()
        try reactor.register(clientSocket, handler: answers)
        let (senderSocket, _) = try loopbackSocket()
        defer { senderSocket.close() }

        let capture = try WiresharkCapture(ports: [feedAddress.port, serverAddress.port])
        defer { capture.stop() }

        let store = RetransmissionStore()
        var configuration = Publisher.Configuration(session: testSession)
        configuration.heartbeatInterval = 50_000_000
        configuration.maxPacketSize = 400
        configuration.loss = LossSimulation(dropPacketNumbers: [2, 4])
        let publisher = Publisher(configuration, sink: UDPPacketSink(socket: senderSocket, destination: feedAddress), store: store)
        try publisher.attach(to: reactor)
        let server = RetransmissionServer(socket: serverSocket, store: store, configuration: .init(session: testSession))
        try reactor.register(serverSocket, handler: server)

        // Messages of many sizes (empty ones too), packed several to a packet.
        var random = SeededRandom(seed: 5)
        for sequence in UInt64(1)...200 {
            let message = testMessage(sequence, length: Int(random.next() % 120))
            _ = try message.withUnsafeBytes { raw throws(PublisherError) in try publisher.append(raw) }
            if sequence % 25 == 0 { try reactor.runOnce(timeout: 0) }
        }
        try pump(reactor) { publisher.counters.dataPackets > 0 && publisher.nextDeadline > reactor.now + 1_000_000 }
        // A heartbeat after silence, then the end of the session.
        let heartbeats = publisher.counters.heartbeats
        try pump(reactor, cycles: 100) { publisher.counters.heartbeats > heartbeats }
        publisher.endSession()
        let sent = Int(publisher.counters.packetsSent)
        try pump(reactor) { feed.payloads.count == sent }
        #expect(feed.payloads.count == sent)

        // Ask for everything, in requests the answers cap by packet size.
        var next: UInt64 = 1
        while next < publisher.nextSequenceNumber {
            let before = answers.payloads.count
            try clientSocket.send(requestBytes(sequence: next, count: 50), to: serverAddress)
            try pump(reactor) { answers.payloads.count > before }
            let answer = try #require(answers.payloads.count > before ? ParsedPacket(answers.payloads[before]) : nil)
            next = answer.sequenceNumber + UInt64(answer.messages.count)
        }
        publisher.detach()
        // After the end of session the publisher repeats it on the heartbeat
        // timer, so a slow request loop (a loaded machine) sends more than `sent`.
        let sentInAll = Int(publisher.counters.packetsSent)

        let file = try capture.finish(frames: sentInAll + 2 * Int(server.counters.answers))
        let frames = try WiresharkCapture.dissect(file, ports: [feedAddress.port, serverAddress.port],
                                                  filter: "moldudp64", fields: ["_ws.col.Info"])
        let problems = try WiresharkCapture.dissect(file, ports: [feedAddress.port, serverAddress.port],
                                                    filter: "_ws.malformed || _ws.expert.severity >= warning",
                                                    fields: ["frame.number", "_ws.col.Info"])
        #expect(problems.isEmpty, "tshark flags frames: \(problems.prefix(5))")
        // Everything sent was captured and recognised as MoldUDP64.
        let requests = frames.filter { $0.contains("Request") }.count
        #expect(requests == Int(server.counters.answers))
        #expect(frames.count == sentInAll + 2 * Int(server.counters.answers))
        #expect(frames.contains { $0.contains("Heartbeat") })
        #expect(frames.contains { $0.contains("End Of Session") })
        #expect(frames.filter { $0.contains("Messages") }.count
                == Int(publisher.counters.dataPackets - publisher.counters.dataPacketsDropped + server.counters.answers))
    }
}
