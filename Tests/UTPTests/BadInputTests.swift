import Reactor
import Testing
import TestSupport
@testable import UTP

@Suite("µTP bad input: counted drops, never a crash")
struct BadInputTests {
    func packet(_ type: PacketType, id: UInt16, seq: UInt16, ack: UInt16, sack: [UInt8]? = nil, payload: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeMutableBytes { raw in
            _ = PacketWriter.write(.init(type: type, connectionID: id, timestamp: 1, timestampDifference: 0, windowSize: 65_536,
                                         sequenceNumber: seq, ackNumber: ack), into: raw.baseAddress!)
        }
        if let sack {
            bytes[1] = 1
            bytes += [0, UInt8(sack.count)] + sack
        }
        return bytes + payload
    }

    /// A connected pair with some data moved, to aim packets at.
    func connectedRig() throws -> (UTPRig, UTPConnection, UTPConnection) {
        let rig = UTPRig(seed: 21)
        rig.clientApp.source = pattern(50_000, seed: 1)
        rig.clientApp.shutdownWhenSent = false
        let client = try rig.connect()
        rig.run(maximumSteps: 10_000) { rig.serverApp.received.count == 50_000 }
        return (rig, client, try #require(rig.serverApp.connection))
    }

    @Test func malformedHeadersAndVersionsAreCounted() throws {
        let (rig, _, _) = try connectedRig()
        var wrongVersion = packet(.data, id: 1, seq: 1, ack: 1)
        wrongVersion[0] = 0x02
        var badType = packet(.data, id: 1, seq: 1, ack: 1)
        badType[0] = 0xF1
        let inputs: [[UInt8]] = [[], [0x41], Array(repeating: 0, count: 19), wrongVersion, badType,
                                 packet(.state, id: 1, seq: 1, ack: 1, sack: []),
                                 Array(packet(.state, id: 1, seq: 1, ack: 1, sack: [1, 2, 3, 4]).prefix(23))]
        for input in inputs { input.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) } }
        let malformed = rig.server.counters.malformed
        #expect(malformed[MalformedReason.tooShort.rawValue] == 3)
        #expect(malformed[MalformedReason.badVersion.rawValue] == 1)
        #expect(malformed[MalformedReason.badType.rawValue] == 1)
        #expect(malformed[MalformedReason.emptySelectiveAck.rawValue] == 1)
        #expect(malformed[MalformedReason.truncatedExtension.rawValue] == 1)
        #expect(rig.server.connectionCount == 1)
    }

    @Test func selectiveAckOf255BytesAndOddLengthsAreHandled() throws {
        let (rig, client, server) = try connectedRig()
        let before = server.statistics
        for length in [3, 255] {
            let sack = [UInt8](repeating: 0xFF, count: length)
            let bytes = packet(.state, id: server.receiveID, seq: client.nextSequence, ack: server.peerAcked, sack: sack)
            bytes.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        }
        #expect(server.state == .connected)
        #expect(server.statistics.fastRetransmissions == before.fastRetransmissions, "nothing outstanding to mark")
        #expect(rig.server.counters.malformedTotal == 0)
    }

    @Test func ackFarOutsideTheWindowIsDropped() throws {
        let (rig, client, _) = try connectedRig()
        let sentBefore = client.statistics.packetsSent
        let bytes = packet(.state, id: client.receiveID, seq: 0, ack: client.nextSequence &+ 20_000)
        bytes.withUnsafeBytes { rig.client.receive($0, from: rig.serverAddress, now: rig.now) }
        #expect(rig.client.counters.ackOutOfWindow == 1)
        #expect(client.statistics.packetsSent == sentBefore)
        #expect(client.state == .connected)
        // Still works afterwards.
        rig.clientApp.source += pattern(10_000, seed: 2)
        rig.run(maximumSteps: 10_000) { rig.serverApp.received.count == 60_000 }
        #expect(rig.serverApp.received == rig.clientApp.source)
    }

    @Test func forgedConnectionIDsAndAddressesAreRejected() throws {
        let (rig, _, server) = try connectedRig()
        let stranger = try SocketAddress("10.9.9.9", port: 4000)
        // Right id, wrong address; wrong id, right address.
        let data = packet(.data, id: server.receiveID, seq: 1, ack: 1, payload: [1, 2, 3])
        data.withUnsafeBytes { rig.server.receive($0, from: stranger, now: rig.now) }
        let forged = packet(.data, id: server.receiveID &+ 7, seq: 1, ack: 1, payload: [1, 2, 3])
        forged.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        #expect(rig.server.counters.unknownConnection == 2)
        #expect(rig.server.counters.resetsSent == 2)
        // A forged RESET from another address does not touch the connection.
        let reset = packet(.reset, id: server.receiveID, seq: 0, ack: 0)
        reset.withUnsafeBytes { rig.server.receive($0, from: stranger, now: rig.now) }
        #expect(server.state == .connected)
        #expect(rig.serverApp.received.count == 50_000)
    }

    @Test func synFloodIsBoundedByTheConnectionTable() throws {
        var configuration = UTPConfiguration()
        configuration.maximumConnections = 32
        configuration.sendBufferBytes = 4096
        configuration.sendSlots = 16
        configuration.reorderSlots = 16
        let rig = UTPRig(seed: 22, configuration: configuration)
        for index in 0..<500 {
            let source = try SocketAddress("10.1.\(index / 250).\(index % 250 + 1)", port: UInt16(1000 + index))
            let syn = packet(.syn, id: UInt16(index), seq: 100, ack: 0)
            syn.withUnsafeBytes { rig.server.receive($0, from: source, now: rig.now) }
        }
        #expect(rig.server.connectionCount == 32)
        #expect(rig.server.counters.synRefused == 468)
    }

    @Test func dataFarAheadIsDroppedAndCounted() throws {
        let (rig, client, server) = try connectedRig()
        let ahead = packet(.data, id: server.receiveID, seq: server.ackNumber &+ 5_000, ack: client.ackNumber, payload: [1])
        ahead.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        #expect(rig.server.counters.outOfWindow == 1)
        let duplicate = packet(.data, id: server.receiveID, seq: server.ackNumber, ack: client.ackNumber, payload: [1])
        duplicate.withUnsafeBytes { rig.server.receive($0, from: rig.clientAddress, now: rig.now) }
        #expect(rig.server.counters.duplicates >= 1)
        #expect(rig.serverApp.received.count == 50_000)
    }
}
