// swift package --disable-sandbox benchmark --target TCPBenchmarks
//
// Allocation gates for TCP on the reactor (epoll), over real loopback
// connections: a read (readv into the receive ring, `received`), a write
// (`write` into the send ring, sendmsg at once), and an accept after warm-up
// with a TCPConnectionPool (accept4, registration, `connected`, close, back to
// the pool). All must read 0; the canary must not.

import Benchmark
import BenchmarkSupport
import Reactor

let benchmarks: @Sendable () -> Void = {
    registerCanary()

    registerGate("Read.epoll", timed: true) {
        try StreamRig(backend: .epoll)
    } step: { rig in
        rig.read()
    }

    registerGate("Write.epoll", timed: true) {
        try StreamRig(backend: .epoll)
    } step: { rig in
        rig.write()
    }

    registerGate("Accept.Pooled.epoll", timed: true) {
        try AcceptRig(backend: .epoll)
    } step: { rig in
        rig.acceptOne()
    }
}
