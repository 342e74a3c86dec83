import Testing
import TestSupport
@testable import UTP

@Suite("LEDBAT on the simulated link")
struct LEDBATTests {
    /// A transfer big enough to stay window-limited for the whole test.
    func rig(seed: UInt64, delay: UInt64) throws -> UTPRig {
        var configuration = UTPConfiguration()
        configuration.mtuDiscovery = false
        configuration.sendBufferBytes = 4 << 20
        let rig = UTPRig(seed: seed, impairment: .init(delay: delay), configuration: configuration)
        rig.clientApp.source = pattern(1 << 16, seed: seed)
        rig.clientApp.endless = true
        rig.clientApp.shutdownWhenSent = false
        rig.serverApp.discard = true
        try rig.connect()
        rig.run(maximumSteps: 10_000) { rig.clientApp.connection?.state == .connected }
        return rig
    }

    @Test("one-way delay below target: the window grows, by at most the gain per RTT")
    func growsByAtMostGainPerRTT() throws {
        let rtt: UInt64 = 20_000_000            // 10 ms each way, no queue
        let rig = try rig(seed: 11, delay: rtt / 2)
        let connection = try #require(rig.clientApp.connection)
        let warm = rig.now + 1_000_000_000
        rig.run(maximumSteps: 200_000) { rig.now > warm }
        let startWindow = connection.congestion.window
        let startTime = rig.now
        rig.run(maximumSteps: 400_000) { rig.now > startTime + 50 * rtt }
        let rtts = Double(rig.now - startTime) / Double(rtt)
        let growth = Double(connection.congestion.window - startWindow)
        #expect(growth > 0, "below target the window opens")
        #expect(growth <= rtts * 3000 * 1.05, "grew \(growth) bytes in \(rtts) RTTs")
        #expect(growth >= rtts * 3000 * 0.5, "and by close to the gain when nothing queues: \(growth) in \(rtts) RTTs")
        #expect(connection.statistics.maximumQueueingDelay < 1_000)
    }

    @Test("one-way delay growing past the 100 ms target: the window shrinks")
    func shrinksAboveTarget() throws {
        let rig = try rig(seed: 12, delay: 5_000_000)
        let connection = try #require(rig.clientApp.connection)
        let warm = rig.now + 3_000_000_000
        rig.run(maximumSteps: 200_000) { rig.now > warm }
        let openWindow = connection.congestion.window
        // Add queueing delay step by step (as a filling bottleneck queue would) up to
        // 250 ms: 150 ms past the target.
        var added: UInt64 = 0
        var atTarget = 0
        while added < 250_000_000 {
            added += 10_000_000
            rig.clientToServer.impairment.delay = 5_000_000 + added
            let until = rig.now + 100_000_000
            rig.run(maximumSteps: 100_000) { rig.now > until }
            if added == 100_000_000 { atTarget = connection.congestion.window }
        }
        let until = rig.now + 3_000_000_000
        rig.run(maximumSteps: 400_000) { rig.now > until }
        #expect(connection.delays.currentDelay > 100_000, "measured queueing delay \(connection.delays.currentDelay) µs")
        #expect(connection.congestion.window < atTarget, "window \(connection.congestion.window) after \(atTarget)")
        #expect(connection.congestion.window < openWindow)
        #expect(connection.congestion.window >= connection.congestion.minimumWindow)
    }

    /// The window after one window's worth of full-packet ACKs at `delay` µs.
    func windowAfterOneRTT(delay: UInt32, multiplicative: Bool) -> (before: Int, after: Int) {
        var configuration = UTPConfiguration()
        configuration.initialWindow = 300_000
        configuration.multiplicativeDecrease = multiplicative
        var control = CongestionControl(configuration: configuration, maximumWindow: 1 << 20)
        let before = control.window
        var acked = 0
        while acked < before {
            control.acknowledged(bytes: 1452, inFlightBefore: control.window, delay: delay, packetSize: 1452)
            acked += 1452
        }
        return (before, control.window)
    }

    @Test("above target the window falls by W·(delay/target − 1) per RTT (LEDBAT++), at most half; libutp's rule by 3,000 bytes at most")
    func multiplicativeDecrease() {
        // 130 ms: 30% past the target, so 30% of the window goes in one RTT of ACKs.
        let ledbatPlusPlus = windowAfterOneRTT(delay: 130_000, multiplicative: true)
        let ratio = Double(ledbatPlusPlus.after) / Double(ledbatPlusPlus.before)
        #expect(ratio > 0.68 && ratio < 0.72, "kept \(ratio) of the window")
        // 400 ms: the decrease is capped at half a window per RTT.
        let capped = windowAfterOneRTT(delay: 400_000, multiplicative: true)
        let cappedRatio = Double(capped.after) / Double(capped.before)
        #expect(cappedRatio > 0.48 && cappedRatio < 0.52, "kept \(cappedRatio) of the window")
        // libutp: 3,000 × 0.3 = 900 bytes per RTT (plus rounding down per ACK).
        let libutp = windowAfterOneRTT(delay: 130_000, multiplicative: false)
        let fell = libutp.before - libutp.after
        #expect(fell >= 800 && fell <= 1_300, "libutp's rule took \(fell) bytes")
        // Below the target nothing changes: growth stays at most the gain per RTT.
        let below = windowAfterOneRTT(delay: 0, multiplicative: true)
        #expect(below.after - below.before <= 3_000)
    }

    @Test("loss halves the window at most once per 100 ms")
    func lossDecay() {
        var configuration = UTPConfiguration()
        configuration.initialWindow = 64_000
        var control = CongestionControl(configuration: configuration, maximumWindow: 1 << 20)
        control.lost(now: 1_000_000_000)
        #expect(control.window == 32_000)
        control.lost(now: 1_050_000_000)
        #expect(control.window == 32_000)
        control.lost(now: 1_100_000_000)
        #expect(control.window == 16_000)
        control.timedOut(now: 2_000_000_000)
        #expect(control.window == configuration.minimumWindow)
    }

    @Test("base delay: per-minute minima; the current delay is the least of the last 3 samples")
    func delayHistory() {
        var history = DelayHistory(minutes: 3)
        let minute: UInt64 = 60_000_000_000
        let offset: UInt32 = 4_200_000_000       // a clock offset near the 2^32 wrap
        history.add(offset, now: 0)
        history.add(offset &+ 50_000, now: 1)
        history.add(offset &+ 80_000, now: 2)
        history.add(offset &+ 20_000, now: 3)
        #expect(history.base == offset)
        #expect(history.currentDelay == 20_000)
        // Wrapping: a sample past 2^32 is still later than the base.
        history.add(offset &+ 300_000_000, now: minute + 1)
        #expect(history.base == offset)
        #expect(history.currentDelay == 20_000)
        // The old minimum ages out once `minutes` newer minutes have closed.
        for step in 2...6 { history.add(offset &+ 300_000_000, now: UInt64(step) * minute + 1) }
        #expect(history.base == offset &+ 300_000_000)
    }
}
