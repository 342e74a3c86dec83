// swift package --disable-sandbox benchmark --target MulticastBenchmarks
//
// Allocation gates for the multicast receive path: a MulticastReceiver joined to
// an IPv4 group on lo, with timestamps, on each backend; per iteration one
// datagram goes out through a MulticastSender and the handler reads what a feed
// handler reads per datagram: pktinfo (group, interface, kernel timestamp), the
// subscription it belongs to, and the sender's address.

import Benchmark
import BenchmarkSupport
import Multicast
import Reactor

let benchmarks: @Sendable () -> Void = {
    for backend in socketBackends {
        registerGate("Receive.\(backend)", timed: true) {
            try MulticastRig(backend: backend)
        } step: { rig in
            rig.exchange()
        }
    }
    registerCanary()
}

/// Reads every per-datagram attribute and folds it into checks, so nothing is
/// optimised away and a wrong answer stops the run instead of passing a gate.
final class GroupHandler: DatagramHandler {
    let receiver: MulticastReceiver
    let expectedGroup: IPAddress
    let expectedSource: IPAddress
    var received = 0
    var timestampSum: UInt64 = 0

    init(receiver: MulticastReceiver, expectedSource: IPAddress) {
        self.receiver = receiver
        expectedGroup = receiver.memberships[0].subscription.group
        self.expectedSource = expectedSource
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        for datagram in batch {
            let info = datagram.packetInfo
            precondition(info.destination == expectedGroup, "GroupHandler: pktinfo destination is not the joined group")
            precondition(receiver.subscriptionIndex(of: datagram) == 0, "GroupHandler: datagram matched no subscription")
            precondition(datagram.sourceIP == expectedSource, "GroupHandler: unexpected source address")
            guard let stamp = info.kernelTimestamp else { preconditionFailure("GroupHandler: no kernel timestamp") }
            timestampSum &+= stamp
        }
        received += batch.count
    }
}

/// A receiver joined to 239.255.77.1 on lo (port chosen by the kernel) and
/// registered on a reactor, and a sender to it. Built and warmed up outside the
/// measured region.
final class MulticastRig {
    let reactor: Reactor
    let handler: GroupHandler
    let sender: MulticastSender
    let payload: UnsafeMutableRawBufferPointer
    var sequence: UInt64 = 0

    init(backend: BackendKind) throws {
        reactor = try Reactor(backend: backend)
        let loopback = try IPAddress("127.0.0.1")
        let group = try IPAddress("239.255.77.1")
        let receiver = try MulticastReceiver(Subscription(group: group, port: 0, interface: .address(loopback)),
                                             options: .init(timestamps: true))
        handler = GroupHandler(receiver: receiver, expectedSource: loopback)
        try receiver.register(with: reactor, handler: handler)
        sender = try MulticastSender(group: group, port: receiver.port, interface: .address(loopback), source: loopback)
        payload = .allocate(byteCount: 64, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        for _ in 0..<2_000 { exchange() }
    }

    deinit {
        sender.close()
        reactor.close()
        payload.deallocate()
    }

    /// Sends one datagram to the group and polls until the handler saw it.
    @inline(__always)
    func exchange() {
        let target = handler.received + 1
        payload.storeBytes(of: sequence.littleEndian, as: UInt64.self)
        sequence &+= 1
        sendOrDie("MulticastRig") { try sender.send(UnsafeRawBufferPointer(payload)) }
        pump(reactor, what: "MulticastRig") { handler.received >= target }
    }
}
