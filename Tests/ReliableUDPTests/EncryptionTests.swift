import Testing
import Reactor
import ReliableUDP
import ReliableUDPCrypto
import TestSupport

/// ChaCha20-Poly1305 protection: delivery through loss, and wrong keys, bit
/// flips and replays dropped and counted.
@Suite struct EncryptionTests {
    static let key = [UInt8](0..<32)

    static func pair(keyB: [UInt8] = key, impairment: SimulatedLink.Impairment = .init(delay: 1_000_000)) throws -> ConnectionPair {
        let pair = try ConnectionPair(seed: 21, impairment: impairment)
        pair.a.protection = try SealedPackets(preSharedKey: key, isInitiator: true)
        pair.b.protection = try SealedPackets(preSharedKey: keyB, isInitiator: false)
        return pair
    }

    @Test func deliveryThroughLossEncrypted() throws {
        let pair = try Self.pair(impairment: .lossy(0.05))
        var expected: UInt64 = 0
        var violations = 0
        pair.onB = { message in
            if TestPayload.index(message.bytes) != expected { violations += 1 }
            expected += 1
        }
        TierPromiseTests.blast(pair, .delivery, count: 5_000) { pair.a.unacknowledged == 0 }
        #expect(violations == 0 && expected == 5_000)
        #expect(pair.b.drops.authenticationFailed == 0)
    }

    @Test func ciphertextHidesThePayload() throws {
        let pair = try Self.pair()
        let secret = TestPayload.make(0xDEAD_BEEF, size: 64)
        try pair.a.send(.delivery, secret, now: pair.now)
        let datagram = pair.a.flushed(now: pair.now)[0]
        #expect(datagram[2] & WireFormat.protectedFlag != 0)
        #expect(!datagram.indices.dropLast(16).contains { Array(datagram[$0...].prefix(16)) == Array(secret.prefix(16)) })
        var got: [UInt8] = []
        #expect(pair.b.receive(datagram, now: pair.now) { got = Array($0.bytes) })
        #expect(got == secret)
    }

    /// Datagrams larger than the opener's first buffer (2 KiB): it grows once,
    /// and every size opens to the bytes that were sealed.
    @Test func largeDatagramsOpen() throws {
        var configuration = Configuration()
        configuration.maxMessageSize = 8000
        configuration.maxDatagramSize = 9000
        let pair = try ConnectionPair(configuration: configuration, seed: 22)
        pair.a.protection = try SealedPackets(preSharedKey: Self.key, isInitiator: true)
        pair.b.protection = try SealedPackets(preSharedKey: Self.key, isInitiator: false)
        var got: [UInt64] = []
        pair.onB = { got.append(TestPayload.index($0.bytes) ?? .max) }
        for (index, size) in [100, 3000, 8000, 500, 8000].enumerated() {
            try pair.a.send(.delivery, TestPayload.make(UInt64(index), size: size), now: pair.now)
        }
        pair.run(limit: 1000) { pair.a.unacknowledged == 0 }
        #expect(got == [0, 1, 2, 3, 4])
        #expect(pair.b.drops.authenticationFailed == 0)
    }

