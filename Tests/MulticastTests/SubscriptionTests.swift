import Testing
import Multicast
import Reactor
import TestSupport

/// Subscription, address and interface validation: each bad input is a typed
/// error whose message names the fix.
@Suite struct SubscriptionTests {
    @Test func classifiesAddresses() throws {
        #expect(try IPAddress("239.1.1.1").isMulticast)
        #expect(try !IPAddress("10.0.0.1").isMulticast)
        #expect(try IPAddress("232.0.0.1").isSourceSpecificMulticast)
        #expect(try !IPAddress("233.0.0.1").isSourceSpecificMulticast)
        #expect(try IPAddress("ff3e::8000:1").isSourceSpecificMulticast)
        #expect(try IPAddress("ff32::8000:1").isSourceSpecificMulticast)
        // ff3x with a non-zero prefix length is unicast-prefix-based ASM (RFC 3306), not SSM.
        #expect(try !IPAddress("ff3e:0040:fd77::1").isSourceSpecificMulticast)
        #expect(try !IPAddress("ff15::1").isSourceSpecificMulticast)
        #expect(try IPAddress("ff02::1").multicastScope == 2)
        #expect(try IPAddress("ff3e::1").multicastScope == 14)
        #expect(try IPAddress("fe80::1").isLinkLocalUnicast)
        #expect(try IPAddress("::1").isLoopback)
        #expect(try IPAddress("127.0.0.2").isLoopback)
        #expect(try IPAddress("fd77::1").description == "fd77::1")
        #expect(try IPAddress("10.1.2.3").description == "10.1.2.3")
        #expect(try IPAddress(SocketAddress("10.1.2.3", port: 9)) == IPAddress("10.1.2.3"))
        #expect(throws: MulticastError.invalidAddress("239.1.1")) { try IPAddress("239.1.1") }
    }

    @Test func acceptsValidSubscriptions() throws {
        let asm = try Subscription(group: "239.1.1.1", port: 41000)
        #expect(!asm.isSourceSpecific)
        let ssm = try Subscription(group: "232.1.1.1", port: 41000, source: "10.0.0.5")
        #expect(ssm.isSourceSpecific)
        _ = try Subscription(group: "ff3e::8000:1", port: 41000, source: "fd77::1")
        _ = try Subscription(group: "ff32::8000:1", port: 41000, source: "fe80::1", interface: .name("eth0"))
        _ = try Subscription(group: "ff15::1", port: 41000)
    }

    @Test func refusesInvalidGroupForMode() throws {
        let notGroup = #expect(throws: MulticastError.self) { try Subscription(group: "10.0.0.1", port: 1) }
        #expect(notGroup?.description.contains("239.x.x.x") == true)

        let needsSource = #expect(throws: MulticastError.self) { try Subscription(group: "232.1.1.1", port: 1) }
        #expect(needsSource == .sourceRequired(group: try IPAddress("232.1.1.1")))
        #expect(needsSource?.description.contains("give the sender's address") == true)
        #expect(throws: MulticastError.sourceRequired(group: try IPAddress("ff3e::8000:1"))) {
            try Subscription(group: "ff3e::8000:1", port: 1)
        }

