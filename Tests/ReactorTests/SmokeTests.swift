import Testing
import Reactor
import TestSupport

@Suite struct SmokeTests {
    @Test func receivesOnLoopback() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, senderAddress) = try loopbackSocket()
        defer { sender.close() }
        for i in 0..<10 { try sender.send([UInt8(i), 1, 2, 3], to: address) }
        try pump(reactor) { handler.payloads.count == 10 }
        #expect(handler.payloads.map { $0[0] } == Array(0..<10))
        #expect(handler.sources.allSatisfy { $0 == senderAddress })
    }
}
