// swift package --disable-sandbox benchmark --target UTPBenchmarks
//
// Allocation gates for µTP: one data packet sent, received, delivered and
// acknowledged between two endpoints in memory (the I/O-free protocol state on a
// fake clock), the same with a lost packet repaired from selective ACKs, and a
// packet each way through real UTPSockets on a reactor over loopback.

import Benchmark
import BenchmarkSupport
import Reactor

let benchmarks: @Sendable () -> Void = {
    registerGate("Transfer.Packet", timed: true, setup: { try MemoryRig() }, step: { $0.packet() })
    registerGate("Transfer.SackRecovery", setup: { try MemoryRig() }, step: { $0.lossRound() })
    for backend in socketBackends {
        registerGate("Socket.Packet.\(backend)", timed: true, setup: { try SocketRig(backend: backend) }, step: { $0.packet() })
    }
    registerCanary()
}
