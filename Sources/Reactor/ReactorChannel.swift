import Synchronization

/// Receives the items of a `ReactorChannel` on the consuming reactor's thread.
public protocol ChannelReceiver<Element>: AnyObject {
    /// The type of the items the channel carries.
    associatedtype Element
    /// One item, in the order it was sent. Runs inside the reactor's duty cycle.
    func received(_ element: Element, reactor: Reactor)
}

/// A one-way lane between two threads (typically two reactors of a
/// `ReactorGroup`): a bounded `SPSCRing` plus the target reactor's eventfd
/// wakeup, written only when the ring goes from empty (as the consumer last saw
/// it) to non-empty. No lock and no allocation per item.
///
/// Exactly one thread sends. The consuming reactor attaches the channel with a
/// receiver, on its own thread; from then on each duty cycle that was woken
/// hands the items to the receiver in order.
///
/// ```swift
/// let channel = ReactorChannel<UInt64>(capacity: 4096, to: consumer.remote)
/// consumer.remote.post { reactor in reactor.attach(channel, receiver: sink) }
/// if !channel.send(sequence) { refused += 1 }      // producer thread
/// ```
public final class ReactorChannel<Element>: @unchecked Sendable {
    /// The lock-free single-producer, single-consumer ring under the channel. The
    /// producer thread writes, the consuming reactor reads; nobody else touches it.
    public let ring: SPSCRing<Element>
    let target: RemoteHandle
    /// The consumer found the ring empty and wants an eventfd write for the next
    /// item. Starts armed: the first item wakes the reactor.
    let armed = Atomic<Bool>(true)

    /// A channel of at least `capacity` slots into the reactor behind `target`.
    public init(capacity: Int, to target: RemoteHandle) {
        ring = SPSCRing(capacity: capacity)
        self.target = target
    }

    /// Producer: queues `element` and wakes the consumer if it may be idle.
    /// False (nothing queued) when the ring is full: count it, drop or retry.
    @inline(__always)
    public func send(_ element: Element) -> Bool {
        guard ring.push(element) else { return false }
        // Dekker's pattern with `drain`: the tail store above and the load of
        // `armed` below are ordered by the fence, as are the consumer's store of
        // `armed` and its re-check of the ring. Either this side sees `armed`
        // and wakes the consumer, or the consumer's re-check sees the item.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if armed.load(ordering: .relaxed) && armed.exchange(false, ordering: .acquiringAndReleasing) {
            target.channelsReady.store(true, ordering: .sequentiallyConsistent)
            target.wakeup()
        }
        return true
    }

    /// Consumer (the target reactor's thread): delivers up to one ring's worth
    /// of items, then re-arms the wakeup if the ring is empty. Returns how many
    /// were delivered.
    func drain(to receiver: any ChannelReceiver<Element>, reactor: Reactor) -> Int {
        var delivered = 0
        while true {
            while delivered < ring.capacity, let element = ring.pop() {
                receiver.received(element, reactor: reactor)
                delivered += 1
            }
            if delivered >= ring.capacity {
                // Fairness: leave the rest for the next cycle, which this wakes.
                target.channelsReady.store(true, ordering: .sequentiallyConsistent)
                target.wakeup()
                return delivered
            }
            armed.store(true, ordering: .relaxed)
            atomicMemoryFence(ordering: .sequentiallyConsistent)
            if ring.isEmpty { return delivered }
            // An item arrived between the last pop and arming: take it now. (The
            // producer may have woken us as well; that extra cycle finds nothing.)
            armed.store(false, ordering: .relaxed)
        }
    }
}

/// A channel attached to a reactor, with its receiver (type-erased for the
/// reactor's list).
protocol ChannelDrain: AnyObject {
    var channelIdentity: ObjectIdentifier { get }
    func drain(into reactor: Reactor) -> Int
}

final class ChannelAttachment<Element>: ChannelDrain {
    let channel: ReactorChannel<Element>
    let receiver: any ChannelReceiver<Element>

    init(channel: ReactorChannel<Element>, receiver: any ChannelReceiver<Element>) {
        self.channel = channel
        self.receiver = receiver
    }

    var channelIdentity: ObjectIdentifier { ObjectIdentifier(channel) }

    func drain(into reactor: Reactor) -> Int { channel.drain(to: receiver, reactor: reactor) }
}

extension Reactor {
    /// Starts delivering `channel`'s items to `receiver` (this reactor's thread;
    /// the channel must have been made with this reactor's `remote`). Items sent
    /// before this call are delivered in the next duty cycle.
    public func attach<Element>(_ channel: ReactorChannel<Element>, receiver: any ChannelReceiver<Element>) {
        precondition(channel.target === remote, "ReactorChannel attached to a reactor other than its target")
        precondition(!channels.contains { $0.channelIdentity == ObjectIdentifier(channel) }, "ReactorChannel attached twice")
        channels.append(ChannelAttachment(channel: channel, receiver: receiver))
        remote.channelsReady.store(true, ordering: .sequentiallyConsistent)
        remote.wakeup()
    }

    /// Stops delivering `channel`'s items (they stay in its ring). False when it
    /// was not attached.
    @discardableResult
    public func detach<Element>(_ channel: ReactorChannel<Element>) -> Bool {
        guard let index = channels.firstIndex(where: { $0.channelIdentity == ObjectIdentifier(channel) }) else { return false }
        channels.remove(at: index)
        return true
    }

    /// Drains every attached channel (after a wakeup that said one is ready).
    func drainChannels() -> Int {
        var work = 0
        var index = 0
        // A receiver may detach channels: index, don't iterate.
        while index < channels.count {
            work += channels[index].drain(into: self)
            index += 1
        }
        return work
    }
}
