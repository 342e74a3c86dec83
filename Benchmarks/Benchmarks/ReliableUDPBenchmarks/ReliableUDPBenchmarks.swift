// swift package --disable-sandbox benchmark --target ReliableUDPBenchmarks
//
// Allocation gates for ReliableUDP: a `delivery` message sent, received and
// acknowledged between two Connections (no sockets; with and without
// grouping; encrypted, where swift-crypto allocates 13 per seal and 5 per open,
// so its threshold is that count, 27 per exchange, not 0), and through
// Endpoint + EndpointServer over loopback. The Time.*
// runs of the loopback rigs (16 messages of 64 bytes per iteration) sit next to
// Time.Loopback.RawUDP (the same 16 datagrams sent and received by plain
// sockets on a reactor), so their medians give the ratio to raw UDP.

import Benchmark
import BenchmarkSupport
import Reactor

let benchmarks: @Sendable () -> Void = {
    registerGate("Connection.Delivery", timed: true, setup: { try ConnectionRig(grouping: false) }, step: { $0.exchange() })
    registerGate("Connection.DeliveryGrouped", timed: true, setup: { try ConnectionRig(grouping: true) }, step: { $0.exchange() })
    registerGate("Connection.DeliveryEncrypted", timed: true, setup: { try ConnectionRig(grouping: false, encrypted: true) },
                 step: { $0.exchange() })
    registerGate("Loopback.Delivery", timed: true, setup: { try LoopbackRig(grouping: false) }, step: { $0.exchange() })
    registerGate("Loopback.DeliveryGrouped", timed: true, setup: { try LoopbackRig(grouping: true) }, step: { $0.exchange() })
    registerGate("Loopback.RawUDP", timed: true, setup: { try RawUDPRig() }, step: { $0.exchange() })
    registerCanary()
}
