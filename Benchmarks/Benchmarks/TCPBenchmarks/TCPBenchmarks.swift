// swift package --disable-sandbox benchmark --target TCPBenchmarks
//
// Allocation gates for TCP on the reactor (epoll), over real loopback
// connections: a read (readv into the receive ring, `received`), a write
// (`write` into the send ring, sendmsg at once), and an accept after warm-up
// with a TCPConnectionPool (accept4, registration, `connected`, close, back to
// the pool), the accept on io_uring too (multishot accept; registered only
// where a ring can be made). All must read 0; the canary must not.

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

    // io_uring (multishot accept, completions): where a ring can be made.
    guard socketBackends.contains(.uring) else { return }
    registerGate("Accept.Pooled.uring", timed: true) {
        try AcceptRig(backend: .uring)
    } step: { rig in
        rig.acceptOne()
    }
}