        let asmWithSource = #expect(throws: MulticastError.self) {
            try Subscription(group: "239.1.1.1", port: 1, source: "10.0.0.1")
        }
        #expect(asmWithSource == .sourceNotAllowed(group: try IPAddress("239.1.1.1"), source: try IPAddress("10.0.0.1")))
        #expect(asmWithSource?.description.contains("drop the source") == true)
        #expect(throws: MulticastError.self) { try Subscription(group: "ff15::1", port: 1, source: "fd77::1") }

        // A source of the other family, or a multicast source, cannot send to the group.
        #expect(throws: MulticastError.invalidSource(try IPAddress("10.0.0.1"), group: try IPAddress("ff3e::1"))) {
            try Subscription(group: "ff3e::1", port: 1, source: "10.0.0.1")
        }
        #expect(throws: MulticastError.self) { try Subscription(group: "232.1.1.1", port: 1, source: "232.1.1.2") }

        let linkScope = #expect(throws: MulticastError.self) { try Subscription(group: "ff02::1:2", port: 1) }
        #expect(linkScope == .interfaceRequired(group: try IPAddress("ff02::1:2")))
        #expect(linkScope?.description.contains("name the interface") == true)
    }

    @Test func parsesInterfaces() throws {
        #expect(try MulticastInterface(parsing: "lo") == .name("lo"))
        #expect(try MulticastInterface(parsing: "1") == .index(1))
        #expect(try MulticastInterface(parsing: "127.0.0.1") == .address(IPAddress("127.0.0.1")))
        #expect(try MulticastInterface(parsing: "fe80::1%eth0") == .address(IPAddress("fe80::1"), zone: "eth0"))
    }

    @Test func resolvesLoopbackEveryWay() throws {
        let byName = try MulticastInterface.name("lo").resolve()
        #expect(byName.isLoopback)
        #expect(try MulticastInterface.index(byName.index).resolve() == byName)
        #expect(try MulticastInterface.address(IPAddress("127.0.0.1")).resolve() == byName)
        #expect(try MulticastInterface.address(IPAddress("::1")).resolve().index == byName.index)
    }

    @Test func unknownInterfacesSayHowToFindOne() throws {
        let name = #expect(throws: MulticastError.unknownInterfaceName("nosuch9")) {
            try MulticastInterface.name("nosuch9").resolve()
        }
        #expect(name?.description.contains("ip link") == true)
        #expect(throws: MulticastError.unknownInterfaceIndex(999_999)) { try MulticastInterface.index(999_999).resolve() }
        let address = #expect(throws: MulticastError.self) {
            try MulticastInterface.address(IPAddress("192.0.2.254")).resolve()
        }
        #expect(address?.description.contains("ip addr") == true)
        // The receiver surfaces the same error at join time.
        #expect(throws: MulticastError.unknownInterfaceName("nosuch9")) {
            try MulticastReceiver(Subscription(group: "239.77.9.9", port: 0, interface: .name("nosuch9")))
        }
    }

    @Test func ipv6OnLoopbackIsRefusedWithTheReason() throws {
        let error = #expect(throws: MulticastError.self) {
            try MulticastReceiver(Subscription(group: "ff15::77", port: 0, interface: .name("lo")))
        }
        #expect(error == .ipv6OnLoopback(name: "lo"))
        #expect(error?.description.contains("veth") == true)
        #expect(throws: MulticastError.ipv6OnLoopback(name: "lo")) {
            try MulticastSender(group: IPAddress("ff15::77"), port: 41000, interface: .name("lo"))
        }
    }

    @Test func receiverRefusesMismatchedSubscriptions() throws {
        let lo = MulticastInterface.name("lo")
        let receiver = try MulticastReceiver(Subscription(group: "239.77.9.1", port: 0, interface: lo))
        defer { receiver.close() }
        let other = receiver.port == 65535 ? receiver.port - 1 : receiver.port + 1
        #expect(throws: MulticastError.portMismatch(subscription: other, bound: receiver.port)) {
            try receiver.join(Subscription(group: "239.77.9.2", port: other, interface: lo))
        }
        #expect(throws: MulticastError.self) {
            try receiver.join(Subscription(group: "ff3e::8000:1", port: receiver.port, source: "fd77::1"))
        }
        let joined = try Subscription(group: "239.77.9.1", port: 0, interface: lo)
        #expect(throws: MulticastError.alreadyJoined(joined)) { try receiver.join(joined) }
        let stranger = try Subscription(group: "239.77.9.3", port: 0, interface: lo)
        #expect(throws: MulticastError.notJoined(stranger)) { try receiver.leave(stranger) }
    }

    @Test func adoptingNeedsABoundSocket() throws {
        let socket = try UDPSocket()
        defer { socket.close() }
        #expect(throws: MulticastError.socketNotBound) { try MulticastReceiver(adopting: socket) }
    }
}
