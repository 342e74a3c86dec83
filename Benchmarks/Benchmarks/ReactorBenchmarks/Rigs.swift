import BenchmarkSupport
import Reactor

/// Counts what it receives and folds each datagram's sequence number into a sum
/// so the payload is really read (and the optimiser cannot drop the loop).
final class CountingHandler: DatagramHandler {
    var received = 0
    var sequenceSum: UInt64 = 0
    /// `run()` returns once this many have arrived (busy-polling rigs).
    var stopAt = Int.max

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        for datagram in batch where datagram.count >= 8 {
            sequenceSum &+= datagram.bytes.loadUnaligned(as: UInt64.self)
        }
        received += batch.count
        if received >= stopAt { reactor.stop() }
    }
}

/// A registered loopback socket and a sender aimed at it. Everything is created,
/// registered and warmed up here, outside the measured region; `exchange` is the
/// steady state the gates measure.
final class ReceiveRig {
    let reactor: Reactor
    let handler = CountingHandler()
    let sender: UDPSocket
    let destination: SocketAddress
    let payload: UnsafeMutableRawBufferPointer
    var sequence: UInt64 = 0
    /// Receive through `run(idle: .spin)` (busy polling on epoll) instead of `poll()`.
    let busyPoll: Bool

    init(backend: BackendKind, payloadSize: Int = 64, busyPoll: Bool = false) throws {
        self.busyPoll = busyPoll
        reactor = try Reactor(backend: backend)
        let receiver = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        destination = try receiver.localAddress()
        // Room for a whole batch even on a machine with small default buffers.
        try receiver.setReceiveBuffer(bytes: 4 << 20)
        try reactor.register(receiver, handler: handler)
        sender = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        payload = .allocate(byteCount: payloadSize, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0xA5)
        // Warm-up: first-use costs (lazy metadata, page faults in the slab) are
        // paid here, not inside the measured window.
        for _ in 0..<2_000 { exchange(1) }
        for _ in 0..<200 { exchange(64) }
    }

    deinit {
        sender.close()
        reactor.close()
        payload.deallocate()
    }

    /// Sends `count` datagrams and polls the reactor until all of them arrived.
    @inline(__always)
    func exchange(_ count: Int) {
        let target = handler.received + count
        for _ in 0..<count {
            payload.storeBytes(of: sequence.littleEndian, as: UInt64.self)
            sequence &+= 1
            sendOrDie("ReceiveRig") { try sender.send(UnsafeRawBufferPointer(payload), to: destination) }
        }
        if busyPoll {
            handler.stopAt = target
            do { try reactor.run(idle: .spin) } catch { fatalError("ReceiveRig: run failed: \(error)") }
        } else {
            pump(reactor, what: "ReceiveRig") { handler.received >= target }
        }
    }
}

/// Counts timer expirations.
final class CountingTimer: TimerHandler {
    var fired = 0
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) { fired += 1 }
}

/// A reactor on a manual clock: each step schedules (or keeps a periodic timer),
/// moves time forward by one tick and runs one duty cycle that fires it.
final class TimerRig {
    let clock = ManualClock()
    let reactor: Reactor
    let handler = CountingTimer()
    let tick: UInt64

    init(periodic: Bool = false) throws {
        var configuration = Reactor.Configuration(backend: .epoll)
        configuration.clock = clock
        reactor = try Reactor(configuration)
        tick = configuration.timerTick
        if periodic {
            try reactor.schedule(after: tick, period: tick, handler: handler)
        }
        for _ in 0..<1_000 { periodic ? firePeriodic() : fireOne() }
        scheduleAndCancel()
    }

    deinit { reactor.close() }

    /// Schedules a one-shot timer one tick ahead, advances the clock past it and
    /// runs a duty cycle, which must fire it.
    @inline(__always)
    func fireOne() {
        let before = handler.fired
        do {
            try reactor.schedule(after: tick, tag: 7, handler: handler)
            clock.advance(by: tick)
            try reactor.poll()
        } catch {
            fatalError("TimerRig: \(error)")
        }
        precondition(handler.fired == before + 1, "TimerRig: the due timer did not fire")
    }

    /// Advances one period of the periodic timer scheduled in init: one firing.
    @inline(__always)
    func firePeriodic() {
        let before = handler.fired
        clock.advance(by: tick)
        do {
            try reactor.poll()
        } catch {
            fatalError("TimerRig: \(error)")
        }
        precondition(handler.fired == before + 1, "TimerRig: the periodic timer did not fire")
    }

    /// Schedules a timer far ahead and cancels it (the re-request timer pattern:
    /// most are cancelled by the answer before they fire).
    @inline(__always)
    func scheduleAndCancel() {
        do {
            let handle = try reactor.schedule(after: 1_000 * tick, handler: handler)
            precondition(reactor.cancel(handle), "TimerRig: cancelling a live timer failed")
        } catch {
            fatalError("TimerRig: \(error)")
        }
    }
}
