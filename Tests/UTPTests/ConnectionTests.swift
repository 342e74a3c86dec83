import Testing
import TestSupport
@testable import UTP

@Suite("µTP connection lifecycle on the fake clock")
struct ConnectionTests {
    static func type(_ bytes: [UInt8]) -> UInt8 { bytes[0] >> 4 }
    static func sequence(_ bytes: [UInt8]) -> UInt16 { UInt16(bytes[16]) << 8 | UInt16(bytes[17]) }

    @Test("SYN loss: retried with backoff until answered")
    func synLoss() throws {
        let rig = UTPRig(seed: 1, impairment: .init(delay: 5_000_000))
        var syns = 0
        var synTimes: [UInt64] = []
        rig.clientToServer.dropIf = { bytes in
            guard ConnectionTests.type(bytes) == PacketType.syn.rawValue else { return false }
            syns += 1
            synTimes.append(rig.now)
            return syns <= 2
        }
        rig.clientApp.source = pattern(100_000, seed: 3)
        let start = rig.now
        try rig.connect()
        rig.run(maximumSteps: 50_000) { rig.serverApp.endOfStream }
        #expect(rig.clientApp.connectedCount == 1)
        #expect(syns == 3)
        #expect(synTimes[1] - synTimes[0] == 1_000_000_000, "first retry after synTimeout")
        #expect(synTimes[2] - synTimes[1] == 2_000_000_000, "then doubled")
        #expect(rig.serverApp.received == rig.clientApp.source)
        #expect(rig.now - start < 4_000_000_000)
    }

    @Test("no answer to any SYN: connectionTimedOut")
    func synNeverAnswered() throws {
        let rig = UTPRig(seed: 2)
        rig.clientToServer.isUp = false
        try rig.connect()
        rig.run(maximumSteps: 1_000) { rig.clientApp.closedCount > 0 }
        #expect(rig.clientApp.closedError == .connectionTimedOut)
        #expect(rig.client.connectionCount == 0)
    }

    @Test("FIN loss: the FIN is retransmitted, both sides close cleanly")
    func finLoss() throws {
        let rig = UTPRig(seed: 3, impairment: .init(delay: 2_000_000))
        var finsDropped = 0
        rig.clientToServer.dropIf = { bytes in
            guard ConnectionTests.type(bytes) == PacketType.fin.rawValue, finsDropped < 2 else { return false }
            finsDropped += 1
            return true
        }
        rig.clientApp.source = pattern(300_000, seed: 4)
        try rig.connect()
        rig.run(maximumSteps: 100_000) { rig.serverApp.endOfStream }
        #expect(finsDropped == 2)
        #expect(rig.serverApp.received == rig.clientApp.source)
        rig.serverApp.connection?.shutdown(now: rig.now)
        rig.run(maximumSteps: 100_000) { rig.clientApp.closedCount > 0 && rig.serverApp.closedCount > 0 }
        #expect(rig.clientApp.closedError == nil && rig.serverApp.closedError == nil)
        // Lingering ends: both tables empty.
        rig.run(maximumSteps: 10_000) { rig.client.connectionCount == 0 && rig.server.connectionCount == 0 }
        #expect(rig.client.connectionCount == 0 && rig.server.connectionCount == 0)
    }

    @Test("RESET from the peer ends the connection with .reset")
    func resetReceived() throws {
        let rig = UTPRig(seed: 4)
        rig.clientApp.source = pattern(2_000_000, seed: 5)
        rig.clientApp.shutdownWhenSent = false
        try rig.connect()
        rig.run(maximumSteps: 100_000) { rig.serverApp.received.count > 100_000 }
        rig.serverApp.connection!.abort(now: rig.now)
        #expect(rig.serverApp.closedError == .aborted)
        rig.run(maximumSteps: 10_000) { rig.clientApp.closedCount > 0 }
        #expect(rig.clientApp.closedError == .reset)
        #expect(rig.client.counters.resetsReceived == 1)
    }

    @Test("a packet of an unknown connection is answered with RESET; a RESET is never answered")
    func resetForUnknownConnection() throws {
        let rig = UTPRig(seed: 5)
        rig.serverOutput.record = true
        var packet = [UInt8](repeating: 0, count: 20)
        packet.withUnsafeMutableBytes { raw in
            _ = PacketWriter.write(.init(type: .data, connectionID: 777, timestamp: 1, timestampDifference: 0, windowSize: 1000,
                                         sequenceNumber: 99, ackNumber: 5), into: raw.baseAddress!)
        }
        packet.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        #expect(rig.server.counters.unknownConnection == 1)
        let reply = try #require(rig.serverOutput.sent.last)
        #expect(ConnectionTests.type(reply) == PacketType.reset.rawValue)
        #expect(UInt16(reply[2]) << 8 | UInt16(reply[3]) == 777)
        #expect(UInt16(reply[18]) << 8 | UInt16(reply[19]) == 99, "ack_nr = the packet's seq_nr")
        let before = rig.serverOutput.sent.count
        reply.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        #expect(rig.serverOutput.sent.count == before)
    }

    @Test("peer vanishes mid-transfer: repeated timeouts, then .timedOut")
    func peerVanishes() throws {
        var configuration = UTPConfiguration()
        configuration.maximumTimeouts = 4
        let rig = UTPRig(seed: 6, configuration: configuration)
        rig.clientApp.source = pattern(4_000_000, seed: 6)
        try rig.connect()
        rig.run(maximumSteps: 100_000) { rig.serverApp.received.count > 500_000 }
        rig.clientToServer.isUp = false
        rig.serverToClient.isUp = false
        let vanished = rig.now
        rig.run(maximumSteps: 10_000) { rig.clientApp.closedCount > 0 }
        #expect(rig.clientApp.closedError == .timedOut)
        let connection = try #require(rig.clientApp.connection)
        #expect(connection.statistics.timeouts == 5)
        // 0.5 + 1 + 2 + 4 + 8 s of backed-off RTOs (minimum RTO 500 ms, doubling).
        #expect(rig.now - vanished >= 15_000_000_000 && rig.now - vanished < 20_000_000_000)
    }

    @Test("several holes in one window are repaired from SACKs, without a timeout")
    func sackRecovery() throws {
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = false
        let rig = UTPRig(seed: 7, impairment: .init(delay: 10_000_000), configuration: configuration)
        var first: UInt16?
        var dropped: Set<UInt16> = []
        rig.clientToServer.dropIf = { bytes in
            guard ConnectionTests.type(bytes) == PacketType.data.rawValue else { return false }
            let sequence = ConnectionTests.sequence(bytes)
            if first == nil { first = sequence }
            // Drop the first transmission of three packets well inside one window.
            let offset = sequence &- first!
            if [40, 45, 52].contains(offset) && !dropped.contains(sequence) {
                dropped.insert(sequence)
                return true
            }
            return false
        }
        rig.clientApp.source = pattern(1_500_000, seed: 8)
        try rig.connect()
        rig.run(maximumSteps: 100_000) { rig.serverApp.endOfStream }
        #expect(dropped.count == 3)
        #expect(rig.serverApp.received == rig.clientApp.source)
        let stats = rig.clientApp.connection!.statistics
        #expect(stats.fastRetransmissions >= 3)
        #expect(stats.timeouts == 0)
    }
}
