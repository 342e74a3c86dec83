// swift package --disable-sandbox benchmark --target ReactorBenchmarks
//
// Two kinds of benchmark live here, never mixed in one benchmark:
// - gates ("Mallocs.*"): count heap allocations on the hot path; their p90 is
//   checked in under Thresholds/ and `swift package benchmark thresholds check`
//   fails when it moves. The hot path must read 0; the canary must not.
// - timings ("Time.*"): wall clock and CPU time for humans to read. They
//   have no checked-in thresholds (time on a shared machine is noise to a gate).

import Benchmark
import Reactor

/// The configuration every allocation gate uses (see shared/BENCHMARKING.md):
/// only `.mallocCountTotal` (`.cpuTotal` reads /proc inside the window and
/// allocates), and 1000 iterations per sample so that an allocation on a few
/// iterations still moves the p90 the check looks at.
var allocationGate: Benchmark.Configuration {
    .init(metrics: [.mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(1), maxIterations: 10_000)
}

/// Timing runs: their numbers are for reading, not gating.
var timing: Benchmark.Configuration {
    .init(metrics: [.wallClock, .cpuTotal, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 10_000)
}

/// Backends the receive benchmarks run on. Add `.uring` here once its backend
/// receives (and regenerate the thresholds: a new benchmark has none yet).
let receiveBackends: [BackendKind] = [.epoll]

let benchmarks: @Sendable () -> Void = {
    for backend in receiveBackends {
        for batch in [1, 32] {
            let name = "Receive\(batch).\(backend)"
            Benchmark("Mallocs.\(name)", configuration: allocationGate) { benchmark, rig in
                for _ in benchmark.scaledIterations { rig.exchange(batch) }
            } setup: {
                try ReceiveRig(backend: backend)
            }
            Benchmark("Time.\(name)", configuration: timing) { benchmark, rig in
                for _ in benchmark.scaledIterations { rig.exchange(batch) }
            } setup: {
                try ReceiveRig(backend: backend)
            }
        }
    }

    // Timers: one-shot fire, periodic fire, and schedule + cancel (most
    // re-request timers are cancelled by the answer before they fire).
    let timerSteps: [(name: String, periodic: Bool, step: (TimerRig) -> Void)] = [
        ("TimerFire", false, { $0.fireOne() }),
        ("PeriodicTimerFire", true, { $0.firePeriodic() }),
        ("TimerScheduleCancel", false, { $0.scheduleAndCancel() }),
    ]
    for timer in timerSteps {
        Benchmark("Mallocs.\(timer.name)", configuration: allocationGate) { benchmark, rig in
            for _ in benchmark.scaledIterations { timer.step(rig) }
        } setup: {
            try TimerRig(periodic: timer.periodic)
        }
    }
    Benchmark("Time.TimerFire", configuration: timing) { benchmark, rig in
        for _ in benchmark.scaledIterations { rig.fireOne() }
    } setup: {
        try TimerRig()
    }

    // The canary: one heap allocation per iteration on purpose. Its threshold is
    // not zero, so if the malloc interposer ever stops counting, this check
    // fails instead of every gate above silently reading 0.
    Benchmark("Mallocs.Canary", configuration: allocationGate) { benchmark in
        for iteration in benchmark.scaledIterations {
            blackHole(CanaryBox(iteration))
        }
    }
}

final class CanaryBox {
    let value: Int
    init(_ value: Int) { self.value = value }
}
