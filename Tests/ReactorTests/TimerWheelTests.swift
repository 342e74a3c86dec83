import Testing
import Reactor
import TestSupport

@Suite struct TimerWheelTests {
    let start: UInt64 = 1_000_000_000
    let ms: UInt64 = 1_000_000

    func fire(_ wheel: TimerWheel, to now: UInt64) -> [(TimerHandle, UInt64)] {
        var fired: [(TimerHandle, UInt64)] = []
        wheel.advance(to: now) { handle, _, tag in fired.append((handle, tag)) }
        return fired
    }

    @Test func firesInDeadlineOrderNeverEarly() throws {
        let wheel = TimerWheel(tickNanoseconds: 100_000, slots: 64, capacity: 64, start: start)
        let handler = RecordingTimer()
        // Scheduled out of order, several within one tick.
        for (tag, offset) in [(3, 30 * ms + 50_000), (1, 30 * ms + 10_000), (2, 30 * ms + 20_000), (0, 5 * ms)] {
            _ = try wheel.schedule(at: start + offset, tag: UInt64(tag), handler: handler)
        }
        #expect(fire(wheel, to: start + 5 * ms - 1).isEmpty)
        #expect(fire(wheel, to: start + 5 * ms).map(\.1) == [0])
        #expect(fire(wheel, to: start + 30 * ms + 15_000).map(\.1) == [1])
        #expect(fire(wheel, to: start + 31 * ms).map(\.1) == [2, 3])
        #expect(wheel.count == 0)
    }

    @Test func sameDeadlineFiresInSchedulingOrder() throws {
        let wheel = TimerWheel(capacity: 16, start: start)
        let handler = RecordingTimer()
        for tag in 0..<10 { _ = try wheel.schedule(at: start + ms, tag: UInt64(tag), handler: handler) }
        #expect(fire(wheel, to: start + 2 * ms).map(\.1) == Array(0..<10))
    }

    @Test func cancelAndStaleCancel() throws {
        let wheel = TimerWheel(capacity: 4, start: start)
        let handler = RecordingTimer()
        let a = try wheel.schedule(at: start + ms, tag: 1, handler: handler)
        let b = try wheel.schedule(at: start + ms, tag: 2, handler: handler)
        #expect(wheel.cancel(a))
        #expect(!wheel.cancel(a), "second cancel is stale")
        #expect(fire(wheel, to: start + 2 * ms).map(\.1) == [2])
        #expect(!wheel.cancel(b), "cancel after firing is stale")
        // The freed slot is reused with a new generation: the old handle stays dead.
        let c = try wheel.schedule(at: start + 3 * ms, tag: 3, handler: handler)
        #expect(c.slot == a.slot || c.slot == b.slot)
        #expect(!wheel.cancel(a) && !wheel.cancel(b))
        #expect(wheel.isActive(c))
    }

    @Test func cancelInsideCallbackOfTimerDueInSameAdvance() throws {
        let wheel = TimerWheel(capacity: 4, start: start)
        let handler = RecordingTimer()
        _ = try wheel.schedule(at: start + ms, tag: 1, handler: handler)
        let second = try wheel.schedule(at: start + ms + 1, tag: 2, handler: handler)
        var fired: [UInt64] = []
        wheel.advance(to: start + 2 * ms) { _, _, tag in
            fired.append(tag)
            if tag == 1 { wheel.cancel(second) }
        }
        #expect(fired == [1])
        #expect(wheel.count == 0)
    }

    @Test func periodicTimerDoesNotDrift() throws {
        let wheel = TimerWheel(tickNanoseconds: 100_000, capacity: 4, start: start)
        let handler = RecordingTimer()
        let period = 10 * ms
        let handle = try wheel.schedule(at: start + period, period: period, handler: handler)
        var fireTimes: [UInt64] = []
        // Advance late each time (by 3.7 ms): deadlines stay on the 10 ms grid.
        var now = start
        for _ in 0..<20 {
            now += period
            wheel.advance(to: now + 3_700_000) { h, _, _ in fireTimes.append(wheel.deadline(of: h)!) }
        }
        #expect(fireTimes.count == 20)
        #expect(wheel.deadline(of: handle) == start + 21 * period)
        // Missed periods are skipped, not bunched: jump 55 ms ahead, one firing.
        var late = 0
        wheel.advance(to: start + 21 * period + 55 * ms) { _, _, _ in late += 1 }
        #expect(late == 1)
        #expect(wheel.deadline(of: handle) == start + 27 * period)
        #expect(wheel.cancel(handle))
    }

    @Test func farFutureTimerWaitsForItsRotation() throws {
        // 64 buckets x 1 ms: a rotation is 64 ms; schedule 10 s ahead.
        let wheel = TimerWheel(tickNanoseconds: ms, slots: 64, capacity: 4, start: start)
        let handler = RecordingTimer()
        _ = try wheel.schedule(at: start + 10_000 * ms, tag: 7, handler: handler)
        var now = start
        var fired: [UInt64] = []
        while now < start + 10_000 * ms - ms {
            now += 7 * ms
            if now >= start + 10_000 * ms { break }
            wheel.advance(to: now) { _, _, tag in fired.append(tag) }
        }
        #expect(fired.isEmpty)
        // nextDeadline never claims more than one rotation away while it is far.
        #expect(wheel.nextDeadline()! <= now + 64 * ms + ms)
        wheel.advance(to: start + 10_000 * ms) { _, _, tag in fired.append(tag) }
        #expect(fired == [7])
    }

