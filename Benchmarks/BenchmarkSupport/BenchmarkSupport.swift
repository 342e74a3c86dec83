// What every benchmark suite shares: the gate and timing configurations, the
// backends to run socket benchmarks on, and the bounded poll loop.
// A library target outside `Benchmarks/Benchmarks/` (every executable there is a
// suite to the benchmark plugin; a library here is just linked into the suites).

import Benchmark
import Reactor

/// The configuration every allocation gate uses (see shared/BENCHMARKING.md):
/// only `.mallocCountTotal` (`.cpuTotal` reads /proc inside the window and
/// allocates), and 1000 iterations per sample so that an allocation on a few
/// iterations still moves the p90 the check looks at.
public var allocationGate: Benchmark.Configuration {
    .init(metrics: [.mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(1), maxIterations: 10_000)
}

/// Timing runs: their numbers are for reading, not gating.
public var timing: Benchmark.Configuration {
    .init(metrics: [.wallClock, .cpuTotal, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2), maxIterations: 10_000)
}

/// The backends socket benchmarks run on: epoll always, io_uring when this build
/// has it and the kernel allows it (a reactor on it can be made). Benchmarks for
/// an unavailable backend are not registered at all, so the thresholds check
/// neither runs nor misses them.
public let socketBackends: [BackendKind] = {
    guard let probe = try? Reactor(backend: .uring) else { return [.epoll] }
    probe.close()
    return [.epoll, .uring]
}()

/// Registers `Mallocs.<name>` (an allocation gate) and, when `timed`, `Time.<name>`
/// running the same step: `setup` builds and warms the rig outside the measured
/// region, `step` is one iteration of the hot path.
public func registerGate<Rig>(_ name: String, timed: Bool = false,
                              setup: @escaping () throws -> Rig, step: @escaping (Rig) -> Void) {
    precondition(!name.contains(" ") && !name.contains("/"),
                 "benchmark names must not contain spaces or '/': the thresholds check would never find \(name)")
    Benchmark("Mallocs.\(name)", configuration: allocationGate) { benchmark, rig in
        for _ in benchmark.scaledIterations { step(rig) }
    } setup: {
        try setup()
    }
    guard timed else { return }
    Benchmark("Time.\(name)", configuration: timing) { benchmark, rig in
        for _ in benchmark.scaledIterations { step(rig) }
    } setup: {
        try setup()
    }
}

/// Polls loopback traffic until `done` says it arrived. Loopback delivery is
/// synchronous (queued before sendto returns), so more than a handful of polls
/// means the datagram was lost and the measurement is meaningless: stop loudly.
@inline(__always)
public func pump(_ reactor: Reactor, what: StaticString, until done: () -> Bool) {
    var polls = 0
    while !done() {
        do {
            try reactor.poll()
        } catch {
            fatalError("\(what): poll failed: \(error)")
        }
        polls += 1
        precondition(polls < 1_000_000, "\(what): datagrams sent on loopback never arrived")
    }
}

/// Sends one datagram on loopback; a full send buffer or an error ends the run
/// (the rigs send one at a time, so neither happens in a sound measurement).
@inline(__always)
public func sendOrDie(_ what: StaticString, _ send: () throws -> IOResult<Int>) {
    do {
        guard case .processed = try send() else {
            fatalError("\(what): loopback send would block; the sender's buffer is full")
        }
    } catch {
        fatalError("\(what): loopback send failed: \(error)")
    }
}

/// The canary: one heap allocation per iteration on purpose, in every suite (each
/// suite is its own executable with its own interposer). Its threshold is not
/// zero, so if the malloc interposer ever stops counting, this check fails
/// instead of every gate of the suite silently reading 0.
public func registerCanary() {
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
