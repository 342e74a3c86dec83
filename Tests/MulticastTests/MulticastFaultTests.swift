import Testing
@testable import Reactor
import Multicast
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Kernel failures of joins and multicast socket options, injected through the
/// syscall layer, come back as the typed errors a user can act on.
@Suite struct MulticastFaultTests {
    let lo = MulticastInterface.address(try! IPAddress("127.0.0.1"))

    @Test func joinHittingTheMembershipLimitIsTyped() throws {
        defer { SystemFaults.reset() }
        let subscription = try Subscription(group: "239.77.40.1", port: 0, interface: lo)
        // ENOBUFS from MCAST_JOIN_GROUP: net.ipv4.igmp_max_memberships reached.
        SystemFaults.inject(.multicastJoin, errno: ENOBUFS)
        #expect(throws: MulticastError.membershipLimit(subscription)) { try MulticastReceiver(subscription) }
        SystemFaults.inject(.multicastJoin, errno: EPERM)
        #expect(throws: MulticastError.system(SystemError(call: "setsockopt(MCAST_JOIN_GROUP)", errno: EPERM))) {
            try MulticastReceiver(subscription)
        }
        // Faults used up: the real join works.
        let receiver = try MulticastReceiver(subscription)
        receiver.close()
    }

    @Test func receiveOptionFailureIsTyped() throws {
        defer { SystemFaults.reset() }
        let subscription = try Subscription(group: "239.77.40.2", port: 0, interface: lo)
        // The first setsockopt of a receiver is SO_REUSEADDR.
        SystemFaults.inject(.setsockopt, errno: ENOPROTOOPT)
        #expect(throws: MulticastError.system(SystemError(call: "setsockopt(SO_REUSEADDR)", errno: ENOPROTOOPT))) {
            try MulticastReceiver(subscription)
        }
        let bindFailure = MulticastError.system(SystemError(call: "bind(0.0.0.0:0)", errno: EADDRINUSE))
        SystemFaults.inject(.bind, errno: EADDRINUSE)
        #expect(throws: bindFailure) { try MulticastReceiver(subscription) }
    }

    @Test func senderOptionFailureIsTypedAndNamesTheCall() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.setsockopt, errno: EINVAL)
        let error = #expect(throws: MulticastError.self) {
            try MulticastSender(group: IPAddress("239.77.40.3"), port: 9, interface: .name("lo"))
        }
        #expect(error.map { "\($0)" }?.contains("setsockopt(multicast send options)") == true, "\(String(describing: error))")
    }

    @Test func socketCreationFailureIsTyped() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.socket, errno: EMFILE)
        let subscription = try Subscription(group: "239.77.40.4", port: 0, interface: lo)
        #expect(throws: MulticastError.system(SystemError(call: "socket", errno: EMFILE))) { try MulticastReceiver(subscription) }
    }
}