    @Test func jumpLongerThanRotationFiresEverythingInOrder() throws {
        let wheel = TimerWheel(tickNanoseconds: ms, slots: 16, capacity: 64, start: start)
        let handler = RecordingTimer()
        for i in (0..<50).reversed() { _ = try wheel.schedule(at: start + UInt64(i) * 3 * ms, tag: UInt64(i), handler: handler) }
        #expect(fire(wheel, to: start + 1000 * ms).map(\.1) == Array(0..<50))
    }

    @Test func hundredThousandTimers() throws {
        let count = 100_000
        let wheel = TimerWheel(tickNanoseconds: 100_000, slots: 8192, capacity: count, start: start)
        let handler = RecordingTimer()
        var rng = SeededGenerator(seed: 42)
        var handles: [TimerHandle] = []
        handles.reserveCapacity(count)
        for i in 0..<count {
            let offset = rng.next() % (5_000 * ms)
            handles.append(try wheel.schedule(at: start + offset, tag: UInt64(i), handler: handler))
        }
        #expect(throws: ReactorError.timerCapacityExhausted(capacity: count)) {
            _ = try wheel.schedule(at: start, handler: handler)
        }
        // Cancel every tenth.
        for i in stride(from: 0, to: count, by: 10) { #expect(wheel.cancel(handles[i])) }
        var last: UInt64 = 0
        var fired = 0
        var ordered = true
        var now = start
        while wheel.count > 0 {
            now += 7 * ms
            wheel.advance(to: now) { handle, _, tag in
                let deadline = wheel.deadline(of: handle)!
                if deadline < last { ordered = false }
                if tag % 10 == 0 { ordered = false }
                last = deadline
                fired += 1
            }
        }
        #expect(fired == count - count / 10)
        #expect(ordered)
    }

    @Test func nextDeadlineReportsEarliest() throws {
        let wheel = TimerWheel(tickNanoseconds: 100_000, capacity: 8, start: start)
        let handler = RecordingTimer()
        #expect(wheel.nextDeadline() == nil)
        _ = try wheel.schedule(at: start + 9 * ms, handler: handler)
        let early = try wheel.schedule(at: start + 2 * ms + 1234, handler: handler)
        #expect(wheel.nextDeadline() == start + 2 * ms + 1234)
        wheel.cancel(early)
        #expect(wheel.nextDeadline() == start + 9 * ms)
    }

    @Test func rescheduleMovesTimer() throws {
        let wheel = TimerWheel(capacity: 4, start: start)
        let handler = RecordingTimer()
        let h = try wheel.schedule(at: start + ms, tag: 1, handler: handler)
        #expect(wheel.reschedule(h, at: start + 5 * ms))
        #expect(fire(wheel, to: start + 4 * ms).isEmpty)
        #expect(fire(wheel, to: start + 5 * ms).map(\.1) == [1])
        #expect(!wheel.reschedule(h, at: start))
    }

    /// `nextDeadline()` is cached between changes: over random schedules, cancels,
    /// reschedules and advances it must stay the earliest deadline when that is
    /// within the rotation (or an earlier end of rotation: a wake-up to look
    /// again), never later than it, and never a past wake-up (which would spin a
    /// blocking reactor) while nothing is due. Timers are picked in a seeded
    /// order (not dictionary order, which changes from run to run).
    @Test func cachedNextDeadlineMatchesTheTimersAfterEveryChange() throws {
        let tick: UInt64 = 100_000
        let rotation = tick * 64
        let wheel = TimerWheel(tickNanoseconds: tick, slots: 64, capacity: 256, start: start)
        let handler = RecordingTimer()
        var generator = SeededGenerator(seed: 0x71_3E)
        var live: [TimerHandle: UInt64] = [:]
        var now = start
        for step in 0..<20_000 {
            switch UInt64.random(in: 0..<10, using: &generator) {
            case 0...3 where live.count < 256:
                let deadline = now + UInt64.random(in: 0...(2 * rotation), using: &generator)
                live[try wheel.schedule(at: deadline, handler: handler)] = deadline
            case 4 where !live.isEmpty:
                let handle = live.keys.sorted { $0.slot < $1.slot }.randomElement(using: &generator)!
                #expect(wheel.cancel(handle))
                live[handle] = nil
            case 5 where !live.isEmpty:
                let handle = live.keys.sorted { $0.slot < $1.slot }.randomElement(using: &generator)!
                let deadline = now + UInt64.random(in: 0...(2 * rotation), using: &generator)
                #expect(wheel.reschedule(handle, at: deadline))
                live[handle] = deadline
            default:
                now += UInt64.random(in: 0...(rotation / 8), using: &generator)
                for (handle, _) in fire(wheel, to: now) { live[handle] = nil }
            }
            guard let earliest = live.values.min() else {
                #expect(wheel.nextDeadline() == nil, "step \(step)")
                continue
            }
            let next = try #require(wheel.nextDeadline(), "step \(step)")
            #expect(next <= earliest, "step \(step): \(next) after the earliest \(earliest)")
            // Exact, unless the cache holds an end of rotation from a scan that
            // found only far timers: then time passing (or a timer scheduled since)
            // may leave it earlier than a fresh scan's answer — an early wake-up
            // that looks again, never a late one.
            if earliest < now + rotation / 2 && next != earliest {
                #expect(next % tick == 0 && next > now, "step \(step): \(next), the earliest is \(earliest)")
            }
            if earliest > now { #expect(next > now, "step \(step): a wake-up in the past while nothing is due") }
        }
    }
}
