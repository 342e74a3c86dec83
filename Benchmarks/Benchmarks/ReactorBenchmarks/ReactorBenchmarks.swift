// swift package --disable-sandbox benchmark --target ReactorBenchmarks
//
// Two kinds of benchmark live here, never mixed in one benchmark:
// - gates ("Mallocs.*"): count heap allocations on the hot path; their p90 is
//   checked in under Thresholds/ and `swift package benchmark thresholds check`
//   fails when it moves. The hot path must read 0; the canary must not.
// - timings ("Time.*"): wall clock and CPU time for humans to read. They
//   have no checked-in thresholds (time on a shared machine is noise to a gate).

import Benchmark
import BenchmarkSupport
import Reactor

/// Receive gates run on every backend this machine has (`socketBackends`:
/// io_uring only where a reactor on it can be made; otherwise its benchmarks
/// are not registered, and the thresholds check skips them).
let benchmarks: @Sendable () -> Void = {
    for backend in socketBackends {
        for batch in [1, 32] {
            registerGate("Receive\(batch).\(backend)", timed: true) {
                try ReceiveRig(backend: backend)
            } step: { rig in
                rig.exchange(batch)
            }
        }
    }

    // Sends through the backend: one datagram and a batch of 32 (direct: the
    // kernel takes them at once), and a burst of 32 into a socket that takes a
    // few (queued: EAGAIN, the queue, writable interest, `writable`).
    for backend in socketBackends {
        registerGate("Send1.\(backend)", timed: true) {
            try SendRig(backend: backend, queued: false)
        } step: { rig in
            rig.sendOne()
        }
        registerGate("SendBatch32.\(backend)", timed: true) {
            try SendRig(backend: backend, queued: false)
        } step: { rig in
            rig.sendBatch()
        }
        registerGate("SendQueued32.\(backend)") {
            try SendRig(backend: backend, queued: true)
        } step: { rig in
            rig.burst(32)
        }
    }

    // Busy polling: run(idle: .spin) on epoll reads the socket directly
    // (a single-datagram probe, then batches).
    for batch in [1, 32] {
        registerGate("ReceiveBusyPoll\(batch).epoll", timed: true) {
            try ReceiveRig(backend: .epoll, busyPoll: true)
        } step: { rig in
            rig.exchange(batch)
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
        registerGate(timer.name, timed: timer.name == "TimerFire") {
            try TimerRig(periodic: timer.periodic)
        } step: { rig in
            timer.step(rig)
        }
    }

    // Between threads: a channel item (SPSC ring + eventfd on the empty ->
    // non-empty edge) and a mailbox drain (posted closure, swapped queue).
    for backend in socketBackends {
        registerGate("ChannelItem.\(backend)", timed: true) {
            try ChannelRig(backend: backend)
        } step: { rig in
            rig.sendOne()
        }
        registerGate("MailboxDrain.\(backend)") {
            try MailboxRig(backend: backend)
        } step: { rig in
            rig.postAndDrain()
        }
    }
    registerGate("SPSCRing.PushPop") {
        SPSCRing<UInt64>(capacity: 64)
    } step: { ring in
        _ = ring.push(1)
        _ = ring.pop()
    }

    registerCanary()
}
