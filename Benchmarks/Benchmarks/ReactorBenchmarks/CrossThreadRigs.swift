import BenchmarkSupport
import Reactor

/// Counts channel items (and sums them, so they are really read).
final class ChannelCounter: ChannelReceiver {
    var received = 0
    var sum: UInt64 = 0
    func received(_ element: UInt64, reactor: Reactor) {
        received += 1
        sum &+= element
    }
}

/// A reactor receiving from a `ReactorChannel`. The producer is this thread too
/// (a ring has one producer and one consumer; they may be the same thread), so
/// one step is the whole path of an item: push, fence, eventfd write on the
/// empty -> non-empty edge, the reactor's wakeup, drain, re-arm.
final class ChannelRig {
    let reactor: Reactor
    let channel: ReactorChannel<UInt64>
    let counter = ChannelCounter()
    var next: UInt64 = 0

    init(backend: BackendKind) throws {
        reactor = try Reactor(backend: backend)
        channel = ReactorChannel(capacity: 1024, to: reactor.remote)
        reactor.attach(channel, receiver: counter)
        for _ in 0..<2_000 { sendOne() }
    }

    deinit { reactor.close() }

    @inline(__always)
    func sendOne() {
        let target = counter.received + 1
        guard channel.send(next) else { fatalError("ChannelRig: ring full with one item in flight") }
        next &+= 1
        pump(reactor, what: "ChannelRig") { counter.received >= target }
    }
}

/// Posted work through the mailbox: a closure that captures nothing (so posting
/// it allocates no context), then the drain that swaps and runs the queue.
final class MailboxRig {
    let reactor: Reactor
    let remote: RemoteHandle

    init(backend: BackendKind) throws {
        reactor = try Reactor(backend: backend)
        remote = reactor.remote
        for _ in 0..<2_000 { postAndDrain() }
    }

    deinit { reactor.close() }

    @inline(__always)
    func postAndDrain() {
        let target = reactor.counters.posted + 1
        remote.post { (reactor: Reactor) in reactor.counters.timersFired &+= 0 }
        pump(reactor, what: "MailboxRig") { reactor.counters.posted >= target }
    }
}