    @Test func wrongKeyIsDroppedAndCounted() throws {
        let pair = try Self.pair(keyB: [UInt8](repeating: 7, count: 32))
        try pair.a.send(.delivery, [1, 2, 3], now: pair.now)
        var delivered = 0
        for datagram in pair.a.flushed(now: pair.now) { #expect(!pair.b.receive(datagram, now: pair.now) { _ in delivered += 1 }) }
        #expect(delivered == 0)
        #expect(pair.b.drops.authenticationFailed == 1)
    }

    @Test func everyBitFlipIsDroppedAndCounted() throws {
        let pair = try Self.pair()
        try pair.a.send(.delivery, TestPayload.make(1, size: 24), now: pair.now)
        let datagram = pair.a.flushed(now: pair.now)[0]
        var delivered = 0
        var rejected = 0
        for bit in 0..<(datagram.count * 8) {
            var altered = datagram
            altered[bit / 8] ^= UInt8(1 << (bit % 8))
            if !pair.b.receive(altered, now: pair.now, deliver: { _ in delivered += 1 }) { rejected += 1 }
        }
        #expect(delivered == 0)
        #expect(rejected == datagram.count * 8)
        // The first 4 header bytes fail their own checks, the connection id is
        // not ours; every other bit (packet number, ciphertext, tag) fails the AEAD.
        #expect(pair.b.drops.totalMalformed + pair.b.drops.protectionMismatch + pair.b.drops.unexpectedPacketType == 32)
        #expect(pair.b.drops.forgedConnectionID == 64)
        #expect(pair.b.drops.authenticationFailed == UInt64(datagram.count * 8 - 96))
        #expect(pair.b.receive(datagram, now: pair.now) { _ in delivered += 1 })
        #expect(delivered == 1)
    }

    @Test func replaysAreDroppedAndCounted() throws {
        let pair = try Self.pair()
        try pair.a.send(.none, [9], now: pair.now)
        let datagram = pair.a.flushed(now: pair.now)[0]
        var delivered = 0
        for _ in 0..<5 { pair.b.receive(datagram, now: pair.now) { _ in delivered += 1 } }
        #expect(delivered == 1)
        #expect(pair.b.drops.duplicatePacket == 4)
    }

    /// Wiring: encryption is chosen per endpoint at run time. Over loopback, an
    /// Endpoint with the server's key gets every message echoed in order; one
    /// with another key completes the (unencrypted) handshake, but every data
    /// packet it sends fails authentication at the server and nothing comes back.
    @Test func endpointsWithTheRightKeyTalkAndAWrongKeyIsDroppedAtTheServer() throws {
        let reactor = try Reactor()
        defer { reactor.close() }
        let (socket, address) = try loopbackSocket()
        let echo = IDRecordingEcho()
        let configuration = EndpointServerTests.smallConfiguration()
        let server = try EndpointServer(reactor: reactor, socket: socket, configuration: configuration,
                                        protection: { _ in try! SealedPackets(preSharedKey: Self.key, isInitiator: false) },
                                        delegate: echo)
        func connect(key: [UInt8]) throws -> (Endpoint, EndpointServerTests.Client) {
            let socket = try UDPSocket()
            try socket.connect(to: address)
            let client = EndpointServerTests.Client()
            let endpoint = try Endpoint(reactor: reactor, connectedSocket: socket, configuration: configuration,
                                        protection: try SealedPackets(preSharedKey: key, isInitiator: true),
                                        delegate: client)
            return (endpoint, client)
        }
        let (good, goodClient) = try connect(key: Self.key)
        let (bad, badClient) = try connect(key: [UInt8](repeating: 0xA5, count: 32))
        try pump(reactor, cycles: 2000) { goodClient.established && badClient.established }
        let count: UInt64 = 200
        var next: UInt64 = 0
        try pump(reactor, cycles: 20_000, timeout: 1_000_000) {
            while next < count {
                let bytes = TestPayload.make(next, size: 48)
                do { try bytes.withUnsafeBytes { try good.send(.delivery, $0) } } catch { break }
                next += 1
            }
            return goodClient.received.count == Int(count)
        }
        #expect(goodClient.received == Array(0..<count))
        for index in 0..<8 as Range<UInt64> {
            try TestPayload.make(index, size: 48).withUnsafeBytes { try bad.send(.delivery, $0) }
        }
        let badID = bad.localID
        let connections = echo.accepted.compactMap(server.connection)
        #expect(connections.count == 2)
        func badDrops() -> UInt64 {
            connections.filter { $0.peerID == badID }.reduce(0) { $0 + $1.drops.authenticationFailed }
        }
        try pump(reactor, cycles: 2000, timeout: 1_000_000) { badDrops() >= 8 }
        #expect(badDrops() >= 8)
        #expect(badClient.received.isEmpty)
        #expect(connections.allSatisfy { $0.peerID == badID || $0.drops.authenticationFailed == 0 })
    }

    /// Echoes every message and remembers the ids it accepted.
    final class IDRecordingEcho: EndpointServerDelegate {
        var accepted: [UInt64] = []
        func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) {
            try? server.send(to: id, message.guarantee, message.bytes)
        }
        func server(_ server: EndpointServer, accepted id: UInt64) { accepted.append(id) }
    }

    @Test func unprotectedPacketOnAProtectedConnectionIsRefused() throws {
        let pair = try Self.pair()
        #expect(!pair.b.receive(Crafted.header(destination: 0xB, packetNumber: 0) + [3], now: pair.now))
        #expect(pair.b.drops.protectionMismatch == 1)
    }
}
