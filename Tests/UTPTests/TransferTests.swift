import Testing
import TestSupport
@testable import UTP

@Suite("µTP transfers on the simulated link")
struct TransferTests {
    static let size = 10 * 1024 * 1024

    @Test("10 MiB byte-exact", arguments: [0.0, 0.02, 0.10])
    func bulk(loss: Double) throws {
        let impairment = SimulatedLink.Impairment(lossRate: loss, duplicateRate: loss > 0 ? 0.01 : 0,
                                                  reorderRate: loss > 0 ? 0.02 : 0, reorderDelay: 20_000...400_000,
                                                  delay: 1_000_000, jitter: 100_000)
        let rig = UTPRig(seed: 42 &+ UInt64(loss * 100), impairment: impairment)
        let data = pattern(Self.size, seed: 7)
        rig.clientApp.source = data
        try rig.connect()
        rig.run { rig.serverApp.endOfStream && rig.clientApp.connection?.isSendComplete == true }
        #expect(rig.serverApp.received.count == data.count)
        #expect(rig.serverApp.received == data)
        #expect(rig.serverApp.endOfStream)
        let stats = rig.clientApp.connection!.statistics
        if loss > 0 {
            #expect(stats.retransmissions > 0)
            #expect(rig.clientToServer.dropped > 0 && rig.clientToServer.duplicated > 0 && rig.clientToServer.reordered > 0)
        }
        // Server closes its half too: both sides end cleanly.
        rig.serverApp.connection?.shutdown(now: rig.now)
        rig.run(maximumSteps: 100_000) { rig.clientApp.closedCount > 0 && rig.serverApp.closedCount > 0 }
        #expect(rig.clientApp.closedError == nil && rig.serverApp.closedError == nil)
        #expect(rig.clientApp.endOfStream)
    }
}
