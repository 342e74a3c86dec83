// The code of Sources/SoupBinTCP/SoupBinTCP.docc/GettingStartedWithSoupBinTCP.md,
// line for line (DocumentationArticleTests checks that), run and checked.

import Testing
import MoldUDP64
import SoupBinTCP

/// Stands in for a TCP stream's send ring: packets are written whole, and only
/// when `writableSpace` says they fit.
final class MemoryPipe: SoupOutput {
    var bytes: [UInt8] = []
    var writableSpace: Int { 65_536 - bytes.count }
    func write(_ data: UnsafeRawBufferPointer) { bytes.append(contentsOf: data) }
}

/// Receives the session's messages in order, exactly as a MoldUDP64 client's consumer does.
final class SequencePrinter: MessageConsumer {
    var sequences: [UInt64] = []
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
        sequences.append(sequence)   // `message` is valid only during this call
    }
}

@Suite struct SoupBinTCPGettingStartedTests {
    @Test func loginReplayAndDelivery() throws {
        // The server: one session, replayed and then streamed from the publisher's store.
        let store = RetransmissionStore(messageCapacity: 1024)
        for text in ["first", "second"] {
            _ = Array(text.utf8).withUnsafeBytes { store.append($0) }
        }
        let server = try SoupServer(configuration: .init(session: "FEED000001",
                                                         credentials: Credentials([(username: "feed", password: "secret")])),
                                    store: store)

        // The client: log in and ask for everything from message 1.
        let printer = SequencePrinter()
        let client = try SoupClient(configuration: .init(username: "feed", password: "secret", firstSequence: 1),
                                    consumer: printer)

        let now: UInt64 = 1_000_000_000                // in a program: the reactor's `now`
        let toServer = MemoryPipe(), toClient = MemoryPipe()
        let connection = server.accept(now: now)!      // nil when maxConnections are open
        client.connected(now: now, output: toServer)   // writes the Login Request

        // Server side: read the login, then send what is owed (replay, then live data).
        let (used, _) = toServer.bytes.withUnsafeBytes { connection.receive($0, now: now, output: toClient) }
        toServer.bytes.removeFirst(used)               // a partial packet would stay for the next read
        connection.service(now: now, output: toClient)

        // Client side: Login Accepted, then the two messages, in order.
        let (read, status) = toClient.bytes.withUnsafeBytes { client.receive($0, now: now, output: toServer) }
        toClient.bytes.removeFirst(read)
        print(printer.sequences, client.state, status)   // [1, 2] streaming open

        #expect(printer.sequences == [1, 2])
        #expect(client.state == .streaming)
        #expect(status == .open)
        #expect(connection.state == .streaming)
        #expect(server.counters.loginsAccepted == 1)
        #expect(toClient.bytes.isEmpty && toServer.bytes.isEmpty)
    }
}
