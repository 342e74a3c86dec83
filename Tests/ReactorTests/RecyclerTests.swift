import Testing
@testable import Reactor
import TestSupport

/// Registration objects reused across TCP connections (epoll): never within the
/// cycle that removed them, bounded, and holding nothing of the old connection.
@Suite struct RecyclerTests {
    final class Box {}

    @Test func retiredObjectsComeBackOnlyAfterTheCycleEndsAndUpToTheCapacity() {
        var recycler = Recycler<Box>(capacity: 2)
        let a = Box(), b = Box(), c = Box()
        recycler.retire(a)
        #expect(recycler.take() == nil, "not in the cycle that retired it")
        recycler.retire(b)
        recycler.retire(c)   // over the capacity: dropped
        #expect(recycler.count == 2)
        recycler.releaseRetired()
        #expect(recycler.take() === b)
        #expect(recycler.take() === a)
        #expect(recycler.take() == nil)
    }

    @Test func aClosedConnectionsRegistrationIsReusedWithoutKeepingTheConnectionAlive() throws {
        let reactor = try Reactor(backend: .epoll)
        let server = AcceptingListener()
        let (_, address) = try loopbackListener(reactor, handler: server)
        weak var firstConnection: TCPConnection?
        var retired: [ObjectIdentifier] = []
        do {
            let client = CollectingStream()
            let token = try reactor.connect(to: address, handler: client)
            try pump(reactor) { client.isConnected && server.accepted.count == 1 }
            let serverToken = try #require(server.accepted.first?.token)
            firstConnection = reactor.tcpConnection(for: token)
            for token in [token, serverToken] {
                retired.append(ObjectIdentifier(try #require(reactor.registration(for: token))))
            }
            reactor.close(token, flush: false)
        }
        try pump(reactor) { server.accepted.first?.isClosed == true }
        // The connection (not pooled) and its rings are gone, though its
        // registration object waits for reuse.
        #expect(firstConnection == nil)
        #expect(reactor.spareRegistrations.count == 2)
        let next = CollectingStream()
        let token = try reactor.connect(to: address, handler: next)
        try pump(reactor) { next.isConnected && server.accepted.count == 2 }
        let nextServer = try #require(server.accepted.last?.token)
        for token in [token, nextServer] {
            #expect(retired.contains(ObjectIdentifier(try #require(reactor.registration(for: token)))))
        }
        #expect(reactor.spareRegistrations.count == 0)
        #expect(reactor.write(token, [1]) == 1)
        try pump(reactor) { server.accepted.last?.bytes == [1] }
    }
}
