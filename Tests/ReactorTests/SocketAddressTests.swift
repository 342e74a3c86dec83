import Testing
import Reactor
import TestSupport

@Suite struct SocketAddressTests {
    @Test func theWildcardBuiltInPlaceIsTheParsedOne() throws {
        #expect(SocketAddress.any(port: 4242) == (try SocketAddress("0.0.0.0", port: 4242)))
        #expect(SocketAddress.any(port: 4242, ipv6: true) == (try SocketAddress("::", port: 4242)))
        #expect(SocketAddress.any(port: 4242).length == (try SocketAddress("0.0.0.0", port: 4242)).length)
        #expect(SocketAddress.any(port: 7, ipv6: true).length == (try SocketAddress("::", port: 7)).length)
        #expect(SocketAddress.any(port: 7, ipv6: true).isIPv6 && SocketAddress.any(port: 7).port == 7)
        #expect("\(SocketAddress.any(port: 80))" == "\(try SocketAddress("0.0.0.0", port: 80))")
    }

    @Test func equalityAndHashingAgreeAndTheScopeIdCounts() throws {
        let a = try SocketAddress("fe80::1%2", port: 5000)
        let sameAsA = try SocketAddress("fe80::1%2", port: 5000)
        let otherLink = try SocketAddress("fe80::1%3", port: 5000)
        let otherPort = try SocketAddress("fe80::1%2", port: 5001)
        #expect(a == sameAsA)
        #expect(a.hashValue == sameAsA.hashValue)
        #expect(a != otherLink, "a link-local address on another link is another host")
        #expect(a != otherPort)
        #expect(Set([a, sameAsA, otherLink, otherPort]).count == 3)
        let v4 = try SocketAddress("127.0.0.1", port: 80)
        #expect(v4 == (try SocketAddress(parsing: "127.0.0.1:80")))
        #expect(v4.hashValue == (try SocketAddress(parsing: "127.0.0.1:80")).hashValue)
        #expect(v4 != (try SocketAddress("127.0.0.2", port: 80)))
        #expect(v4 != (try SocketAddress("::ffff:127.0.0.1", port: 80)), "another family")
        #expect(Set([v4, try SocketAddress("127.0.0.1", port: 80), try SocketAddress("127.0.0.1", port: 81)]).count == 2)
    }

    @Test func aReceivedSourceMatchesTheSenderItCameFrom() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, address) = try loopbackSocket()
        let handler = CollectingHandler()
        try reactor.register(socket, handler: handler)
        let (sender, senderAddress) = try loopbackSocket()
        defer { sender.close() }
        try sender.send([1], to: address)
        try pump(reactor) { handler.sources.count == 1 }
        let source = try #require(handler.sources.first ?? nil)
        #expect(source == senderAddress)
        #expect(source.hashValue == senderAddress.hashValue)
    }
}
