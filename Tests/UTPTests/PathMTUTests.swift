import Testing
import TestSupport
@testable import UTP

@Suite("µTP path-MTU discovery on the simulated link")
struct PathMTUTests {
    @Test("probes climb to the ceiling when nothing is dropped")
    func climbsToCeiling() throws {
        let rig = UTPRig(seed: 31, impairment: .init(delay: 1_000_000))
        rig.clientApp.source = pattern(2_000_000, seed: 1)
        try rig.connect()
        rig.run { rig.serverApp.endOfStream }
        let mtu = rig.clientApp.connection!.pathMTU
        #expect(rig.serverApp.received == rig.clientApp.source)
        #expect(mtu.current > 1500 - PathMTU.resolution && mtu.current <= 1500)
        #expect(!mtu.isSearching)
    }

    @Test("a path that silently drops big packets: lost probes lower the ceiling, no data is lost")
    func blackHole() throws {
        let rig = UTPRig(seed: 32, impairment: .init(delay: 1_000_000))
        // An IP MTU of 1200 somewhere on the path: bigger datagrams vanish (DF set).
        rig.clientToServer.dropIf = { $0.count + 28 > 1200 }
        rig.clientApp.source = pattern(2_000_000, seed: 2)
        try rig.connect()
        rig.run { rig.serverApp.endOfStream }
        let connection = rig.clientApp.connection!
        #expect(rig.serverApp.received == rig.clientApp.source)
        #expect(connection.pathMTU.current <= 1200 && connection.pathMTU.current > 1200 - PathMTU.resolution)
        #expect(connection.pathMTU.ceiling < 1200 + PathMTU.resolution, "a probe above 1200 was lost")
    }

    @Test("EMSGSIZE from the kernel lowers the ceiling at once")
    func emsgsize() throws {
        let rig = UTPRig(seed: 33, impairment: .init(delay: 1_000_000))
        rig.clientOutput.refuseAbove = 1000 - 28
        rig.clientApp.source = pattern(1_000_000, seed: 3)
        try rig.connect()
        rig.run { rig.serverApp.endOfStream }
        let connection = rig.clientApp.connection!
        #expect(rig.serverApp.received == rig.clientApp.source)
        #expect(connection.pathMTU.current <= 1000)
        #expect(connection.statistics.timeouts == 0 || connection.pathMTU.ceiling < 1000)
    }
}
