import Reactor
import Testing
import TestSupport
@testable import UTP

@Suite("µTP path-MTU discovery on the simulated link")
struct PathMTUTests {
    /// A rig whose connections send every packet at the configured MTU (no probing).
    static func fixedMTURig(seed: UInt64) -> UTPRig {
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = false
        return UTPRig(seed: seed, impairment: .init(delay: 1_000_000), configuration: configuration)
    }

    /// Sends `count` bytes client to server, checks them byte-exact, returns the
    /// client's connection.
    static func transfer(_ rig: UTPRig, _ count: Int, seed: UInt64) throws -> UTPConnection {
        rig.clientApp.source = pattern(count, seed: seed)
        try rig.connect()
        rig.run { rig.serverApp.endOfStream }
        #expect(rig.serverApp.received == rig.clientApp.source)
        return try #require(rig.clientApp.connection)
    }

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

    @Test("an ICMP \"fragmentation needed\" sets the path MTU to the reported size at once")
    func icmpFragmentationNeeded() throws {
        let rig = UTPRig(seed: 34, impairment: .init(delay: 1_000_000))
        // The first probe tries the ceiling (1500); the router drops it and names 1280.
        rig.clientOutput.routerMTU = 1280
        let connection = try Self.transfer(rig, 2_000_000, seed: 4)
        #expect(rig.client.counters.pathMTUReports >= 1)
        #expect(connection.pathMTU.ceiling == 1280)
        #expect(connection.pathMTU.current == 1280, "the reported MTU is tried next and confirmed")
        #expect(connection.pathMTU.probesSent <= 3)
        #expect(connection.statistics.timeouts == 0, "the dropped probe was resent at once, not after an RTO")
    }

    @Test("without discovery, an ICMP report lowers the size of new packets")
    func icmpWithoutDiscovery() throws {
        let rig = Self.fixedMTURig(seed: 35)
        rig.clientToServer.dropIf = { $0.count + 28 > 1280 }
        rig.clientApp.source = pattern(100_000, seed: 5)
        try rig.connect()
        rig.step()
        rig.client.pathTooBig(to: rig.serverAddress, mtu: 1280, now: rig.now)
        rig.run { rig.serverApp.endOfStream }
        let connection = rig.clientApp.connection!
        #expect(rig.serverApp.received == rig.clientApp.source)
        #expect(connection.pathMTU.current == 1280)
        #expect(connection.payloadSize == 1280 - 28 - 20)
    }

    @Test("without discovery, packets sent at 1500 before the ICMP arrives are resent fragmentable, byte-exact")
    func oversizedResendsFragment() throws {
        let rig = Self.fixedMTURig(seed: 38)
        rig.clientOutput.routerMTU = 1280
        let connection = try Self.transfer(rig, 1_000_000, seed: 6)
        #expect(connection.pathMTU.current == 1280)
        #expect(connection.statistics.fragmentableResends > 0)
        #expect(rig.clientOutput.fragmentableSends == Int(connection.statistics.fragmentableResends))
        #expect(connection.error == nil)
    }

    @Test("a report only lowers the ceiling, and never below 68 bytes")
    func reportsAreBounded() {
        var mtu = PathMTU(floor: 576, ceiling: 1500, discovery: true)
        mtu.tooBig(reported: 9000, packetSize: 0)
        #expect(mtu.ceiling == 1500)
        mtu.tooBig(reported: 1, packetSize: 0)
        #expect(mtu.ceiling == 68 && mtu.current == 68)
    }

    @Test("the kernel's route MTU caps the ceiling; the configured mtu caps the kernel's")
    func routeMTUCeiling() throws {
        let rig = UTPRig(seed: 36, impairment: .init(delay: 1_000_000))
        rig.clientOutput.routeMTU = 1400
        let capped = try rig.connect()
        #expect(capped.pathMTU.ceiling == 1400)
        rig.clientOutput.routeMTU = 65_536
        let loopbackLike = try rig.client.connect(to: try SocketAddress("10.0.0.3", port: 1), now: rig.now)
        #expect(loopbackLike.pathMTU.ceiling == 1500)
        var override = UTPConfiguration()
        override.routeMTU = false
        override.mtu = 1450
        let other = UTPRig(seed: 37, configuration: override)
        other.clientOutput.routeMTU = 1300
        #expect(try other.connect().pathMTU.ceiling == 1450, "routeMTU off: --mtu overrides the kernel")
    }
}
