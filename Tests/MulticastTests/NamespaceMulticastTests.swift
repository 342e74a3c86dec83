import Testing
import Multicast
import Reactor
import TestSupport

/// IPv4 and IPv6, ASM and SSM, between two network namespaces joined by a veth
/// pair (IPv6 multicast is not routed over lo on Linux). The receiver lives in
/// namespace B on `vb`, senders in A on `va`. Serialized: each test makes and
/// deletes its own pair, named after the pid and a counter.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "needs root: creates network namespaces and a veth pair"))
struct NamespaceMulticastTests {
    /// One delivery scenario: the subscription, the sender's bound source, and
    /// optionally a second sender whose datagrams the SSM filter must drop.
    struct Scenario: CustomStringConvertible {
        let group: String
        let source: String?
        let from: String
        let unwanted: String?
        var description: String { "\(group) from \(from)" }
    }

    static let scenarios: [Scenario] = [
        Scenario(group: "239.77.10.1", source: nil, from: "10.77.0.1", unwanted: nil),
        Scenario(group: "232.77.10.1", source: "10.77.0.1", from: "10.77.0.1", unwanted: "10.77.0.3"),
        Scenario(group: "ff02::77:1", source: nil, from: "fe80::1", unwanted: nil),
        Scenario(group: "ff15::77:1", source: nil, from: "fd77::1", unwanted: nil),
        // Link-scope SSM with a link-local source, global-scope SSM with a ULA source.
        Scenario(group: "ff32::8000:77", source: "fe80::1", from: "fe80::1", unwanted: "fe80::3"),
        Scenario(group: "ff3e::8000:77", source: "fd77::1", from: "fd77::1", unwanted: "fd77::3"),
    ]

    @Test(arguments: TestEnvironment.backends)
    func deliversAcrossVeth(backend: BackendKind) throws {
        let pair = try NamespacePair()
        defer { pair.close() }
        let reactor = try Reactor(backend: backend)
        for scenario in Self.scenarios {
            try check(scenario, pair: pair, reactor: reactor)
        }
    }

    func check(_ scenario: Scenario, pair: NamespacePair, reactor: Reactor) throws {
        // Sockets are made and joined in namespace B, registered here (the
        // reactor's thread).
        let (receiver, witnessReceiver, ingress) = try pair.run(in: pair.b) {
            let interface = MulticastInterface.name("vb")
            let subscription = try Subscription(group: scenario.group, port: 0, source: scenario.source, interface: interface)
            let receiver = try joinedReceiver([subscription])
            // A second receiver on the port admitting the unwanted source proves
            // its datagrams really crossed the link.
            let witness = try scenario.unwanted.map {
                try joinedReceiver([Subscription(group: scenario.group, port: receiver.port, source: $0, interface: interface)])
            }
            return (receiver, witness, try interface.resolve().index)
        }
        let listener = try listen(on: reactor, with: receiver)
        let witness = try witnessReceiver.map { try listen(on: reactor, with: $0) }
        defer {
            reactor.deregister(listener.token)
            if let witness { reactor.deregister(witness.token) }
        }
        let port = listener.receiver.port
        let (wanted, unwanted) = try pair.run(in: pair.a) {
            let group = try IPAddress(scenario.group)
            return (try MulticastSender(group: group, port: port, interface: .name("va"), source: IPAddress(scenario.from)),
                    try scenario.unwanted.map { try MulticastSender(group: group, port: port, interface: .name("va"), source: IPAddress($0)) })
        }
        defer { wanted.close(); unwanted?.close() }
        let recorder = listener.recorder

        // The new link may drop the first datagrams while it comes up.
        try send([1], with: wanted, on: reactor) { recorder.contains([1]) }
        #expect(recorder.contains([1]), "\(scenario): nothing arrived")
        if let unwanted {
            for _ in 0..<3 { try unwanted.send([0xee]) }
        }
        try wanted.send([2])
        try pump(reactor) { recorder.contains([2]) && (witness?.recorder.entries.count ?? 3) == 3 }
        try reactor.poll()

        if let witness {
            #expect(witness.recorder.entries.map(\.payload) == [[0xee], [0xee], [0xee]], "\(scenario): witness")
        }

        #expect(!recorder.contains([0xee]), "\(scenario): the source filter let another sender through")
        let entry = try #require(recorder.entries.first { $0.payload == [2] }, "\(scenario)")
        #expect(entry.destination == (try IPAddress(scenario.group)), "\(scenario)")
        #expect(entry.interfaceIndex == ingress, "\(scenario)")
        #expect(entry.source == (try IPAddress(scenario.from)), "\(scenario)")
        #expect(entry.subscriptionIndex == 0, "\(scenario)")
    }

