import Testing
import Multicast
import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// IPv4 multicast over the loopback interface (Linux delivers it locally; IPv6
/// needs the namespace tests). Ports are the kernel's choice; groups differ per
/// test so parallel tests never share a (group, port).
@Suite struct LoopbackMulticastTests {
    let lo = MulticastInterface.address(try! IPAddress("127.0.0.1"))
    let loopback = try! IPAddress("127.0.0.1")

    func sender(_ group: String, port: UInt16, from source: String = "127.0.0.1") throws -> MulticastSender {
        // 127.0.0.2 is on lo too, but only 127.0.0.1 is listed as an interface
        // address, so the interface is named rather than derived from the source.
        try MulticastSender(group: IPAddress(group), port: port, interface: .name("lo"), source: IPAddress(source))
    }

    @Test(arguments: TestEnvironment.backends)
    func receivesASMWithMetadata(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let subscription = try Subscription(group: "239.77.0.1", port: 0, interface: lo)
        let (receiver, recorder, _) = try listen(on: reactor, to: [subscription], options: .init(timestamps: true))
        let sender = try sender("239.77.0.1", port: receiver.port)
        defer { sender.close() }

        let before = PacketInfo.realtimeNow()
        for i in 0..<5 { try sender.send([UInt8(i), 0xaa]) }
        try pump(reactor) { recorder.entries.count == 5 }
        let after = PacketInfo.realtimeNow()

        let loIndex = try MulticastInterface.name("lo").resolve().index
        #expect(recorder.entries.map { $0.payload[0] } == [0, 1, 2, 3, 4])
        for entry in recorder.entries {
            #expect(entry.destination == subscription.group)
            #expect(entry.interfaceIndex == loIndex)
            #expect(entry.source == loopback)
            #expect(entry.subscriptionIndex == 0)
            let stamp = try #require(entry.kernelTimestamp)
            #expect(stamp >= before && stamp <= after)
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func timestampsAreOptIn(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (receiver, recorder, _) = try listen(on: reactor, to: [Subscription(group: "239.77.0.2", port: 0, interface: lo)])
        let sender = try sender("239.77.0.2", port: receiver.port)
        defer { sender.close() }
        try send([1], with: sender, on: reactor) { recorder.entries.count > 0 }
        #expect(recorder.entries.first?.kernelTimestamp == nil)
        #expect(recorder.entries.first?.destination == (try IPAddress("239.77.0.2")))
    }

    @Test(arguments: TestEnvironment.backends)
    func packetInfoCanBeTurnedOff(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let (receiver, recorder, _) = try listen(on: reactor, to: [Subscription(group: "239.77.0.40", port: 0, interface: lo)],
                                                 options: .init(packetInfo: false))
        let sender = try sender("239.77.0.40", port: receiver.port)
        defer { sender.close() }
        try send([1], with: sender, on: reactor) { recorder.entries.count > 0 }
        #expect(recorder.entries.first?.payload == [1])
        #expect(recorder.entries.first?.destination == nil, "no IP_PKTINFO asked for, none delivered")
        #expect(recorder.entries.first?.subscriptionIndex == nil)
    }

    /// SSM on 232/8: the kernel's source filter admits 127.0.0.1 and drops the
    /// same group and port sent from 127.0.0.2.
    @Test(arguments: TestEnvironment.backends)
    func sourceFilterFilters(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let subscription = try Subscription(group: "232.77.0.1", port: 0, source: "127.0.0.1", interface: lo)
        let (receiver, recorder, _) = try listen(on: reactor, to: [subscription])
        let wanted = try sender("232.77.0.1", port: receiver.port, from: "127.0.0.1")
        let unwanted = try sender("232.77.0.1", port: receiver.port, from: "127.0.0.2")
        defer { wanted.close(); unwanted.close() }

        // A second receiver on the port admitting 127.0.0.2 (an adopted socket)
        // proves the unwanted datagrams were really sent and arrived on lo.
        let witness = try UDPSocket.bound(to: .any(port: receiver.port))
        defer { witness.close() }
        let witnessReceiver = try MulticastReceiver(adopting: witness)
        try witnessReceiver.join(Subscription(group: "232.77.0.1", port: 0, source: "127.0.0.2", interface: lo))
        let witnessRecorder = MulticastRecorder(witnessReceiver)
        let witnessToken = try witnessReceiver.register(with: reactor, handler: witnessRecorder)
        defer { reactor.deregister(witnessToken, closeSocket: false) }

        for _ in 0..<3 { try unwanted.send([0xee]) }
        try wanted.send([0x01])
        try pump(reactor) { recorder.contains([0x01]) && witnessRecorder.entries.count == 3 }
        try reactor.poll()
        #expect(recorder.entries.map(\.payload) == [[0x01]])
        #expect(recorder.entries.first?.source == loopback)
        #expect(witnessRecorder.entries.map(\.payload) == [[0xee], [0xee], [0xee]])
        #expect(witnessRecorder.entries.first?.source == (try IPAddress("127.0.0.2")))
    }

    /// Two groups on one port are told apart by pktinfo; a third group on the same
    /// port, joined only by another socket, does not reach this one
    /// (IP_MULTICAST_ALL off).
    @Test(arguments: TestEnvironment.backends)
    func twoGroupsOnOnePort(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let first = try Subscription(group: "239.77.1.1", port: 0, interface: lo)
        let second = try Subscription(group: "239.77.1.2", port: 0, interface: lo)
        let (receiver, recorder, _) = try listen(on: reactor, to: [first, second])
        let other = try listen(on: reactor, to: [Subscription(group: "239.77.1.3", port: receiver.port, interface: lo)])
        let otherRecorder = other.recorder

        let senders = try ["239.77.1.3", "239.77.1.1", "239.77.1.2"].map { try sender($0, port: receiver.port) }
        defer { senders.forEach { $0.close() } }
        for (i, sender) in senders.enumerated() { try sender.send([UInt8(i)]) }
        try pump(reactor) { recorder.entries.count == 2 && otherRecorder.entries.count == 1 }
        try reactor.poll()

        #expect(recorder.entries.count == 2)
        let byGroup = Dictionary(uniqueKeysWithValues: recorder.entries.map { ($0.destination!, $0.subscriptionIndex) })
        #expect(byGroup[first.group] == 0)
        #expect(byGroup[second.group] == 1)
        #expect(otherRecorder.entries.map(\.destination) == [try IPAddress("239.77.1.3")])
    }

    /// The socket is bound to the wildcard address, so unicast to its port
    /// arrives too; it matches no subscription and its pktinfo says so.
    @Test func unicastToThePortMatchesNoSubscription() throws {
        let reactor = try Reactor(backend: .epoll)
        let (receiver, recorder, _) = try listen(on: reactor, to: [Subscription(group: "239.77.6.1", port: 0, interface: lo)])
        let (plain, _) = try loopbackSocket()
        defer { plain.close() }
        try plain.send([9], to: SocketAddress("127.0.0.1", port: receiver.port))
        try pump(reactor) { recorder.entries.count == 1 }
        #expect(recorder.entries.first?.destination == loopback)
        #expect(recorder.entries.first?.subscriptionIndex == nil)
    }

    /// The sender's TTL, loop and interface land in the socket options.
    @Test func senderOptions() throws {
        let loIndex = try MulticastInterface.name("lo").resolve().index
        let sender = try MulticastSender(group: IPAddress("239.77.7.1"), port: 41000, interface: .name("lo"), ttl: 5, loop: false)
        defer { sender.close() }
        #expect(try sender.socket.option(level: Int32(IPPROTO_IP), name: IP_MULTICAST_TTL) == 5)
        #expect(try sender.socket.option(level: Int32(IPPROTO_IP), name: IP_MULTICAST_LOOP) == 0)
        #expect(sender.interfaceIndex == loIndex)
        #expect(sender.destination == (try SocketAddress("239.77.7.1", port: 41000)))
        #expect(throws: MulticastError.notMulticast(try IPAddress("10.0.0.1"))) {
            try MulticastSender(group: IPAddress("10.0.0.1"), port: 41000)
        }
    }

    /// Leave stops delivery without closing or deregistering the socket; rejoin
    /// brings it back.
    @Test(arguments: TestEnvironment.backends)
    func leaveAndRejoin(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let kept = try Subscription(group: "239.77.2.1", port: 0, interface: lo)
        let dropped = try Subscription(group: "239.77.2.2", port: 0, interface: lo)
        let (receiver, recorder, token) = try listen(on: reactor, to: [kept, dropped])
        let keptSender = try sender("239.77.2.1", port: receiver.port)
        let droppedSender = try sender("239.77.2.2", port: receiver.port)
        defer { keptSender.close(); droppedSender.close() }

        try receiver.leave(dropped)
        #expect(receiver.memberships.map(\.subscription) == [kept])
        try droppedSender.send([0xdd])
        try keptSender.send([0x01])
        try pump(reactor) { recorder.contains([0x01]) }
        try reactor.poll()
        #expect(!recorder.contains([0xdd]))
        #expect(reactor.socket(for: token) != nil)

        try receiver.rejoin(dropped)
        try droppedSender.send([0x02])
        try pump(reactor) { recorder.contains([0x02]) }
        #expect(recorder.contains([0x02]))

        try receiver.leaveAll()
        #expect(receiver.memberships.isEmpty)
        #expect(reactor.socket(for: token) != nil)
    }

    /// A subscription's descriptor moves to another reactor with its membership:
    /// the first reactor stops receiving, the second receives without a rejoin.
    @Test(arguments: TestEnvironment.backends)
    func handsDescriptorToAnotherLoop(backend: BackendKind) throws {
        let first = try Reactor(backend: backend)
        let second = try Reactor(backend: backend)
        let receiver = try MulticastReceiver(Subscription(group: "239.77.3.1", port: 0, interface: lo))
        let firstRecorder = MulticastRecorder(receiver)
        let secondRecorder = MulticastRecorder(receiver)
        let token = try receiver.register(with: first, handler: firstRecorder)
        let sender = try sender("239.77.3.1", port: receiver.port)
        defer { sender.close() }
        try sender.send([1])
        try pump(first) { firstRecorder.entries.count == 1 }

        #expect(first.deregister(token, closeSocket: false))
        try receiver.register(with: second, handler: secondRecorder)
        try sender.send([2])
        try pump(second) { secondRecorder.entries.count == 1 }
        try first.poll()
        #expect(firstRecorder.entries.map(\.payload) == [[1]])
        #expect(secondRecorder.entries.map(\.payload) == [[2]])
        #expect(secondRecorder.entries.first?.destination == (try IPAddress("239.77.3.1")))
    }

    /// An existing bound socket is adopted: it gets the receiver's options
    /// (pktinfo, IP_MULTICAST_ALL off) and joins through the receiver.
    @Test(arguments: TestEnvironment.backends)
    func adoptsBoundSocket(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let socket = try UDPSocket.bound(to: .any(port: 0))
        let receiver = try MulticastReceiver(adopting: socket)
        #expect(try socket.option(level: Int32(IPPROTO_IP), name: IP_MULTICAST_ALL) == 0)
        try receiver.join(Subscription(group: "239.77.4.1", port: receiver.port, interface: lo))
        let recorder = MulticastRecorder(receiver)
        try receiver.register(with: reactor, handler: recorder)
        let sender = try sender("239.77.4.1", port: receiver.port)
        defer { sender.close() }
        try sender.send([7])
        try pump(reactor) { recorder.entries.count == 1 }
        #expect(recorder.entries.first?.subscriptionIndex == 0)
        #expect(recorder.entries.first?.destination == (try IPAddress("239.77.4.1")))
    }

    /// Several subscriptions (one socket each, different ports) on one reactor.
    @Test(arguments: TestEnvironment.backends)
    func severalSubscriptionsOnOneReactor(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        var recorders: [MulticastRecorder] = []
        var senders: [MulticastSender] = []
        defer { senders.forEach { $0.close() } }
        for i in 0..<4 {
            let group = "239.77.5.\(i + 1)"
            let (receiver, recorder, _) = try listen(on: reactor, to: [Subscription(group: group, port: 0, interface: lo)])
            recorders.append(recorder)
            senders.append(try sender(group, port: receiver.port))
        }
        for (i, sender) in senders.enumerated() { try sender.send([UInt8(i)]) }
        try pump(reactor) { recorders.allSatisfy { $0.entries.count == 1 } }
        #expect(recorders.map { $0.entries.first?.payload } == [[0], [1], [2], [3]])
    }
}