    /// Two groups on one port inside a namespace pair: pktinfo tells them apart,
    /// and a group joined by another socket on that port stays away.
    @Test(arguments: TestEnvironment.backends)
    func twoGroupsOnOnePortOverVeth(backend: BackendKind) throws {
        let pair = try NamespacePair()
        defer { pair.close() }
        let reactor = try Reactor(backend: backend)
        let groups = ["ff15::77:21", "ff15::77:22", "ff15::77:23"]
        let (mineReceiver, otherReceiver) = try pair.run(in: pair.b) {
            let vb = MulticastInterface.name("vb")
            let mine = try joinedReceiver([Subscription(group: groups[0], port: 0, interface: vb),
                                           Subscription(group: groups[1], port: 0, interface: vb)])
            return (mine, try joinedReceiver([Subscription(group: groups[2], port: mine.port, interface: vb)]))
        }
        let mine = try listen(on: reactor, with: mineReceiver)
        let other = try listen(on: reactor, with: otherReceiver)
        let port = mine.receiver.port
        let senders = try pair.run(in: pair.a) {
            try groups.map { try MulticastSender(group: IPAddress($0), port: port, interface: .name("va"), source: IPAddress("fd77::1")) }
        }
        defer { senders.forEach { $0.close() } }
        try send([3], with: senders[2], on: reactor) { other.recorder.contains([3]) }
        try send([0], with: senders[0], on: reactor) { mine.recorder.contains([0]) }
        try send([1], with: senders[1], on: reactor) { mine.recorder.contains([1]) }
        try reactor.poll()
        #expect(!mine.recorder.contains([3]))
        let indexOf = { (payload: UInt8) in mine.recorder.entries.first { $0.payload == [payload] }?.subscriptionIndex }
        #expect(indexOf(0) == 0)
        #expect(indexOf(1) == 1)
        #expect(other.recorder.entries.allSatisfy { $0.destination == (try? IPAddress(groups[2])) })
    }

    /// One group joined on two interfaces is two subscriptions: the ingress
    /// interface from pktinfo picks the right one.
    @Test func sameGroupOnTwoInterfaces() throws {
        let pair = try NamespacePair()
        defer { pair.close() }
        try NamespacePair.ip(["-n", pair.b, "link", "add", "vc", "type", "veth", "peer", "name", "vd"])
        try NamespacePair.ip(["-n", pair.b, "link", "set", "vc", "up"])
        let reactor = try Reactor(backend: .epoll)
        let (receiver, vbIndex) = try pair.run(in: pair.b) {
            // vc first, so a match on the group alone would answer 0.
            (try joinedReceiver([Subscription(group: "239.77.30.1", port: 0, interface: .name("vc")),
                                 Subscription(group: "239.77.30.1", port: 0, interface: .name("vb"))]),
             try MulticastInterface.name("vb").resolve().index)
        }
        let listener = try listen(on: reactor, with: receiver)
        let port = listener.receiver.port
        let sender = try pair.run(in: pair.a) {
            try MulticastSender(group: IPAddress("239.77.30.1"), port: port, interface: .name("va"), source: IPAddress("10.77.0.1"))
        }
        defer { sender.close() }
        try send([1], with: sender, on: reactor) { listener.recorder.contains([1]) }
        let entry = try #require(listener.recorder.entries.first)
        #expect(entry.interfaceIndex == vbIndex)
        #expect(entry.subscriptionIndex == 1)
    }

    /// Every way of naming an interface resolves to the same index inside the
    /// namespace (by name, index, IPv4, ULA, scoped link-local address).
    @Test func resolvesInterfacesInNamespace() throws {
        let pair = try NamespacePair()
        defer { pair.close() }
        let (byName, others) = try pair.run(in: pair.b) {
            let byName = try MulticastInterface.name("vb").resolve()
            let others = try ["\(byName.index)", "10.77.0.2", "fd77::2", "fe80::2%vb", "fe80::2%\(byName.index)", "fe80::2"]
                .map { try MulticastInterface(parsing: $0).resolve() }
            return (byName, others)
        }
        #expect(byName.hasMulticast && byName.isUp && !byName.isLoopback)
        #expect(others.allSatisfy { $0 == byName })
    }

    /// A join on an interface with multicast switched off fails naming the fix.
    @Test func refusesInterfaceWithoutMulticast() throws {
        let pair = try NamespacePair()
        defer { pair.close() }
        try NamespacePair.ip(["-n", pair.b, "link", "add", "vc", "type", "veth", "peer", "name", "vd"])
        try NamespacePair.ip(["-n", pair.b, "link", "set", "vc", "multicast", "off"])
        let error = try pair.run(in: pair.b) { () -> MulticastError? in
            do throws(MulticastError) {
                _ = try MulticastReceiver(Subscription(group: "239.77.10.9", port: 0, interface: .name("vc")))
                return nil
            } catch {
                return error
            }
        }
        guard case .interfaceCannotMulticast(let name, _)? = error else {
            Issue.record("expected interfaceCannotMulticast, got \(String(describing: error))")
            return
        }
        #expect(name == "vc")
        #expect(error?.description.contains("ip link set vc multicast on") == true)
    }
}
